//! Files written through `dualenc_data::atomic` get `0666 & !umask`, folders
//! `0777 & !umask`, like files created the ordinary way. One test in its own binary: the
//! umask is process-wide.
#![cfg(unix)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use dualenc_data::atomic::{
    persist_path, temp_path_for, write_atomic, write_bytes_atomic, write_dir_atomic, PendingFile,
};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn written_files_and_folders_follow_the_umask() {
    // SAFETY: umask only swaps the process's file-creation mask; this binary runs no other test.
    unsafe { libc::umask(0o027) };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_bytes_atomic(&d.join("bytes"), b"1").unwrap();
    write_atomic(&d.join("filled"), |w| w.write_all(b"2")).unwrap();
    let mut pending = PendingFile::create(&d.join("pending")).unwrap();
    pending.writer().write_all(b"3").unwrap();
    pending.commit().unwrap();
    let target = d.join("named");
    let temp = temp_path_for(&target).unwrap();
    std::fs::write(&temp, b"4").unwrap();
    persist_path(temp, &target).unwrap();
    for name in ["bytes", "filled", "pending", "named"] {
        assert_eq!(
            mode(&d.join(name)),
            0o640,
            "{name}: {:o}",
            mode(&d.join(name))
        );
    }
    let io = |_: &Path, e: std::io::Error| e;
    write_dir_atomic(&d.join("folder"), |f| std::fs::write(f.join("x"), b"5"), io).unwrap();
    assert_eq!(mode(&d.join("folder")), 0o750);
}

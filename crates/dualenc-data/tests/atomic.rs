//! Temporary files of `dualenc_data::atomic`: those left by killed runs are removed by the
//! next writer in the same folder, those of live processes and foreign files are kept.

use std::fs::FileTimes;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use dualenc_data::atomic::{
    persist_path, temp_path_for, write_bytes_atomic, write_dir_atomic, PendingFile,
};

/// A dead process id: a child that has exited and been waited for.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// Leftovers as a killed run and other programs leave them; returns (stale, kept) paths.
fn litter(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let dead = dead_pid();
    let stale_file = dir.join(format!(".dualenc-{dead}-aB3dEf.tmp"));
    let stale_dir = dir.join(format!(".dualenc-{dead}-Zx81Qq"));
    let old_legacy = dir.join(".dualenc-Ab12Cd.tmp");
    let live = dir.join(format!(".dualenc-{}-zZ9yY8.tmp", std::process::id()));
    let new_legacy = dir.join(".dualenc-Xy34Zw.tmp");
    let foreign = dir.join(".dualenc-model-7");
    let unrelated = dir.join("notes.tmp");
    for file in [&stale_file, &old_legacy, &live, &new_legacy, &unrelated] {
        std::fs::write(file, b"").unwrap();
    }
    for folder in [&stale_dir, &foreign] {
        std::fs::create_dir(folder).unwrap();
        std::fs::write(folder.join("part"), b"x").unwrap();
    }
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&old_legacy)
        .unwrap()
        .set_times(FileTimes::new().set_modified(two_days_ago))
        .unwrap();
    (
        vec![stale_file, stale_dir, old_legacy],
        vec![live, new_legacy, foreign, unrelated],
    )
}

fn assert_cleaned(stale: &[PathBuf], kept: &[PathBuf], writer: &str) {
    for path in stale {
        assert!(!path.exists(), "{writer} left {}", path.display());
    }
    for path in kept {
        assert!(path.exists(), "{writer} removed {}", path.display());
    }
}

fn with_write_bytes_atomic(dir: &Path) {
    write_bytes_atomic(&dir.join("out"), b"1").unwrap();
}

fn with_pending_file(dir: &Path) {
    let pending = PendingFile::create(&dir.join("out")).unwrap();
    pending.commit().unwrap();
}

fn with_temp_path_for(dir: &Path) {
    let target = dir.join("out");
    persist_path(temp_path_for(&target).unwrap(), &target).unwrap();
}

fn with_write_dir_atomic(dir: &Path) {
    let io = |_: &Path, e: std::io::Error| e;
    write_dir_atomic(&dir.join("folder"), |_| Ok(()), io).unwrap();
}

/// One way of writing into a folder, by name.
type Writer = (&'static str, fn(&Path));

#[test]
fn every_writer_removes_temporary_files_of_dead_processes() {
    let root = tempfile::tempdir().unwrap();
    let writers: [Writer; 4] = [
        ("write_bytes_atomic", with_write_bytes_atomic),
        ("PendingFile", with_pending_file),
        ("temp_path_for", with_temp_path_for),
        ("write_dir_atomic", with_write_dir_atomic),
    ];
    for (name, write) in writers {
        let dir = root.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let (stale, kept) = litter(&dir);
        write(&dir);
        assert_cleaned(&stale, &kept, name);
    }
}

#[test]
fn temporary_names_carry_the_process_id() {
    let dir = tempfile::tempdir().unwrap();
    let pending = PendingFile::create(&dir.path().join("out")).unwrap();
    let name = pending.temp_path().file_name().unwrap().to_string_lossy();
    let prefix = format!(".dualenc-{}-", std::process::id());
    assert!(
        name.starts_with(&prefix) && name.ends_with(".tmp"),
        "{name}"
    );
}

//! Devices, FIFOs and folders given where a data file belongs are refused at once with a
//! message naming the file, never read (`/dev/zero` has no end; opening a FIFO blocks until a
//! writer comes).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use dualenc_data::captions::read_captions;
use dualenc_data::untrusted::{read_regular_file, read_regular_text};
use dualenc_data::{BigFile, Video2Frames};

/// Runs `f` on another thread; fails the test if it takes more than five seconds.
fn within_seconds<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(f());
    });
    receive
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| panic!("{what}: still reading after 5 s"))
}

fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    path
}

fn expect_refusal(what: &str, message: String, path: &Path, kind: &str) {
    assert!(
        message.contains(&path.display().to_string()) && message.contains(kind),
        "{what}: {message}"
    );
}

#[test]
fn a_fifo_as_a_caption_file_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = fifo(dir.path(), "train.caption.txt");
    let p = path.clone();
    let err = within_seconds("captions", move || {
        read_captions(&p).unwrap_err().to_string()
    });
    expect_refusal("captions", err, &path, "a FIFO");
}

#[test]
fn dev_zero_as_any_data_file_is_refused_without_reading() {
    let zero = PathBuf::from("/dev/zero");
    let err = within_seconds("captions", || {
        read_captions("/dev/zero").unwrap_err().to_string()
    });
    expect_refusal("captions", err, &zero, "a character device");
    let err = within_seconds("video2frames", || {
        Video2Frames::read("/dev/zero").unwrap_err().to_string()
    });
    expect_refusal("video2frames", err, &zero, "a character device");
    let err = within_seconds("bytes", || {
        read_regular_file(Path::new("/dev/zero")).unwrap_err()
    });
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}

#[test]
fn a_bigfile_whose_shape_is_a_device_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("shape.txt")).unwrap();
    std::fs::write(dir.path().join("id.txt"), "a").unwrap();
    std::fs::write(dir.path().join("feature.bin"), [0u8; 4]).unwrap();
    let d = dir.path().to_owned();
    let err = within_seconds("bigfile", move || {
        BigFile::open(&d).unwrap_err().to_string()
    });
    expect_refusal(
        "bigfile",
        err,
        &dir.path().join("shape.txt"),
        "a character device",
    );
}

#[test]
fn a_folder_is_not_read_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_regular_text(dir.path()).unwrap_err();
    assert!(err.to_string().contains("a directory"), "{err}");
    std::fs::write(dir.path().join("bad.txt"), b"\xff\xfe").unwrap();
    let err = read_regular_text(&dir.path().join("bad.txt")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
}

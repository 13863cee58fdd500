//! Hostile files and pickles: special files, storages that do not fit their tensors,
//! shapes whose arithmetic overflows, and pickles built to expand or nest without bound.
//! Every one must be an error naming what is wrong, quickly and in bounded memory.

mod common;

use common::{checkpoint_pickle, f32_bytes, torch_zip, Entry, TensorSpec};
use dualenc_pickle::{loads, TorchError, TorchFile};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// `TorchFile::open(path)` on another thread: its error text, or a panic after `secs` (a
/// reader that blocks or never stops must not hang the test run).
fn open_error_within(path: &Path, secs: u64) -> String {
    let (tx, rx) = mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::spawn(move || {
        let result = TorchFile::open(&owned).map(|_| ());
        let _ = tx.send(result.map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(result) => result.expect_err("a special file must not load"),
        Err(_) => panic!("opening {} did not finish within {secs} s", path.display()),
    }
}

fn mkfifo(dir: &Path) -> PathBuf {
    let fifo = dir.join("checkpoint.pth");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo failed");
    fifo
}

#[test]
fn dev_zero_is_refused_without_reading_it() {
    let err = open_error_within(Path::new("/dev/zero"), 5);
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
}

#[test]
fn fifo_is_refused_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = mkfifo(tmp.path());
    let err = open_error_within(&fifo, 5);
    assert!(
        err.contains("checkpoint.pth") && err.contains("not a regular file"),
        "{err}"
    );
}

/// A zip checkpoint with one tensor `w` over storage `0` (stored as given).
fn one_tensor(spec: TensorSpec<'_>, storage: &[u8]) -> Result<TorchFile, TorchError> {
    let pickle = checkpoint_pickle(&[("w", spec)]);
    let bytes = torch_zip(&pickle, &[("0", Entry::Stored(storage))]);
    let file = TorchFile::from_bytes("crafted.pth", &bytes)?;
    let tensor = file.get("w").unwrap().clone();
    file.tensor(&tensor)?;
    Ok(file)
}

/// The error text of a load that must fail (no Debug dump of what loaded by mistake).
fn refused<T>(result: Result<T, impl std::fmt::Display>) -> String {
    match result {
        Ok(_) => panic!("hostile input loaded"),
        Err(e) => e.to_string(),
    }
}

fn four_floats() -> Vec<u8> {
    f32_bytes(&[1.0, 2.0, 3.0, 4.0])
}

#[test]
fn well_formed_crafted_checkpoint_loads() {
    let spec = TensorSpec {
        key: "0",
        numel: 4,
        offset: 1,
        size: &[3],
        stride: &[1],
    };
    let file = one_tensor(spec, &four_floats()).unwrap();
    let tensor = file.tensor(file.get("w").unwrap()).unwrap();
    assert_eq!(tensor.as_f32(), Some(&[2.0, 3.0, 4.0][..]));
}

#[test]
fn huge_shape_is_refused_before_allocating() {
    let spec = TensorSpec {
        key: "0",
        numel: 4,
        offset: 0,
        size: &[1 << 40],
        stride: &[0],
    };
    let err = refused(one_tensor(spec, &four_floats()));
    assert!(
        err.contains("crafted.pth") && err.contains("1099511627776"),
        "{err}"
    );
}

#[test]
fn overflowing_shape_product_is_refused() {
    let spec = TensorSpec {
        key: "0",
        numel: 4,
        offset: 0,
        size: &[1 << 32, 1 << 32, 1 << 32],
        stride: &[0, 0, 0],
    };
    let err = refused(one_tensor(spec, &four_floats()));
    assert!(
        err.contains("crafted.pth") && err.contains("overflow"),
        "{err}"
    );
}

#[test]
fn storage_offset_beyond_the_storage_is_refused() {
    for size in [&[0][..], &[2]] {
        let spec = TensorSpec {
            key: "0",
            numel: 4,
            offset: 1000,
            size,
            stride: &[1],
        };
        let err = refused(one_tensor(spec, &four_floats()));
        assert!(
            err.contains("crafted.pth") && err.contains("offset 1000"),
            "{size:?}: {err}"
        );
    }
}

#[test]
fn stride_pointing_outside_the_storage_is_refused() {
    // Element [1, 0] at 100; then strides whose index arithmetic overflows.
    for stride in [&[100, 1][..], &[i64::MAX, i64::MAX]] {
        let spec = TensorSpec {
            key: "0",
            numel: 4,
            offset: 0,
            size: &[2, 2],
            stride,
        };
        let err = refused(one_tensor(spec, &four_floats()));
        assert!(
            err.contains("crafted.pth") && err.contains("with strides"),
            "{stride:?}: {err}"
        );
    }
}

#[test]
fn storage_entry_of_the_wrong_size_is_refused() {
    let spec = TensorSpec {
        key: "0",
        numel: 8,
        offset: 0,
        size: &[4],
        stride: &[1],
    };
    // 8 floats claimed, 4 stored.
    let err = refused(one_tensor(spec, &four_floats()));
    assert!(
        err.contains("archive/data/0") && err.contains("16") && err.contains("32"),
        "{err}"
    );
}

#[test]
fn storage_declared_with_two_sizes_is_refused() {
    let small = TensorSpec {
        key: "0",
        numel: 4,
        offset: 0,
        size: &[2],
        stride: &[1],
    };
    let liar = TensorSpec {
        key: "0",
        numel: 1000,
        offset: 0,
        size: &[2],
        stride: &[1],
    };
    let pickle = checkpoint_pickle(&[("a", small), ("b", liar)]);
    let storage = four_floats();
    let bytes = torch_zip(&pickle, &[("0", Entry::Stored(&storage))]);
    let err = refused(TorchFile::from_bytes("crafted.pth", &bytes));
    assert!(err.contains("1000") && err.contains('4'), "{err}");
}

// ----- pickles -----

/// `]` then `q i` ... : the memo-building prefix shared by the expansion tests.
fn doubling_list(levels: u8) -> Vec<u8> {
    // x0 = [], then x_i = [x_{i-1}, x_{i-1}] through memo references.
    let mut bytes = vec![0x80, 0x02, b']', b'q', 0];
    for i in 1..=levels {
        bytes.extend([b'(', b'h', i - 1, b'h', i - 1, b'l', b'q', i]);
    }
    bytes
}

#[test]
fn small_pickle_expanding_to_a_million_values_is_refused() {
    // 170 bytes that would resolve to 2^21 lists.
    let mut bytes = doubling_list(20);
    bytes.push(b'.');
    let err = refused(loads(&bytes));
    assert!(err.contains("expands to more than"), "{err}");
}

#[test]
fn shared_long_string_cannot_multiply_its_bytes() {
    // A 64 KiB str shared 2^10 times: 64 MiB of text from a 64 KiB pickle.
    let mut bytes = vec![0x80, 0x02];
    bytes.extend(common::text(&"x".repeat(1 << 16)));
    bytes.extend([b'q', 0]);
    for i in 1..=10u8 {
        bytes.extend([b'(', b'h', i - 1, b'h', i - 1, b'l', b'q', i]);
    }
    bytes.push(b'.');
    let err = refused(loads(&bytes));
    assert!(err.contains("expands to more than"), "{err}");
}

#[test]
fn dup_cannot_multiply_a_long_string() {
    // A 64 KiB str duplicated 1000 times on the stack: 64 MiB from a 65 KiB pickle.
    let mut bytes = vec![0x80, 0x02];
    bytes.extend(common::text(&"x".repeat(1 << 16)));
    bytes.extend(std::iter::repeat_n(b'2', 1000));
    bytes.push(b'.');
    let err = refused(loads(&bytes));
    assert!(err.contains("expands to more than"), "{err}");
}

#[test]
fn repeated_copies_share_one_budget() {
    // x = 2^11 - 1 nested lists; then set(x) 200 times, every result left on the stack:
    // each copy alone is small, together they are 300 times the pickle's size in values.
    let mut bytes = doubling_list(10);
    bytes.extend(common::global("builtins", "set"));
    bytes.extend([b'q', 100]);
    for _ in 0..200 {
        bytes.extend([b'h', 100, b'h', 10, 0x85, b'R']);
    }
    bytes.push(b'.');
    let err = refused(loads(&bytes));
    assert!(err.contains("expands to more than"), "{err}");
}

#[test]
fn deep_nesting_through_the_memo_is_refused_not_overflowed() {
    // x_{i+1} = [x_i] through memo references: no container nests another directly.
    let mut bytes = vec![0x80, 0x02, b']', b'r'];
    bytes.extend(0u32.to_le_bytes());
    for i in 1..=100_000u32 {
        bytes.extend([b'(', b'j']);
        bytes.extend((i - 1).to_le_bytes());
        bytes.extend([b'l', b'r']);
        bytes.extend(i.to_le_bytes());
    }
    bytes.push(b'.');
    let err = refused(loads(&bytes));
    assert!(err.contains("deeper"), "{err}");
}

#[test]
fn huge_memo_index_allocates_nothing() {
    // LONG_BINPUT / LONG_BINGET with key 2^32 - 1.
    let bytes = [
        0x80, 0x02, b'K', 7, b'r', 0xff, 0xff, 0xff, 0xff, b'0', b'j', 0xff, 0xff, 0xff, 0xff, b'.',
    ];
    assert_eq!(loads(&bytes).unwrap().as_i64(), Some(7));
}

#[test]
fn lengths_beyond_the_input_are_truncation_errors() {
    let mut cases: Vec<Vec<u8>> = Vec::new();
    // BINUNICODE, BINBYTES and LONG4 claiming 4 GiB; BINUNICODE8 and BINBYTES8 claiming 2^63.
    for op in [b'X', b'B', 0x8b] {
        cases.push([&[0x80, 0x02, op][..], &u32::MAX.to_le_bytes(), b"abc."].concat());
    }
    for op in [0x8d, 0x8e] {
        cases.push([&[0x80, 0x04, op][..], &(1u64 << 63).to_le_bytes(), b"abc."].concat());
    }
    for bytes in cases {
        let err = loads(&bytes).unwrap_err();
        assert!(
            matches!(err, dualenc_pickle::PickleError::Truncated { .. }),
            "{err:?}"
        );
    }
}

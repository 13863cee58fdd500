//! Zip checkpoints whose storage entries inflate to far more than their tensors need: each
//! must be refused with an error naming the entry, and reading them all must not raise the
//! process's peak memory by more than a few MiB. One test in its own binary, so that the
//! peak (`VmHWM`) is this test's alone.

mod common;

use common::{checkpoint_pickle, patch_declared_size, torch_zip, Entry, TensorSpec};
use dualenc_pickle::TorchFile;

const MIB: u64 = 1 << 20;

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A checkpoint whose tensor `w` ([4] floats) uses storage `0` of `numel` elements, held in
/// an entry of `zeros` deflated zero bytes.
fn bomb(numel: i64, zeros: u64) -> Vec<u8> {
    let spec = TensorSpec {
        key: "0",
        numel,
        offset: 0,
        size: &[4],
        stride: &[1],
    };
    torch_zip(
        &checkpoint_pickle(&[("w", spec)]),
        &[("0", Entry::DeflatedZeros(zeros))],
    )
}

fn refusal(bytes: &[u8]) -> String {
    match TorchFile::from_bytes("bomb.pth", bytes) {
        Ok(_) => panic!("a zip bomb loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn zip_bombs_are_refused_in_bounded_memory() {
    // The entry declares (and inflates to) 64 MiB; its storage needs 16 bytes.
    let oversized = bomb(4, 64 * MIB);
    // The same, but the headers declare 16 bytes: only inflating reveals the rest.
    let mut liar = oversized.clone();
    patch_declared_size(&mut liar, "archive/data/0", 16);
    // The pickle claims a 256 MiB storage and the entry really holds it: consistent, but
    // from a file of a few hundred KiB.
    let consistent = bomb(64 << 20, 256 * MIB);
    assert!(consistent.len() < MIB as usize, "{}", consistent.len());

    let before = peak_rss();
    let errors = [refusal(&oversized), refusal(&liar), refusal(&consistent)];
    let grown = peak_rss().saturating_sub(before);

    for err in &errors {
        assert!(
            err.contains("bomb.pth") && err.contains("archive/data/0"),
            "{err}"
        );
    }
    assert!(
        errors[0].contains("67108864") && errors[0].contains("16"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("more than"), "{}", errors[1]);
    assert!(errors[2].contains("268435456"), "{}", errors[2]);
    assert!(grown < 8 * MIB, "peak memory grew by {} MiB", grown / MIB);
}

//! Mutation fuzzing of every parser of user files and requests, on stable Rust.
//!
//! Each [`Target`] feeds bytes to one parser (through a scratch file where the parser reads a
//! path) and must return an error or a value, never panic, and never ask for a huge
//! allocation (the [`guard`] allocator aborts, saving the input, on any single allocation over
//! its limit). [`fuzz`] mutates the target's seed inputs (taken from the repository's fixtures
//! and from small files built in code) for a time budget: bit flips, byte and integer
//! overwrites with boundary values, insertions, deletions, duplications and splices with
//! other seeds. A panic is caught and reported with its input; the input is also written to
//! `regressions/TARGET/` when a folder is given, where the tests replay it forever after.
//!
//! - `cargo test -p dualenc-fuzz` (part of CI): every target for `DUALENC_FUZZ_SECONDS`
//!   (default 2) each, then every saved regression input.
//! - `cargo run --release -p dualenc-fuzz -- [TARGET...] --seconds 600`: a longer run.

pub mod guard;
pub mod mutate;
pub mod targets;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use targets::{targets, Scratch, Target};

/// What a fuzzing run found.
#[derive(Debug, Default)]
pub struct FuzzReport {
    /// Inputs tried (seeds included).
    pub runs: u64,
    /// Inputs that made the parser panic, with the panic message.
    pub crashes: Vec<(Vec<u8>, String)>,
}

/// Runs `target` on its seeds, then on mutations of them until `budget` is spent; stops at
/// the first crash. Deterministic for a `seed` (up to the time budget).
pub fn fuzz(target: &Target, budget: Duration, seed: u64) -> FuzzReport {
    let scratch = Scratch::new();
    let seeds = (target.seeds)();
    let mut report = FuzzReport::default();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let started = Instant::now();
    let mut next = seeds.iter().cloned();
    loop {
        let input = match next.next() {
            Some(seed_input) => seed_input,
            None if started.elapsed() < budget => mutate::mutate(&mut rng, &seeds),
            None => break,
        };
        report.runs += 1;
        if let Err(message) = run_one(target, &input, &scratch) {
            report.crashes.push((input, message));
            break;
        }
    }
    report
}

/// Runs `target` once on `input`; `Err` carries the panic message.
pub fn run_one(target: &Target, input: &[u8], scratch: &Scratch) -> Result<(), String> {
    guard::set_current_input(target.name, input);
    let outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(input, scratch)));
    guard::clear_current_input();
    outcome.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    })
}

/// Saves a crashing input under `dir/TARGET/` (named by its content's hash) so that the
/// tests replay it; returns the file.
pub fn save_regression(dir: &Path, target: &str, input: &[u8]) -> std::io::Result<PathBuf> {
    let folder = dir.join(target);
    std::fs::create_dir_all(&folder)?;
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let path = folder.join(format!("{hash:016x}.bin"));
    std::fs::write(&path, input)?;
    Ok(path)
}

/// The saved regression inputs of `target` under `dir`.
pub fn regressions(dir: &Path, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| std::fs::read(&p).ok().map(|bytes| (p, bytes)))
        .collect();
    out.sort();
    out
}

/// This crate's regression folder (`crates/dualenc-fuzz/regressions`).
pub fn regression_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/regressions"))
}

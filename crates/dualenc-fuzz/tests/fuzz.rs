//! Every fuzz target for a bounded time (`DUALENC_FUZZ_SECONDS`, default 2 s each), then
//! every saved regression input. A crash names the target and saves the input under
//! `regressions/` (fix the parser, keep the file: it is replayed from then on).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use dualenc_fuzz::guard::Guard;
use dualenc_fuzz::{fuzz, regression_dir, regressions, run_one, save_regression, targets, Scratch};

#[global_allocator]
static ALLOCATOR: Guard = Guard;

/// The guard records one current input for the whole process: the tests take turns.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn budget() -> Duration {
    let seconds = std::env::var("DUALENC_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(seconds)
}

#[test]
fn no_parser_crashes_on_mutated_inputs() {
    let _turn = one_at_a_time();
    let mut failures = Vec::new();
    for (i, target) in targets().iter().enumerate() {
        let report = fuzz(target, budget(), 0x5eed + i as u64);
        assert!(report.runs > 0, "{}: no input was tried", target.name);
        eprintln!("fuzz {}: {} inputs", target.name, report.runs);
        for (input, message) in report.crashes {
            let saved = save_regression(&regression_dir(), target.name, &input)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|e| format!("(not saved: {e})"));
            failures.push(format!(
                "{}: {message} (input saved to {saved})",
                target.name
            ));
        }
    }
    assert!(failures.is_empty(), "crashes:\n{}", failures.join("\n"));
}

#[test]
fn saved_regressions_do_not_crash() {
    let _turn = one_at_a_time();
    let scratch = Scratch::new();
    let mut failures = Vec::new();
    for target in targets() {
        for (path, input) in regressions(&regression_dir(), target.name) {
            if let Err(message) = run_one(&target, &input, &scratch) {
                failures.push(format!("{}: {message}", path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_panicking_target_is_reported_with_its_input() {
    let _turn = one_at_a_time();
    let target = dualenc_fuzz::Target {
        name: "self-test",
        seeds: || vec![b"ok".to_vec(), b"boom".to_vec()],
        run: |input, _| assert!(input != b"boom", "planted crash"),
    };
    let report = fuzz(&target, Duration::from_millis(10), 1);
    assert_eq!(report.crashes.len(), 1);
    assert_eq!(report.crashes[0].0, b"boom");
    assert!(report.crashes[0].1.contains("planted crash"));
}

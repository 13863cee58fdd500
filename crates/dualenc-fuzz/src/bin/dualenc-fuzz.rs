//! A longer fuzzing run: `dualenc-fuzz [TARGET...] [--seconds N] [--seed S]` (every target
//! when none is named; 60 s each by default). Crashing inputs are saved under the crate's
//! `regressions/` folder, which the tests replay. Build with `--release`.

use std::process::ExitCode;
use std::time::Duration;

use dualenc_fuzz::guard::Guard;
use dualenc_fuzz::{fuzz, regression_dir, save_regression, targets};

#[global_allocator]
static ALLOCATOR: Guard = Guard;

/// Target names and the run's budget and seed, from the command line.
struct Options {
    names: Vec<String>,
    seconds: f64,
    seed: u64,
}

/// Parses `[TARGET...] [--seconds N] [--seed S]`; a missing or malformed value is an error.
fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        names: Vec::new(),
        seconds: 60.0,
        seed: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                options.seconds = flag_value(&mut args, "--seconds")?;
                if !(options.seconds.is_finite() && options.seconds >= 0.0) {
                    return Err("--seconds expects a non-negative number".into());
                }
            }
            "--seed" => options.seed = flag_value(&mut args, "--seed")?,
            name => options.names.push(name.to_string()),
        }
    }
    Ok(options)
}

/// The value after `flag`, parsed.
fn flag_value<T: std::str::FromStr>(
    args: &mut impl Iterator<Item = String>,
    flag: &str,
) -> Result<T, String> {
    let text = args.next().ok_or(format!("{flag} expects a value"))?;
    text.parse()
        .map_err(|_| format!("{flag}: cannot read {text:?} as a number"))
}

fn main() -> ExitCode {
    let Options {
        names,
        seconds,
        seed,
    } = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("dualenc-fuzz: {message}");
            return ExitCode::FAILURE;
        }
    };
    let all = targets();
    let known: Vec<&str> = all.iter().map(|t| t.name).collect();
    if let Some(bad) = names.iter().find(|n| !known.contains(&n.as_str())) {
        eprintln!("unknown target {bad}; targets: {}", known.join(", "));
        return ExitCode::FAILURE;
    }
    let mut crashed = false;
    for target in all
        .iter()
        .filter(|t| names.is_empty() || names.iter().any(|n| n == t.name))
    {
        let report = fuzz(target, Duration::from_secs_f64(seconds), seed);
        println!(
            "{:<20} {:>10} inputs  {} crash(es)",
            target.name,
            report.runs,
            report.crashes.len()
        );
        for (input, message) in report.crashes {
            crashed = true;
            match save_regression(&regression_dir(), target.name, &input) {
                Ok(path) => println!("  {message}\n  input saved to {}", path.display()),
                Err(e) => println!("  {message}\n  input not saved: {e}"),
            }
        }
    }
    if crashed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

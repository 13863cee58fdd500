//! `dualenc`: zero-example video retrieval by text (Dual Encoding, CVPR 2019).
//!
//! Each group of subcommands lives in its own module under `commands/`; this file only
//! parses the command line, sets up logging and turns errors into a message and exit code.

mod commands;
mod common;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Zero-example video retrieval by text: Dual Encoding (CVPR 2019) in Rust.
#[derive(Parser)]
#[command(name = "dualenc", version, about, propagate_version = true)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Every subcommand, grouped by the module that implements it.
#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Data(commands::data::DataCommand),
    #[command(flatten)]
    Text(commands::text::TextCommand),
    #[command(flatten)]
    Synth(commands::synth::SynthCommand),
    #[command(flatten)]
    Eval(commands::eval::EvalCommand),
    #[command(flatten)]
    Train(commands::train::TrainCommand),
    #[command(flatten)]
    Infer(commands::infer::InferCommand),
    #[command(flatten)]
    Search(commands::search::SearchCommand),
    #[command(flatten)]
    Extract(commands::extract::ExtractCommand),
    #[command(flatten)]
    Bench(commands::bench::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    common::keep_freed_memory();
    common::init_logging(cli.verbose);
    let result = match cli.command {
        Command::Data(c) => c.run(),
        Command::Text(c) => c.run(),
        Command::Synth(c) => c.run(),
        Command::Eval(c) => c.run(),
        Command::Train(c) => c.run(),
        Command::Infer(c) => c.run(),
        Command::Search(c) => c.run(),
        Command::Extract(c) => c.run(),
        Command::Bench(c) => c.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", common::error_message(&err));
            ExitCode::FAILURE
        }
    }
}

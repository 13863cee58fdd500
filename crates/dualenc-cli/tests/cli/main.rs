//! The `dualenc` program's tests, one binary (one link of the test executable): each module
//! runs the binary on files it writes, as a user would, and checks outputs and exit codes.

mod check_model;
mod common;
mod data;
mod eval;
mod extract;
mod extract_browser;
mod infer;
mod search;
mod search_browser;
mod serve_media;
mod synth;
mod text;
mod train;

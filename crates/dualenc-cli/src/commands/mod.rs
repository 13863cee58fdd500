//! The subcommands, one module per area.

pub mod bench;
pub mod data;
pub mod eval;
pub mod extract;
pub mod infer;
pub mod search;
pub mod seeds;
pub mod synth;
pub mod text;
pub mod train;

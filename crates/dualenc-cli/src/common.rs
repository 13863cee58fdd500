//! Pieces shared by several subcommands: the VisualSearch root option and logging.

use clap::Args;
use std::path::PathBuf;

/// The `--rootpath` option: the VisualSearch root, `$HOME/VisualSearch` by default.
#[derive(Args, Debug, Clone)]
pub struct RootPath {
    /// VisualSearch root holding the collections (default: $HOME/VisualSearch).
    #[arg(long, env = "DUALENC_ROOTPATH", default_value_os_t = default_rootpath())]
    pub rootpath: PathBuf,
}

/// `$HOME/VisualSearch`, or `./VisualSearch` when `HOME` is unset.
fn default_rootpath() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("VisualSearch")
}

/// Logs go to stderr; `-v` raises the level, `RUST_LOG` overrides it.
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

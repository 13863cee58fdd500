//! Pieces shared by several subcommands: the VisualSearch root option, progress bars and
//! logging.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
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

/// Makes the allocator reuse freed memory instead of returning it to the OS. A training step
/// allocates and frees tensors of tens to hundreds of MB; glibc serves each from a fresh
/// `mmap` whose pages the kernel must fault in and zero again (measured: a quarter of a CPU
/// training step in the kernel). Heap-only allocation without trimming keeps those pages.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any other thread runs.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}

/// A progress bar over `len` items named `what`. The libraries report progress through
/// callbacks; only the command line draws, with these bars (on stderr, hidden when stderr is
/// not a terminal).
pub fn progress_bar(len: usize, what: &str) -> ProgressBar {
    styled(
        ProgressBar::new(len as u64),
        &format!("{{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}})"),
    )
}

/// A progress bar over `len` bytes.
pub fn byte_bar(len: u64) -> ProgressBar {
    styled(
        ProgressBar::new(len),
        "{bar:40} {bytes}/{total_bytes} ({eta})",
    )
}

/// A counter of items named `what` for work of unknown length.
pub fn counter(what: &str) -> ProgressBar {
    styled(
        ProgressBar::new_spinner(),
        &format!("{{spinner}} {what}: {{pos}} ({{per_sec}}, {{elapsed}})"),
    )
}

/// A spinner with a message, for steps of unknown length.
pub fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

fn styled(bar: ProgressBar, template: &str) -> ProgressBar {
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

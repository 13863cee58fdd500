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

/// The message of an error and its causes, `": "`-separated, leaving out a cause whose text
/// the message already holds (library errors such as `"{path}: {source}"` show their source
/// themselves and also expose it as the cause, which `{:#}` would print a second time).
pub fn error_message(err: &anyhow::Error) -> String {
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::error_message;
    use anyhow::Context;

    /// A library error in the usual shape: its message holds its source's.
    #[derive(Debug)]
    struct PathError {
        path: String,
        source: std::io::Error,
    }

    impl std::fmt::Display for PathError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {}", self.path, self.source)
        }
    }

    impl std::error::Error for PathError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(PathError {
            path: "/a/b".into(),
            source: io,
        });
        assert_eq!(error_message(&err), "/a/b: no such file");
        let err: anyhow::Result<()> = Err(err).context("opening the index");
        assert_eq!(
            error_message(&err.unwrap_err()),
            "opening the index: /a/b: no such file"
        );
    }
}

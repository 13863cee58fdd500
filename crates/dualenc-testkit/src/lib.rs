//! Test support shared by the workspace's tests; a dev-dependency only.
//!
//! - [`require_tool`] / [`require_vulkan`]: a test that needs an external program or driver
//!   fails when it is missing under CI (the `CI` environment variable is set), and elsewhere
//!   skips with a line written straight to the terminal's stderr (the test harness captures
//!   `println!`/`eprintln!` of passing tests, which would hide the skip).
//! - [`chromium`]: headless Chromium, for the web page's tests: a one-shot DOM dump and a
//!   DevTools-protocol session over a pipe.

pub mod chromium;

use std::io::Write;
use std::path::Path;

/// Whether the test `test` can run: `true` when `path` exists. When it does not: under CI the
/// test panics (a test that needs a tool must not pass by skipping there); elsewhere it
/// writes `SKIPPED test: path is absent (hint)` to stderr, unbuffered by the harness, and
/// returns `false`.
pub fn require_tool(test: &str, path: &str, hint: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    let message = format!("{test}: {path} is absent ({hint})");
    assert!(
        std::env::var_os("CI").is_none(),
        "{message}; CI is set, so the test fails instead of skipping"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED {message}");
    false
}

/// Fails with a clear message when no Vulkan driver is installed, instead of wgpu's panic
/// deep inside a device thread: the wgpu tests need one (Mesa's lavapipe where there is no
/// GPU).
pub fn require_vulkan() {
    let icd_dirs = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"];
    let installed = std::env::var_os("VK_ICD_FILENAMES").is_some()
        || icd_dirs
            .iter()
            .any(|dir| std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()));
    assert!(
        installed,
        "no Vulkan driver in {icd_dirs:?}: the wgpu tests run the GPU kernels on one; \
         without a GPU install Mesa's lavapipe (`apt-get install mesa-vulkan-drivers`)"
    );
}

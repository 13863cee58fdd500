//! Test support shared by the workspace's tests; a dev-dependency only.
//!
//! - [`require_tool`] / [`require_vulkan`]: a test that needs an external program or driver
//!   fails when it is missing under CI (the `CI` environment variable is set), and elsewhere
//!   skips with a line written straight to the terminal's stderr (the test harness captures
//!   `println!`/`eprintln!` of passing tests, which would hide the skip).
//! - [`chromium`]: headless Chromium, for the web page's tests: a one-shot DOM dump and a
//!   DevTools-protocol session over a pipe.
//! - [`compare`]: largest differences that stay NaN when a side holds NaN, so that tolerance
//!   assertions fail on it.
//! - [`write_reference_vocabularies`]: the reference model's vocabularies as a collection's,
//!   for the tests that import its checkpoint.

pub mod chromium;
pub mod compare;

use std::io::Write;
use std::path::{Path, PathBuf};

use dualenc_text::{TextStyle, Vocabulary};

/// The repository's `fixtures/` folder.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures"))
}

/// Writes the vocabularies of the reference model fixture (`fixtures/reference/model_full`)
/// as collection `collection`'s `word_vocab_1.json` (bow and rnn) under `root`, so that the
/// fixture's checkpoint imports against them.
pub fn write_reference_vocabularies(root: &Path, collection: &str) {
    for (style, kind) in [("bow", TextStyle::Bow), ("rnn", TextStyle::Rnn)] {
        let path = fixtures_dir().join(format!("reference/model_full/vocab_{style}.txt"));
        let text = std::fs::read_to_string(&path).expect("reference vocabulary fixture");
        let out = root.join(format!("{collection}/TextData/vocabulary/{style}"));
        std::fs::create_dir_all(&out).expect("vocabulary folder");
        Vocabulary::from_words(kind, text.lines().map(str::to_string).collect())
            .expect("reference vocabulary")
            .save_json(out.join("word_vocab_1.json"))
            .expect("write the vocabulary");
    }
}

/// Whether the test `test` can run: `true` when `path` exists. When it does not: under CI the
/// test panics (a test that needs a tool must not pass by skipping there); elsewhere it
/// writes `SKIPPED test: path is absent (hint)` to stderr, unbuffered by the harness, and
/// returns `false`.
pub fn require_tool(test: &str, path: &str, hint: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    skip_missing_tool(test, path, hint);
    false
}

/// The tool `what` that the test `test` needs is missing (found some other way than by a
/// path, e.g. a program looked up on `PATH`): under CI the test panics; elsewhere a
/// `SKIPPED test: what is absent (hint)` line goes to stderr past the harness's capture, and
/// the caller returns.
pub fn skip_missing_tool(test: &str, what: &str, hint: &str) {
    let message = format!("{test}: {what} is absent ({hint})");
    assert!(
        std::env::var_os("CI").is_none(),
        "{message}; CI is set, so the test fails instead of skipping"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED {message}");
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

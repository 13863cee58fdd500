//! Helpers shared by the modules of the CLI tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use assert_cmd::Command;

/// The `dualenc` binary under test.
pub fn dualenc() -> Command {
    Command::cargo_bin("dualenc").unwrap()
}

/// A file of the repository's reference fixtures (`fixtures/reference/REL`).
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/reference/"
    ))
    .join(rel)
}

/// A running `dualenc serve`, killed when the test ends, passed or failed.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `dualenc serve` over `index` on a free loopback port; returns it and its
/// `host:port` (read from the line it prints).
pub fn serve(index: &Path) -> (Server, String) {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dualenc"))
        .arg("serve")
        .arg("--index")
        .arg(index)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let stdout = server.0.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let start = line.find("http://").expect(&line) + "http://".len();
    let addr = line[start..].split('/').next().unwrap().to_string();
    (server, addr)
}

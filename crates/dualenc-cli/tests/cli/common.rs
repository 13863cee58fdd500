//! Helpers shared by the modules of the CLI tests.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

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
    serve_with(index, std::iter::empty::<&OsStr>())
}

/// [`serve`] with more arguments (`--thumbnails DIR`, `--videos DIR`, ...).
pub fn serve_with<I, S>(index: &Path, args: I) -> (Server, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dualenc"))
        .arg("serve")
        .arg("--index")
        .arg(index)
        .args(args)
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

/// A raw HTTP/1.1 GET of `path` from `addr` with extra header lines (each ending in `\r\n`):
/// (status line, head, body bytes).
pub fn http_get(addr: &str, path: &str, headers: &str) -> (String, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.lines().next().unwrap().to_string();
    (status, head, response[split + 4..].to_vec())
}

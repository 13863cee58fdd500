//! Byte-level text helpers shared by the readers: id splitting, UTF-8 decoding with a
//! Latin-1 fallback, and streaming a file line by line with 1-based line numbers.

use crate::error::{DataError, Result};
use crate::untrusted::open_regular_file;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Take};
use std::path::Path;

/// White space as Python's `bytes.split()` sees it (space, \t, \n, \v, \f, \r): the
/// original splits id files this way.
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Decodes bytes as UTF-8, or as Latin-1 (each byte one char) when they are not valid UTF-8.
///
/// The original decodes every id as ISO-8859-1; decoding valid UTF-8 as such keeps
/// non-ASCII ids written by modern tools readable, and the fallback never fails.
pub(crate) fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Splits bytes on white space and decodes each token with [`decode`].
pub(crate) fn split_ids(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| is_space(b))
        .filter(|t| !t.is_empty())
        .map(decode)
        .collect()
}

/// True when `id` can be stored in a whitespace-separated id file.
pub(crate) fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && !id.bytes().any(is_space)
}

/// Opens `path`, a regular file (see [`crate::untrusted`]), limited to the length it had
/// when opened; returns the handle and that length. A missing file is
/// [`DataError::Missing`].
pub(crate) fn open(path: &Path, what: &'static str) -> Result<(Take<File>, u64)> {
    open_regular_file(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing {
                path: path.to_owned(),
                what,
            }
        } else {
            DataError::io(path, e)
        }
    })
}

/// Reads the whole of `path`, mapping a missing file to [`DataError::Missing`].
pub(crate) fn read_all(path: &Path, what: &'static str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open(path, what)?
        .0
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::io(path, e))?;
    Ok(bytes)
}

/// Calls `f(line_number, line)` for every line of `path` (1-based numbers, line ends and a
/// trailing '\r' removed, each line decoded with [`decode`]). Stops at the first error.
pub(crate) fn for_each_line<F>(path: &Path, what: &'static str, mut f: F) -> Result<()>
where
    F: FnMut(usize, &str) -> Result<()>,
{
    let mut reader = BufReader::with_capacity(1 << 20, open(path, what)?.0);
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        let mut line = buf.as_slice();
        if let Some(rest) = line.strip_suffix(b"\n") {
            line = rest;
        }
        if let Some(rest) = line.strip_suffix(b"\r") {
            line = rest;
        }
        f(number, &decode(line))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_utf8_and_falls_back_to_latin1() {
        assert_eq!(decode("café".as_bytes()), "café");
        assert_eq!(decode(b"caf\xe9"), "caf\u{e9}");
    }

    #[test]
    fn splits_on_python_whitespace() {
        assert_eq!(split_ids(b" a\tb\x0bc\x0c\r\nd "), vec!["a", "b", "c", "d"]);
    }
}

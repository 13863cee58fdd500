//! HTTP range requests (RFC 9110, section 14) for the video files: which bytes to send.
//!
//! One range of bytes is served: `bytes=A-B` (clamped to the file), `bytes=A-` (from `A` to
//! the end) and `bytes=-N` (the last `N` bytes). A range that starts at or past the end of
//! the file, a suffix of 0 bytes and any range of an empty file cannot be satisfied (416).
//! Everything else is answered with the whole file (200), as the RFC allows a server to
//! ignore a `Range` header: another unit than `bytes`, a malformed header, `A > B`, and a
//! request for several ranges (`bytes=0-1,5-6`; browsers ask for one range when they play
//! a video, and a multipart answer would buy nothing here).

/// What to send for a request's `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// The whole file, 200 (no `Range` header, or one the server ignores).
    Full,
    /// Bytes `start..=end` of the file, 206 with `Content-Range: bytes start-end/len`.
    Partial {
        /// First byte sent.
        start: u64,
        /// Last byte sent (inclusive).
        end: u64,
    },
    /// Nothing can be sent, 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

impl RangeAnswer {
    /// The answer to the `Range` header `header` (absent: `None`) for a file of `len` bytes.
    pub fn for_header(header: Option<&str>, len: u64) -> RangeAnswer {
        match header.and_then(single_range) {
            Some(spec) => spec.resolve(len),
            None => RangeAnswer::Full,
        }
    }
}

/// One range as asked for, before the file's length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `A-B` or `A-` (`end: None`).
    From { start: u64, end: Option<u64> },
    /// `-N`: the last `N` bytes.
    Suffix(u64),
}

impl Spec {
    /// The bytes of a `len`-byte file this range selects.
    fn resolve(self, len: u64) -> RangeAnswer {
        let last = match len.checked_sub(1) {
            Some(last) => last,
            None => return RangeAnswer::Unsatisfiable,
        };
        match self {
            Spec::From { start, .. } if start > last => RangeAnswer::Unsatisfiable,
            Spec::From { start, end } => RangeAnswer::Partial {
                start,
                end: end.map_or(last, |end| end.min(last)),
            },
            Spec::Suffix(0) => RangeAnswer::Unsatisfiable,
            Spec::Suffix(n) => RangeAnswer::Partial {
                start: len.saturating_sub(n),
                end: last,
            },
        }
    }
}

/// The one byte range of a `Range` header, or `None` when the header is to be ignored
/// (another unit, bad syntax, several ranges).
fn single_range(header: &str) -> Option<Spec> {
    let (unit, set) = header.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return None;
    }
    let (first, last) = set.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return number(last).map(Spec::Suffix);
    }
    let start = number(first)?;
    let end = if last.is_empty() {
        None
    } else {
        Some(number(last)?)
    };
    match end {
        Some(end) if end < start => None,
        _ => Some(Spec::From { start, end }),
    }
}

/// A decimal number of ASCII digits only (no sign, no blank), if it fits in a `u64`.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(header: &str, len: u64) -> RangeAnswer {
        RangeAnswer::for_header(Some(header), len)
    }

    fn partial(start: u64, end: u64) -> RangeAnswer {
        RangeAnswer::Partial { start, end }
    }

    #[test]
    fn the_three_forms_of_a_byte_range() {
        assert_eq!(answer("bytes=0-9", 100), partial(0, 9));
        assert_eq!(answer("bytes=90-200", 100), partial(90, 99));
        assert_eq!(answer("bytes=10-", 100), partial(10, 99));
        assert_eq!(answer("bytes=-10", 100), partial(90, 99));
        assert_eq!(answer("bytes=-500", 100), partial(0, 99));
        assert_eq!(answer("BYTES = 5-5", 100), partial(5, 5));
    }

    #[test]
    fn ranges_past_the_end_cannot_be_satisfied() {
        assert_eq!(answer("bytes=100-", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(answer("bytes=100-200", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(answer("bytes=-0", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(answer("bytes=0-", 0), RangeAnswer::Unsatisfiable);
        assert_eq!(answer("bytes=-5", 0), RangeAnswer::Unsatisfiable);
    }

    #[test]
    fn other_headers_are_ignored() {
        assert_eq!(RangeAnswer::for_header(None, 100), RangeAnswer::Full);
        for header in [
            "items=0-9",
            "bytes=0-1,5-6",
            "bytes=9-0",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=-",
            "bytes=5",
            "bytes=99999999999999999999999-",
            "",
        ] {
            assert_eq!(answer(header, 100), RangeAnswer::Full, "{header:?}");
        }
    }
}

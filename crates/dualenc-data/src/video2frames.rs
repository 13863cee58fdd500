//! video2frames: which frames (BigFile rows) make up each video, in frame order.
//!
//! Frame ids are `VIDEO_FRAMENO`. The original (`util/get_frameInfo.py`) splits each id at
//! its LAST underscore, collects the frame numbers of each video, sorts them as integers and
//! writes `str(dict)`: a Python dict literal `{'video0': ['video0_0', 'video0_1'], ...}`.
//! Its videos come out in dict order, which under Python 3 is the order of first appearance
//! in `id.txt`; we use that order too, so that the file, and every "collection video order"
//! built from it, is deterministic. The original reads the file back with `eval`; we parse
//! the literal ourselves (single or double quotes, `u` prefixes, Python escapes, trailing
//! commas) and also read and write a JSON object of the same shape.

use crate::error::{DataError, Result};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

/// Ordered map video id -> frame ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Video2Frames {
    videos: Vec<(String, Vec<String>)>,
    index: HashMap<String, usize>,
}

impl Video2Frames {
    /// Groups frame ids `VIDEO_FRAMENO` by video: videos in order of first appearance,
    /// frames sorted by their integer number (ties keep input order). An exact repeat of a
    /// frame id is kept once. `source` names the file the ids come from, for errors.
    pub fn from_frame_ids<'a, I>(frame_ids: I, source: &Path) -> Result<Video2Frames>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut grouped: Vec<(String, Vec<(i64, &'a str)>)> = Vec::new();
        let mut position: HashMap<&'a str, usize> = HashMap::new();
        let mut seen: HashSet<&'a str> = HashSet::new();
        for frame in frame_ids {
            if !seen.insert(frame) {
                continue;
            }
            let (video, number) = split_frame_id(frame).ok_or_else(|| DataError::BadFrameId {
                path: source.to_owned(),
                id: frame.to_owned(),
            })?;
            let slot = *position.entry(video).or_insert_with(|| {
                grouped.push((video.to_owned(), Vec::new()));
                grouped.len() - 1
            });
            grouped[slot].1.push((number, frame));
        }
        let videos = grouped
            .into_iter()
            .map(|(video, mut frames)| {
                frames.sort_by_key(|&(number, _)| number);
                (
                    video,
                    frames.into_iter().map(|(_, f)| f.to_owned()).collect(),
                )
            })
            .collect();
        Ok(Self::from_unique(videos))
    }

    /// Builds the map from (video, frames) pairs whose video ids are known to be unique.
    fn from_unique(videos: Vec<(String, Vec<String>)>) -> Video2Frames {
        let index = videos
            .iter()
            .enumerate()
            .map(|(i, (video, _))| (video.clone(), i))
            .collect();
        Video2Frames { videos, index }
    }

    /// Number of videos.
    pub fn len(&self) -> usize {
        self.videos.len()
    }

    /// True when there is no video.
    pub fn is_empty(&self) -> bool {
        self.videos.is_empty()
    }

    /// The frames of `video`, in order.
    pub fn frames(&self, video: &str) -> Option<&[String]> {
        self.index
            .get(video)
            .and_then(|&i| self.videos.get(i))
            .map(|(_, frames)| frames.as_slice())
    }

    /// (video id, frames) in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.videos.iter().map(|(v, f)| (v.as_str(), f.as_slice()))
    }

    /// Reads `path`: JSON when its name ends in `.json`, the Python dict literal otherwise.
    pub fn read(path: impl AsRef<Path>) -> Result<Video2Frames> {
        let path = path.as_ref();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Self::read_json(path)
        } else {
            Self::read_dict_literal(path)
        }
    }

    /// Reads the original's Python dict literal form.
    pub fn read_dict_literal(path: impl AsRef<Path>) -> Result<Video2Frames> {
        let path = path.as_ref();
        let text = read_text(path)?;
        Parser::new(&text, path).document()
    }

    /// Reads the JSON form: an object video id -> array of frame ids (order kept).
    pub fn read_json(path: impl AsRef<Path>) -> Result<Video2Frames> {
        let path = path.as_ref();
        let text = read_text(path)?;
        let mut de = serde_json::Deserializer::from_str(&text);
        let parsed = OrderedEntries::deserialize(&mut de).and_then(|e| de.end().map(|()| e));
        match parsed {
            Ok(entries) => Ok(Self::from_unique(entries.0)),
            Err(e) => Err(json_error(path, &e)),
        }
    }

    /// The Python dict literal, exactly as `str(dict)` prints it for printable ids.
    pub fn to_dict_literal(&self) -> String {
        let mut out = String::from("{");
        for (i, (video, frames)) in self.videos.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            push_python_str(&mut out, video);
            out.push_str(": [");
            for (j, frame) in frames.iter().enumerate() {
                if j > 0 {
                    out.push_str(", ");
                }
                push_python_str(&mut out, frame);
            }
            out.push(']');
        }
        out.push('}');
        out
    }

    /// The JSON form, one video per line.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (video, frames)) in self.videos.iter().enumerate() {
            out.push_str(if i == 0 { "\n  " } else { ",\n  " });
            push_json(&mut out, video);
            out.push_str(": ");
            push_json(&mut out, frames);
        }
        out.push_str(if self.videos.is_empty() {
            "}\n"
        } else {
            "\n}\n"
        });
        out
    }

    /// Writes the dict literal form atomically.
    pub fn write_dict_literal(&self, path: impl AsRef<Path>) -> Result<()> {
        write_text(path.as_ref(), &self.to_dict_literal())
    }

    /// Writes the JSON form atomically.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<()> {
        write_text(path.as_ref(), &self.to_json())
    }
}

/// Splits `VIDEO_FRAMENO` at the last underscore; `None` without one or when FRAMENO is
/// not an integer (the original's `int()` would fail there too).
pub fn split_frame_id(frame: &str) -> Option<(&str, i64)> {
    let (video, number) = frame.rsplit_once('_')?;
    number.parse().ok().map(|n| (video, n))
}

/// Reads a whole file as UTF-8 text.
fn read_text(path: &Path) -> Result<String> {
    let bytes = crate::textio::read_all(path, "video2frames")?;
    String::from_utf8(bytes).map_err(|e| {
        let byte = e.utf8_error().valid_up_to();
        let (line, column) = line_column(&String::from_utf8_lossy(e.as_bytes()), byte);
        DataError::Syntax {
            path: path.to_owned(),
            line,
            column,
            byte,
            message: "invalid UTF-8".to_owned(),
        }
    })
}

/// Writes `text` atomically.
fn write_text(path: &Path, text: &str) -> Result<()> {
    crate::atomic::write_bytes_atomic(path, text.as_bytes()).map_err(|e| DataError::io(path, e))
}

/// Appends `value` as JSON (a string or an array of strings never fails to serialise).
fn push_json<T: serde::Serialize + ?Sized>(out: &mut String, value: &T) {
    out.push_str(&serde_json::to_string(value).unwrap_or_default());
}

/// 1-based line and column (in chars) of byte offset `byte` of `text`.
fn line_column(text: &str, byte: usize) -> (usize, usize) {
    let before = text.get(..byte).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// A [`DataError::Syntax`] from a serde_json error.
fn json_error(path: &Path, e: &serde_json::Error) -> DataError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    DataError::Syntax {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        byte: 0,
        message: full.strip_suffix(&suffix).unwrap_or(&full).to_owned(),
    }
}

/// Appends `s` as Python's `repr` writes a str: single quotes unless the text holds a
/// single quote and no double quote; backslash, the quote and control characters escaped.
fn push_python_str(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) || c == '\u{ad}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// (video, frames) pairs read from a JSON object in document order.
struct OrderedEntries(Vec<(String, Vec<String>)>);

impl<'de> Deserialize<'de> for OrderedEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// Visits the JSON object, rejecting a repeated video id.
struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = OrderedEntries;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object mapping video ids to arrays of frame ids")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        while let Some(video) = map.next_key::<String>()? {
            if !seen.insert(video.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate video id {video:?}"
                )));
            }
            let frames: Vec<String> = map.next_value()?;
            entries.push((video, frames));
        }
        Ok(OrderedEntries(entries))
    }
}

/// Recursive-descent parser of the dict literal: `{ STR: [STR, ...], ... }`.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
    path: &'a Path,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, path: &'a Path) -> Self {
        Parser { text, pos: 0, path }
    }

    /// The whole file: one dict, nothing but white space around it.
    fn document(mut self) -> Result<Video2Frames> {
        self.skip_space();
        let videos = self.dict()?;
        self.skip_space();
        if self.pos < self.text.len() {
            return Err(self.error("unexpected text after the closing '}'"));
        }
        Ok(Video2Frames::from_unique(videos))
    }

    fn dict(&mut self) -> Result<Vec<(String, Vec<String>)>> {
        self.expect('{')?;
        let mut videos = Vec::new();
        let mut seen = HashSet::new();
        loop {
            self.skip_space();
            if self.eat('}') {
                return Ok(videos);
            }
            let key_pos = self.pos;
            let video = self.string()?;
            if !seen.insert(video.clone()) {
                self.pos = key_pos;
                return Err(self.error(&format!("duplicate video id {video:?}")));
            }
            self.skip_space();
            self.expect(':')?;
            self.skip_space();
            let frames = self.list()?;
            videos.push((video, frames));
            self.skip_space();
            if !self.eat(',') {
                self.skip_space();
                self.expect('}')?;
                return Ok(videos);
            }
        }
    }

    fn list(&mut self) -> Result<Vec<String>> {
        self.expect('[')?;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.eat(']') {
                return Ok(items);
            }
            items.push(self.string()?);
            self.skip_space();
            if !self.eat(',') {
                self.skip_space();
                self.expect(']')?;
                return Ok(items);
            }
        }
    }

    /// A Python string literal: optional `u` prefix, `'` or `"` quotes, escapes.
    fn string(&mut self) -> Result<String> {
        if matches!(self.peek(), Some('u' | 'U')) {
            self.pos += 1;
        }
        let quote = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.error("expected a quoted string")),
        };
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.next_char() {
                None | Some('\n') => {
                    self.pos = start;
                    return Err(self.error("unterminated string"));
                }
                Some('\\') => self.escape(&mut out)?,
                Some(c) if c == quote => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    /// The escape after a backslash, as Python reads it in a non-raw str literal.
    fn escape(&mut self, out: &mut String) -> Result<()> {
        let at = self.pos - 1;
        let Some(c) = self.next_char() else {
            return Err(self.error("unterminated string"));
        };
        let simple = match c {
            '\n' => Some(None),
            '\\' | '\'' | '"' => Some(Some(c)),
            'a' => Some(Some('\u{7}')),
            'b' => Some(Some('\u{8}')),
            'f' => Some(Some('\u{c}')),
            'n' => Some(Some('\n')),
            'r' => Some(Some('\r')),
            't' => Some(Some('\t')),
            'v' => Some(Some('\u{b}')),
            _ => None,
        };
        if let Some(decoded) = simple {
            out.extend(decoded);
            return Ok(());
        }
        let code = match c {
            'x' => self.hex_digits(2, at)?,
            'u' => self.hex_digits(4, at)?,
            'U' => self.hex_digits(8, at)?,
            '0'..='7' => self.octal(c),
            _ => {
                // Python keeps unknown escapes verbatim.
                out.push('\\');
                out.push(c);
                return Ok(());
            }
        };
        match char::from_u32(code) {
            Some(ch) => {
                out.push(ch);
                Ok(())
            }
            None => {
                self.pos = at;
                Err(self.error(&format!("escape gives U+{code:X}, not a valid character")))
            }
        }
    }

    /// Exactly `n` hex digits.
    fn hex_digits(&mut self, n: usize, at: usize) -> Result<u32> {
        let digits = self
            .text
            .get(self.pos..self.pos + n)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        match digits.and_then(|d| u32::from_str_radix(d, 16).ok()) {
            Some(code) => {
                self.pos += n;
                Ok(code)
            }
            _ => {
                self.pos = at;
                Err(self.error(&format!("expected {n} hex digits after this escape")))
            }
        }
    }

    /// One to three octal digits, the first already consumed.
    fn octal(&mut self, first: char) -> u32 {
        let mut code = first.to_digit(8).unwrap_or(0);
        for _ in 0..2 {
            match self.peek().and_then(|c| c.to_digit(8)) {
                Some(d) => {
                    code = code * 8 + d;
                    self.pos += 1;
                }
                None => break,
            }
        }
        code
    }

    fn peek(&self) -> Option<char> {
        self.text.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            let found = self
                .peek()
                .map_or_else(|| "end of file".to_owned(), |f| format!("{f:?}"));
            Err(self.error(&format!("expected {c:?}, found {found}")))
        }
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += self.peek().map_or(1, char::len_utf8);
        }
    }

    fn error(&self, message: &str) -> DataError {
        let (line, column) = line_column(self.text, self.pos);
        DataError::Syntax {
            path: self.path.to_owned(),
            line,
            column,
            byte: self.pos,
            message: message.to_owned(),
        }
    }
}

/// What [`write_frame_info`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    /// Videos found.
    pub videos: usize,
    /// Frames found.
    pub frames: usize,
    /// The dict-literal file (the original's form).
    pub txt: std::path::PathBuf,
    /// The JSON file.
    pub json: std::path::PathBuf,
}

/// Groups the frame ids of a collection's feature BigFile by video (`do_get_frameInfo.sh`)
/// and writes `video2frames.txt` (the original's dict literal) and `video2frames.json`. The
/// one implementation behind `dualenc frame-info` and `dualenc all`.
pub fn write_frame_info(collection: &crate::Collection, feature: &str) -> Result<FrameInfo> {
    let bigfile = crate::BigFile::open(collection.feature_dir(feature))?;
    let id_path = bigfile.dir().join("id.txt");
    let v2f = Video2Frames::from_frame_ids(bigfile.ids().iter().map(String::as_str), &id_path)?;
    let txt = collection.video2frames_path(feature);
    let json = collection.video2frames_json_path(feature);
    v2f.write_dict_literal(&txt)?;
    v2f.write_json(&json)?;
    Ok(FrameInfo {
        videos: v2f.len(),
        frames: v2f.iter().map(|(_, f)| f.len()).sum(),
        txt,
        json,
    })
}

//! Pre-trained word vectors, used to initialise the word embedding (docs/data.md, "Vocabularies").
//!
//! Three on-disk forms are read:
//! - a BigFile folder whose ids are words (the original's `word2vec/flickr/vec500flickr30m`);
//! - the word2vec binary format: a header line `N D`, then N records `word<space>` followed by
//!   D little-endian f32 (and usually a `\n`, which is optional);
//! - the text format `word v1 ... vD` per line (GloVe), with or without an `N D` header line.
//!   A "word" may itself contain spaces (GloVe 840B has some): the last D fields are the
//!   values, everything before them the word.
//!
//! [`WordVectors::open`] picks the form: a folder is a BigFile; a file whose first line is
//! `N D` is text when its second line parses as a word and D numbers, binary otherwise; a
//! file without such a header is text. A repeated word keeps its first vector.

use crate::bigfile::BigFile;
use crate::error::{DataError, Result};
use crate::textio;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

/// Bytes read to sniff a file's format: enough for a header and one text line of
/// thousands of values.
const SNIFF_BYTES: u64 = 1 << 20;

/// The on-disk form word vectors were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordVectorFormat {
    /// A BigFile folder whose ids are words.
    BigFile,
    /// word2vec's binary format.
    Word2VecBinary,
    /// One `word v1 ... vD` line per word (GloVe / word2vec text).
    Text,
}

/// Word vectors of one dimension, looked up by word.
pub struct WordVectors {
    format: WordVectorFormat,
    dim: usize,
    store: Store,
}

/// Where the vectors live: the mapped BigFile, or a dense matrix read into memory.
enum Store {
    BigFile(BigFile),
    Dense {
        index: HashMap<String, usize>,
        data: Vec<f32>,
    },
}

impl std::fmt::Debug for WordVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordVectors")
            .field("format", &self.format)
            .field("dim", &self.dim)
            .field("len", &self.len())
            .finish()
    }
}

impl WordVectors {
    /// Opens word vectors in any of the three forms (see the module documentation).
    pub fn open(path: impl AsRef<Path>) -> Result<WordVectors> {
        let path = path.as_ref();
        if path.is_dir() {
            let file = BigFile::open(path)?;
            return Ok(WordVectors {
                format: WordVectorFormat::BigFile,
                dim: file.dim(),
                store: Store::BigFile(file),
            });
        }
        match sniff(path)? {
            WordVectorFormat::Word2VecBinary => Self::read_binary(path),
            _ => Self::read_text(path),
        }
    }

    /// Reads the word2vec binary format.
    pub fn read_binary(path: impl AsRef<Path>) -> Result<WordVectors> {
        let path = path.as_ref();
        let mut reader = BinaryReader::new(path)?;
        let header = reader.header()?;
        let (count, dim) = parse_header(&header).ok_or_else(|| DataError::Parse {
            path: path.to_owned(),
            line: 1,
            message: format!("expected the header \"N D\", found {header:?}"),
        })?;
        let record = dim.saturating_mul(4).saturating_add(2);
        if count > 0 && record - 2 > reader.remaining {
            return Err(reader.truncated(
                0,
                count,
                &format!("shorter than one record of {dim} values"),
            ));
        }
        // The header is not trusted for the allocation: no more records than the file can hold.
        let mut dense = Dense::with_capacity(count.min(reader.remaining / record), dim);
        for i in 0..count {
            let word = reader.word(i, count)?;
            let values = reader.values(i, count, dim)?;
            dense.insert(word, &values);
        }
        Ok(dense.finish(WordVectorFormat::Word2VecBinary, dim))
    }

    /// Reads the text format, with or without an `N D` header.
    pub fn read_text(path: impl AsRef<Path>) -> Result<WordVectors> {
        let path = path.as_ref();
        let mut dim: Option<usize> = None;
        let mut dense = Dense::with_capacity(0, 0);
        textio::for_each_line(path, "word vectors", |line, text| {
            let fields: Vec<&str> = text.split_whitespace().collect();
            if fields.is_empty() {
                return Ok(());
            }
            if line == 1 {
                if let Some((_, d)) = parse_header(text) {
                    dim = Some(d);
                    return Ok(());
                }
            }
            let d = *dim.get_or_insert(fields.len().saturating_sub(1));
            let (word, values) = parse_text_record(path, line, &fields, d)?;
            dense.insert(word, &values);
            Ok(())
        })?;
        let dim = dim.unwrap_or(0);
        Ok(dense.finish(WordVectorFormat::Text, dim))
    }

    /// The form the vectors were read from.
    pub fn format(&self) -> WordVectorFormat {
        self.format
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of distinct words.
    pub fn len(&self) -> usize {
        match &self.store {
            Store::BigFile(file) => file.len() - file.duplicate_ids(),
            Store::Dense { index, .. } => index.len(),
        }
    }

    /// True when there is no word.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The vector of `word`, if known.
    pub fn get(&self, word: &str) -> Option<&[f32]> {
        match &self.store {
            Store::BigFile(file) => file.vector_by_id(word),
            Store::Dense { index, data } => {
                let i = *index.get(word)?;
                data.get(i * self.dim..(i + 1) * self.dim)
            }
        }
    }
}

/// Writes `entries` in word2vec's binary format (header, then `word<space>` + D
/// little-endian f32 + `\n` per word), atomically.
pub fn write_binary(path: impl AsRef<Path>, dim: usize, entries: &[(&str, &[f32])]) -> Result<()> {
    let path = path.as_ref();
    check_entries(path, dim, entries)?;
    crate::atomic::write_atomic(path, |w| {
        writeln!(w, "{} {dim}", entries.len())?;
        for (word, vector) in entries {
            w.write_all(word.as_bytes())?;
            w.write_all(b" ")?;
            for x in *vector {
                w.write_all(&x.to_le_bytes())?;
            }
            w.write_all(b"\n")?;
        }
        Ok(())
    })
    .map_err(|e| DataError::io(path, e))
}

/// Writes `entries` in the text format (`word v1 ... vD` per line, values printed so that
/// they read back exactly), with an `N D` header when `header` is true, atomically.
pub fn write_text(
    path: impl AsRef<Path>,
    dim: usize,
    entries: &[(&str, &[f32])],
    header: bool,
) -> Result<()> {
    let path = path.as_ref();
    check_entries(path, dim, entries)?;
    crate::atomic::write_atomic(path, |w| {
        if header {
            writeln!(w, "{} {dim}", entries.len())?;
        }
        for (word, vector) in entries {
            w.write_all(word.as_bytes())?;
            for x in *vector {
                write!(w, " {x}")?;
            }
            w.write_all(b"\n")?;
        }
        Ok(())
    })
    .map_err(|e| DataError::io(path, e))
}

/// Every word must be a valid id and every vector have `dim` values.
fn check_entries(path: &Path, dim: usize, entries: &[(&str, &[f32])]) -> Result<()> {
    for (word, vector) in entries {
        if !textio::is_valid_id(word) {
            return Err(DataError::InvalidId {
                path: path.to_owned(),
                id: (*word).to_owned(),
            });
        }
        if vector.len() != dim {
            return Err(DataError::WrongDim {
                path: path.to_owned(),
                id: (*word).to_owned(),
                expected: dim,
                found: vector.len(),
            });
        }
    }
    Ok(())
}

/// A dense matrix being filled, first vector of a word wins.
struct Dense {
    index: HashMap<String, usize>,
    data: Vec<f32>,
}

impl Dense {
    fn with_capacity(words: usize, dim: usize) -> Dense {
        Dense {
            index: HashMap::with_capacity(words),
            data: Vec::with_capacity(words.saturating_mul(dim)),
        }
    }

    fn insert(&mut self, word: String, values: &[f32]) {
        let next = self.index.len();
        if let std::collections::hash_map::Entry::Vacant(slot) = self.index.entry(word) {
            slot.insert(next);
            self.data.extend_from_slice(values);
        }
    }

    fn finish(self, format: WordVectorFormat, dim: usize) -> WordVectors {
        WordVectors {
            format,
            dim,
            store: Store::Dense {
                index: self.index,
                data: self.data,
            },
        }
    }
}

/// `Some((n, d))` when `line` is exactly two non-negative integers.
fn parse_header(line: &str) -> Option<(usize, usize)> {
    let mut fields = line.split_whitespace();
    let n = fields.next()?.parse().ok()?;
    let d = fields.next()?.parse().ok()?;
    fields.next().is_none().then_some((n, d))
}

/// Splits a text record into the word (all fields but the last `dim`) and `dim` values.
fn parse_text_record(
    path: &Path,
    line: usize,
    fields: &[&str],
    dim: usize,
) -> Result<(String, Vec<f32>)> {
    let parse_error = |message: String| DataError::Parse {
        path: path.to_owned(),
        line,
        message,
    };
    if dim == 0 || fields.len() < dim + 1 {
        return Err(parse_error(format!(
            "expected a word and {dim} values, found {} fields",
            fields.len()
        )));
    }
    let split = fields.len() - dim;
    let values = fields[split..]
        .iter()
        .enumerate()
        .map(|(k, f)| {
            f.parse::<f32>()
                .map_err(|_| parse_error(format!("value {}: {f:?} is not a number", k + 1)))
        })
        .collect::<Result<Vec<f32>>>()?;
    Ok((fields[..split].join(" "), values))
}

/// Decides between the binary and the text form from the start of the file.
fn sniff(path: &Path) -> Result<WordVectorFormat> {
    let mut head = Vec::new();
    textio::open(path, "word vectors")?
        .0
        .take(SNIFF_BYTES)
        .read_to_end(&mut head)
        .map_err(|e| DataError::io(path, e))?;
    let mut lines = head.split(|&b| b == b'\n');
    let first = textio::decode(lines.next().unwrap_or_default());
    let Some((_, dim)) = parse_header(&first) else {
        return Ok(WordVectorFormat::Text);
    };
    let second = textio::decode(lines.next().unwrap_or_default());
    let fields: Vec<&str> = second.split_whitespace().collect();
    if parse_text_record(path, 2, &fields, dim).is_ok() {
        Ok(WordVectorFormat::Text)
    } else {
        Ok(WordVectorFormat::Word2VecBinary)
    }
}

/// Streams the records of a binary word2vec file, counting bytes for error messages.
struct BinaryReader<'a> {
    path: &'a Path,
    reader: BufReader<std::io::Take<std::fs::File>>,
    byte: usize,
    /// Bytes after the header (the file size before it is read).
    remaining: usize,
}

impl<'a> BinaryReader<'a> {
    fn new(path: &'a Path) -> Result<BinaryReader<'a>> {
        let (file, size) = textio::open(path, "word vectors")?;
        Ok(BinaryReader {
            path,
            reader: BufReader::with_capacity(1 << 20, file),
            byte: 0,
            remaining: usize::try_from(size).unwrap_or(usize::MAX),
        })
    }

    /// The header line, without its line end.
    fn header(&mut self) -> Result<String> {
        let mut line = Vec::new();
        self.byte += self
            .reader
            .read_until(b'\n', &mut line)
            .map_err(|e| DataError::io(self.path, e))?;
        self.remaining = self.remaining.saturating_sub(line.len());
        Ok(textio::decode(&line).trim().to_owned())
    }

    /// The word of record `index`: leading white space skipped, up to the next space.
    fn word(&mut self, index: usize, count: usize) -> Result<String> {
        let mut word = Vec::new();
        loop {
            let mut byte = [0u8; 1];
            match self.reader.read(&mut byte) {
                Ok(0) => return Err(self.truncated(index, count, "end of file inside a word")),
                Ok(_) => {}
                Err(e) => return Err(DataError::io(self.path, e)),
            }
            self.byte += 1;
            match byte[0] {
                b' ' if !word.is_empty() => return Ok(textio::decode(&word)),
                b if textio::is_space(b) && word.is_empty() => {}
                b => word.push(b),
            }
        }
    }

    /// The `dim` values of record `index`.
    fn values(&mut self, index: usize, count: usize, dim: usize) -> Result<Vec<f32>> {
        let mut bytes = vec![0u8; dim * 4];
        if let Err(e) = self.reader.read_exact(&mut bytes) {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                let message = format!("end of file inside the {dim} values");
                return Err(self.truncated(index, count, &message));
            }
            return Err(DataError::io(self.path, e));
        }
        self.byte += bytes.len();
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn truncated(&self, index: usize, count: usize, message: &str) -> DataError {
        DataError::Truncated {
            path: self.path.to_owned(),
            index,
            count,
            byte: self.byte,
            message: message.to_owned(),
        }
    }
}

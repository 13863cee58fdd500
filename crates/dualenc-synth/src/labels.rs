//! The ground truth: which concepts each video shows, per collection.
//!
//! Written as `{prefix}.labels.json`: `{"synthtrain": {"video0": [13, 5, 25, 4], ...},
//! "synthval": {...}, "synthtest": {...}}` with `[subject, attribute, action, scene]`
//! indices into the tables of [`crate::concepts`] (the form of the reference generator's
//! file). Collections and videos keep their order when read back.

use crate::concepts::VideoLabels;
use crate::error::{Result, SynthError};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::path::Path;

/// Video labels of one or more collections, with lookups by video id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SynthLabels {
    collections: Vec<(String, Vec<(String, VideoLabels)>)>,
    index: HashMap<String, (usize, usize)>,
}

impl SynthLabels {
    /// Labels from (collection, [(video, labels)]) in order. A video id listed twice keeps
    /// its first labels in lookups.
    pub fn new(collections: Vec<(String, Vec<(String, VideoLabels)>)>) -> SynthLabels {
        let mut index = HashMap::new();
        for (c, (_, videos)) in collections.iter().enumerate() {
            for (v, (id, _)) in videos.iter().enumerate() {
                index.entry(id.clone()).or_insert((c, v));
            }
        }
        SynthLabels { collections, index }
    }

    /// Collection names in order.
    pub fn collections(&self) -> impl Iterator<Item = &str> {
        self.collections.iter().map(|(name, _)| name.as_str())
    }

    /// The videos of `collection` with their labels, in order; `None` for an unknown name.
    pub fn videos(&self, collection: &str) -> Option<&[(String, VideoLabels)]> {
        self.collections
            .iter()
            .find(|(name, _)| name == collection)
            .map(|(_, videos)| videos.as_slice())
    }

    /// The labels of `video` (any collection).
    pub fn get(&self, video: &str) -> Option<VideoLabels> {
        let &(c, v) = self.index.get(video)?;
        self.collections.get(c)?.1.get(v).map(|(_, l)| *l)
    }

    /// A readable description of what `video` shows, e.g.
    /// "a red girl opens a door in the kitchen".
    pub fn describe(&self, video: &str) -> Option<String> {
        self.get(video).map(|l| l.describe())
    }

    /// The JSON text of the labels file (one line, as the reference writes it).
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (c, (name, videos)) in self.collections.iter().enumerate() {
            let sep = if c == 0 { "" } else { ", " };
            let _ = write!(out, "{sep}{}: {{", json_string(name));
            for (v, (id, labels)) in videos.iter().enumerate() {
                let sep = if v == 0 { "" } else { ", " };
                let [s, a, act, sc] = labels.to_array();
                let _ = write!(out, "{sep}{}: [{s}, {a}, {act}, {sc}]", json_string(id));
            }
            out.push('}');
        }
        out.push('}');
        out
    }

    /// Writes the labels file atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        dualenc_data::atomic::write_bytes_atomic(path, self.to_json().as_bytes())
            .map_err(|e| SynthError::io(path, e))
    }

    /// Reads a labels file; the error names the file, the line and column, and the expected
    /// form (also for concept indices beyond the tables).
    pub fn read(path: &Path) -> Result<SynthLabels> {
        let text = dualenc_data::untrusted::read_regular_text(path)
            .map_err(|e| SynthError::io(path, e))?;
        Self::parse(&text).map_err(|message| SynthError::BadLabels {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses the JSON text of a labels file.
    pub fn parse(text: &str) -> std::result::Result<SynthLabels, String> {
        let parsed: Ordered<Ordered<[usize; 4]>> = serde_json::from_str(text).map_err(|e| {
            format!("{e}; expected {{\"COLLECTION\": {{\"VIDEO\": [subject, attribute, action, scene]}}}}")
        })?;
        let mut collections = Vec::with_capacity(parsed.0.len());
        for (name, videos) in parsed.0 {
            let mut labelled = Vec::with_capacity(videos.0.len());
            for (id, values) in videos.0 {
                let labels = VideoLabels::from_array(values).ok_or_else(|| {
                    format!("{name}/{id}: concept indices {values:?} outside the concept tables")
                })?;
                labelled.push((id, labels));
            }
            collections.push((name, labelled));
        }
        Ok(SynthLabels::new(collections))
    }
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A JSON object read with its keys in document order.
struct Ordered<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(OrderedVisitor(std::marker::PhantomData))
    }
}

/// Visitor collecting map entries in order.
struct OrderedVisitor<V>(std::marker::PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
    type Value = Ordered<V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Ordered(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SynthLabels {
        let l = |a| VideoLabels::from_array(a).unwrap();
        SynthLabels::new(vec![
            (
                "toytrain".into(),
                vec![
                    ("video0".into(), l([13, 5, 25, 4])),
                    ("video1".into(), l([9, 2, 23, 1])),
                ],
            ),
            ("toytest".into(), vec![("video2".into(), l([0, 0, 2, 0]))]),
        ])
    }

    #[test]
    fn json_round_trips_in_order() {
        let labels = sample();
        let text = labels.to_json();
        assert!(
            text.starts_with(r#"{"toytrain": {"video0": [13, 5, 25, 4], "video1": [9, 2, 23, 1]}"#)
        );
        let back = SynthLabels::parse(&text).unwrap();
        assert_eq!(back, labels);
        assert_eq!(
            back.collections().collect::<Vec<_>>(),
            ["toytrain", "toytest"]
        );
    }

    #[test]
    fn lookups_and_descriptions() {
        let labels = sample();
        assert_eq!(labels.get("video2").map(|l| l.action), Some(2));
        assert_eq!(
            labels.describe("video2").unwrap(),
            "a red girl opens a door in the kitchen"
        );
        assert_eq!(labels.get("video9"), None);
        assert_eq!(labels.videos("toytest").map(<[_]>::len), Some(1));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = SynthLabels::parse(r#"{"c": {"video0": [1, 2]}}"#).unwrap_err();
        assert!(
            err.contains("line 1") && err.contains("[subject, attribute, action, scene]"),
            "{err}"
        );
        let err = SynthLabels::parse(r#"{"c": {"video0": [99, 0, 0, 0]}}"#).unwrap_err();
        assert!(err.contains("c/video0") && err.contains("outside"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.json");
        let err = SynthLabels::read(&path).unwrap_err().to_string();
        assert!(err.contains("missing.json"), "{err}");
    }
}

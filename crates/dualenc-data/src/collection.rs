//! Standard paths of a collection under a VisualSearch root (docs/data.md, "Data layout").

use std::path::{Path, PathBuf};

/// A collection `name` under the VisualSearch root `root`; gives the standard paths so that
/// no command spells them out by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    /// The VisualSearch root (e.g. `$HOME/VisualSearch`).
    pub root: PathBuf,
    /// The collection name (e.g. `msrvtt10ktrain`).
    pub name: String,
}

impl Collection {
    /// The collection `name` under `root`.
    pub fn new(root: impl Into<PathBuf>, name: impl Into<String>) -> Collection {
        Collection {
            root: root.into(),
            name: name.into(),
        }
    }

    /// `ROOT/COLL`.
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    /// `ROOT/COLL/FeatureData/FEAT`: the BigFile folder of a feature.
    pub fn feature_dir(&self, feature: &str) -> PathBuf {
        self.dir().join("FeatureData").join(feature)
    }

    /// `ROOT/COLL/FeatureData/FEAT/video2frames.txt` (dict literal form).
    pub fn video2frames_path(&self, feature: &str) -> PathBuf {
        self.feature_dir(feature).join("video2frames.txt")
    }

    /// `ROOT/COLL/FeatureData/FEAT/video2frames.json` (JSON form).
    pub fn video2frames_json_path(&self, feature: &str) -> PathBuf {
        self.feature_dir(feature).join("video2frames.json")
    }

    /// `ROOT/COLL/ImageSets/COLL.txt`: the collection's video ids.
    pub fn image_set_path(&self) -> PathBuf {
        self.dir()
            .join("ImageSets")
            .join(format!("{}.txt", self.name))
    }

    /// `ROOT/COLL/TextData/COLL.caption.txt`.
    pub fn caption_path(&self) -> PathBuf {
        self.dir()
            .join("TextData")
            .join(format!("{}.caption.txt", self.name))
    }

    /// `ROOT/COLL/TextData/vocabulary/STYLE` (`bow` or `rnn`).
    pub fn vocabulary_dir(&self, style: &str) -> PathBuf {
        self.dir().join("TextData").join("vocabulary").join(style)
    }
}

/// `ROOT/word2vec/flickr/vec500flickr30m`: the original's 500-d word2vec BigFile.
pub fn word2vec_dir(root: &Path) -> PathBuf {
    root.join("word2vec").join("flickr").join("vec500flickr30m")
}

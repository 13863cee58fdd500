//! The VisualSearch data layout: BigFile frame features, video2frames, caption files,
//! image sets, AVS topics and word vectors (docs/data.md, "Data layout"). No deep learning here.
//!
//! Every reader returns a [`DataError`] that names the file and the line, id or byte
//! where things went wrong; every writer goes through [`atomic`] (temporary file + rename).

#![warn(missing_docs)]

pub mod atomic;
pub mod bigfile;
pub mod captions;
pub mod check;
pub mod collection;
pub mod convert;
pub mod error;
mod textio;
pub mod untrusted;
pub mod video2frames;
pub mod wordvec;

pub use bigfile::{BigFile, BigFileWriter};
pub use captions::{video_id_of, AvsTopic, Caption};
pub use collection::Collection;
pub use error::{DataError, Result};
pub use video2frames::{write_frame_info, FrameInfo, Video2Frames};
pub use wordvec::{WordVectorFormat, WordVectors};

//! A safe reader for Python pickles and `torch.save` checkpoints, so that the original
//! project's vocabularies (`__main__.Vocabulary` pickles) and trained checkpoints
//! (`model_best.pth.tar`: epoch, `[video, text]` state dicts, best_rsum, the argparse
//! `opt`, Eiters) can be used without Python.
//!
//! [`loads`] runs a pickle into a [`Value`] tree without importing or calling anything:
//! unknown classes become [`Value::Object`]s that keep their state. [`TorchFile`] reads both
//! torch container formats and turns tensor references into [`Tensor`]s.
//!
//! Input is untrusted: files are read with
//! [`dualenc_data::untrusted::read_regular_file`] (regular files only, no
//! more than their length), a pickle may not nest deeper than [`unpickle::MAX_DEPTH`] nor
//! expand beyond [`unpickle::MAX_EXPANSION`] times its length, zip entries may not inflate
//! beyond what the pickle's storages need nor [`torch::MAX_ZIP_INFLATION`] times the
//! archive's length, and shapes, strides and offsets are checked against their storage
//! with checked arithmetic before anything is allocated.
//!
//! ```no_run
//! use dualenc_pickle::TorchFile;
//! let ckpt = TorchFile::open("model_best.pth.tar")?;
//! let epoch = ckpt.get("epoch").and_then(|v| v.as_i64());
//! let video = ckpt.get("model").and_then(|m| m.as_seq()).and_then(|m| m.first());
//! if let Some(video) = video {
//!     for (name, tensor) in ckpt.state_dict(video)? {
//!         println!("{name} {:?}", tensor.shape);
//!     }
//! }
//! # Ok::<(), dualenc_pickle::TorchError>(())
//! ```

pub mod error;
mod node;
pub mod torch;
pub mod unpickle;
pub mod value;

pub use error::{PickleError, TorchError};
pub use torch::{DType, StorageRef, Tensor, TensorData, TensorRef, TorchFile, TorchFormat};
pub use unpickle::{load_prefix, loads};
pub use value::{PyObject, Value};

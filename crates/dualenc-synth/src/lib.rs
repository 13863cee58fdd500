//! Synthetic VisualSearch collections: a real test bed for zero-example video retrieval.
//!
//! Each video shows four latent concepts: a subject (girl, dog, robot, ...), an attribute
//! (a colour or size), an action and a scene. Frame features mix fixed random directions
//! of these concepts with noise; an action is a walk through visual phases in temporal
//! order, and opposite actions (opens / closes a door, climbs up / down, ...) walk the same
//! phases backwards, so mean pooling cannot tell them apart but a recurrent encoder can.
//! Captions come from varied templates and synonyms, some naming only part of the
//! concepts. AVS topics combine two concepts and their qrels follow from the labels.
//!
//! [`SynthCollection::generate`] is the pure generator (config -> data in memory);
//! [`generate`] also writes the train/val/test collections in the VisualSearch layout.
//! Output depends only on the config (and the version of this crate): the same seed gives
//! identical bytes on every run and machine, because every draw comes from portable
//! ChaCha8 streams and only IEEE-exact arithmetic is used (no `ln`/`exp`/`cos`, whose last
//! bit may differ between math libraries).

#![warn(missing_docs)]

pub mod avs;
pub mod concepts;
pub mod config;
pub mod dataset;
pub mod error;
pub mod features;
pub mod labels;
mod rng;
mod sentences;
pub mod writer;

pub use avs::{QrelEntry, SynthTopic, TopicKind};
pub use concepts::VideoLabels;
pub use config::{FrameRange, SplitSizes, SynthConfig};
pub use dataset::{SynthCollection, SynthSplit, SynthVideo};
pub use error::{Result, SynthError};
pub use features::ConceptSpace;
pub use labels::SynthLabels;
pub use writer::{
    generate, generate_with_progress, write_collection, CollectionSummary, SynthSummary,
};

//! The VisualSearch data layout: BigFile frame features, video2frames, caption files,
//! image sets, AVS topics and word vectors (SPEC §1). No deep learning here.

pub mod atomic;

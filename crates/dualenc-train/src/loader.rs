//! Training batches: one sample per caption, reshuffled every epoch from a seeded ChaCha
//! stream, collated on a background thread so that the network never waits for data.
//!
//! As in the original, no sample is dropped: the last, partial batch is used. A batch of a
//! single pair would break train-mode BatchNorm (the original crashes on it), so a lone last
//! pair is merged into the batch before it, which then holds `batch_size + 1` pairs.

use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use dualenc_dataset::{collate_pairs, CaptionInput, PairBatch, PairData, VideoFrames};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TrainError};

/// Checks that `data` can be trained on: at least two captions (BatchNorm), every caption
/// with at least one word (`<start>`, a token, `<end>`); errors name the caption.
pub fn check_training_data(data: &PairData) -> Result<()> {
    if data.captions.len() < 2 {
        return Err(TrainError::Data(format!(
            "training needs at least 2 captions, got {}",
            data.captions.len()
        )));
    }
    let empty = data
        .captions
        .tokens
        .iter()
        .zip(&data.captions.ids)
        .find(|(t, _)| t.ids.len() <= 2);
    match empty {
        Some((_, id)) => Err(TrainError::Data(format!(
            "caption {id} has no word (only characters outside [A-Za-z0-9]); fix or remove it"
        ))),
        None => Ok(()),
    }
}

/// The order in which epoch `epoch` visits the samples: a Fisher-Yates shuffle drawn from
/// ChaCha8 seeded with `seed`, stream `epoch`, so that any epoch's order can be recomputed
/// on resume without replaying the earlier ones.
pub fn epoch_order(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64);
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut rng);
    order
}

/// How each epoch orders the training samples.
#[derive(Debug, Clone, Default)]
pub enum SampleOrder {
    /// A fresh seeded shuffle per epoch ([`epoch_order`]), as the original's shuffling loader.
    #[default]
    Shuffled,
    /// The given orders, one list of sample (caption) indices per epoch: replays a run whose
    /// orders were recorded elsewhere, e.g. the original's (`scripts/reference/`).
    Given(Arc<Vec<Vec<usize>>>),
}

impl SampleOrder {
    /// The order of `epoch` over `len` samples; a given order must exist for the epoch and be
    /// a permutation of `0..len`.
    pub fn epoch(&self, len: usize, seed: u64, epoch: usize) -> Result<Vec<usize>> {
        let orders = match self {
            SampleOrder::Shuffled => return Ok(epoch_order(len, seed, epoch)),
            SampleOrder::Given(orders) => orders,
        };
        let order = orders.get(epoch).ok_or_else(|| {
            TrainError::Data(format!(
                "the sample order lists {} epochs; epoch {} has none",
                orders.len(),
                epoch + 1
            ))
        })?;
        check_permutation(order, len)
            .map_err(|e| TrainError::Data(format!("sample order of epoch {}: {e}", epoch + 1)))?;
        Ok(order.clone())
    }
}

fn check_permutation(order: &[usize], len: usize) -> std::result::Result<(), String> {
    if order.len() != len {
        return Err(format!("{} indices for {len} samples", order.len()));
    }
    let mut seen = vec![false; len];
    for &i in order {
        match seen.get_mut(i) {
            Some(s) if !*s => *s = true,
            Some(_) => return Err(format!("index {i} appears twice")),
            None => return Err(format!("index {i} is not below {len}")),
        }
    }
    Ok(())
}

/// Consecutive batch ranges over `len` samples; a lone last sample joins the batch before.
pub fn batch_ranges(len: usize, batch_size: usize) -> Vec<Range<usize>> {
    let size = batch_size.max(1);
    let mut ranges: Vec<Range<usize>> = (0..len)
        .step_by(size)
        .map(|start| start..(start + size).min(len))
        .collect();
    if ranges.len() > 1 && ranges.last().is_some_and(|r| r.len() == 1) {
        ranges.pop();
        if let Some(last) = ranges.last_mut() {
            last.end = len;
        }
    }
    ranges
}

/// Batches of one epoch, collated ahead of time on a background thread.
pub struct BatchLoader {
    rx: Receiver<Result<PairBatch>>,
    worker: Option<JoinHandle<()>>,
    batches: usize,
}

impl BatchLoader {
    /// Starts collating the batches of `order` (sample indices) in chunks of `batch_size`,
    /// keeping up to `prefetch` batches ready.
    pub fn spawn(
        data: Arc<PairData>,
        order: Vec<usize>,
        batch_size: usize,
        max_len: usize,
        prefetch: usize,
    ) -> Self {
        let ranges = batch_ranges(order.len(), batch_size);
        let batches = ranges.len();
        let (tx, rx) = sync_channel(prefetch.max(1));
        let worker = std::thread::spawn(move || {
            for range in ranges {
                let batch = collate(&data, &order[range], max_len);
                if tx.send(batch).is_err() {
                    return;
                }
            }
        });
        Self {
            rx,
            worker: Some(worker),
            batches,
        }
    }

    /// Number of batches this epoch.
    pub fn batches(&self) -> usize {
        self.batches
    }
}

fn collate(data: &PairData, samples: &[usize], max_len: usize) -> Result<PairBatch> {
    let mut videos: Vec<VideoFrames> = Vec::with_capacity(samples.len());
    let mut captions: Vec<CaptionInput> = Vec::with_capacity(samples.len());
    for &s in samples {
        let missing = || TrainError::Data(format!("sample {s} out of range"));
        let tokens = data.captions.tokens.get(s).ok_or_else(missing)?;
        let video = *data.caption_video.get(s).ok_or_else(missing)?;
        captions.push(tokens.to_input(data.captions.bow_dim)?);
        videos.push(data.videos.frames(video)?);
    }
    let video_refs: Vec<&VideoFrames> = videos.iter().collect();
    let caption_refs: Vec<&CaptionInput> = captions.iter().collect();
    Ok(collate_pairs(&video_refs, &caption_refs, max_len)?)
}

impl Iterator for BatchLoader {
    type Item = Result<PairBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rx.recv().ok()
    }
}

impl Drop for BatchLoader {
    fn drop(&mut self) {
        // Unblock the worker (its sends fail once the receiver is gone), then join it.
        let (_, dead) = sync_channel(0);
        drop(std::mem::replace(&mut self.rx, dead));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dualenc_dataset::{CaptionSet, CaptionTokens, InMemoryVideos};

    #[test]
    fn last_lone_sample_joins_the_previous_batch() {
        assert_eq!(batch_ranges(257, 128), vec![0..128, 128..257]);
        assert_eq!(batch_ranges(258, 128), vec![0..128, 128..256, 256..258]);
        assert_eq!(batch_ranges(256, 128), vec![0..128, 128..256]);
        assert_eq!(batch_ranges(5, 128), vec![0..5]);
    }

    #[test]
    fn given_orders_are_checked_and_replayed() {
        let given = SampleOrder::Given(Arc::new(vec![vec![2, 0, 1], vec![0, 0, 1]]));
        assert_eq!(given.epoch(3, 0, 0).unwrap(), vec![2, 0, 1]);
        let twice = given.epoch(3, 0, 1).unwrap_err().to_string();
        assert!(
            twice.contains("epoch 2") && twice.contains("twice"),
            "{twice}"
        );
        let missing = given.epoch(3, 0, 2).unwrap_err().to_string();
        assert!(missing.contains("epoch 3 has none"), "{missing}");
        let short = given.epoch(4, 0, 0).unwrap_err().to_string();
        assert!(short.contains("3 indices for 4"), "{short}");
        assert_eq!(
            SampleOrder::Shuffled.epoch(50, 3, 1).unwrap(),
            epoch_order(50, 3, 1)
        );
    }

    #[test]
    fn epoch_orders_are_permutations_that_differ_by_epoch_and_repeat_by_seed() {
        let a = epoch_order(100, 7, 0);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(a, epoch_order(100, 7, 1));
        assert_ne!(a, epoch_order(100, 8, 0));
        assert_eq!(a, epoch_order(100, 7, 0));
    }

    fn tiny_set() -> PairData {
        let video = |x: f32| VideoFrames::new(vec![x; 6], 2).unwrap();
        let videos =
            InMemoryVideos::new(vec!["v0".into(), "v1".into()], vec![video(1.0), video(2.0)])
                .unwrap();
        let caption = |n: usize| CaptionTokens::from_dense(vec![1; n], &[0.0, 1.0, 0.0]);
        let captions = CaptionSet {
            ids: (0..5).map(|i| format!("v{}#enc#{i}", i / 3)).collect(),
            tokens: vec![caption(3), caption(4), caption(5), caption(2), caption(3)],
            bow_dim: 3,
        };
        PairData::new(captions, vec![0, 0, 0, 1, 1], Box::new(videos)).unwrap()
    }

    #[test]
    fn the_loader_yields_every_sample_once_per_epoch() {
        let data = Arc::new(tiny_set());
        let loader = BatchLoader::spawn(data, vec![4, 2, 0, 1, 3], 2, 64, 2);
        assert_eq!(loader.batches(), 2);
        let sizes: Vec<usize> = loader.map(|b| b.unwrap().perm.len()).collect();
        assert_eq!(sizes, vec![2, 3]);
    }

    #[test]
    fn a_caption_without_words_is_refused_by_name() {
        let err = check_training_data(&tiny_set()).unwrap_err().to_string();
        assert!(err.contains("caption v1#enc#3"), "{err}");
    }
}

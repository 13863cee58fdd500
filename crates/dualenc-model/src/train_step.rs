//! One training step as the original's `train_emb`: train-mode forward, triplet loss,
//! backward, global-norm clipping, Adam, and the BatchNorm running-stat update.

use crate::TrainBackend;
use std::collections::HashMap;

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;

use crate::encoder::PaddingMode;
use crate::error::{ModelError, Result};
use crate::mapping::{BatchStats, Mode};
use crate::model::DualEncoding;
use crate::named::tensor_to_vec;
use crate::optim::{clip_global_norm, GradCollector, NamedGrad, Optimizer, OptimizerStep};
use crate::triplet_loss::{triplet_loss, TripletLossConfig};
use dualenc_dataset::PairBatch;

/// Forward and backward pass of one batch, before any update.
#[derive(Debug, Clone)]
pub struct Gradients<B: AutodiffBackend> {
    /// Loss value.
    pub loss: f32,
    /// Gradient of every parameter that got one, optimiser order, before clipping.
    pub grads: Vec<NamedGrad<B::InnerBackend>>,
    /// Train-mode video embeddings `[N, dim]`.
    pub video_emb: Tensor<B::InnerBackend, 2>,
    /// Train-mode caption embeddings `[N, dim]`.
    pub text_emb: Tensor<B::InnerBackend, 2>,
    video_stats: Option<BatchStats<B>>,
    text_stats: Option<BatchStats<B>>,
}

/// What one step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Loss before the update.
    pub loss: f32,
    /// Global gradient norm before clipping.
    pub total_norm: f32,
}

/// Train-mode forward pass and backward pass of `batch` (at least two pairs: train-mode
/// BatchNorm needs two rows, the original crashes on one).
pub fn compute_gradients<B: TrainBackend>(
    model: &DualEncoding<B>,
    batch: &PairBatch,
    loss_config: &TripletLossConfig,
) -> Result<Gradients<B>> {
    if batch.perm.len() < 2 {
        return Err(ModelError::Batch(format!(
            "a training batch needs at least 2 pairs (BatchNorm), got {}",
            batch.perm.len()
        )));
    }
    let trace = model.trace_pairs(batch, Mode::Train, PaddingMode::Batch)?;
    let loss = triplet_loss(
        trace.video.embedding.clone(),
        trace.text.embedding.clone(),
        loss_config,
    );
    let grads = loss.backward();
    let mut collector = GradCollector::<B>::new(&grads);
    model.visit_params(&mut collector);
    let loss_value = tensor_to_vec(loss.inner())?
        .first()
        .copied()
        .unwrap_or(f32::NAN);
    Ok(Gradients {
        loss: loss_value,
        grads: collector.out,
        video_emb: trace.video.embedding.inner(),
        text_emb: trace.text.embedding.inner(),
        video_stats: trace.video.bn_stats,
        text_stats: trace.text.bn_stats,
    })
}

/// Clips `gradients` to the optimiser's global norm, takes an Adam step and folds the
/// BatchNorm batch statistics into the running ones.
pub fn apply_gradients<B: TrainBackend>(
    model: DualEncoding<B>,
    adam: &mut Optimizer<B::InnerBackend>,
    mut gradients: Gradients<B>,
) -> Result<(DualEncoding<B>, StepReport)> {
    let total_norm = clip_global_norm(&mut gradients.grads, adam.config().grad_clip)?;
    let grads: HashMap<_, _> = gradients
        .grads
        .into_iter()
        .map(|g| (g.name, g.grad))
        .collect();
    let mut step = OptimizerStep::<B> { adam, grads };
    let model = model
        .map_params(&mut step)
        .with_batch_stats(gradients.video_stats, gradients.text_stats);
    Ok((
        model,
        StepReport {
            loss: gradients.loss,
            total_norm,
        },
    ))
}

/// One full training step on a collated pair batch.
pub fn train_step<B: TrainBackend>(
    model: DualEncoding<B>,
    adam: &mut Optimizer<B::InnerBackend>,
    batch: &PairBatch,
    loss_config: &TripletLossConfig,
) -> Result<(DualEncoding<B>, StepReport)> {
    let gradients = compute_gradients(&model, batch, loss_config)?;
    apply_gradients(model, adam, gradients)
}

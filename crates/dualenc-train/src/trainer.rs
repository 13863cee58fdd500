//! The training loop of the original `trainer.py`: per epoch, shuffle, train on batches
//! collated in the background (train-mode forward, triplet loss, global-norm clipping,
//! Adam), validate, apply the schedule, keep the best model and save a resumable
//! checkpoint.
//!
//! Run folder (`OUT`): `model_best/` (model folder of the best epoch), `checkpoint/` (see
//! [`crate::checkpoint`]), `metrics.jsonl`, `val_metric_hist.txt`, `val_metric.txt` and
//! `train_config.json`. Randomness comes only from the seed: initial weights, each epoch's
//! shuffle (ChaCha8 stream = epoch) and dropout (the backend is reseeded at the start of
//! each epoch), so a run resumed from its last checkpoint reproduces an uninterrupted one.
//! Initial weights and sample orders can also be given ([`TrainInputs`]), and a
//! [`TrainObserver`] sees every step and epoch: together they replay a run of the original
//! step by step (`scripts/reference/`).

use dualenc_model::ModelBackend;
use dualenc_model::TrainBackend;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use burn::module::AutodiffModule;
use dualenc_model::model_dir::save_model_dir;
use dualenc_model::{
    train_step, DualEncoding, ModelMeta, NamedTensor, Optimizer, RunConfig, StepReport,
};

use crate::checkpoint::{self, SaveInputs, TrainerState, CHECKPOINT_VERSION};
use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::history::{write_best, write_logs, EpochRecord, ValScores};
use crate::loader::{batch_ranges, check_training_data, BatchLoader, SampleOrder};
use crate::schedule::Schedule;
use dualenc_dataset::PairData;

/// Folder of the best model inside a run folder.
pub const MODEL_BEST_DIR: &str = "model_best";
/// The run's options as JSON.
pub const TRAIN_CONFIG_FILE: &str = "train_config.json";

/// Computes validation metrics of the current network (eval mode).
pub trait Validator<B: ModelBackend> {
    /// Encodes the validation collection with `model` and returns its metrics.
    fn validate(&mut self, model: &DualEncoding<B>) -> Result<ValScores>;
}

/// The data of a run.
pub struct TrainInputs {
    /// Training pairs.
    pub train: Arc<PairData>,
    /// Vocabulary files `(file name, bytes)` copied into every saved model folder.
    pub vocab_files: Vec<(String, Vec<u8>)>,
    /// Initial word vectors per RNN-vocabulary row (word2vec), if any.
    pub word_vectors: Option<Vec<Option<Vec<f32>>>>,
    /// Further facts recorded in the models' `config.json` (collections, feature...).
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Start from these weights (PyTorch state-dict names) instead of a seeded draw.
    pub initial_weights: Option<Vec<NamedTensor>>,
    /// How each epoch orders the samples.
    pub order: SampleOrder,
}

/// One training step as an observer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepRecord {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Step within the epoch (0-based).
    pub step: usize,
    /// Steps taken in the whole run, this one included (the original's `Eiters`).
    pub iteration: u64,
    /// Learning rate of the step.
    pub lr: f64,
    /// Loss before the update.
    pub loss: f32,
    /// Global gradient norm before clipping.
    pub total_norm: f32,
    /// Pairs in the batch.
    pub batch_size: usize,
}

/// Sees every training step and epoch of a run, with the network, e.g. to record a trace.
pub trait TrainObserver<B: TrainBackend> {
    /// Called before each epoch's first step with the number of batches to come.
    fn epoch_start(&mut self, _epoch: usize, _batches: usize) -> Result<()> {
        Ok(())
    }

    /// Called after each step with the updated network (BatchNorm statistics included).
    fn step(&mut self, _record: &StepRecord, _model: &DualEncoding<B>) -> Result<()> {
        Ok(())
    }

    /// Called after each epoch's validation and schedule decision.
    fn epoch(&mut self, _record: &EpochRecord, _model: &DualEncoding<B>) -> Result<()> {
        Ok(())
    }
}

/// An observer that does nothing.
pub struct NoObserver;

impl<B: TrainBackend> TrainObserver<B> for NoObserver {}

/// What a user interface follows of a training run (progress bars, epoch lines): the
/// observer's view without the network, so that it does not depend on the backend.
pub trait TrainProgress {
    /// An epoch of `batches` batches starts.
    fn epoch_start(&mut self, _epoch: usize, _batches: usize) {}
    /// A step finished.
    fn step(&mut self, _record: &StepRecord) {}
    /// An epoch finished: its training, validation and the schedule's decision.
    fn epoch_end(&mut self, _record: &EpochRecord) {}
}

/// Progress that shows nothing.
pub struct Quiet;

impl TrainProgress for Quiet {}

/// Feeds a [`TrainProgress`] from a run, and another observer (a trace) beside it.
pub struct Observers<'a, B: TrainBackend> {
    /// The user interface.
    pub progress: &'a mut dyn TrainProgress,
    /// Another observer, if any.
    pub other: Option<&'a mut dyn TrainObserver<B>>,
}

impl<B: TrainBackend> TrainObserver<B> for Observers<'_, B> {
    fn epoch_start(&mut self, epoch: usize, batches: usize) -> Result<()> {
        self.progress.epoch_start(epoch, batches);
        match &mut self.other {
            Some(o) => o.epoch_start(epoch, batches),
            None => Ok(()),
        }
    }

    fn step(&mut self, record: &StepRecord, model: &DualEncoding<B>) -> Result<()> {
        self.progress.step(record);
        match &mut self.other {
            Some(o) => o.step(record, model),
            None => Ok(()),
        }
    }

    fn epoch(&mut self, record: &EpochRecord, model: &DualEncoding<B>) -> Result<()> {
        self.progress.epoch_end(record);
        match &mut self.other {
            Some(o) => o.epoch(record, model),
            None => Ok(()),
        }
    }
}

/// How to run: where, whether to resume, and hooks.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run folder.
    pub out_dir: PathBuf,
    /// Continue from the run folder's latest checkpoint.
    pub resume: bool,
    /// Stop (as if killed) after this many training batches of this call; for tests of
    /// interruption and resumption.
    pub stop_after_batches: Option<usize>,
}

/// The outcome of a finished run.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Every epoch, including those of earlier (resumed) sessions.
    pub history: Vec<EpochRecord>,
    /// 1-based best epoch.
    pub best_epoch: Option<usize>,
    /// Best validation score.
    pub best_score: f64,
    /// Training stopped because validation stopped improving.
    pub stopped_early: bool,
    /// The best model's folder.
    pub model_best: PathBuf,
}

/// The mutable state of a run between epochs.
struct Session<B: TrainBackend> {
    model: DualEncoding<B>,
    adam: Optimizer<B::InnerBackend>,
    state: TrainerState,
    batches_run: usize,
}

/// Trains (or resumes) a run and returns its summary.
pub fn train<B, V>(
    config: &TrainConfig,
    inputs: &TrainInputs,
    validator: &mut V,
    options: &RunOptions,
    device: &B::Device,
) -> Result<TrainSummary>
where
    B: TrainBackend,
    V: Validator<B::InnerBackend>,
{
    train_observed::<B, V>(config, inputs, validator, options, device, &mut NoObserver)
}

/// [`train`], with `observer` called after every step and epoch.
pub fn train_observed<B, V>(
    config: &TrainConfig,
    inputs: &TrainInputs,
    validator: &mut V,
    options: &RunOptions,
    device: &B::Device,
    observer: &mut dyn TrainObserver<B>,
) -> Result<TrainSummary>
where
    B: TrainBackend,
    V: Validator<B::InnerBackend>,
{
    config.validate()?;
    check_training_data(&inputs.train)?;
    let run_config = run_config(config, inputs);
    let mut session = start::<B>(config, inputs, options, device)?;
    checkpoint::write_json(&options.out_dir.join(TRAIN_CONFIG_FILE), &run_config)?;
    while let Some(epoch) = session.state.schedule.next_epoch() {
        let (steps, mean_loss, train_s) = {
            let _precision = config.precision.scope();
            let epoch = EpochInputs {
                data: &inputs.train,
                order: &inputs.order,
                epoch,
            };
            train_epoch(&mut session, config, &epoch, options, device, observer)?
        };
        let clock = Instant::now();
        let val = validator.validate(&session.model.valid())?;
        let val_s = clock.elapsed().as_secs_f64();
        let score = config.val_metric.score(&val, config.loss.direction);
        let outcome = session.state.schedule.record(score);
        let record = EpochRecord {
            outcome,
            steps,
            mean_loss,
            val,
            train_s,
            val_s,
        };
        tracing::info!("{}", epoch_line(&record, config.schedule.num_epochs));
        observer.epoch(&record, &session.model)?;
        session.state.history.push(record);
        save_epoch(&session, &run_config, inputs, options)?;
    }
    let schedule = &session.state.schedule;
    write_best(&options.out_dir, schedule.best_score())?;
    Ok(TrainSummary {
        history: session.state.history.clone(),
        best_epoch: schedule.best_epoch(),
        best_score: schedule.best_score(),
        stopped_early: schedule.stopped_early(),
        model_best: options.out_dir.join(MODEL_BEST_DIR),
    })
}

/// The models' `config.json`: network, loss, optimiser, plus the trainer's options and the
/// caller's facts under `extra`.
fn run_config(config: &TrainConfig, inputs: &TrainInputs) -> RunConfig {
    let mut extra = inputs.extra.clone();
    extra.insert(
        "trainer".into(),
        serde_json::to_value(config).unwrap_or_default(),
    );
    RunConfig {
        model: config.model.clone(),
        loss: config.loss.clone(),
        optim: config.optim.clone(),
        extra,
    }
}

/// A fresh session, or the one saved in the run folder's latest checkpoint.
fn start<B: TrainBackend>(
    config: &TrainConfig,
    inputs: &TrainInputs,
    options: &RunOptions,
    device: &B::Device,
) -> Result<Session<B>> {
    let latest = checkpoint::latest(&options.out_dir)?;
    match (options.resume, latest) {
        (true, Some(dir)) => resume_session(config, &dir, device),
        (true, None) => Err(TrainError::Config(format!(
            "--resume: {} holds no checkpoint to resume from",
            options.out_dir.display()
        ))),
        (false, Some(dir)) => Err(TrainError::Config(format!(
            "{} already holds a training run (checkpoint {}); resume it or remove it first",
            options.out_dir.display(),
            dir.display()
        ))),
        (false, None) => fresh_session(config, inputs, device),
    }
}

fn fresh_session<B: TrainBackend>(
    config: &TrainConfig,
    inputs: &TrainInputs,
    device: &B::Device,
) -> Result<Session<B>> {
    let model = match &inputs.initial_weights {
        Some(tensors) => {
            DualEncoding::<B>::from_named_tensors(config.model.clone(), tensors.clone(), device)
                .map_err(|e| {
                    TrainError::Config(format!("the initial weights do not fit the network: {e}"))
                })?
        }
        None => DualEncoding::<B>::init(
            config.model.clone(),
            config.seed,
            inputs.word_vectors.as_deref(),
            device,
        )?,
    };
    let mut optim = config.optim.clone();
    optim.learning_rate = config.schedule.learning_rate;
    Ok(Session {
        model,
        adam: Optimizer::new(optim),
        state: TrainerState {
            format_version: CHECKPOINT_VERSION,
            config: config.clone(),
            schedule: Schedule::new(config.schedule.clone()),
            eiters: 0,
            adam_steps: Default::default(),
            history: Vec::new(),
        },
        batches_run: 0,
    })
}

fn resume_session<B: TrainBackend>(
    config: &TrainConfig,
    dir: &Path,
    device: &B::Device,
) -> Result<Session<B>> {
    let saved = checkpoint::load::<B>(dir, device)?;
    let differences = saved.state.config.differences(config);
    if !differences.is_empty() {
        return Err(TrainError::Config(format!(
            "--resume: the options differ from those of the checkpoint {}: {}",
            dir.display(),
            differences.join(", ")
        )));
    }
    let mut state = saved.state;
    state.config.schedule.num_epochs = config.schedule.num_epochs;
    state.schedule.set_num_epochs(config.schedule.num_epochs);
    tracing::info!(
        "resuming {} after epoch {} (lr {:e}, best {:.3})",
        dir.display(),
        state.schedule.epochs_done(),
        state.schedule.learning_rate(),
        state.schedule.best_score()
    );
    Ok(Session {
        model: saved.model,
        adam: saved.adam,
        state,
        batches_run: 0,
    })
}

/// Seed of the backend's random stream (dropout) for `epoch`.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (epoch as u64).wrapping_add(1)
}

/// What one epoch trains on.
struct EpochInputs<'a> {
    data: &'a Arc<PairData>,
    order: &'a SampleOrder,
    epoch: usize,
}

/// One epoch of training; returns (steps, mean loss over the samples, seconds).
fn train_epoch<B: TrainBackend>(
    session: &mut Session<B>,
    config: &TrainConfig,
    inputs: &EpochInputs<'_>,
    options: &RunOptions,
    device: &B::Device,
    observer: &mut dyn TrainObserver<B>,
) -> Result<(usize, f64, f64)> {
    let (data, epoch) = (inputs.data, inputs.epoch);
    B::seed(device, epoch_seed(config.seed, epoch));
    let lr = session.state.schedule.learning_rate();
    session.adam.set_learning_rate(lr);
    let order = inputs
        .order
        .epoch(data.captions.len(), config.seed, epoch)?;
    let ranges = batch_ranges(order.len(), config.batch_size);
    let loader = BatchLoader::spawn(
        Arc::clone(data),
        order.clone(),
        config.batch_size,
        config.model.video_max_len,
        config.prefetch,
    );
    observer.epoch_start(epoch, loader.batches())?;
    let clock = Instant::now();
    let (mut steps, mut loss) = (0usize, EpochLoss::default());
    for batch in loader {
        if options.stop_after_batches == Some(session.batches_run) {
            return Err(TrainError::Interrupted {
                epoch,
                batches: steps,
            });
        }
        let batch = batch?;
        let model = session.model.clone();
        let (model, report) = train_step(model, &mut session.adam, &batch, &config.loss)?;
        let samples = ranges.get(steps).map_or(&[][..], |r| &order[r.clone()]);
        check_finite_step(&report, (epoch, steps), data, samples)?;
        session.model = model;
        session.state.eiters += 1;
        session.batches_run += 1;
        let record = StepRecord {
            epoch,
            step: steps,
            iteration: session.state.eiters,
            lr,
            loss: report.loss,
            total_norm: report.total_norm,
            batch_size: batch.perm.len(),
        };
        observer.step(&record, &session.model)?;
        steps += 1;
        loss.add(report.loss, record.batch_size);
    }
    Ok((steps, loss.mean(), clock.elapsed().as_secs_f64()))
}

/// Refuses a step whose loss or gradient norm is not finite, naming the batch.
fn check_finite_step(
    report: &StepReport,
    (epoch, step): (usize, usize),
    data: &PairData,
    samples: &[usize],
) -> Result<()> {
    let bad = [("loss", report.loss), ("gradient norm", report.total_norm)]
        .into_iter()
        .find(|(_, v)| !v.is_finite());
    let Some((what, value)) = bad else {
        return Ok(());
    };
    let mut captions: Vec<&str> = samples
        .iter()
        .take(4)
        .filter_map(|&i| data.captions.ids.get(i).map(String::as_str))
        .collect();
    if samples.len() > captions.len() {
        captions.push("...");
    }
    Err(TrainError::NonFinite {
        epoch: epoch + 1,
        batch: step + 1,
        what,
        value,
        captions: captions.join(", "),
    })
}

/// The epoch's loss as the original reports it: the mean over samples, each batch's loss
/// weighted by its size (`AverageMeter.update(loss, batch_size)`; the original divides by
/// `count + 1e-4`, a difference below 1e-7 relative that is left out here).
#[derive(Debug, Default, Clone, Copy)]
struct EpochLoss {
    weighted_sum: f64,
    samples: usize,
}

impl EpochLoss {
    fn add(&mut self, loss: f32, batch_size: usize) {
        self.weighted_sum += f64::from(loss) * batch_size as f64;
        self.samples += batch_size;
    }

    fn mean(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.weighted_sum / self.samples as f64
        }
    }
}

/// Saves the best model (when this epoch is the best), the checkpoint and the logs.
fn save_epoch<B: TrainBackend>(
    session: &Session<B>,
    run_config: &RunConfig,
    inputs: &TrainInputs,
    options: &RunOptions,
) -> Result<()> {
    let out = &options.out_dir;
    let Some(record) = session.state.history.last() else {
        return Ok(());
    };
    let vocab: Vec<(&str, &[u8])> = inputs
        .vocab_files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    if record.outcome.is_best {
        let mut meta = ModelMeta::new(record.outcome.epoch + 1, Some(record.outcome.score));
        meta.extra
            .insert("eiters".into(), session.state.eiters.into());
        save_model_dir(
            &out.join(MODEL_BEST_DIR),
            &session.model,
            run_config,
            &meta,
            &vocab,
        )?;
    }
    let save = SaveInputs {
        model: &session.model,
        run_config,
        vocab_files: &inputs.vocab_files,
    };
    checkpoint::save(out, &save, &session.adam, &session.state)?;
    write_logs(out, &session.state.history)
}

/// The one-line summary of an epoch printed and logged after its validation.
pub fn epoch_line(record: &EpochRecord, num_epochs: usize) -> String {
    let o = &record.outcome;
    let v = &record.val;
    format!(
        "epoch {}/{}: lr {:.3e} loss {:.4} | val t2v R@1/5/10 {:.1}/{:.1}/{:.1} v2t {:.1}/{:.1}/{:.1} score {:.3}{}{}{} | {:.1}s train {:.2}s val",
        o.epoch + 1,
        num_epochs,
        o.lr,
        record.mean_loss,
        v.t2v.r1,
        v.t2v.r5,
        v.t2v.r10,
        v.v2t.r1,
        v.v2t.r5,
        v.v2t.r10,
        o.score,
        if o.is_best { " (best)" } else { "" },
        if o.halved { ", lr halved" } else { "" },
        if o.early_stop { ", early stop" } else { "" },
        record.train_s,
        record.val_s,
    )
}

//! `dualenc all` (the original's `do_all.sh` / `do_all_own_data.sh`): the training
//! collection's vocabularies, the frame info of the three collections, training and the test,
//! each step skipped when its output exists (so that an interrupted run continues where it
//! stopped; training resumes from its last checkpoint).

use std::path::Path;

use dualenc_data::{write_frame_info, Collection, FrameInfo};
use dualenc_infer::tester::TestReport;
use dualenc_text::{build_vocabularies, VocabBuild};

use crate::data::vocab_path;
use crate::error::{Result, TrainError};
use crate::history::VAL_BEST_FILE;
use crate::pipeline::{run_test, run_training, TrainRequest, TrainTask};
use crate::trainer::{TrainProgress, TrainSummary, MODEL_BEST_DIR};
use dualenc_model::TrainBackend;

/// What `all` runs.
#[derive(Debug, Clone)]
pub struct AllRequest {
    /// The training run (its vocabulary is `word_vocab_THRESHOLD`; `options.resume` is
    /// decided from the run folder).
    pub train: TrainRequest,
    /// The test collection.
    pub test: String,
    /// The vocabulary's count threshold.
    pub threshold: u64,
    /// Redo every step (the run folder is removed first).
    pub overwrite: bool,
}

/// A step of `all`, as it happens.
#[derive(Debug)]
pub enum AllStep<'a> {
    /// The vocabularies exist and are kept.
    VocabKept {
        /// The training collection.
        collection: &'a str,
        /// The vocabulary name.
        name: &'a str,
    },
    /// The vocabularies were built.
    VocabBuilt(&'a VocabBuild),
    /// A collection's frame info exists and is kept.
    FrameInfoKept(&'a str),
    /// A collection's frame info was written.
    FrameInfoWritten(&'a str, &'a FrameInfo),
    /// The run finished before; its best model is tested again.
    TrainedBefore(&'a Path),
    /// Training starts (or resumes) in this folder.
    Training {
        /// Whether a checkpoint is resumed.
        resume: bool,
        /// The run folder.
        out: &'a Path,
    },
    /// Training finished.
    Trained(&'a TrainSummary),
}

/// Runs every step of `request` on `device`; `steps` hears of each, `progress` follows the
/// training; returns the test of the best model.
pub fn run_all<B: TrainBackend>(
    request: &AllRequest,
    device: &B::Device,
    progress: &mut dyn TrainProgress,
    steps: &mut dyn FnMut(AllStep<'_>),
) -> Result<TestReport> {
    let spec = &request.train.data;
    let out = request.train.options.out_dir.clone();
    if request.overwrite && out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| TrainError::io(&out, e))?;
    }
    vocab_step(request, steps)?;
    for name in [&spec.train, &spec.val, &request.test] {
        frame_info_step(&Collection::new(&spec.rootpath, name), request, steps)?;
    }
    let model_best = out.join(MODEL_BEST_DIR);
    if out.join(VAL_BEST_FILE).is_file() {
        steps(AllStep::TrainedBefore(&model_best));
    } else {
        let mut train = request.train.clone();
        train.options.resume = crate::checkpoint::latest(&out)?.is_some();
        steps(AllStep::Training {
            resume: train.options.resume,
            out: &out,
        });
        let summary = run_training::<B>(&train, device, progress)?;
        steps(AllStep::Trained(&summary));
    }
    run_test::<B::InnerBackend>(
        &model_best,
        &spec.rootpath,
        &request.test,
        request.train.n_caption,
        device,
    )
}

fn vocab_step(request: &AllRequest, steps: &mut dyn FnMut(AllStep<'_>)) -> Result<()> {
    let spec = &request.train.data;
    let have = ["bow", "rnn"]
        .iter()
        .all(|style| vocab_path(&spec.rootpath, &spec.train, style, &spec.vocab).is_ok());
    if have && !request.overwrite {
        steps(AllStep::VocabKept {
            collection: &spec.train,
            name: &spec.vocab,
        });
        return Ok(());
    }
    let collection = Collection::new(&spec.rootpath, &spec.train);
    let built = build_vocabularies(&collection, request.threshold, &mut |_, _| {})
        .map_err(|e| TrainError::Data(format!("vocabulary of {}: {e}", spec.train)))?;
    steps(AllStep::VocabBuilt(&built));
    Ok(())
}

fn frame_info_step(
    collection: &Collection,
    request: &AllRequest,
    steps: &mut dyn FnMut(AllStep<'_>),
) -> Result<()> {
    let feature = &request.train.data.feature;
    let exists = collection.video2frames_path(feature).is_file()
        || collection.video2frames_json_path(feature).is_file();
    if exists && !request.overwrite {
        steps(AllStep::FrameInfoKept(&collection.name));
        return Ok(());
    }
    let info = write_frame_info(collection, feature)
        .map_err(|e| TrainError::Data(format!("frame info of {}: {e}", collection.name)))?;
    steps(AllStep::FrameInfoWritten(&collection.name, &info));
    Ok(())
}

/// [`run_all`] as a task for [`crate::pipeline::train_on`].
pub struct AllTask<'a> {
    /// What to run.
    pub request: &'a AllRequest,
    /// Follows the training.
    pub progress: &'a mut dyn TrainProgress,
    /// Hears of each step.
    pub steps: &'a mut dyn FnMut(AllStep<'_>),
}

impl TrainTask for AllTask<'_> {
    type Output = TestReport;

    fn run<B: TrainBackend>(self, device: B::Device) -> Result<TestReport> {
        run_all::<B>(self.request, &device, self.progress, self.steps)
    }
}

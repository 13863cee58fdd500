//! `dualenc demo`: a synthetic collection, a small network trained on it, its test and a few
//! free-text searches, with no data to download. The sizes are presets of the training
//! options (the reference's synthetic collection and small network, or a tiny one for a
//! seconds-long smoke run); everything else is the paper's defaults.

use std::path::{Path, PathBuf};

use dualenc_data::Collection;
use dualenc_index::Hit;
use dualenc_infer::tester::TestReport;
use dualenc_infer::EncodeOptions;
use dualenc_model::{ModelConfig, Precision};
use dualenc_search::{index_collection, Engine, IndexPlan};
use dualenc_synth::{generate, FrameRange, SplitSizes, SynthConfig, SynthLabels, SynthSummary};
use dualenc_text::{build_vocabularies, VocabBuild};

use crate::data::DataSpec;
use crate::error::{Result, TrainError};
use crate::pipeline::{run_test, run_training, TrainRequest, TrainTask};
use crate::schedule::ScheduleConfig;
use crate::trainer::{RunOptions, TrainProgress, TrainSummary};
use crate::TrainConfig;
use dualenc_model::TrainBackend;

/// Collection name prefix of the demo.
pub const PREFIX: &str = "demo";
/// Feature name of the demo's frames.
pub const FEATURE: &str = "synfeat";
/// Results shown per example search.
pub const TOP: usize = 3;

/// What the demo runs: its folder and the presets.
#[derive(Debug, Clone)]
pub struct Demo {
    /// Folder for the collections (`VisualSearch/`), the run (`run/`) and the index
    /// (`index/`).
    pub dir: PathBuf,
    /// The synthetic collection.
    pub synth: SynthConfig,
    /// The training options.
    pub config: TrainConfig,
    /// The vocabulary's count threshold.
    pub threshold: u64,
}

impl Demo {
    /// The standard demo: the reference's synthetic collection (the generator's defaults:
    /// 600/100/200 videos of 6-24 64-d frames, 5 captions each) and the small network of the
    /// reference runs.
    pub fn standard(dir: PathBuf, seed: u64, epochs: usize, precision: Precision) -> Self {
        let synth = SynthConfig {
            prefix: PREFIX.into(),
            feature: FEATURE.into(),
            seed,
            avs: 6,
            overwrite: true,
            ..SynthConfig::default()
        };
        let model = ModelConfig {
            word_dim: 32,
            text_rnn_size: 64,
            visual_rnn_size: 64,
            text_kernel_num: 32,
            visual_kernel_num: 32,
            text_mapping_layers: vec![0, 256],
            visual_mapping_layers: vec![0, 256],
            ..ModelConfig::default()
        };
        Self::with(dir, synth, model, (seed, epochs, precision), (128, 5))
    }

    /// A tiny collection and network that train in seconds (tests, smoke runs).
    pub fn quick(dir: PathBuf, seed: u64, epochs: usize, precision: Precision) -> Self {
        let mut demo = Self::standard(dir, seed, epochs, precision);
        demo.synth.videos = SplitSizes {
            train: 40,
            val: 10,
            test: 20,
        };
        demo.synth.n_caption = 2;
        demo.synth.dim = 16;
        demo.synth.frames = FrameRange { min: 3, max: 8 };
        demo.synth.avs = 3;
        let model = ModelConfig {
            word_dim: 8,
            text_rnn_size: 8,
            visual_rnn_size: 8,
            text_kernel_num: 4,
            visual_kernel_num: 4,
            text_mapping_layers: vec![0, 32],
            visual_mapping_layers: vec![0, 32],
            ..ModelConfig::default()
        };
        Self::with(
            demo.dir,
            demo.synth,
            model,
            (seed, epochs, precision),
            (16, 1),
        )
    }

    fn with(
        dir: PathBuf,
        synth: SynthConfig,
        model: ModelConfig,
        (seed, epochs, precision): (u64, usize, Precision),
        (batch_size, threshold): (usize, u64),
    ) -> Self {
        let config = TrainConfig {
            model,
            schedule: ScheduleConfig {
                num_epochs: epochs,
                ..ScheduleConfig::default()
            },
            batch_size,
            seed,
            precision,
            ..TrainConfig::default()
        };
        Self {
            dir,
            synth,
            config,
            threshold,
        }
    }

    /// The VisualSearch root of the demo's collections.
    pub fn root(&self) -> PathBuf {
        self.dir.join("VisualSearch")
    }

    fn collection(&self, split: &str) -> String {
        format!("{}{split}", self.synth.prefix)
    }

    /// The training request of the demo (the run folder is `DIR/run`).
    pub fn train_request(&self) -> TrainRequest {
        TrainRequest {
            data: DataSpec {
                rootpath: self.root(),
                train: self.collection("train"),
                val: self.collection("val"),
                feature: self.synth.feature.clone(),
                vocab: format!("word_vocab_{}", self.threshold),
            },
            n_caption: Some(self.synth.n_caption),
            config: self.config.clone(),
            word2vec: None,
            extra: serde_json::Map::new(),
            options: RunOptions {
                out_dir: self.dir.join("run"),
                resume: false,
                stop_after_batches: None,
            },
            initial_weights: None,
            sample_order: None,
            trace: None,
        }
    }
}

/// One example search: the query and the best videos with what they really show.
#[derive(Debug, Clone)]
pub struct DemoSearch {
    /// The query (an AVS topic of the synthetic test collection).
    pub query: String,
    /// The best videos, each with the concepts it shows.
    pub hits: Vec<(Hit, String)>,
}

/// A step of the demo, as it happens.
#[derive(Debug)]
pub enum DemoStep<'a> {
    /// The collections were generated.
    Data(&'a SynthSummary),
    /// The vocabularies were built.
    Vocab(&'a VocabBuild),
    /// Training finished.
    Trained(&'a TrainSummary),
    /// The best model was tested.
    Tested(&'a str, &'a TestReport),
    /// The test collection was indexed and searched.
    Searched(&'a str, &'a [DemoSearch]),
}

/// Generates the data, trains, tests and searches; `steps` hears of each step as it ends,
/// `progress` follows the training.
pub fn run_demo<B: TrainBackend>(
    demo: &Demo,
    device: &B::Device,
    progress: &mut dyn TrainProgress,
    steps: &mut dyn FnMut(DemoStep<'_>),
) -> Result<()> {
    let root = demo.root();
    let data = generate(&root, &demo.synth)
        .map_err(|e| TrainError::Data(format!("generating the synthetic collections: {e}")))?;
    steps(DemoStep::Data(&data));
    let train = Collection::new(&root, demo.collection("train"));
    let vocab = build_vocabularies(&train, demo.threshold, &mut |_, _| {})
        .map_err(|e| TrainError::Data(format!("vocabulary of {}: {e}", train.name)))?;
    steps(DemoStep::Vocab(&vocab));
    let request = demo.train_request();
    remove_dir(&request.options.out_dir)?;
    let trained = run_training::<B>(&request, device, progress)?;
    steps(DemoStep::Trained(&trained));
    let test = demo.collection("test");
    let n_caption = request.n_caption;
    let report = run_test::<B::InnerBackend>(&trained.model_best, &root, &test, n_caption, device)?;
    steps(DemoStep::Tested(&test, &report));
    let searches = search::<B>(demo, &trained.model_best, device)?;
    steps(DemoStep::Searched(&test, &searches));
    Ok(())
}

/// Indexes the test collection (`DIR/index`, searchable afterwards with `dualenc search` and
/// `dualenc serve`) and searches it for the first AVS topics of the synthetic collection.
fn search<B: TrainBackend>(
    demo: &Demo,
    model_best: &Path,
    device: &B::Device,
) -> Result<Vec<DemoSearch>> {
    let test = Collection::new(demo.root(), demo.collection("test"));
    let text_dir = test.dir().join("TextData");
    let topics = dualenc_data::captions::read_topics(text_dir.join("demo.avs.txt"))
        .map_err(|e| TrainError::Data(e.to_string()))?;
    let labels = SynthLabels::read(&text_dir.join("demo.labels.json"))
        .map_err(|e| TrainError::Data(e.to_string()))?;
    let queries: Vec<String> = topics.iter().take(4).map(|t| t.query.clone()).collect();
    if queries.is_empty() {
        return Err(TrainError::Data(
            "the synthetic test collection has no AVS topic to search for".into(),
        ));
    }
    let plan = IndexPlan {
        model: model_best.to_path_buf(),
        rootpath: demo.root(),
        collection: test.name.clone(),
        feature: None,
        out: demo.dir.join("index"),
        append: false,
        encode: EncodeOptions::default(),
        ann: false,
    };
    remove_dir(&plan.out)?;
    let search_err = |e: dualenc_search::Error| TrainError::Data(e.to_string());
    index_collection::<B::InnerBackend>(&plan, device, &|_| {}).map_err(search_err)?;
    let engine = Engine::<B::InnerBackend>::open(&plan.out, false, device).map_err(search_err)?;
    queries
        .iter()
        .zip(engine.search_many(&queries, TOP))
        .map(|(query, outcome)| {
            let outcome = outcome.map_err(|e| TrainError::Data(format!("query {query:?}: {e}")))?;
            let hits = outcome
                .results
                .into_iter()
                .map(|hit| {
                    let shows = labels.describe(&hit.id).unwrap_or_else(|| "?".into());
                    (hit, shows)
                })
                .collect();
            Ok(DemoSearch {
                query: query.clone(),
                hits,
            })
        })
        .collect()
}

fn remove_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    }
    Ok(())
}

/// [`run_demo`] as a task for [`crate::pipeline::train_on`].
pub struct DemoTask<'a> {
    /// What to run.
    pub demo: &'a Demo,
    /// Follows the training.
    pub progress: &'a mut dyn TrainProgress,
    /// Hears of each step.
    pub steps: &'a mut dyn FnMut(DemoStep<'_>),
}

impl TrainTask for DemoTask<'_> {
    type Output = ();

    fn run<B: TrainBackend>(self, device: B::Device) -> Result<()> {
        run_demo::<B>(self.demo, &device, self.progress, self.steps)
    }
}

//! Validation after each epoch, as the original's `validate` / `validate_split`.
//!
//! The evaluation of `dualenc test` (`dualenc_infer::tester::evaluate`): a collection with a
//! fixed number of captions per video (listed grouped by video) is encoded in caption-video
//! pair batches of 128 in caption-file order and scored with `t2i` / `i2t`; a collection
//! whose videos have varying caption counts (MSVD) is encoded videos alone and captions
//! alone and scored with the varied-count metrics, as the original does for `msvd*`.

use dualenc_dataset::PairData;
use dualenc_infer::tester::{caption_layout, evaluate, CaptionLayout};
use dualenc_infer::EncodeOptions;
use dualenc_model::triplet_loss::Measure;
use dualenc_model::DualEncoding;
use dualenc_model::ModelBackend;

use crate::error::{Result, TrainError};
use crate::history::ValScores;
use crate::trainer::Validator;

/// Validates on a collection held as pair data.
pub struct PairValidator {
    data: PairData,
    layout: CaptionLayout,
    batch_size: usize,
    measure: Measure,
}

impl PairValidator {
    /// Checks `data` against `n_caption` (`None`: detect the layout) and keeps it for the
    /// epochs to come; `batch_size` is the encoding batch (128 in the original), `measure`
    /// the similarity of the error matrix (the loss's, as in the original).
    pub fn new(
        data: PairData,
        n_caption: Option<usize>,
        batch_size: usize,
        measure: Measure,
    ) -> Result<Self> {
        let layout = caption_layout(&data, n_caption)
            .map_err(|e| TrainError::Data(format!("validation collection: {e}")))?;
        if batch_size == 0 {
            return Err(TrainError::Config(
                "validation batch size must be at least 1".into(),
            ));
        }
        Ok(Self {
            data,
            layout,
            batch_size,
            measure,
        })
    }

    /// The caption layout found.
    pub fn layout(&self) -> CaptionLayout {
        self.layout
    }
}

impl<B: ModelBackend> Validator<B> for PairValidator {
    fn validate(&mut self, model: &DualEncoding<B>) -> Result<ValScores> {
        let encode = EncodeOptions {
            batch_size: self.batch_size,
            ..EncodeOptions::default()
        };
        let evaluation = evaluate(
            model,
            &self.data,
            self.layout,
            (&encode, self.measure),
            &mut |_| {},
        )?;
        Ok(evaluation.metrics)
    }
}

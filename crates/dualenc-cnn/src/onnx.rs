//! Any image model saved as ONNX, run on the CPU by tract (pure Rust).
//!
//! The model's first input is set to `N x 3 x S x S` f32, with `N` a symbol so that one
//! optimised plan serves every batch, and `S` the side the user gives. A model that cannot
//! take a symbolic batch (a reshape to a constant batch of 1, say) is planned for batches of
//! one and run image by image. The first output is the feature: `N x D`, `N x D x 1 x 1`, or
//! any `N x ...`, flattened per image; `D` is learnt by running one blank image when the
//! model is opened, which also checks that it runs at all.

use std::path::{Path, PathBuf};

use dualenc_data::untrusted::read_regular_file;
use dualenc_video::{EncodeError, FrameEncoder};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::dims;

use crate::error::{CnnError, Result};

/// An optimised tract plan and the batch it takes.
#[derive(Debug, Clone)]
enum Plan {
    /// Any batch size (the input's batch dimension is a symbol).
    Batched(Arc<TypedRunnableModel>),
    /// Batches of exactly one image.
    Single(Arc<TypedRunnableModel>),
}

/// An ONNX image model behind [`FrameEncoder`].
#[derive(Debug, Clone)]
pub struct OnnxEncoder {
    plan: Plan,
    path: PathBuf,
    input_size: usize,
    dim: usize,
}

impl OnnxEncoder {
    /// Loads and optimises the ONNX model `path` for `input_size x input_size` RGB images and
    /// runs one blank image through it to learn the feature length. Errors name the file.
    pub fn open(path: &Path, input_size: usize) -> Result<Self> {
        Self::open_inner(path, input_size).map_err(|e| e.in_file(path))
    }

    fn open_inner(path: &Path, input_size: usize) -> Result<Self> {
        if input_size == 0 {
            return Err(CnnError::Input("the input size must be positive".into()));
        }
        let bytes = read_regular_file(path)?;
        let plan = plan(&bytes, input_size)?;
        let mut encoder = OnnxEncoder {
            plan,
            path: path.to_owned(),
            input_size,
            dim: 0,
        };
        let probe = encoder.run(&vec![0.0; 3 * input_size * input_size], 1)?;
        if probe.is_empty() {
            return Err(CnnError::Onnx("the first output is empty".into()));
        }
        encoder.dim = probe.len();
        Ok(encoder)
    }

    /// Whether one plan serves every batch size (else images run one at a time).
    pub fn batched(&self) -> bool {
        matches!(self.plan, Plan::Batched(_))
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Features of `n` images (`n x 3 x S x S`), `n x dim` values.
    pub fn features(&self, images: &[f32], n: usize) -> Result<Vec<f32>> {
        let s = self.input_size;
        if images.len() != n * 3 * s * s {
            return Err(CnnError::Input(format!(
                "{} values for {n} images of 3 x {s} x {s} (expected {})",
                images.len(),
                n * 3 * s * s
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let out = self.run(images, n)?;
        if out.len() != n * self.dim {
            return Err(CnnError::Onnx(format!(
                "the model gave {} values for {n} images, expected {n} x {}",
                out.len(),
                self.dim
            )));
        }
        Ok(out)
    }

    /// Runs the plan over `n` images, all at once or one by one.
    fn run(&self, images: &[f32], n: usize) -> Result<Vec<f32>> {
        match &self.plan {
            Plan::Batched(plan) => run_once(plan, images, n, self.input_size),
            Plan::Single(plan) => {
                let per_image = images.len() / n;
                let mut out = Vec::new();
                for image in images.chunks_exact(per_image) {
                    out.extend(run_once(plan, image, 1, self.input_size)?);
                }
                Ok(out)
            }
        }
    }
}

impl FrameEncoder for OnnxEncoder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn input_size(&self) -> usize {
        self.input_size
    }

    fn encode(&mut self, images: &[f32], n: usize) -> std::result::Result<Vec<f32>, EncodeError> {
        Ok(self.features(images, n)?)
    }
}

/// Parses the model and optimises it for a symbolic batch, or else for batches of one.
fn plan(bytes: &[u8], s: usize) -> Result<Plan> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(|e| CnnError::Onnx(format!("not a readable ONNX model: {e:#}")))?;
    let inputs = model
        .input_outlets()
        .map_err(|e| CnnError::Onnx(format!("{e:#}")))?
        .len();
    if inputs != 1 {
        return Err(CnnError::Onnx(format!(
            "the model has {inputs} inputs, expected one (the images)"
        )));
    }
    let batch = model.sym("N");
    match optimise(model.clone(), dims!(batch, 3, s, s)) {
        Ok(plan) => Ok(Plan::Batched(plan)),
        Err(batched) => {
            tracing::debug!("no plan for a symbolic batch ({batched:#}); one image at a time");
            optimise(model, dims!(1, 3, s, s))
                .map(Plan::Single)
                .map_err(|e| {
                    CnnError::Onnx(format!(
                        "the model does not take 3 x {s} x {s} f32 images: {e:#}"
                    ))
                })
        }
    }
}

/// Sets the input to `shape` f32 and optimises the model into a runnable plan.
fn optimise(model: InferenceModel, shape: ShapeFact) -> TractResult<Arc<TypedRunnableModel>> {
    model
        .with_input_fact(0, f32::fact(shape).into())?
        .into_optimized()?
        .into_runnable()
}

/// Runs `plan` on `n` images and returns its first output flattened.
fn run_once(
    plan: &Arc<TypedRunnableModel>,
    images: &[f32],
    n: usize,
    s: usize,
) -> Result<Vec<f32>> {
    let input =
        Tensor::from_shape(&[n, 3, s, s], images).map_err(|e| CnnError::Input(format!("{e:#}")))?;
    let outputs = plan
        .run(tvec!(input.into_tvalue()))
        .map_err(|e| CnnError::Onnx(format!("running the model: {e:#}")))?;
    let first: &TValue = outputs
        .first()
        .ok_or_else(|| CnnError::Onnx("the model has no output".into()))?;
    let values = first
        .cast_to::<f32>()
        .map_err(|e| CnnError::Onnx(format!("the first output is not numeric: {e:#}")))?;
    let slice = values
        .try_as_plain_ram()
        .and_then(|v| v.as_slice::<f32>().map(<[f32]>::to_vec))
        .map_err(|e| CnnError::Onnx(format!("reading the first output: {e:#}")))?;
    Ok(slice)
}

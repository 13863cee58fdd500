//! Named tensors: the bridge between the network and PyTorch-style state dicts.
//!
//! Every parameter and buffer has its original PyTorch name prefixed with `video.` or
//! `text.` (e.g. `video.rnn.weight_ih_l0`, `text.text_mapping.bn_1.running_mean`). Importing
//! an authors' checkpoint or writing `model.safetensors` is therefore a plain copy.

use std::collections::HashMap;

use burn::module::Param;
use burn::tensor::{backend::Backend, Tensor, TensorData};

use crate::error::{ModelError, Result};

/// One tensor in a state dict: `(name, shape, row-major f32 data)`.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Reads every trainable parameter of a module together with its PyTorch name.
pub trait ParamVisitor<B: Backend> {
    /// Called once per parameter, in the original optimiser's order within a module.
    fn visit<const D: usize>(&mut self, name: &str, param: &Param<Tensor<B, D>>);
}

/// Rewrites every trainable parameter of a module (used by the optimiser).
pub trait ParamMapper<B: Backend> {
    /// Returns the new value of the parameter `name`.
    fn map<const D: usize>(
        &mut self,
        name: &str,
        param: Param<Tensor<B, D>>,
    ) -> Param<Tensor<B, D>>;
}

/// Name, shape and initial distribution of one state-dict entry.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// Prefixed PyTorch name.
    pub name: String,
    /// Shape in PyTorch's layout.
    pub shape: Vec<usize>,
    /// How the original initialises it.
    pub init: Init,
}

/// Initial value of a tensor, as in the original implementation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Uniform on `[-bound, bound)`.
    Uniform(f64),
    /// Every entry equal to this value.
    Constant(f32),
}

impl TensorSpec {
    /// Number of elements of the tensor.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Validated named tensors from which the modules take their parameters by name.
pub(crate) struct TensorSource {
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl TensorSource {
    /// Checks `tensors` against `specs`: no duplicate, nothing missing, nothing extra, every
    /// shape equal and every data length equal to the shape's element count.
    pub(crate) fn new(tensors: Vec<NamedTensor>, specs: &[TensorSpec]) -> Result<Self> {
        let mut map = HashMap::with_capacity(tensors.len());
        for (name, shape, data) in tensors {
            if map.contains_key(&name) {
                return Err(ModelError::DuplicateTensor(name));
            }
            map.insert(name, (shape, data));
        }
        for spec in specs {
            let (shape, data) = map
                .get(&spec.name)
                .ok_or_else(|| ModelError::MissingTensor {
                    name: spec.name.clone(),
                    expected: spec.shape.clone(),
                })?;
            if *shape != spec.shape {
                return Err(ModelError::ShapeMismatch {
                    name: spec.name.clone(),
                    expected: spec.shape.clone(),
                    found: shape.clone(),
                });
            }
            if data.len() != spec.numel() {
                return Err(ModelError::ShapeMismatch {
                    name: spec.name.clone(),
                    expected: spec.shape.clone(),
                    found: vec![data.len()],
                });
            }
        }
        if let Some((name, (shape, _))) = map
            .iter()
            .filter(|(name, _)| !specs.iter().any(|s| &s.name == *name))
            .min_by(|a, b| a.0.cmp(b.0))
        {
            return Err(ModelError::UnexpectedTensor {
                name: name.clone(),
                shape: shape.clone(),
            });
        }
        Ok(Self { tensors: map })
    }

    /// Removes the tensor `name` and returns it as a backend tensor of rank `D`.
    pub(crate) fn tensor<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let (shape, data) = self
            .tensors
            .remove(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
                expected: Vec::new(),
            })?;
        if shape.len() != D {
            return Err(ModelError::ShapeMismatch {
                name: name.to_string(),
                expected: vec![0; D],
                found: shape,
            });
        }
        Ok(Tensor::from_data(TensorData::new(data, shape), device))
    }

    /// Removes the tensor `name` and wraps it as a trainable parameter.
    pub(crate) fn param<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        device: &B::Device,
    ) -> Result<Param<Tensor<B, D>>> {
        Ok(Param::from_tensor(self.tensor(name, device)?))
    }

    /// Removes the scalar `name` (a counter such as `num_batches_tracked`).
    pub(crate) fn counter(&mut self, name: &str) -> Result<i64> {
        let (_, data) = self
            .tensors
            .remove(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
                expected: Vec::new(),
            })?;
        Ok(data.first().copied().unwrap_or(0.0).round() as i64)
    }
}

/// Reads a backend tensor back into a host vector of `f32`.
pub fn tensor_to_vec<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| ModelError::Backend(format!("{e:?}")))
}

/// Builds the named tensor `name` from a backend tensor.
pub(crate) fn named_from_tensor<B: Backend, const D: usize>(
    name: String,
    tensor: Tensor<B, D>,
) -> Result<NamedTensor> {
    let shape = tensor.dims().to_vec();
    Ok((name, shape, tensor_to_vec(tensor)?))
}

/// Collects every parameter as a named tensor (the visitor behind `to_named_tensors`).
pub(crate) struct Collector {
    pub(crate) out: Vec<NamedTensor>,
    pub(crate) error: Option<ModelError>,
}

impl<B: Backend> ParamVisitor<B> for Collector {
    fn visit<const D: usize>(&mut self, name: &str, param: &Param<Tensor<B, D>>) {
        match named_from_tensor(name.to_string(), param.val()) {
            Ok(named) => self.out.push(named),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }
}

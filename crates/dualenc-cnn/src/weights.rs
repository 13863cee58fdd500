//! State dicts: named f32 tensors read from a `torch.save` file or a safetensors file, and
//! checked against a [`ResNetConfig`].
//!
//! Files are untrusted: they are read only when regular and never beyond their length, every
//! value must be finite, and every name and shape must be the architecture's (torchvision's
//! `fc.*` and BatchNorm's `num_batches_tracked` are accepted and dropped).

use std::collections::BTreeMap;
use std::path::Path;

use dualenc_data::untrusted::read_regular_file;
use dualenc_pickle::{TensorData, TorchFile, Value};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::config::{ResNetConfig, TensorSpec};
use crate::error::{CnnError, Result};

/// One tensor: its shape and its row-major f32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    /// The shape, PyTorch's layout.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f32>,
}

/// Named tensors of a network, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    tensors: BTreeMap<String, Weight>,
}

impl StateDict {
    /// Builds a state dict from named tensors, refusing a repeated name, a data length that
    /// is not the shape's element count, and non-finite values.
    pub fn from_tensors(tensors: impl IntoIterator<Item = (String, Weight)>) -> Result<Self> {
        let mut map = BTreeMap::new();
        for (name, weight) in tensors {
            check_weight(&name, &weight)?;
            if map.insert(name.clone(), weight).is_some() {
                return Err(CnnError::DuplicateTensor(name));
            }
        }
        Ok(StateDict { tensors: map })
    }

    /// Reads a state dict from `path`: a safetensors file (by its `.safetensors` extension)
    /// or a `torch.save` file (zip or legacy) holding a state dict, directly or under a
    /// `state_dict` or `model` key; a `module.` prefix on every name (`DataParallel`) is
    /// removed. Errors name the file.
    pub fn open(path: &Path) -> Result<Self> {
        let is_safetensors = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
        if is_safetensors {
            let bytes = read_regular_file(path).map_err(|e| CnnError::Io(e).in_file(path))?;
            Self::from_safetensors(&bytes).map_err(|e| e.in_file(path))
        } else {
            // Torch errors already name the file.
            let file = TorchFile::open(path)?;
            Self::from_torch(&file).map_err(|e| match e {
                e @ CnnError::Torch(_) => e,
                e => e.in_file(path),
            })
        }
    }

    /// Reads the state dict saved in a `torch.save` file.
    pub fn from_torch(file: &TorchFile) -> Result<Self> {
        let root = state_dict_value(&file.root)?;
        let tensors = file.state_dict(root)?;
        let named = tensors
            .into_iter()
            .filter(|(name, _)| !is_ignored(name))
            .map(|(name, t)| {
                let data = float_data(&name, t.data, &format!("{:?}", t.dtype))?;
                Ok((
                    name,
                    Weight {
                        shape: t.shape,
                        data,
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_tensors(strip_module_prefix(named))
    }

    /// Reads the tensors of a safetensors file (f32, f64, f16 or bf16).
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| CnnError::Safetensors(e.to_string()))?;
        let named = st
            .tensors()
            .into_iter()
            .filter(|(name, _)| !is_ignored(name))
            .map(|(name, view)| {
                let data = safetensors_f32(&name, &view)?;
                let shape = view.shape().to_vec();
                Ok((name, Weight { shape, data }))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_tensors(strip_module_prefix(named))
    }

    /// Writes the tensors as a safetensors file's bytes (f32), in name order.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let views = self
            .tensors
            .iter()
            .map(|(name, w)| {
                let bytes: Vec<u8> = w.data.iter().flat_map(|x| x.to_le_bytes()).collect();
                (name.clone(), w.shape.clone(), bytes)
            })
            .collect::<Vec<_>>();
        let views = views
            .iter()
            .map(|(name, shape, bytes)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| CnnError::Safetensors(e.to_string()))?;
        safetensors::serialize(views, None).map_err(|e| CnnError::Safetensors(e.to_string()))
    }

    /// Random weights for `config`, as torchvision initialises a ResNet (convolutions
    /// Kaiming-normal with fan-out, BatchNorm weight 1, bias 0, running mean 0, running
    /// variance 1), drawn from a seeded generator: for timing and tests.
    pub fn random(config: &ResNetConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let tensors = config
            .specs()
            .into_iter()
            .map(|TensorSpec { name, shape }| {
                let n: usize = shape.iter().product();
                let data = if name.ends_with("running_var") || is_bn_weight(&name) {
                    vec![1.0; n]
                } else if shape.len() == 4 {
                    let fan_out = (shape[0] * shape[2] * shape[3]) as f32;
                    let normal = Normal::new(0.0, (2.0 / fan_out).sqrt()).expect("positive std");
                    (0..n).map(|_| normal.sample(&mut rng)).collect()
                } else {
                    vec![0.0; n]
                };
                (name, Weight { shape, data })
            });
        StateDict {
            tensors: tensors.collect(),
        }
    }

    /// The tensor `name`.
    pub fn get(&self, name: &str) -> Option<&Weight> {
        self.tensors.get(name)
    }

    /// Replaces or adds a tensor (checked like [`StateDict::from_tensors`]).
    pub fn insert(&mut self, name: impl Into<String>, weight: Weight) -> Result<()> {
        let name = name.into();
        check_weight(&name, &weight)?;
        self.tensors.insert(name, weight);
        Ok(())
    }

    /// Removes the tensor `name`, returning it.
    pub fn remove(&mut self, name: &str) -> Option<Weight> {
        self.tensors.remove(name)
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there is no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Every name with its shape.
    pub fn shapes(&self) -> BTreeMap<String, Vec<usize>> {
        self.tensors
            .iter()
            .map(|(n, w)| (n.clone(), w.shape.clone()))
            .collect()
    }

    /// Checks the tensors against `config`: nothing missing, nothing unexpected, every shape
    /// equal, no negative running variance. Errors name the tensors.
    pub fn check(&self, config: &ResNetConfig) -> Result<()> {
        let specs = config.specs();
        let missing: Vec<String> = specs
            .iter()
            .filter(|s| !self.tensors.contains_key(&s.name))
            .map(|s| s.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(CnnError::MissingTensors(missing));
        }
        let known: std::collections::HashSet<&str> =
            specs.iter().map(|s| s.name.as_str()).collect();
        let unexpected: Vec<String> = self
            .tensors
            .keys()
            .filter(|n| !known.contains(n.as_str()))
            .cloned()
            .collect();
        if !unexpected.is_empty() {
            return Err(CnnError::UnexpectedTensors(unexpected));
        }
        for spec in &specs {
            let found = &self.tensors[&spec.name].shape;
            if *found != spec.shape {
                return Err(CnnError::ShapeMismatch {
                    name: spec.name.clone(),
                    expected: spec.shape.clone(),
                    found: found.clone(),
                });
            }
        }
        self.check_variances()
    }

    /// Refuses a negative BatchNorm running variance (its square root would be NaN).
    fn check_variances(&self) -> Result<()> {
        let variances = self
            .tensors
            .iter()
            .filter(|(name, _)| name.ends_with(".running_var"));
        for (name, w) in variances {
            if let Some(index) = w.data.iter().position(|&v| v < 0.0) {
                return Err(CnnError::NegativeVariance {
                    name: name.clone(),
                    index,
                    value: w.data[index],
                });
            }
        }
        Ok(())
    }
}

/// Whether a tensor is dropped on reading: the classifier and BatchNorm's batch counters.
fn is_ignored(name: &str) -> bool {
    let name = name.strip_prefix("module.").unwrap_or(name);
    name.starts_with("fc.") || name.ends_with(".num_batches_tracked")
}

/// Whether `name` is a BatchNorm scale (`bn1.weight`, `layer1.0.downsample.1.weight`).
fn is_bn_weight(name: &str) -> bool {
    name.ends_with(".weight") && (name.contains("bn") || name.contains("downsample.1"))
}

/// The state dict inside a saved object: the object itself, or its `state_dict` or `model`
/// entry when it is a checkpoint dict.
fn state_dict_value(root: &Value) -> Result<&Value> {
    if root.as_dict().is_none() {
        return Err(CnnError::NotStateDict(format!(
            "the saved object is a {}, expected a dict of tensors",
            root.type_name()
        )));
    }
    for key in ["state_dict", "model"] {
        if let Some(inner) = root.get(key).filter(|v| v.as_dict().is_some()) {
            return Ok(inner);
        }
    }
    Ok(root)
}

/// Removes a `module.` prefix when every name has it (a `DataParallel` state dict).
fn strip_module_prefix(named: Vec<(String, Weight)>) -> Vec<(String, Weight)> {
    if named.is_empty() || !named.iter().all(|(n, _)| n.starts_with("module.")) {
        return named;
    }
    named
        .into_iter()
        .map(|(n, w)| (n["module.".len()..].to_owned(), w))
        .collect()
}

/// A loaded torch tensor as f32, refusing integer and boolean tensors and f64 values beyond
/// the f32 range.
fn float_data(name: &str, data: TensorData, dtype: &str) -> Result<Vec<f32>> {
    match data {
        TensorData::F32(v) => Ok(v),
        TensorData::F64(v) => f64_to_f32(name, &v),
        _ => Err(CnnError::NotFloat {
            name: name.to_owned(),
            dtype: dtype.to_owned(),
        }),
    }
}

/// f64 values narrowed to f32; a finite value that overflows is refused.
fn f64_to_f32(name: &str, values: &[f64]) -> Result<Vec<f32>> {
    values
        .iter()
        .enumerate()
        .map(|(index, &x)| {
            let y = x as f32;
            if x.is_finite() && !y.is_finite() {
                Err(CnnError::NonFinite {
                    name: name.to_owned(),
                    index,
                    value: x,
                })
            } else {
                Ok(y)
            }
        })
        .collect()
}

/// A safetensors tensor's values as f32.
fn safetensors_f32(name: &str, view: &safetensors::tensor::TensorView<'_>) -> Result<Vec<f32>> {
    use safetensors::Dtype;
    let bytes = view.data();
    match view.dtype() {
        Dtype::F32 => Ok(le_words::<4>(bytes).map(f32::from_le_bytes).collect()),
        Dtype::F64 => f64_to_f32(
            name,
            &le_words::<8>(bytes)
                .map(f64::from_le_bytes)
                .collect::<Vec<_>>(),
        ),
        Dtype::F16 => Ok(le_words::<2>(bytes)
            .map(|b| f16_to_f32(u16::from_le_bytes(b)))
            .collect()),
        Dtype::BF16 => Ok(le_words::<2>(bytes)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes(b)) << 16))
            .collect()),
        other => Err(CnnError::NotFloat {
            name: name.to_owned(),
            dtype: format!("{other:?}"),
        }),
    }
}

/// `bytes` in little-endian words of `N` bytes.
fn le_words<const N: usize>(bytes: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    bytes
        .chunks_exact(N)
        .map(|c| c.try_into().expect("chunks of N bytes"))
}

/// An IEEE half-precision value widened to f32 (exact).
fn f16_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let mant = f32::from(bits & 0x3ff);
    match exp {
        0 => sign * mant * 2f32.powi(-24),
        31 if mant == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + mant / 1024.0) * 2f32.powi(exp - 15),
    }
}

/// Checks a tensor's length against its shape and that every value is finite.
fn check_weight(name: &str, w: &Weight) -> Result<()> {
    let numel = w
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if numel != Some(w.data.len()) {
        return Err(CnnError::ShapeMismatch {
            name: name.to_owned(),
            expected: vec![w.data.len()],
            found: w.shape.clone(),
        });
    }
    match w.data.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(CnnError::NonFinite {
            name: name.to_owned(),
            index,
            value: f64::from(w.data[index]),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_widens_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c01).is_nan());
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
    }

    #[test]
    fn non_finite_values_are_refused_with_name_and_index() {
        let w = Weight {
            shape: vec![3],
            data: vec![0.0, f32::NAN, 1.0],
        };
        let err = StateDict::from_tensors([("bn1.bias".to_owned(), w)]).unwrap_err();
        assert!(
            err.to_string().contains("`bn1.bias`") && err.to_string().contains("index 1"),
            "{err}"
        );
        let err = f64_to_f32("x", &[1e300]).unwrap_err().to_string();
        assert!(err.contains("non-finite"), "{err}");
    }

    #[test]
    fn random_weights_fit_their_configuration_and_round_trip_as_safetensors() {
        let config = ResNetConfig {
            layers: [1, 1, 1, 1],
            width: 4,
            width_per_group: 64,
            bn_eps: crate::config::BN_EPS,
        };
        let sd = StateDict::random(&config, 7);
        sd.check(&config).unwrap();
        assert_eq!(sd.get("bn1.weight").unwrap().data, vec![1.0; 4]);
        assert_eq!(
            sd.get("layer2.0.downsample.1.weight").unwrap().data,
            vec![1.0; 32]
        );
        let back = StateDict::from_safetensors(&sd.to_safetensors().unwrap()).unwrap();
        assert_eq!(back, sd);
    }

    #[test]
    fn a_data_parallel_prefix_is_removed() {
        let w = Weight {
            shape: vec![1],
            data: vec![1.0],
        };
        let named = vec![
            ("module.a".to_owned(), w.clone()),
            ("module.b".to_owned(), w),
        ];
        let names: Vec<String> = strip_module_prefix(named)
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(names, ["a", "b"]);
    }
}

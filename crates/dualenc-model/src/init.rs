//! Initial weights as the original draws them (distributions, not values): GRU and conv
//! `U(-1/sqrt(fan), 1/sqrt(fan))`, Xavier-uniform mapping with zero bias, BatchNorm 1/0,
//! embedding `U(-0.1, 0.1)` or word2vec rows with `U(-1, 1)` for missing words.

use burn::tensor::backend::Backend;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::model::{state_dict_specs, DualEncoding};
use crate::named::{Init, NamedTensor, TensorSpec};

/// Name of the word-embedding matrix in the state dict.
pub const EMBEDDING_NAME: &str = "text.embed.weight";

/// Draws a fresh state dict for `config` from a seeded ChaCha8 generator. With
/// `word_vectors` (one entry per RNN-vocabulary row, `None` for a word without a vector), the
/// embedding starts from those rows and missing words get `U(-1, 1)`.
pub fn initial_tensors(
    config: &ModelConfig,
    seed: u64,
    word_vectors: Option<&[Option<Vec<f32>>]>,
) -> Result<Vec<NamedTensor>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    state_dict_specs(config)
        .iter()
        .map(|spec| {
            let data = match (spec.name.as_str(), word_vectors) {
                (EMBEDDING_NAME, Some(vectors)) => {
                    embedding_from_vectors(config, vectors, &mut rng)?
                }
                _ => draw(spec, &mut rng),
            };
            Ok((spec.name.clone(), spec.shape.clone(), data))
        })
        .collect()
}

fn draw(spec: &TensorSpec, rng: &mut ChaCha8Rng) -> Vec<f32> {
    match spec.init {
        Init::Constant(value) => vec![value; spec.numel()],
        Init::Uniform(bound) => (0..spec.numel())
            .map(|_| rng.random_range(-bound..bound) as f32)
            .collect(),
    }
}

fn embedding_from_vectors(
    config: &ModelConfig,
    vectors: &[Option<Vec<f32>>],
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f32>> {
    if vectors.len() != config.vocab_size {
        return Err(ModelError::Config(format!(
            "{} word vectors given for a vocabulary of {}",
            vectors.len(),
            config.vocab_size
        )));
    }
    let mut data = Vec::with_capacity(config.vocab_size * config.word_dim);
    for (row, vector) in vectors.iter().enumerate() {
        match vector {
            Some(v) if v.len() == config.word_dim => data.extend_from_slice(v),
            Some(v) => {
                return Err(ModelError::Config(format!(
                    "word vector of vocabulary row {row} has {} values, word_dim is {}",
                    v.len(),
                    config.word_dim
                )))
            }
            None => {
                data.extend((0..config.word_dim).map(|_| rng.random_range(-1.0f64..1.0) as f32))
            }
        }
    }
    Ok(data)
}

impl<B: Backend> DualEncoding<B> {
    /// A freshly initialised network (see [`initial_tensors`]).
    pub fn init(
        config: ModelConfig,
        seed: u64,
        word_vectors: Option<&[Option<Vec<f32>>]>,
        device: &B::Device,
    ) -> Result<Self> {
        let tensors = initial_tensors(&config, seed, word_vectors)?;
        Self::from_named_tensors(config, tensors, device)
    }
}

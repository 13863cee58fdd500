//! Captions as the network reads them: token ids with `<start>`/`<end>` and bags of words.

use crate::error::{DatasetError, Result};

/// One caption as the network reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionInput {
    /// RNN-vocabulary ids including `<start>` and `<end>`.
    pub ids: Vec<i64>,
    /// Bag-of-words counts over the BoW vocabulary.
    pub bow: Vec<f32>,
}

/// One caption ready for the network: RNN ids (with `<start>`/`<end>`) and a sparse
/// bag-of-words (`(bow index, count)` pairs), so that a large collection stays small in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionTokens {
    /// RNN-vocabulary ids including `<start>` and `<end>`.
    pub ids: Vec<i64>,
    /// Non-zero BoW entries `(index, count)`, indices increasing.
    pub bow: Vec<(usize, f32)>,
}

impl CaptionTokens {
    /// Keeps the non-zero entries of a dense BoW vector.
    pub fn from_dense(ids: Vec<i64>, bow: &[f32]) -> Self {
        let bow = bow
            .iter()
            .enumerate()
            .filter(|(_, &c)| c != 0.0)
            .map(|(i, &c)| (i, c))
            .collect();
        Self { ids, bow }
    }

    /// The dense network input over a BoW vocabulary of `bow_dim` words.
    pub fn to_input(&self, bow_dim: usize) -> Result<CaptionInput> {
        let mut bow = vec![0.0f32; bow_dim];
        for &(i, count) in &self.bow {
            let slot = bow.get_mut(i).ok_or_else(|| {
                DatasetError::Invalid(format!(
                    "BoW index {i} is outside the BoW vocabulary of {bow_dim} words"
                ))
            })?;
            *slot = count;
        }
        Ok(CaptionInput {
            ids: self.ids.clone(),
            bow,
        })
    }
}

/// Captions with their ids, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaptionSet {
    /// Caption ids (`VIDEO#enc#K`), in file order.
    pub ids: Vec<String>,
    /// The encoded captions, one per id.
    pub tokens: Vec<CaptionTokens>,
    /// Size of the BoW vocabulary.
    pub bow_dim: usize,
}

impl CaptionSet {
    /// Number of captions.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there is no caption.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Dense network inputs of captions `range`.
    pub fn inputs(&self, range: std::ops::Range<usize>) -> Result<Vec<CaptionInput>> {
        self.tokens
            .get(range.clone())
            .ok_or_else(|| DatasetError::Invalid(format!("caption range {range:?} out of bounds")))?
            .iter()
            .map(|t| t.to_input(self.bow_dim))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_bow_round_trips_and_rejects_out_of_range_indices() {
        let tokens = CaptionTokens::from_dense(vec![1, 5, 2], &[0.0, 2.0, 0.0, 1.0]);
        assert_eq!(tokens.bow, vec![(1, 2.0), (3, 1.0)]);
        assert_eq!(tokens.to_input(4).unwrap().bow, vec![0.0, 2.0, 0.0, 1.0]);
        assert!(tokens.to_input(3).is_err());
    }
}

//! Mixed precision: the network's large matrix products with bf16 operands and f32
//! accumulation, everything else (the recurrence, normalisations, loss, optimiser) in f32.
//!
//! Like PyTorch's `autocast`, the choice is a setting of the running thread rather than of
//! the model: the same weights train or encode in either precision, and a checkpoint does not
//! record it. [`Precision::scope`] sets it for the lifetime of its guard. The products it
//! covers are the GRU input projections (`x W_ihᵀ` over all steps), the convolutions
//! (`G Wᵀ`) and the mapping layers (`x W_fc1ᵀ`): together most of the arithmetic of a
//! training step. Each backend runs them its own way ([`MixedPrecisionBackend`]): on CUDA on
//! the tensor cores; on the CPU on the AMX tile units of Intel Xeons from Sapphire Rapids on
//! ([`amx`]), and elsewhere emulated by Burn (operands rounded, products in f32), slower than
//! f32 and useful only to check the numbers.

mod amx;
mod op;

pub use op::MixedPrecisionBackend;

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Precision of the network's large matrix products.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Precision {
    /// Everything in f32 (the original's arithmetic).
    #[default]
    F32,
    /// bf16 operands and products (accumulated in f32), f32 everywhere else.
    Bf16,
}

thread_local! {
    static CURRENT: Cell<Precision> = const { Cell::new(Precision::F32) };
}

/// Restores the previous precision of the thread when dropped.
#[derive(Debug)]
#[must_use = "the precision holds only while the guard lives"]
pub struct PrecisionScope {
    previous: Precision,
}

impl Drop for PrecisionScope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

impl Precision {
    /// The precision of this thread's matrix products (f32 unless a scope says otherwise).
    pub fn current() -> Self {
        CURRENT.with(Cell::get)
    }

    /// Sets this thread's precision until the returned guard is dropped.
    pub fn scope(self) -> PrecisionScope {
        PrecisionScope {
            previous: CURRENT.with(|c| c.replace(self)),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            other => Err(format!("unknown precision {other:?}: expected f32 or bf16")),
        }
    }
}

/// The product `a b` of f32 matrices in this thread's [`Precision`]; the result is f32
/// either way (see [`MixedPrecisionBackend::matmul_in`]).
pub fn matmul<B: MixedPrecisionBackend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
    let product = B::matmul_in(
        crate::custom_op::primitive(a),
        crate::custom_op::primitive(b),
        Precision::current(),
    );
    crate::custom_op::float(product)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CpuBackend;
    use burn::tensor::TensorData;

    fn product() -> Vec<f32> {
        let device = Default::default();
        let a = Tensor::<CpuBackend, 2>::from_data(
            TensorData::new(vec![1.0f32 + 1.0 / 1024.0, 2.0, 3.0, 4.0], [2, 2]),
            &device,
        );
        let b = Tensor::<CpuBackend, 2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [2, 2]),
            &device,
        );
        matmul(a, b).into_data().to_vec::<f32>().unwrap()
    }

    #[test]
    fn scopes_nest_and_restore() {
        assert_eq!(Precision::current(), Precision::F32);
        {
            let _outer = Precision::Bf16.scope();
            assert_eq!(Precision::current(), Precision::Bf16);
            {
                let _inner = Precision::F32.scope();
                assert_eq!(Precision::current(), Precision::F32);
            }
            assert_eq!(Precision::current(), Precision::Bf16);
        }
        assert_eq!(Precision::current(), Precision::F32);
    }

    #[test]
    fn bf16_rounds_the_operands_and_returns_f32() {
        // 1 + 2^-10 needs 10 mantissa bits: f32 keeps it, bf16 (7 bits) rounds it to 1.
        assert_eq!(product(), vec![1.0 + 1.0 / 1024.0, 2.0, 3.0, 4.0]);
        let _bf16 = Precision::Bf16.scope();
        assert_eq!(product(), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn parses_and_prints() {
        for p in [Precision::F32, Precision::Bf16] {
            assert_eq!(p.to_string().parse::<Precision>(), Ok(p));
        }
        assert!("fp16"
            .parse::<Precision>()
            .unwrap_err()
            .contains("f32 or bf16"));
    }
}

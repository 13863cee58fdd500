//! The network's large products as a backend operation, so that each backend runs them its
//! own way: the GPU backends (and their autodiff) as Burn's matmul, in bf16 with casts around
//! it; the CPU backend with Burn's f32 matmul or, in bf16, on the AMX tile units where the CPU
//! has them ([`super::amx`]), under autodiff as one node whose backward pass runs its two
//! products in the same precision and hands weights read transposed a contiguous gradient.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn::tensor::{backend::Backend, DType};

use super::{amx, Precision};
use crate::custom_op::{flex_tensor, float, primitive};

/// A backend with a matrix product in a chosen [`Precision`].
pub trait MixedPrecisionBackend: Backend {
    /// `a b` for f32 matrices `[m, k]` and `[k, n]`. In [`Precision::Bf16`]: operands rounded
    /// to bf16, products accumulated in f32, the result rounded to bf16 and returned as f32
    /// (PyTorch's autocast product). By default Burn's matmul (with casts around it in bf16),
    /// tracked by autodiff.
    fn matmul_in(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        precision: Precision,
    ) -> FloatTensor<Self> {
        burn_matmul::<Self>(a, b, precision)
    }
}

/// The product with Burn's tensor operations (any backend): its matmul, in bf16 with casts
/// around it.
fn burn_matmul<B: Backend>(
    a: FloatTensor<B>,
    b: FloatTensor<B>,
    precision: Precision,
) -> FloatTensor<B> {
    match precision {
        Precision::F32 => B::float_matmul(a, b),
        Precision::Bf16 => {
            let product = float::<B, 2>(a)
                .cast(DType::BF16)
                .matmul(float::<B, 2>(b).cast(DType::BF16))
                .cast(DType::F32);
            primitive(product)
        }
    }
}

/// bf16 on the tile units when the CPU has them, else Flex's emulated bf16 matmul.
impl MixedPrecisionBackend for Flex {
    fn matmul_in(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        precision: Precision,
    ) -> FloatTensor<Self> {
        let tiles = (precision == Precision::Bf16)
            .then(|| tile_product(&a, &b))
            .flatten();
        tiles.unwrap_or_else(|| burn_matmul::<Self>(a, b, precision))
    }
}

/// `a b` on the tile units, or `None` (no AMX, not f32 matrices, sizes that do not chain,
/// negative strides).
fn tile_product(a: &FlexTensor, b: &FlexTensor) -> Option<FlexTensor> {
    let (lhs, rhs) = (matrix_view(a)?, matrix_view(b)?);
    let ([m, _], [_, n]) = (lhs.dims(), rhs.dims());
    amx::matmul(&lhs, &rhs).map(|c| flex_tensor(c, vec![m, n]))
}

/// A 2-d f32 tensor's storage as a strided view (transposed views are read in place).
fn matrix_view(t: &FlexTensor) -> Option<amx::Strided<'_>> {
    let layout = t.layout();
    if t.dtype() != DType::F32 || !layout.has_positive_strides() {
        return None;
    }
    let (rows, cols, row_stride, col_stride) = layout.as_2d_strides()?;
    amx::Strided::new(
        t.storage::<f32>(),
        [rows, cols],
        [row_stride.unsigned_abs(), col_stride.unsigned_abs()],
        layout.start_offset(),
    )
}

/// Records the CPU product as one node of the autodiff graph: `dA = dC Bᵀ` and `dB = Aᵀ dC`,
/// both in the same precision (as autocast's backward).
impl<C: CheckpointStrategy> MixedPrecisionBackend for Autodiff<Flex, C> {
    fn matmul_in(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        precision: Precision,
    ) -> FloatTensor<Self> {
        let prep = MatmulBackward { precision }
            .prepare::<C>([a.node.clone(), b.node.clone()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(prep) => {
                let product = Flex::matmul_in(a.primitive.clone(), b.primitive.clone(), precision);
                prep.finish((a.primitive, b.primitive), product)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::matmul_in(a.primitive, b.primitive, precision))
            }
        }
    }
}

/// Whether a matrix is stored column by column (a transposed row-major tensor).
fn is_transposed(t: &FlexTensor) -> bool {
    matches!(t.layout().as_2d_strides(), Some((_, cols, 1, stride)) if cols > 1 && stride != 1)
}

/// Backward of the CPU product; its state is the two operands.
#[derive(Debug)]
struct MatmulBackward {
    precision: Precision,
}

impl Backward<Flex, 2> for MatmulBackward {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let (a, b) = ops.state;
        let b_transposed = is_transposed(&b);
        let [a_parent, b_parent] = ops.parents;
        let product = |x, y| Flex::matmul_in(x, y, self.precision);
        if let Some(parent) = a_parent {
            let da = product(grad.clone(), Flex::float_transpose(b));
            grads.register::<Flex>(parent.id, da);
        }
        if let Some(parent) = b_parent {
            let db = if b_transposed {
                // `B` is a weight read as `Wᵀ`: compute `dW = dCᵀ A` row-major, so that the
                // gradient reaching `W` through the transpose is contiguous (no copy later).
                Flex::float_transpose(product(Flex::float_transpose(grad), a))
            } else {
                product(Flex::float_transpose(a), grad)
            };
            grads.register::<Flex>(parent.id, db);
        }
    }
}

/// The GPU backends: Burn's matmul (in bf16 on the tensor cores on CUDA).
#[cfg(any(feature = "cuda", feature = "wgpu"))]
impl<R, F, I, BT> MixedPrecisionBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
}

/// The GPU backends under autodiff: the matmul (and casts) are tracked as Burn's own ops.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
impl<R, F, I, BT, C> MixedPrecisionBackend for Autodiff<burn_cubecl::CubeBackend<R, F, I, BT>, C>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
    C: CheckpointStrategy,
{
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tensor};

    type Ad = Autodiff<Flex>;

    fn random(shape: [usize; 2], seed: u64) -> Tensor<Ad, 2> {
        Ad::seed(&Default::default(), seed);
        Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), &Default::default())
    }

    fn worst_relative(a: Tensor<Flex, 2>, b: Tensor<Flex, 2>) -> f32 {
        let scale = b.clone().abs().max().into_scalar();
        (a - b).abs().max().into_scalar() / scale
    }

    /// Output and both gradients of `x Wᵀ` (`W` read transposed, as the network does, and
    /// `x` not) through the backend's node against Burn's own tracked operations: the plain
    /// matmul in f32 (1e-5: summation order only), the casts around a bf16 matmul in bf16
    /// (1e-2: one bf16 rounding, 2^-8 relative, plus the order). Also checks that the weight's
    /// gradient arrives contiguous.
    #[test]
    fn product_and_gradients_match_burns_own_operations() {
        let (m, k, n) = (37, 70, 45);
        // Drawn once: drawing again would race with other tests over the global seed.
        let (x0, w0, weights) = (random([m, k], 1), random([n, k], 2), random([m, n], 3));
        for (precision, tolerance) in [(Precision::F32, 1e-5), (Precision::Bf16, 1e-2)] {
            let run = |custom: bool| {
                let x = x0.clone().detach().require_grad();
                let w = w0.clone().detach().require_grad();
                let weights = weights.clone();
                let (a, b) = (primitive(x.clone()), primitive(w.clone().transpose()));
                let y = if custom {
                    Ad::matmul_in(a, b, precision)
                } else {
                    burn_matmul::<Ad>(a, b, precision)
                };
                let y = float::<Ad, 2>(y);
                let grads = (y.clone() * weights).sum().backward();
                let dx = x.grad(&grads).expect("x receives a gradient");
                let dw = w.grad(&grads).expect("w receives a gradient");
                (y.inner(), dx, dw)
            };
            let (y, dx, dw) = run(true);
            assert!(primitive(dw.clone()).is_contiguous());
            let (y_ref, dx_ref, dw_ref) = run(false);
            for (got, want) in [(y, y_ref), (dx, dx_ref), (dw, dw_ref)] {
                assert_eq!(got.dims(), want.dims());
                let error = worst_relative(got, want);
                assert!(error < tolerance, "{precision}: {error} >= {tolerance}");
            }
        }
    }
}

//! The bf16 product as a backend operation, so that each backend runs it its own way: the
//! GPU backends (and their autodiff) as Burn's casts around a bf16 matmul, the CPU backend on
//! the AMX tile units where the CPU has them ([`super::amx`]), with one autodiff node whose
//! backward pass runs its two products on the tile units too.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn::tensor::{backend::Backend, DType};

use super::amx;
use crate::custom_op::{flex_tensor, float, primitive};

/// A backend with a mixed-precision matrix product.
pub trait MixedPrecisionBackend: Backend {
    /// `a b` for f32 matrices `[m, k]` and `[k, n]`: operands rounded to bf16, products
    /// accumulated in f32, the result rounded to bf16 and returned as f32 (PyTorch's autocast
    /// product). By default Burn's casts around a bf16 matmul, tracked by autodiff.
    fn bf16_matmul(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        cast_matmul::<Self>(a, b)
    }
}

/// The bf16 product with Burn's tensor operations (any backend).
fn cast_matmul<B: Backend>(a: FloatTensor<B>, b: FloatTensor<B>) -> FloatTensor<B> {
    let product = float::<B, 2>(a)
        .cast(DType::BF16)
        .matmul(float::<B, 2>(b).cast(DType::BF16))
        .cast(DType::F32);
    primitive(product)
}

/// On the tile units when the CPU has them, else Flex's emulated bf16 matmul.
impl MixedPrecisionBackend for Flex {
    fn bf16_matmul(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        tile_product(&a, &b).unwrap_or_else(|| cast_matmul::<Self>(a, b))
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
/// both again bf16 products (as autocast's backward).
impl<C: CheckpointStrategy> MixedPrecisionBackend for Autodiff<Flex, C> {
    fn bf16_matmul(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        let prep = Bf16MatmulBackward
            .prepare::<C>([a.node.clone(), b.node.clone()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(prep) => {
                let product = Flex::bf16_matmul(a.primitive.clone(), b.primitive.clone());
                prep.finish((a.primitive, b.primitive), product)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::bf16_matmul(a.primitive, b.primitive)),
        }
    }
}

/// Backward of the CPU bf16 product; its state is the two operands.
#[derive(Debug)]
struct Bf16MatmulBackward;

impl Backward<Flex, 2> for Bf16MatmulBackward {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let (a, b) = ops.state;
        let [a_parent, b_parent] = ops.parents;
        if let Some(parent) = a_parent {
            let da = Flex::bf16_matmul(grad.clone(), Flex::float_transpose(b));
            grads.register::<Flex>(parent.id, da);
        }
        if let Some(parent) = b_parent {
            let db = Flex::bf16_matmul(Flex::float_transpose(a), grad);
            grads.register::<Flex>(parent.id, db);
        }
    }
}

/// The GPU backends: Burn's bf16 matmul (tensor cores on CUDA).
#[cfg(any(feature = "cuda", feature = "wgpu"))]
impl<R, F, I, BT> MixedPrecisionBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
}

/// The GPU backends under autodiff: the casts and the matmul are tracked as Burn's own ops.
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

    /// Output and both gradients of `x Wᵀ` through the backend's op and through Burn's casts
    /// (the emulation) agree to bf16 rounding, including for a transposed operand.
    #[test]
    fn product_and_gradients_match_burns_bf16_casts() {
        let (m, k, n) = (37, 70, 45);
        let run = |custom: bool| {
            let x = random([m, k], 1).require_grad();
            let w = random([n, k], 2).require_grad();
            let weights = random([m, n], 3);
            let (a, b) = (primitive(x.clone()), primitive(w.clone().transpose()));
            let y = if custom {
                float::<Ad, 2>(Ad::bf16_matmul(a, b))
            } else {
                float::<Ad, 2>(cast_matmul::<Ad>(a, b))
            };
            let grads = (y.clone() * weights).sum().backward();
            let dx = x.grad(&grads).expect("x receives a gradient");
            let dw = w.grad(&grads).expect("w receives a gradient");
            (y.inner(), dx, dw)
        };
        let (y, dx, dw) = run(true);
        let (y_ref, dx_ref, dw_ref) = run(false);
        // One bf16 rounding of the result (2^-8 relative) plus the summation order.
        for (got, want) in [(y, y_ref), (dx, dx_ref), (dw, dw_ref)] {
            assert_eq!(got.dims(), want.dims());
            assert!(worst_relative(got, want) < 1e-2);
        }
    }
}

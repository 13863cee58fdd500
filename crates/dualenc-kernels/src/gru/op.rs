//! The GRU recurrence as a Burn custom operation with its own backward pass.
//!
//! [`GruBackend`] is the one operation the network needs beyond Burn's: the recurrence of one
//! direction, given the input projections of all steps. Its provided methods run it with Burn
//! tensor operations ([`super::reference`]); the CPU backend overrides them with the fused
//! kernels of [`super::cpu`]. `Autodiff<B>` records the operation as a single node whose
//! backward calls `B::gru_backward`, instead of a graph of hundreds of small operations.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Flex};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{backend::Backend, TensorMetadata};

use super::cpu::{self, Dims};
#[cfg(any(feature = "cuda", feature = "wgpu"))]
use super::cube;
use super::reference;
use crate::custom_op::{f32_vec, flex_tensor, float, primitive};

/// A backend that runs the GRU recurrence: `states = GRU(gi, w_hh, b_hh)` from a zero state,
/// with `gi` `[N, T, 3H]` (input projections, `b_ih` included), `w_hh` `[3H, H]`, `b_hh`
/// `[3H]`, `states` `[N, T, H]`.
pub trait GruBackend: Backend {
    /// The states, without keeping anything for a backward pass.
    fn gru_forward(
        gi: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::gru_forward_taped(gi, w_hh, b_hh).0
    }

    /// The states and the tape `[N, T, 4H]` that [`GruBackend::gru_backward`] reads.
    fn gru_forward_taped(
        gi: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (states, tape) = reference::forward::<Self>(float(gi), float(w_hh), float(b_hh));
        (primitive(states), primitive(tape))
    }

    /// Gradients of `gi`, `w_hh` and `b_hh` from the gradient of every state.
    fn gru_backward(
        grad: FloatTensor<Self>,
        states: FloatTensor<Self>,
        tape: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
    ) -> [FloatTensor<Self>; 3] {
        let g = reference::backward::<Self>(float(grad), float(states), float(tape), float(w_hh));
        [primitive(g.gi), primitive(g.w_hh), primitive(g.b_hh)]
    }
}

/// The CPU backend runs the fused kernels.
impl GruBackend for Flex {
    fn gru_forward(
        gi: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        flex_forward(gi, w_hh, b_hh, false).0
    }

    fn gru_forward_taped(
        gi: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (states, tape) = flex_forward(gi, w_hh, b_hh, true);
        let tape = tape.expect("the tape was asked for");
        (states, tape)
    }

    fn gru_backward(
        grad: FloatTensor<Self>,
        states: FloatTensor<Self>,
        tape: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
    ) -> [FloatTensor<Self>; 3] {
        let [n, t, h] = states.shape().dims::<3>();
        let dims = Dims { n, t, h };
        let g = cpu::backward(
            &f32_vec(grad),
            &f32_vec(states),
            &f32_vec(tape),
            &f32_vec(w_hh),
            dims,
        );
        [
            flex_tensor(g.gi, vec![n, t, 3 * h]),
            flex_tensor(g.w_hh, vec![3 * h, h]),
            flex_tensor(g.b_hh, vec![3 * h]),
        ]
    }
}

type FlexPrimitive = FloatTensor<Flex>;

fn flex_forward(
    gi: FlexPrimitive,
    w_hh: FlexPrimitive,
    b_hh: FlexPrimitive,
    keep_tape: bool,
) -> (FlexPrimitive, Option<FlexPrimitive>) {
    let [n, t, h3] = gi.shape().dims::<3>();
    let dims = Dims { n, t, h: h3 / 3 };
    let (states, tape) = cpu::forward(
        &f32_vec(gi),
        &f32_vec(w_hh),
        &f32_vec(b_hh),
        dims,
        keep_tape,
    );
    let h = dims.h;
    (
        flex_tensor(states, vec![n, t, h]),
        tape.map(|tape| flex_tensor(tape, vec![n, t, 4 * h])),
    )
}

/// The GPU backends (CUDA, wgpu) run one matmul and one fused kernel per step ([`cube`]).
#[cfg(any(feature = "cuda", feature = "wgpu"))]
impl<R, F, I, BT> GruBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
    fn gru_forward(
        gi: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        cube::forward::<R, F, I, BT>(gi, w_hh, b_hh, false).0
    }

    fn gru_forward_taped(
        gi: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (states, tape) = cube::forward::<R, F, I, BT>(gi, w_hh, b_hh, true);
        (states, tape.expect("the tape was asked for"))
    }

    fn gru_backward(
        grad: FloatTensor<Self>,
        states: FloatTensor<Self>,
        tape: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
    ) -> [FloatTensor<Self>; 3] {
        cube::backward::<R, F, I, BT>(grad, states, tape, w_hh)
    }
}

/// Records the recurrence as one node of the autodiff graph.
impl<B: GruBackend, C: CheckpointStrategy> GruBackend for Autodiff<B, C> {
    fn gru_forward(
        gi: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let prep = RecurrenceBackward
            .prepare::<C>([gi.node.clone(), w_hh.node.clone(), b_hh.node.clone()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(prep) => {
                let (states, tape) =
                    B::gru_forward_taped(gi.primitive, w_hh.primitive.clone(), b_hh.primitive);
                prep.finish((states.clone(), tape, w_hh.primitive), states)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::gru_forward(gi.primitive, w_hh.primitive, b_hh.primitive))
            }
        }
    }
}

/// Backward of [`GruBackend::gru_forward`] under autodiff; its state is what the inner
/// backend's backward reads: the states, the tape and `w_hh`.
#[derive(Debug)]
struct RecurrenceBackward;

impl<B: GruBackend> Backward<B, 3> for RecurrenceBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (states, tape, w_hh) = ops.state;
        let outputs = B::gru_backward(grad, states, tape, w_hh);
        for (parent, value) in ops.parents.into_iter().zip(outputs) {
            if let Some(parent) = parent {
                grads.register::<B>(parent.id, value);
            }
        }
    }
}

//! Conversions shared by the custom operations ([`crate::gru`], [`crate::conv`]): between
//! tensors and backend primitives, and between Flex primitives and plain `f32` buffers.

use burn::backend::flex::FlexTensor;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{backend::Backend, Tensor, TensorData, TensorPrimitive};

/// A float primitive as a tensor of rank `D`.
pub(crate) fn float<B: Backend, const D: usize>(t: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

/// A float tensor's primitive.
pub(crate) fn primitive<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// The elements in row-major order as `f32` (converted if stored otherwise).
pub(crate) fn f32_vec(t: FlexTensor) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("converted to f32 just above")
}

/// A Flex tensor of `shape` holding `data` in row-major order.
pub(crate) fn flex_tensor(data: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

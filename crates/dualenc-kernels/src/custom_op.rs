//! Conversions shared by the custom operations ([`crate::gru`], [`crate::conv`],
//! [`crate::optim`]): between tensors and backend primitives, between Flex primitives and plain
//! `f32` buffers, and (`cube`) buffers and launch sizes for the CubeCL kernels.

use burn::backend::flex::FlexTensor;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{backend::Backend, Tensor, TensorData, TensorPrimitive};

/// A float primitive as a tensor of rank `D`.
pub fn float<B: Backend, const D: usize>(t: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

/// A float tensor's primitive.
pub fn primitive<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
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

/// Buffers and launch sizes for the CubeCL kernels of the GPU backends.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub(crate) mod cube {
    use burn_cubecl::ops::numeric::{empty_device_contiguous_dtype, zeros_client};
    use burn_cubecl::tensor::CubeTensor;
    use burn_cubecl::CubeRuntime;
    use cubecl::{calculate_cube_count_elemwise, prelude::*};

    /// A contiguous, uninitialised tensor like `like` (same client, device, dtype).
    pub(crate) fn empty<R: CubeRuntime>(like: &CubeTensor<R>, shape: Vec<usize>) -> CubeTensor<R> {
        empty_device_contiguous_dtype(
            like.client.clone(),
            like.device.clone(),
            shape.into(),
            like.dtype,
        )
    }

    /// A contiguous tensor of zeros like `like`.
    pub(crate) fn zeros<R: CubeRuntime>(like: &CubeTensor<R>, shape: Vec<usize>) -> CubeTensor<R> {
        zeros_client(
            like.client.clone(),
            like.device.clone(),
            shape.into(),
            like.dtype,
        )
    }

    /// Launch geometry for one unit of work per element (`units` of them).
    pub(crate) fn geometry<R: CubeRuntime>(
        like: &CubeTensor<R>,
        units: usize,
    ) -> (CubeCount, CubeDim) {
        let dim = CubeDim::new(&like.client, units);
        (calculate_cube_count_elemwise(&like.client, units, dim), dim)
    }
}

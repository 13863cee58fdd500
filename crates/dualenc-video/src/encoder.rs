//! The one seam between frame decoding and the network that encodes frames.

/// Error an encoder reports; extraction wraps it with the video it was working on.
pub type EncodeError = Box<dyn std::error::Error + Send + Sync>;

/// A model that turns preprocessed images into feature vectors (a CNN's pooled output).
///
/// Extraction owns decoding, resizing, cropping and normalisation; an encoder only sees
/// ready tensors, so any image model (ResNet in Burn, an ONNX file) fits behind it.
pub trait FrameEncoder {
    /// Length of one feature vector (2048 for ResNet-152).
    fn dim(&self) -> usize;

    /// Side in pixels of the square images the encoder takes (224 for ResNet-152).
    fn input_size(&self) -> usize;

    /// Encodes `n` images laid out as `n x 3 x size x size` f32 values (RGB planes, already
    /// normalised) and returns `n x dim` values, one feature vector per image, in order.
    fn encode(&mut self, images: &[f32], n: usize) -> Result<Vec<f32>, EncodeError>;
}

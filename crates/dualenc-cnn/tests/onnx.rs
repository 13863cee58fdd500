//! The ONNX encoder against PyTorch on two tiny models (conv + ReLU + global average pool,
//! N x 8 x 1 x 1, flattened N x 8, reshaped to a constant 1 x 8) from scripts/cnn/make_resnet_fixture.py.

mod common;

use common::{fixture, tensor};
use dualenc_cnn::OnnxEncoder;
use dualenc_testkit::compare::max_abs_diff;
use dualenc_video::FrameEncoder;

#[test]
fn onnx_features_match_pytorch_within_1e_4() {
    let (shape, images) = tensor("onnx_io.safetensors", "images");
    let (_, expected) = tensor("onnx_io.safetensors", "features");
    for model in ["conv_gap.onnx", "conv_flatten.onnx"] {
        let mut encoder = OnnxEncoder::open(&fixture(model), 32).unwrap();
        assert!(encoder.batched(), "{model}");
        assert_eq!((encoder.dim(), encoder.input_size()), (8, 32));
        let batch = encoder.encode(&images, shape[0]).unwrap();
        let one: Vec<f32> = images
            .chunks_exact(3 * 32 * 32)
            .flat_map(|image| encoder.encode(image, 1).unwrap())
            .collect();
        let diff = max_abs_diff(&batch, &expected);
        println!("{model}: max |tract - pytorch| = {diff:e}");
        assert!(diff <= 1e-4, "{model}: {diff}");
        assert!(max_abs_diff(&one, &expected) <= 1e-4, "{model}");
    }
}

#[test]
fn a_model_with_a_constant_batch_of_one_runs_image_by_image() {
    let (shape, images) = tensor("onnx_io.safetensors", "images");
    let (_, expected) = tensor("onnx_io.safetensors", "features");
    let mut encoder = OnnxEncoder::open(&fixture("conv_batch1.onnx"), 32).unwrap();
    assert!(!encoder.batched());
    assert_eq!(encoder.dim(), 8);
    let features = encoder.encode(&images, shape[0]).unwrap();
    let diff = max_abs_diff(&features, &expected);
    println!("conv_batch1.onnx: max |tract - pytorch| = {diff:e}");
    assert!(diff <= 1e-4, "{diff}");
}

#[test]
fn wrong_input_lengths_are_refused() {
    let mut encoder = OnnxEncoder::open(&fixture("conv_gap.onnx"), 32).unwrap();
    let err = encoder.encode(&[0.0; 10], 1).unwrap_err().to_string();
    assert!(err.contains("expected 3072"), "{err}");
    assert!(encoder.encode(&[], 0).unwrap().is_empty());
}

#[test]
fn bad_files_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x07 definitely not protobuf \xff\xff").unwrap();
    let err = OnnxEncoder::open(&garbage, 32).unwrap_err().to_string();
    assert!(
        err.contains("garbage.onnx") && err.contains("ONNX"),
        "{err}"
    );
    let missing = dir.path().join("missing.onnx");
    let err = OnnxEncoder::open(&missing, 32).unwrap_err().to_string();
    assert!(err.contains("missing.onnx"), "{err}");
    let err = OnnxEncoder::open(&fixture("conv_gap.onnx"), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("positive"), "{err}");
}

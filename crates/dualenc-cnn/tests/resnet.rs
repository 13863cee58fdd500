//! Parity of our ResNet with torchvision's, on a small network built from torchvision's own
//! `Bottleneck` and `_make_layer` (fixtures/cnn, made by scripts/cnn/make_resnet_fixture.py),
//! and the checks on the weights files.

mod common;

use common::{fixture, tensor};
use dualenc_cnn::{
    CnnError, CpuBackend, ResNet, ResNetConfig, ResNetEncoder, StateDict, Weight, BN_EPS,
};
use dualenc_testkit::compare::max_abs_diff;
use dualenc_video::FrameEncoder;

const TOLERANCE: f32 = 1e-4;

fn tiny_config() -> ResNetConfig {
    ResNetConfig {
        layers: [2, 1, 2, 1],
        width: 8,
        width_per_group: 64,
        bn_eps: BN_EPS,
    }
}

fn tiny_state_dict() -> StateDict {
    StateDict::open(&fixture("resnet_tiny.pth")).unwrap()
}

fn tiny_model() -> ResNet<CpuBackend> {
    ResNet::from_state_dict_inferred(&tiny_state_dict(), &Default::default()).unwrap()
}

/// Our features of the fixture's `images{suffix}` and the worst difference from PyTorch's.
fn parity(model: &ResNet<CpuBackend>, suffix: &str) -> f32 {
    let (shape, images) = tensor("resnet_tiny_io.safetensors", &format!("images{suffix}"));
    let (_, expected) = tensor("resnet_tiny_io.safetensors", &format!("features{suffix}"));
    let ours = model
        .features(&images, shape[0], [shape[2], shape[3]], &Default::default())
        .unwrap();
    max_abs_diff(&ours, &expected)
}

#[test]
fn features_match_torchvision_within_1e_4() {
    let model = tiny_model();
    assert_eq!(*model.config(), tiny_config());
    assert_eq!(model.dim(), 256);
    for suffix in ["", "_odd"] {
        let diff = parity(&model, suffix);
        println!("max |ours - torchvision| on images{suffix}: {diff:e}");
        assert!(diff <= TOLERANCE, "images{suffix}: {diff}");
    }
}

#[test]
fn the_encoder_gives_the_same_features_one_image_at_a_time() {
    let model = tiny_model();
    let mut encoder = ResNetEncoder::new(model, Default::default()).with_input_size(64);
    assert_eq!((encoder.dim(), encoder.input_size()), (256, 64));
    let (_, images) = tensor("resnet_tiny_io.safetensors", "images");
    let (_, expected) = tensor("resnet_tiny_io.safetensors", "features");
    let batch = encoder.encode(&images, 3).unwrap();
    let one_by_one: Vec<f32> = images
        .chunks_exact(3 * 64 * 64)
        .flat_map(|image| encoder.encode(image, 1).unwrap())
        .collect();
    assert!(max_abs_diff(&batch, &expected) <= TOLERANCE);
    assert!(max_abs_diff(&one_by_one, &expected) <= TOLERANCE);
    assert!(encoder.encode(&images, 2).is_err(), "wrong length accepted");
    assert!(encoder.encode(&[], 0).unwrap().is_empty());
}

#[test]
fn a_safetensors_copy_loads_through_the_same_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    std::fs::write(&path, tiny_state_dict().to_safetensors().unwrap()).unwrap();
    let encoder =
        ResNetEncoder::<CpuBackend>::open(&path, Some(tiny_config()), Default::default()).unwrap();
    assert!(parity(encoder.model(), "") <= TOLERANCE);
}

#[test]
fn resnet152_names_and_shapes_are_torchvisions() {
    let text = std::fs::read_to_string(fixture("resnet152_keys.json")).unwrap();
    let keys: Vec<(String, Vec<usize>)> = serde_json::from_str(&text).unwrap();
    let torchvision: Vec<(String, Vec<usize>)> = keys
        .into_iter()
        .filter(|(n, _)| !n.starts_with("fc.") && !n.ends_with("num_batches_tracked"))
        .collect();
    let ours: Vec<(String, Vec<usize>)> = ResNetConfig::resnet152()
        .specs()
        .into_iter()
        .map(|s| (s.name, s.shape))
        .collect();
    assert_eq!(ours, torchvision);
    let shapes = torchvision.into_iter().collect();
    assert_eq!(
        ResNetConfig::infer(&shapes).unwrap(),
        ResNetConfig::resnet152()
    );
}

/// The error of building the tiny network from its state dict after `edit`.
fn load_error(edit: impl FnOnce(&mut StateDict)) -> String {
    let mut sd = tiny_state_dict();
    edit(&mut sd);
    let err =
        ResNet::<CpuBackend>::from_state_dict(tiny_config(), &sd, &Default::default()).unwrap_err();
    err.to_string()
}

#[test]
fn a_wrong_shape_is_refused_naming_the_tensor() {
    let err = load_error(|sd| {
        let w = Weight {
            shape: vec![16, 16, 1, 3],
            data: vec![0.1; 16 * 16 * 3],
        };
        sd.insert("layer2.0.conv2.weight", w).unwrap();
    });
    assert!(err.contains("`layer2.0.conv2.weight`"), "{err}");
    assert!(err.contains("[16, 16, 3, 3]"), "{err}");
}

#[test]
fn a_missing_tensor_is_refused_naming_it() {
    let err = load_error(|sd| {
        sd.remove("layer3.1.bn2.running_var").unwrap();
    });
    assert!(
        err.contains("missing") && err.contains("`layer3.1.bn2.running_var`"),
        "{err}"
    );
}

#[test]
fn an_unexpected_tensor_is_refused_naming_it() {
    let err = load_error(|sd| {
        let w = Weight {
            shape: vec![1],
            data: vec![0.0],
        };
        sd.insert("layer1.0.extra.weight", w).unwrap();
    });
    assert!(
        err.contains("unexpected") && err.contains("`layer1.0.extra.weight`"),
        "{err}"
    );
}

#[test]
fn a_bad_file_is_refused_naming_the_file_and_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.safetensors");
    let mut sd = tiny_state_dict();
    sd.remove("layer4.0.downsample.1.bias").unwrap();
    std::fs::write(&path, sd.to_safetensors().unwrap()).unwrap();
    let err = ResNet::<CpuBackend>::open(&path, None, &Default::default()).unwrap_err();
    assert!(matches!(err, CnnError::File { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("broken.safetensors") && msg.contains("`layer4.0.downsample.1.bias`"),
        "{msg}"
    );

    let garbage = dir.path().join("garbage.pth");
    std::fs::write(&garbage, b"not a checkpoint").unwrap();
    let msg = ResNet::<CpuBackend>::open(&garbage, None, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("garbage.pth"), "{msg}");
}

#[test]
fn a_negative_running_variance_is_refused_naming_it() {
    let err = load_error(|sd| {
        let mut w = sd.get("layer2.0.bn3.running_var").unwrap().clone();
        w.data[5] = -0.5;
        sd.insert("layer2.0.bn3.running_var", w).unwrap();
    });
    assert!(
        err.contains("`layer2.0.bn3.running_var`") && err.contains("negative"),
        "{err}"
    );
}

#[test]
fn non_finite_weights_are_refused() {
    let mut w = tiny_state_dict().get("bn1.weight").unwrap().clone();
    w.data[3] = f32::INFINITY;
    let err = StateDict::from_tensors([("bn1.weight".to_owned(), w)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`bn1.weight`") && err.contains("index 3"),
        "{err}"
    );
}

#[test]
fn resnet152_runs_at_full_size_with_random_weights() {
    let report = dualenc_cnn::bench_resnet::<CpuBackend>(
        &ResNetConfig::resnet152(),
        1,
        64,
        1,
        &Default::default(),
    )
    .unwrap();
    assert!(report.frames_per_second > 0.0);
    assert_eq!(
        (report.batch, report.batches, report.input_size),
        (1, 1, 64)
    );
}

//! Model folder round trip and state-dict import errors.

mod common;

use common::Fixture;
use dualenc_model::model_dir::{save_model_dir, ModelDir, ModelMeta, RunConfig, VOCAB_DIR};
use dualenc_model::{CpuBackend, DualEncoding, ModelConfig, ModelError};

fn model(fx: &Fixture) -> DualEncoding<CpuBackend> {
    DualEncoding::from_named_tensors(fx.config(), fx.weights.clone(), &Default::default()).unwrap()
}

#[test]
fn a_saved_folder_loads_back_bit_for_bit() {
    let fx = Fixture::load("model_full");
    let net = model(&fx);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run/model");
    let run = RunConfig {
        model: fx.config(),
        ..RunConfig::default()
    };
    let meta = ModelMeta::new(3, Some(123.4));
    let vocab = [("bow.txt", b"a\nb\n".as_slice())];
    save_model_dir(&dir, &net, &run, &meta, &vocab).unwrap();
    // Saving again replaces the folder (and leaves nothing else behind).
    save_model_dir(&dir, &net, &run, &meta, &vocab).unwrap();
    let siblings = std::fs::read_dir(dir.parent().unwrap()).unwrap().count();
    assert_eq!(siblings, 1);

    let loaded = ModelDir::read(&dir).unwrap();
    assert_eq!(loaded.config, run);
    assert_eq!(loaded.meta, meta);
    assert_eq!(
        std::fs::read(dir.join(VOCAB_DIR).join("bow.txt")).unwrap(),
        b"a\nb\n"
    );
    let mut original = fx.weights.clone();
    original.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        loaded.tensors, original,
        "weights.safetensors -> model -> folder is lossless"
    );
    let reloaded = loaded
        .into_model::<CpuBackend>(&Default::default())
        .unwrap();
    let mut again = reloaded.to_named_tensors().unwrap();
    again.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(again, original);
}

#[test]
fn missing_extra_and_misshaped_tensors_are_named() {
    let fx = Fixture::load("model_full");
    let device = Default::default();
    let build =
        |tensors| DualEncoding::<CpuBackend>::from_named_tensors(fx.config(), tensors, &device);

    let mut missing = fx.weights.clone();
    missing.retain(|(n, _, _)| n != "video.rnn.weight_hh_l0");
    let err = build(missing).unwrap_err();
    assert!(
        matches!(&err, ModelError::MissingTensor { name, .. } if name == "video.rnn.weight_hh_l0"),
        "{err}"
    );

    let mut extra = fx.weights.clone();
    extra.push(("text.bogus".into(), vec![1], vec![0.0]));
    let err = build(extra).unwrap_err();
    assert!(err.to_string().contains("text.bogus"), "{err}");

    let mut wrong = fx.weights.clone();
    let entry = wrong
        .iter_mut()
        .find(|(n, _, _)| n == "text.embed.weight")
        .unwrap();
    entry.1 = vec![6, 38];
    let err = build(wrong).unwrap_err().to_string();
    assert!(
        err.contains("text.embed.weight") && err.contains("[38, 6]") && err.contains("[6, 38]"),
        "{err}"
    );

    let mut short = fx.weights.clone();
    short
        .iter_mut()
        .find(|(n, _, _)| n == "text.embed.weight")
        .unwrap()
        .2
        .pop();
    assert!(build(short).is_err());
}

#[test]
fn fresh_networks_follow_the_original_init() {
    let config = ModelConfig {
        visual_feat_dim: 16,
        visual_rnn_size: 8,
        visual_kernel_num: 4,
        text_rnn_size: 8,
        text_kernel_num: 4,
        word_dim: 6,
        visual_mapping_layers: vec![0, 12],
        text_mapping_layers: vec![0, 12],
        bow_vocab_size: 34,
        vocab_size: 38,
        ..ModelConfig::default()
    }
    .resolve()
    .unwrap();
    let net =
        DualEncoding::<CpuBackend>::init(config.clone(), 7, None, &Default::default()).unwrap();
    let tensors = net.to_named_tensors().unwrap();
    let get = |name: &str| &tensors.iter().find(|(n, _, _)| n == name).unwrap().2;
    let bound = |name: &str| get(name).iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(bound("text.embed.weight") <= 0.1);
    assert!(bound("video.rnn.weight_ih_l0") <= 1.0 / 8f32.sqrt());
    let xavier = (6.0f32 / (48.0 + 12.0)).sqrt();
    assert!(bound("video.visual_mapping.fc1.weight") <= xavier);
    assert!(bound("video.visual_mapping.fc1.weight") > xavier * 0.8);
    assert!(get("video.visual_mapping.fc1.bias")
        .iter()
        .all(|&x| x == 0.0));
    assert!(get("text.text_mapping.bn_1.running_var")
        .iter()
        .all(|&x| x == 1.0));

    // Word vectors: given rows are copied, missing ones drawn from U(-1, 1).
    let vectors: Vec<Option<Vec<f32>>> = (0..38)
        .map(|i| (i % 2 == 0).then(|| vec![5.0; 6]))
        .collect();
    let net =
        DualEncoding::<CpuBackend>::init(config, 7, Some(&vectors), &Default::default()).unwrap();
    let tensors = net.to_named_tensors().unwrap();
    let embed = &tensors
        .iter()
        .find(|(n, _, _)| n == "text.embed.weight")
        .unwrap()
        .2;
    assert!(embed[..6].iter().all(|&x| x == 5.0));
    assert!(embed[6..12].iter().all(|&x| x.abs() <= 1.0));
}

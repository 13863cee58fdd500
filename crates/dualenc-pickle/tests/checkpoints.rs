//! The reference checkpoints (`fixtures/reference/model_*`, `training/`) in both torch
//! formats: scalars, the argparse `opt`, and every tensor compared EXACTLY (bit for bit)
//! with `weights.safetensors`.

use dualenc_pickle::{DType, Tensor, TensorData, TorchError, TorchFile, TorchFormat, Value};
use safetensors::{Dtype, SafeTensors};
use std::path::PathBuf;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/reference/"
    ))
    .join(rel)
}

fn json(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture(rel)).unwrap()).unwrap()
}

/// Compares a loaded tensor with a safetensors view: same shape, dtype, identical bytes.
fn assert_same(name: &str, tensor: &Tensor, view: &safetensors::tensor::TensorView<'_>) {
    assert_eq!(tensor.shape, view.shape(), "{name}: shape");
    let bytes: Vec<u8> = match (&tensor.data, view.dtype()) {
        (TensorData::F32(v), Dtype::F32) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        (TensorData::I64(v), Dtype::I64) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        (data, dtype) => panic!("{name}: dtype mismatch {dtype:?} vs {data:?}"),
    };
    assert_eq!(bytes, view.data(), "{name}: values differ");
}

fn check_model_checkpoint(dir: &str, file: &str, format: TorchFormat) {
    let ckpt = TorchFile::open(fixture(&format!("{dir}/{file}"))).unwrap();
    assert_eq!(ckpt.format, format);
    assert_eq!(ckpt.get("epoch").and_then(Value::as_i64), Some(3));
    assert_eq!(ckpt.get("best_rsum").and_then(Value::as_f64), Some(123.4));
    assert_eq!(ckpt.get("Eiters").and_then(Value::as_i64), Some(72));

    let opt = ckpt.get("opt").expect("opt");
    let expected_opt = &json(&format!("{dir}/meta.json"))["opt"];
    assert_eq!(&opt.to_json(), expected_opt, "{dir}/{file}: opt");
    assert_eq!(
        opt.get("concate").and_then(Value::as_str),
        expected_opt["concate"].as_str()
    );

    let weights_bytes = std::fs::read(fixture(&format!("{dir}/weights.safetensors"))).unwrap();
    let weights = SafeTensors::deserialize(&weights_bytes).unwrap();
    let model = ckpt
        .get("model")
        .and_then(Value::as_seq)
        .expect("model list");
    assert_eq!(model.len(), 2);
    let mut seen = 0;
    for (prefix, state) in ["video.", "text."].iter().zip(model) {
        for (name, tensor) in ckpt.state_dict(state).unwrap() {
            let full = format!("{prefix}{name}");
            let view = weights
                .tensor(&full)
                .unwrap_or_else(|_| panic!("{full} missing"));
            assert_same(&full, &tensor, &view);
            seen += 1;
        }
    }
    assert_eq!(
        seen,
        weights.len(),
        "{dir}/{file}: every tensor of weights.safetensors"
    );
}

#[test]
fn model_full_checkpoints_match_weights() {
    check_model_checkpoint("model_full", "checkpoint.pth", TorchFormat::Zip);
    check_model_checkpoint("model_full", "checkpoint_legacy.pth", TorchFormat::Legacy);
    check_model_checkpoint(
        "model_full",
        "checkpoint_legacy_cuda.pth",
        TorchFormat::Legacy,
    );
}

#[test]
fn model_reduced_checkpoints_match_weights() {
    check_model_checkpoint("model_reduced", "checkpoint.pth", TorchFormat::Zip);
    check_model_checkpoint(
        "model_reduced",
        "checkpoint_legacy.pth",
        TorchFormat::Legacy,
    );
    check_model_checkpoint(
        "model_reduced",
        "checkpoint_legacy_cuda.pth",
        TorchFormat::Legacy,
    );
}

#[test]
fn cuda_location_is_kept_but_loads_on_cpu() {
    let ckpt = TorchFile::open(fixture("model_full/checkpoint_legacy_cuda.pth")).unwrap();
    let video = &ckpt.get("model").and_then(Value::as_seq).unwrap()[0];
    let (_, first) = video.as_dict().unwrap().first().unwrap();
    let Value::Tensor(tref) = first else {
        panic!("not a tensor: {first:?}")
    };
    assert_eq!(tref.storage.location, "cuda:0");
    assert_eq!(tref.storage.dtype, DType::F32);
    assert!(ckpt.tensor(first).unwrap().as_f32().is_some());
}

#[test]
fn training_checkpoint_loads() {
    let ckpt = TorchFile::open(fixture("training/seed0_model_best.pth.tar")).unwrap();
    let results = json("training/results.json");
    let seed0 = &results["seeds"][0];
    assert_eq!(
        ckpt.get("epoch").and_then(Value::as_i64),
        seed0["best_epoch_1based"].as_i64()
    );
    assert_eq!(
        ckpt.get("Eiters").and_then(Value::as_i64),
        seed0["best_Eiters"].as_i64()
    );
    // results.json rounds the R-sum to 0.1 when printing it.
    let rsum = ckpt.get("best_rsum").and_then(Value::as_f64).unwrap();
    assert!((rsum - seed0["best_val_rsum"].as_f64().unwrap()).abs() < 0.05 + 1e-9);
    let opt = ckpt.get("opt").unwrap().to_json();
    assert_eq!(opt, results["resolved_opt_in_checkpoint"]);

    let model = ckpt.get("model").and_then(Value::as_seq).unwrap();
    let text = ckpt.state_dict(&model[1]).unwrap();
    let embed = text.iter().find(|(n, _)| n == "embed.weight").unwrap();
    let (vocab, dim) = (
        opt["vocab_size"].as_u64().unwrap(),
        opt["word_dim"].as_u64().unwrap(),
    );
    assert_eq!(embed.1.shape, [vocab as usize, dim as usize]);
    assert!(embed.1.as_f32().unwrap().iter().all(|x| x.is_finite()));
}

fn load_bytes(bytes: &[u8]) -> Result<TorchFile, TorchError> {
    TorchFile::from_bytes("broken.pth", bytes)
}

#[test]
fn truncated_checkpoints_are_errors() {
    for file in [
        "model_full/checkpoint.pth",
        "model_full/checkpoint_legacy.pth",
    ] {
        let full = std::fs::read(fixture(file)).unwrap();
        // Every 97th cut plus the last byte: an error, never a panic or a partial success.
        let cuts = (0..full.len()).step_by(97).chain([full.len() - 1]);
        for cut in cuts {
            let err = load_bytes(&full[..cut]).expect_err("a truncated file must not load");
            assert!(err.to_string().contains("broken.pth"), "{err}");
        }
    }
}

#[test]
fn garbage_is_not_a_torch_file() {
    for bytes in [&b""[..], b"hello", b"PK\x03\x04garbage", b"\x80\x02K\x05."] {
        let err = load_bytes(bytes).expect_err("garbage must not load");
        assert!(err.to_string().contains("broken.pth"), "{err}");
    }
    let err = load_bytes(b"not a pickle").unwrap_err();
    assert!(matches!(err, TorchError::NotTorch { .. }), "{err:?}");
}

#[test]
fn zip_without_storage_names_the_key() {
    let full = std::fs::read(fixture("model_full/checkpoint.pth")).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(full)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).unwrap();
        if entry.name() != "checkpoint/data/3" {
            out.raw_copy_file(entry).unwrap();
        }
    }
    let bytes = out.finish().unwrap().into_inner();
    let err = load_bytes(&bytes).unwrap_err();
    assert!(
        matches!(&err, TorchError::Storage { key, .. } if key == "3"),
        "{err:?}"
    );
    assert!(err.to_string().contains("checkpoint/data/3"), "{err}");
}

#[test]
fn non_tensor_values_are_refused_by_tensor() {
    let ckpt = TorchFile::open(fixture("model_full/checkpoint.pth")).unwrap();
    let err = ckpt.tensor(ckpt.get("epoch").unwrap()).unwrap_err();
    assert!(
        err.to_string().contains("expected a tensor, found int"),
        "{err}"
    );
    assert!(ckpt.state_dict(ckpt.get("opt").unwrap()).is_err());
}

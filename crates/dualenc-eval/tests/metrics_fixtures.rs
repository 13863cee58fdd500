//! Parity with `fixtures/reference/metrics/metrics.json`: the original `evaluation.py` run with
//! `np.argsort(kind='stable')` (the `stable_argsort` outputs). Tolerance 1e-9 absolute on
//! every value (the reference sums APs in a different order: differences are ~1e-16).

use dualenc_eval::metrics::{
    fixed_caption_metrics, fixed_caption_ranks, varied_caption_metrics, CaptionVideoMatrix,
    DirectionMetrics,
};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/reference/metrics/metrics.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn matrix(case: &Value) -> (Vec<f64>, usize, usize) {
    let rows = case["errors"].as_array().unwrap();
    let cols = rows[0].as_array().unwrap().len();
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    (values, rows.len(), cols)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn assert_close(name: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= TOL, "{name}: got {got:?}, want {want:?}");
    }
}

fn five(d: &DirectionMetrics) -> Vec<f64> {
    vec![d.r1, d.r5, d.r10, d.medr, d.meanr]
}

#[test]
fn fixed_caption_cases_match_the_stable_reference() {
    let data = fixture();
    let cases = data["fixed_caption_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let n_caption = case["n_caption"].as_u64().unwrap() as usize;
        let want = &case["outputs"]["stable_argsort"];
        let (values, rows, cols) = matrix(case);
        let m = CaptionVideoMatrix::errors(&values, rows, cols).unwrap();
        let got = fixed_caption_metrics(&m, n_caption).unwrap();
        assert_close(
            &format!("{name} t2i"),
            &five(&got.t2v),
            &floats(&want["t2i"]),
        );
        assert_close(
            &format!("{name} i2t"),
            &five(&got.v2t),
            &floats(&want["i2t"]),
        );
        assert_close(name, &[got.t2v.map], &[want["t2i_map"].as_f64().unwrap()]);
        assert_close(name, &[got.v2t.map], &[want["i2t_map"].as_f64().unwrap()]);
        let ranks = fixed_caption_ranks(&m, n_caption).unwrap();
        let as_f64 = |v: &[usize]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        assert_close(
            name,
            &as_f64(&ranks.t2v.first),
            &floats(&want["t2i_ranks0"]),
        );
        assert_close(
            name,
            &as_f64(&ranks.v2t.first),
            &floats(&want["i2t_ranks0"]),
        );
        let rsum = got.t2v.r1 + got.t2v.r5 + got.t2v.r10 + got.v2t.r1 + got.v2t.r5 + got.v2t.r10;
        assert_close(name, &[got.sumr], &[rsum]);
    }
}

#[test]
fn f32_and_score_matrices_give_the_same_ranks() {
    let data = fixture();
    let case = &data["fixed_caption_cases"][3];
    let (values, rows, cols) = matrix(case);
    let n = case["n_caption"].as_u64().unwrap() as usize;
    let want = fixed_caption_metrics(&CaptionVideoMatrix::errors(&values, rows, cols).unwrap(), n)
        .unwrap();
    // The tie case holds values exactly representable in f32.
    let as_f32: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    let got = fixed_caption_metrics(&CaptionVideoMatrix::errors(&as_f32, rows, cols).unwrap(), n)
        .unwrap();
    assert_eq!(got, want);
    let scores: Vec<f64> = values.iter().map(|v| -v).collect();
    let got = fixed_caption_metrics(&CaptionVideoMatrix::scores(&scores, rows, cols).unwrap(), n)
        .unwrap();
    assert_eq!(got, want);
}

#[test]
fn cosine_case_errors_are_negative_cosines() {
    let data = fixture();
    let case = &data["fixed_caption_cases"][1];
    let embs =
        |key: &str| -> Vec<Vec<f64>> { case[key].as_array().unwrap().iter().map(floats).collect() };
    let (videos, captions) = (embs("video_embs"), embs("cap_embs"));
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let (values, rows, cols) = matrix(case);
    for (i, c) in captions.iter().enumerate() {
        for (j, v) in videos.iter().enumerate() {
            let cos: f64 = c.iter().zip(v).map(|(a, b)| a * b).sum::<f64>() / (norm(c) * norm(v));
            assert!((values[i * cols + j] + cos).abs() < 1e-12, "({i}, {j})");
        }
    }
    assert_eq!((rows, cols), (50, 10));
}

#[test]
fn varied_caption_cases_match_the_stable_reference() {
    let data = fixture();
    let cases = data["varied_caption_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let ids = |key: &str| -> Vec<String> {
            case[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        let want = &case["outputs"]["stable_argsort"];
        let (values, rows, cols) = matrix(case);
        let m = CaptionVideoMatrix::errors(&values, rows, cols).unwrap();
        let got = varied_caption_metrics(&m, &ids("caption_ids"), &ids("video_ids")).unwrap();
        let six = |d: &DirectionMetrics| vec![d.r1, d.r5, d.r10, d.medr, d.meanr, d.map];
        assert_close(
            &format!("{name} t2i"),
            &six(&got.t2v),
            &floats(&want["t2i_varied"]),
        );
        assert_close(
            &format!("{name} i2t"),
            &six(&got.v2t),
            &floats(&want["i2t_varied"]),
        );
    }
}

#[test]
fn json_keys_are_t2v_v2t_and_sumr() {
    let values = [0.0f64, 1.0, 1.0, 0.0];
    let m = CaptionVideoMatrix::errors(&values, 2, 2).unwrap();
    let json = serde_json::to_value(fixed_caption_metrics(&m, 1).unwrap()).unwrap();
    for key in ["r1", "r5", "r10", "medr", "meanr", "map"] {
        assert!(
            json["t2v"][key].is_number() && json["v2t"][key].is_number(),
            "{key}"
        );
    }
    assert_eq!(json["sumr"], 600.0);
}

//! Parity with `fixtures/reference/infap/`: NIST's `sample_eval.pl -q` output. The printed
//! report must be byte-identical; every value must match the full-precision run (the script
//! with `%.12f`) within 1e-9 absolute (the fullprec file itself is rounded to 1e-12).

use dualenc_eval::avs::TrecOptions;
use dualenc_eval::infap::{evaluate, InfApReport, Qrels, Run, RunFormat};
use std::path::PathBuf;

const SETS: [&str; 3] = ["basic", "edge", "synth"];
const TOL: f64 = 1e-9;

fn path(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/reference/infap"
    ))
    .join(name)
}

fn report(set: &str) -> InfApReport {
    let qrels = Qrels::read(&path(&format!("{set}.qrels"))).unwrap();
    let (run, format) =
        Run::read_any(&path(&format!("{set}.treceval")), &TrecOptions::default()).unwrap();
    assert_eq!(format, RunFormat::Trec);
    evaluate(&qrels, &run).unwrap()
}

/// (measure, topic, value) of each line of a sample_eval output.
fn lines(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (
                cols[0].to_string(),
                cols[1].to_string(),
                cols[2].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn printed_reports_are_byte_identical() {
    for set in SETS {
        let want = std::fs::read_to_string(path(&format!("{set}.sample_eval.txt"))).unwrap();
        assert_eq!(report(set).to_sample_eval_text(true), want, "{set}");
    }
}

#[test]
fn full_precision_values_match() {
    for set in SETS {
        let want =
            std::fs::read_to_string(path(&format!("{set}.sample_eval.fullprec.txt"))).unwrap();
        // Print our report at full precision by re-formatting its values with {:.12}.
        let got = full_precision_lines(&report(set));
        let want = lines(&want);
        assert_eq!(got.len(), want.len(), "{set}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((&g.0, &g.1), (&w.0, &w.1), "{set}");
            assert!(
                (g.2 - w.2).abs() <= TOL,
                "{set} {} {}: got {} want {}",
                g.0,
                g.1,
                g.2,
                w.2
            );
        }
    }
}

fn full_precision_lines(r: &InfApReport) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    for t in &r.per_topic {
        let topic = t.topic.clone();
        for (m, v) in [
            ("infAP", t.inf_ap),
            ("infNDCG", t.inf_ndcg),
            ("iP10", t.ip10),
            ("iP100", t.ip100),
            ("iP1000", t.ip1000),
            ("iP1000", t.ip1000),
            ("inum_rel_ret", t.inum_rel_ret),
            ("inum_rel", t.inum_rel),
            ("num_ret", t.num_ret as f64),
        ] {
            out.push((m.to_string(), topic.clone(), v));
        }
    }
    let a = &r.all;
    out.push(("infAP".into(), "all".into(), a.inf_ap));
    out.push(("infNDCG".into(), "all".into(), a.inf_ndcg));
    for (i, p) in a.iprec_at_recall.iter().enumerate() {
        out.push((
            format!("iprec@rec{:4.2}", i as f64 / 10.0),
            "all".into(),
            *p,
        ));
    }
    for (m, v) in [
        ("iP10", a.ip10),
        ("iP100", a.ip100),
        ("iP1000", a.ip1000),
        ("iP1000", a.ip1000),
        ("inum_rel_ret", a.inum_rel_ret),
        ("inum_rel", a.inum_rel),
        ("num_ret", a.num_ret as f64),
    ] {
        out.push((m.to_string(), "all".into(), v));
    }
    out
}

#[test]
fn infap_json_summary_matches() {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("infap.json")).unwrap()).unwrap();
    for set in SETS {
        let r = report(set);
        let want = &json["sets"][set];
        // Printed with 4 decimals: compare at half a unit of the last place.
        assert!(
            (r.all.inf_ap - want["infAP_all"].as_f64().unwrap()).abs() <= 5e-5,
            "{set}"
        );
        for t in &r.per_topic {
            let w = want["infAP"][&t.topic].as_f64().unwrap();
            assert!((t.inf_ap - w).abs() <= 5e-5, "{set} {}", t.topic);
        }
    }
}

#[test]
fn skipped_and_unevaluated_topics_follow_the_script() {
    let r = report("basic");
    assert_eq!(r.skipped_topics, vec!["1506".to_string()]);
    let topics: Vec<&str> = r.per_topic.iter().map(|t| t.topic.as_str()).collect();
    assert_eq!(topics, ["1501", "1502", "1503", "1504"]);
}

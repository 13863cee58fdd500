//! Evaluation commands: `infap` (TRECVID xinfAP as NIST's sample_eval.pl) and `txt2xml`
//! (an AVS score file to the TRECVID XML run format, optionally also the trec run).

use crate::common::RootPath;
use anyhow::Context;
use clap::{Args, Subcommand};
use dualenc_eval::avs::{self, ScoreFile, TrecOptions, Txt2XmlOutcome, XmlOptions};
use dualenc_eval::infap::{self, InfApReport, Qrels, Run, RunFormat};
use std::path::PathBuf;

/// The eval subcommands.
#[derive(Subcommand)]
pub enum EvalCommand {
    /// Inferred AP (xinfAP) of a run against TRECVID qrels, as NIST's sample_eval.pl.
    Infap(InfapArgs),
    /// Convert an AVS score file (id.sent.score.txt) to the TRECVID XML run format.
    Txt2xml(Txt2xmlArgs),
}

/// Arguments of `dualenc infap`.
#[derive(Args)]
pub struct InfapArgs {
    /// Qrels file: `TOPIC 0 SHOT STRATUM REL` lines (REL -1 = pooled, not judged).
    qrels: PathBuf,
    /// Run: trec format (`TOPIC Q0 SHOT RANK SCORE TAG`) or an id.sent.score.txt (detected).
    run: PathBuf,
    /// Also show every topic's measures.
    #[arg(long)]
    per_topic: bool,
    /// Print JSON instead of a table.
    #[arg(long, conflicts_with = "sample_eval")]
    json: bool,
    /// Print exactly what `sample_eval.pl [-q]` prints.
    #[arg(long)]
    sample_eval: bool,
    /// For a score-file run: prefix of the topic numbers (TRECVID qrels call topic 501 "1501").
    #[arg(long, default_value = "1")]
    topic_prefix: String,
}

/// Arguments of `dualenc txt2xml`.
#[derive(Args)]
pub struct Txt2xmlArgs {
    #[command(flatten)]
    root: RootPath,
    /// Test collection (its shot list is ROOT/COLLECTION/VideoSets/COLLECTION.txt).
    collection: String,
    /// The score file (`TNUM shot score shot score ...`); the XML is written to SCOREFILE.xml.
    score_file: PathBuf,
    /// TRECVID edition: selects the topics ROOT/COLLECTION/TextData/EDITION.avs.txt.
    #[arg(long, default_value = "tv18")]
    edition: String,
    /// Rewrite an existing XML (otherwise it is left alone).
    #[arg(long)]
    overwrite: bool,
    /// Training type attribute (trType).
    #[arg(long, default_value = "D")]
    trtype: String,
    /// Processing class attribute (class).
    #[arg(long, default_value = "F")]
    pclass: String,
    /// Short participant id (pid).
    #[arg(long, default_value = "RUCMM")]
    pid: String,
    /// Run priority.
    #[arg(long, default_value_t = 1)]
    priority: i64,
    /// Run description (desc).
    #[arg(long, default_value = "place holder")]
    desc: String,
    /// Elapsed seconds per topic (elapsedTime).
    #[arg(long, default_value_t = 25.0)]
    etime: f64,
    /// Shots per topic in the run.
    #[arg(long, default_value_t = 1000)]
    topk: usize,
    /// Also write the trec run SCOREFILE.treceval (topics prefixed with 1, score 9999 - rank + 1).
    #[arg(long)]
    treceval: bool,
}

impl EvalCommand {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Infap(args) => run_infap(args),
            Self::Txt2xml(args) => run_txt2xml(args),
        }
    }
}

fn run_infap(args: InfapArgs) -> anyhow::Result<()> {
    let qrels = Qrels::read(&args.qrels)?;
    let trec = TrecOptions {
        topic_prefix: args.topic_prefix.clone(),
        ..TrecOptions::default()
    };
    let (run, format) = Run::read_any(&args.run, &trec)?;
    if format == RunFormat::ScoreFile {
        tracing::info!(
            "{} read as an id.sent.score.txt (top {}, topics prefixed with '{}')",
            args.run.display(),
            trec.topk,
            trec.topic_prefix
        );
    }
    let report = infap::evaluate(&qrels, &run).with_context(|| {
        format!(
            "evaluating {} against {}",
            args.run.display(),
            args.qrels.display()
        )
    })?;
    if !report.skipped_topics.is_empty() {
        tracing::warn!(
            "topics of the run without qrels, skipped: {}",
            report.skipped_topics.join(", ")
        );
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json_report(&report, args.per_topic))?
        );
    } else if args.sample_eval {
        print!("{}", report.to_sample_eval_text(args.per_topic));
    } else {
        print!("{}", table(&report, args.per_topic));
    }
    Ok(())
}

/// The JSON document: `all`, `skipped_topics` and (with --per-topic) `per_topic`.
fn json_report(report: &InfApReport, per_topic: bool) -> serde_json::Value {
    let mut value = serde_json::json!({
        "all": report.all,
        "skipped_topics": report.skipped_topics,
    });
    if per_topic {
        value["per_topic"] = serde_json::json!(report.per_topic);
    }
    value
}

/// A readable table: one row per topic (with --per-topic) and the `all` row.
fn table(report: &InfApReport, per_topic: bool) -> String {
    let mut out = format!(
        "{:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12} {:>12} {:>8}\n",
        "topic",
        "infAP",
        "infNDCG",
        "iP10",
        "iP100",
        "iP1000",
        "inum_rel_ret",
        "inum_rel",
        "num_ret"
    );
    let row = |topic: &str, v: [f64; 7], num_ret: usize| {
        format!(
            "{topic:>8} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>12.4} {:>12.4} {num_ret:>8}\n",
            v[0], v[1], v[2], v[3], v[4], v[5], v[6]
        )
    };
    if per_topic {
        for t in &report.per_topic {
            let v = [
                t.inf_ap,
                t.inf_ndcg,
                t.ip10,
                t.ip100,
                t.ip1000,
                t.inum_rel_ret,
                t.inum_rel,
            ];
            out += &row(&t.topic, v, t.num_ret);
        }
    }
    let a = &report.all;
    let v = [
        a.inf_ap,
        a.inf_ndcg,
        a.ip10,
        a.ip100,
        a.ip1000,
        a.inum_rel_ret,
        a.inum_rel,
    ];
    out += &row("all", v, a.num_ret);
    out += &format!(
        "mean infAP over {} topics: {:.4}\n",
        report.per_topic.len(),
        a.inf_ap
    );
    out
}

fn run_txt2xml(args: Txt2xmlArgs) -> anyhow::Result<()> {
    let options = XmlOptions {
        trtype: args.trtype,
        pclass: args.pclass,
        pid: args.pid,
        priority: args.priority,
        desc: args.desc,
        etime: args.etime,
        topk: args.topk,
    };
    let outcome = avs::txt2xml(
        &args.root.rootpath,
        &args.collection,
        &args.score_file,
        &args.edition,
        &options,
        args.overwrite,
    )
    .with_context(|| format!("converting {} to XML", args.score_file.display()))?;
    match outcome {
        Txt2XmlOutcome::Written(path) => println!("wrote {}", path.display()),
        Txt2XmlOutcome::Exists(path) => {
            println!("{} exists; use --overwrite to rewrite it", path.display())
        }
    }
    let trec_path = avs::treceval_path(&args.score_file);
    if args.treceval && trec_path.exists() && !args.overwrite {
        println!(
            "{} exists; use --overwrite to rewrite it",
            trec_path.display()
        );
    } else if args.treceval {
        let scores = ScoreFile::read(&args.score_file)?;
        let trec = scores.to_trec(&TrecOptions {
            topk: args.topk,
            ..TrecOptions::default()
        });
        avs::write_file(&trec_path, trec.as_bytes())?;
        println!("wrote {}", trec_path.display());
    }
    Ok(())
}

//! `dualenc index`, `search`, `serve` and `bench-search` end to end on the quick demo's model
//! and synthetic collections: table and JSON output, unknown words, duplicate ids on append,
//! the HTTP service answering and stopping on SIGTERM, and the latency report's figures and
//! refusals (its timings themselves are not asserted).

use crate::common::{dualenc, serve};
use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::PathBuf;

/// A quick demo (synthetic collections + a small trained model) and an index of `demotest`.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        dualenc()
            .args([
                "demo", "--quick", "--epochs", "1", "--device", "cpu", "--dir",
            ])
            .arg(dir.path())
            .assert()
            .success();
        let setup = Setup { dir };
        setup
            .index_cmd("demotest")
            .arg("--ann")
            .assert()
            .success()
            .stdout(predicate::str::contains("demotest"))
            .stdout(predicate::str::contains("batch-128"));
        setup
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("VisualSearch")
    }

    fn index(&self) -> PathBuf {
        self.dir.path().join("test-index")
    }

    /// `dualenc index` of `collection` into the setup's index folder.
    fn index_cmd(&self, collection: &str) -> Command {
        let mut cmd = dualenc();
        cmd.arg("index")
            .arg("--model")
            .arg(self.dir.path().join("run/model_best"))
            .arg("--rootpath")
            .arg(self.root())
            .arg(collection)
            .arg("--out")
            .arg(self.index())
            .args(["--device", "cpu"]);
        cmd
    }

    /// `dualenc search --index INDEX QUERY` plus `extra`.
    fn search(&self, query: &str, extra: &[&str]) -> Command {
        let mut cmd = dualenc();
        cmd.arg("search")
            .arg("--index")
            .arg(self.index())
            .arg(query)
            .args(extra);
        cmd
    }

    /// A training caption: all its words are in the demo's vocabulary (threshold 1).
    fn known_query(&self) -> String {
        let path = self.root().join("demotrain/TextData/demotrain.caption.txt");
        let text = std::fs::read_to_string(path).unwrap();
        let line = text.lines().next().unwrap();
        line.split_once(' ').unwrap().1.to_string()
    }

    fn collection_ids(&self, collection: &str) -> Vec<String> {
        let path = self
            .root()
            .join(collection)
            .join("ImageSets")
            .join(format!("{collection}.txt"));
        let text = std::fs::read_to_string(path).unwrap();
        text.split_whitespace().map(str::to_string).collect()
    }

    fn manifest(&self) -> Value {
        let text = std::fs::read_to_string(self.index().join("manifest.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

fn search_json(setup: &Setup, query: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = setup.search(query, &args).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// Checks ranks 1..=k, scores non-increasing and ids from `ids`; returns the result ids.
fn check_results(results: &[Value], k: usize, ids: &[String]) -> Vec<String> {
    assert_eq!(results.len(), k);
    let mut last = f64::INFINITY;
    let mut found = Vec::new();
    for (n, r) in results.iter().enumerate() {
        assert_eq!(r["rank"].as_u64(), Some(n as u64 + 1));
        let score = r["score"].as_f64().unwrap();
        assert!(score <= last, "scores not descending: {results:?}");
        last = score;
        let id = r["id"].as_str().unwrap().to_string();
        assert!(ids.contains(&id), "{id} is not a demotest video");
        found.push(id);
    }
    found
}

#[test]
fn index_then_search_as_table_and_json() {
    let setup = Setup::new();
    let manifest = setup.manifest();
    assert_eq!(manifest["count"], 20);
    assert_eq!(manifest["collections"][0]["encoding"], "batch-128");
    assert_eq!(manifest["ann"]["count"], 20);
    let ids = setup.collection_ids("demotest");
    let query = setup.known_query();

    let table = setup.search(&query, &["-k", "4"]).assert().success();
    let stdout = String::from_utf8(table.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("rank"), "{stdout}");
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric))
        .collect();
    assert_eq!(rows.len(), 4, "{stdout}");

    let json = search_json(&setup, &query, &["-k", "5"]);
    assert_eq!(json["query"], query.as_str());
    assert_eq!(json["unknown_words"], serde_json::json!([]));
    let took = json["took_ms"].as_f64().expect("took_ms is a number");
    assert!(took.is_finite() && took >= 0.0, "took_ms {took}");
    let exact = check_results(json["results"].as_array().unwrap(), 5, &ids);

    // With 20 rows and ef 128 the HNSW search visits every row: the same ranking.
    let approx = search_json(&setup, &query, &["-k", "5", "--approx"]);
    assert_eq!(
        check_results(approx["results"].as_array().unwrap(), 5, &ids),
        exact
    );
}

#[test]
fn unknown_words_warn_and_all_unknown_fails() {
    let setup = Setup::new();
    let query = format!("{} zzyzxq", setup.known_query());
    let json = search_json(&setup, &query, &["-k", "3"]);
    assert_eq!(json["unknown_words"], serde_json::json!(["zzyzxq"]));
    assert_eq!(json["results"].as_array().unwrap().len(), 3);
    setup
        .search(&query, &[])
        .assert()
        .success()
        .stderr(predicate::str::contains("zzyzxq"));

    setup
        .search("zzyzxq qqqwx", &[])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "none of the query's words is in the vocabulary",
        ))
        .stderr(predicate::str::contains("zzyzxq, qqqwx"));
    setup
        .search("?!", &[])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no words"));
}

#[test]
fn append_refuses_duplicates_and_adds_new_collections() {
    let setup = Setup::new();
    setup
        .index_cmd("demotest")
        .arg("--append")
        .assert()
        .failure()
        .stderr(predicate::str::contains("duplicate video id"))
        .stderr(predicate::str::contains("demotest"));
    setup
        .index_cmd("demotest")
        .assert()
        .failure()
        .stderr(predicate::str::contains("--append"));
    assert_eq!(setup.manifest()["count"], 20);

    setup
        .index_cmd("demoval")
        .args(["--append", "--batch-independent"])
        .assert()
        .success();
    let manifest = setup.manifest();
    assert_eq!(manifest["count"], 30);
    assert_eq!(manifest["collections"][1]["name"], "demoval");
    assert_eq!(manifest["collections"][1]["encoding"], "batch-independent");
    let mut ids = setup.collection_ids("demotest");
    ids.extend(setup.collection_ids("demoval"));
    let json = search_json(&setup, &setup.known_query(), &["-k", "30"]);
    check_results(json["results"].as_array().unwrap(), 30, &ids);
}

/// A raw HTTP/1.1 GET: (status line, body as text).
fn http_get(addr: &str, path: &str) -> (String, String) {
    let (status, _, body) = crate::common::http_get(addr, path, "");
    (status, String::from_utf8(body).expect("a UTF-8 body"))
}

#[test]
fn serve_answers_health_and_search_then_stops_on_sigterm() {
    let setup = Setup::new();
    let (mut server, addr) = serve(&setup.index());

    let (status, body) = http_get(&addr, "/health");
    assert!(status.contains("200"), "{status}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "ok"
    );

    let query = setup.known_query().replace(' ', "+");
    let (status, body) = http_get(&addr, &format!("/api/search?q={query}&k=3"));
    assert!(status.contains("200"), "{status}: {body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    check_results(
        json["results"].as_array().unwrap(),
        3,
        &setup.collection_ids("demotest"),
    );

    let (status, body) = http_get(&addr, "/api/search?q=zzyzxq");
    assert!(status.contains("422"), "{status}: {body}");

    let pid = server.0.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = server.0.wait().unwrap();
    assert!(exit.success(), "serve exited with {exit}");
}

#[test]
fn bench_search_times_queries_and_measures_recall() {
    let setup = Setup::new();
    let query = setup.known_query();
    let words = query.split_whitespace().count() as f64;
    let out = dualenc()
        .arg("bench-search")
        .arg("--index")
        .arg(setup.index())
        .arg(&query)
        .args(["--repeat", "3", "-k", "5", "--approx", "--json"])
        .assert()
        .success();
    let json: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(json["videos"], 20);
    assert_eq!(json["mode"], "approx");
    assert_eq!(json["k"], 5);
    assert_eq!(json["queries"], 1);
    assert_eq!(json["passes"], 3);
    assert_eq!(json["timed"], 3);
    assert_eq!(json["mean_words"].as_f64(), Some(words));
    for part in ["total_ms", "encode_ms", "search_ms"] {
        let p = |name: &str| json[part][name].as_f64().unwrap();
        assert!(
            0.0 <= p("min") && p("min") <= p("p50") && p("p50") <= p("p90"),
            "{part}: {json}"
        );
        assert!(
            p("p90") <= p("p99") && p("p99") <= p("max"),
            "{part}: {json}"
        );
    }
    assert!(json["encode_ms"]["max"].as_f64() <= json["total_ms"]["max"].as_f64());
    // 20 rows and ef 128: the graph search visits every row, so it finds the exact top 5.
    assert_eq!(json["recall_at_k"].as_f64(), Some(1.0));

    // Queries from a file (blank lines skipped) after those given as arguments; a table.
    let file = setup.dir.path().join("queries.txt");
    std::fs::write(&file, format!("{query}\n\n{query} again\n")).unwrap();
    let out = dualenc()
        .arg("bench-search")
        .arg("--index")
        .arg(setup.index())
        .arg(&query)
        .arg("--queries")
        .arg(&file)
        .args(["--repeat", "2"])
        .assert()
        .success();
    let table = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(table.starts_with("3 queries"), "{table}");
    assert!(table.contains("x 2 passes on 20 videos"), "{table}");
    assert!(table.contains("exact search, k 20"), "{table}");
    for row in ["total", "encode", "search", "queries/s"] {
        assert!(table.contains(row), "{row}: {table}");
    }
    assert!(
        !table.contains("recall"),
        "no recall without --approx: {table}"
    );
}

#[test]
fn bench_search_refuses_bad_queries_before_timing() {
    let setup = Setup::new();
    let bench = || {
        let mut cmd = dualenc();
        cmd.arg("bench-search").arg("--index").arg(setup.index());
        cmd
    };
    bench()
        .assert()
        .failure()
        .stderr(predicate::str::contains("no query to time"));
    bench()
        .arg(setup.known_query())
        .arg("zzyzxq qqqwx")
        .assert()
        .failure()
        .stderr(predicate::str::contains("query 2 of 2"))
        .stderr(predicate::str::contains(
            "none of the query's words is in the vocabulary",
        ));
    bench()
        .args(["--queries", "/nonexistent/queries.txt"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("/nonexistent/queries.txt"));
    bench()
        .args(["x", "--repeat", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--repeat"));
}

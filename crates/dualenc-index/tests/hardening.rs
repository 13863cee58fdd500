//! Hostile inputs: a corrupt graph file, a data file truncated while mapped, non-finite
//! embeddings and queries, bad ids in `ids.txt`, absurd manifest values, stale temporary
//! files and file permissions. None may crash the process or rank garbage silently.

mod common;

use std::path::Path;

use common::{unit_rows, MODEL};
use dualenc_index::{
    AnnIndex, AnnParams, ApproxOptions, CollectionMeta, Index, IndexError, IndexWriter, SearchMode,
};

const APPROX: SearchMode = SearchMode::Approx(ApproxOptions { candidates: 0 });

/// Writes an index of `n` random rows (ids `v0`, `v1`, ...) and returns the rows.
fn write_index(dir: &Path, n: usize, dim: usize) -> Vec<f32> {
    let rows = unit_rows(n, dim, n as u64 + dim as u64);
    common::write_index(dir, "c", &ids(n), &rows, dim);
    rows
}

/// Ids `v0`, `v1`, ... `v{n-1}`.
fn ids(n: usize) -> Vec<String> {
    common::ids("v", n)
}

/// An index of `n` rows with an HNSW graph over all of them.
fn write_index_with_graph(dir: &Path, n: usize, dim: usize) -> Vec<f32> {
    let rows = write_index(dir, n, dim);
    let mut index = Index::open(dir).unwrap();
    index.build_ann(AnnParams::default(), &|_| ()).unwrap();
    rows
}

fn hit_ids(index: &Index, query: &[f32], k: usize, mode: SearchMode) -> Vec<String> {
    let hits = index.search(query, k, mode).unwrap();
    hits.into_iter().map(|h| h.id).collect()
}

/// Rewrites `manifest.json` through `edit` on its JSON value.
fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

/// Replaces `embeddings.f32` by `rows` (a new file, as if written by a buggy tool).
fn replace_embeddings(dir: &Path, rows: &[f32]) {
    let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join("embeddings.f32"), bytes).unwrap();
}

/// Approximate search over an index whose graph does not verify must equal exact search.
fn assert_falls_back_to_exact(dir: &Path, rows: &[f32], dim: usize) {
    let index = Index::open(dir).unwrap();
    assert!(index.ann().is_none(), "an unverified graph was loaded");
    for query in rows.chunks_exact(dim).take(5) {
        assert_eq!(
            hit_ids(&index, query, 10, APPROX),
            hit_ids(&index, query, 10, SearchMode::Exact)
        );
    }
}

#[test]
fn a_graph_with_flipped_bytes_is_refused_and_search_falls_back_to_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (n, dim) = (300, 16);
    let rows = write_index_with_graph(dir.path(), n, dim);
    let path = dir.path().join("ann.usearch");
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    for i in 0..300 {
        bytes[64 + i * (len - 64) / 300] ^= 0xA5;
    }
    std::fs::write(&path, bytes).unwrap();

    let info = Index::open(dir.path())
        .unwrap()
        .manifest()
        .ann
        .clone()
        .unwrap();
    let err = AnnIndex::open(&path, &info, dim).unwrap_err();
    assert!(matches!(err, IndexError::AnnRejected { .. }), "{err}");
    assert!(err.to_string().contains("ann.usearch") && err.to_string().contains("XXH3-64"));
    assert_falls_back_to_exact(dir.path(), &rows, dim);
    // Building the graph again repairs the index.
    let mut index = Index::open(dir.path()).unwrap();
    index.build_ann(AnnParams::default(), &|_| ()).unwrap();
    let reopened = Index::open(dir.path()).unwrap();
    assert_eq!(reopened.ann().map(|a| a.len()), Some(n));
}

#[test]
fn a_graph_without_a_recorded_checksum_is_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (n, dim) = (100, 8);
    let rows = write_index_with_graph(dir.path(), n, dim);
    edit_manifest(dir.path(), |m| {
        m["ann"].as_object_mut().unwrap().remove("file");
    });
    assert_falls_back_to_exact(dir.path(), &rows, dim);
}

#[test]
fn a_graph_of_another_index_is_refused_even_with_its_checksum() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_index_with_graph(a.path(), 100, 8);
    let rows = write_index_with_graph(b.path(), 100, 16);
    std::fs::copy(a.path().join("ann.usearch"), b.path().join("ann.usearch")).unwrap();
    let text = std::fs::read_to_string(a.path().join("manifest.json")).unwrap();
    let other: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit_manifest(b.path(), |m| m["ann"] = other["ann"].clone());
    assert_falls_back_to_exact(b.path(), &rows, 16);
}

#[test]
fn embeddings_truncated_while_mapped_give_an_error_not_sigbus() {
    let dir = tempfile::tempdir().unwrap();
    let (n, dim) = (2000, 16);
    let rows = write_index_with_graph(dir.path(), n, dim);
    let index = Index::open(dir.path()).unwrap();
    let query = &rows[..dim];
    assert_eq!(hit_ids(&index, query, 1, SearchMode::Exact), vec!["v0"]);

    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("embeddings.f32"))
        .unwrap();
    file.set_len(8).unwrap();
    for err in [
        index.search(query, 5, SearchMode::Exact).unwrap_err(),
        index.search(query, 5, APPROX).unwrap_err(),
        index.search_batch(query, 5, SearchMode::Exact).unwrap_err(),
        index.scores(query).unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(
            msg.contains("embeddings.f32") && msg.contains("shrank") && msg.contains("8 bytes"),
            "{msg}"
        );
    }
}

#[test]
fn non_finite_rows_are_reported_with_their_row_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let (n, dim) = (50, 4);
    let mut rows = write_index_with_graph(dir.path(), n, dim);
    let query = rows[3 * dim..4 * dim].to_vec();
    rows[3 * dim..4 * dim].fill(f32::NAN);
    rows[7 * dim] = f32::INFINITY;
    replace_embeddings(dir.path(), &rows);

    let mut index = Index::open(dir.path()).unwrap();
    let errors = [
        index.search(&query, 5, SearchMode::Exact).unwrap_err(),
        index
            .search_batch(&query, 5, SearchMode::Exact)
            .unwrap_err(),
        index.scores(&query).unwrap_err(),
        index.search(&query, 5, APPROX).unwrap_err(),
        index.build_ann(AnnParams::default(), &|_| ()).unwrap_err(),
    ];
    for err in errors {
        let msg = err.to_string();
        assert!(
            msg.contains("row 3") && msg.contains("\"v3\"") && msg.contains("embeddings.f32"),
            "{msg}"
        );
    }
    // With row 3 repaired, row 7 (one infinity) is the one reported.
    rows[3 * dim..4 * dim].copy_from_slice(&query);
    replace_embeddings(dir.path(), &rows);
    let index = Index::open(dir.path()).unwrap();
    let msg = index
        .search(&query, 5, SearchMode::Exact)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("row 7") && msg.contains("\"v7\""), "{msg}");
}

#[test]
fn non_finite_queries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 4;
    write_index_with_graph(dir.path(), 40, dim);
    let index = Index::open(dir.path()).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let query = [0.5, bad, 0.5, 0.5];
        let mut batch = vec![1.0, 0.0, 0.0, 0.0];
        batch.extend_from_slice(&query);
        let errors = [
            index.search(&query, 5, SearchMode::Exact).unwrap_err(),
            index.search(&query, 5, APPROX).unwrap_err(),
            index
                .search_batch(&batch, 5, SearchMode::Exact)
                .unwrap_err(),
            index.search_batch(&batch, 5, APPROX).unwrap_err(),
            index.scores(&query).unwrap_err(),
        ];
        for err in errors {
            let msg = err.to_string();
            assert!(
                msg.contains("query") && msg.contains("value 1") && msg.contains("finite"),
                "{msg}"
            );
        }
    }
}

#[test]
fn the_writer_refuses_non_finite_values_naming_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = IndexWriter::create(dir.path(), 3, MODEL).unwrap();
    writer
        .start_collection(CollectionMeta::new("c", "f"))
        .unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let err = writer.add("video9", &[0.0, 0.0, bad]).unwrap_err();
        assert!(matches!(err, IndexError::NonFinite { position: 2, .. }));
        assert!(err.to_string().contains("\"video9\""), "{err}");
    }
}

#[test]
fn blank_and_whitespace_ids_in_ids_txt_are_refused_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    write_index(dir.path(), 3, 2);
    for (text, line) in [
        ("v0\n\nv2\n", 2),
        ("v0\nv1\n \n", 3),
        ("v0 \nv1\nv2\n", 1),
        ("v0\nv\t1\nv2\n", 2),
    ] {
        std::fs::write(dir.path().join("ids.txt"), text).unwrap();
        let msg = Index::open(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("ids.txt") && msg.contains(&format!("line {line}")),
            "{text:?}: {msg}"
        );
    }
    // Windows line ends are still read.
    std::fs::write(dir.path().join("ids.txt"), "v0\r\nv1\r\nv2\r\n").unwrap();
    assert_eq!(Index::open(dir.path()).unwrap().ids(), &ids(3)[..]);
}

#[test]
fn the_writer_refuses_ids_with_whitespace() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = IndexWriter::create(dir.path(), 2, MODEL).unwrap();
    writer
        .start_collection(CollectionMeta::new("c", "f"))
        .unwrap();
    for id in ["", " ", "a b", "a\tb", "a\u{a0}b", "trailing "] {
        let err = writer.add(id, &[1.0, 0.0]).unwrap_err();
        assert!(matches!(err, IndexError::InvalidId { .. }), "{id:?}: {err}");
    }
}

#[test]
fn absurd_manifest_numbers_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    write_index(dir.path(), 3, 2);
    let cases: [fn(&mut serde_json::Value); 3] = [
        // Collection counts whose sum overflows.
        |m| {
            m["collections"][0]["count"] = serde_json::json!(usize::MAX);
            let second = m["collections"][0].clone();
            m["collections"].as_array_mut().unwrap().push(second);
        },
        // A dimension whose row size in bytes overflows, with no row.
        |m| {
            m["dim"] = serde_json::json!(usize::MAX);
            m["count"] = 0.into();
            m["collections"][0]["count"] = 0.into();
        },
        // Rows times dimension overflow.
        |m| {
            m["count"] = serde_json::json!(usize::MAX);
            m["collections"][0]["count"] = serde_json::json!(usize::MAX);
        },
    ];
    let original = std::fs::read(dir.path().join("manifest.json")).unwrap();
    for (i, edit) in cases.iter().enumerate() {
        std::fs::write(dir.path().join("manifest.json"), &original).unwrap();
        edit_manifest(dir.path(), edit);
        let msg = Index::open(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("manifest.json") && msg.contains("inconsistent manifest"),
            "case {i}: {msg}"
        );
    }
}

#[test]
fn huge_k_and_candidate_counts_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let (n, dim) = (60, 8);
    let rows = write_index_with_graph(dir.path(), n, dim);
    let index = Index::open(dir.path()).unwrap();
    let query = &rows[..dim];
    let wide = SearchMode::Approx(ApproxOptions {
        candidates: usize::MAX,
    });
    for mode in [SearchMode::Exact, APPROX, wide] {
        assert_eq!(index.search(query, usize::MAX, mode).unwrap().len(), n);
        assert_eq!(index.search(query, 3, mode).unwrap().len(), 3);
    }
}

/// A dead process id: a child that has exited and been waited for.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn writers_remove_temporary_files_left_by_killed_runs() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir
        .path()
        .join(format!(".dualenc-{}-aB3dEf.tmp", dead_pid()));
    std::fs::write(&dead, b"").unwrap();
    let mine = dir
        .path()
        .join(format!(".dualenc-{}-zZ9yY8.tmp", std::process::id()));
    std::fs::write(&mine, b"").unwrap();
    write_index(dir.path(), 3, 2);
    assert!(!dead.exists(), "create left {}", dead.display());
    assert!(mine.exists(), "a live process's temporary file was removed");

    let dead = dir
        .path()
        .join(format!(".dualenc-{}-Q1w2E3.tmp", dead_pid()));
    std::fs::write(&dead, b"").unwrap();
    let mut writer = IndexWriter::append(dir.path(), MODEL).unwrap();
    writer
        .start_collection(CollectionMeta::new("d", "f"))
        .unwrap();
    writer.add("w", &[1.0, 0.0]).unwrap();
    writer.commit().unwrap();
    assert!(!dead.exists(), "append left {}", dead.display());
}

#[cfg(unix)]
#[test]
fn index_files_get_the_permissions_of_ordinary_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    write_index_with_graph(dir.path(), 50, 4);
    let probe = dir.path().join("probe");
    std::fs::write(&probe, b"").unwrap();
    let mode = |name: &str| {
        let meta = std::fs::metadata(dir.path().join(name)).unwrap();
        meta.permissions().mode() & 0o777
    };
    let expected = mode("probe");
    for name in ["manifest.json", "embeddings.f32", "ids.txt", "ann.usearch"] {
        assert_eq!(mode(name), expected, "{name}: {:o}", mode(name));
    }
}

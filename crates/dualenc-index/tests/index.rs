//! Integration tests of the index: on-disk round trip, append, validation errors, exact
//! search against a brute-force sort, and recall of the approximate mode.

mod common;

use common::{ids, unit_rows, write_index, MODEL};
use dualenc_index::exact::{self, Scored};
use dualenc_index::{
    measure_recall, AnnParams, ApproxOptions, CollectionMeta, Index, IndexError, IndexWriter,
    SearchMode, Storage,
};

/// Brute force: every score, sorted by descending score then ascending index.
fn brute_force(rows: &[f32], dim: usize, query: &[f32], k: usize) -> Vec<usize> {
    let mut all: Vec<Scored> = rows
        .chunks_exact(dim)
        .enumerate()
        .map(|(index, row)| Scored {
            index,
            score: row.iter().zip(query).map(|(a, b)| a * b).sum(),
        })
        .collect();
    all.sort_by(exact::rank_order);
    all.into_iter().take(k).map(|s| s.index).collect()
}

#[test]
fn round_trip_keeps_ids_embeddings_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (dim, n) = (8, 50);
    let rows = unit_rows(n, dim, 1);
    let names = ids("video", n);
    write_index(dir.path(), "msrvtt10ktest", &names, &rows, dim);

    let index = Index::open(dir.path()).unwrap();
    assert_eq!(index.len(), n);
    assert_eq!(index.dim(), dim);
    assert_eq!(index.ids(), &names[..]);
    assert_eq!(index.embeddings().unwrap(), &rows[..]);
    let m = index.manifest();
    assert_eq!(m.model, MODEL);
    assert_eq!(m.collections.len(), 1);
    assert_eq!(m.collections[0].name, "msrvtt10ktest");
    assert_eq!(m.collections[0].count, n);
    assert_eq!(m.collections[0].encoding.as_deref(), Some("batch-128"));

    // A stored row is its own best match (unit vectors, distinct directions).
    let hits = index
        .search(&rows[7 * dim..8 * dim], 3, SearchMode::Exact)
        .unwrap();
    assert_eq!(
        (hits[0].index, hits[0].id.as_str(), hits[0].rank),
        (7, "video7", 1)
    );
    assert!(
        (hits[0].score - 1.0).abs() < 1e-5,
        "score {}",
        hits[0].score
    ); // float sum tolerance
    assert_eq!(hits[2].rank, 3);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn append_adds_a_collection_after_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 4;
    let (first, second) = (unit_rows(30, dim, 2), unit_rows(20, dim, 3));
    write_index(dir.path(), "tgif", &ids("tgif", 30), &first, dim);

    let mut writer = IndexWriter::append(dir.path(), MODEL).unwrap();
    writer
        .start_collection(CollectionMeta::new("msrvtt", "resnet-152"))
        .unwrap();
    writer.add_batch(&ids("msr", 20), &second).unwrap();
    let manifest = writer.commit().unwrap();
    assert_eq!(manifest.count, 50);

    let index = Index::open(dir.path()).unwrap();
    let counts: Vec<_> = index
        .manifest()
        .collections
        .iter()
        .map(|c| (c.name.as_str(), c.count))
        .collect();
    assert_eq!(counts, vec![("tgif", 30), ("msrvtt", 20)]);
    assert_eq!(&index.embeddings().unwrap()[..30 * dim], &first[..]);
    assert_eq!(&index.embeddings().unwrap()[30 * dim..], &second[..]);
    assert_eq!(index.ids()[29], "tgif29");
    assert_eq!(index.ids()[30], "msr0");
}

#[test]
fn duplicate_ids_are_refused_with_the_id_and_its_collection() {
    let dir = tempfile::tempdir().unwrap();
    write_index(dir.path(), "tgif", &ids("v", 5), &unit_rows(5, 4, 4), 4);

    let mut writer = IndexWriter::append(dir.path(), MODEL).unwrap();
    writer
        .start_collection(CollectionMeta::new("other", "f"))
        .unwrap();
    writer.add("w0", &[1.0, 0.0, 0.0, 0.0]).unwrap();
    let err = writer.add("v3", &[0.0, 1.0, 0.0, 0.0]).unwrap_err();
    assert!(
        matches!(&err, IndexError::DuplicateId { id, collection } if id == "v3" && collection == "tgif")
    );
    assert!(err.to_string().contains("\"v3\""), "{err}");
    let err = writer.add("w0", &[0.0, 1.0, 0.0, 0.0]).unwrap_err();
    assert!(
        err.to_string().contains("\"w0\"") && err.to_string().contains("other"),
        "{err}"
    );
    // Nothing was committed: the index still has its 5 rows.
    drop(writer);
    assert_eq!(Index::open(dir.path()).unwrap().len(), 5);
}

#[test]
fn writer_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = IndexWriter::create(dir.path(), 3, MODEL).unwrap();
    let err = writer.add("a", &[1.0, 0.0, 0.0]).unwrap_err();
    assert!(err.to_string().contains("before any collection"), "{err}");
    let err = writer
        .start_collection(CollectionMeta::new(" ", "f"))
        .unwrap_err();
    assert!(err.to_string().contains("needs a name"), "{err}");
    writer
        .start_collection(CollectionMeta::new("c", "f"))
        .unwrap();
    let err = writer.add("a", &[1.0, 0.0]).unwrap_err();
    assert!(matches!(
        err,
        IndexError::DimMismatch {
            expected: 3,
            found: 2,
            ..
        }
    ));
    let err = writer.add("a", &[1.0, f32::NAN, 0.0]).unwrap_err();
    assert!(matches!(err, IndexError::NonFinite { position: 1, .. }));
    let err = writer.add("a\nb", &[1.0, 0.0, 0.0]).unwrap_err();
    assert!(matches!(err, IndexError::InvalidId { .. }));
    writer.add("a", &[1.0, 0.0, 0.0]).unwrap();
    writer.commit().unwrap();

    let err = IndexWriter::create(dir.path(), 3, MODEL).err().unwrap();
    assert!(err.to_string().contains("already holds an index"), "{err}");
    let err = IndexWriter::append(dir.path(), "another-model")
        .err()
        .unwrap();
    assert!(matches!(err, IndexError::ModelMismatch { .. }), "{err}");
}

#[test]
fn truncated_embeddings_file_is_reported_with_sizes() {
    let dir = tempfile::tempdir().unwrap();
    write_index(dir.path(), "c", &ids("v", 10), &unit_rows(10, 4, 5), 4);
    let path = dir.path().join("embeddings.f32");
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(10 * 4 * 4 - 4).unwrap();

    let err = Index::open(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, IndexError::SizeMismatch { count: 10, .. }));
    assert!(
        msg.contains("embeddings.f32") && msg.contains("160 bytes") && msg.contains("156 bytes"),
        "{msg}"
    );
}

#[test]
fn short_ids_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_index(dir.path(), "c", &ids("v", 3), &unit_rows(3, 2, 6), 2);
    std::fs::write(dir.path().join("ids.txt"), "v0\nv1\n").unwrap();
    let msg = Index::open(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("ids.txt") && msg.contains("3 lines") && msg.contains("2 lines"),
        "{msg}"
    );
}

#[test]
fn rows_left_by_an_interrupted_commit_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let rows = unit_rows(4, 2, 7);
    write_index(dir.path(), "c", &ids("v", 4), &rows, 2);
    // As if a commit renamed longer data files and died before writing the manifest.
    let mut longer = std::fs::read(dir.path().join("embeddings.f32")).unwrap();
    longer.extend_from_slice(&[0u8; 8]);
    std::fs::write(dir.path().join("embeddings.f32"), longer).unwrap();
    std::fs::write(dir.path().join("ids.txt"), "v0\nv1\nv2\nv3\nx\n").unwrap();

    let index = Index::open(dir.path()).unwrap();
    assert_eq!(index.len(), 4);
    assert_eq!(index.embeddings().unwrap(), &rows[..]);
}

#[test]
fn manifest_version_mismatch_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_index(dir.path(), "c", &ids("v", 2), &unit_rows(2, 2, 8), 2);
    let path = dir.path().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"format_version\": 1", "\"format_version\": 2"),
    )
    .unwrap();

    let err = Index::open(dir.path()).unwrap_err();
    assert!(matches!(
        err,
        IndexError::VersionMismatch {
            found: 2,
            expected: 1,
            ..
        }
    ));
    assert!(err.to_string().contains("manifest.json"), "{err}");
}

#[test]
fn exact_top_k_equals_a_brute_force_sort() {
    let (n, dim, k) = (3000, 32, 50);
    let rows = unit_rows(n, dim, 9);
    let queries = unit_rows(7, dim, 10);
    let batch = exact::top_k_batch(&rows, dim, &queries, k).unwrap();
    for (q, query) in queries.chunks_exact(dim).enumerate() {
        let expected = brute_force(&rows, dim, query, k);
        let single = exact::top_k(&rows, dim, query, k).unwrap();
        assert_eq!(
            single.iter().map(|s| s.index).collect::<Vec<_>>(),
            expected,
            "query {q}"
        );
        assert_eq!(
            batch[q].iter().map(|s| s.index).collect::<Vec<_>>(),
            expected,
            "batch query {q}"
        );
        for (a, b) in single.iter().zip(&batch[q]) {
            // sgemm and the 16-lane dot sum in different orders: 1e-5 absolute on unit vectors.
            assert!(
                (a.score - b.score).abs() < 1e-5,
                "{} vs {}",
                a.score,
                b.score
            );
        }
    }
    let all = exact::scores(&rows, dim, &queries[..dim]).unwrap();
    assert_eq!(all.len(), n);
    assert_eq!(
        all[single_best(&all)],
        exact::top_k(&rows, dim, &queries[..dim], 1).unwrap()[0].score
    );
}

fn single_best(scores: &[f32]) -> usize {
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = i;
        }
    }
    best
}

#[test]
fn equal_scores_rank_the_lower_row_first() {
    // Rows 1, 3 and 4 are the same vector; k = 2 must keep rows 1 and 3, in that order.
    let rows = [0.0, 1.0, 1.0, 0.0, 0.6, 0.8, 1.0, 0.0, 1.0, 0.0];
    for top in [
        exact::top_k(&rows, 2, &[1.0, 0.0], 2).unwrap(),
        exact::top_k_batch(&rows, 2, &[1.0, 0.0], 2)
            .unwrap()
            .remove(0),
    ] {
        assert_eq!(top.iter().map(|s| s.index).collect::<Vec<_>>(), vec![1, 3]);
    }
}

#[test]
fn approximate_search_reaches_the_recall_of_exact_search() {
    let dir = tempfile::tempdir().unwrap();
    let (n, dim) = (5000, 64);
    write_index(dir.path(), "c", &ids("v", n), &unit_rows(n, dim, 11), dim);
    let mut index = Index::open(dir.path()).unwrap();
    let err = index
        .search(
            &vec![0.0; dim],
            10,
            SearchMode::Approx(ApproxOptions::default()),
        )
        .unwrap_err();
    assert!(matches!(err, IndexError::NoAnn { .. }));

    let params = AnnParams {
        storage: Storage::F32,
        ..AnnParams::default()
    };
    index.build_ann(params, &|_| ()).unwrap();
    let queries = unit_rows(100, dim, 12);
    let options = ApproxOptions::default();
    // HNSW (default M 16, ef 128) on 5,000 random 64-d points, k' = k: recall@10 >= 0.9.
    let recall = measure_recall(&index, &queries, 10, options).unwrap();
    assert!(recall >= 0.9, "recall@10 = {recall}");

    // The graph is saved and reopened with the index.
    let reopened = Index::open(dir.path()).unwrap();
    assert_eq!(reopened.manifest().ann.as_ref().map(|a| a.count), Some(n));
    assert_eq!(reopened.ann().map(|a| a.len()), Some(n));
    let again = measure_recall(&reopened, &queries, 10, options).unwrap();
    assert!(again >= 0.9, "recall@10 after reopening = {again}");
}

#[test]
fn rows_appended_after_the_graph_are_found_and_added_on_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 16;
    write_index(
        dir.path(),
        "c",
        &ids("v", 300),
        &unit_rows(300, dim, 13),
        dim,
    );
    let mut index = Index::open(dir.path()).unwrap();
    index.build_ann(AnnParams::default(), &|_| ()).unwrap();
    drop(index);

    let target = unit_rows(1, dim, 14);
    let mut writer = IndexWriter::append(dir.path(), MODEL).unwrap();
    writer
        .start_collection(CollectionMeta::new("d", "f"))
        .unwrap();
    writer.add("new", &target).unwrap();
    writer.commit().unwrap();

    let mut index = Index::open(dir.path()).unwrap();
    let approx = SearchMode::Approx(ApproxOptions::default());
    assert_eq!(index.search(&target, 1, approx).unwrap()[0].id, "new");
    assert_eq!(index.ann().map(|a| a.len()), Some(300));
    index.build_ann(AnnParams::default(), &|_| ()).unwrap();
    assert_eq!(index.ann().map(|a| a.len()), Some(301));
    assert_eq!(index.search(&target, 1, approx).unwrap()[0].id, "new");
}

#[test]
fn an_empty_index_opens_searches_and_refuses_a_graph() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = IndexWriter::create(dir.path(), 4, MODEL).unwrap();
    writer
        .start_collection(CollectionMeta::new("c", "f"))
        .unwrap();
    writer.commit().unwrap();
    let mut index = Index::open(dir.path()).unwrap();
    assert!(index.is_empty());
    assert!(index
        .search(&[1.0, 0.0, 0.0, 0.0], 5, SearchMode::Exact)
        .unwrap()
        .is_empty());
    let err = index.build_ann(AnnParams::default(), &|_| ()).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

//! Helpers shared by the index's integration tests: random unit rows, ids, and a one-collection
//! index written through the public writer.

use std::path::Path;

use dualenc_index::{CollectionMeta, IndexWriter};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// The model reference every test index records.
pub const MODEL: &str = "runs/model_best.pth.tar";

/// `n x dim` random unit vectors (Gaussian directions), row-major.
pub fn unit_rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows: Vec<f32> = (0..n * dim)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect();
    for row in rows.chunks_exact_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    rows
}

/// `prefix0`, `prefix1`, ... `prefix{n-1}`.
pub fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Writes an index of one collection `name` holding `rows` under `ids`.
pub fn write_index(dir: &Path, name: &str, ids: &[String], rows: &[f32], dim: usize) {
    let mut writer = IndexWriter::create(dir, dim, MODEL).unwrap();
    writer
        .start_collection(CollectionMeta::new(name, "resnet-152").with_encoding("batch-128"))
        .unwrap();
    writer.add_batch(ids, rows).unwrap();
    writer.commit().unwrap();
}

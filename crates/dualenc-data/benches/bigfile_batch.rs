//! Training-batch gather from a realistic BigFile: 200,000 frames x 2048 f32 (1.6 GB,
//! generated in a temp folder and deleted at the end), ~30 frames per video; one batch is
//! 128 random videos, each cut to 64 frames, zero-padded to the longest, as one contiguous
//! B x T x D buffer (`BigFile::gather_padded`, rayon over videos).
//!
//! Run: `cargo bench -p dualenc-data --bench bigfile_batch`. Throughput is in batches/s
//! ("elem/s"). The generated file needs 1.6 GB of disk and, to measure memory rather than
//! disk, as much free page cache.

use criterion::{Criterion, Throughput};
use dualenc_data::{BigFile, BigFileWriter, Video2Frames};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::{Duration, Instant};

const FRAMES: usize = 200_000;
const DIM: usize = 2048;
const BATCH: usize = 128;
const MAX_FRAMES: usize = 64;
/// Batches drawn in advance, cycled through while measuring (keeps the RNG out of the timing).
const PREPARED_BATCHES: usize = 64;

/// The generated BigFile (in its temp folder) and the frame rows of every video.
struct BenchData {
    _dir: tempfile::TempDir,
    file: BigFile,
    videos: Vec<Vec<usize>>,
}

/// Writes the BigFile: videos of 10 to 50 frames (mean 30), each row filled with a cheap
/// deterministic value.
fn generate(rng: &mut ChaCha8Rng) -> BenchData {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let mut writer = BigFileWriter::create(dir.path(), DIM).expect("writer");
    let mut row = vec![0f32; DIM];
    let mut video = 0;
    while writer.len() < FRAMES {
        let frames = rng.random_range(10..=50).min(FRAMES - writer.len());
        for k in 0..frames {
            row.fill(writer.len() as f32 * 1e-3);
            writer
                .push(&format!("video{video}_{k}"), &row)
                .expect("push");
        }
        video += 1;
    }
    writer.finish().expect("finish");
    let file = BigFile::open(dir.path()).expect("open");
    eprintln!(
        "generated {} frames x {DIM} ({:.1} GB) in {:.1?}",
        file.len(),
        (file.len() * DIM * 4) as f64 / 1e9,
        started.elapsed()
    );
    let frame_ids = file.ids().iter().map(String::as_str);
    let v2f = Video2Frames::from_frame_ids(frame_ids, dir.path()).expect("video2frames");
    let videos = v2f
        .iter()
        .map(|(_, frames)| frames.iter().filter_map(|f| file.index_of(f)).collect())
        .collect();
    BenchData {
        _dir: dir,
        file,
        videos,
    }
}

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(2019);
    let data = generate(&mut rng);
    let batches: Vec<Vec<&[usize]>> = (0..PREPARED_BATCHES)
        .map(|_| {
            data.videos
                .choose_multiple(&mut rng, BATCH)
                .map(Vec::as_slice)
                .collect()
        })
        .collect();
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    let mut group = c.benchmark_group("bigfile_batch");
    group.throughput(Throughput::Elements(1));
    let mut out = Vec::new();
    let mut next = 0;
    group.bench_function("gather_padded_128x64x2048", |b| {
        b.iter(|| {
            let batch = &batches[next % PREPARED_BATCHES];
            next += 1;
            let steps = data
                .file
                .gather_padded(batch, MAX_FRAMES, &mut out)
                .expect("gather");
            black_box((steps, out.as_ptr()));
        })
    });
    group.finish();
    c.final_summary();
    // `data` drops here: the temp folder and its 1.6 GB go with it.
}

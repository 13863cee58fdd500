//! All retrieval metrics of MSR-VTT's test set size: 59,800 captions x 2,990 videos
//! (20 captions per video), both directions, recalls, ranks and mAP, on a random f32 matrix.
//! The original (numpy, one argsort per row) takes about 72 s on a 2-core machine.

use criterion::{criterion_group, criterion_main, Criterion};
use dualenc_eval::metrics::{fixed_caption_metrics, CaptionVideoMatrix};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const VIDEOS: usize = 2_990;
const N_CAPTION: usize = 20;

fn msrvtt_sized(c: &mut Criterion) {
    let captions = VIDEOS * N_CAPTION;
    let mut rng = ChaCha8Rng::seed_from_u64(2019);
    let errors: Vec<f32> = (0..captions * VIDEOS)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let matrix = CaptionVideoMatrix::errors(&errors, captions, VIDEOS).expect("valid shape");
    let mut group = c.benchmark_group("metrics");
    group.sample_size(10);
    group.bench_function("fixed_caption_metrics_59800x2990", |b| {
        b.iter(|| fixed_caption_metrics(black_box(&matrix), N_CAPTION).expect("valid matrix"))
    });
    group.finish();
}

criterion_group!(benches, msrvtt_sized);
criterion_main!(benches);

//! Speed of the synthetic generator.
//!
//! - `generate/in_memory_default`: `SynthCollection::generate` with the default config
//!   (600/100/200 videos, 5 captions, 64-d, 6-24 frames, 6 AVS topics): labels, captions,
//!   topics, qrels (frames are rendered on demand).
//! - `generate/write_default`: the same plus rendering every frame and writing the three
//!   collections into a temp folder (`dualenc synth --avs 6`).
//! - `generate/render_2048d`: rendering 100 videos of 30 frames at the paper's 2048-d
//!   (throughput in frames/s).
//!
//! Run: `cargo bench -p dualenc-synth --bench generate`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dualenc_synth::{generate, FrameRange, SplitSizes, SynthCollection, SynthConfig};
use std::hint::black_box;

fn default_with_avs() -> SynthConfig {
    SynthConfig {
        avs: 6,
        ..SynthConfig::default()
    }
}

fn bench_generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.sample_size(20);
    let cfg = default_with_avs();
    group.bench_function("in_memory_default", |b| {
        b.iter(|| SynthCollection::generate(black_box(&cfg)).expect("generate"))
    });
    group.bench_function("write_default", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temp dir"),
            |dir| generate(dir.path(), &cfg).expect("write"),
            criterion::BatchSize::PerIteration,
        )
    });
    let big = SynthConfig {
        videos: SplitSizes {
            train: 98,
            val: 1,
            test: 1,
        },
        dim: 2048,
        frames: FrameRange { min: 30, max: 30 },
        ..SynthConfig::default()
    };
    let data = SynthCollection::generate(&big).expect("generate");
    group.throughput(Throughput::Elements(100 * 30));
    group.bench_function("render_2048d", |b| {
        b.iter(|| {
            data.splits
                .iter()
                .flat_map(|s| &s.videos)
                .map(|v| data.frames(v).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_generate);
criterion_main!(benches);

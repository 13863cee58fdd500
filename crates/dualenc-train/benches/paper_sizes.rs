//! The paper's network sizes on the Flex CPU backend: one training step at batch 128, and
//! eval-mode encoding of 128 videos and of 128 sentences (the original on this CPU: 5.9 s
//! per step, 63 videos/s, 300 sentences/s; `fixtures/reference/cpu_speed.json`).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use dualenc_dataset::{collate_pairs, CaptionInput, VideoFrames, VIDEO_MAX_LEN};
use dualenc_model::optim::Optimizer;
use dualenc_model::{
    train_step, CpuAutodiffBackend, CpuBackend, DualEncoding, ModelConfig, OptimConfig,
    PaddingMode, TripletLossConfig,
};
use dualenc_train::speed::{random_pairs, BenchShape};

fn paper_sizes(c: &mut Criterion) {
    let config = ModelConfig::default().resolve().expect("paper config");
    let shape = BenchShape::default();
    let (videos, captions) = random_pairs(&config, &shape, 1).expect("bench data");
    let v: Vec<&VideoFrames> = videos.iter().collect();
    let t: Vec<&CaptionInput> = captions.iter().collect();
    let device = Default::default();
    let mut group = c.benchmark_group("paper_sizes");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));

    let eval = DualEncoding::<CpuBackend>::init(config.clone(), 0, None, &device).expect("init");
    group.bench_function("encode_128_videos", |b| {
        b.iter(|| {
            eval.encode_videos(&v, shape.batch, PaddingMode::Batch)
                .expect("encode")
        })
    });
    group.bench_function("encode_128_sentences", |b| {
        b.iter(|| {
            eval.encode_captions(&t, shape.batch, PaddingMode::Batch)
                .expect("encode")
        })
    });
    drop(eval);

    let batch = collate_pairs(&v, &t, VIDEO_MAX_LEN).expect("collate");
    let loss = TripletLossConfig::default();
    let mut model =
        Some(DualEncoding::<CpuAutodiffBackend>::init(config, 0, None, &device).expect("init"));
    let mut adam = Optimizer::new(OptimConfig::default());
    group.bench_function("train_step_batch_128", |b| {
        b.iter(|| {
            let current = model.take().expect("model");
            let (next, report) = train_step(current, &mut adam, &batch, &loss).expect("step");
            model = Some(next);
            report
        })
    });
    group.finish();
}

criterion_group!(benches, paper_sizes);
criterion_main!(benches);

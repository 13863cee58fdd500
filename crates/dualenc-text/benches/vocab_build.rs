//! Vocabulary building on 200,000 generated captions of about 10 words each (the size of
//! MSR-VTT's training captions): counting `clean_str(caption.lower())` tokens, then the
//! bow and rnn vocabularies and the counter file text at threshold 5.

use criterion::{criterion_group, criterion_main, Criterion};
use dualenc_text::{TextStyle, WordCounter};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

/// Captions over a 20,000-word synthetic lexicon with a skewed (roughly Zipf) word
/// frequency, capitals and punctuation, 8-12 words each.
fn captions(n: usize) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let lexicon: Vec<String> = (0..20_000)
        .map(|i| format!("w{}{}", ["a", "bo", "cat", "dune"][i % 4], i))
        .collect();
    (0..n)
        .map(|_| {
            let len = rng.random_range(8..=12);
            let words: Vec<String> = (0..len)
                .map(|_| {
                    let u: f64 = rng.random();
                    let word = &lexicon[((lexicon.len() as f64).powf(u) as usize) - 1];
                    if rng.random_bool(0.1) {
                        word.to_uppercase()
                    } else {
                        word.clone()
                    }
                })
                .collect();
            format!("{}.", words.join(" "))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let captions = captions(200_000);
    let mut group = c.benchmark_group("vocab_build");
    group.sample_size(10);
    group.bench_function("200k_captions_threshold5", |b| {
        b.iter(|| {
            let counter = WordCounter::from_captions(black_box(&captions));
            let bow = counter.vocabulary(TextStyle::Bow, 5);
            let rnn = counter.vocabulary(TextStyle::Rnn, 5);
            black_box((bow.len(), rnn.len(), counter.counter_text(5).len()))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

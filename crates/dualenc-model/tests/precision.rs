//! Mixed precision (bf16 operands, f32 accumulation for the large products) against the
//! original's f32 numbers on `fixtures/reference/model_{full,reduced}`: close, and not equal
//! (the products really ran in bf16).
//!
//! Tolerances: bf16 keeps 8 significant bits, so each operand is off by up to 2^-9 (0.2%)
//! relatively. Embeddings (unit vectors) within 1e-2 absolute (measured: 2.5e-3 to 3.8e-3),
//! the loss within 5% relative (measured: 0.14% and 1.8%; the hardest negative of the
//! max-violation loss amplifies small score changes), the whole gradient (all parameters as
//! one vector) within 10% of its norm (measured: 1.5% and 4.0%; single tensors whose
//! gradient is a sum with much cancellation, such as the small text GRU's, are further off).
//! f32 stays at the parity tests' 1e-5. A wrong cast or a lost gradient is off by 100%.

mod common;

use common::{max_abs_diff, pair_batch, Fixture};
use dualenc_model::named::tensor_to_vec;
use dualenc_model::train_step::compute_gradients;
use dualenc_model::{
    CpuAutodiffBackend, CpuBackend, DualEncoding, Mode, PaddingMode, Precision, TripletLossConfig,
};

const EMBEDDING_TOL: f32 = 1e-2;
const LOSS_TOL: f32 = 5e-2;
const GRADIENT_TOL: f32 = 1e-1;
const FIXTURES: [&str; 2] = ["model_full", "model_reduced"];

/// Eval-mode video and text embeddings of the fixture's batch in `precision`.
fn embeddings(fx: &Fixture, precision: Precision) -> [Vec<f32>; 2] {
    let _scope = precision.scope();
    let model = DualEncoding::<CpuBackend>::from_named_tensors(
        fx.config(),
        fx.weights.clone(),
        &Default::default(),
    )
    .unwrap();
    let trace = model
        .trace_pairs(&pair_batch(fx), Mode::Eval, PaddingMode::Batch)
        .unwrap();
    [trace.video.embedding, trace.text.embedding].map(|e| tensor_to_vec(e).unwrap())
}

#[test]
fn bf16_embeddings_stay_close_to_the_f32_reference() {
    for name in FIXTURES {
        let fx = Fixture::load(name);
        let want = [&fx.eval["video_emb"].1, &fx.eval["text_emb"].1];
        let f32s = embeddings(&fx, Precision::F32);
        let bf16s = embeddings(&fx, Precision::Bf16);
        for ((side, want), (f32s, bf16s)) in ["video", "text"]
            .iter()
            .zip(want)
            .zip(f32s.iter().zip(&bf16s))
        {
            let f32_diff = max_abs_diff(f32s, want);
            let bf16_diff = max_abs_diff(bf16s, want);
            println!("{name} {side} embedding: f32 {f32_diff:e}, bf16 {bf16_diff:e}");
            assert!(f32_diff <= 1e-5, "{name} {side} f32: {f32_diff}");
            assert!(
                bf16_diff <= EMBEDDING_TOL,
                "{name} {side} bf16: largest difference {bf16_diff}"
            );
            assert!(
                bf16_diff > 1e-5,
                "{name} {side}: bf16 gave the f32 numbers ({bf16_diff}); were the products cast?"
            );
        }
    }
}

/// `|a - b| / |b|` over all entries.
fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    let diff: f32 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let norm: f32 = b.iter().map(|y| y * y).sum();
    (diff / norm.max(f32::MIN_POSITIVE)).sqrt()
}

#[test]
fn a_bf16_training_step_stays_close_to_the_f32_reference() {
    for name in FIXTURES {
        let fx = Fixture::load(name);
        let model = DualEncoding::<CpuAutodiffBackend>::from_named_tensors(
            fx.config(),
            fx.weights.clone(),
            &Default::default(),
        )
        .unwrap();
        let gradients = {
            let _bf16 = Precision::Bf16.scope();
            compute_gradients(&model, &pair_batch(&fx), &TripletLossConfig::default()).unwrap()
        };
        let loss_ref = fx.train["loss"].1[0];
        let loss_err = (gradients.loss - loss_ref).abs() / loss_ref;
        println!("{name} loss: {loss_err:e} relative");
        assert!(
            loss_err <= LOSS_TOL,
            "{name}: bf16 loss {} vs {loss_ref}",
            gradients.loss
        );
        let (mut ours, mut reference) = (Vec::new(), Vec::new());
        for g in &gradients.grads {
            ours.extend(tensor_to_vec(g.grad.clone()).unwrap());
            reference.extend_from_slice(&fx.train[&format!("grad.{}", g.name)].1);
        }
        let err = relative_error(&ours, &reference);
        println!("{name} gradient: {err:e}");
        assert!(
            err <= GRADIENT_TOL,
            "{name}: the bf16 gradient is off by {err} of its norm"
        );
    }
}

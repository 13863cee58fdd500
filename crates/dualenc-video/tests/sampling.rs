//! Frame sampling: the original extractor's rule and the rate option.

use dualenc_video::sampling::{frame_id, integer_fps, FrameSampler};

/// The original's rule, written as it is in video-cnn-feat.
#[allow(clippy::manual_is_multiple_of)] // the original's expression, verbatim
fn original_keeps(fps: u64, k: u64) -> bool {
    k % fps == 0 || k % fps == fps / 2
}

#[test]
fn rate_two_is_the_original_rule_exactly() {
    for fps in 1..=240u64 {
        for frame_rate in [fps as f64, fps as f64 + 0.5, fps as f64 + 0.97] {
            let sampler = FrameSampler::new(frame_rate, 2.0);
            assert_eq!(sampler.fps(), fps);
            for k in 0..5000 {
                assert_eq!(
                    sampler.keeps(k),
                    original_keeps(fps, k),
                    "fps {frame_rate}, frame {k}"
                );
            }
        }
    }
}

#[test]
fn frame_rates_are_truncated_with_a_guard() {
    assert_eq!(integer_fps(29.97), 29);
    assert_eq!(integer_fps(7.5), 7);
    assert_eq!(integer_fps(0.0), 1);
    assert_eq!(integer_fps(0.5), 1);
    assert_eq!(integer_fps(f64::NAN), 1);
    let kept: Vec<u64> = (0..15)
        .filter(|&k| FrameSampler::new(7.5, 2.0).keeps(k))
        .collect();
    assert_eq!(kept, vec![0, 3, 7, 10, 14]);
}

#[test]
fn other_rates_keep_floor_of_sample_times() {
    let kept = |frame_rate: f64, rate: f64, n: u64| -> Vec<u64> {
        let s = FrameSampler::new(frame_rate, rate);
        (0..n).filter(|&k| s.keeps(k)).collect()
    };
    assert_eq!(kept(10.0, 1.0, 30), vec![0, 10, 20]);
    assert_eq!(kept(25.0, 4.0, 26), vec![0, 6, 12, 18, 25]);
    assert_eq!(kept(30.0, 0.5, 130), vec![0, 60, 120]);
    assert_eq!(kept(5.0, 10.0, 6), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(kept(0.0, 2.0, 3), vec![0, 1, 2]);
}

#[test]
fn frame_ids_carry_the_source_frame_number() {
    assert_eq!(frame_id("video7", 37), "video7_37");
}

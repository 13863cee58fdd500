//! Mutations of byte strings, structure-blind but biased towards what breaks parsers:
//! boundary integers in little- and big-endian, digit runs, truncation, duplicated or spliced
//! ranges, and the bytes that delimit text formats.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Largest input produced (parsers must bound their work by the input, not the other way).
pub const MAX_LEN: usize = 1 << 16;

const INTERESTING: [u64; 12] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x7fff_ffff_ffff_ffff,
    0xffff_ffff_ffff_ffff,
    1 << 40,
];

const TOKENS: [&[u8]; 14] = [
    b" ",
    b"\n",
    b"\t",
    b"#",
    b"\x00",
    b"{",
    b"}",
    b"[",
    b"]",
    b"'",
    b"\"",
    b":",
    b"99999999999999999999",
    b"-1",
];

/// A mutation of one of `seeds` (one to eight stacked edits).
pub fn mutate(rng: &mut ChaCha8Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = if seeds.is_empty() {
        Vec::new()
    } else {
        seeds[rng.random_range(0..seeds.len())].clone()
    };
    for _ in 0..rng.random_range(1..=8) {
        edit(rng, &mut data, seeds);
    }
    data.truncate(MAX_LEN);
    data
}

fn edit(rng: &mut ChaCha8Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let len = data.len();
    let at = |rng: &mut ChaCha8Rng, extra: usize| rng.random_range(0..len + extra);
    match rng.random_range(0..9) {
        0 if len > 0 => {
            let i = at(rng, 0);
            data[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = at(rng, 0);
            data[i] = rng.random();
        }
        2 if len > 0 => {
            let value = INTERESTING[rng.random_range(0..INTERESTING.len())];
            let width = [1usize, 2, 4, 8][rng.random_range(0..4)];
            let bytes = if rng.random() {
                value.to_le_bytes()
            } else {
                value.to_be_bytes()
            };
            let i = at(rng, 0);
            let end = (i + width).min(len);
            data[i..end].copy_from_slice(&bytes[..end - i]);
        }
        3 => {
            let token = TOKENS[rng.random_range(0..TOKENS.len())];
            let i = at(rng, 1);
            data.splice(i..i, token.iter().copied());
        }
        4 if len > 0 => {
            let i = at(rng, 0);
            let n = rng.random_range(1..=(len - i).min(64));
            data.drain(i..i + n);
        }
        5 if len > 0 => {
            let i = at(rng, 0);
            let n = rng.random_range(1..=(len - i).min(256));
            let copy: Vec<u8> = data[i..i + n].to_vec();
            let j = at(rng, 1);
            data.splice(j..j, copy);
        }
        6 if len > 0 => data.truncate(at(rng, 0)),
        7 if !seeds.is_empty() => {
            let other = &seeds[rng.random_range(0..seeds.len())];
            if !other.is_empty() {
                let i = rng.random_range(0..other.len());
                let n = rng.random_range(1..=(other.len() - i).min(512));
                let j = at(rng, 1);
                data.splice(j..j, other[i..i + n].iter().copied());
            }
        }
        _ => {
            let digit = b'0' + rng.random_range(0..10u8);
            let i = at(rng, 1);
            data.splice(i..i, std::iter::repeat_n(digit, rng.random_range(1..24)));
        }
    }
}

//! bf16 matrix products on the CPU's tile units (Intel AMX, Sapphire Rapids and later).
//!
//! One `tdpbf16ps` instruction multiplies a 16x32 bf16 tile by a 32x16 one and adds the
//! 16x16 f32 products to an accumulator tile: 8192 multiply-adds, about 16 times what an
//! AVX-512 f32 FMA stream does in the same cycles. The product here is the mixed-precision
//! one of [`super::Precision::Bf16`]: operands rounded to bf16 (round to nearest even), f32
//! accumulation, the result rounded to bf16 and returned as f32, as the bf16 product of the
//! GPU backends and of the emulated fallback.
//!
//! The operands are packed once per product into 1 KiB bf16 tiles, padded with zeros: `A` in
//! 16-row strips, `B` in 16-column blocks in the pair-interleaved ("VNNI") order the
//! instruction reads. A task computes a panel of `C` in 32x32 blocks (four accumulator tiles,
//! two tiles of `A` and two of `B` per 32-wide step of `K`); rayon spreads the panels over the
//! cores.
//!
//! Linux hands the tile registers to a process only on request (`arch_prctl`); [`available`]
//! checks the CPU and asks once. `DUALENC_NO_AMX=1` turns the units off (the emulated path
//! then runs, for comparison).

use std::ops::Range;
use std::sync::OnceLock;

use rayon::prelude::*;

/// Rows of a tile (of `A`, of an accumulator), and `K` pairs in a tile of `B`.
const TILE_ROWS: usize = 16;
/// bf16 values along `K` in one tile row (64 bytes).
const TILE_K: usize = 32;
/// Rows and columns of the block of `C` held in the four accumulator tiles.
const BLOCK: usize = 2 * TILE_ROWS;
/// Rows and columns of `C` per task (a multiple of [`BLOCK`]).
const PANEL: usize = 256;
/// Steps of `K` per pass over a task's blocks (a multiple of [`TILE_K`]): 32 rows of `A` by
/// 512 (32 KiB) stay in the L1 cache while the task walks along the panel's columns, whose
/// 256 columns of `B` (256 KiB) stay in L2.
const K_BLOCK: usize = 512;
/// Row strips or column blocks packed per task: 256 rows or columns, so that each task reads
/// 1 KiB runs of a strided operand (runs of 64 bytes would miss the TLB on every row).
const PACK_GROUP: usize = 16;

/// Whether this process can use the tile units: the CPU has AMX-TILE and AMX-BF16, the kernel
/// granted the tile state, and `DUALENC_NO_AMX` is not set. Checked once.
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| std::env::var_os("DUALENC_NO_AMX").is_none() && tiles::enable())
}

/// A read-only matrix view into a slice with element `(i, j)` at
/// `offset + i row_stride + j col_stride`: row-major, transposed or a strided window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strided<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
    offset: usize,
}

impl<'a> Strided<'a> {
    /// The view, or `None` if it addresses elements past the end of `data`.
    pub(crate) fn new(
        data: &'a [f32],
        [rows, cols]: [usize; 2],
        [row_stride, col_stride]: [usize; 2],
        offset: usize,
    ) -> Option<Self> {
        let last = (rows.checked_sub(1)?)
            .checked_mul(row_stride)?
            .checked_add((cols.checked_sub(1)?).checked_mul(col_stride)?)?
            .checked_add(offset)?;
        (last < data.len()).then_some(Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
            offset,
        })
    }

    /// Rows and columns.
    pub(crate) fn dims(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// Element `(i, j)` (inside the matrix).
    #[cfg(test)]
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[self.offset + i * self.row_stride + j * self.col_stride]
    }

    /// Elements `cols` of row `i`, when rows are contiguous (`col_stride == 1`).
    fn row(&self, i: usize, cols: Range<usize>) -> &'a [f32] {
        debug_assert_eq!(self.col_stride, 1);
        &self.data[self.offset + i * self.row_stride..][cols]
    }

    /// Elements `rows` of column `j`, when columns are contiguous (`row_stride == 1`).
    fn column(&self, j: usize, rows: Range<usize>) -> &'a [f32] {
        debug_assert_eq!(self.row_stride, 1);
        &self.data[self.offset + j * self.col_stride..][rows]
    }
}

/// `x` rounded to the nearest bf16 (ties to even), as its bits; NaN stays NaN.
fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16;
    // A select rather than an early return, so that the packing loops vectorise.
    if x.is_nan() {
        0x7fc0
    } else {
        rounded
    }
}

/// `x` rounded to the nearest bf16, as an f32.
fn round_bf16(x: f32) -> f32 {
    f32::from_bits(u32::from(to_bf16(x)) << 16)
}

/// `a b` (`[m, k]` by `[k, n]`, row-major `[m, n]` result) on the tile units, or `None` when
/// they are not [`available`] or the inner sizes differ.
pub(crate) fn matmul(a: &Strided<'_>, b: &Strided<'_>) -> Option<Vec<f32>> {
    if !available() || a.dims()[1] != b.dims()[0] {
        return None;
    }
    Some(tiled_product(a, b, TILE_UNITS))
}

/// Adds the products of a range of `K` steps to a 32x32 block (see [`tiles::block`]).
type BlockFn = fn(&[u16], &[u16], usize, Range<usize>, &mut [f32]);

/// What multiplies packed 32x32 blocks: the tile units, or (in tests, on any CPU) a scalar
/// model of `tdpbf16ps` that checks the packing and blocking around it.
#[derive(Clone, Copy)]
struct BlockKernel {
    /// Prepares the calling thread (loads the tile configuration).
    configure: fn(),
    /// Multiplies one block.
    block: BlockFn,
    /// Releases what `configure` took.
    release: fn(),
}

/// The hardware kernel; only run when [`available`].
const TILE_UNITS: BlockKernel = BlockKernel {
    configure: tiles::configure,
    block: tiles::block,
    release: tiles::release,
};

/// `a b` with equal inner sizes: packs the operands and spreads the panels over the cores,
/// each multiplied by `kernel`.
fn tiled_product(a: &Strided<'_>, b: &Strided<'_>, kernel: BlockKernel) -> Vec<f32> {
    let ([m, k], [_, n]) = (a.dims(), b.dims());
    let sizes = Padded::new(m, k, n);
    let packed_a = pack_a(a, &sizes);
    let packed_b = pack_b(b, &sizes);
    let mut c = vec![0.0f32; m * n];
    let panels: Vec<(usize, usize)> = (0..sizes.m)
        .step_by(PANEL)
        .flat_map(|i0| (0..sizes.n).step_by(PANEL).map(move |j0| (i0, j0)))
        .collect();
    let out = OutPtr(c.as_mut_ptr());
    let product = Product {
        sizes: &sizes,
        a: &packed_a,
        b: &packed_b,
        out: &out,
        m,
        n,
        kernel,
    };
    panels.into_par_iter().for_each(|(i0, j0)| {
        product.panel(i0..(i0 + PANEL).min(sizes.m), j0..(j0 + PANEL).min(sizes.n));
    });
    c
}

/// The product's sizes, `m` and `n` rounded up to whole blocks and `k` to whole tiles.
#[derive(Debug)]
struct Padded {
    m: usize,
    k: usize,
    n: usize,
}

impl Padded {
    fn new(m: usize, k: usize, n: usize) -> Self {
        Self {
            m: m.div_ceil(BLOCK) * BLOCK,
            k: k.div_ceil(TILE_K) * TILE_K,
            n: n.div_ceil(BLOCK) * BLOCK,
        }
    }
}

/// `A` as strips of 16 rows, each strip `k / 32` tiles of 16 rows by 32 bf16 stored one
/// after the other (so that a tile is 1 KiB of consecutive memory: rows `2 k` bytes apart
/// would all fall in the same few L1 cache sets).
fn pack_a(a: &Strided<'_>, sizes: &Padded) -> Vec<u16> {
    let mut packed = vec![0u16; sizes.m * sizes.k];
    let group = PACK_GROUP * TILE_ROWS;
    let k = sizes.k;
    // Position of element `(r, j)` of the group (row `r` counted from the group's first).
    let slot = move |r: usize, j: usize| {
        (r / TILE_ROWS) * TILE_ROWS * k
            + (j / TILE_K) * TILE_ROWS * TILE_K
            + (r % TILE_ROWS) * TILE_K
            + j % TILE_K
    };
    packed
        .par_chunks_mut(group * k)
        .enumerate()
        .for_each(|(g, out)| {
            let rows = (g * group)..((g + 1) * group).min(a.rows);
            if a.row_stride == 1 {
                // Columns are contiguous: convert a column's run, spread it over the rows.
                let mut line = vec![0u16; rows.len()];
                for j in 0..a.cols {
                    convert(a.column(j, rows.clone()), &mut line);
                    for (r, v) in line.iter().enumerate() {
                        out[slot(r, j)] = *v;
                    }
                }
            } else {
                let mut line = vec![0u16; k];
                for (r, i) in rows.enumerate() {
                    convert(a.row(i, 0..a.cols), &mut line[..a.cols]);
                    for (j0, run) in (0..k).step_by(TILE_K).zip(line.chunks_exact(TILE_K)) {
                        out[slot(r, j0)..][..TILE_K].copy_from_slice(run);
                    }
                }
            }
        });
    packed
}

/// `B` as 16-column blocks, each `k / 2` rows of 16 `(B[2p][j], B[2p + 1][j])` pairs.
fn pack_b(b: &Strided<'_>, sizes: &Padded) -> Vec<u16> {
    let mut packed = vec![0u16; sizes.n * sizes.k];
    let block_len = TILE_ROWS * sizes.k;
    packed
        .par_chunks_mut(PACK_GROUP * block_len)
        .enumerate()
        .for_each(|(g, out)| {
            let j0 = g * PACK_GROUP * TILE_ROWS;
            let cols = j0..(j0 + PACK_GROUP * TILE_ROWS).min(b.cols);
            if b.row_stride == 1 {
                pack_b_from_columns(b, cols, sizes.k, out);
            } else {
                pack_b_from_rows(b, cols, sizes.k, out);
            }
        });
    packed
}

/// [`pack_b`] for a `B` whose columns are contiguous (`x Wᵀ`): the block's 16 columns are
/// converted into rows of a scratch buffer, then interleaved into the block row by row.
fn pack_b_from_columns(b: &Strided<'_>, cols: Range<usize>, k: usize, out: &mut [u16]) {
    let mut scratch = vec![0u16; TILE_ROWS * k];
    for (block, first) in out
        .chunks_exact_mut(TILE_ROWS * k)
        .zip(cols.clone().step_by(TILE_ROWS))
    {
        let width = TILE_ROWS.min(cols.end - first);
        for (c, line) in scratch.chunks_exact_mut(k).take(width).enumerate() {
            convert(b.column(first + c, 0..b.rows), &mut line[..b.rows]);
        }
        for (p, row) in block.chunks_exact_mut(2 * TILE_ROWS).enumerate() {
            for (c, pair) in row.chunks_exact_mut(2).take(width).enumerate() {
                pair.copy_from_slice(&scratch[c * k + 2 * p..][..2]);
            }
        }
    }
}

/// [`pack_b`] for a `B` whose rows are contiguous: rows are converted in pairs and their
/// elements interleaved into every block of the group.
fn pack_b_from_rows(b: &Strided<'_>, cols: Range<usize>, k: usize, out: &mut [u16]) {
    let width = cols.len();
    let mut pair_rows = vec![0u16; 2 * width];
    for p in 0..b.rows.div_ceil(2) {
        let (even, odd) = pair_rows.split_at_mut(width);
        convert(b.row(2 * p, cols.clone()), even);
        if 2 * p + 1 < b.rows {
            convert(b.row(2 * p + 1, cols.clone()), odd);
        } else {
            odd.fill(0);
        }
        for (block, c0) in out
            .chunks_exact_mut(TILE_ROWS * k)
            .zip((0..width).step_by(TILE_ROWS))
        {
            let row = &mut block[p * 2 * TILE_ROWS..][..2 * TILE_ROWS];
            let sources = even[c0..].iter().zip(&odd[c0..]);
            for (pair, (e, o)) in row.chunks_exact_mut(2).zip(sources) {
                pair[0] = *e;
                pair[1] = *o;
            }
        }
    }
}

/// `dst[i] = bf16(src[i])`, for contiguous `src` (a loop the compiler vectorises).
fn convert(src: &[f32], dst: &mut [u16]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = to_bf16(*s);
    }
}

/// The result's buffer, shared by the tasks; each writes only its own panel.
struct OutPtr(*mut f32);
// SAFETY: the tasks of `matmul` write disjoint panels of the buffer, which outlives them.
unsafe impl Sync for OutPtr {}

/// The packed operands and the result's buffer, shared by the tasks.
struct Product<'p> {
    sizes: &'p Padded,
    a: &'p [u16],
    b: &'p [u16],
    out: &'p OutPtr,
    m: usize,
    n: usize,
    kernel: BlockKernel,
}

impl Product<'_> {
    /// One task: accumulates the panel `rows x cols` of `C` over `K` in blocks of
    /// [`K_BLOCK`], then writes it out.
    fn panel(&self, rows: Range<usize>, cols: Range<usize>) {
        let k = self.sizes.k;
        let blocks_per_row = cols.len() / BLOCK;
        // One 32x32 block after the other (rows 128 bytes apart: no cache-set conflicts).
        let mut acc = vec![0.0f32; rows.len() * cols.len()];
        (self.kernel.configure)();
        for k0 in (0..k).step_by(K_BLOCK) {
            let steps = k0..(k0 + K_BLOCK).min(k);
            for (bi, i0) in rows.clone().step_by(BLOCK).enumerate() {
                let a = &self.a[i0 * k..][..BLOCK * k];
                for (bj, j0) in cols.clone().step_by(BLOCK).enumerate() {
                    let b = &self.b[j0 * k..][..BLOCK * k];
                    let c = &mut acc[(bi * blocks_per_row + bj) * BLOCK * BLOCK..][..BLOCK * BLOCK];
                    (self.kernel.block)(a, b, k, steps.clone(), c);
                }
            }
        }
        (self.kernel.release)();
        for (index, block) in acc.chunks_exact(BLOCK * BLOCK).enumerate() {
            let (bi, bj) = (index / blocks_per_row, index % blocks_per_row);
            self.store(rows.start + bi * BLOCK, cols.start + bj * BLOCK, block);
        }
    }

    /// Writes the real (unpadded) part of a 32x32 block, rounded to bf16.
    fn store(&self, i0: usize, j0: usize, block: &[f32]) {
        let rows = BLOCK.min(self.m.saturating_sub(i0));
        let cols = BLOCK.min(self.n.saturating_sub(j0));
        for r in 0..rows {
            let src = &block[r * BLOCK..][..cols];
            // SAFETY: row `i0 + r < m`, columns `j0..j0 + cols <= n` of the `m x n` buffer;
            // no other task writes this panel.
            let dst = unsafe {
                std::slice::from_raw_parts_mut(self.out.0.add((i0 + r) * self.n + j0), cols)
            };
            for (d, s) in dst.iter_mut().zip(src) {
                *d = round_bf16(*s);
            }
        }
    }
}

/// The tile instructions (x86-64 Linux); elsewhere [`available`] is false and these never run.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tiles {
    use std::arch::asm;
    use std::arch::x86_64::{__cpuid_count, __get_cpuid_max};

    use super::{BLOCK, TILE_K, TILE_ROWS};
    use std::ops::Range;

    /// Whether the CPU has AMX-TILE and AMX-BF16 and Linux granted this process the tile
    /// state (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`).
    pub(super) fn enable() -> bool {
        let (max_leaf, _) = __get_cpuid_max(0);
        if max_leaf < 7 {
            return false;
        }
        let features = __cpuid_count(7, 0).edx;
        let (amx_bf16, amx_tile) = (features & (1 << 22) != 0, features & (1 << 24) != 0);
        amx_bf16 && amx_tile && request_tile_state()
    }

    fn request_tile_state() -> bool {
        const SYS_ARCH_PRCTL: i64 = 158;
        const ARCH_REQ_XCOMP_PERM: u64 = 0x1023;
        const XFEATURE_XTILEDATA: u64 = 18;
        let ret: i64;
        // SAFETY: the arch_prctl system call only changes this process's permissions; the
        // registers the `syscall` instruction clobbers are declared.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret == 0
    }

    /// The tile palette: eight tiles of 16 rows of 64 bytes.
    #[repr(C, align(64))]
    struct Config([u8; 64]);

    const CONFIG: Config = {
        let mut bytes = [0u8; 64];
        bytes[0] = 1; // palette 1
        let mut t = 0;
        while t < 8 {
            bytes[16 + 2 * t] = (2 * TILE_K) as u8; // bytes per row (low byte of a u16)
            bytes[48 + t] = TILE_ROWS as u8;
            t += 1;
        }
        Config(bytes)
    };

    /// Loads the palette into this thread's tile configuration.
    pub(super) fn configure() {
        // SAFETY: only reached when `enable` returned true; the 64-byte config is valid.
        unsafe { asm!("ldtilecfg [{}]", in(reg) CONFIG.0.as_ptr(), options(nostack)) };
    }

    /// Releases this thread's tile state.
    pub(super) fn release() {
        // SAFETY: as `configure`.
        unsafe { asm!("tilerelease", options(nostack)) };
    }

    /// Adds the products of `K` steps `steps` to the 32x32 block `c` (row-major): `a` holds
    /// two packed 16-row strips of `A`, `b` two packed 16-column blocks of `B`, both of `k`
    /// steps in tiles of 1 KiB.
    pub(super) fn block(a: &[u16], b: &[u16], k: usize, steps: Range<usize>, c: &mut [f32]) {
        assert!(a.len() >= BLOCK * k && b.len() >= BLOCK * k && steps.end <= k);
        assert!(steps.start.is_multiple_of(TILE_K) && k.is_multiple_of(TILE_K));
        assert!(c.len() >= BLOCK * BLOCK);
        let (s_ab, sc) = (2 * TILE_K, 4 * BLOCK); // row strides in bytes
        let (a0, a1) = (a.as_ptr(), a[TILE_ROWS * k..].as_ptr());
        let (b0, b1) = (b.as_ptr(), b[TILE_ROWS * k..].as_ptr());
        let c = c.as_mut_ptr();
        // SAFETY: the configuration is loaded; the tile of step `s` of a strip or block is the
        // 1 KiB at element `16 s` (inside `a`, `b` as asserted above); the accumulators are
        // the four 16x16 quarters of `c` (rows 128 bytes apart, inside `c`).
        unsafe {
            let (c0, c1) = (c, c.add(TILE_ROWS));
            let (c2, c3) = (
                c.add(TILE_ROWS * BLOCK),
                c.add(TILE_ROWS * BLOCK + TILE_ROWS),
            );
            asm!(
                "tileloadd tmm0, [{c0} + {sc}*1]",
                "tileloadd tmm1, [{c1} + {sc}*1]",
                "tileloadd tmm2, [{c2} + {sc}*1]",
                "tileloadd tmm3, [{c3} + {sc}*1]",
                c0 = in(reg) c0, c1 = in(reg) c1, c2 = in(reg) c2, c3 = in(reg) c3,
                sc = in(reg) sc,
                options(nostack),
            );
            for s in steps.step_by(TILE_K) {
                let tile = s * TILE_ROWS;
                asm!(
                    "tileloadd tmm4, [{a0} + {st}*1]",
                    "tileloadd tmm5, [{a1} + {st}*1]",
                    "tileloadd tmm6, [{b0} + {st}*1]",
                    "tileloadd tmm7, [{b1} + {st}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    a0 = in(reg) a0.add(tile),
                    a1 = in(reg) a1.add(tile),
                    b0 = in(reg) b0.add(tile),
                    b1 = in(reg) b1.add(tile),
                    st = in(reg) s_ab,
                    options(nostack),
                );
            }
            asm!(
                "tilestored [{c0} + {sc}*1], tmm0",
                "tilestored [{c1} + {sc}*1], tmm1",
                "tilestored [{c2} + {sc}*1], tmm2",
                "tilestored [{c3} + {sc}*1], tmm3",
                c0 = in(reg) c0, c1 = in(reg) c1, c2 = in(reg) c2, c3 = in(reg) c3,
                sc = in(reg) sc,
                options(nostack),
            );
        }
    }
}

/// Without x86-64 Linux there are no tile units: nothing is enabled, nothing runs.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod tiles {
    use std::ops::Range;

    pub(super) fn enable() -> bool {
        false
    }

    pub(super) fn configure() {}

    pub(super) fn release() {}

    pub(super) fn block(_: &[u16], _: &[u16], _: usize, _: Range<usize>, _: &mut [f32]) {
        unreachable!("the tile units are never enabled on this platform")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a b` with bf16-rounded operands summed in f64, then rounded to bf16.
    fn expected(a: &Strided<'_>, b: &Strided<'_>) -> Vec<f32> {
        let ([m, k], [_, n]) = (a.dims(), b.dims());
        let bf = |v: f32| f64::from(round_bf16(v));
        (0..m)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| {
                let sum: f64 = (0..k).map(|p| bf(a.at(i, p)) * bf(b.at(p, j))).sum();
                round_bf16(sum as f32)
            })
            .collect()
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn rounds_to_nearest_even_bf16() {
        assert_eq!(round_bf16(1.0 + 1.0 / 1024.0), 1.0);
        assert_eq!(round_bf16(1.0 + 3.0 / 256.0), 1.0 + 1.0 / 64.0);
        assert_eq!(to_bf16(-2.0), 0xc000);
        assert!(round_bf16(f32::NAN).is_nan());
        assert_eq!(round_bf16(f32::INFINITY), f32::INFINITY);
    }

    #[test]
    fn views_past_their_slice_are_refused() {
        let data = [0.0f32; 6];
        assert!(Strided::new(&data, [2, 3], [3, 1], 0).is_some());
        assert!(Strided::new(&data, [3, 2], [1, 3], 0).is_some());
        assert!(Strided::new(&data, [2, 3], [3, 1], 1).is_none());
        assert!(Strided::new(&data, [0, 3], [3, 1], 0).is_none());
    }

    /// A `rows x cols` view of `data`, stored row-major or as its transpose.
    fn view(data: &[f32], [rows, cols]: [usize; 2], transposed: bool) -> Strided<'_> {
        let strides = if transposed { [1, rows] } else { [cols, 1] };
        Strided::new(data, [rows, cols], strides, 0).unwrap()
    }

    /// `tdpbf16ps` on the packed layout, in scalar code: the four 16x16 quarters of `c` gain
    /// the bf16 products of their strip of `a` and block of `b` over `steps`, summed in f32.
    fn scalar_block(a: &[u16], b: &[u16], k: usize, steps: Range<usize>, c: &mut [f32]) {
        let bf = |bits: u16| f32::from_bits(u32::from(bits) << 16);
        for (i, j) in (0..BLOCK).flat_map(|i| (0..BLOCK).map(move |j| (i, j))) {
            let strip = &a[(i / TILE_ROWS) * TILE_ROWS * k..];
            let block = &b[(j / TILE_ROWS) * TILE_ROWS * k..];
            let (r, col) = (i % TILE_ROWS, j % TILE_ROWS);
            for s in steps.clone().step_by(TILE_K) {
                let (a_tile, b_tile) = (&strip[s * TILE_ROWS..], &block[s * TILE_ROWS..]);
                for x in 0..TILE_K {
                    let b_value = b_tile[(x / 2) * 2 * TILE_ROWS + 2 * col + x % 2];
                    c[i * BLOCK + j] += bf(a_tile[r * TILE_K + x]) * bf(b_value);
                }
            }
        }
    }

    const SCALAR: BlockKernel = BlockKernel {
        configure: || {},
        block: scalar_block,
        release: || {},
    };

    /// Sizes off the tile grid (one element, odd sizes, several panels and `K` blocks) in the
    /// four layouts (either operand row-major or transposed, as the forward and backward
    /// passes hand them over).
    fn cases() -> impl Iterator<Item = ((usize, usize, usize), u8)> {
        let sizes = [
            (1, 1, 1),
            (70, 50, 45),
            (33, 65, 17),
            (130, 96, 300),
            (260, 530, 40),
        ];
        sizes.into_iter().flat_map(|s| (0..4).map(move |l| (s, l)))
    }

    /// Runs `product` on every case and checks it against the bf16 arithmetic, to one bf16
    /// rounding step (the summation order differs).
    fn check_products(product: impl Fn(&Strided<'_>, &Strided<'_>) -> Vec<f32>) {
        for ((m, k, n), layout) in cases() {
            let (a_data, b_data) = (values(m * k, 1), values(k * n, 2));
            let a = view(&a_data, [m, k], layout & 1 == 1);
            let b = view(&b_data, [k, n], layout & 2 == 2);
            let got = product(&a, &b);
            assert_eq!(got.len(), m * n);
            for (g, e) in got.iter().zip(expected(&a, &b)) {
                let tolerance = e.abs() / 128.0 + 1e-6;
                assert!(
                    (g - e).abs() <= tolerance,
                    "{m}x{k}x{n}, layout {layout}: got {g}, expected {e}"
                );
            }
        }
    }

    /// The packing, blocking and storing around the tile instruction, on any CPU: with the
    /// scalar model of the instruction, products match the bf16 arithmetic.
    #[test]
    fn packed_products_match_bf16_arithmetic() {
        check_products(|a, b| tiled_product(a, b, SCALAR));
    }

    /// The tile instruction itself, on a CPU with AMX; elsewhere `matmul` must decline every
    /// case (and the test says visibly that the hardware path was not run).
    #[test]
    fn tile_products_match_bf16_arithmetic() {
        if available() {
            check_products(|a, b| matmul(a, b).expect("AMX is available"));
            return;
        }
        for ((m, k, n), layout) in cases() {
            let (a_data, b_data) = (values(m * k, 1), values(k * n, 2));
            let a = view(&a_data, [m, k], layout & 1 == 1);
            let b = view(&b_data, [k, n], layout & 2 == 2);
            assert!(matmul(&a, &b).is_none(), "{m}x{k}x{n}: AMX is unavailable");
        }
        eprintln!("SKIPPED: no AMX on this CPU: the tile instruction is not exercised");
    }

    #[test]
    fn mismatched_inner_sizes_are_declined() {
        let data = values(12, 3);
        let a = Strided::new(&data, [3, 4], [4, 1], 0).unwrap();
        let b = Strided::new(&data, [3, 4], [4, 1], 0).unwrap();
        assert!(matmul(&a, &b).is_none());
    }
}

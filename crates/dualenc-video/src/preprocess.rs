//! From a decoded frame to the normalised crops an encoder takes.
//!
//! 1. **Resize** to a square of side `S = round(crop * 256 / 224)` (256 for 224-pixel
//!    crops): [`ResizeMode::Square`] stretches the frame to `S x S` as the original
//!    extractor's `cv2.resize(img, (256, 256))` does (bilinear, half-pixel centres, no
//!    antialiasing; aspect ratio not kept); [`ResizeMode::ShortSide`] resizes the short side
//!    to `S` keeping the aspect ratio, bilinear with PIL's antialiasing as torchvision's
//!    `Resize(256)` on a PIL image, then takes the centre `S x S` square (torchvision's
//!    `CenterCrop` placement).
//! 2. **Crop** `crop x crop` images from the square: [`Crops::Ten`] is Caffe/MXNet
//!    "oversampling" (the four corners and the centre, then the same five mirrored
//!    horizontally), [`Crops::One`] the centre only. The centre crop starts at
//!    `floor((S - crop) / 2)` on both axes (16 for 256 and 224).
//! 3. **Normalise** each channel as `(pixel * scale - mean) / std` and lay the crop out as
//!    three planes (CHW), as the encoder takes them.
//!
//! Both resizes reproduce their library's fixed-point arithmetic, so that the squares are
//! the same bytes as OpenCV's and PIL's (checked against OpenCV 4.6 and Pillow 9.4).

use serde::Serialize;

/// Resize size for 224-pixel crops, the original's 256.
const BASE_RESIZE: usize = 256;
/// Crop size the original's 256 goes with.
const BASE_CROP: usize = 224;

/// An 8-bit RGB image, row-major, 3 bytes a pixel (ffmpeg's `rgb24`); never empty, and
/// always holding exactly its size's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl RgbImage {
    /// An image of `width x height` pixels from `data`; `None` when `data` is not
    /// `width * height * 3` bytes long or a side is 0.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Option<RgbImage> {
        let expected = width.checked_mul(height)?.checked_mul(3)?;
        (width > 0 && height > 0 && data.len() == expected).then_some(RgbImage {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The `height x width x 3` bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The pixel at column `x`, row `y` (both must be inside the image).
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// How a frame becomes the square the crops are taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Stretch to `S x S` (aspect ratio not kept), bilinear as OpenCV: the original's way.
    #[default]
    Square,
    /// Short side to `S` (aspect ratio kept), bilinear with antialiasing as PIL and
    /// torchvision, then the centre `S x S` square.
    ShortSide,
}

/// Which crops of the square are encoded (their features are averaged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Crops {
    /// The four corners and the centre, then the same five mirrored: the original's
    /// oversampling.
    #[default]
    #[cfg_attr(feature = "clap", value(name = "10"))]
    Ten,
    /// The centre crop only.
    #[cfg_attr(feature = "clap", value(name = "1"))]
    One,
}

/// Per-channel normalisation `(pixel * scale - mean) / std`, pixels being 0..=255.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Normalization {
    /// Factor applied to the 8-bit value first (1/255 maps it to 0..=1).
    pub scale: f32,
    /// Subtracted per channel (R, G, B) after scaling.
    pub mean: [f32; 3],
    /// Divides per channel (R, G, B) after the subtraction.
    pub std: [f32; 3],
}

impl Normalization {
    /// torchvision's ImageNet normalisation: values in 0..=1, then its mean and standard
    /// deviation. What torchvision-trained networks (and most ONNX exports) expect.
    pub fn imagenet() -> Normalization {
        Normalization {
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }

    /// The raw 0..=255 values, unchanged: the original MXNet ResNet normalises inside its
    /// first layer.
    pub fn raw() -> Normalization {
        Normalization {
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    /// The normalised value of every 8-bit level, per channel.
    fn table(&self) -> [[f32; 256]; 3] {
        let mut table = [[0.0; 256]; 3];
        for (c, levels) in table.iter_mut().enumerate() {
            for (v, out) in levels.iter_mut().enumerate() {
                *out = (v as f32 * self.scale - self.mean[c]) / self.std[c];
            }
        }
        table
    }
}

impl Default for Normalization {
    /// [`Normalization::imagenet`].
    fn default() -> Self {
        Normalization::imagenet()
    }
}

/// Where one crop is taken from the square.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    /// Left column in the square.
    pub x: usize,
    /// Top row in the square.
    pub y: usize,
    /// Whether the crop is mirrored left to right.
    pub mirrored: bool,
}

/// `round(crop * 256 / 224)`: the square side that goes with a crop size (256 for 224).
pub fn resize_size(crop: usize) -> usize {
    (crop * BASE_RESIZE + BASE_CROP / 2) / BASE_CROP
}

/// Turns frames into the normalised crops of one encoder.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    crop: usize,
    size: usize,
    mode: ResizeMode,
    boxes: Vec<CropBox>,
    table: [[f32; 256]; 3],
}

impl Preprocessor {
    /// A preprocessor for `crop x crop` encoder inputs (`crop` at least 1), squares of
    /// [`resize_size`]`(crop)`.
    pub fn new(crop: usize, mode: ResizeMode, crops: Crops, norm: &Normalization) -> Self {
        let crop = crop.max(1);
        let size = resize_size(crop);
        Preprocessor {
            crop,
            size,
            mode,
            boxes: crop_boxes(size, crop, crops),
            table: norm.table(),
        }
    }

    /// Crops per frame.
    pub fn images_per_frame(&self) -> usize {
        self.boxes.len()
    }

    /// Floats of one preprocessed image (`3 x crop x crop`).
    pub fn image_len(&self) -> usize {
        3 * self.crop * self.crop
    }

    /// The crops, in the order their images are written.
    pub fn crop_boxes(&self) -> &[CropBox] {
        &self.boxes
    }

    /// The `S x S` square of a frame, per the resize mode.
    pub fn square(&self, frame: &RgbImage) -> RgbImage {
        match self.mode {
            ResizeMode::Square => resize_bilinear(frame, self.size, self.size),
            ResizeMode::ShortSide => {
                let (w, h) = short_side_size(frame.width, frame.height, self.size);
                let resized = resize_antialiased(frame, w, h);
                let left = centre_offset_rounded(w, self.size);
                let top = centre_offset_rounded(h, self.size);
                crop(&resized, left, top, self.size, self.size)
            }
        }
    }

    /// Appends the frame's normalised crops to `out`: [`Self::images_per_frame`] images of
    /// [`Self::image_len`] floats each.
    pub fn push_frame(&self, frame: &RgbImage, out: &mut Vec<f32>) {
        self.push_crops(&self.square(frame), out);
    }

    /// Appends the normalised crops of the `S x S` square of a frame to `out`.
    fn push_crops(&self, square: &RgbImage, out: &mut Vec<f32>) {
        out.reserve(self.images_per_frame() * self.image_len());
        for b in &self.boxes {
            for (c, levels) in self.table.iter().enumerate() {
                for y in 0..self.crop {
                    let row = (b.y + y) * square.width;
                    out.extend((0..self.crop).map(|x| {
                        let sx = if b.mirrored { self.crop - 1 - x } else { x };
                        levels[usize::from(square.data[(row + b.x + sx) * 3 + c])]
                    }));
                }
            }
        }
    }
}

/// The crops of an `size x size` square: Caffe's oversampling order (top-left, top-right,
/// bottom-left, bottom-right, centre, then those five mirrored) or the centre alone.
fn crop_boxes(size: usize, crop: usize, crops: Crops) -> Vec<CropBox> {
    let far = size.saturating_sub(crop);
    let mid = far / 2;
    let centre = CropBox {
        x: mid,
        y: mid,
        mirrored: false,
    };
    match crops {
        Crops::One => vec![centre],
        Crops::Ten => {
            let five = [(0, 0), (far, 0), (0, far), (far, far), (mid, mid)];
            [false, true]
                .into_iter()
                .flat_map(|mirrored| five.map(|(x, y)| CropBox { x, y, mirrored }))
                .collect()
        }
    }
}

/// torchvision's `Resize(size)` output size: the short side becomes `size`, the long one
/// `int(size * long / short)`.
fn short_side_size(width: usize, height: usize, size: usize) -> (usize, usize) {
    if width <= height {
        (size, (size * height / width).max(size))
    } else {
        ((size * width / height).max(size), size)
    }
}

/// torchvision's `CenterCrop` offset: `round((length - size) / 2)`, ties to even as
/// Python's `round`.
fn centre_offset_rounded(length: usize, size: usize) -> usize {
    let gap = length.saturating_sub(size);
    let half = gap / 2;
    if gap % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    }
}

/// The `width x height` region of `image` at (`left`, `top`), which must lie inside it.
fn crop(image: &RgbImage, left: usize, top: usize, width: usize, height: usize) -> RgbImage {
    let mut data = Vec::with_capacity(width * height * 3);
    for y in top..top + height {
        let start = (y * image.width + left) * 3;
        data.extend_from_slice(&image.data[start..start + width * 3]);
    }
    RgbImage {
        width,
        height,
        data,
    }
}

/// The source pixels one output pixel reads along an axis: the first one and the
/// fixed-point weights of it and the following ones.
struct Taps {
    first: usize,
    weights: Vec<i32>,
}

/// OpenCV's fixed-point weights: 11 fractional bits (`INTER_RESIZE_COEF_BITS`).
const CV_BITS: u32 = 11;
/// PIL's fixed-point weights for 8-bit images: 22 fractional bits (`PRECISION_BITS`).
const PIL_BITS: u32 = 22;

/// OpenCV's `INTER_LINEAR` source coordinate of output pixel `d` (single precision, as
/// `cv::resize`): its integer part and the weight of the next pixel.
fn opencv_coordinate(d: usize, scale: f64) -> (i64, f32) {
    let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
    let first = f.floor();
    (first as i64, f - first)
}

/// An OpenCV weight in 11-bit fixed point (`saturate_cast<short>`, ties to even).
fn opencv_weight(w: f32) -> i32 {
    (w * (1 << CV_BITS) as f32).round_ties_even() as i32
}

/// `1 / (dst / src)`, OpenCV's `scale_x` / `scale_y`.
fn opencv_scale(src: usize, dst: usize) -> f64 {
    1.0 / (dst as f64 / src as f64)
}

/// OpenCV's horizontal `INTER_LINEAR` taps: beyond the edges the coordinate is clamped to
/// the edge pixel, with weight one.
fn opencv_columns(src: usize, dst: usize) -> Vec<Taps> {
    let scale = opencv_scale(src, dst);
    (0..dst)
        .map(|d| {
            let (first, w) = opencv_coordinate(d, scale);
            if first < 0 || first >= src as i64 - 1 {
                let first = first.clamp(0, src as i64 - 1) as usize;
                return Taps {
                    first,
                    weights: vec![1 << CV_BITS],
                };
            }
            Taps {
                first: first as usize,
                weights: vec![opencv_weight(1.0 - w), opencv_weight(w)],
            }
        })
        .collect()
}

/// OpenCV's vertical `INTER_LINEAR` taps: unlike columns, the weights are kept beyond the
/// edges and the two source rows clamped (both then being the edge row).
fn opencv_rows(src: usize, dst: usize) -> Vec<[(usize, i32); 2]> {
    let scale = opencv_scale(src, dst);
    let row = |y: i64| y.clamp(0, src as i64 - 1) as usize;
    (0..dst)
        .map(|d| {
            let (first, w) = opencv_coordinate(d, scale);
            [
                (row(first), opencv_weight(1.0 - w)),
                (row(first + 1), opencv_weight(w)),
            ]
        })
        .collect()
}

/// PIL's `BILINEAR` weights along one axis (`precompute_coeffs`): a triangle filter
/// widened by the reduction factor when shrinking (antialiasing), normalised to sum 1 in
/// double precision, then rounded to 22 bits (`normalize_coeffs_8bpc`).
fn pil_taps(src: usize, dst: usize) -> Vec<Taps> {
    let scale = src as f64 / dst as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale;
    let ss = 1.0 / filter_scale;
    let one = f64::from(1u32 << PIL_BITS);
    (0..dst)
        .map(|d| {
            let centre = (d as f64 + 0.5) * scale;
            let first = ((centre - support + 0.5) as i64).max(0) as usize;
            let end = ((centre + support + 0.5) as i64).clamp(0, src as i64) as usize;
            let raw: Vec<f64> = (first..end.max(first + 1).min(src))
                .map(|x| triangle((x as f64 - centre + 0.5) * ss))
                .collect();
            let total: f64 = raw.iter().sum();
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if total == 0.0 { w } else { w / total };
                    (0.5 + w * one) as i32
                })
                .collect();
            Taps { first, weights }
        })
        .collect()
}

/// The bilinear (triangle) filter of support 1.
fn triangle(x: f64) -> f64 {
    (1.0 - x.abs()).max(0.0)
}

/// Resizes as OpenCV's `cv2.resize(..., interpolation=INTER_LINEAR)` on an 8-bit image:
/// bilinear with half-pixel centres and no antialiasing (shrinking by more than 2 skips
/// source pixels), in OpenCV's fixed point: rows weighted exactly, then rows combined with
/// the rounding of its vectorised vertical pass (`VResizeLinearVec_32s8u`), the one that
/// runs on every output row of a multiple of 8 bytes (256 RGB pixels, for one).
/// Exact halving gives the same values as the area averaging OpenCV switches to there.
pub fn resize_bilinear(image: &RgbImage, width: usize, height: usize) -> RgbImage {
    let xs = opencv_columns(image.width, width.max(1));
    let ys = opencv_rows(image.height, height.max(1));
    let rows = horizontal(image, &xs);
    let row_len = xs.len() * 3;
    let mut data = Vec::with_capacity(ys.len() * row_len);
    for &[(y0, b0), (y1, b1)] in &ys {
        let r0 = &rows[y0 * row_len..(y0 + 1) * row_len];
        let r1 = &rows[y1 * row_len..(y1 + 1) * row_len];
        data.extend(r0.iter().zip(r1).map(|(&s0, &s1)| {
            let v = (((s0 >> 4) * b0) >> 16) + (((s1 >> 4) * b1) >> 16);
            ((v + 2) >> 2).clamp(0, 255) as u8
        }));
    }
    RgbImage {
        width: xs.len(),
        height: ys.len(),
        data,
    }
}

/// Resizes as PIL's `Image.resize(..., BILINEAR)` on an RGB image (what torchvision's
/// `Resize` does to a PIL image): bilinear, antialiased when shrinking, in PIL's fixed
/// point, rows first, rounded to 8 bits after each pass.
pub fn resize_antialiased(image: &RgbImage, width: usize, height: usize) -> RgbImage {
    let xs = pil_taps(image.width, width.max(1));
    let ys = pil_taps(image.height, height.max(1));
    let rows = RgbImage {
        width: xs.len(),
        height: image.height,
        data: horizontal(image, &xs).into_iter().map(pil_level).collect(),
    };
    let row_len = rows.width * 3;
    let mut data = Vec::with_capacity(ys.len() * row_len);
    for taps in &ys {
        data.extend((0..row_len).map(|i| {
            let sum: i32 = taps
                .weights
                .iter()
                .enumerate()
                .map(|(j, w)| i32::from(rows.data[(taps.first + j) * row_len + i]) * w)
                .sum();
            pil_level(sum)
        }));
    }
    RgbImage {
        width: rows.width,
        height: ys.len(),
        data,
    }
}

/// The rows of `image` resampled horizontally: fixed-point sums, `height x taps x 3`.
fn horizontal(image: &RgbImage, xs: &[Taps]) -> Vec<i32> {
    let mut out = Vec::with_capacity(image.height * xs.len() * 3);
    for row in image.data.chunks_exact(image.width * 3) {
        for taps in xs {
            for c in 0..3 {
                let sum = taps
                    .weights
                    .iter()
                    .enumerate()
                    .map(|(j, w)| i32::from(row[(taps.first + j) * 3 + c]) * w)
                    .sum();
                out.push(sum);
            }
        }
    }
    out
}

/// PIL's `clip8`: a 22-bit fixed-point sum rounded (half up) and clamped to 8 bits.
fn pil_level(sum: i32) -> u8 {
    ((sum + (1 << (PIL_BITS - 1))) >> PIL_BITS).clamp(0, 255) as u8
}

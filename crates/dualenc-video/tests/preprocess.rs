//! Resizing, crops and normalisation against hand-computed examples.

use dualenc_video::preprocess::{
    resize_antialiased, resize_bilinear, resize_size, CropBox, Crops, Normalization, Preprocessor,
    ResizeMode, RgbImage,
};

/// A grey image (R = G = B) from rows of levels.
fn grey(rows: &[&[u8]]) -> RgbImage {
    let data = rows
        .iter()
        .flat_map(|r| r.iter().flat_map(|&v| [v, v, v]))
        .collect();
    RgbImage::new(rows[0].len(), rows.len(), data).unwrap()
}

/// The red channel, row by row.
fn red(image: &RgbImage) -> Vec<Vec<u8>> {
    (0..image.height())
        .map(|y| (0..image.width()).map(|x| image.pixel(x, y)[0]).collect())
        .collect()
}

#[test]
fn bilinear_matches_opencv_by_hand() {
    // cv2.resize(np.array([[0, 100], [200, 40]], np.uint8), (3, 3)): source coordinates
    // (d + 0.5) * 2/3 - 0.5 = -1/6 (clamped to 0), 0.5, 7/6 (clamped to 1).
    let out = resize_bilinear(&grey(&[&[0, 100], &[200, 40]]), 3, 3);
    assert_eq!(
        red(&out),
        vec![vec![0, 50, 100], vec![100, 85, 70], vec![200, 120, 40]]
    );
    // Upscaling 2 -> 4: coordinates -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
    let out = resize_bilinear(&grey(&[&[0, 100]]), 4, 1);
    assert_eq!(red(&out), vec![vec![0, 25, 75, 100]]);
    // Halving averages neighbours (coordinates 0.5 and 2.5), halves rounding up.
    let out = resize_bilinear(&grey(&[&[0, 101, 7, 9]]), 2, 1);
    assert_eq!(red(&out), vec![vec![51, 8]]);
    // Shrinking by 4 reads only two of every four pixels: no antialiasing.
    let out = resize_bilinear(&grey(&[&[0, 0, 0, 0, 200, 200, 200, 200]]), 2, 1);
    assert_eq!(red(&out), vec![vec![0, 200]]);
}

#[test]
fn antialiased_matches_pil_by_hand() {
    // PIL BILINEAR 4 -> 2: support 2, weights [3, 3, 1] / 7 and [1, 3, 3] / 7.
    let out = resize_antialiased(&grey(&[&[0, 70, 140, 210]]), 2, 1);
    assert_eq!(red(&out), vec![vec![50, 160]]);
    // Same size is the identity.
    let image = grey(&[&[1, 2, 3], &[4, 5, 6]]);
    assert_eq!(resize_antialiased(&image, 3, 2), image);
}

#[test]
fn resize_size_follows_256_for_224() {
    assert_eq!(resize_size(224), 256);
    assert_eq!(resize_size(32), 37);
    assert_eq!(resize_size(299), 342);
}

/// A 256 x 256 image whose red level is the column and green level the row.
fn coordinates() -> RgbImage {
    let data = (0..256usize)
        .flat_map(|y| (0..256usize).flat_map(move |x| [x as u8, y as u8, 0]))
        .collect();
    RgbImage::new(256, 256, data).unwrap()
}

#[test]
fn ten_crops_are_corners_centre_and_their_mirrors() {
    let pre = Preprocessor::new(224, ResizeMode::Square, Crops::Ten, &Normalization::raw());
    let expected_boxes: Vec<CropBox> = [false, true]
        .into_iter()
        .flat_map(|mirrored| {
            [(0, 0), (32, 0), (0, 32), (32, 32), (16, 16)].map(|(x, y)| CropBox { x, y, mirrored })
        })
        .collect();
    assert_eq!(pre.crop_boxes(), expected_boxes.as_slice());
    let mut out = Vec::new();
    pre.push_frame(&coordinates(), &mut out);
    let plane = 224 * 224;
    assert_eq!(out.len(), 10 * 3 * plane);
    for (i, b) in expected_boxes.iter().enumerate() {
        let image = &out[i * 3 * plane..(i + 1) * 3 * plane];
        let (r, g, blue) = (
            &image[..plane],
            &image[plane..2 * plane],
            &image[2 * plane..],
        );
        let (first_col, last_col) = if b.mirrored {
            (b.x + 223, b.x)
        } else {
            (b.x, b.x + 223)
        };
        assert_eq!(r[0], first_col as f32, "crop {i}: left column");
        assert_eq!(r[223], last_col as f32, "crop {i}: right column");
        assert_eq!(g[0], b.y as f32, "crop {i}: top row");
        assert_eq!(g[223 * 224], (b.y + 223) as f32, "crop {i}: bottom row");
        assert!(blue.iter().all(|&v| v == 0.0));
    }
}

#[test]
fn one_crop_is_the_centre() {
    let pre = Preprocessor::new(224, ResizeMode::Square, Crops::One, &Normalization::raw());
    let mut out = Vec::new();
    pre.push_frame(&coordinates(), &mut out);
    assert_eq!(out.len(), 3 * 224 * 224);
    assert_eq!((out[0], out[223]), (16.0, 239.0));
    assert_eq!(out[224 * 224], 16.0);
}

#[test]
fn square_resize_stretches_and_short_side_keeps_the_aspect() {
    // 64 x 48, left half black, right half white: a stretched square keeps the halves.
    let data: Vec<u8> = (0..48)
        .flat_map(|_| (0..64).flat_map(|x| [if x < 32 { 0u8 } else { 255 }; 3]))
        .collect();
    let frame = RgbImage::new(64, 48, data).unwrap();
    let square =
        Preprocessor::new(32, ResizeMode::Square, Crops::One, &Normalization::raw()).square(&frame);
    assert_eq!((square.width(), square.height()), (37, 37));
    assert_eq!(square.pixel(17, 5)[0], 0);
    assert_eq!(square.pixel(19, 5)[0], 255);
    // Short side 48 -> 37, width int(37 * 64 / 48) = 49, centre 37 columns from 6: the
    // edge between the halves stays at the middle.
    let short = Preprocessor::new(32, ResizeMode::ShortSide, Crops::One, &Normalization::raw())
        .square(&frame);
    assert_eq!((short.width(), short.height()), (37, 37));
    assert_eq!(short.pixel(0, 0)[0], 0);
    assert_eq!(short.pixel(36, 36)[0], 255);
    let middle = short.pixel(18, 10)[0];
    assert!((100..=155).contains(&middle), "middle column {middle}");
}

#[test]
fn normalisation_applies_scale_mean_and_std_per_channel() {
    let pre = Preprocessor::new(
        1,
        ResizeMode::Square,
        Crops::One,
        &Normalization::imagenet(),
    );
    let frame = RgbImage::new(1, 1, vec![255, 0, 128]).unwrap();
    let mut out = Vec::new();
    pre.push_frame(&frame, &mut out);
    let expected = [
        (1.0 - 0.485) / 0.229,
        (0.0 - 0.456) / 0.224,
        (128.0 / 255.0 - 0.406) / 0.225,
    ];
    for (got, want) in out.iter().zip(expected) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}

#[test]
fn images_are_checked_for_size() {
    assert!(RgbImage::new(2, 2, vec![0; 11]).is_none());
    assert!(RgbImage::new(0, 2, vec![]).is_none());
}

/// A patterned RGB image: level `(37x + 91y + 53c + 13xy) mod 256`.
fn pattern(width: usize, height: usize) -> RgbImage {
    let data = (0..height)
        .flat_map(|y| {
            (0..width).flat_map(move |x| {
                [0, 1, 2].map(|c| ((x * 37 + y * 91 + c * 53 + x * y * 13) % 256) as u8)
            })
        })
        .collect();
    RgbImage::new(width, height, data).unwrap()
}

#[test]
fn resizes_are_byte_exact_with_opencv_and_pil() {
    let cases: [(&[u8], RgbImage); 4] = [
        (&CV_13X11_TO_8X8, resize_bilinear(&pattern(13, 11), 8, 8)),
        (
            &PIL_13X11_TO_8X8,
            resize_antialiased(&pattern(13, 11), 8, 8),
        ),
        (&CV_5X3_TO_8X8, resize_bilinear(&pattern(5, 3), 8, 8)),
        (&PIL_5X3_TO_8X8, resize_antialiased(&pattern(5, 3), 8, 8)),
    ];
    for (i, (want, got)) in cases.iter().enumerate() {
        assert_eq!((got.width(), got.height()), (8, 8));
        assert_eq!(got.data(), *want, "case {i}");
    }
}

// Made with OpenCV 4.6.0 (`cv2.resize(img, (8, 8))`, INTER_LINEAR) and Pillow 9.4.0
// (`Image.fromarray(img).resize((8, 8), Image.BILINEAR)`) from `pattern` (Debian 12's
// python3-opencv and python3-pil); 8 x 8 x 3 bytes, row-major RGB.
const CV_13X11_TO_8X8: [u8; 192] = [
    29, 82, 135, 93, 146, 154, 130, 162, 215, 173, 188, 72, 69, 83, 97, 73, 99, 152, 110, 163, 203,
    174, 227, 39, 160, 168, 122, 118, 162, 110, 139, 143, 115, 156, 92, 145, 133, 186, 147, 177,
    104, 76, 63, 116, 169, 156, 209, 86, 51, 99, 141, 158, 210, 38, 144, 92, 136, 158, 153, 206,
    72, 81, 133, 150, 196, 134, 16, 69, 122, 138, 191, 68, 140, 193, 136, 72, 125, 167, 167, 86,
    139, 92, 145, 133, 178, 88, 141, 119, 126, 180, 209, 97, 75, 120, 173, 105, 95, 148, 146, 55,
    108, 161, 180, 99, 152, 134, 154, 142, 106, 126, 179, 141, 149, 104, 162, 215, 28, 102, 155,
    208, 166, 133, 186, 139, 162, 215, 173, 121, 175, 223, 81, 121, 224, 82, 122, 177, 118, 171,
    131, 168, 221, 164, 137, 190, 145, 64, 116, 179, 90, 143, 73, 126, 116, 110, 142, 78, 140, 172,
    108, 101, 91, 95, 84, 121, 174, 146, 119, 172, 111, 149, 202, 191, 46, 99, 82, 135, 161, 172,
    47, 99, 62, 106, 159, 142, 195, 110, 37, 87, 127, 128, 166, 154,
];
const PIL_13X11_TO_8X8: [u8; 192] = [
    46, 99, 152, 110, 146, 153, 132, 150, 188, 159, 159, 119, 108, 95, 104, 82, 96, 143, 105, 158,
    168, 168, 221, 53, 163, 160, 132, 148, 143, 130, 142, 135, 119, 135, 114, 145, 137, 171, 138,
    168, 106, 85, 90, 116, 169, 150, 203, 107, 97, 128, 133, 143, 149, 103, 151, 112, 136, 148,
    116, 160, 113, 95, 140, 144, 170, 128, 87, 108, 128, 130, 183, 87, 138, 191, 125, 112, 144,
    155, 159, 96, 142, 112, 137, 138, 150, 104, 157, 133, 125, 172, 154, 124, 122, 110, 163, 123,
    105, 155, 151, 98, 128, 181, 172, 108, 154, 148, 127, 128, 134, 121, 149, 141, 143, 119, 119,
    168, 83, 94, 144, 197, 161, 115, 168, 165, 115, 168, 163, 115, 164, 166, 115, 139, 168, 123,
    140, 166, 115, 144, 163, 119, 150, 161, 124, 177, 143, 67, 120, 149, 96, 149, 79, 129, 115,
    105, 122, 82, 118, 136, 115, 107, 102, 94, 131, 94, 124, 158, 104, 157, 108, 127, 180, 144, 80,
    133, 92, 127, 141, 142, 78, 117, 96, 124, 149, 122, 175, 111, 90, 123, 117, 140, 158, 139,
];
const CV_5X3_TO_8X8: [u8; 192] = [
    0, 53, 106, 16, 69, 122, 39, 92, 145, 62, 115, 168, 85, 139, 191, 108, 162, 215, 132, 185, 238,
    148, 201, 254, 6, 59, 112, 22, 75, 128, 46, 99, 151, 69, 122, 164, 93, 141, 183, 117, 155, 207,
    131, 177, 230, 141, 194, 247, 40, 93, 146, 58, 111, 164, 85, 138, 184, 112, 165, 141, 138, 156,
    133, 165, 113, 159, 129, 133, 186, 99, 152, 204, 74, 127, 180, 95, 148, 201, 124, 177, 217,
    154, 207, 117, 184, 172, 82, 214, 72, 112, 126, 88, 141, 56, 109, 162, 108, 161, 166, 131, 163,
    189, 161, 169, 209, 163, 201, 111, 181, 169, 79, 214, 72, 112, 130, 92, 118, 62, 115, 120, 142,
    195, 104, 167, 157, 129, 194, 112, 158, 140, 148, 124, 131, 149, 125, 166, 115, 160, 139, 143,
    115, 115, 168, 77, 176, 229, 42, 203, 151, 69, 227, 55, 107, 116, 94, 136, 80, 128, 170, 119,
    157, 209, 149, 195, 113, 169, 222, 35, 182, 235, 32, 209, 151, 59, 233, 46, 99, 112, 85, 138,
    72, 124, 178, 111, 164, 217, 150, 203, 112, 178, 231, 28,
];
const PIL_5X3_TO_8X8: [u8; 192] = [
    0, 53, 106, 16, 69, 122, 39, 92, 145, 62, 115, 168, 86, 139, 192, 109, 162, 215, 132, 185, 238,
    148, 201, 254, 6, 59, 112, 22, 75, 128, 46, 99, 151, 69, 122, 164, 94, 142, 184, 117, 155, 207,
    132, 178, 231, 141, 194, 247, 40, 93, 146, 58, 111, 164, 85, 138, 184, 111, 164, 140, 139, 157,
    133, 165, 113, 159, 129, 133, 186, 99, 152, 205, 74, 127, 180, 95, 148, 201, 124, 177, 217,
    154, 207, 117, 184, 172, 82, 214, 72, 112, 126, 88, 141, 56, 109, 162, 108, 161, 166, 131, 163,
    189, 161, 169, 209, 163, 201, 111, 182, 170, 80, 214, 72, 112, 130, 92, 118, 62, 115, 120, 142,
    195, 104, 168, 158, 130, 194, 112, 158, 140, 148, 124, 131, 149, 125, 167, 115, 161, 139, 143,
    115, 115, 168, 77, 176, 229, 42, 204, 152, 70, 227, 55, 107, 116, 94, 136, 80, 128, 170, 119,
    157, 209, 148, 194, 112, 169, 222, 35, 182, 235, 32, 210, 151, 60, 233, 46, 99, 112, 85, 138,
    72, 125, 178, 111, 164, 217, 150, 203, 112, 178, 231, 28,
];

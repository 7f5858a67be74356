//! The convolution passes by their definition, one multiply-add per kernel tap: the reference of
//! the unit tests of `im2col.rs` and `conv.rs`, which run under Miri as well (`scripts/miri`),
//! so it is plain loops over small slices, without burn.

use super::conv::{ParamGrads, Shapes};
use super::im2col::Geometry;

/// Geometries that take every branch of the kernels: strides 1, 2 and 3 (and unequal ones),
/// padding 0 to 2 (odd and even left padding at stride 2), kernels of 1 to 4, odd and even
/// widths, output widths that have a fixed-size copy (3, 4, 7, 14) and some that do not. The
/// last, the models' first convolution, is left out under Miri, where it alone took minutes.
pub fn geometries() -> Vec<Geometry> {
    let g = |channels, [height, width]: [usize; 2], kernel, stride, padding| Geometry {
        channels,
        height,
        width,
        kernel,
        stride,
        padding,
    };
    let mut geometries = vec![
        g(2, [5, 6], [3, 3], [1, 1], [1, 1]),
        g(1, [7, 7], [3, 3], [1, 1], [1, 1]),
        g(1, [7, 7], [3, 3], [2, 2], [1, 1]),
        g(2, [6, 8], [4, 4], [2, 2], [2, 2]),
        g(1, [9, 8], [2, 3], [3, 3], [0, 2]),
        g(1, [6, 7], [3, 2], [2, 1], [1, 0]),
        g(3, [3, 4], [1, 1], [1, 1], [0, 0]),
    ];
    if !cfg!(miri) {
        geometries.push(g(1, [28, 28], [3, 3], [2, 2], [1, 1]));
    }
    geometries
}

/// `len` values in [−1, 1], a different sequence for each `step`.
pub fn values(len: usize, step: f32) -> Vec<f32> {
    (0..len).map(|i| (i as f32 * step + 0.5).sin()).collect()
}

/// One kernel tap that reads a pixel: image `n`, column-matrix row `row` (channel, kernel row,
/// kernel column), output position `p`, and the pixel's index in the `[n, C, H, W]` images.
pub struct Tap {
    pub n: usize,
    pub row: usize,
    pub p: usize,
    pub pixel: usize,
}

/// Every tap of `n` images of geometry `g` that reads a pixel (none reads padding).
pub fn taps(g: &Geometry, n: usize) -> Vec<Tap> {
    let [oh, ow] = g.output().expect("valid geometry");
    let [kh, kw] = g.kernel;
    let mut taps = Vec::new();
    for img in 0..n {
        for row in 0..g.rows() {
            let (c, ki, kj) = (row / (kh * kw), (row / kw) % kh, row % kw);
            for p in 0..oh * ow {
                let y = (p / ow * g.stride[0] + ki).checked_sub(g.padding[0]);
                let x = (p % ow * g.stride[1] + kj).checked_sub(g.padding[1]);
                if let (Some(y), Some(x)) = (y, x)
                    && y < g.height
                    && x < g.width
                {
                    let pixel = ((img * g.channels + c) * g.height + y) * g.width + x;
                    taps.push(Tap {
                        n: img,
                        row,
                        p,
                        pixel,
                    });
                }
            }
        }
    }
    taps
}

/// Index of channel `o`, position `p` of image `n` on the other side (`[n, other, P]`).
fn other_index(s: &Shapes, t: &Tap, o: usize) -> usize {
    (t.n * s.other + o) * s.g.positions() + t.p
}

/// Values of the `[n, C, H, W]` images per channel plane.
fn plane(s: &Shapes) -> usize {
    s.g.height * s.g.width
}

/// Convolution forward: `[n, C, H, W]` → `[n, other, P]`.
pub fn conv_forward(s: &Shapes, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let (k, p) = (s.g.rows(), s.g.positions());
    let mut out: Vec<f32> = (0..s.n * s.other * p)
        .map(|i| bias[i / p % s.other])
        .collect();
    for t in taps(&s.g, s.n) {
        for o in 0..s.other {
            out[other_index(s, &t, o)] += weight[o * k + t.row] * x[t.pixel];
        }
    }
    out
}

/// Convolution backward from `grad` `[n, other, P]`: the parameters' and the input's gradients.
pub fn conv_backward(
    s: &Shapes,
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
) -> (ParamGrads, Vec<f32>) {
    let (k, p) = (s.g.rows(), s.g.positions());
    let mut bias = vec![0.0; s.other];
    grad.iter()
        .enumerate()
        .for_each(|(i, g)| bias[i / p % s.other] += g);
    let (mut dw, mut dx) = (vec![0.0; s.other * k], vec![0.0; x.len()]);
    for t in taps(&s.g, s.n) {
        for o in 0..s.other {
            let g = grad[other_index(s, &t, o)];
            dw[o * k + t.row] += g * x[t.pixel];
            dx[t.pixel] += g * weight[o * k + t.row];
        }
    }
    (ParamGrads { weight: dw, bias }, dx)
}

/// Transposed-convolution forward: `[n, other, P]` → `[n, C, H, W]`.
pub fn conv_transpose_forward(s: &Shapes, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let (k, plane) = (s.g.rows(), plane(s));
    let len = s.n * s.g.channels * plane;
    let mut out: Vec<f32> = (0..len).map(|i| bias[i / plane % s.g.channels]).collect();
    for t in taps(&s.g, s.n) {
        for o in 0..s.other {
            out[t.pixel] += x[other_index(s, &t, o)] * weight[o * k + t.row];
        }
    }
    out
}

/// Transposed-convolution backward from `grad` `[n, C, H, W]`: the parameters' and the
/// input's gradients.
pub fn conv_transpose_backward(
    s: &Shapes,
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
) -> (ParamGrads, Vec<f32>) {
    let (k, plane) = (s.g.rows(), plane(s));
    let mut bias = vec![0.0; s.g.channels];
    grad.iter()
        .enumerate()
        .for_each(|(i, g)| bias[i / plane % s.g.channels] += g);
    let (mut dw, mut dx) = (vec![0.0; s.other * k], vec![0.0; x.len()]);
    for t in taps(&s.g, s.n) {
        for o in 0..s.other {
            let at = other_index(s, &t, o);
            dw[o * k + t.row] += x[at] * grad[t.pixel];
            dx[at] += grad[t.pixel] * weight[o * k + t.row];
        }
    }
    (ParamGrads { weight: dw, bias }, dx)
}

/// `got` equals `want` within `1e-4` of `want`'s largest magnitude (at least 1).
pub fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * scale,
            "{what}: element {i}: {g} vs {w}"
        );
    }
}

//! The data-movement half of the convolution kernels, on plain `f32` slices: im2col, its adjoint
//! col2im, and the two layout changes around the matrix products. The arithmetic is one large
//! matrix product per op (burn's GEMM), so these loops only move data.
//!
//! Layouts: images are NCHW; a column matrix is `[C·kh·kw, N·P]` (row `(c, ki, kj)`, column
//! `(n, oh, ow)`, P = OH·OW), so that one product with a `[Cout, C·kh·kw]` weight gives the
//! outputs of the whole batch as `[Cout, N·P]`.

/// A 2-D convolution's geometry (dilation 1, one group): input `channels × height × width`,
/// kernel `kh × kw`, stride and symmetric padding per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Geometry {
    /// Output side along each axis, or `None` when the kernel does not fit.
    pub fn output(&self) -> Option<[usize; 2]> {
        let side = |size: usize, axis: usize| {
            let padded = size + 2 * self.padding[axis];
            (self.stride[axis] > 0 && padded >= self.kernel[axis])
                .then(|| (padded - self.kernel[axis]) / self.stride[axis] + 1)
        };
        Some([side(self.height, 0)?, side(self.width, 1)?])
    }

    /// Rows of the column matrix: `channels · kh · kw`.
    pub fn rows(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    /// Output positions per image, P.
    pub fn positions(&self) -> usize {
        let [oh, ow] = self.output().expect("valid geometry");
        oh * ow
    }

    /// Row `row` of the column matrix as (channel, kernel row, kernel column).
    fn row_origin(&self, row: usize) -> (usize, usize, usize) {
        let [kh, kw] = self.kernel;
        (row / (kh * kw), (row / kw) % kh, row % kw)
    }

    /// Checks an image buffer of `n` images and a column-matrix buffer against this geometry.
    fn check_buffers(&self, n: usize, images: usize, cols: usize) {
        assert_eq!(
            images,
            n * self.channels * self.height * self.width,
            "image buffer"
        );
        assert_eq!(cols, self.rows() * n * self.positions(), "column buffer");
    }

    /// For kernel offset `k` along `axis`: the output indices whose input index
    /// `o·stride + k − padding` falls inside the image, as a half-open range.
    fn valid(&self, axis: usize, k: usize, out: usize) -> (usize, usize) {
        let size = if axis == 0 { self.height } else { self.width };
        let (s, p) = (self.stride[axis], self.padding[axis]);
        // o·s + k ≥ p  ⇔  o ≥ ceil((p − k) / s)
        let lo = if k >= p { 0 } else { (p - k).div_ceil(s) };
        // o·s + k − p ≤ size − 1  ⇔  o ≤ (size − 1 + p − k) / s
        let hi = if size + p > k {
            ((size - 1 + p - k) / s + 1).min(out)
        } else {
            0
        };
        (lo.min(hi), hi)
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn for_each_chunk(data: &mut [f32], chunk: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    use rayon::prelude::*;
    data.par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(i, c)| f(i, c));
}

#[cfg(target_arch = "wasm32")]
fn for_each_chunk(data: &mut [f32], chunk: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    data.chunks_mut(chunk)
        .enumerate()
        .for_each(|(i, c)| f(i, c));
}

/// `x` (`[n, C, H, W]`) → `cols` (`[C·kh·kw, n·P]`), zeros where the kernel reads padding.
pub fn im2col(x: &[f32], n: usize, g: &Geometry, cols: &mut [f32]) {
    g.check_buffers(n, x.len(), cols.len());
    for_each_chunk(cols, n * g.positions(), |row, out| {
        im2col_row(x, n, g, row, out)
    });
}

/// One row `(c, ki, kj)` of [`im2col`] (a named function, so profiles can tell it apart).
#[inline(never)]
fn im2col_row(x: &[f32], n: usize, g: &Geometry, row: usize, out: &mut [f32]) {
    let [oh, ow] = g.output().expect("valid geometry");
    let (c, ki, kj) = g.row_origin(row);
    let (h, w, p) = (g.height, g.width, oh * ow);
    let (oh_lo, oh_hi) = g.valid(0, ki, oh);
    let (ow_lo, ow_hi) = g.valid(1, kj, ow);
    for img in 0..n {
        let plane = &x[(img * g.channels + c) * h * w..][..h * w];
        let out = &mut out[img * p..][..p];
        for o_h in 0..oh {
            let dst = &mut out[o_h * ow..][..ow];
            if o_h < oh_lo || o_h >= oh_hi || ow_lo == ow_hi {
                dst.fill(0.0);
                continue;
            }
            let ih = o_h * g.stride[0] + ki - g.padding[0];
            let src = &plane[ih * w..][..w];
            dst[..ow_lo].fill(0.0);
            dst[ow_hi..].fill(0.0);
            if g.stride[1] == 2 {
                let base = ow_lo * 2 + kj - g.padding[1];
                let len = ow_hi - ow_lo;
                // Bounds established once, so the loop runs without checks.
                let src = &src[base..base + 2 * (len - 1) + 1];
                let dst = &mut dst[ow_lo..ow_hi];
                for i in 0..len {
                    dst[i] = src[2 * i];
                }
            } else {
                for o_w in ow_lo..ow_hi {
                    dst[o_w] = src[o_w * g.stride[1] + kj - g.padding[1]];
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: `x` (`[n, C, H, W]`) is overwritten with the sum, over the
/// column-matrix entries that read each pixel, of those entries.
pub fn col2im(cols: &[f32], n: usize, g: &Geometry, x: &mut [f32]) {
    g.check_buffers(n, x.len(), cols.len());
    for_each_chunk(x, g.channels * g.height * g.width, |img, image| {
        col2im_image(cols, n, g, img, image)
    });
}

/// One image of [`col2im`] (a named function, so profiles can tell it apart).
#[inline(never)]
fn col2im_image(cols: &[f32], n: usize, g: &Geometry, img: usize, image: &mut [f32]) {
    let [oh, ow] = g.output().expect("valid geometry");
    let (h, w, p) = (g.height, g.width, oh * ow);
    image.fill(0.0);
    for row in 0..g.rows() {
        let (c, ki, kj) = g.row_origin(row);
        let (oh_lo, oh_hi) = g.valid(0, ki, oh);
        let (ow_lo, ow_hi) = g.valid(1, kj, ow);
        let src = &cols[row * n * p + img * p..][..p];
        let plane = &mut image[c * h * w..][..h * w];
        if ow_lo == ow_hi {
            continue;
        }
        for o_h in oh_lo..oh_hi {
            let ih = o_h * g.stride[0] + ki - g.padding[0];
            let dst = &mut plane[ih * w..][..w];
            let s = &src[o_h * ow..][ow_lo..ow_hi];
            let base = ow_lo * g.stride[1] + kj - g.padding[1];
            let len = ow_hi - ow_lo;
            match g.stride[1] {
                1 => {
                    for (d, v) in dst[base..base + len].iter_mut().zip(s) {
                        *d += v;
                    }
                }
                2 => {
                    // Bounds established once, so the loop runs without checks.
                    let d = &mut dst[base..base + 2 * (len - 1) + 1];
                    for i in 0..len {
                        d[2 * i] += s[i];
                    }
                }
                stride => {
                    for (d, v) in dst[base..].iter_mut().step_by(stride).zip(s) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// `[n, C, P]` → `[C, n·P]`.
pub fn to_channel_major(x: &[f32], n: usize, c: usize, p: usize, out: &mut [f32]) {
    assert_eq!(x.len(), n * c * p);
    assert_eq!(out.len(), n * c * p);
    for_each_chunk(out, n * p, |ch, row| {
        for img in 0..n {
            row[img * p..][..p].copy_from_slice(&x[(img * c + ch) * p..][..p]);
        }
    });
}

/// `[C, n·P]` → `[n, C, P]`, adding `bias[c]` to channel `c`.
pub fn to_batch_major(y: &[f32], n: usize, c: usize, p: usize, bias: &[f32], out: &mut [f32]) {
    assert_eq!(y.len(), n * c * p);
    assert_eq!(out.len(), n * c * p);
    assert_eq!(bias.len(), c);
    for_each_chunk(out, c * p, |img, image| {
        for ch in 0..c {
            let b = bias[ch];
            for (d, s) in image[ch * p..][..p]
                .iter_mut()
                .zip(&y[ch * n * p + img * p..][..p])
            {
                *d = s + b;
            }
        }
    });
}

/// Adds `bias[c]` to every value of channel `c` of `x` (`[n, C, P]`) in place.
pub fn add_bias(x: &mut [f32], c: usize, p: usize, bias: &[f32]) {
    assert_eq!(bias.len(), c);
    for_each_chunk(x, c * p, |_, image| {
        for (ch, plane) in image.chunks_mut(p).enumerate() {
            plane.iter_mut().for_each(|v| *v += bias[ch]);
        }
    });
}

/// Per-channel sums of a `[C, m]` matrix (the bias gradient from channel-major output
/// gradients).
pub fn row_sums(x: &[f32], c: usize) -> Vec<f32> {
    let m = x.len() / c.max(1);
    x.chunks(m.max(1)).map(|r| r.iter().sum()).collect()
}

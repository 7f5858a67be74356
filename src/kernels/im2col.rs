//! The data-movement half of the convolution kernels, on plain `f32` slices: im2col, its adjoint
//! col2im, and the layout changes around the matrix products. The arithmetic is in the matrix
//! products (`conv.rs` runs them a few images at a time), so these loops only move data.
//!
//! Layouts: images are NCHW; a column matrix is `[C·kh·kw, N·P]` (row `(c, ki, kj)`, column
//! `(n, oh, ow)`, P = OH·OW), so that one product with a `[Cout, C·kh·kw]` weight gives the
//! outputs of N images as `[Cout, N·P]`.

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

    /// Sides of an image with its zero border.
    fn padded_side(&self) -> [usize; 2] {
        [
            self.height + 2 * self.padding[0],
            self.width + 2 * self.padding[1],
        ]
    }

    /// Sides of one phase plane of [`Geometry::phases`].
    fn phase_side(&self) -> [usize; 2] {
        let [ph, pw] = self.padded_side();
        [ph.div_ceil(self.stride[0]), pw.div_ceil(self.stride[1])]
    }

    /// `n` images `[n, C, H, W]` with a zero border of the padding's width, each plane split
    /// into its stride's phases: `[n, C, sh, sw, qh, qw]`, where phase `(a, b)` holds the
    /// padded pixels `(sh·i + a, sw·j + b)` (zeros past the padded edge). A kernel tap
    /// `(ki, kj)` then reads phase `(ki mod sh, kj mod sw)` from `(ki div sh, kj div sw)` on,
    /// in unit steps: a strided convolution's gathers become plain copies.
    fn phases(&self, x: &[f32], n: usize) -> Vec<f32> {
        let [sh, sw] = self.stride;
        let [qh, qw] = self.phase_side();
        let (h, w) = (self.height, self.width);
        let [top, left] = self.padding;
        let mut phases = vec![0.0; n * self.channels * sh * sw * qh * qw];
        for (dst, src) in phases
            .chunks_exact_mut(sh * sw * qh * qw)
            .zip(x.chunks_exact(h * w))
        {
            for (y, row) in src.chunks_exact(w).enumerate() {
                let (a, i) = ((y + top) % sh, (y + top) / sh);
                let lines = &mut dst[a * sw * qh * qw..][..sw * qh * qw];
                split_line(row, left, sw, lines, [qh, qw], i);
            }
        }
        phases
    }
}

/// One image row's pixels into their phase lines: pixel `x` goes to phase `(x + left) mod
/// stride`, column `(x + left) div stride`, of `line` (`[stride, qh, qw]`: phase `b`'s line is
/// at `(b·qh + line)·qw`). Strides 1 and 2, the models' own, as a copy and as a split into
/// pairs of even and odd pixels; other strides pixel by pixel.
#[inline(always)]
fn split_line(
    row: &[f32],
    left: usize,
    stride: usize,
    lines: &mut [f32],
    [qh, qw]: [usize; 2],
    line: usize,
) {
    match stride {
        1 => lines[line * qw + left..][..row.len()].copy_from_slice(row),
        2 => {
            let (phase0, phase1) = lines.split_at_mut(qh * qw);
            let (even, odd) = (
                &mut phase0[line * qw..][..qw],
                &mut phase1[line * qw..][..qw],
            );
            // From the first pixel in an even padded column on, pixels pair up as (phase 0,
            // phase 1) at the same phase column.
            let skip = (left % 2).min(row.len());
            if skip == 1 {
                odd[left / 2] = row[0];
            }
            let j0 = (left + skip) / 2;
            let pairs = row[skip..].chunks_exact(2);
            if let Some(&last) = pairs.remainder().first() {
                even[j0 + pairs.len()] = last;
            }
            for ((pair, e), o) in pairs.zip(&mut even[j0..]).zip(&mut odd[j0..]) {
                *e = pair[0];
                *o = pair[1];
            }
        }
        _ => {
            for b in 0..stride {
                let first = (b + stride - left % stride) % stride;
                let Some(pixels) = row.get(first..) else {
                    continue;
                };
                let j0 = (first + left) / stride;
                let dst = &mut lines[(b * qh + line) * qw..][..qw];
                for (d, v) in dst[j0..].iter_mut().zip(pixels.iter().step_by(stride)) {
                    *d = *v;
                }
            }
        }
    }
}

/// `x` (`[n, C, H, W]`) → `cols` (`[C·kh·kw, n·P]`), zeros where the kernel reads padding.
pub fn im2col(x: &[f32], n: usize, g: &Geometry, cols: &mut [f32]) {
    g.check_buffers(n, x.len(), cols.len());
    // The images with their zero border, split into phases, so that the gathers below need no
    // bounds logic and read in unit steps.
    let phases = g.phases(x, n);
    for (row, out) in cols.chunks_exact_mut(n * g.positions()).enumerate() {
        im2col_row(&phases, n, g, row, out);
    }
}

/// One row `(c, ki, kj)` of [`im2col`] from the phase-split padded images (a named function,
/// so profiles can tell it apart).
#[inline(never)]
fn im2col_row(phases: &[f32], n: usize, g: &Geometry, row: usize, out: &mut [f32]) {
    let [oh, ow] = g.output().expect("valid geometry");
    let (c, ki, kj) = g.row_origin(row);
    let [sh, sw] = g.stride;
    let [qh, qw] = g.phase_side();
    let phase = ((ki % sh) * sw + kj % sw) * qh * qw;
    let offset = (ki / sh) * qw + kj / sw;
    let image = sh * sw * qh * qw;
    for (img, out) in out.chunks_exact_mut(oh * ow).enumerate() {
        let src = &phases[(img * g.channels + c) * image + phase + offset..];
        copy_lines(src, qw, ow, out);
    }
    debug_assert_eq!(out.len(), n * oh * ow);
}

/// Lines of `width` values, `stride` apart in `src`, one after another into `dst`; the common
/// widths as fixed-size copies (a copy of a run-time length is a call to memcpy, slow for
/// runs of 3 to 14 values).
#[inline(always)]
fn copy_lines(src: &[f32], stride: usize, width: usize, dst: &mut [f32]) {
    fn fixed<const W: usize>(src: &[f32], stride: usize, dst: &mut [f32]) {
        for (i, d) in dst.chunks_exact_mut(W).enumerate() {
            let s: &[f32; W] = src[i * stride..][..W].try_into().expect("W values");
            d.copy_from_slice(s);
        }
    }
    match width {
        3 => fixed::<3>(src, stride, dst),
        4 => fixed::<4>(src, stride, dst),
        7 => fixed::<7>(src, stride, dst),
        8 => fixed::<8>(src, stride, dst),
        14 => fixed::<14>(src, stride, dst),
        16 => fixed::<16>(src, stride, dst),
        28 => fixed::<28>(src, stride, dst),
        _ => {
            for (i, d) in dst.chunks_exact_mut(width).enumerate() {
                d.copy_from_slice(&src[i * stride..][..width]);
            }
        }
    }
}

/// The adjoint of [`im2col`]: `x` (`[n, C, H, W]`) is overwritten with the sum, over the
/// column-matrix entries that read each pixel, of those entries.
///
/// The sums build up channel by channel on zero-bordered planes laid out `[C, n, H+2p, W+2p]`:
/// each row of `cols` is then read once, front to back, and the taps of one channel only touch
/// that channel's `n` planes, which stay in cache (gathering image by image instead read 16
/// scattered pieces of `cols` per channel, and was a fifth of the VAE's training step).
pub fn col2im(cols: &[f32], n: usize, g: &Geometry, x: &mut [f32]) {
    g.check_buffers(n, x.len(), cols.len());
    let [ph, pw] = g.padded_side();
    let plane = ph * pw;
    let mut padded = vec![0.0f32; g.channels * n * plane];
    for (c, planes) in padded.chunks_exact_mut(n * plane).enumerate() {
        col2im_channel(cols, n, g, c, planes);
    }
    let (h, w) = (g.height, g.width);
    let [top, left] = g.padding;
    for (img, image) in x.chunks_exact_mut(g.channels * h * w).enumerate() {
        for (c, out) in image.chunks_exact_mut(h * w).enumerate() {
            let src = &padded[(c * n + img) * plane..][..plane];
            for (y, row) in out.chunks_exact_mut(w).enumerate() {
                row.copy_from_slice(&src[(y + top) * pw + left..][..w]);
            }
        }
    }
}

/// Channel `c` of [`col2im`]: its taps' rows of `cols` added into its `n` zero-bordered planes
/// (a named function, so profiles can tell it apart).
#[inline(never)]
fn col2im_channel(cols: &[f32], n: usize, g: &Geometry, c: usize, planes: &mut [f32]) {
    let [oh, ow] = g.output().expect("valid geometry");
    let p = oh * ow;
    let [ph, pw] = g.padded_side();
    let [sh, sw] = g.stride;
    let taps = g.kernel[0] * g.kernel[1];
    let rows = |row: usize| cols[row * n * p..][..n * p].chunks_exact(p);
    let mut row = c * taps;
    while row < (c + 1) * taps {
        let (_, ki, kj) = g.row_origin(row);
        // Stride 2 and two neighbouring kernel columns: their scatters interleave into one
        // contiguous run of pixels, which vectorises (a stride-2 scatter alone does not).
        if sw == 2 && kj + 1 < g.kernel[1] {
            let images = rows(row).zip(rows(row + 1));
            for ((even, odd), plane) in images.zip(planes.chunks_exact_mut(ph * pw)) {
                let lines = even.chunks_exact(ow).zip(odd.chunks_exact(ow));
                for (o_h, (a, b)) in lines.enumerate() {
                    let dst = &mut plane[(o_h * sh + ki) * pw + kj..][..2 * ow];
                    for ((pair, x), y) in dst.chunks_exact_mut(2).zip(a).zip(b) {
                        pair[0] += x;
                        pair[1] += y;
                    }
                }
            }
            row += 2;
            continue;
        }
        for (src, plane) in rows(row).zip(planes.chunks_exact_mut(ph * pw)) {
            for (o_h, s) in src.chunks_exact(ow).enumerate() {
                let dst = &mut plane[(o_h * sh + ki) * pw + kj..][..(ow - 1) * sw + 1];
                match sw {
                    1 => dst.iter_mut().zip(s).for_each(|(d, v)| *d += v),
                    _ => dst.iter_mut().step_by(sw).zip(s).for_each(|(d, v)| *d += v),
                }
            }
        }
        row += 1;
    }
}

/// `[n, C, P]` → `[C, n·P]`.
pub fn to_channel_major(x: &[f32], n: usize, c: usize, p: usize, out: &mut [f32]) {
    assert_eq!(x.len(), n * c * p, "batch-major buffer");
    assert_eq!(out.len(), n * c * p, "channel-major buffer");
    for (ch, row) in out.chunks_exact_mut(n * p).enumerate() {
        for (img, dst) in row.chunks_exact_mut(p).enumerate() {
            dst.copy_from_slice(&x[(img * c + ch) * p..][..p]);
        }
    }
}

/// `[C, n·P]` → `[n, C, P]`, adding `bias[c]` to channel `c` (none: nothing added).
pub fn to_batch_major(
    y: &[f32],
    n: usize,
    c: usize,
    p: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    assert_eq!(y.len(), n * c * p, "channel-major buffer");
    assert_eq!(out.len(), n * c * p, "batch-major buffer");
    for (img, image) in out.chunks_exact_mut(c * p).enumerate() {
        for (ch, dst) in image.chunks_exact_mut(p).enumerate() {
            let src = &y[ch * n * p + img * p..][..p];
            match bias {
                Some(bias) => dst.iter_mut().zip(src).for_each(|(d, s)| *d = s + bias[ch]),
                None => dst.copy_from_slice(src),
            }
        }
    }
}

/// Adds `bias[c]` to every value of channel `c` of `x` (`[n, C, P]`) in place.
pub fn add_bias(x: &mut [f32], c: usize, p: usize, bias: &[f32]) {
    assert_eq!(bias.len(), c, "bias of {c} channels");
    for image in x.chunks_exact_mut(c * p) {
        for (plane, b) in image.chunks_exact_mut(p).zip(bias) {
            plane.iter_mut().for_each(|v| *v += b);
        }
    }
}

/// Adds the per-channel sums of `x` (`[n, C, P]`) to `sums` (`[C]`): a bias gradient.
pub fn add_channel_sums(x: &[f32], c: usize, p: usize, sums: &mut [f32]) {
    assert_eq!(sums.len(), c, "sums of {c} channels");
    for image in x.chunks_exact(c * p) {
        for (plane, s) in image.chunks_exact(p).zip(sums.iter_mut()) {
            *s += sum(plane);
        }
    }
}

/// Σ `values`, in 16 running sums (a single running sum is a chain of dependent adds that
/// does not vectorise).
fn sum(values: &[f32]) -> f32 {
    let blocks = values.chunks_exact(16);
    let tail: f32 = blocks.remainder().iter().sum();
    let mut lanes = [0.0f32; 16];
    for block in blocks {
        lanes.iter_mut().zip(block).for_each(|(l, v)| *l += v);
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::direct::{assert_close, geometries, taps, values};

    /// Column-matrix index of a tap: row `row`, column `(img, p)` of `n` images.
    fn column(g: &Geometry, n: usize, row: usize, img: usize, p: usize) -> usize {
        (row * n + img) * g.positions() + p
    }

    #[test]
    fn im2col_copies_every_tap_and_zeros_the_padding() {
        let n = 2;
        for g in geometries() {
            let x = values(n * g.channels * g.height * g.width, 0.37);
            let mut want = vec![0.0; g.rows() * n * g.positions()];
            for t in taps(&g, n) {
                want[column(&g, n, t.row, t.n, t.p)] = x[t.pixel];
            }
            let mut got = vec![f32::NAN; want.len()];
            im2col(&x, n, &g, &mut got);
            assert_eq!(got, want, "{g:?}");
        }
    }

    #[test]
    fn col2im_adds_up_every_tap() {
        let n = 2;
        for g in geometries() {
            let cols = values(g.rows() * n * g.positions(), 0.61);
            let mut want = vec![0.0; n * g.channels * g.height * g.width];
            for t in taps(&g, n) {
                want[t.pixel] += cols[column(&g, n, t.row, t.n, t.p)];
            }
            let mut got = vec![f32::NAN; want.len()];
            col2im(&cols, n, &g, &mut got);
            assert_close(&got, &want, &format!("{g:?}"));
        }
    }

    #[test]
    #[should_panic(expected = "column buffer")]
    fn a_short_column_buffer_is_refused() {
        let g = geometries()[0];
        let x = vec![0.0; g.channels * g.height * g.width];
        im2col(&x, 1, &g, &mut vec![0.0; g.rows() * g.positions() - 1]);
    }

    #[test]
    #[should_panic(expected = "image buffer")]
    fn a_short_image_buffer_is_refused() {
        let g = geometries()[0];
        let cols = vec![0.0; g.rows() * g.positions()];
        col2im(
            &cols,
            1,
            &g,
            &mut vec![0.0; g.channels * g.height * g.width - 1],
        );
    }
}

//! The convolution passes on plain `f32` slices, a few images at a time.
//!
//! A whole batch's column matrix is large (the VAE's second convolution: 512 rows × 6,272
//! columns, 12.8 MB at batch 128), and every pass over it went through memory: im2col wrote it,
//! gemm read it back to pack it, the backward pass packed it again for the weight gradient,
//! and the column-matrix gradient was written and read once more by col2im. Here the batch is
//! cut into chunks whose column matrix fits in half of a core's L2 cache ([`CHUNK_FLOATS`]); each
//! chunk's im2col, products and col2im run back to back on the same small buffers, and the
//! backward pass rebuilds a chunk's column matrix from the saved input instead of keeping the
//! whole batch's. The weight gradient adds up over the chunks inside the matrix product.
//!
//! Threads: inside a data-parallel training step (`train::step`) each thread runs its own
//! part of the batch, and all of this runs on that thread. Elsewhere (a whole batch on the
//! calling thread) the chunks are shared out among rayon's threads in contiguous groups, one
//! per thread; each group adds up its own weight gradient and the groups' sums are added in
//! order, so results depend on the thread count but never on timing.

use super::im2col::{self, Geometry};
use super::matmul::{Mat, product_into};

/// Column-matrix floats per chunk: 128 Ki floats, 512 KiB, half of a 1 MiB L2 (measured on the
/// VAE's shapes: the three products of its second convolution ran 20 % faster in chunks of
/// 4–8 images than over the whole batch of 128).
pub const CHUNK_FLOATS: usize = 128 * 1024;

/// A convolution's shapes: the geometry `g` of the side the column matrix is taken from (the
/// input of a convolution, the output of a transposed one), the batch `n` and the channels on
/// the other side of the weight (`c_out` of a convolution, `c_in` of a transposed one).
#[derive(Clone, Copy, Debug)]
pub struct Shapes {
    pub g: Geometry,
    pub n: usize,
    pub other: usize,
}

impl Shapes {
    /// Column-matrix rows, K.
    fn k(&self) -> usize {
        self.g.rows()
    }

    /// Columns per image, P.
    fn p(&self) -> usize {
        self.g.positions()
    }

    /// Values of one image on the geometry's side.
    fn image(&self) -> usize {
        self.g.channels * self.g.height * self.g.width
    }

    /// Values of one image on the other side (`other` channels over P positions).
    fn other_image(&self) -> usize {
        self.other * self.p()
    }

    /// Images per chunk: as many as keep the column matrix within `budget` floats (at least 1).
    fn chunk(&self, budget: usize) -> usize {
        (budget / (self.k() * self.p()).max(1)).clamp(1, self.n.max(1))
    }
}

/// Column-matrix floats per chunk: [`CHUNK_FLOATS`] unless [`with_chunk_floats`] says
/// otherwise on this thread.
fn budget() -> usize {
    CHUNK_BUDGET.get()
}

thread_local! {
    static CHUNK_BUDGET: std::cell::Cell<usize> = const { std::cell::Cell::new(CHUNK_FLOATS) };
}

/// Runs `f` with chunks of at most `floats` column-matrix values (at least one image): the
/// tests use it to run many chunks on small shapes.
#[doc(hidden)]
pub fn with_chunk_floats<T>(floats: usize, f: impl FnOnce() -> T) -> T {
    let outer = CHUNK_BUDGET.replace(floats);
    let out = f();
    CHUNK_BUDGET.set(outer);
    out
}

/// Per-thread work buffers for one chunk.
struct Scratch {
    /// The chunk's column matrix `[K, m·P]`.
    cols: Vec<f32>,
    /// The chunk on the other side, channel-major `[other, m·P]`.
    other: Vec<f32>,
}

impl Scratch {
    fn new(s: &Shapes, chunk: usize) -> Self {
        Scratch {
            cols: vec![0.0; s.k() * chunk * s.p()],
            other: vec![0.0; s.other * chunk * s.p()],
        }
    }

    /// The buffers cut to `m` images.
    fn take(&mut self, s: &Shapes, m: usize) -> (&mut [f32], &mut [f32]) {
        (
            &mut self.cols[..s.k() * m * s.p()],
            &mut self.other[..s.other * m * s.p()],
        )
    }
}

/// Splits the batch's chunks into groups (one, or one per thread when the calling thread is
/// not already one of rayon's) and runs `f(first image, images, the group's slice of out)` on
/// each, returning the groups' results in order. `out` holds `per_image` values per image.
fn groups<T: Send>(
    n: usize,
    chunk: usize,
    out: Option<&mut [f32]>,
    per_image: usize,
    f: impl Fn(usize, usize, Option<&mut [f32]>) -> T + Sync + Send,
) -> Vec<T> {
    let chunks = n.div_ceil(chunk).max(1);
    let count = threads().min(chunks);
    let images = chunks.div_ceil(count) * chunk;
    let starts: Vec<usize> = (0..n).step_by(images.max(1)).collect();
    let outs: Vec<Option<&mut [f32]>> = match out {
        // (`max(1)`: images of no values, e.g. no channels, leave nothing to split.)
        Some(out) => out
            .chunks_mut((images * per_image).max(1))
            .map(Some)
            .collect(),
        None => starts.iter().map(|_| None).collect(),
    };
    let run = |(start, out): (usize, Option<&mut [f32]>)| f(start, images.min(n - start), out);
    #[cfg(not(target_arch = "wasm32"))]
    if count > 1 {
        use rayon::prelude::*;
        return starts.into_par_iter().zip(outs).map(run).collect();
    }
    starts.into_iter().zip(outs).map(run).collect()
}

/// Threads to share a batch among: 1 on a rayon thread (a part of a data-parallel step), in
/// the browser and under Miri (`scripts/miri`; rayon's global pool would outlive the tests,
/// which Miri reports, and its queues cast integers to pointers, which Miri's strict
/// provenance checks refuse).
fn threads() -> usize {
    #[cfg(not(any(target_arch = "wasm32", miri)))]
    if rayon::current_thread_index().is_none() {
        return rayon::current_num_threads();
    }
    1
}

/// The chunks `(first image, images)` of `count` images from `start`, `chunk` at a time.
fn chunks(start: usize, count: usize, chunk: usize) -> impl Iterator<Item = (usize, usize)> {
    (start..start + count)
        .step_by(chunk)
        .map(move |i| (i, chunk.min(start + count - i)))
}

/// Convolution forward: `x` `[n, C, H, W]` → `out` `[n, c_out, P]` (`weight` `[c_out, K]`).
pub fn conv_forward(s: &Shapes, x: &[f32], weight: &[f32], bias: &[f32], out: &mut [f32]) {
    let chunk = s.chunk(budget());
    groups(
        s.n,
        chunk,
        Some(out),
        s.other_image(),
        |start, count, out| {
            let out = out.expect("an output");
            let mut scratch = Scratch::new(s, chunk);
            for (i, m) in chunks(start, count, chunk) {
                let (cols, y) = scratch.take(s, m);
                im2col::im2col(&x[i * s.image()..][..m * s.image()], m, &s.g, cols);
                let cols = Mat::new(cols, s.k(), m * s.p());
                product_into(Mat::new(weight, s.other, s.k()), cols, y, false);
                let out = &mut out[(i - start) * s.other_image()..][..m * s.other_image()];
                im2col::to_batch_major(y, m, s.other, s.p(), Some(bias), out);
            }
        },
    );
}

/// A weight gradient `[rows, K]` and a bias gradient.
pub struct ParamGrads {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// Adds up the groups' gradients in order (zeros of `[rows, K]` and `[channels]` for none: an
/// empty batch).
fn sum(parts: Vec<ParamGrads>, rows: usize, k: usize, channels: usize) -> ParamGrads {
    let mut total = ParamGrads {
        weight: vec![0.0; rows * k],
        bias: vec![0.0; channels],
    };
    for part in parts {
        total
            .weight
            .iter_mut()
            .zip(&part.weight)
            .for_each(|(t, p)| *t += p);
        total
            .bias
            .iter_mut()
            .zip(&part.bias)
            .for_each(|(t, p)| *t += p);
    }
    total
}

/// The backward passes' frame: the chunks shared out in groups, each group adding up its own
/// weight gradient `[rows, K]` and bias gradient `[channels]`, and the groups' sums added in
/// order. `pass(scratch, first image, images, accumulate, grads, dx)` does one chunk: `dx` is
/// the chunk's part of the input gradient (`dx_image` values per image) when one is wanted,
/// `accumulate` false on a group's first chunk.
fn backward_chunks(
    s: &Shapes,
    dx: Option<&mut [f32]>,
    dx_image: usize,
    [rows, channels]: [usize; 2],
    pass: impl Fn(&mut Scratch, usize, usize, bool, &mut ParamGrads, Option<&mut [f32]>) + Sync + Send,
) -> ParamGrads {
    let chunk = s.chunk(budget());
    let parts = groups(s.n, chunk, dx, dx_image, |start, count, mut dx| {
        let mut scratch = Scratch::new(s, chunk);
        let mut grads = ParamGrads {
            weight: vec![0.0; rows * s.k()],
            bias: vec![0.0; channels],
        };
        for (n, (i, m)) in chunks(start, count, chunk).enumerate() {
            let dx = dx
                .as_deref_mut()
                .map(|dx| &mut dx[(i - start) * dx_image..][..m * dx_image]);
            pass(&mut scratch, i, m, n > 0, &mut grads, dx);
        }
        grads
    });
    sum(parts, rows, s.k(), channels)
}

/// Convolution backward from the output gradient `grad` `[n, c_out, P]`: the weight and bias
/// gradients, and the input gradient into `dx` `[n, C, H, W]` when given.
pub fn conv_backward(
    s: &Shapes,
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
    dx: Option<&mut [f32]>,
) -> ParamGrads {
    let (k, p, c_out) = (s.k(), s.p(), s.other);
    // The weight gradient has c_out rows, the bias c_out channels.
    backward_chunks(
        s,
        dx,
        s.image(),
        [c_out, c_out],
        |scratch, i, m, add, grads, dx| {
            let (cols, dy) = scratch.take(s, m);
            let grad = &grad[i * s.other_image()..][..m * s.other_image()];
            im2col::add_channel_sums(grad, c_out, p, &mut grads.bias);
            im2col::to_channel_major(grad, m, c_out, p, dy);
            im2col::im2col(&x[i * s.image()..][..m * s.image()], m, &s.g, cols);
            let dy = Mat::new(dy, c_out, m * p);
            product_into(dy, Mat::new(cols, k, m * p).t(), &mut grads.weight, add);
            if let Some(dx) = dx {
                // The column matrix is not needed again: its buffer takes Wᵀ·dY.
                product_into(Mat::new(weight, c_out, k).t(), dy, cols, false);
                im2col::col2im(cols, m, &s.g, dx);
            }
        },
    )
}

/// Transposed-convolution forward: `x` `[n, c_in, P]` → `out` `[n, C, H, W]` (`weight`
/// `[c_in, K]`; the geometry is that of the output side).
pub fn conv_transpose_forward(
    s: &Shapes,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    let chunk = s.chunk(budget());
    let (k, p, c_in) = (s.k(), s.p(), s.other);
    groups(s.n, chunk, Some(out), s.image(), |start, count, out| {
        let out = out.expect("an output");
        let mut scratch = Scratch::new(s, chunk);
        for (i, m) in chunks(start, count, chunk) {
            let (cols, xc) = scratch.take(s, m);
            let x = &x[i * s.other_image()..][..m * s.other_image()];
            im2col::to_channel_major(x, m, c_in, p, xc);
            let xc = Mat::new(xc, c_in, m * p);
            product_into(Mat::new(weight, c_in, k).t(), xc, cols, false);
            let out = &mut out[(i - start) * s.image()..][..m * s.image()];
            im2col::col2im(cols, m, &s.g, out);
        }
        let plane = s.g.height * s.g.width;
        im2col::add_bias(&mut out[..count * s.image()], s.g.channels, plane, bias);
    });
}

/// Transposed-convolution backward from the output gradient `grad` `[n, C, H, W]`: the weight
/// and bias gradients, and the input gradient into `dx` `[n, c_in, P]` when given.
pub fn conv_transpose_backward(
    s: &Shapes,
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
    dx: Option<&mut [f32]>,
) -> ParamGrads {
    let (k, p, c_in) = (s.k(), s.p(), s.other);
    let plane = s.g.height * s.g.width;
    // The weight gradient has c_in rows, the bias one value per output channel.
    backward_chunks(
        s,
        dx,
        s.other_image(),
        [c_in, s.g.channels],
        |scratch, i, m, add, grads, dx| {
            let (cols, xc) = scratch.take(s, m);
            let grad = &grad[i * s.image()..][..m * s.image()];
            im2col::add_channel_sums(grad, s.g.channels, plane, &mut grads.bias);
            im2col::im2col(grad, m, &s.g, cols);
            let cols = Mat::new(cols, k, m * p);
            let x = &x[i * s.other_image()..][..m * s.other_image()];
            im2col::to_channel_major(x, m, c_in, p, xc);
            product_into(Mat::new(xc, c_in, m * p), cols.t(), &mut grads.weight, add);
            if let Some(dx) = dx {
                // x is not needed again: its buffer takes W·cols.
                product_into(Mat::new(weight, c_in, k), cols, xc, false);
                im2col::to_batch_major(xc, m, c_in, p, None, dx);
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::direct::{self, assert_close, geometries, values};

    fn assert_grads_close(got: &ParamGrads, want: &ParamGrads, what: &str) {
        assert_close(
            &got.weight,
            &want.weight,
            &format!("{what}: weight gradient"),
        );
        assert_close(&got.bias, &want.bias, &format!("{what}: bias gradient"));
    }

    /// The four passes against their definitions (`direct.rs`) on `n` images of `g`, with
    /// `other` channels on the other side, `per_chunk` images per chunk.
    fn check(g: Geometry, n: usize, other: usize, per_chunk: usize) {
        let s = Shapes { g, n, other };
        let what = format!("{g:?}, {n} images, {other} channels, {per_chunk} per chunk");
        let x = values(n * s.image(), 0.37);
        let y = values(n * s.other_image(), 0.73);
        let weight = values(other * s.k(), 0.59);
        let (bias_other, bias_image) = (values(other, 1.3), values(g.channels, 1.7));
        let budget = per_chunk * s.k() * s.p();
        with_chunk_floats(budget, || {
            let mut out = vec![f32::NAN; y.len()];
            conv_forward(&s, &x, &weight, &bias_other, &mut out);
            let want = direct::conv_forward(&s, &x, &weight, &bias_other);
            assert_close(&out, &want, &format!("conv forward, {what}"));

            let mut dx = vec![f32::NAN; x.len()];
            let grads = conv_backward(&s, &x, &weight, &y, Some(&mut dx));
            let (want, want_dx) = direct::conv_backward(&s, &x, &weight, &y);
            assert_grads_close(&grads, &want, &format!("conv, {what}"));
            assert_close(&dx, &want_dx, &format!("conv input gradient, {what}"));

            let mut out = vec![f32::NAN; x.len()];
            conv_transpose_forward(&s, &y, &weight, &bias_image, &mut out);
            let want = direct::conv_transpose_forward(&s, &y, &weight, &bias_image);
            assert_close(&out, &want, &format!("transposed forward, {what}"));

            let mut dy = vec![f32::NAN; y.len()];
            let grads = conv_transpose_backward(&s, &y, &weight, &x, Some(&mut dy));
            let (want, want_dy) = direct::conv_transpose_backward(&s, &y, &weight, &x);
            assert_grads_close(&grads, &want, &format!("transposed, {what}"));
            assert_close(&dy, &want_dy, &format!("transposed input gradient, {what}"));
        });
    }

    /// Every geometry, three images as one chunk, one per chunk and two per chunk (a chunk of
    /// two and one of one). Under Miri, to keep it to a minute, only the last, which takes both
    /// a chunk of several images and the sum over chunks, and every other geometry (strides 1,
    /// 2 and 3, a 1×1 kernel); the next test takes them all, one image at a time.
    #[test]
    fn the_passes_match_their_definitions() {
        let (chunkings, every): (&[usize], usize) = if cfg!(miri) {
            (&[2], 2)
        } else {
            (&[3, 1, 2], 1)
        };
        for g in geometries().into_iter().step_by(every) {
            for &per_chunk in chunkings {
                check(g, 3, 2, per_chunk);
            }
        }
    }

    /// One output channel and one image, the smallest matrices.
    #[test]
    fn single_channels_and_images_match_their_definitions() {
        for g in geometries() {
            check(g, 1, 1, 1);
        }
    }

    #[test]
    fn an_empty_batch_gives_no_output_and_zero_gradients() {
        let g = geometries()[2];
        let s = Shapes { g, n: 0, other: 3 };
        let (weight, bias) = (vec![0.5; 3 * g.rows()], vec![0.5; 3]);
        conv_forward(&s, &[], &weight, &bias, &mut []);
        conv_transpose_forward(&s, &[], &weight, &bias, &mut []);
        for grads in [
            conv_backward(&s, &[], &weight, &[], Some(&mut [])),
            conv_transpose_backward(&s, &[], &weight, &[], Some(&mut [])),
        ] {
            assert_eq!(grads.weight, vec![0.0; 3 * g.rows()]);
            assert!(grads.bias.iter().all(|&b| b == 0.0));
        }
    }

    /// A weight of the wrong size is refused by the matrix product's checks.
    #[test]
    #[should_panic(expected = "matrix of 2×")]
    fn a_short_weight_is_refused() {
        let g = geometries()[0];
        let s = Shapes { g, n: 1, other: 2 };
        let x = values(s.image(), 0.37);
        let mut out = vec![0.0; s.other_image()];
        let weight = vec![0.0; 2 * g.rows() - 1];
        conv_forward(&s, &x, &weight, &[0.0; 2], &mut out);
    }
}

//! The kernels' matrix products, straight through the `gemm` crate that burn's CPU backend
//! uses itself, for two things burn's `float_matmul` does not offer:
//!
//! - **No nested threading.** burn splits every product above 192³ multiply-adds over all of
//!   rayon's threads. Inside a data-parallel training step (`train::step`) each thread already
//!   runs its own part of the batch, and the nested split only added synchronisation: on a
//!   worker thread the products here run on that thread alone.
//! - **No zero-filled output.** The result is written into fresh memory, not into a buffer
//!   zeroed first.

use gemm::Parallelism;

/// A row-major `rows × cols` matrix, or the transpose of one (`transposed`: `data` holds the
/// `cols × rows` matrix row after row).
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub transposed: bool,
}

impl<'a> Mat<'a> {
    /// `data` as a row-major `rows × cols` matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix of {rows}×{cols}");
        Mat {
            data,
            rows,
            cols,
            transposed: false,
        }
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        Mat {
            rows: self.cols,
            cols: self.rows,
            transposed: !self.transposed,
            ..self
        }
    }

    /// (column stride, row stride) in elements.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (self.rows as isize, 1)
        } else {
            (1, self.cols as isize)
        }
    }
}

/// Products smaller than this many multiply-adds run on one thread (burn's own threshold).
#[cfg(not(target_arch = "wasm32"))]
const PARALLEL_WORK: usize = 192 * 192 * 192;

fn parallelism(work: usize) -> Parallelism {
    #[cfg(not(target_arch = "wasm32"))]
    {
        if work >= PARALLEL_WORK && rayon::current_thread_index().is_none() {
            return Parallelism::Rayon(0);
        }
    }
    let _ = work;
    Parallelism::None
}

/// `a · b`, row-major `[a.rows, b.cols]`.
pub fn product(a: Mat, b: Mat) -> Vec<f32> {
    let len = a.rows * b.cols;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    // SAFETY: `gemm_into` with `accumulate` false writes all of `out` without reading it.
    unsafe {
        gemm_into(a, b, out.as_mut_ptr(), len, false);
        out.set_len(len);
    }
    out
}

/// `out = a · b` (`accumulate` false) or `out += a · b` (true), `out` row-major
/// `[a.rows, b.cols]`.
pub fn product_into(a: Mat, b: Mat, out: &mut [f32], accumulate: bool) {
    // SAFETY: `out` is an initialised slice of its length.
    unsafe { gemm_into(a, b, out.as_mut_ptr(), out.len(), accumulate) }
}

/// # Safety
/// `out` points to `len` writable floats, initialised when `accumulate` is true.
unsafe fn gemm_into(a: Mat, b: Mat, out: *mut f32, len: usize, accumulate: bool) {
    assert_eq!(a.cols, b.rows, "inner dimensions");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(len, m * n, "output of {m}×{n}");
    let (a_cs, a_rs) = a.strides();
    let (b_cs, b_rs) = b.strides();
    // SAFETY: the views were checked against their slices' lengths (`Mat::new`), so every
    // element gemm reads is inside `a.data` and `b.data`; `out` has room for the m×n result
    // (checked above), which gemm reads only when `accumulate` (`read_dst`, alpha 1).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism(m * n * k),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product of small matrices, every transposition, against the definition.
    #[test]
    fn products_match_the_definition() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.21).cos()).collect();
        let want: Vec<f32> = (0..m * n)
            .map(|i| (0..k).map(|j| a[(i / n) * k + j] * b[j * n + i % n]).sum())
            .collect();
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        for (x, y) in [
            (Mat::new(&a, m, k), Mat::new(&b, k, n)),
            (Mat::new(&at, k, m).t(), Mat::new(&b, k, n)),
            (Mat::new(&a, m, k), Mat::new(&bt, n, k).t()),
            (Mat::new(&at, k, m).t(), Mat::new(&bt, n, k).t()),
        ] {
            let got = product(x, y);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{g} vs {w}");
            }
            // Accumulating onto what is there: twice the product.
            let mut twice = got.clone();
            product_into(x, y, &mut twice, true);
            for (g, w) in twice.iter().zip(&want) {
                assert!((g - 2.0 * w).abs() < 2e-5, "{g} vs 2×{w}");
            }
        }
    }
}

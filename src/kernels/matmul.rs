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
///
/// The fields are private: every `Mat` comes from [`Mat::new`], which checks that `data` holds
/// exactly `rows · cols` values, and [`Mat::t`], which keeps that true. The unsafe matrix
/// product below relies on it. A `Mat` cannot be built by hand:
///
/// ```compile_fail,E0451
/// use digit_lab::kernels::matmul::Mat;
/// let m = Mat { data: &[1.0], rows: 4, cols: 4, transposed: false };
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    transposed: bool,
}

impl<'a> Mat<'a> {
    /// `data` as a row-major `rows × cols` matrix.
    ///
    /// # Panics
    /// When `data` does not hold exactly `rows · cols` values (or that product overflows).
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(
            rows.checked_mul(cols) == Some(data.len()),
            "matrix of {rows}×{cols} over {} values",
            data.len()
        );
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

    /// (column stride, row stride) in elements: element `(i, j)` is
    /// `data[i · row stride + j · column stride]`.
    fn strides(&self) -> (isize, isize) {
        // `as isize` is exact: gemm is only called with both sides non-empty, so `rows` and
        // `cols` are at most `data.len()`, which is at most `isize::MAX`.
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

/// The length of `a · b`, `a.rows · b.cols`.
///
/// # Panics
/// When the inner dimensions differ or the length overflows.
fn product_len(a: Mat, b: Mat) -> usize {
    assert_eq!(
        a.cols, b.rows,
        "matrix product of {}×{} by {}×{}: inner dimensions",
        a.rows, a.cols, b.rows, b.cols
    );
    a.rows
        .checked_mul(b.cols)
        .expect("matrix product: output too large")
}

/// `a · b`, row-major `[a.rows, b.cols]`.
pub fn product(a: Mat, b: Mat) -> Vec<f32> {
    let len = product_len(a, b);
    let mut out: Vec<f32> = Vec::with_capacity(len);
    // SAFETY: `out`'s buffer has room for `len` floats, the length of `a · b`; `gemm_into`
    // with `accumulate` false writes all `len` of them and reads none, so they are
    // initialised when `set_len` exposes them.
    unsafe {
        gemm_into(a, b, out.as_mut_ptr(), len, false);
        out.set_len(len);
    }
    out
}

/// `out = a · b` (`accumulate` false) or `out += a · b` (true), `out` row-major
/// `[a.rows, b.cols]`.
///
/// # Panics
/// When the inner dimensions differ or `out` is not of `a.rows · b.cols` values.
pub fn product_into(a: Mat, b: Mat, out: &mut [f32], accumulate: bool) {
    let len = product_len(a, b);
    assert_eq!(
        out.len(),
        len,
        "matrix product output of {}×{}",
        a.rows,
        b.cols
    );
    // SAFETY: `out` is an initialised, exclusively borrowed slice of exactly the product's
    // length.
    unsafe { gemm_into(a, b, out.as_mut_ptr(), len, accumulate) }
}

/// Writes (`accumulate` false) or adds (true) `a · b` into the row-major `[a.rows, b.cols]`
/// matrix at `out`.
///
/// # Safety
/// `len` is `a.rows · b.cols` (checked again here), and `out` points to `len` writable floats
/// that nothing else reads or writes during the call, initialised when `accumulate` is true.
unsafe fn gemm_into(a: Mat, b: Mat, out: *mut f32, len: usize, accumulate: bool) {
    assert_eq!(len, product_len(a, b), "matrix product output");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return; // nothing to write
    }
    if k == 0 {
        // A product of empty sums: zeros, or nothing to add.
        if !accumulate {
            // SAFETY: `out` points to `len` writable floats (the caller's contract).
            unsafe { std::ptr::write_bytes(out, 0, len) };
        }
        return;
    }
    let (a_cs, a_rs) = a.strides();
    let (b_cs, b_rs) = b.strides();
    // SAFETY: every `Mat` holds exactly rows·cols values (`Mat::new`, kept by `Mat::t`), and
    // its strides address element (i, j) at most at (rows − 1, cols − 1), the last of them: so
    // gemm's reads of the m×k `a` and k×n `b` stay inside `a.data` and `b.data`. m, k and n are
    // at least 1 here, so each is at most the length of a slice (≤ isize::MAX) and the strides
    // are exact. `out` holds the m×n result at row stride n (len = m·n, checked above); gemm
    // reads it only when `accumulate` (`read_dst`; alpha 1 then, 0 otherwise), which the
    // caller guarantees is initialised. `out` is not one of the inputs: it is exclusively the
    // caller's, and the inputs are shared borrows.
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
            parallelism(m.saturating_mul(n).saturating_mul(k)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, step: f32) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * step).sin()).collect()
    }

    /// `x` (`rows × cols`, row-major) transposed, as a new row-major matrix.
    fn transposed(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols)
            .map(|i| x[(i % rows) * cols + i / rows])
            .collect()
    }

    /// The products of `m×k` by `k×n` matrices, every transposition, against the definition;
    /// accumulating onto the result doubles it.
    fn check_products(m: usize, k: usize, n: usize) {
        let (a, b) = (values(m * k, 0.37), values(k * n, 0.21));
        let want: Vec<f32> = (0..m * n)
            .map(|i| (0..k).map(|j| a[(i / n) * k + j] * b[j * n + i % n]).sum())
            .collect();
        let (at, bt) = (transposed(&a, m, k), transposed(&b, k, n));
        for (x, y) in [
            (Mat::new(&a, m, k), Mat::new(&b, k, n)),
            (Mat::new(&at, k, m).t(), Mat::new(&b, k, n)),
            (Mat::new(&a, m, k), Mat::new(&bt, n, k).t()),
            (Mat::new(&at, k, m).t(), Mat::new(&bt, n, k).t()),
        ] {
            let got = product(x, y);
            assert_eq!(got.len(), m * n);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5 * k as f32, "{m}×{k}×{n}: {g} vs {w}");
            }
            let mut twice = got.clone();
            product_into(x, y, &mut twice, true);
            for (g, w) in twice.iter().zip(&want) {
                assert!(
                    (g - 2.0 * w).abs() < 2e-5 * k as f32,
                    "{m}×{k}×{n}: {g} vs 2×{w}"
                );
            }
        }
    }

    /// Small products (gemm's path for outputs of up to 16×16 values) and a larger one (its
    /// packed, blocked path).
    #[test]
    fn products_match_the_definition() {
        check_products(5, 7, 3);
        check_products(1, 1, 1);
        check_products(19, 11, 17);
    }

    /// Empty sides: an empty output, or (no inner dimension) zeros, and nothing added.
    #[test]
    fn empty_products_are_zeros_or_nothing() {
        let (a, b) = (values(3 * 2, 0.5), values(2 * 4, 0.5));
        assert!(product(Mat::new(&[], 0, 2), Mat::new(&b, 2, 4)).is_empty());
        assert!(product(Mat::new(&a, 3, 2), Mat::new(&[], 2, 0)).is_empty());
        assert_eq!(
            product(Mat::new(&[], 3, 0), Mat::new(&[], 0, 4)),
            vec![0.0; 12]
        );
        let mut out = vec![1.5; 12];
        product_into(Mat::new(&[], 3, 0), Mat::new(&[], 0, 4), &mut out, true);
        assert_eq!(out, vec![1.5; 12]);
        product_into(
            Mat::new(&[], 0, 3).t(),
            Mat::new(&[], 0, 4),
            &mut out,
            false,
        );
        assert_eq!(out, vec![0.0; 12]);
    }

    #[test]
    #[should_panic(expected = "matrix of 3×4 over 11 values")]
    fn a_short_slice_is_refused() {
        Mat::new(&[0.0; 11], 3, 4);
    }

    /// 2 · 2⁶³ wraps to 0 on 64 bits: an unchecked length test took an empty slice for a
    /// 2 × 2⁶³ matrix, and the product below read 2⁶³ values past it.
    #[test]
    #[should_panic(expected = "matrix of 2×")]
    fn a_length_that_overflows_is_refused() {
        let huge = usize::MAX / 2 + 1;
        let a = Mat::new(&[], 2, huge);
        let b = Mat::new(&[], huge, 2);
        product(a, b);
    }

    #[test]
    #[should_panic(expected = "inner dimensions")]
    fn mismatched_inner_dimensions_are_refused() {
        let (a, b) = (values(6, 0.5), values(6, 0.5));
        product(Mat::new(&a, 2, 3), Mat::new(&b, 2, 3));
    }

    #[test]
    #[should_panic(expected = "matrix product output of 2×2")]
    fn a_short_output_is_refused() {
        let (a, b) = (values(6, 0.5), values(6, 0.5));
        let mut out = vec![0.0; 3];
        product_into(Mat::new(&a, 2, 3), Mat::new(&b, 3, 2), &mut out, true);
    }
}

//! Flush-to-zero for the CPU trainer. As a model grows confident, values below f32's normal range
//! (|x| < 1.2e-38) appear, e.g. the VAE's BCE gradient σ(logit) − x on background pixels whose
//! logits pass −87. On Intel CPUs every FMA that touches such a subnormal number takes a microcode
//! assist: VAE epochs on one thread slowed from 42 s to 150 s within 15 epochs, nearly all of it in
//! the matrix-multiply kernels. Flushing them to zero (as `torch.set_flush_denormal(True)` does)
//! changes values only below 1.2e-38.

/// MXCSR bits: flush subnormal results to zero (FTZ) and read subnormal inputs as zero (DAZ).
#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

/// Turns on flush-to-zero for the calling thread (x86-64; elsewhere a no-op). Returns whether
/// it could.
pub fn flush_denormals_on_this_thread() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // The intrinsics are deprecated in favour of inline assembly, but they remain the
        // documented way to read and write MXCSR, and SSE is always present on x86-64.
        #[allow(deprecated)]
        // SAFETY: only changes how subnormal floats are treated on this thread.
        unsafe {
            use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
            _mm_setcsr(_mm_getcsr() | FTZ_DAZ);
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A rayon pool builder whose threads flush denormals; `RAYON_NUM_THREADS` still sets their
/// number. The trainer installs it as the global pool, which burn's CPU kernels use.
pub fn flushing_pool_builder() -> rayon::ThreadPoolBuilder {
    rayon::ThreadPoolBuilder::new().start_handler(|_| {
        flush_denormals_on_this_thread();
    })
}

/// Flush-to-zero on the calling thread and on the global rayon pool. Call it before anything
/// uses rayon: the global pool can be configured only once.
pub fn flush_denormals_everywhere() -> Result<(), rayon::ThreadPoolBuildError> {
    flush_denormals_on_this_thread();
    flushing_pool_builder().build_global()
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// Half the smallest normal f32: a subnormal result unless flushed.
    fn halved_min_positive() -> f32 {
        black_box(f32::MIN_POSITIVE) * black_box(0.5)
    }

    #[test]
    fn flushes_on_the_calling_thread_only() {
        // A fresh thread, so the test harness's thread keeps its default.
        std::thread::spawn(|| {
            assert!(
                halved_min_positive() > 0.0,
                "subnormals are kept by default"
            );
            assert!(flush_denormals_on_this_thread());
            assert_eq!(halved_min_positive(), 0.0);
        })
        .join()
        .unwrap();
        assert!(std::thread::spawn(halved_min_positive).join().unwrap() > 0.0);
    }

    #[test]
    fn pool_threads_flush() {
        let pool = flushing_pool_builder().num_threads(2).build().unwrap();
        let results: Vec<f32> = pool.broadcast(|_| halved_min_positive());
        assert_eq!(results, vec![0.0, 0.0]);
    }
}

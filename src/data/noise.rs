//! Seeded Gaussian noise: the denoising autoencoder's input corruption and the VAE's ε.

use rand::Rng;
use rand_distr::StandardNormal;

/// Corrupts pixels in place as PROTOCOL.md says: clip(x + amount·N(0, 1), 0, 1).
pub fn add_gaussian_noise(pixels: &mut [f32], amount: f32, rng: &mut impl Rng) {
    for p in pixels.iter_mut() {
        let n: f32 = rng.sample(StandardNormal);
        *p = (*p + amount * n).clamp(0.0, 1.0);
    }
}

/// `len` independent N(0, 1) samples.
pub fn standard_normal(len: usize, rng: &mut impl Rng) -> Vec<f32> {
    (0..len).map(|_| rng.sample(StandardNormal)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn noise_is_seeded_clipped_and_scaled() {
        let clean = vec![0.5f32; 10_000];
        let mut a = clean.clone();
        let mut b = clean.clone();
        add_gaussian_noise(&mut a, 0.1, &mut StdRng::seed_from_u64(7));
        add_gaussian_noise(&mut b, 0.1, &mut StdRng::seed_from_u64(7));
        assert_eq!(a, b, "same seed, same noise");
        assert!(a.iter().all(|p| (0.0..=1.0).contains(p)));
        let var = a.iter().map(|p| (p - 0.5).powi(2)).sum::<f32>() / a.len() as f32;
        assert!((var.sqrt() - 0.1).abs() < 0.01, "std {}", var.sqrt());
        let mut zero = clean.clone();
        add_gaussian_noise(&mut zero, 0.0, &mut StdRng::seed_from_u64(1));
        assert_eq!(zero, clean);
    }
}

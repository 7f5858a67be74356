//! Principal component analysis by eigen-decomposition of the covariance matrix.

use nalgebra::{DMatrix, SymmetricEigen};

/// A fitted PCA: the mean and the leading components (unit vectors, largest variance first).
#[derive(Clone, Debug)]
pub struct Pca {
    pub mean: Vec<f64>,
    /// `components[k]` is the k-th principal axis.
    pub components: Vec<Vec<f64>>,
    /// Variance along each component.
    pub variances: Vec<f64>,
}

impl Pca {
    /// Fits `k` components to `n` rows of `dim` values (row-major).
    pub fn fit(rows: &[f32], dim: usize, k: usize) -> Self {
        let n = rows.len() / dim;
        assert!(
            n > 1 && k <= dim,
            "PCA needs at least two rows and k <= dim"
        );
        let mut mean = vec![0.0; dim];
        for row in rows.chunks_exact(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let centred = DMatrix::from_fn(n, dim, |i, j| f64::from(rows[i * dim + j]) - mean[j]);
        let cov = (centred.transpose() * &centred) / (n as f64 - 1.0);
        let eigen = SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..dim).collect();
        order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
        let components = order[..k]
            .iter()
            .map(|&c| eigen.eigenvectors.column(c).iter().copied().collect())
            .collect();
        let variances = order[..k].iter().map(|&c| eigen.eigenvalues[c]).collect();
        Self {
            mean,
            components,
            variances,
        }
    }

    /// Projects rows onto the components: `n × k` values, row-major.
    pub fn transform(&self, rows: &[f32]) -> Vec<f32> {
        let dim = self.mean.len();
        rows.chunks_exact(dim)
            .flat_map(|row| {
                self.components.iter().map(move |c| {
                    row.iter()
                        .zip(&self.mean)
                        .zip(c)
                        .map(|((&v, m), w)| (f64::from(v) - m) * w)
                        .sum::<f64>() as f32
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_axis_of_a_hand_checked_case() {
        // Points on the line y = x (spread 2) with a little spread across it (0.1):
        // the first axis is ±(1, 1)/√2, the second ±(1, −1)/√2, variances known in closed form.
        let rows: Vec<f32> = [(-2.0, -2.0), (2.0, 2.0), (0.1, -0.1), (-0.1, 0.1)]
            .iter()
            .flat_map(|&(x, y)| [x + 1.0, y + 3.0])
            .collect();
        let pca = Pca::fit(&rows, 2, 2);
        assert!((pca.mean[0] - 1.0).abs() < 1e-9 && (pca.mean[1] - 3.0).abs() < 1e-9);
        let [a, b] = [pca.components[0][0], pca.components[0][1]];
        assert!(
            (a.abs() - 0.5f64.sqrt()).abs() < 1e-6 && (a - b).abs() < 1e-6,
            "{a} {b}"
        );
        // Var along (1,1)/√2: projections ±2√2 (and 0, 0) → (8 + 8) / 3.
        assert!((pca.variances[0] - 16.0 / 3.0).abs() < 1e-6);
        // Across: projections ±0.1√2 → (0.02 + 0.02) / 3.
        assert!((pca.variances[1] - 0.04 / 3.0).abs() < 1e-6);
        let projected = pca.transform(&rows);
        assert!((projected[0].abs() - 8f32.sqrt()).abs() < 1e-5);
        assert!(projected[1].abs() < 1e-5);
    }
}

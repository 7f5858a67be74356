//! A small L2-regularised logistic regression (Newton's method on standardised features, with
//! optional quadratic terms), the digit check's combination of its scores: the log-odds that an
//! image is *not* a digit. Pure Rust and tiny (a few hundred numbers), so the page evaluates it
//! as the CLI does.

use serde::{Deserialize, Serialize};

/// Standardised inputs are clipped to ±this before the quadratic terms are formed.
const CLIP: f64 = 8.0;

/// A fitted model. The inputs are standardised (`centre`, `spread`) and clipped to ±8; with
/// `quadratic`, their pairwise products (squares included) are appended. Then
/// `score = bias + Σ w_j · e_j` over these expanded values `e`, each `e_j` first clamped on the
/// side that speaks *for* a digit to `bound_j`, the furthest the fitting digits went (so no term
/// can vouch for an image more than it did for any digit).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Logistic {
    pub centre: Vec<f64>,
    pub spread: Vec<f64>,
    pub quadratic: bool,
    pub weights: Vec<f64>,
    pub bias: f64,
    pub bound: Vec<f64>,
}

impl Logistic {
    /// Fits the log-odds of `positive` (label 1) against `negative` (label 0), each class given
    /// the same total weight, with penalty `l2 · |w|²/2` on the standardised weights.
    pub fn fit(positive: &[Vec<f64>], negative: &[Vec<f64>], l2: f64, quadratic: bool) -> Self {
        let (centre, spread) = moments(positive.iter().chain(negative));
        let mut model = Self {
            centre,
            spread,
            quadratic,
            weights: Vec::new(),
            bias: 0.0,
            bound: Vec::new(),
        };
        let positive: Vec<Vec<f64>> = positive.iter().map(|r| model.expand(r)).collect();
        let negative: Vec<Vec<f64>> = negative.iter().map(|r| model.expand(r)).collect();
        let d = positive.first().or(negative.first()).map_or(0, Vec::len);
        let (mean, scale) = moments(positive.iter().chain(&negative));
        let standardise = |row: &Vec<f64>| -> Vec<f64> {
            row.iter()
                .zip(&mean)
                .zip(&scale)
                .map(|((v, m), s)| (v - m) / s)
                .collect()
        };
        let w1 = 0.5 / positive.len().max(1) as f64;
        let w0 = 0.5 / negative.len().max(1) as f64;
        let data: Vec<(Vec<f64>, f64, f64)> = positive
            .iter()
            .map(|r| (standardise(r), 1.0, w1))
            .chain(negative.iter().map(|r| (standardise(r), 0.0, w0)))
            .collect();
        let theta = newton(&data, d, l2);
        let (mut digit_low, mut digit_high) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
        for (z, y, _) in &data {
            if *y == 0.0 {
                for j in 0..d {
                    digit_low[j] = digit_low[j].min(z[j]);
                    digit_high[j] = digit_high[j].max(z[j]);
                }
            }
        }
        // Back from standardised to expanded units: w·(e − m)/s = (w/s)·e − w·m/s.
        model.weights = (0..d).map(|j| theta[j] / scale[j]).collect();
        model.bias = theta[d] - (0..d).map(|j| theta[j] * mean[j] / scale[j]).sum::<f64>();
        model.bound = (0..d)
            .map(|j| {
                let side = if theta[j] > 0.0 {
                    digit_low[j]
                } else {
                    digit_high[j]
                };
                mean[j] + scale[j] * side
            })
            .collect();
        model
    }

    /// The standardised, clipped inputs and, with `quadratic`, their pairwise products.
    fn expand(&self, x: &[f64]) -> Vec<f64> {
        let z: Vec<f64> = x
            .iter()
            .zip(&self.centre)
            .zip(&self.spread)
            .map(|((v, c), s)| ((v - c) / s).clamp(-CLIP, CLIP))
            .collect();
        let mut out = z.clone();
        if self.quadratic {
            for i in 0..z.len() {
                for j in i..z.len() {
                    out.push(z[i] * z[j]);
                }
            }
        }
        out
    }

    /// The log-odds of the positive class (not a digit); `+∞` for a non-finite feature.
    pub fn score(&self, x: &[f64]) -> f64 {
        assert_eq!(x.len(), self.centre.len(), "feature count");
        if x.iter().any(|v| !v.is_finite()) {
            return f64::INFINITY;
        }
        let mut s = self.bias;
        for ((e, w), b) in self
            .expand(x)
            .into_iter()
            .zip(&self.weights)
            .zip(&self.bound)
        {
            // Clamp on the side that lowers the score.
            let e = if *w > 0.0 { e.max(*b) } else { e.min(*b) };
            s += w * e;
        }
        s
    }
}

/// Mean and standard deviation (at least 1e-9) of each column.
fn moments<'a>(rows: impl Iterator<Item = &'a Vec<f64>> + Clone) -> (Vec<f64>, Vec<f64>) {
    let d = rows.clone().next().map_or(0, Vec::len);
    let n = rows.clone().count().max(1) as f64;
    let mut mean = vec![0.0; d];
    for row in rows.clone() {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v / n;
        }
    }
    let mut scale = vec![0.0; d];
    for row in rows {
        for ((s, v), m) in scale.iter_mut().zip(row).zip(&mean) {
            *s += (v - m).powi(2) / n;
        }
    }
    for s in &mut scale {
        *s = s.sqrt().max(1e-9);
    }
    (mean, scale)
}

/// The weighted, penalised log-loss of `theta` (d weights, then the bias).
fn loss(data: &[(Vec<f64>, f64, f64)], theta: &[f64], l2: f64) -> f64 {
    let d = theta.len() - 1;
    let mut total = 0.5 * l2 * theta[..d].iter().map(|t| t * t).sum::<f64>();
    for (z, y, w) in data {
        let s = theta[d] + z.iter().zip(theta).map(|(a, b)| a * b).sum::<f64>();
        // log(1 + e^s) − y·s, stably.
        let softplus = if s > 0.0 {
            s + (-s).exp().ln_1p()
        } else {
            s.exp().ln_1p()
        };
        total += w * (softplus - y * s);
    }
    total
}

/// Newton's method with step halving on the penalised log-loss.
fn newton(data: &[(Vec<f64>, f64, f64)], d: usize, l2: f64) -> Vec<f64> {
    let mut theta = vec![0.0; d + 1];
    let mut current = loss(data, &theta, l2);
    for _ in 0..100 {
        let mut grad = vec![0.0; d + 1];
        let mut hess = vec![vec![0.0; d + 1]; d + 1];
        for (z, y, w) in data {
            let s = theta[d] + z.iter().zip(&theta).map(|(a, b)| a * b).sum::<f64>();
            let p = 1.0 / (1.0 + (-s).exp());
            let x = |j: usize| if j == d { 1.0 } else { z[j] };
            let h = w * p * (1.0 - p);
            for j in 0..=d {
                let xj = x(j);
                grad[j] += w * (p - y) * xj;
                let hj = h * xj;
                for (k, cell) in hess[j][..=j].iter_mut().enumerate() {
                    *cell += hj * x(k);
                }
            }
        }
        // Only the lower triangle was summed: mirror it.
        let mut hess: Vec<Vec<f64>> = (0..=d)
            .map(|j| {
                (0..=d)
                    .map(|k| if k <= j { hess[j][k] } else { hess[k][j] })
                    .collect()
            })
            .collect();
        for j in 0..=d {
            if j < d {
                grad[j] += l2 * theta[j];
                hess[j][j] += l2;
            }
            hess[j][j] += 1e-12;
        }
        let step = solve(hess, grad);
        let mut t = 1.0;
        loop {
            let next: Vec<f64> = theta.iter().zip(&step).map(|(a, s)| a - t * s).collect();
            let value = loss(data, &next, l2);
            if value <= current || t < 1e-6 {
                let gain = current - value;
                theta = next;
                current = value;
                if gain.abs() < 1e-12 {
                    return theta;
                }
                break;
            }
            t *= 0.5;
        }
    }
    theta
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        b.swap(col, pivot);
        let p = a[col][col];
        if p.abs() < 1e-300 {
            continue;
        }
        for row in col + 1..n {
            let f = a[row][col] / p;
            if f != 0.0 {
                let (above, below) = a.split_at_mut(row);
                for (x, p) in below[0][col..].iter_mut().zip(&above[col][col..]) {
                    *x -= f * p;
                }
                b[row] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = if a[row][row].abs() < 1e-300 {
            0.0
        } else {
            (b[row] - rest) / a[row][row]
        };
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_two_clouds_and_clamps_on_the_digit_side() {
        // Digits near 0, non-digits near 4, on the first feature; the second is noise.
        let digits: Vec<Vec<f64>> = (0..50)
            .map(|i| vec![f64::from(i % 5) * 0.2, f64::from(i % 7)])
            .collect();
        let others: Vec<Vec<f64>> = (0..50)
            .map(|i| vec![4.0 + f64::from(i % 5) * 0.2, f64::from(i % 7)])
            .collect();
        let model = Logistic::fit(&others, &digits, 1e-3, false);
        assert!(model.weights[0] > 0.0);
        assert!(model.weights[0].abs() > 10.0 * model.weights[1].abs());
        assert!(model.score(&[0.4, 3.0]) < 0.0);
        assert!(model.score(&[4.4, 3.0]) > 0.0);
        // Far below every digit counts as the lowest digit, no more.
        assert_eq!(model.score(&[-100.0, 3.0]), model.score(&[0.0, 3.0]));
        assert_eq!(model.score(&[f64::NAN, 3.0]), f64::INFINITY);
    }

    #[test]
    fn the_quadratic_terms_enclose_the_digits() {
        // Digits in a ring of radius < 1, non-digits outside radius 2 on both sides: no line
        // separates them, a quadratic boundary does.
        let point = |i: usize, r: f64| {
            let a = i as f64 * 0.7;
            vec![r * a.cos(), r * a.sin()]
        };
        let digits: Vec<Vec<f64>> = (0..200)
            .map(|i| point(i, 0.2 + 0.7 * (i % 5) as f64 / 5.0))
            .collect();
        let others: Vec<Vec<f64>> = (0..200).map(|i| point(i, 2.0 + (i % 3) as f64)).collect();
        let linear = Logistic::fit(&others, &digits, 1e-4, false);
        let quadratic = Logistic::fit(&others, &digits, 1e-4, true);
        let errors = |m: &Logistic| {
            digits.iter().filter(|x| m.score(x) > 0.0).count()
                + others.iter().filter(|x| m.score(x) <= 0.0).count()
        };
        assert_eq!(errors(&quadratic), 0);
        assert!(errors(&linear) > 100, "{}", errors(&linear));
    }

    #[test]
    fn solves_a_small_system() {
        let x = solve(vec![vec![0.0, 2.0], vec![1.0, 1.0]], vec![4.0, 3.0]);
        assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 2.0).abs() < 1e-12);
    }
}

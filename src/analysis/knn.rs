//! Leave-one-out k-nearest-neighbour label accuracy of an embedding (PROTOCOL.md: k = 5).

/// For each point, the majority label among its `k` nearest other points (Euclidean); returns
/// the fraction that match. A tied vote goes to the smallest tied label, as in scikit-learn's
/// `KNeighborsClassifier` (the rule of the reference numbers this is compared with; in a 2-D
/// map of overlapping classes a fifth of the votes can tie, so the rule moves the score).
pub fn loo_knn_accuracy(points: &[f32], dim: usize, labels: &[u8], k: usize) -> f64 {
    let n = labels.len();
    assert_eq!(points.len(), n * dim);
    assert!(k >= 1 && n > k, "need more than k points");
    let mut correct = 0usize;
    let mut nearest: Vec<(f32, usize)> = Vec::with_capacity(n);
    for i in 0..n {
        let p = &points[i * dim..(i + 1) * dim];
        nearest.clear();
        nearest.extend((0..n).filter(|&j| j != i).map(|j| {
            let q = &points[j * dim..(j + 1) * dim];
            (
                p.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(),
                j,
            )
        }));
        nearest.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
        let mut votes = [0usize; 256];
        for &(_, j) in &nearest[..k] {
            votes[labels[j] as usize] += 1;
        }
        let most = *votes.iter().max().unwrap();
        // `position` finds the first, i.e. smallest, label with the most votes.
        let predicted = votes.iter().position(|&v| v == most).unwrap();
        correct += usize::from(predicted == usize::from(labels[i]));
    }
    correct as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_toy_set() {
        // Two tight clusters far apart, plus one point of label 1 inside cluster 0.
        let mut points = Vec::new();
        let mut labels = Vec::new();
        for i in 0..6 {
            points.extend([i as f32 * 0.1, 0.0]);
            labels.push(0);
            points.extend([100.0 + i as f32 * 0.1, 0.0]);
            labels.push(1);
        }
        points.extend([0.25, 0.0]);
        labels.push(1);
        // Every point is right except the intruder: 12 / 13.
        let acc = loo_knn_accuracy(&points, 2, &labels, 5);
        assert!((acc - 12.0 / 13.0).abs() < 1e-12, "{acc}");
    }

    #[test]
    fn ties_go_to_the_smallest_label() {
        // k = 2: a point with one neighbour of each of two labels picks the smaller label,
        // whichever is nearer (the nearest-label rule would score 0.25 here).
        let points = [0.0, 1.0, 1.5, 10.0];
        let labels = [0, 1, 0, 0];
        // 0 → {1 (1), 1.5 (0)} → 0 ✓. 1 → {1.5 (0), 0 (0)} → 0 ✗. 1.5 → {1 (1), 0 (0)} → 0 ✓.
        // 10 → {1.5 (0), 1 (1)} → 0 ✓.
        assert_eq!(loo_knn_accuracy(&points, 1, &labels, 2), 0.75);
    }
}

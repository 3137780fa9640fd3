//! Accuracy, negative log-likelihood and calibration (expected calibration error, reliability bins).

/// One confidence bin of a reliability diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct Bin {
    /// Lower edge (exclusive, except 0 for the first bin).
    pub lo: f64,
    /// Upper edge (inclusive).
    pub hi: f64,
    /// Predictions whose confidence falls in the bin.
    pub count: usize,
    /// Fraction of them that are correct (0 when empty).
    pub accuracy: f64,
    /// Their mean confidence (0 when empty).
    pub confidence: f64,
}

/// Reliability bins and the expected calibration error over them.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    pub bins: Vec<Bin>,
    /// `Σ_b (n_b / N) · |accuracy_b − confidence_b|` (Guo et al. 2017).
    pub ece: f64,
}

/// Equal-width bins over (0, 1]: confidence `c` goes to bin `⌈c·B⌉ − 1` (0 for `c == 0`).
pub fn calibration(confidences: &[f64], correct: &[bool], n_bins: usize) -> Calibration {
    assert_eq!(confidences.len(), correct.len());
    let mut sums = vec![(0usize, 0usize, 0.0f64); n_bins];
    for (&c, &ok) in confidences.iter().zip(correct) {
        let b = ((c * n_bins as f64).ceil() as usize).clamp(1, n_bins) - 1;
        sums[b].0 += 1;
        sums[b].1 += ok as usize;
        sums[b].2 += c;
    }
    let total = confidences.len().max(1) as f64;
    let bins: Vec<Bin> = sums
        .iter()
        .enumerate()
        .map(|(b, &(count, hits, conf))| Bin {
            lo: b as f64 / n_bins as f64,
            hi: (b + 1) as f64 / n_bins as f64,
            count,
            accuracy: if count > 0 { hits as f64 / count as f64 } else { 0.0 },
            confidence: if count > 0 { conf / count as f64 } else { 0.0 },
        })
        .collect();
    let ece = bins.iter().map(|b| b.count as f64 / total * (b.accuracy - b.confidence).abs()).sum();
    Calibration { bins, ece }
}

/// Test-split results of one model.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Top-1 accuracy in [0, 1].
    pub accuracy: f64,
    /// Mean negative log-likelihood of the true class.
    pub nll: f64,
    /// 15-bin reliability and ECE.
    pub calibration: Calibration,
}

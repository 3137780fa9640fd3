//! Accuracy, negative log-likelihood and calibration (expected calibration error, reliability bins) from
//! a split's logits, before and after temperature scaling (Guo et al. 2017).

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// One confidence bin of a reliability diagram.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Equal-width bins over (0, 1].
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

/// Results of one model on one split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Top-1 accuracy in [0, 1].
    pub accuracy: f64,
    /// Mean negative log-likelihood of the true class.
    pub nll: f64,
    /// 15-bin reliability and ECE.
    pub calibration: Calibration,
}

/// Bins pooled over several runs (e.g. seeds): counts add, accuracies and confidences are count-weighted,
/// and the ECE is that of the pooled predictions.
pub fn pool(runs: &[&Calibration]) -> Calibration {
    let n_bins = runs.first().map_or(0, |c| c.bins.len());
    let bins: Vec<Bin> = (0..n_bins)
        .map(|b| {
            let count: usize = runs.iter().map(|c| c.bins[b].count).sum();
            let weighted = |f: fn(&Bin) -> f64| {
                if count == 0 {
                    0.0
                } else {
                    runs.iter().map(|c| f(&c.bins[b]) * c.bins[b].count as f64).sum::<f64>() / count as f64
                }
            };
            Bin {
                lo: runs[0].bins[b].lo,
                hi: runs[0].bins[b].hi,
                count,
                accuracy: weighted(|x| x.accuracy),
                confidence: weighted(|x| x.confidence),
            }
        })
        .collect();
    let total = bins.iter().map(|b| b.count).sum::<usize>().max(1) as f64;
    let ece = bins.iter().map(|b| b.count as f64 / total * (b.accuracy - b.confidence).abs()).sum();
    Calibration { bins, ece }
}

/// A split's logits and labels, on the host, in float64 arithmetic from here on.
#[derive(Clone, Debug)]
pub struct Logits {
    /// Row-major `[N, classes]`.
    pub values: Vec<f32>,
    /// Class index of each row.
    pub labels: Vec<i64>,
    /// Width of a row.
    pub classes: usize,
}

impl Logits {
    /// Collects logits `[n, C]` and int64 labels `[n]` batch by batch.
    pub fn push(&mut self, logits: &Tensor, labels: &Tensor) -> Result<()> {
        let size = logits.size();
        ensure!(
            size.len() == 2 && size[1] as usize == self.classes,
            "logits: got shape {size:?}, expected [N, {}]",
            self.classes
        );
        self.values.extend(Vec::<f32>::try_from(logits.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1))?);
        self.labels.extend(Vec::<i64>::try_from(labels.to_device(Device::Cpu))?);
        Ok(())
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Per row: (log-probability of the label, highest probability, whether the arg-max is the label),
    /// with the logits divided by `temperature`.
    fn rows(&self, temperature: f64) -> impl Iterator<Item = (f64, f64, bool)> + '_ {
        self.values.chunks_exact(self.classes).zip(&self.labels).map(move |(row, &label)| {
            let scaled = row.iter().map(|&z| z as f64 / temperature);
            let max = scaled.clone().fold(f64::NEG_INFINITY, f64::max);
            let log_norm = max + scaled.clone().map(|z| (z - max).exp()).sum::<f64>().ln();
            let argmax = row.iter().enumerate().fold(0, |best, (k, &z)| if z > row[best] { k } else { best });
            (row[label as usize] as f64 / temperature - log_norm, (max - log_norm).exp(), argmax == label as usize)
        })
    }

    /// Mean negative log-likelihood of the labels at `temperature`.
    pub fn nll(&self, temperature: f64) -> f64 {
        -self.rows(temperature).map(|r| r.0).sum::<f64>() / self.len().max(1) as f64
    }

    /// Accuracy, NLL and 15-bin calibration at `temperature` (1: the model as trained).
    pub fn evaluate(&self, temperature: f64) -> Evaluation {
        let (mut confidences, mut correct, mut log_lik) =
            (Vec::with_capacity(self.len()), Vec::with_capacity(self.len()), 0.0);
        for (lp, conf, ok) in self.rows(temperature) {
            log_lik += lp;
            confidences.push(conf);
            correct.push(ok);
        }
        let n = self.len().max(1) as f64;
        Evaluation {
            accuracy: correct.iter().filter(|&&c| c).count() as f64 / n,
            nll: -log_lik / n,
            calibration: calibration(&confidences, &correct, 15),
        }
    }
}

/// The range [`fit_temperature`] searches.
pub const TEMPERATURE_RANGE: (f64, f64) = (0.05, 20.0);

/// The temperature `T` minimising the NLL of `logits / T`: golden-section search on `ln T` over
/// [`TEMPERATURE_RANGE`] (the NLL is convex in `1/T`, so unimodal in `ln T`), to a width of 1e-6 in
/// `ln T`. A result at an end of the range means the optimum lies beyond it.
pub fn fit_temperature(logits: &Logits) -> Result<f64> {
    ensure!(!logits.is_empty(), "temperature: no held-out logits to fit it on (use --holdout N with N > 0)");
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let f = |log_t: f64| logits.nll(log_t.exp());
    let (mut a, mut b) = (TEMPERATURE_RANGE.0.ln(), TEMPERATURE_RANGE.1.ln());
    let (mut c, mut d) = (b - phi * (b - a), a + phi * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    while b - a > 1e-6 {
        if fc < fd {
            (b, d, fd) = (d, c, fc);
            c = b - phi * (b - a);
            fc = f(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + phi * (b - a);
            fd = f(d);
        }
    }
    Ok(((a + b) / 2.0).exp())
}

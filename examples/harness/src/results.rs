//! Each run's result file (written as soon as the run ends, so partial progress survives) and the
//! summary over recipes and seeds: Markdown and CSV tables (mean ± half-range over seeds) and
//! reliability diagrams before and after temperature scaling.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::cli::Recipe;
use crate::metrics::{pool, Calibration, Evaluation};
use crate::report;

/// One epoch of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochLog {
    /// Mean training loss against the (mixed) targets.
    pub train_loss: f64,
    /// Training throughput of the epoch.
    pub images_per_sec: f64,
    /// Test results, on the epochs that evaluated.
    pub test: Option<Evaluation>,
}

/// Everything one (recipe, seed) run measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResult {
    /// Recipe name.
    pub recipe: String,
    /// Seed of weights, order, augmentation and mixer.
    pub seed: u64,
    /// The other settings in words; `--resume` reuses a result only when they match.
    pub settings: String,
    /// Test split with the model as trained.
    pub test: Evaluation,
    /// Temperature fitted on the held-out split (none without one).
    pub temperature: Option<f64>,
    /// Test split with the logits divided by the temperature.
    pub test_scaled: Option<Evaluation>,
    /// Mean training loss of the last epoch.
    pub train_loss: f64,
    /// Training time, evaluation excluded.
    pub train_seconds: f64,
    /// Training images per second over the run.
    pub images_per_sec: f64,
    /// Unreadable images left out (`--skip-bad-images`).
    pub skipped_images: usize,
    /// Per-epoch log.
    pub epochs: Vec<EpochLog>,
}

/// The folder of one run's result: `out/runs/<recipe>-seed<seed>`.
pub fn run_dir(out: &Path, recipe: Recipe, seed: u64) -> PathBuf {
    out.join("runs").join(format!("{}-seed{seed}", recipe.name()))
}

/// Writes `dir/result.json`.
pub fn save(dir: &Path, result: &RunResult) -> Result<()> {
    report::write(dir, "result.json", &serde_json::to_string_pretty(result)?)
}

/// Reads `dir/result.json`, if there is one.
pub fn load(dir: &Path) -> Result<Option<RunResult>> {
    let path = dir.join("result.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?))
}

/// Mean and half-range of some values.
fn spread(values: &[f64]) -> (f64, f64) {
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    (mean, if values.len() > 1 { (hi - lo) / 2.0 } else { 0.0 })
}

/// `mean ± half-range` with `digits` decimals (just the mean for one value).
fn cell(values: &[f64], scale: f64, digits: usize) -> String {
    let (mean, half) = spread(&values.iter().map(|v| v * scale).collect::<Vec<_>>());
    if values.len() > 1 {
        format!("{mean:.digits$} ± {half:.digits$}")
    } else {
        format!("{mean:.digits$}")
    }
}

/// The columns of the per-run tables (the temperature ones only when there are temperatures).
fn run_cells(r: &RunResult, scaled: bool) -> Vec<String> {
    let mut cells = vec![
        r.recipe.clone(),
        r.seed.to_string(),
        format!("{:.2}", 100.0 * r.test.accuracy),
        format!("{:.4}", r.test.nll),
        format!("{:.4}", r.test.calibration.ece),
    ];
    if scaled {
        let (t, s) = (r.temperature.unwrap_or(f64::NAN), r.test_scaled.as_ref());
        cells.extend([
            format!("{t:.3}"),
            s.map_or("".into(), |e| format!("{:.4}", e.nll)),
            s.map_or("".into(), |e| format!("{:.4}", e.calibration.ece)),
        ]);
    }
    cells.extend([
        format!("{:.4}", r.train_loss),
        format!("{:.1}", r.train_seconds),
        format!("{:.0}", r.images_per_sec),
    ]);
    cells
}

fn run_header(scaled: bool) -> Vec<&'static str> {
    let mut h = vec!["recipe", "seed", "top-1 accuracy (%)", "test NLL", "ECE (15 bins)"];
    if scaled {
        h.extend(["temperature", "NLL after T", "ECE after T"]);
    }
    h.extend(["train loss", "train time (s)", "images/s"]);
    h
}

fn table_row(cells: &[impl AsRef<str>]) -> String {
    format!("| {} |\n", cells.iter().map(|c| c.as_ref()).collect::<Vec<_>>().join(" | "))
}

/// The per-run table as CSV.
pub fn csv(runs: &[RunResult]) -> String {
    let scaled = runs.iter().any(|r| r.temperature.is_some());
    let mut out = run_header(scaled).join(",") + "\n";
    for r in runs {
        out += &(run_cells(r, scaled).join(",") + "\n");
    }
    out
}

/// The report: a heading, the description, the per-run table and, with several seeds, the table of
/// means and half-ranges per recipe.
pub fn markdown(title: &str, description: &str, runs: &[RunResult]) -> String {
    let scaled = runs.iter().any(|r| r.temperature.is_some());
    let header = run_header(scaled);
    let mut out = format!("# {title}\n\n{description}\n\n{}|{}\n", table_row(&header), "---|".repeat(header.len()));
    for r in runs {
        out += &table_row(&run_cells(r, scaled));
    }
    let recipes = recipes_in_order(runs);
    if runs.len() > recipes.len() {
        let _ = write!(
            out,
            "\nOver seeds: mean ± half-range (half the difference between the highest and the lowest seed).\n\n"
        );
        let mut h = vec!["recipe", "seeds", "top-1 accuracy (%)", "test NLL", "ECE (15 bins)"];
        if scaled {
            h.extend(["temperature", "NLL after T", "ECE after T"]);
        }
        out += &table_row(&h);
        out += &format!("|{}\n", "---|".repeat(h.len()));
        for recipe in &recipes {
            let of: Vec<&RunResult> = runs.iter().filter(|r| &r.recipe == recipe).collect();
            let get = |f: &dyn Fn(&RunResult) -> f64| of.iter().map(|r| f(r)).collect::<Vec<f64>>();
            let seeds = of.iter().map(|r| r.seed.to_string()).collect::<Vec<_>>().join(", ");
            let mut cells = vec![
                recipe.clone(),
                seeds,
                cell(&get(&|r| r.test.accuracy), 100.0, 2),
                cell(&get(&|r| r.test.nll), 1.0, 4),
                cell(&get(&|r| r.test.calibration.ece), 1.0, 4),
            ];
            if scaled {
                let scaled_of = |f: fn(&Evaluation) -> f64| get(&|r| r.test_scaled.as_ref().map_or(f64::NAN, f));
                cells.extend([
                    cell(&get(&|r| r.temperature.unwrap_or(f64::NAN)), 1.0, 3),
                    cell(&scaled_of(|e| e.nll), 1.0, 4),
                    cell(&scaled_of(|e| e.calibration.ece), 1.0, 4),
                ]);
            }
            out += &table_row(&cells);
        }
    }
    out
}

/// Recipe names in the order of first appearance.
fn recipes_in_order(runs: &[RunResult]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in runs {
        if !names.contains(&r.recipe) {
            names.push(r.recipe.clone());
        }
    }
    names
}

/// Per recipe, its runs' calibrations pooled over seeds, before (`scaled == false`) or after temperature.
fn pooled(runs: &[RunResult], scaled: bool) -> Vec<(String, Calibration)> {
    recipes_in_order(runs)
        .into_iter()
        .filter_map(|name| {
            let cals: Vec<&Calibration> = runs
                .iter()
                .filter(|r| r.recipe == name)
                .filter_map(|r| {
                    if scaled {
                        r.test_scaled.as_ref().map(|e| &e.calibration)
                    } else {
                        Some(&r.test.calibration)
                    }
                })
                .collect();
            (!cals.is_empty()).then(|| (name, pool(&cals)))
        })
        .collect()
}

/// Writes `report.md`, `report.csv` and the reliability diagrams for `runs` into `out`: `reliability.png`
/// (every recipe, as trained), and with temperatures `reliability_scaled.png` (every recipe, after T) and
/// `reliability_<recipe>.png` (before and after, overlaid). Seeds are pooled.
pub fn summarise(out: &Path, title: &str, description: &str, runs: &[RunResult]) -> Result<()> {
    report::write(out, "report.md", &markdown(title, description, runs))?;
    report::write(out, "report.csv", &csv(runs))?;
    let seeds = |name: &str| runs.iter().filter(|r| r.recipe == name).count();
    let label =
        |name: &str| if seeds(name) > 1 { format!("{name}, {} seeds pooled", seeds(name)) } else { name.to_string() };
    let before = pooled(runs, false);
    let named: Vec<(String, &Calibration)> = before.iter().map(|(n, c)| (label(n), c)).collect();
    let refs: Vec<(&str, &Calibration)> = named.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    report::reliability(&out.join("reliability.png"), &format!("{title}: reliability (test split)"), &refs)?;
    let after = pooled(runs, true);
    if !after.is_empty() {
        let named: Vec<(String, &Calibration)> = after.iter().map(|(n, c)| (label(n), c)).collect();
        let refs: Vec<(&str, &Calibration)> = named.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        report::reliability(
            &out.join("reliability_scaled.png"),
            &format!("{title}: reliability after temperature scaling"),
            &refs,
        )?;
        for ((name, b), (_, a)) in before.iter().zip(&after) {
            let path = out.join(format!("reliability_{name}.png"));
            report::reliability(
                &path,
                &format!("{title}, {}: before / after T", label(name)),
                &[("as trained", b), ("after temperature", a)],
            )?;
        }
    }
    Ok(())
}

//! The crate against timm's own `timm.data.mixup` (the reference recipe), through scripts/timm_parity.py:
//! - fixed plans (batch, pair and elem mode; Mixup, CutMix and kept samples; `correct_lam` on and off; label
//!   smoothing 0 and 0.1) give timm's images bit for bit on the reference and fused executors, and timm's
//!   targets bit for bit but where timm holds a corrected λ in float32 (see [`F32_LAM_TOLERANCE`]);
//! - every sampled CutMix box is a box timm's `rand_bbox` gives for its λ at some centre;
//! - `cutmix_minmax` boxes cover the same spans as timm's, the far edge included;
//! - the sampling (λ, the mixed and CutMix shares, box sides, positions and edges) is distributed as timm's.
//!
//! It needs a python with timm (1.0.29 or later), torch and numpy: `TCH_MIXCUT_TIMM_PYTHON=/path/to/python
//! cargo test --test timm_parity -- --nocapture`. Without the variable each test prints `skipped: <reason>`
//! and passes (with `TCH_MIXCUT_REQUIRE_TIMM=1` it fails instead); with it set, a python that cannot run
//! timm fails the tests.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::*;
use tch::{Kind, Tensor};
use tch_mixcut::{CutBox, Executor, MixConfig, MixMode, MixOp, MixPlan, Mixer};

/// The p-value below which a sampling comparison fails. A run makes about 140; on a fresh seed a correct crate
/// falls below 1e-5 in one of them with a chance near 0.1%. With the seeds used here the smallest p is 5.6e-3
/// (1.5e-4 in three other seed pairs tried); timm's box formulas before 1.0.29 give p < 1e-12 in every case
/// that draws boxes.
const P_FLOOR: f64 = 1e-5;

/// The most a target may differ from timm's on a pair- or elem-mode CutMix row with `correct_lam`: 2^−22.
/// timm keeps that area-corrected λ in its float32 λ array, so its partner's weight is `fl32(1 − fl32(λ))`
/// where the crate's is `fl32(1 − λ)`: at most 3·2^−25 apart (half an ulp of λ below 1, and each side's
/// rounding of its weight), which a label value of at most 1 carries into the partner's term; each side
/// then rounds that term and the sum once (half an ulp each, at most 2^−25 for values below 1). The own
/// term is the same on both (`fl32(λ)`). 3·2^−25 + 4·2^−25 < 2^−22. Images, and every other target, are
/// compared bit for bit.
const F32_LAM_TOLERANCE: f64 = 1.0 / (1u64 << 22) as f64;

/// The oldest timm whose `rand_bbox` and `rand_bbox_minmax` the crate follows.
const TIMM_SINCE: (u32, u32, u32) = (1, 0, 29);

/// The python named by `TCH_MIXCUT_TIMM_PYTHON`, checked to run timm 1.0.29 or later (a failure where it
/// does not); `None`, with a printed skip, where the variable is unset (a failure under
/// `TCH_MIXCUT_REQUIRE_TIMM=1`).
fn python() -> Option<&'static str> {
    static FOUND: OnceLock<Option<String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let Ok(py) = std::env::var("TCH_MIXCUT_TIMM_PYTHON") else {
            let required = std::env::var_os("TCH_MIXCUT_REQUIRE_TIMM").is_some_and(|v| v == "1");
            assert!(!required, "TCH_MIXCUT_REQUIRE_TIMM=1 but TCH_MIXCUT_TIMM_PYTHON is not set");
            return None;
        };
        let out = Command::new(&py).args(["-c", "import timm; print(timm.__version__)"]).output();
        let out = out.unwrap_or_else(|e| panic!("TCH_MIXCUT_TIMM_PYTHON={py} does not run: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "TCH_MIXCUT_TIMM_PYTHON={py} cannot import timm: {stderr}");
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // "1.0.31", "1.0.32.dev0": the leading digits of the first three fields.
        let field = |k: usize| {
            version
                .split('.')
                .nth(k)
                .map_or(0, |f| f.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0))
        };
        let found = (field(0), field(1), field(2));
        assert!(found >= TIMM_SINCE, "timm {version}: the crate follows timm {TIMM_SINCE:?} or later");
        eprintln!("timm {version}");
        Some(py)
    });
    if found.is_none() {
        eprintln!("skipped: TCH_MIXCUT_TIMM_PYTHON is not set");
    }
    found.as_deref()
}

/// Runs scripts/timm_parity.py with `args` and the JSON `request` on its stdin; its stdout.
fn timm(py: &str, args: &[&str], request: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/timm_parity.py");
    let mut child = Command::new(py)
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(request.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "timm_parity.py {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh folder under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    /// Creates `tch-mixcut-timm-parity-NAME-PID`, which must not exist yet.
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tch-mixcut-timm-parity-{name}-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// timm's name of a mode.
fn mode_name(mode: MixMode) -> &'static str {
    match mode {
        MixMode::Batch => "batch",
        MixMode::Pair => "pair",
        MixMode::Elem => "elem",
    }
}

// Fixed plans ------------------------------------------------------------------------------------------------

/// One of timm's draws forced: λ as drawn, whether CutMix, and the box `rand_bbox` returns.
type Forced = (f64, bool, CutBox);

/// A forced call: the draws of a batch-mode call (one) or of a pair- or elem-mode call (one a pair or sample).
struct Scenario {
    name: &'static str,
    mode: MixMode,
    correct_lam: bool,
    smoothing: f64,
    draws: Vec<Forced>,
}

/// Every mode × `correct_lam` × smoothing, each with kept, Mixup and CutMix draws (inside, at a corner, empty,
/// full height) in an extent of 9 × 11. Pair- and elem-mode λ are float32 values, as timm's.
fn scenarios() -> Vec<Scenario> {
    let b = |y0, y1, x0, x1| CutBox { y0, y1, x0, x1 };
    let no_box = b(0, 0, 0, 0);
    let per_sample: Vec<Forced> = [
        (1.0, true, no_box),
        (0.3, false, no_box),
        (0.6, true, b(2, 7, 3, 9)),
        (0.45, true, b(0, 4, 6, 11)),
        (0.85, false, no_box),
        (0.9, true, b(4, 4, 5, 5)),
        (0.2, true, b(0, 9, 1, 8)),
        (0.55, false, no_box),
    ]
    .into_iter()
    .map(|(lam, cutmix, bbox)| (lam as f32 as f64, cutmix, bbox))
    .collect();
    let mut out = Vec::new();
    for correct_lam in [true, false] {
        for smoothing in [0.0, 0.1] {
            let mut add = |name, mode, draws: &[Forced]| {
                out.push(Scenario { name, mode, correct_lam, smoothing, draws: draws.to_vec() })
            };
            add("batch Mixup", MixMode::Batch, &[(0.37, false, no_box)]);
            add("batch CutMix", MixMode::Batch, &[(0.6, true, b(2, 7, 3, 11))]);
            add("pair", MixMode::Pair, &per_sample[..4]);
            add("elem", MixMode::Elem, &per_sample);
        }
    }
    out
}

impl Scenario {
    /// The crate's plan for the scenario's draws in a batch of `n` images of `h` × `w`.
    fn plan(&self, n: usize, (h, w): (usize, usize)) -> MixPlan {
        let op = |&(lam, cutmix, bbox): &Forced| {
            let lam = if cutmix && self.correct_lam { 1.0 - bbox.area() as f64 / (h * w) as f64 } else { lam };
            match (lam < 1.0, cutmix) {
                (false, _) => MixOp::Keep,
                (true, true) => MixOp::CutMix { bbox, lam },
                (true, false) => MixOp::Mixup { lam },
            }
        };
        let ops = match self.mode {
            MixMode::Batch => vec![op(&self.draws[0]); n],
            MixMode::Pair => self.draws.iter().chain(self.draws.iter().rev()).map(op).collect(),
            MixMode::Elem => self.draws.iter().map(op).collect(),
        };
        MixPlan { ops, extent: Some((h, w)) }
    }

    /// The scenario as scripts/timm_parity.py's `fixed` takes it.
    fn json(&self) -> String {
        let list = |f: &dyn Fn(&Forced) -> String| self.draws.iter().map(f).collect::<Vec<_>>().join(",");
        format!(
            r#"{{"mode":"{}","correct_lam":{},"smoothing":{:?},"lam":[{}],"cutmix":[{}],"boxes":[{}]}}"#,
            mode_name(self.mode),
            self.correct_lam,
            self.smoothing,
            list(&|d| format!("{:?}", d.0)),
            list(&|d| d.1.to_string()),
            list(&|(_, _, b)| format!("[{},{},{},{}]", b.y0, b.y1, b.x0, b.x1)),
        )
    }
}

/// Per row of two `[N, C]` float32 targets: `None` where the row's bits agree, else its largest difference.
fn row_differences(a: &Tensor, b: &Tensor) -> Vec<Option<f64>> {
    assert_eq!(a.size(), b.size(), "target shapes");
    let c = a.size()[1] as usize;
    let (a, b, ab, bb) = (values(a), values(b), bits(a), bits(b));
    let rows = a.chunks(c).zip(b.chunks(c)).zip(ab.chunks(c).zip(bb.chunks(c)));
    rows.map(|((r, s), (rb, sb))| (rb != sb).then(|| r.iter().zip(s).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)))
        .collect()
}

#[test]
fn fixed_plans_give_timms_images_and_targets() {
    let Some(py) = python() else { return };
    let (n, c, h, w, classes) = (8, 3, 9, 11, 10);
    let dir = TempDir::new("fixed");
    let x = images(&[n, c, h, w], Kind::Float);
    let y = labels(n, classes);
    x.write_npy(dir.0.join("x.npy")).unwrap();
    y.write_npy(dir.0.join("y.npy")).unwrap();
    let scenarios = scenarios();
    let request = scenarios.iter().map(Scenario::json).collect::<Vec<_>>().join(",");
    timm(py, &["fixed", dir.0.to_str().unwrap()], &format!(r#"{{"classes":{classes},"scenarios":[{request}]}}"#));
    let mut failures = Vec::new();
    for (k, s) in scenarios.iter().enumerate() {
        let timm_x = Tensor::read_npy(dir.0.join(format!("timm_x_{k}.npy"))).unwrap();
        let timm_t = Tensor::read_npy(dir.0.join(format!("timm_t_{k}.npy"))).unwrap();
        let plan = s.plan(n as usize, (h as usize, w as usize));
        let config = MixConfig { label_smoothing: s.smoothing, ..MixConfig::deit(classes) };
        for executor in [Executor::Reference, Executor::Fused] {
            let what = format!("{}, correct_lam {}, smoothing {}, {executor:?}", s.name, s.correct_lam, s.smoothing);
            let mut mixer = Mixer::new(config.clone(), 0).unwrap().with_executor(executor);
            let (mx, mt) = mixer.planned(&plan).apply(&x, &y).unwrap();
            let same_images = bits(&mx) == bits(&timm_x);
            if !same_images {
                failures.push(format!("{what}: images differ from timm's"));
            }
            let mut within = Vec::new();
            for (i, (d, op)) in row_differences(&mt, &timm_t).into_iter().zip(&plan.ops).enumerate() {
                let f32_lam = s.mode != MixMode::Batch && s.correct_lam && matches!(op, MixOp::CutMix { .. });
                match d {
                    Some(d) if f32_lam && d <= F32_LAM_TOLERANCE => within.push((i, d)),
                    Some(d) => failures.push(format!("{what}: target row {i} ({op:?}) differs from timm's by {d:e}")),
                    None => {}
                }
            }
            let images = if same_images { "bit for bit" } else { "differ" };
            eprintln!(
                "{what}: images {images}; target rows within 2^-22 (float32 λ), with their difference: {within:?}"
            );
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// Sampling --------------------------------------------------------------------------------------------------

/// One draw as its target sees it: λ rounded to float32 (as every target weight, and timm's pair- and
/// elem-mode λ), and a CutMix's box.
#[derive(Clone, Copy, Debug)]
enum Draw {
    Keep,
    Mixup(f64),
    CutMix(f64, CutBox),
}

impl Draw {
    /// The weight of the sample's own label (1 for a kept sample).
    fn lam(&self) -> f64 {
        match *self {
            Draw::Keep => 1.0,
            Draw::Mixup(lam) | Draw::CutMix(lam, _) => lam,
        }
    }

    /// A CutMix's box.
    fn bbox(&self) -> Option<CutBox> {
        match *self {
            Draw::CutMix(_, b) => Some(b),
            _ => None,
        }
    }

    /// The draw of one of the crate's plan operations.
    fn of(op: &MixOp) -> Draw {
        match *op {
            MixOp::Keep => Draw::Keep,
            MixOp::Mixup { lam } => Draw::Mixup(lam as f32 as f64),
            MixOp::CutMix { bbox, lam } => Draw::CutMix(lam as f32 as f64, bbox),
            other => panic!("not a timm draw: {other:?}"),
        }
    }

    /// A line of scripts/timm_parity.py's `sample`: `keep LAM`, `mixup LAM` or `cutmix LAM Y0 Y1 X0 X1`.
    fn parse(line: &str) -> Draw {
        let f: Vec<&str> = line.split(' ').collect();
        let number = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or_else(|| panic!("line {line:?}"));
        let lam = number(1) as f32 as f64;
        let v = |i: usize| number(i) as usize;
        match (f[0], f.len()) {
            ("keep", 2) => Draw::Keep,
            ("mixup", 2) => Draw::Mixup(lam),
            ("cutmix", 6) => Draw::CutMix(lam, CutBox { y0: v(2), y1: v(3), x0: v(4), x1: v(5) }),
            _ => panic!("not a draw of timm_parity.py's sample: {line:?}"),
        }
    }
}

/// Batch size of the sampling comparisons.
const N: usize = 8;

/// About 4000 draws for `config` on `[N, 1, h, w]` batches.
struct Case {
    name: &'static str,
    config: MixConfig,
    extent: (usize, usize),
}

impl Case {
    /// Draws a call: one (batch mode), one a pair (pair mode) or one a sample (elem mode).
    fn per_call(&self) -> usize {
        match self.config.mode {
            MixMode::Batch => 1,
            MixMode::Pair => N / 2,
            MixMode::Elem => N,
        }
    }

    /// Calls that make about 4000 draws.
    fn calls(&self) -> usize {
        4000 / self.per_call()
    }

    /// The crate's draws from the mixer seeded `seed`: of each plan, the first sample (batch mode), the first
    /// of each pair (pair mode) or every sample (elem mode), as timm draws them.
    fn crate_draws(&self, seed: u64) -> Vec<Draw> {
        let mut mixer = Mixer::new(self.config.clone(), seed).unwrap();
        let shape = [N as i64, 1, self.extent.0 as i64, self.extent.1 as i64];
        let plans: Vec<MixPlan> = (0..self.calls()).map(|_| mixer.sample_plan(&shape).unwrap()).collect();
        plans.iter().flat_map(|plan| plan.ops[..self.per_call()].iter().map(Draw::of)).collect()
    }

    /// timm's draws after `np.random.seed(seed)`.
    fn timm_draws(&self, py: &str, seed: u64) -> Vec<Draw> {
        let c = &self.config;
        let minmax = c.cutmix_minmax.map_or("null".into(), |(lo, hi)| format!("[{lo:?},{hi:?}]"));
        let request = format!(
            r#"{{"n":{},"h":{},"w":{},"calls":{},"seed":{seed},"mixup_alpha":{:?},"cutmix_alpha":{:?},"cutmix_minmax":{minmax},"prob":{:?},"switch_prob":{:?},"mode":"{}","correct_lam":{}}}"#,
            N,
            self.extent.0,
            self.extent.1,
            self.calls(),
            c.mixup_alpha,
            c.cutmix_alpha,
            c.prob,
            c.switch_prob,
            mode_name(c.mode),
            c.correct_lam,
        );
        timm(py, &["sample"], &request).lines().map(Draw::parse).collect()
    }
}

#[test]
fn sampled_cutmix_boxes_are_timms_rand_bbox_boxes() {
    let Some(py) = python() else { return };
    // correct_lam off: the plan's λ is the drawn one, from which rand_bbox's sides follow.
    let config = MixConfig { mode: MixMode::Elem, correct_lam: false, ..MixConfig::cutmix(1.0, 10) };
    let mut mixer = Mixer::new(config, 5).unwrap();
    let mut boxes = Vec::new();
    for (h, w) in [(32, 32), (224, 224), (7, 13)] {
        for _ in 0..25 {
            for op in mixer.sample_plan(&[16, 3, h as i64, w as i64]).unwrap().ops {
                if let MixOp::CutMix { bbox, lam } = op {
                    boxes.push((lam, (h, w), bbox));
                }
            }
        }
    }
    // timm's span along each side at every centre, for the box's own λ (as f64, as the crate's).
    let request: Vec<String> =
        boxes.iter().flat_map(|(lam, (h, w), _)| [format!("[{lam:?},{h}]"), format!("[{lam:?},{w}]")]).collect();
    let out = timm(py, &["spans"], &format!("[{}]", request.join(",")));
    let tables: Vec<Vec<(usize, usize)>> = out
        .lines()
        .map(|l| {
            let v: Vec<usize> = l.split(' ').map(|v| v.parse().unwrap()).collect();
            v.chunks(2).map(|p| (p[0], p[1])).collect()
        })
        .collect();
    assert_eq!(tables.len(), 2 * boxes.len(), "timm_parity.py spans: one table per side of each box");
    // A box is timm's if timm gives its span at some centre (for a box inside the extent that centre is the
    // only one, so the box is timm's for the same λ and centre; a box clipped at the border has several).
    let timms = |table: &[(usize, usize)], len: usize, span| {
        assert_eq!(table.len(), len, "timm_parity.py spans: one span per centre");
        table.contains(&span)
    };
    let (mut inside, mut bad) = (0, Vec::new());
    for ((lam, (h, w), b), table) in boxes.iter().zip(tables.chunks(2)) {
        inside += (b.y0 > 0 && b.y1 < *h && b.x0 > 0 && b.x1 < *w) as usize;
        if !timms(&table[0], *h, (b.y0, b.y1)) || !timms(&table[1], *w, (b.x0, b.x1)) {
            bad.push(format!("λ {lam:?} in {h}x{w}: {b:?}"));
        }
    }
    eprintln!("{} sampled CutMix boxes ({inside} inside the extent), {} not timm's", boxes.len(), bad.len());
    bad.iter().take(3).for_each(|b| eprintln!("  not timm's: {b}"));
    assert!(bad.is_empty(), "{} of {} sampled boxes are no rand_bbox box for their λ", bad.len(), boxes.len());
}

#[test]
fn minmax_boxes_reach_the_far_edge_as_timms() {
    let Some(py) = python() else { return };
    // Sides from [2, 4), starts from [0, 8 − side]: 13 spans a side, the far edge reached by 2 of them.
    let config = MixConfig { mode: MixMode::Elem, cutmix_minmax: Some((0.25, 0.5)), ..MixConfig::cutmix(1.0, 8) };
    let case = Case { name: "minmax elem 8x8", config, extent: (8, 8) };
    let spans = |draws: &[Draw]| {
        let boxes: Vec<CutBox> = draws.iter().filter_map(Draw::bbox).collect();
        let sides = boxes.iter().flat_map(|b| [(b.y0, b.y1), (b.x0, b.x1)]).collect::<std::collections::BTreeSet<_>>();
        (sides, boxes.iter().filter(|b| b.y1 == 8).count() as f64 / boxes.len() as f64)
    };
    let (crate_spans, crate_far) = spans(&case.crate_draws(9));
    let (timm_spans, timm_far) = spans(&case.timm_draws(py, 9));
    eprintln!("{}: share of boxes at the bottom edge: crate {crate_far:.3}, timm {timm_far:.3}", case.name);
    assert_eq!(crate_spans, timm_spans, "the spans (rows and columns) of the crate's minmax boxes (left) and timm's");
    assert!(crate_spans.contains(&(6, 8)) && crate_spans.contains(&(5, 8)), "no box at the far edge: {crate_spans:?}");
    assert!(crate_far > 0.0 && timm_far > 0.0);
}

/// The sampling configurations compared: the presets' mixes, every mode, `prob` and `switch_prob` away from
/// their defaults, uncorrected λ, a small α, odd extents, `cutmix_minmax` alone and with Mixup.
fn cases() -> Vec<Case> {
    let elem = |config: MixConfig| MixConfig { mode: MixMode::Elem, ..config };
    [
        ("mixup α 1 batch", MixConfig::mixup(1.0, 8), (4, 4)),
        ("vit batch", MixConfig::vit(8), (32, 32)),
        ("deit pair", MixConfig { mode: MixMode::Pair, ..MixConfig::deit(8) }, (32, 32)),
        (
            "deit elem prob .5 switch .3",
            elem(MixConfig { prob: 0.5, switch_prob: 0.3, ..MixConfig::deit(8) }),
            (16, 16),
        ),
        ("cutmix uncorrected elem", elem(MixConfig { correct_lam: false, ..MixConfig::cutmix(1.0, 8) }), (32, 32)),
        ("cutmix α .3 elem 7x13", elem(MixConfig::cutmix(0.3, 8)), (7, 13)),
        ("minmax elem", elem(MixConfig { cutmix_minmax: Some((0.2, 0.8)), ..MixConfig::cutmix(0.0, 8) }), (20, 20)),
        ("minmax + mixup batch", MixConfig { cutmix_minmax: Some((0.3, 0.6)), ..MixConfig::mixup(0.5, 8) }, (24, 24)),
        ("cutmix batch 64x64", MixConfig::cutmix(1.0, 8), (64, 64)),
        ("vit batch prob .3 switch .8", MixConfig { prob: 0.3, switch_prob: 0.8, ..MixConfig::vit(8) }, (16, 16)),
    ]
    .into_iter()
    .map(|(name, config, extent)| Case { name, config, extent })
    .collect()
}

/// A comparison of the crate's draws with timm's: what, the crate's and timm's mean (a share for a yes/no
/// quantity), and the p-value of "the same distribution".
type Comparison = (&'static str, f64, f64, f64);

/// Compares the share of draws for which `f` says yes among those it answers for (two-proportion z-test);
/// `None` where neither side has such a draw, p = 0 where only one has.
fn share(name: &'static str, a: &[Draw], b: &[Draw], f: impl Fn(&Draw) -> Option<bool>) -> Option<Comparison> {
    let count =
        |d: &[Draw]| d.iter().filter_map(&f).fold((0.0f64, 0.0f64), |(k, n), yes| (k + yes as u8 as f64, n + 1.0));
    let ((ka, na), (kb, nb)) = (count(a), count(b));
    if na == 0.0 || nb == 0.0 {
        return (na + nb > 0.0).then_some((name, ka / na.max(1.0), kb / nb.max(1.0), 0.0));
    }
    let pooled = (ka + kb) / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    let p = if se == 0.0 { 1.0 } else { erfc((ka / na - kb / nb).abs() / se / std::f64::consts::SQRT_2).min(1.0) };
    Some((name, ka / na, kb / nb, p))
}

/// Compares the values `f` gives (two-sample Kolmogorov–Smirnov test, asymptotic p-value with Stephens'
/// correction; ties step both empirical distributions at once, so discrete values give a conservative p);
/// `None` where both sides have fewer than 20 values, p = 0 where only one has.
fn ks(name: &'static str, a: &[Draw], b: &[Draw], f: impl Fn(&Draw) -> Option<f64>) -> Option<Comparison> {
    let sorted = |d: &[Draw]| {
        let mut v: Vec<f64> = d.iter().filter_map(&f).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (a, b) = (sorted(a), sorted(b));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    if a.len() < 20 || b.len() < 20 {
        return (a.len().max(b.len()) >= 20).then_some((name, mean(&a), mean(&b), 0.0));
    }
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let t = a[i].min(b[j]);
        i += a[i..].iter().take_while(|&&v| v <= t).count();
        j += b[j..].iter().take_while(|&&v| v <= t).count();
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    let ne = (a.len() * b.len()) as f64 / (a.len() + b.len()) as f64;
    let x = (ne.sqrt() + 0.12 + 0.11 / ne.sqrt()) * d;
    // Kolmogorov's Q(x) = 2 Σ (−1)^(k−1) exp(−2k²x²); below x = 0.3 (Q > 1 − 1e-5) the series is slow, so 1.
    let q = (1..=100).map(|k: i32| (-1f64).powi(k - 1) * (-2.0 * f64::from(k * k) * x * x).exp()).sum::<f64>();
    let p = if x < 0.3 { 1.0 } else { (2.0 * q).clamp(0.0, 1.0) };
    Some((name, mean(&a), mean(&b), p))
}

/// The complementary error function (Numerical Recipes' `erfcc`, relative error below 1.2e-7).
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let c = [
        -1.26551223,
        1.00002368,
        0.37409196,
        0.09678418,
        -0.18628806,
        0.27886807,
        -1.13520398,
        1.48851587,
        -0.82215223,
        0.17087277,
    ];
    let r = t * (-x * x + c.iter().rev().fold(0.0, |acc, &ci| acc * t + ci)).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Every comparison of two samples of draws in an `h` × `w` extent.
fn comparisons(a: &[Draw], b: &[Draw], (h, w): (usize, usize)) -> Vec<Comparison> {
    let side = |d: &Draw, f: fn(CutBox) -> usize| d.bbox().map(|b| f(b) as f64);
    let edge = |d: &Draw, f: &dyn Fn(CutBox) -> bool| d.bbox().map(f);
    [
        share("mixed", a, b, |d| Some(!matches!(d, Draw::Keep))),
        share("cutmix/mixed", a, b, |d| (!matches!(d, Draw::Keep)).then_some(d.bbox().is_some())),
        ks("λ", a, b, |d| Some(d.lam())),
        ks("λ mixup", a, b, |d| matches!(d, Draw::Mixup(_)).then_some(d.lam())),
        ks("λ cutmix", a, b, |d| d.bbox().map(|_| d.lam())),
        ks("box height", a, b, |d| side(d, |b| b.y1 - b.y0)),
        ks("box width", a, b, |d| side(d, |b| b.x1 - b.x0)),
        ks("box top", a, b, |d| side(d, |b| b.y0)),
        ks("box left", a, b, |d| side(d, |b| b.x0)),
        share("odd height", a, b, |d| edge(d, &|b| (b.y1 - b.y0) % 2 == 1)),
        share("odd width", a, b, |d| edge(d, &|b| (b.x1 - b.x0) % 2 == 1)),
        share("at top", a, b, |d| edge(d, &|b| b.y0 == 0)),
        share("at bottom", a, b, |d| edge(d, &|b| b.y1 == h)),
        share("at left", a, b, |d| edge(d, &|b| b.x0 == 0)),
        share("at right", a, b, |d| edge(d, &|b| b.x1 == w)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn sampling_statistics_match_timm() {
    let Some(py) = python() else { return };
    let mut failures = Vec::new();
    for case in cases() {
        let (ours, timms) = (case.crate_draws(2026), case.timm_draws(py, 1));
        assert_eq!((ours.len(), timms.len()), (case.calls() * case.per_call(), ours.len()), "{}: draws", case.name);
        let compared = comparisons(&ours, &timms, case.extent);
        // λ and the mixed share always; with boxes, their sides, positions and edges too.
        let boxes = ours.iter().any(|d| d.bbox().is_some());
        assert!(compared.len() >= if boxes { 11 } else { 2 }, "{}: {} comparisons", case.name, compared.len());
        for (what, a, b, p) in compared {
            let line = format!("{:<28} {what:<13} crate {a:>8.4} timm {b:>8.4}  p {p:.1e}", case.name);
            eprintln!("{line}");
            if p < P_FLOOR {
                failures.push(line);
            }
        }
    }
    assert!(failures.is_empty(), "differing from timm's sampling (p < {P_FLOOR:e}):\n{}", failures.join("\n"));
}

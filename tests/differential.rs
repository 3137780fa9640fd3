//! A seeded, randomised differential test: the fused CPU executor against the reference on a few thousand
//! random cases, compared bit for bit (images, masks and targets; NaNs included). A case draws a rank
//! (2–4), shape, dtype, layout (contiguous, channels-last, offset storage, a slice of a larger batch,
//! transposed and padded views), a plan (sampled from a random configuration, or made by hand: any op per
//! sample, boxes anywhere, a few invalid), labels (indices or soft), special values, and runs the plan out
//! of place and in place; uint8 batches also through the normalising pass, 4-d batches also as
//! segmentation with class or soft masks. A call one executor refuses, the other must refuse with the
//! same message, leaving the tensors as they were. Layouts the fused path does not take run on `Auto`,
//! which must fall back to the reference.
//!
//! `TCH_MIXCUT_DIFFERENTIAL_CASES` and `TCH_MIXCUT_DIFFERENTIAL_SEED` run more cases, or others.

mod common;

use common::equivalence::KINDS;
use common::{bits, uniform};
use tch::{Device, Kind, Tensor};
use tch_mixcut::{
    CutBox, Error, Executor, ExecutorKind, FMixMask, InputLayout, MixConfig, MixMode, MixOp, MixPlan, Mixer, Normalize,
    Paste,
};

const CASES: usize = 3000;
const SEED: u64 = 0x5eed_2024;

/// splitmix64: the cases depend on the seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.next() as usize % items.len()]
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// How a case's images are stored.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    Contiguous,
    ChannelsLast,
    /// Contiguous, starting 1–7 elements into a buffer (off the vectors' alignment).
    Offset(i64),
    /// Samples `k..k + N` of a larger contiguous batch.
    BatchSlice(i64),
    /// The last two dims swapped in memory (a `transpose` view).
    Transposed,
    /// Rows padded by 1–3 elements (a `narrow` of a wider tensor).
    Padded(i64),
}

impl Layout {
    fn fused_takes(self) -> bool {
        !matches!(self, Layout::Transposed | Layout::Padded(_))
    }

    fn draw(rng: &mut Rng, rank: usize) -> Layout {
        match rng.range(0, 5) {
            0 if rank > 2 => Layout::ChannelsLast,
            1 => Layout::Offset(rng.range(1, 7)),
            2 => Layout::BatchSlice(rng.range(1, 3)),
            3 => Layout::Transposed,
            4 => Layout::Padded(rng.range(1, 3)),
            _ => Layout::Contiguous,
        }
    }

    /// A new tensor holding `values` (contiguous) in this layout.
    fn make(self, values: &Tensor) -> Tensor {
        let shape = values.size();
        let rank = shape.len() as i64;
        match self {
            Layout::Contiguous => values.copy(),
            Layout::ChannelsLast => {
                let mut order: Vec<i64> = vec![0];
                order.extend(2..rank);
                order.push(1);
                let mut back = vec![0i64; rank as usize];
                for (i, &d) in order.iter().enumerate() {
                    back[d as usize] = i as i64;
                }
                values.permute(order.as_slice()).contiguous().permute(back.as_slice())
            }
            Layout::Offset(k) => {
                let numel = values.numel() as i64;
                let mut flat = Tensor::zeros([numel + k], (values.kind(), Device::Cpu)).narrow(0, k, numel);
                flat.copy_(&values.reshape([-1]));
                flat.view(shape.as_slice())
            }
            Layout::BatchSlice(k) => {
                let mut big_shape = shape.clone();
                big_shape[0] += k + 1;
                let big = Tensor::zeros(big_shape.as_slice(), (values.kind(), Device::Cpu));
                let mut slice = big.narrow(0, k, shape[0]);
                slice.copy_(values);
                slice
            }
            Layout::Transposed => values.transpose(-1, -2).contiguous().transpose(-1, -2),
            Layout::Padded(pad) => {
                let mut wide_shape = shape.clone();
                *wide_shape.last_mut().unwrap() += pad;
                let wide = Tensor::zeros(wide_shape.as_slice(), (values.kind(), Device::Cpu));
                let mut view = wide.narrow(rank - 1, 0, shape[rank as usize - 1]);
                view.copy_(values);
                view
            }
        }
    }
}

/// Random contiguous values of `kind`; float batches sometimes hold infinities, NaNs and signed zeros.
fn values(rng: &mut Rng, shape: &[i64], kind: Kind) -> Tensor {
    let numel = shape.iter().product::<i64>() as usize;
    let mut v = uniform(numel, rng.next());
    if kind == Kind::Uint8 {
        return (Tensor::from_slice(&v) * 255.0).round().to_kind(Kind::Uint8).view(shape);
    }
    v.iter_mut().for_each(|x| *x = *x * 8.0 - 4.0);
    if rng.chance(0.15) {
        for _ in 0..rng.range(1, 4) {
            let at = rng.range(0, numel as i64 - 1) as usize;
            v[at] = rng.pick(&[f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN, -0.0, 1e-40]);
        }
    }
    Tensor::from_slice(&v).view(shape).to_kind(kind)
}

/// A random configuration for `rank`-d batches (CutMix only where boxes exist).
fn config(rng: &mut Rng, rank: usize, classes: i64) -> MixConfig {
    let cutmix = rank > 2 && rng.chance(0.8);
    let mut c = MixConfig {
        mode: rng.pick(&[MixMode::Batch, MixMode::Pair, MixMode::Elem]),
        mixup_alpha: if !cutmix || rng.chance(0.6) { rng.pick(&[0.2, 0.8, 1.0]) } else { 0.0 },
        cutmix_alpha: if cutmix { rng.pick(&[0.5, 1.0, 2.0]) } else { 0.0 },
        prob: rng.pick(&[1.0, 0.8, 0.5]),
        switch_prob: rng.pick(&[0.5, 0.3, 1.0]),
        correct_lam: rng.chance(0.7),
        label_smoothing: rng.pick(&[0.0, 0.1]),
        ..MixConfig::vit(classes)
    };
    if cutmix && rng.chance(0.3) {
        c.paste = rng.pick(&[Paste::ResizeMix { lam_min: 0.1, lam_max: 0.8 }, Paste::FMix { decay_power: 3.0 }]);
    } else if cutmix && rng.chance(0.2) {
        c.cutmix_minmax = Some((rng.pick(&[0.2, 0.3]), rng.pick(&[0.6, 1.0])));
    }
    if rng.chance(0.1) {
        c.bce_target_thresh = Some(0.2);
    }
    c
}

/// A hand-made plan: any op per sample (pairs need not agree), boxes anywhere in the extent, segments'
/// rows as `[N, C, T]` boxes take them; about one plan in ten is invalid (λ out of range, an inverted or
/// outside box, a segment box on no row).
fn hand_plan(rng: &mut Rng, n: usize, extent: Option<(usize, usize)>) -> MixPlan {
    let invalid = rng.chance(0.1);
    let mut plan = MixPlan::identity(n, extent);
    for op in plan.ops.iter_mut() {
        let drawn = rng.unit();
        let lam = rng.pick(&[0.0, 0.25, 0.5, 1.0, drawn, drawn * drawn]);
        *op = match (rng.range(0, 2), extent) {
            (0, _) => MixOp::Keep,
            (1, _) | (_, None) => MixOp::Mixup { lam },
            (_, Some((h, w))) => {
                // A segment's rows: 0..1, or (refused unless the columns are empty too) none.
                let segment_rows = [(0, 1), (0, 1), (0, 1), (0, 0), (1, 1)][rng.range(0, 4) as usize];
                let (y0, y1) = if h == 1 { segment_rows } else { span(rng, h) };
                let (x0, x1) = span(rng, w);
                let bbox = CutBox { y0, y1, x0, x1 };
                match rng.range(0, 3) {
                    0 if bbox.area() > 0 => MixOp::ResizeMix { bbox, lam },
                    1 => MixOp::FMix { mask: FMixMask { seed: rng.next(), decay_power: 3.0 }, lam },
                    _ => MixOp::CutMix { bbox, lam },
                }
            }
        };
    }
    if invalid {
        let i = rng.range(0, n as i64 - 1) as usize;
        plan.ops[i] = match (rng.range(0, 3), extent) {
            (0, _) | (_, None) => MixOp::Mixup { lam: rng.pick(&[1.5, -0.25, f64::NAN]) },
            (1, Some((h, w))) => MixOp::CutMix { bbox: CutBox { y0: 0, y1: h, x0: w, x1: w + 1 }, lam: 0.5 },
            (2, Some((1, w))) => MixOp::CutMix { bbox: CutBox { y0: 0, y1: 0, x0: 0, x1: w }, lam: 0.5 },
            (_, Some((h, w))) => MixOp::CutMix { bbox: CutBox { y0: h, y1: 0, x0: 0, x1: w }, lam: 0.5 },
        };
    }
    plan
}

/// A random range `a..b` with `0 <= a <= b <= len`.
fn span(rng: &mut Rng, len: usize) -> (usize, usize) {
    let (a, b) = (rng.range(0, len as i64) as usize, rng.range(0, len as i64) as usize);
    (a.min(b), a.max(b))
}

/// One case's inputs.
struct Case {
    what: String,
    config: MixConfig,
    plan: MixPlan,
    values: Tensor,
    layout: Layout,
    labels: Tensor,
}

impl Case {
    fn draw(rng: &mut Rng, index: usize) -> Case {
        let rank = rng.range(2, 4) as usize;
        let n = rng.range(1, 9);
        let shape: Vec<i64> = match rank {
            2 => vec![n, rng.range(1, 40)],
            3 => vec![n, rng.range(1, 4), rng.range(1, 20)],
            _ => vec![n, rng.range(1, 4), rng.range(1, 9), rng.range(1, 12)],
        };
        let kind = rng.pick(&KINDS);
        let classes = rng.range(1, 12);
        let config = config(rng, rank, classes);
        let extent = match rank {
            4 => Some((shape[2] as usize, shape[3] as usize)),
            3 => Some((1, shape[2] as usize)),
            _ => None,
        };
        let sampled = rng.chance(0.5);
        let plan = if sampled {
            Mixer::new(config.clone(), rng.next()).unwrap().sample_plan(&shape).unwrap()
        } else {
            hand_plan(rng, n as usize, extent)
        };
        let labels = if rng.chance(0.5) {
            Tensor::from_slice(&(0..n).map(|_| rng.range(0, classes - 1)).collect::<Vec<i64>>())
        } else {
            let soft = Tensor::from_slice(&uniform((n * classes) as usize, rng.next())).view([n, classes]);
            soft.softmax(-1, Kind::Float).to_kind(rng.pick(&[Kind::Float, Kind::BFloat16, Kind::Half]))
        };
        let values = values(rng, &shape, kind);
        let layout = Layout::draw(rng, rank);
        let what = format!(
            "case {index}: {shape:?} {kind:?} {layout:?} {} plan, labels {:?} {:?}",
            if sampled { "sampled" } else { "hand-made" },
            labels.size(),
            labels.kind()
        );
        Case { what, config, plan, values, layout, labels }
    }

    /// Two mixers of the same seed: the reference, and `Auto` (the fused CPU executor wherever it takes the
    /// batch, which the callers check for the layouts it takes).
    fn mixers(&self, seed: u64) -> (Mixer, Mixer) {
        let reference = Mixer::new(self.config.clone(), seed).unwrap().with_executor(Executor::Reference);
        (reference, Mixer::new(self.config.clone(), seed).unwrap())
    }
}

/// Both outcomes agree: equal bits of every output, or the same refusal.
fn agree(what: &str, want: Result<Vec<Tensor>, Error>, got: Result<Vec<Tensor>, Error>) -> bool {
    match (want, got) {
        (Ok(want), Ok(got)) => {
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                assert_eq!(w.size(), g.size(), "{what}: output {i} shape");
                let (wb, gb) = (bits(w), bits(g));
                let bad = wb.iter().zip(&gb).position(|(a, b)| a != b);
                if let Some(e) = bad {
                    panic!("{what}: output {i} differs at element {e}: reference {:#x}, fused {:#x}", wb[e], gb[e]);
                }
            }
            true
        }
        (Err(w), Err(g)) => {
            assert_eq!(w.to_string(), g.to_string(), "{what}: refusals differ");
            false
        }
        (w, g) => panic!("{what}: reference {:?}, fused {:?}", w.map(|_| ()), g.map(|_| ())),
    }
}

/// The case out of place and in place; returns whether it ran (the plan was valid).
fn mix(case: &Case) -> bool {
    let (mut reference, mut fused) = case.mixers(0);
    let x = case.layout.make(&case.values);
    let (y, plan) = (&case.labels, &case.plan);
    let want = reference.planned(plan).apply(&x, y).map(|(a, b)| vec![a, b]);
    let got = fused.planned(plan).apply(&x, y).map(|(a, b)| vec![a, b]);
    let ran = agree(&case.what, want, got);
    if ran && case.layout.fused_takes() {
        assert_eq!(fused.last_executor(), Some(ExecutorKind::FusedCpu), "{}", case.what);
    }
    let (mut xr, mut xf) = (case.layout.make(&case.values), case.layout.make(&case.values));
    let want = reference.planned(plan).apply_(&mut xr, y).map(|t| vec![xr.shallow_clone(), t]);
    let got = fused.planned(plan).apply_(&mut xf, y).map(|t| vec![xf.shallow_clone(), t]);
    let what = format!("{}, in place", case.what);
    if !agree(&what, want, got) {
        assert_eq!((bits(&xr), bits(&xf)), (bits(&x), bits(&x)), "{what}: a refused call wrote");
    }
    // With a sampled plan from the same seed.
    let (mut reference, mut fused) = case.mixers(7);
    let want = reference.apply(&x, y).map(|(a, b)| vec![a, b]);
    let got = fused.apply(&x, y).map(|(a, b)| vec![a, b]);
    agree(&format!("{}, sampled by apply", case.what), want, got);
    ran
}

/// uint8 `[N, C, H, W]` batches through the normalising pass, from NCHW or NHWC input.
fn normalized(rng: &mut Rng, case: &Case) {
    let c = case.values.size()[1];
    let norm = Normalize {
        mean: (0..c).map(|_| rng.unit()).collect(),
        std: (0..c).map(|_| 0.1 + 0.9 * rng.unit()).collect(), // (0, 1]: the 0–1 scale
        kind: rng.pick(&[Kind::Float, Kind::BFloat16, Kind::Half]),
        channels_last: rng.chance(0.5),
        input: if rng.chance(0.3) { InputLayout::Nhwc } else { InputLayout::Nchw },
    };
    let x = match norm.input {
        InputLayout::Nhwc => case.values.permute([0, 2, 3, 1]).contiguous(),
        InputLayout::Nchw => case.layout.make(&case.values),
    };
    let what =
        format!("{}, normalised {:?} -> {:?} channels_last {}", case.what, norm.input, norm.kind, norm.channels_last);
    let (mut reference, mut fused) = case.mixers(0);
    let want = reference.planned(&case.plan).apply_normalized(&x, &case.labels, &norm).map(|(a, b)| vec![a, b]);
    let got = fused.planned(&case.plan).apply_normalized(&x, &case.labels, &norm).map(|(a, b)| vec![a, b]);
    if agree(&what, want, got) && norm.input == InputLayout::Nhwc {
        assert_eq!(fused.last_executor(), Some(ExecutorKind::FusedCpu), "{what}");
    }
}

/// 4-d batches with class or soft masks, out of place with the case's plan and in place with a sampled one.
fn segmentation(rng: &mut Rng, case: &Case) {
    let s = case.values.size();
    let (n, h, w) = (s[0], s[2], s[3]);
    let masks = match rng.range(0, 2) {
        0 => Tensor::from_slice(&(0..n * h * w).map(|_| rng.range(0, 20)).collect::<Vec<i64>>()).view([n, h, w]),
        1 => Tensor::from_slice(&(0..n * h * w).map(|_| rng.range(0, 255) as u8).collect::<Vec<u8>>()).view([n, h, w]),
        _ => {
            let (c, kind) = (rng.range(1, 3), rng.pick(&[Kind::Float, Kind::BFloat16, Kind::Half]));
            values(rng, &[n, c, h, w], kind)
        }
    };
    let what = format!("{}, segmentation masks {:?} {:?}", case.what, masks.size(), masks.kind());
    let x = case.layout.make(&case.values);
    let (mut reference, mut fused) = case.mixers(0);
    let want = reference.planned(&case.plan).apply_segmentation(&x, &masks).map(|(a, b)| vec![a, b]);
    let got = fused.planned(&case.plan).apply_segmentation(&x, &masks).map(|(a, b)| vec![a, b]);
    agree(&what, want, got);
    let (mut reference, mut fused) = case.mixers(3);
    let (mut xr, mut mr) = (case.layout.make(&case.values), masks.copy());
    let (mut xf, mut mf) = (case.layout.make(&case.values), masks.copy());
    let want = reference.apply_segmentation_(&mut xr, &mut mr).map(|()| vec![xr.shallow_clone(), mr.shallow_clone()]);
    let got = fused.apply_segmentation_(&mut xf, &mut mf).map(|()| vec![xf.shallow_clone(), mf.shallow_clone()]);
    let what = format!("{what}, in place");
    if !agree(&what, want, got) {
        assert_eq!((bits(&xf), bits(&mf)), (bits(&x), bits(&masks)), "{what}: a refused call wrote");
    }
}

#[test]
fn fused_cpu_and_reference_agree_bit_for_bit_on_random_cases() {
    let (cases, seed) = (env_or("TCH_MIXCUT_DIFFERENTIAL_CASES", CASES), env_or("TCH_MIXCUT_DIFFERENTIAL_SEED", SEED));
    let mut rng = Rng(seed);
    let (mut ran, mut refused, mut normalised, mut segmented, mut rank3_boxes) = (0, 0, 0, 0, 0);
    for index in 0..cases {
        let case = Case::draw(&mut rng, index);
        if mix(&case) {
            ran += 1;
        } else {
            refused += 1;
        }
        let rank = case.values.dim();
        rank3_boxes += (rank == 3 && case.plan.has_cutmix()) as usize;
        if rank == 4 && case.values.kind() == Kind::Uint8 && rng.chance(0.7) {
            normalized(&mut rng, &case);
            normalised += 1;
        }
        if rank == 4 && rng.chance(0.3) {
            segmentation(&mut rng, &case);
            segmented += 1;
        }
    }
    eprintln!(
        "{cases} cases (seed {seed:#x}): {ran} ran, {refused} refused alike; {normalised} normalised, {segmented} \
         segmentation, {rank3_boxes} rank-3 plans with boxes"
    );
    // The draw covers what it claims (these hold for the default seed and count).
    if cases >= 1000 {
        assert!(
            refused >= cases / 50 && ran >= cases / 2 && normalised >= 50 && segmented >= 100 && rank3_boxes >= 100
        );
    }
}

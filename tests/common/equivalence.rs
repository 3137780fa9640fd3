//! The fused executors against the reference on the same plans, on any device: every mode × dtype ×
//! layout × in/out of place × odd/even batch × vector-width-divisible or not × rank 2/3/4 × label
//! encoding. Debug builds poison fresh outputs, so an element the kernels miss shows. Mixup, CutMix and
//! targets are compared bit for bit: both executors round the same f32 operations the same way.

use tch::{Device, Kind, Tensor};
use tch_mixcut::{
    CutBox, Executor, ExecutorKind, FMixMask, InputLayout, MixConfig, MixMode, MixOp, MixPlan, Mixer, Normalize, Paste,
};

use super::*;

pub const KINDS: [Kind; 4] = [Kind::Float, Kind::Half, Kind::BFloat16, Kind::Uint8];

pub fn config(mode: MixMode, rank: usize, classes: i64) -> MixConfig {
    let base = MixConfig { mode, prob: 0.8, mixup_alpha: 0.4, label_smoothing: 0.1, ..MixConfig::vit(classes) };
    if rank == 2 {
        MixConfig { cutmix_alpha: 0.0, ..base }
    } else {
        base
    }
}

pub fn soft_labels(n: i64, classes: i64) -> Tensor {
    Tensor::from_slice(&uniform((n * classes) as usize, 3))
        .view([n, classes])
        .softmax(-1, Kind::Float)
        .to_kind(Kind::BFloat16)
}

/// Applies `plan` with both executors on `x`'s device, out of place and in place, and compares.
pub fn compare(plan: &MixPlan, cfg: &MixConfig, x: &Tensor, labels: &Tensor, what: &str) {
    let fused_kind = if x.device() == Device::Cpu { ExecutorKind::FusedCpu } else { ExecutorKind::FusedCuda };
    let labels = labels.to_device(x.device());
    let mut reference = Mixer::new(cfg.clone(), 0).unwrap().with_executor(Executor::Reference);
    let mut fused = Mixer::new(cfg.clone(), 0).unwrap().with_executor(Executor::Fused);
    let (want, want_t) = reference.planned(plan).apply(x, &labels).unwrap();
    let (got, got_t) = fused.planned(plan).apply(x, &labels).unwrap();
    assert_eq!(fused.last_executor(), Some(fused_kind));
    assert_eq!(got.stride(), x.stride(), "{what}: output keeps the input's layout");
    let (w, g) = (values(&want), values(&got));
    let bad = w.iter().zip(&g).position(|(a, b)| a.to_bits() != b.to_bits());
    assert!(bad.is_none(), "{what}: out of place differs at {bad:?}: want {} got {}", w[bad.unwrap()], g[bad.unwrap()]);
    assert_eq!(values(&want_t), values(&got_t), "{what}: targets");
    let mut inplace = x.copy();
    let ptr = inplace.data_ptr();
    let t = fused.planned(plan).apply_(&mut inplace, &labels).unwrap();
    assert_eq!(inplace.data_ptr(), ptr);
    assert_eq!(values(&inplace), w, "{what}: in place");
    assert_eq!(values(&t), values(&want_t), "{what}: in-place targets");
}

/// The whole matrix on `device`; returns the number of cases run.
pub fn matrix(device: Device) -> usize {
    let shapes: [&[i64]; 6] = [&[3, 8, 8], &[3, 5, 7], &[2, 40], &[3, 13], &[32], &[13]];
    let mut cases = 0;
    for shape in shapes {
        let rank = shape.len() + 1;
        for n in [6i64, 7] {
            let full: Vec<i64> = std::iter::once(n).chain(shape.iter().copied()).collect();
            for mode in [MixMode::Batch, MixMode::Pair, MixMode::Elem] {
                let cfg = config(mode, rank, 10);
                let plan = Mixer::new(cfg.clone(), 17 + n as u64).unwrap().sample_plan(&full).unwrap();
                for kind in KINDS {
                    let x = images(&full, kind).to_device(device);
                    let mut layouts = vec![("contiguous", x.shallow_clone())];
                    match rank {
                        4 => layouts.push(("channels_last", channels_last(&x))),
                        3 => layouts.push(("channels_last", x.permute([0, 2, 1]).contiguous().permute([0, 2, 1]))),
                        _ => {}
                    }
                    for (layout, xl) in &layouts {
                        for (enc, labels) in [("indices", labels(n, 10)), ("soft", soft_labels(n, 10))] {
                            compare(
                                &plan,
                                &cfg,
                                xl,
                                &labels,
                                &format!("{device:?} {full:?} {mode:?} {kind:?} {layout} {enc}"),
                            );
                            cases += 1;
                        }
                    }
                }
            }
        }
    }
    cases
}

/// A plan for 5 samples of 6 × 9 with every op kind: a full-image box, an empty box and a corner pixel.
pub fn hand_plan() -> MixPlan {
    let (n, h, w) = (5usize, 6usize, 9usize);
    let mut plan = MixPlan::identity(n, Some((h, w)));
    plan.ops[0] = MixOp::CutMix { bbox: CutBox { y0: 0, y1: h, x0: 0, x1: w }, lam: 0.0 };
    plan.ops[1] = MixOp::CutMix { bbox: CutBox { y0: 2, y1: 2, x0: 1, x1: 5 }, lam: 0.7 };
    plan.ops[3] = MixOp::Mixup { lam: 0.25 };
    plan.ops[4] = MixOp::CutMix { bbox: CutBox { y0: 5, y1: 6, x0: 8, x1: 9 }, lam: 0.9 };
    plan
}

/// [`hand_plan`] on every dtype and both layouts.
pub fn hand_plans(device: Device) {
    let (n, h, w) = (5, 6, 9);
    let plan = hand_plan();
    let cfg = config(MixMode::Elem, 4, 4);
    for kind in KINDS {
        let x = images(&[n as i64, 2, h as i64, w as i64], kind).to_device(device);
        compare(&plan, &cfg, &x, &labels(n as i64, 4), &format!("hand plan {kind:?}"));
        compare(&plan, &cfg, &channels_last(&x), &labels(n as i64, 4), &format!("hand plan channels_last {kind:?}"));
    }
}

/// Batches larger than one launch's 128 pairs (several launches; the last one partial).
pub fn large_batches(device: Device) {
    let cfg = config(MixMode::Elem, 2, 3);
    let plan = Mixer::new(cfg.clone(), 5).unwrap().sample_plan(&[1001, 16]).unwrap();
    compare(&plan, &cfg, &images(&[1001, 16], Kind::Float).to_device(device), &labels(1001, 3), "1001 x 16");
    let cfg = config(MixMode::Pair, 4, 3);
    let plan = Mixer::new(cfg.clone(), 6).unwrap().sample_plan(&[1000, 1, 4, 4]).unwrap();
    compare(
        &plan,
        &cfg,
        &images(&[1000, 1, 4, 4], Kind::Uint8).to_device(device),
        &labels(1000, 3),
        "1000 x 1 x 4 x 4",
    );
}

/// Storage that does not start on a 16-byte boundary: the CUDA kernels' scalar variant; the host's
/// vectors at any address.
pub fn misaligned(device: Device) {
    let base = images(&[6 * 48 + 1], Kind::Float).to_device(device);
    let x = base.narrow(0, 1, 6 * 48).view([6, 3, 4, 4]);
    assert_ne!(x.data_ptr() as usize % 16, 0);
    let cfg = config(MixMode::Elem, 4, 10);
    let plan = Mixer::new(cfg.clone(), 8).unwrap().sample_plan(&[6, 3, 4, 4]).unwrap();
    compare(&plan, &cfg, &x, &labels(6, 10), "misaligned");
}

/// BCE-thresholded targets and multi-hot labels (rows summing to more than 1).
pub fn bce_targets(device: Device) {
    let cfg = MixConfig { mode: MixMode::Elem, bce_target_thresh: Some(0.2), ..config(MixMode::Elem, 4, 5) };
    let x = images(&[7, 3, 8, 8], Kind::Float).to_device(device);
    let plan = Mixer::new(cfg.clone(), 3).unwrap().sample_plan(&x.size()).unwrap();
    compare(&plan, &cfg, &x, &labels(7, 5), "bce threshold, indices");
    let tags = Tensor::from_slice(&[
        1f32, 1., 0., 0., 1., 0., 1., 1., 1., 0., 1., 0., 0., 1., 1., 0., 1., 1., 1., 1., 0., 0., 0., 1., 1., 1., 0.,
        0., 1., 0., 1., 0., 1., 0., 1.,
    ]);
    compare(&plan, &cfg, &x, &tags.view([7, 5]), "bce threshold, multi-hot");
}

/// The normalising pass through both executors with `plan`, compared bit for bit.
pub fn compare_normalized(plan: &MixPlan, cfg: &MixConfig, x: &Tensor, labels: &Tensor, norm: &Normalize, what: &str) {
    let fused_kind = if x.device() == Device::Cpu { ExecutorKind::FusedCpu } else { ExecutorKind::FusedCuda };
    let labels = labels.to_device(x.device());
    let mut reference = Mixer::new(cfg.clone(), 0).unwrap().with_executor(Executor::Reference);
    let mut fused = Mixer::new(cfg.clone(), 0).unwrap().with_executor(Executor::Fused);
    let (want, want_t) = reference.planned(plan).apply_normalized(x, &labels, norm).unwrap();
    let (got, got_t) = fused.planned(plan).apply_normalized(x, &labels, norm).unwrap();
    assert_eq!(fused.last_executor(), Some(fused_kind));
    assert_eq!((got.kind(), want.kind()), (norm.kind, norm.kind), "{what}: dtype");
    assert_eq!(got.stride(), want.stride(), "{what}: memory format");
    // One channel, or one pixel, is the same memory either way: nothing tells the layouts apart.
    let size = got.size();
    let one_order = size[1] == 1 || size[2] * size[3] == 1;
    let channels_last = got.stride()[1] == 1 && size[1] > 1;
    assert!(one_order || channels_last == norm.channels_last, "{what}: output layout {:?}", got.stride());
    let (w, g) = (values(&want), values(&got));
    let bad = w.iter().zip(&g).position(|(a, b)| a.to_bits() != b.to_bits());
    assert!(bad.is_none(), "{what}: differs at {bad:?}: want {} got {}", w[bad.unwrap()], g[bad.unwrap()]);
    assert_eq!(values(&want_t), values(&got_t), "{what}: targets");
}

/// The normalising matrix's images (n, c, h, w). 4 channels of 4x6: 16-element vectors cross channel planes
/// (24 elements), which 3 channels never do.
///
/// NHWC into NCHW: 3 channels whose planes hold whole vectors go by pixel vectors (V pixels in every plane:
/// the host's 64 in 8x8, 4x16 and 2x64, its 16 in 6x8, the GPU's 4 in all those and in 4x6; vectors cross
/// rows in 8x8, 4x16 and 6x8 on the host, in 4x6 on the GPU); the same NHWC bytes one byte off alignment
/// take neither pixel vectors nor 16-byte loads on the GPU. The host takes pixel vectors at any address, in
/// any plane of at least 16 pixels (5x7 and 4x6 end in a tail). Where pixel vectors do not go (other
/// channel counts, 3 channels in planes under 16 pixels), the host gathers vectors of the NCHW output from
/// the pixels at any width (2, 4 and 7 channels, and 3x3x3; in 4x5x30 some of its 64 lanes stay in one
/// plane and some cross a plane's end, in 7x5x9 some cross two), the GPU takes rows of whole vectors, every
/// C-th byte (4x2x64), else elements.
///
/// NCHW into channels-last: 3 channels by pixel vectors the other way (V pixels of every plane; on the GPU
/// only where the planes hold whole vectors of 4 pixels and the input is 4-byte aligned, so NCHW one byte
/// off goes one element a thread there); other channel counts (2, 4, 7), and 3 in planes under 16 pixels
/// (3x3), by vectors of the output gathered from the planes on the host (vectors that cross pixels, rows
/// and, with the tail's narrower vectors, the sample's last pixel), one element a thread on the GPU; one
/// channel or one pixel is the same memory order both ways (1x8x8 and 16x1x1: plain vectors).
pub const NORMALIZE_SHAPES: [(i64, i64, i64, i64); 14] = [
    (6, 3, 8, 8),
    (7, 3, 5, 7),
    (6, 4, 4, 6),
    (5, 3, 4, 16),
    (4, 3, 2, 64),
    (3, 4, 2, 64),
    (5, 3, 6, 8),
    (4, 3, 4, 6),
    (5, 1, 8, 8),
    (4, 16, 1, 1),
    (5, 2, 3, 5),
    (3, 7, 5, 9),
    (4, 3, 3, 3),
    (3, 4, 5, 30),
];

/// The matrix's images that no pixel vector goes between NCHW and channels-last (2, 7 and 4 channels, 3
/// in planes of 9 pixels): on the host, vectors gathered across rows and planes either way.
pub const GATHERED_SHAPES: [(i64, i64, i64, i64); 4] = [(5, 2, 3, 5), (3, 7, 5, 9), (4, 3, 3, 3), (3, 4, 5, 30)];

/// Input layout × output layout × output dtype × mode × odd/even batch, with CutMix boxes and Mixup,
/// over [`NORMALIZE_SHAPES`].
pub fn normalize_matrix(device: Device) -> usize {
    normalize_matrix_over(device, &NORMALIZE_SHAPES)
}

/// [`normalize_matrix`] over `shapes`; the number of cases compared.
pub fn normalize_matrix_over(device: Device, shapes: &[(i64, i64, i64, i64)]) -> usize {
    let mut cases = 0;
    for &(n, c, h, w) in shapes {
        for mode in [MixMode::Batch, MixMode::Pair, MixMode::Elem] {
            let cfg = config(mode, 4, 10);
            let plan = Mixer::new(cfg.clone(), 31 + n as u64).unwrap().sample_plan(&[n, c, h, w]).unwrap();
            let nchw = images(&[n, c, h, w], Kind::Uint8).to_device(device);
            let [nchw_in, channels_last_in, nhwc_in] = normalizing_inputs(&nchw);
            let off = ("nhwc one byte off", InputLayout::Nhwc, one_element_off(&nhwc_in.2));
            let nchw_off = ("nchw one byte off", InputLayout::Nchw, one_element_off(&nchw_in.2));
            let inputs = [nchw_in, channels_last_in, nhwc_in, off, nchw_off];
            for (input_name, input, x) in &inputs {
                for kind in [Kind::Float, Kind::BFloat16, Kind::Half] {
                    for out_cl in [false, true] {
                        let norm = per_channel(*input, out_cl, kind, c);
                        let what = format!(
                            "{device:?} n={n} c={c} {h}x{w} {mode:?} {input_name} -> {kind:?} channels_last={out_cl}"
                        );
                        compare_normalized(&plan, &cfg, x, &labels(n, 10), &norm, &what);
                        cases += 1;
                    }
                }
            }
        }
    }
    cases
}

/// A normalising pass into `kind` from `input` with each of the `c` channels' own mean and std, so that
/// a lane that took another channel's constants would differ.
fn per_channel(input: InputLayout, channels_last: bool, kind: Kind, c: i64) -> Normalize {
    let mean = (0..c).map(|i| 0.4 + 0.03 * i as f64).collect();
    let std = (0..c).map(|i| 0.2 + 0.01 * i as f64).collect();
    Normalize { input, channels_last, kind, mean, std }
}

/// The uint8 batch `nchw` as the normalising pass takes it: NCHW contiguous, NCHW channels-last, and
/// NHWC, each with its name and input layout.
fn normalizing_inputs(nchw: &Tensor) -> [(&'static str, InputLayout, Tensor); 3] {
    [
        ("nchw", InputLayout::Nchw, nchw.shallow_clone()),
        ("nchw channels_last", InputLayout::Nchw, channels_last(nchw)),
        ("nhwc", InputLayout::Nhwc, nchw.permute([0, 2, 3, 1]).contiguous()),
    ]
}

/// A contiguous copy of `x` that starts one element past an allocation's start (off 16-byte alignment).
fn one_element_off(x: &Tensor) -> Tensor {
    let numel = x.numel() as i64;
    let mut flat = Tensor::zeros([numel + 1], (x.kind(), x.device())).narrow(0, 1, numel);
    flat.copy_(&x.reshape([-1]));
    flat.view(x.size().as_slice())
}

/// CutMix on images wide enough that a box row is longer than the host's widest register in every dtype
/// (in place, the host swaps or copies box rows: a register at a time, overlapping at the end, and shorter
/// runs by halves), in every mode (one box for the batch, one per pair, one per sample: runs that meet,
/// overlap or not), odd and even batches, both layouts, and a pair with one sample kept; a batch of one
/// pair with large samples, which the CPU executor splits between threads by vectors (a box's rows cut
/// at a share's edge), and the same with samples of an odd element count (3×331×331: on the CPU whole
/// vectors at every alignment and a tail, on the GPU one element a thread).
pub fn wide_boxes(device: Device) {
    let cases: [(i64, [i64; 3], &[MixMode]); 5] = [
        (7, [3, 20, 112], &[MixMode::Batch, MixMode::Pair, MixMode::Elem]),
        (6, [2, 9, 130], &[MixMode::Batch, MixMode::Pair, MixMode::Elem]),
        (5, [1, 70, 200], &[MixMode::Batch, MixMode::Elem]),
        (2, [2, 256, 256], &[MixMode::Batch, MixMode::Elem]),
        (2, [3, 331, 331], &[MixMode::Batch, MixMode::Elem]),
    ];
    for (n, shape, modes) in cases {
        let full = [n, shape[0], shape[1], shape[2]];
        for &mode in modes {
            let cfg = MixConfig { mode, cutmix_minmax: None, ..MixConfig::cutmix(1.0, 10) };
            let mut plan = Mixer::new(cfg.clone(), 23 + n as u64).unwrap().sample_plan(&full).unwrap();
            if n > 2 {
                plan.ops[1] = MixOp::Keep;
            }
            for kind in KINDS {
                let x = images(&full, kind).to_device(device);
                let layouts = if n > 2 {
                    vec![("contiguous", x.shallow_clone()), ("channels_last", channels_last(&x))]
                } else {
                    vec![("contiguous", x)]
                };
                for (layout, xl) in layouts {
                    compare(
                        &plan,
                        &cfg,
                        &xl,
                        &labels(n, 10),
                        &format!("wide boxes {full:?} {mode:?} {kind:?} {layout}"),
                    );
                }
            }
        }
    }
}

/// A pair of samples of an odd element count (3×331×331), large enough that the CPU executor splits it
/// between threads where it has two cores (a share ending inside a sample, the last one taking the
/// tail): Mixup, CutMix, ResizeMix and FMix in every dtype, out of place and in place; the normalising
/// pass from every input layout into both output layouts (pixel vectors, vectors, and vectors into
/// channels-last output, each with a tail; the family's element walk); class masks beside the images,
/// split in proportion.
pub fn split_tails(device: Device) {
    let (n, c, h, w) = (2i64, 3i64, 331i64, 331i64);
    let extent = Some((h as usize, w as usize));
    let bbox = CutBox { y0: 40, y1: 300, x0: 7, x1: 250 };
    let fmix = MixOp::FMix { mask: FMixMask { seed: 9, decay_power: 3.0 }, lam: 0.4 };
    let plans = [
        ("mixup", vec![MixOp::Mixup { lam: 0.3 }, MixOp::Mixup { lam: 0.7 }]),
        ("cutmix", vec![MixOp::CutMix { bbox, lam: 0.4 }, MixOp::Keep]),
        ("resizemix and fmix", vec![MixOp::ResizeMix { bbox, lam: 0.4 }, fmix]),
    ];
    let cfg = config(MixMode::Elem, 4, 10);
    for (name, ops) in plans {
        let plan = MixPlan { ops, extent };
        for kind in KINDS {
            let x = images(&[n, c, h, w], kind).to_device(device);
            compare(&plan, &cfg, &x, &labels(n, 10), &format!("split tails {name} {kind:?}"));
            // Channels-last: a share's end falls inside a pixel (and, in u8, inside the ResizeMix box).
            let what = format!("split tails {name} channels_last {kind:?}");
            compare(&plan, &cfg, &channels_last(&x), &labels(n, 10), &what);
        }
        let nchw = images(&[n, c, h, w], Kind::Uint8).to_device(device);
        let inputs = normalizing_inputs(&nchw);
        for (input_name, input, x) in &inputs {
            for channels_last in [false, true] {
                let (mean, std) = (vec![0.45; c as usize], vec![0.25; c as usize]);
                let norm = Normalize { input: *input, channels_last, kind: Kind::Float, mean, std };
                let what = format!("split tails {name} {input_name} -> f32 cl={channels_last}");
                compare_normalized(&plan, &cfg, x, &labels(n, 10), &norm, &what);
            }
        }
    }
    segmentation_of(device, n, h, w);
}

/// In-place CutMix runs of every length the host's swaps and copies treat apart (1 to 80 bytes: single
/// bytes, each power-of-two step, whole registers and an overlapping last one), in u8 and f32: one box for
/// the batch (the samples swap), and boxes that only partly overlap between the pair's samples.
pub fn run_lengths(device: Device) {
    for (kind, widths) in [(Kind::Uint8, 1..=80usize), (Kind::Float, 1..=24)] {
        let x = images(&[3, 2, 3, 90], kind).to_device(device);
        for w in widths {
            let mut plan = MixPlan::identity(3, Some((3, 90)));
            plan.ops[0] = MixOp::CutMix { bbox: CutBox { y0: 0, y1: 2, x0: 3, x1: 3 + w }, lam: 0.5 };
            plan.ops[2] = MixOp::CutMix { bbox: CutBox { y0: 0, y1: 2, x0: 3, x1: 3 + w }, lam: 0.5 };
            let cfg = config(MixMode::Batch, 4, 4);
            compare(&plan, &cfg, &x, &labels(3, 4), &format!("batch box of width {w} {kind:?}"));
            plan.ops[2] = MixOp::CutMix { bbox: CutBox { y0: 1, y1: 3, x0: 3 + w / 2, x1: 4 + w }, lam: 0.5 };
            compare(&plan, &cfg, &x, &labels(3, 4), &format!("overlapping boxes of width {w} {kind:?}"));
        }
    }
}

/// Segmentation batches: images and int64 / uint8 class masks, and soft masks, through both executors.
/// 8×8 masks take the vectorised byte path (512 and 64 bytes per sample), 9×11 the scalar one.
pub fn segmentation(device: Device) {
    // Rows of 9 · 11 bytes (no 16-byte vectors) and of 8 · 8; more pairs than one CUDA launch takes; one
    // pair large enough that the CPU splits it between threads.
    for (n, h, w) in [(7i64, 9i64, 11i64), (7, 8, 8), (963, 4, 6), (2, 512, 512)] {
        segmentation_of(device, n, h, w);
    }
}

fn segmentation_of(device: Device, n: i64, h: i64, w: i64) {
    let cfg = MixConfig { mode: MixMode::Elem, ..MixConfig::cutmix(1.0, 10) };
    let x = images(&[n, 3, h, w], Kind::Float).to_device(device);
    let plan = Mixer::new(cfg.clone(), 12).unwrap().sample_plan(&x.size()).unwrap();
    for mask_kind in [Kind::Int64, Kind::Uint8] {
        let m = Tensor::randint(5, [n, h, w], (mask_kind, device));
        for xl in [x.shallow_clone(), channels_last(&x)] {
            let what = format!("{device:?} {n}x{h}x{w} {mask_kind:?} masks");
            let mut reference = Mixer::new(cfg.clone(), 0).unwrap().with_executor(Executor::Reference);
            let mut fused = Mixer::new(cfg.clone(), 0).unwrap().with_executor(Executor::Fused);
            let (xr, mr) = reference.planned(&plan).apply_segmentation(&xl, &m).unwrap();
            let (xf, mf) = fused.planned(&plan).apply_segmentation(&xl, &m).unwrap();
            assert_eq!((values(&xr), values(&mr)), (values(&xf), values(&mf)), "{what}");
            // In place, the plan sampled from the same seed.
            let (want_x, want_m) = Mixer::new(cfg.clone(), 5)
                .unwrap()
                .with_executor(Executor::Reference)
                .apply_segmentation(&xl, &m)
                .unwrap();
            let (mut xi, mut mi) = (xl.copy(), m.copy());
            Mixer::new(cfg.clone(), 5)
                .unwrap()
                .with_executor(Executor::Fused)
                .apply_segmentation_(&mut xi, &mut mi)
                .unwrap();
            assert_eq!((values(&xi), values(&mi)), (values(&want_x), values(&want_m)), "{what}, in place");
        }
    }
    let soft = Tensor::rand([n, 4, h, w], (Kind::Float, device));
    let cfg = MixConfig { mode: MixMode::Elem, ..MixConfig::vit(10) };
    let plan = Mixer::new(cfg.clone(), 13).unwrap().sample_plan(&x.size()).unwrap();
    let (_, mr) = Mixer::new(cfg.clone(), 0)
        .unwrap()
        .with_executor(Executor::Reference)
        .planned(&plan)
        .apply_segmentation(&x, &soft)
        .unwrap();
    let (_, mf) = Mixer::new(cfg, 0)
        .unwrap()
        .with_executor(Executor::Fused)
        .planned(&plan)
        .apply_segmentation(&x, &soft)
        .unwrap();
    assert_eq!(values(&mr), values(&mf), "{device:?} soft masks");
}

/// ResizeMix and FMix, each switching with Mixup as in [`config`].
pub fn family_configs(mode: MixMode, classes: i64) -> [(&'static str, MixConfig); 2] {
    let base = config(mode, 4, classes);
    [
        ("resizemix", MixConfig { paste: Paste::ResizeMix { lam_min: 0.1, lam_max: 0.8 }, ..base.clone() }),
        ("fmix", MixConfig { paste: Paste::FMix { decay_power: 3.0 }, ..base }),
    ]
}

/// The mix family through both executors: ResizeMix and FMix × mode × dtype × layout × odd/even batch ×
/// rank 3/4 × label encoding, out of place and in place (where ResizeMix's pair reads each other's whole
/// image while writing its own box); returns the number of cases run.
pub fn family_matrix(device: Device) -> usize {
    let shapes: [&[i64]; 4] = [&[3, 8, 8], &[3, 5, 7], &[2, 40], &[3, 13]];
    let mut cases = 0;
    for shape in shapes {
        for n in [6i64, 7] {
            let full: Vec<i64> = std::iter::once(n).chain(shape.iter().copied()).collect();
            for mode in [MixMode::Batch, MixMode::Pair, MixMode::Elem] {
                for (name, cfg) in family_configs(mode, 10) {
                    let plan = Mixer::new(cfg.clone(), 41 + n as u64).unwrap().sample_plan(&full).unwrap();
                    for kind in KINDS {
                        let x = images(&full, kind).to_device(device);
                        let layouts = match shape.len() {
                            3 => [x.shallow_clone(), channels_last(&x)],
                            _ => [x.shallow_clone(), x.permute([0, 2, 1]).contiguous().permute([0, 2, 1])],
                        };
                        for (l, xl) in layouts.iter().enumerate() {
                            for (enc, labels) in [("indices", labels(n, 10)), ("soft", soft_labels(n, 10))] {
                                let what = format!("{device:?} {name} {full:?} {mode:?} {kind:?} layout {l} {enc}");
                                compare(&plan, &cfg, xl, &labels, &what);
                                cases += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    cases
}

/// Hand-made plans of every operation side by side (pairs of different operations; ResizeMix boxes of the
/// whole image, one pixel, one row; FMix keeping nothing), in every dtype and both layouts, and through
/// the normalising pass.
pub fn family_hand_plans(device: Device) {
    let (n, h, w) = (7usize, 6usize, 9usize);
    let fmix = |seed, lam| MixOp::FMix { mask: FMixMask { seed, decay_power: 3.0 }, lam };
    let resize = |y0, y1, x0, x1| MixOp::ResizeMix { bbox: CutBox { y0, y1, x0, x1 }, lam: 0.5 };
    let plans = [
        vec![
            resize(0, h, 0, w),
            fmix(3, 0.0),
            resize(5, 6, 8, 9),
            MixOp::Keep,
            fmix(4, 0.5),
            MixOp::Mixup { lam: 0.3 },
            resize(2, 3, 0, w),
        ],
        vec![
            MixOp::CutMix { bbox: CutBox { y0: 1, y1: 4, x0: 2, x1: 7 }, lam: 0.6 },
            resize(1, 5, 3, 6),
            fmix(5, 0.7),
            resize(0, 2, 0, 3),
            fmix(6, 0.2),
            MixOp::CutMix { bbox: CutBox { y0: 0, y1: 6, x0: 4, x1: 5 }, lam: 0.9 },
            resize(2, 5, 1, 8),
        ],
        // In place, each way a ResizeMix box meets its partner: beside a kept sample (pasted straight in),
        // beside Mixup and FMix (held while the partner changes), and pasted into itself whole.
        vec![
            MixOp::Keep,
            resize(1, 4, 1, 5),
            fmix(7, 0.4),
            resize(0, h, 0, w),
            resize(2, 6, 3, 9),
            MixOp::Mixup { lam: 0.6 },
            resize(0, 3, 2, 9),
        ],
    ];
    let cfg = config(MixMode::Elem, 4, 4);
    for (p, ops) in plans.into_iter().enumerate() {
        let plan = MixPlan { ops, extent: Some((h, w)) };
        for kind in KINDS {
            let x = images(&[n as i64, 2, h as i64, w as i64], kind).to_device(device);
            compare(&plan, &cfg, &x, &labels(n as i64, 4), &format!("family hand plan {p} {kind:?}"));
            let what = format!("family hand plan {p} channels_last {kind:?}");
            compare(&plan, &cfg, &channels_last(&x), &labels(n as i64, 4), &what);
        }
        // The normalising pass of the plan from 3 channels, every input layout into both output layouts
        // (on the host, planes of 54 pixels: 3 pixel vectors of 16 and a tail of 6 either way).
        let nchw = images(&[n as i64, 3, h as i64, w as i64], Kind::Uint8).to_device(device);
        for (input_name, input, x) in &normalizing_inputs(&nchw) {
            for channels_last in [false, true] {
                let (mean, std) = (vec![0.45; 3], vec![0.25; 3]);
                let norm = Normalize { input: *input, channels_last, kind: Kind::Float, mean, std };
                let what = format!("family hand plan {p} normalised from {input_name}, channels_last {channels_last}");
                compare_normalized(&plan, &cfg, x, &labels(n as i64, 4), &norm, &what);
            }
        }
    }
}

/// ResizeMix batches large enough that the fused CPU executor splits them between threads (in place, by
/// whole pairs, each thread holding a box of its own), and one pair large enough that out of place its
/// vectors are split (in place it stays whole), f32 and u8, both layouts.
pub fn family_threaded_resizes(device: Device) {
    let cfg = family_configs(MixMode::Elem, 10)[0].1.clone();
    let resize = |y0, y1, x0, x1| MixOp::ResizeMix { bbox: CutBox { y0, y1, x0, x1 }, lam: 0.5 };
    let one_pair = MixPlan { ops: vec![resize(10, 240, 20, 250), resize(0, 200, 56, 256)], extent: Some((256, 256)) };
    let cases = [
        ([64i64, 3, 96, 96], Mixer::new(cfg.clone(), 43).unwrap().sample_plan(&[64, 3, 96, 96]).unwrap()),
        ([2, 3, 256, 256], one_pair),
    ];
    for (full, plan) in &cases {
        for kind in [Kind::Float, Kind::Uint8] {
            let x = images(full, kind).to_device(device);
            let n = full[0];
            compare(plan, &cfg, &x, &labels(n, 10), &format!("threaded resizes {full:?} {kind:?}"));
            let what = format!("threaded resizes {full:?} channels_last {kind:?}");
            compare(plan, &cfg, &channels_last(&x), &labels(n, 10), &what);
        }
    }
}

/// ResizeMix boxes on wide images, of widths whose resized columns step by every kind of quotient and
/// remainder: the whole row, one column, widths prime to the image's 132 columns (131, 37, 7) and widths
/// sharing a factor with it (64, 2, 66, 24, 9, 88), where a remainder reaches the width exactly inside
/// the box. 16 rows make a sample whole vectors of every width, so each dtype's vector path pastes the
/// resized lanes in runs (the walk); 13 rows leave u8, f16 and bf16 samples that are not (on the GPU one
/// element a thread, on the CPU vectors and a tail). In every dtype and both layouts, in place (pairs
/// that paste into each other, the odd batch's middle sample into itself) and not, and through the
/// normalising pass from every input layout (on the GPU one element a thread). Then segments past 2^16
/// steps, every box width on narrow rows, and rows too long for the groups of lanes the host keeps.
pub fn family_wide_resizes(device: Device) {
    for h in [16usize, 13] {
        wide_resizes(device, h);
    }
    long_segment_resizes(device);
    resize_widths(device);
}

/// ResizeMix boxes of every width from one column to the whole row, at the row's end and at its start, on
/// rows of 5, 6, 16, 17 and 40 columns in both layouts (rows of 5 to 120 lanes), u8 and f32, in place and
/// not. On the host a whole u8 box row of a partner row of 16 lanes or more takes byte shuffles, whose
/// loads start at most 16 lanes before the partner row's end and whose last lanes go through a scratch
/// copy. Then u8 rows of 9,000 columns, where boxes at steps of 1 and 2 columns need more groups than the
/// host keeps (512; the rest of the row goes lane by lane).
fn resize_widths(device: Device) {
    let h = 3usize;
    let resize = |x0, x1| MixOp::ResizeMix { bbox: CutBox { y0: 0, y1: h, x0, x1 }, lam: 0.5 };
    for w in [5usize, 6, 16, 17, 40] {
        for at_end in [true, false] {
            let ops: Vec<MixOp> = (1..=w).map(|bw| if at_end { resize(w - bw, w) } else { resize(0, bw) }).collect();
            let n = ops.len() as i64;
            let plan = MixPlan { ops, extent: Some((h, w)) };
            let cfg = config(MixMode::Elem, 4, 4);
            for kind in [Kind::Uint8, Kind::Float] {
                let x = images(&[n, 3, h as i64, w as i64], kind).to_device(device);
                let what = format!("resize widths on {w} columns, at end {at_end}, {kind:?}");
                compare(&plan, &cfg, &x, &labels(n, 4), &what);
                let what = format!("resize widths on {w} columns, at end {at_end}, channels_last {kind:?}");
                compare(&plan, &cfg, &channels_last(&x), &labels(n, 4), &what);
            }
        }
    }
    let w = 9000usize;
    // Steps of 1 and 2 columns (16 and 8 lanes a group in NCHW: 563 groups; channels-last 1,688 and 1,500),
    // and 45 (one lane a group in NCHW, three channels-last: 200 groups).
    let ops = vec![resize(0, w), resize(3, 4503), MixOp::Keep, resize(w - 200, w)];
    let plan = MixPlan { ops, extent: Some((h, w)) };
    let cfg = config(MixMode::Elem, 4, 4);
    let x = images(&[4, 3, h as i64, w as i64], Kind::Uint8).to_device(device);
    compare(&plan, &cfg, &x, &labels(4, 4), "resizes past the groups kept");
    compare(&plan, &cfg, &channels_last(&x), &labels(4, 4), "resizes past the groups kept, channels_last");
}

/// ResizeMix on segments of 70,000 steps ([N, C, T]), whose resized places take a product past 32 bits,
/// and at 70,001 steps samples that are not whole vectors. The boxes' widths straddle 2^16, the widest
/// whose columns the CPU steps in fixed point (2^16 − 1 and 2^16 do; wider boxes divide each column out):
/// one box is 69,373 (70,000 steps) or 67,063 (70,001) wide, widths at which the fixed point would go
/// wrong (at column 67,824 and 66,538), so a limit set too high fails.
fn long_segment_resizes(device: Device) {
    for t in [70_000usize, 70_001] {
        let resize = |x0, x1| MixOp::ResizeMix { bbox: CutBox { y0: 0, y1: 1, x0, x1 }, lam: 0.5 };
        let too_wide_to_step = if t == 70_000 { 69_373 } else { 67_063 };
        let ops = vec![
            resize(5, 69_990),
            resize(0, t),
            resize(60_000, t - 1),
            resize(3, 3 + 65_536),
            resize(100, 100 + 65_537),
            resize(t - 65_535, t),
            resize(1, 1 + too_wide_to_step),
        ];
        let n = ops.len() as i64;
        let plan = MixPlan { ops, extent: Some((1, t)) };
        let cfg = config(MixMode::Elem, 4, 4);
        for kind in [Kind::Uint8, Kind::Float] {
            let x = images(&[n, 2, t as i64], kind).to_device(device);
            compare(&plan, &cfg, &x, &labels(n, 4), &format!("long segment of {t} resizes {kind:?}"));
        }
    }
}

fn wide_resizes(device: Device, h: usize) {
    let (n, w) = (5i64, 132usize);
    let resize = |y0, y1, x0, x1| MixOp::ResizeMix { bbox: CutBox { y0, y1, x0, x1 }, lam: 0.5 };
    let plans = [
        vec![
            resize(0, h, 0, w),
            resize(3, 10, 20, 57),
            resize(2, 9, 5, 6),
            MixOp::Mixup { lam: 0.3 },
            resize(0, h, 1, w),
        ],
        vec![resize(1, 12, 40, 104), resize(0, 1, 0, 2), resize(4, 13, 60, 126), resize(6, 7, 0, w), MixOp::Keep],
        vec![resize(0, h, 100, 124), resize(5, 8, 3, 12), MixOp::Keep, resize(2, 11, 10, 98), resize(0, h, 0, 7)],
    ];
    let cfg = config(MixMode::Elem, 4, 4);
    for (p, ops) in plans.into_iter().enumerate() {
        let plan = MixPlan { ops, extent: Some((h, w)) };
        for kind in KINDS {
            let x = images(&[n, 3, h as i64, w as i64], kind).to_device(device);
            compare(&plan, &cfg, &x, &labels(n, 4), &format!("wide resizes {h} rows {p} {kind:?}"));
            let what = format!("wide resizes {h} rows {p} channels_last {kind:?}");
            compare(&plan, &cfg, &channels_last(&x), &labels(n, 4), &what);
        }
        let nchw = images(&[n, 3, h as i64, w as i64], Kind::Uint8).to_device(device);
        let inputs = normalizing_inputs(&nchw);
        for (input_name, input, x) in &inputs {
            for out_cl in [false, true] {
                let norm = Normalize {
                    input: *input,
                    channels_last: out_cl,
                    kind: Kind::Float,
                    mean: vec![0.45; 3],
                    std: vec![0.25; 3],
                };
                let what = format!("wide resizes {h} rows {p} {input_name} -> f32 cl={out_cl}");
                compare_normalized(&plan, &cfg, x, &labels(n, 4), &norm, &what);
            }
        }
    }
}

/// The normalising pass with ResizeMix and FMix: every input layout into both output layouts, f32 and
/// bf16, shapes that take pixel vectors, vectors (on the host for 4, 5 and 16 channels between NCHW and
/// channels-last, gathered from the planes or the pixels) and single elements; each channel its own constants,
/// so a lane that took another channel's would differ.
pub fn family_normalize(device: Device) -> usize {
    let mut cases = 0;
    let shapes = [(6, 3, 8, 8), (7, 3, 5, 7), (5, 3, 4, 16), (3, 4, 2, 64), (4, 3, 4, 6), (3, 5, 3, 7), (3, 16, 2, 3)];
    for (n, c, h, w) in shapes {
        for mode in [MixMode::Pair, MixMode::Elem] {
            for (name, cfg) in family_configs(mode, 10) {
                let plan = Mixer::new(cfg.clone(), 51 + n as u64).unwrap().sample_plan(&[n, c, h, w]).unwrap();
                let nchw = images(&[n, c, h, w], Kind::Uint8).to_device(device);
                let inputs = normalizing_inputs(&nchw);
                for (input_name, input, x) in &inputs {
                    for kind in [Kind::Float, Kind::BFloat16] {
                        for out_cl in [false, true] {
                            let norm = per_channel(*input, out_cl, kind, c);
                            let what = format!(
                                "{device:?} {name} {n}x{c}x{h}x{w} {mode:?} {input_name} -> {kind:?} cl={out_cl}"
                            );
                            compare_normalized(&plan, &cfg, x, &labels(n, 10), &norm, &what);
                            cases += 1;
                        }
                    }
                }
            }
        }
    }
    cases
}

/// Segmentation with ResizeMix and FMix: class masks (int64, uint8) and images, both executors, both
/// image layouts, out of place and in place.
pub fn family_segmentation(device: Device) {
    for (n, h, w) in [(7i64, 9i64, 11i64), (6, 8, 8)] {
        for (name, cfg) in family_configs(MixMode::Elem, 10) {
            let cfg = MixConfig { mixup_alpha: 0.0, ..cfg };
            let x = images(&[n, 3, h, w], Kind::Float).to_device(device);
            let plan = Mixer::new(cfg.clone(), 14).unwrap().sample_plan(&x.size()).unwrap();
            for mask_kind in [Kind::Int64, Kind::Uint8] {
                let m = Tensor::randint(5, [n, h, w], (mask_kind, device));
                for xl in [x.shallow_clone(), channels_last(&x)] {
                    let what = format!("{device:?} {name} {n}x{h}x{w} {mask_kind:?} masks");
                    let mut reference = Mixer::new(cfg.clone(), 0).unwrap().with_executor(Executor::Reference);
                    let mut fused = Mixer::new(cfg.clone(), 0).unwrap().with_executor(Executor::Fused);
                    let (xr, mr) = reference.planned(&plan).apply_segmentation(&xl, &m).unwrap();
                    let (xf, mf) = fused.planned(&plan).apply_segmentation(&xl, &m).unwrap();
                    assert_eq!((values(&xr), values(&mr)), (values(&xf), values(&mf)), "{what}");
                    let (mut xi, mut mi) = (xl.copy(), m.copy());
                    fused.planned(&plan).apply_segmentation_(&mut xi, &mut mi).unwrap();
                    assert_eq!((values(&xi), values(&mi)), (values(&xr), values(&mr)), "{what}, in place");
                }
            }
        }
    }
}

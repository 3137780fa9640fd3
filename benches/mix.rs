//! The fused CPU executor (and, for f32, the reference) beside a copy of the same bytes, the bandwidth
//! limit. The GPU's cases are in benches/gpu.rs; bench/cpu_run.sh runs these and the Python peers
//! (bench/peers.py) in one command.
//!
//! `cargo bench --bench mix` runs everything (about 2 minutes on 2 cores); filter with a substring, e.g.
//! `cargo bench --bench mix -- 'cpu/256x3x112x112/u8/'`. Case names: `<recipe>/<mode>/<place>/<executor>`;
//! `cutmix_box10` / `cutmix_box50` apply a fixed plan whose centred box covers 10% / 50% of the image in
//! every sample (`fused_one_thread`: on one thread, beside `bare_swap_one_thread`, a plain Rust swap of
//! the same boxes' rows); `fused_<level>` forces an instruction-set level of the host kernels (the plain `fused`
//! runs the level chosen at run time, printed first).

use std::time::Duration;

use criterion::{criterion_group, BenchmarkGroup, BenchmarkId, Criterion};
use tch::{Device, Kind, Tensor};
use tch_mixcut::testing::{fmix_masks, with_cpu_isa, with_cuda_host_side};
use tch_mixcut::{CpuIsa, CutBox, Executor, InputLayout, MixConfig, MixMode, MixPlan, Mixer, Normalize};

mod common;
use common::{box_plan, centred_box, fmix_plan, resize_plan};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn batch(shape: &[i64], kind: Kind) -> Tensor {
    tch::manual_seed(0);
    match kind {
        Kind::Uint8 => Tensor::randint(256, shape, (Kind::Uint8, Device::Cpu)),
        k => Tensor::rand(shape, (k, Device::Cpu)),
    }
}

/// The least an in-place CutMix of `bbox` in every pair of `x` `[N, C, H, W]` (contiguous) has to do,
/// written as plain Rust: swap the box's rows of samples i and N-1-i (`swap_with_slice`), with no checks
/// and no targets. On one thread, beside the fused executor on one thread, it shows what the memory
/// system charges for a box's rows whoever moves them.
fn bare_box_swap(x: &mut Tensor, bbox: CutBox) {
    let s: Vec<usize> = x.size().iter().map(|&d| d as usize).collect();
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let elt = x.kind().elt_size_in_bytes();
    assert!(x.device() == Device::Cpu && x.is_contiguous(), "bare_box_swap: a contiguous CPU tensor");
    // SAFETY: `x` is a contiguous CPU tensor of n·c·h·w elements of `elt` bytes, borrowed mutably here.
    let bytes = unsafe { std::slice::from_raw_parts_mut(x.data_ptr() as *mut u8, n * c * h * w * elt) };
    let (run, sample) = ((bbox.x1 - bbox.x0) * elt, c * h * w * elt);
    for i in 0..n / 2 {
        let (head, tail) = bytes.split_at_mut((n - 1 - i) * sample);
        let (a, b) = (&mut head[i * sample..(i + 1) * sample], &mut tail[..sample]);
        for row in (0..c).flat_map(|ch| (bbox.y0..bbox.y1).map(move |y| ch * h + y)) {
            let at = (row * w + bbox.x0) * elt;
            a[at..at + run].swap_with_slice(&mut b[at..at + run]);
        }
    }
}

/// In-place CutMix of centred boxes of 50%, 10% and one pixel of the image on one thread: the fused
/// executor (libtorch, and so the executor, limited to one thread) and, but for the pixel, [`bare_box_swap`].
fn one_thread_boxes(group: &mut Group, x: &Tensor, labels: &Tensor) {
    let s = x.size();
    let (n, hw) = (s[0] as usize, (s[2] as usize, s[3] as usize));
    let threads = tch::get_num_threads();
    tch::set_num_threads(1);
    for (id, area) in [
        ("cutmix_box50/batch/in_place", 0.5),
        ("cutmix_box10/batch/in_place", 0.1),
        ("cutmix_box1px/batch/in_place", 0.0),
    ] {
        let mut mixer = fused(MixConfig::cutmix(1.0, 1000));
        let plan = box_plan(n, hw, area);
        let mut y = x.copy();
        group.bench_function(BenchmarkId::new(id, "fused_one_thread"), |b| {
            b.iter(|| drop(mixer.planned(&plan).apply_(&mut y, labels).unwrap()))
        });
        if area > 0.0 {
            let bbox = centred_box(hw, area);
            group.bench_function(BenchmarkId::new(id, "bare_swap_one_thread"), |b| {
                b.iter(|| bare_box_swap(&mut y, bbox))
            });
        }
    }
    tch::set_num_threads(threads);
}

fn group<'a>(c: &'a mut Criterion, name: String) -> Group<'a> {
    let mut group = c.benchmark_group(name);
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    group
}

fn copy_case(group: &mut Group, x: &Tensor) {
    let mut dst = x.copy();
    group.bench_function("copy", |b| b.iter(|| dst.copy_(x)));
}

/// In-place calls of `mixer` (sampling its own plans, or applying `plan`), on the fused executor forced to
/// `level` or at the level chosen at run time.
fn in_place(
    group: &mut Group,
    id: &str,
    x: &Tensor,
    labels: &Tensor,
    mut mixer: Mixer,
    plan: Option<&MixPlan>,
    level: Option<CpuIsa>,
) {
    let executor = level.map_or("fused".to_string(), |l| format!("fused_{l}"));
    let mut y = x.copy();
    let mut call = || match plan {
        Some(p) => drop(mixer.planned(p).apply_(&mut y, labels).unwrap()),
        None => drop(mixer.apply_(&mut y, labels).unwrap()),
    };
    group.bench_function(BenchmarkId::new(id, executor), |b| {
        b.iter(|| match level {
            Some(l) => with_cpu_isa(l, &mut call).expect("an available level"),
            None => call(),
        })
    });
}

/// In-place CutMix of a centred box of half the area in every sample of `x` `[N, C, H, W]`.
fn cutmix_box50(group: &mut Group, x: &Tensor, labels: &Tensor) {
    let s = x.size();
    let plan = box_plan(s[0] as usize, (s[2] as usize, s[3] as usize), 0.5);
    let mixer = fused(MixConfig::cutmix(1.0, 1000));
    in_place(group, "cutmix_box50/batch/in_place", x, labels, mixer, Some(&plan), None);
}

fn fused(config: MixConfig) -> Mixer {
    Mixer::new(config, 0).unwrap().with_executor(Executor::Fused)
}

/// 256×3×112×112, the size the peers were measured at on this kind of machine.
fn imagenet_112(c: &mut Criterion) {
    let shape = [256i64, 3, 112, 112];
    let labels = Tensor::randint(1000, [256], (Kind::Int64, Device::Cpu));
    for (name, kind) in [("f32", Kind::Float), ("bf16", Kind::BFloat16), ("f16", Kind::Half), ("u8", Kind::Uint8)] {
        let mut group = group(c, format!("cpu/256x3x112x112/{name}"));
        let x = batch(&shape, kind);
        copy_case(&mut group, &x);
        for mode in [MixMode::Batch, MixMode::Pair, MixMode::Elem] {
            let id = format!("mixup/{mode:?}/in_place").to_lowercase();
            in_place(
                &mut group,
                &id,
                &x,
                &labels,
                fused(MixConfig { mode, ..MixConfig::mixup(1.0, 1000) }),
                None,
                None,
            );
        }
        // Box sides 0.6–0.8 of the image: about half its area, sampled per call.
        let cutmix = MixConfig { cutmix_minmax: Some((0.6, 0.8)), ..MixConfig::cutmix(1.0, 1000) };
        in_place(&mut group, "cutmix/batch/in_place", &x, &labels, fused(cutmix.clone()), None, None);
        // A one-pixel box: what a call costs whatever the box (checks, the 1000-class targets).
        for (id, area) in [
            ("cutmix_box50/batch/in_place", 0.5),
            ("cutmix_box10/batch/in_place", 0.1),
            ("cutmix_box1px/batch/in_place", 0.0),
        ] {
            in_place(&mut group, id, &x, &labels, fused(cutmix.clone()), Some(&box_plan(256, (112, 112), area)), None);
        }
        one_thread_boxes(&mut group, &x, &labels);
        // The dispatch: the same Mixup on every level this machine has.
        for level in CpuIsa::ALL.into_iter().filter(|l| l.is_available()) {
            in_place(
                &mut group,
                "mixup/batch/in_place",
                &x,
                &labels,
                fused(MixConfig::mixup(1.0, 1000)),
                None,
                Some(level),
            );
        }
        let mut mixer = fused(MixConfig::mixup(1.0, 1000));
        group.bench_function(BenchmarkId::new("mixup/batch/out_of_place", "fused"), |b| {
            b.iter(|| drop(mixer.apply(&x, &labels).unwrap()))
        });
        if kind == Kind::Float {
            let mut reference = Mixer::new(MixConfig::mixup(1.0, 1000), 0).unwrap().with_executor(Executor::Reference);
            let mut y = x.copy();
            let id = BenchmarkId::new("mixup/batch/in_place", "reference");
            group.bench_function(id, |b| b.iter(|| drop(reference.apply_(&mut y, &labels).unwrap())));
        }
        group.finish();
    }
}

/// 128×3×32×32 end to end (plan, checks, images and targets), DeiT's recipe and plain Mixup.
fn cifar(c: &mut Criterion) {
    let shape = [128i64, 3, 32, 32];
    let labels = Tensor::randint(1000, [128], (Kind::Int64, Device::Cpu));
    for (name, kind) in [("f32", Kind::Float), ("bf16", Kind::BFloat16), ("u8", Kind::Uint8)] {
        let mut group = group(c, format!("cpu/128x3x32x32/{name}"));
        let x = batch(&shape, kind);
        copy_case(&mut group, &x);
        in_place(&mut group, "mixup/batch/in_place", &x, &labels, fused(MixConfig::mixup(1.0, 1000)), None, None);
        in_place(&mut group, "deit/batch/in_place", &x, &labels, fused(MixConfig::deit(1000)), None, None);
        cutmix_box50(&mut group, &x, &labels);
        group.finish();
    }
}

/// 256×3×224×224 f32: ImageNet's size, far beyond the caches.
fn imagenet_224(c: &mut Criterion) {
    let shape = [256i64, 3, 224, 224];
    let labels = Tensor::randint(1000, [256], (Kind::Int64, Device::Cpu));
    let mut group = group(c, "cpu/256x3x224x224/f32".to_string());
    let x = batch(&shape, Kind::Float);
    copy_case(&mut group, &x);
    in_place(&mut group, "mixup/batch/in_place", &x, &labels, fused(MixConfig::mixup(1.0, 1000)), None, None);
    cutmix_box50(&mut group, &x, &labels);
    group.finish();
}

/// The mix family beside CutMix moving the same area (half of each image), out of place and in place, at
/// 256×3×112×112 in f32 and u8. FMix's cases include computing its masks (tch's FFT, per call).
fn family(c: &mut Criterion) {
    let shape = [256i64, 3, 112, 112];
    let labels = Tensor::randint(1000, [256], (Kind::Int64, Device::Cpu));
    for (name, kind) in [("f32", Kind::Float), ("u8", Kind::Uint8)] {
        let mut group = group(c, format!("cpu/family/256x3x112x112/{name}"));
        let x = batch(&shape, kind);
        copy_case(&mut group, &x);
        for (op, plan) in [
            ("cutmix", box_plan(256, (112, 112), 0.5)),
            ("resizemix", resize_plan(256, (112, 112), 0.5)),
            ("fmix", fmix_plan(256, (112, 112), 0.5)),
        ] {
            let mut mixer = fused(MixConfig::cutmix(1.0, 1000));
            let id = BenchmarkId::new(format!("{op}_half_area/batch/out_of_place"), "fused");
            group.bench_function(id, |b| b.iter(|| drop(mixer.planned(&plan).apply(&x, &labels).unwrap())));
            let id = format!("{op}_half_area/batch/in_place");
            in_place(&mut group, &id, &x, &labels, fused(MixConfig::cutmix(1.0, 1000)), Some(&plan), None);
            if op == "fmix" {
                // What computing the masks costs, apart from the pass.
                let id = BenchmarkId::new("fmix_half_area/masks_only", "tch");
                group.bench_function(id, |b| b.iter(|| drop(fmix_masks(&plan, Device::Cpu).unwrap())));
            }
        }
        group.finish();
    }
    family_odd_side(c, &labels);
}

/// ResizeMix and CutMix where a sample is not whole vectors (3×111×111 bytes, odd: the host takes the part
/// vector that ends each sample in 16-byte vectors and single elements), out of place in u8, and through
/// the normalising pass from NHWC u8 into NCHW f32.
fn family_odd_side(c: &mut Criterion, labels: &Tensor) {
    let mut group = group(c, "cpu/family/256x3x111x111/u8".to_string());
    let x = batch(&[256, 3, 111, 111], Kind::Uint8);
    let x_nhwc = x.permute([0, 2, 3, 1]).contiguous();
    let norm = Normalize { input: InputLayout::Nhwc, ..Normalize::imagenet(Kind::Float) };
    copy_case(&mut group, &x);
    for (op, plan) in [("cutmix", box_plan(256, (111, 111), 0.5)), ("resizemix", resize_plan(256, (111, 111), 0.5))] {
        let mut mixer = fused(MixConfig::cutmix(1.0, 1000));
        let id = BenchmarkId::new(format!("{op}_half_area/batch/out_of_place"), "fused");
        group.bench_function(id, |b| b.iter(|| drop(mixer.planned(&plan).apply(&x, labels).unwrap())));
        let id = BenchmarkId::new(format!("{op}_half_area/batch/normalized_nhwc_to_f32"), "fused");
        group.bench_function(id, |b| {
            b.iter(|| drop(mixer.planned(&plan).apply_normalized(&x_nhwc, labels, &norm).unwrap()))
        });
    }
    group.finish();
}

/// Samples that are not a whole number of the host's vectors (3×111×111 elements, and in uint8 bytes, is
/// odd), which start at every alignment, beside samples that are (3×112×112): Mixup and CutMix in place
/// and out of place, and in uint8 the normalising pass from NCHW and from NHWC, beside a copy of the batch.
fn sides(c: &mut Criterion) {
    for side in [111usize, 112] {
        odd_or_whole(c, side);
    }
}

fn odd_or_whole(c: &mut Criterion, side: usize) {
    let shape = [256i64, 3, side as i64, side as i64];
    let labels = Tensor::randint(1000, [256], (Kind::Int64, Device::Cpu));
    for (name, kind) in [("f32", Kind::Float), ("u8", Kind::Uint8)] {
        let mut group = group(c, format!("cpu/sides/256x3x{side}x{side}/{name}"));
        let x = batch(&shape, kind);
        copy_case(&mut group, &x);
        in_place(&mut group, "mixup/batch/in_place", &x, &labels, fused(MixConfig::mixup(1.0, 1000)), None, None);
        cutmix_box50(&mut group, &x, &labels);
        let plan = box_plan(256, (side, side), 0.5);
        let mut mixer = fused(MixConfig::cutmix(1.0, 1000));
        group.bench_function(BenchmarkId::new("cutmix_box50/batch/out_of_place", "fused"), |b| {
            b.iter(|| drop(mixer.planned(&plan).apply(&x, &labels).unwrap()))
        });
        if kind == Kind::Uint8 {
            let x_nhwc = x.permute([0, 2, 3, 1]).contiguous();
            let mut mixer = fused(MixConfig::mixup(1.0, 1000));
            for (id, input, layout) in
                [("nchw_to_f32", &x, InputLayout::Nchw), ("nhwc_to_f32", &x_nhwc, InputLayout::Nhwc)]
            {
                let norm = Normalize { input: layout, ..Normalize::imagenet(Kind::Float) };
                group.bench_function(BenchmarkId::new(format!("mixup/batch/normalized_{id}"), "fused"), |b| {
                    b.iter(|| drop(mixer.apply_normalized(input, &labels, &norm).unwrap()))
                });
            }
        }
        group.finish();
    }
}

/// Drawing a plan alone (no tensor work), the host's share of every call: one draw a batch in batch mode, one
/// a pair in pair mode, one a sample in elem mode, for Mixup α 1.0 and DeiT's recipe at batch 256.
fn plans(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu/plan/256x3x224x224");
    group.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    for (recipe, config) in [("mixup", MixConfig::mixup(1.0, 1000)), ("deit", MixConfig::deit(1000))] {
        for mode in [MixMode::Batch, MixMode::Pair, MixMode::Elem] {
            let mut mixer = Mixer::new(MixConfig { mode, ..config.clone() }, 0).unwrap();
            let id = BenchmarkId::new(format!("{recipe}/{mode:?}").to_lowercase(), "sample_plan");
            group.bench_function(id, |b| b.iter(|| drop(mixer.sample_plan(&[256, 3, 224, 224]).unwrap())));
        }
    }
    group.finish();
}

/// The host's share of a small CUDA call, measured without a GPU: 128×3×32×32 f32 in place with DeiT's
/// recipe (benches/gpu.rs's "host cost per call") taking the fused CUDA executor's path up to its driver
/// calls (`with_cuda_host_side`), beside its parts: drawing the plan, and allocating the targets (here
/// from the CPU allocator, not libtorch's CUDA caching allocator).
fn cuda_host_side(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu/cuda_host_side/128x3x32x32");
    group.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    let (mut x, labels) = (batch(&[128, 3, 32, 32], Kind::Float), Tensor::randint(1000, [128], tch::kind::INT64_CPU));
    let mut mixer = fused(MixConfig::deit(1000));
    group.bench_function("deit/batch/in_place/call", |b| {
        b.iter(|| with_cuda_host_side(|| drop(mixer.apply_(&mut x, &labels).unwrap())))
    });
    group.bench_function("deit/batch/sample_plan", |b| b.iter(|| drop(mixer.sample_plan(&[128, 3, 32, 32]).unwrap())));
    group.bench_function("targets/alloc", |b| b.iter(|| drop(Tensor::empty([128, 1000], tch::kind::FLOAT_CPU))));
    group.finish();
}

criterion_group!(benches, imagenet_112, cifar, imagenet_224, sides, family, plans, cuda_host_side);

/// `calls` in-place CutMix calls with a box of `area` on `x` (one function per box, so that callgrind
/// counts each apart).
fn box_calls(x: &mut Tensor, labels: &Tensor, area: f64, calls: usize) {
    let (h, w) = (x.size()[2] as usize, x.size()[3] as usize);
    let plan = box_plan(x.size()[0] as usize, (h, w), area);
    let mut mixer = fused(MixConfig::cutmix(1.0, 1000));
    for _ in 0..calls {
        drop(mixer.planned(&plan).apply_(x, labels).unwrap());
    }
}
#[inline(never)]
fn box1px_calls(x: &mut Tensor, labels: &Tensor, calls: usize) {
    box_calls(x, labels, 0.0, calls)
}
#[inline(never)]
fn box10_calls(x: &mut Tensor, labels: &Tensor, calls: usize) {
    box_calls(x, labels, 0.1, calls)
}
#[inline(never)]
fn box50_calls(x: &mut Tensor, labels: &Tensor, calls: usize) {
    box_calls(x, labels, 0.5, calls)
}
#[inline(never)]
fn mixup_calls(x: &mut Tensor, labels: &Tensor, calls: usize) {
    let mut mixer = fused(MixConfig::mixup(1.0, 1000));
    for _ in 0..calls {
        drop(mixer.apply_(x, labels).unwrap());
    }
}

/// `MIX_PROFILE=<f32|bf16|f16|u8>`: instead of the benches, 10 in-place calls each of Mixup and of CutMix
/// with boxes of one pixel, 10% and 50% at 256×3×112×112, on one thread (so that each function's inclusive
/// count holds all the work), for instruction counts (bench/cpu_callgrind.sh).
fn profile(dtype: &str) {
    tch::set_num_threads(1);
    let kind = match dtype {
        "f32" => Kind::Float,
        "bf16" => Kind::BFloat16,
        "f16" => Kind::Half,
        "u8" => Kind::Uint8,
        other => panic!("MIX_PROFILE: got {other}, expected f32, bf16, f16 or u8"),
    };
    let mut x = batch(&[256, 3, 112, 112], kind);
    let labels = Tensor::randint(1000, [256], (Kind::Int64, Device::Cpu));
    mixup_calls(&mut x, &labels, 10);
    box1px_calls(&mut x, &labels, 10);
    box10_calls(&mut x, &labels, 10);
    box50_calls(&mut x, &labels, 10);
}

fn main() {
    if let Ok(dtype) = std::env::var("MIX_PROFILE") {
        return profile(&dtype);
    }
    println!(
        "fused CPU kernels: level {} (available: {}); libtorch intra-op threads {}",
        tch_mixcut::fused_cpu_isa(),
        CpuIsa::ALL.into_iter().filter(|l| l.is_available()).map(|l| l.name()).collect::<Vec<_>>().join(", "),
        tch::get_num_threads()
    );
    benches();
    Criterion::default().configure_from_args().final_summary();
}

//! The GPU kit's benchmark: criterion cases on cuda:0 (a copy of the same bytes as the bandwidth ceiling;
//! the fused executor's in-place Mixup in batch, pair and elem mode (each also with its plan drawn
//! beforehand) and CutMix at 256×3×224×224 in f32,
//! bf16 and u8, and out of place beside ResizeMix and FMix moving the same area; 128×3×32×32 end to end with targets; [256, 1, 16000] audio; the normalising pass from NHWC
//! uint8 to channels-last bf16 and f32 and to NCHW bf16 beside the torch op chain it replaces), then a
//! measurement showing that no call synchronises and the host's cost of a small call.
//!
//! Each sample times a run of back-to-back calls ended by one `cuda::synchronize` (so it counts the GPU's
//! time per call, not a sync per call); bench/peers.py times timm and torchvision the same way.
//! `cargo bench --bench gpu`; without a GPU it prints why and exits 0 (with `TCH_MIXCUT_REQUIRE_GPU=1`, 1).
//! `GPU_PROFILE=1` launches each fused kernel twice instead, for ncu (bench/gpu_profile.sh).

use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion};
use tch::{Device, Kind, Tensor};
use tch_mixcut::testing::with_cuda_host_side;
use tch_mixcut::{Executor, InputLayout, MixConfig, MixMode, Mixer, Normalize};

mod common;
use common::{box_plan, fmix_plan, resize_plan};

const DEV: Device = Device::Cuda(0);

fn sync() {
    tch::Cuda::synchronize(0);
}

/// Times `iters` back-to-back calls of `f` and one synchronisation.
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    sync();
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    sync();
    start.elapsed()
}

fn batch(shape: &[i64], kind: Kind) -> Tensor {
    tch::manual_seed(0);
    match kind {
        Kind::Uint8 => Tensor::randint(256, shape, (Kind::Uint8, DEV)),
        k => Tensor::rand(shape, (k, DEV)),
    }
}

fn imagenet(c: &mut Criterion) {
    let shape = [256i64, 3, 224, 224];
    let labels = Tensor::randint(1000, [256], (Kind::Int64, DEV));
    for (name, kind) in [("f32", Kind::Float), ("bf16", Kind::BFloat16), ("u8", Kind::Uint8)] {
        let mut group = c.benchmark_group(format!("gpu/256x3x224x224/{name}"));
        group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
        let x = batch(&shape, kind);
        let mut y = x.copy();
        group.bench_function("copy", |b| b.iter_custom(|n| timed(n, || y.copy_(&x))));
        for mode in [MixMode::Batch, MixMode::Pair, MixMode::Elem] {
            let mut m = Mixer::new(MixConfig { mode, ..MixConfig::mixup(1.0, 1000) }, 0)
                .unwrap()
                .with_executor(Executor::Fused);
            let id = BenchmarkId::new(format!("mixup/{mode:?}/in_place").to_lowercase(), "fused");
            group.bench_function(id, |b| b.iter_custom(|n| timed(n, || drop(m.apply_(&mut y, &labels).unwrap()))));
            // The same call with its plan drawn beforehand: the GPU's time without the host's draws (one
            // a sample in elem mode), which a short kernel may not hide.
            let plan = m.sample_plan(&shape).unwrap();
            let id = BenchmarkId::new(format!("mixup/{mode:?}/in_place/planned").to_lowercase(), "fused");
            group.bench_function(id, |b| {
                b.iter_custom(|n| timed(n, || drop(m.planned(&plan).apply_(&mut y, &labels).unwrap())))
            });
        }
        let plan = box_plan(256, (224, 224), 0.5);
        let mut m = Mixer::new(MixConfig::cutmix(1.0, 1000), 0).unwrap().with_executor(Executor::Fused);
        let id = BenchmarkId::new("cutmix_half_area/batch/in_place", "fused");
        group.bench_function(id, |b| {
            b.iter_custom(|n| timed(n, || drop(m.planned(&plan).apply_(&mut y, &labels).unwrap())))
        });
        // The mix family beside CutMix, the same area moved, out of place (a pipeline's usual call).
        for (id, plan) in [
            ("cutmix_half_area/batch/out_of_place", box_plan(256, (224, 224), 0.5)),
            ("resizemix_half_area/batch/out_of_place", resize_plan(256, (224, 224), 0.5)),
            ("fmix_half_area/batch/out_of_place", fmix_plan(256, (224, 224), 0.5)),
        ] {
            group.bench_function(BenchmarkId::new(id, "fused"), |b| {
                b.iter_custom(|n| timed(n, || drop(m.planned(&plan).apply(&x, &labels).unwrap())))
            });
        }
        if kind == Kind::Float {
            let mut m = Mixer::new(MixConfig::mixup(1.0, 1000), 0).unwrap().with_executor(Executor::Reference);
            let id = BenchmarkId::new("mixup/batch/in_place", "reference");
            group.bench_function(id, |b| b.iter_custom(|n| timed(n, || drop(m.apply_(&mut y, &labels).unwrap()))));
            // The same pass with one class: the difference is what building 256 × 1000 targets costs.
            let one = Tensor::zeros([256], (Kind::Int64, DEV));
            let mut m = Mixer::new(MixConfig::mixup(1.0, 1), 0).unwrap().with_executor(Executor::Fused);
            let id = BenchmarkId::new("mixup/batch/in_place/1_class", "fused");
            group.bench_function(id, |b| b.iter_custom(|n| timed(n, || drop(m.apply_(&mut y, &one).unwrap()))));
        }
        group.finish();
    }
}

fn small_and_audio(c: &mut Criterion) {
    for (dims, shape, config) in [
        ("128x3x32x32", vec![128i64, 3, 32, 32], MixConfig::deit(1000)),
        ("256x1x16000", vec![256i64, 1, 16000], MixConfig::mixup(0.2, 1000)),
    ] {
        let mut group = c.benchmark_group(format!("gpu/{dims}/f32"));
        group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
        let x = batch(&shape, Kind::Float);
        let labels = Tensor::randint(1000, [shape[0]], (Kind::Int64, DEV));
        let mut y = x.copy();
        group.bench_function("copy", |b| b.iter_custom(|n| timed(n, || y.copy_(&x))));
        let mut m = Mixer::new(config, 0).unwrap().with_executor(Executor::Fused);
        let id = BenchmarkId::new("end_to_end/batch/in_place", "fused");
        group.bench_function(id, |b| b.iter_custom(|n| timed(n, || drop(m.apply_(&mut y, &labels).unwrap()))));
        group.finish();
    }
}

/// The normalising pass's outputs timed and profiled (dtype, its name, channels-last): channels-last (conv
/// nets in bf16) in both float types; NCHW (a layout change in the pass: each thread reads 4 pixels' 3
/// channels and writes a vector into each plane) in bf16.
const NORMALIZE_CASES: [(Kind, &str, bool); 3] =
    [(Kind::BFloat16, "bf16", true), (Kind::Float, "f32", true), (Kind::BFloat16, "bf16", false)];

/// The normalising pass from a decoder's NHWC uint8 batch to channels-last bf16 and f32 and to NCHW bf16,
/// against the chain of torch ops it replaces (benches/normalize.rs has the same on the CPU).
fn normalizing(c: &mut Criterion) {
    let mut group = c.benchmark_group("gpu/normalize/256x224x224x3_u8");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    let x = batch(&[256, 224, 224, 3], Kind::Uint8);
    let labels = Tensor::randint(1000, [256], (Kind::Int64, DEV));
    let mean = Tensor::from_slice(&[0.485f32, 0.456, 0.406]).view([1, 3, 1, 1]).to_device(DEV);
    let std = Tensor::from_slice(&[0.229f32, 0.224, 0.225]).view([1, 3, 1, 1]).to_device(DEV);
    for (kind, name, channels_last) in NORMALIZE_CASES {
        let norm = Normalize { input: InputLayout::Nhwc, channels_last, ..Normalize::imagenet(kind) };
        let layout = if channels_last { "channels_last" } else { "contiguous" };
        let mut m = Mixer::new(MixConfig::mixup(1.0, 1000), 0).unwrap().with_executor(Executor::Fused);
        group.bench_function(format!("to_{name}_{layout}/fused"), |b| {
            b.iter_custom(|n| timed(n, || drop(m.apply_normalized(&x, &labels, &norm).unwrap())))
        });
        group.bench_function(format!("to_{name}_{layout}/torch_op_chain"), |b| {
            b.iter_custom(|n| {
                timed(n, || {
                    let f = x.permute([0, 3, 1, 2]).to_kind(Kind::Float);
                    let mixed = &f * 0.7 + f.flip([0]) * 0.3;
                    let y = ((mixed / 255.0 - &mean) / &std).to_kind(kind);
                    drop(if channels_last { y.permute([0, 2, 3, 1]).contiguous() } else { y.contiguous() });
                })
            })
        });
    }
    group.finish();
}

/// Enqueueing 100 calls against running them: a call that synchronised would make the two equal. Mixup,
/// and FMix in elem mode, whose masks each call computes on the GPU from spectra drawn on the host (one
/// selection per distinct kept-pixel count).
fn no_sync_per_call() {
    let mut x = batch(&[256, 3, 224, 224], Kind::Float);
    let labels = Tensor::randint(1000, [256], (Kind::Int64, DEV));
    let fmix = MixConfig { mode: MixMode::Elem, ..MixConfig::fmix(1.0, 1000) };
    for (name, config) in [("Mixup", MixConfig::mixup(1.0, 1000)), ("FMix elem-mode", fmix)] {
        let mut m = Mixer::new(config, 0).unwrap().with_executor(Executor::Fused);
        let _ = m.apply_(&mut x, &labels).unwrap();
        sync();
        let start = Instant::now();
        for _ in 0..100 {
            let _ = m.apply_(&mut x, &labels).unwrap();
        }
        let enqueued = start.elapsed();
        sync();
        let ran = start.elapsed();
        println!(
            "no-sync check: enqueueing 100 fused {name} calls (256x3x224x224 f32) took {:.3} ms, running them {:.3} ms ({:.1}% of it)",
            enqueued.as_secs_f64() * 1e3,
            ran.as_secs_f64() * 1e3,
            100.0 * enqueued.as_secs_f64() / ran.as_secs_f64()
        );
    }
}

/// The host's share of a small call: 128×3×32×32 end to end (DeiT's recipe) is bound by its CPU time, not
/// the GPU's. Enqueueing 1000 calls, per call, beside 1000 allocations of its targets' size (libtorch's
/// caching allocator), 1000 `copy_`s of the batch (a minimal tch op), each ended by one synchronisation,
/// and the same call on CPU tensors taking the CUDA executor's path up to its driver calls
/// (`with_cuda_host_side`, benches/mix.rs's `cpu/cuda_host_side` case): the crate's own host work on
/// this machine's CPU, the rest of a call being libtorch's allocator and stream and the driver.
fn host_cost_per_call() {
    let mut x = batch(&[128, 3, 32, 32], Kind::Float);
    let labels = Tensor::randint(1000, [128], (Kind::Int64, DEV));
    let mut m = Mixer::new(MixConfig::deit(1000), 0).unwrap().with_executor(Executor::Fused);
    let y = x.copy();
    let per_call = |f: &mut dyn FnMut()| {
        f();
        sync();
        let start = Instant::now();
        for _ in 0..1000 {
            f();
        }
        let enqueued = start.elapsed().as_secs_f64() * 1e3; // µs per call over 1000 calls
        sync();
        enqueued
    };
    let call = per_call(&mut || drop(m.apply_(&mut x, &labels).unwrap()));
    let alloc = per_call(&mut || drop(Tensor::empty([128, 1000], (Kind::Float, DEV))));
    let copy = per_call(&mut || x.copy_(&y));
    let (mut x_cpu, labels_cpu) = (x.to_device(Device::Cpu), labels.to_device(Device::Cpu));
    let own = per_call(&mut || with_cuda_host_side(|| drop(m.apply_(&mut x_cpu, &labels_cpu).unwrap())));
    println!(
        "host cost per call: 128x3x32x32 DeiT end to end {call:.2} us to enqueue; an allocation of its targets' \
         size {alloc:.2} us; a copy_ of the batch {copy:.2} us; the crate's host side without the driver {own:.2} us"
    );
}

criterion_group!(benches, imagenet, small_and_audio, normalizing);

/// `GPU_PROFILE=1`: instead of the benches, each fused kernel the bench times, launched twice (a warm-up,
/// then the one to read), in the order printed, for ncu (bench/gpu_profile.sh): the kernels' own time,
/// achieved occupancy and memory throughput beside the bench's per-call times.
fn profile() {
    let labels = Tensor::randint(1000, [256], (Kind::Int64, DEV));
    let fused = |config: MixConfig| Mixer::new(config, 0).unwrap().with_executor(Executor::Fused);
    let twice = |what: &str, f: &mut dyn FnMut()| {
        println!("profile: {what} (launches: warm-up, then the profiled one)");
        f();
        f();
        sync();
    };
    for (name, kind) in [("f32", Kind::Float), ("bf16", Kind::BFloat16)] {
        let mut y = batch(&[256, 3, 224, 224], kind);
        let mut m = fused(MixConfig::mixup(1.0, 1000));
        twice(&format!("256x3x224x224 {name} mixup batch in place"), &mut || drop(m.apply_(&mut y, &labels).unwrap()));
        let plan = box_plan(256, (224, 224), 0.5);
        let mut m = fused(MixConfig::cutmix(1.0, 1000));
        twice(&format!("256x3x224x224 {name} cutmix half area in place"), &mut || {
            drop(m.planned(&plan).apply_(&mut y, &labels).unwrap())
        });
    }
    let mut y = batch(&[256, 3, 224, 224], Kind::Float);
    let mut masks = Tensor::randint(21, [256, 224, 224], (Kind::Int64, DEV));
    let mut m = fused(MixConfig::cutmix(1.0, 21));
    twice("256x3x224x224 f32 cutmix with int64 class masks in place", &mut || {
        m.apply_segmentation_(&mut y, &mut masks).unwrap()
    });
    let mut y = batch(&[128, 3, 32, 32], Kind::Float);
    let small = labels.narrow(0, 0, 128);
    let mut m = fused(MixConfig::deit(1000));
    twice("128x3x32x32 f32 deit end to end", &mut || drop(m.apply_(&mut y, &small).unwrap()));
    let x = batch(&[256, 224, 224, 3], Kind::Uint8);
    for (kind, name, channels_last) in NORMALIZE_CASES {
        let norm = Normalize { input: InputLayout::Nhwc, channels_last, ..Normalize::imagenet(kind) };
        let mut m = fused(MixConfig::mixup(1.0, 1000));
        let layout = if channels_last { "channels-last" } else { "contiguous" };
        twice(&format!("normalize 256x224x224x3 u8 to {name} {layout}"), &mut || {
            drop(m.apply_normalized(&x, &labels, &norm).unwrap())
        });
    }
}

fn main() {
    let required = std::env::var_os("TCH_MIXCUT_REQUIRE_GPU").is_some_and(|v| v == "1");
    let why = if !tch_mixcut::cuda_kernels_built() {
        Some("the CUDA kernels were not built".to_string())
    } else if !tch_mixcut::load_cuda_backend() {
        Some(format!("no CUDA device ({})", tch_mixcut::cuda_backend_error().unwrap_or("libtorch sees none")))
    } else {
        tch_mixcut::check_fused_cuda(0).err().map(|e| e.to_string())
    };
    if std::env::var_os("TCH_MIXCUT_POISON").is_some_and(|v| v == "1") {
        eprintln!("TCH_MIXCUT_POISON=1 would fill every output before each timed call: unset it to time");
        std::process::exit(1);
    }
    if let Some(why) = why {
        eprintln!("no GPU: CUDA benches skipped: {why}");
        std::process::exit(if required { 1 } else { 0 });
    }
    if std::env::var_os("GPU_PROFILE").is_some_and(|v| v == "1") {
        return profile();
    }
    benches();
    no_sync_per_call();
    host_cost_per_call();
    Criterion::default().configure_from_args().final_summary();
}

//! Executors side by side on the CPU: reference (tch ops) vs fused (one pass). The GPU's are in benches/gpu.rs.
//!
//! `cargo bench --bench mix` runs everything; filter with a substring, e.g.
//! `cargo bench --bench mix -- 'cpu/256x3x112x112/f32'`. Each group also times a plain copy of the
//! batch (`copy`), the bandwidth limit in-place Mixup is measured against.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tch::{Device, Kind, Tensor};
use tch_mixcut::{Executor, MixConfig, MixMode, Mixer};

/// What to mix with: (name, config).
fn recipes(mode: MixMode) -> Vec<(&'static str, MixConfig)> {
    vec![
        ("mixup", MixConfig { mode, ..MixConfig::mixup(1.0, 1000) }),
        // minmax (0.6, 0.8): box sides 0.6–0.8 of the image, about half its area, so λ ≈ 0.5 like the GPU target's CutMix case.
        ("cutmix", MixConfig { mode, cutmix_minmax: Some((0.6, 0.8)), ..MixConfig::cutmix(1.0, 1000) }),
        ("both", MixConfig { mode, ..MixConfig::deit(1000) }),
    ]
}

fn bench_device(c: &mut Criterion, device: Device, shape: &[i64], kinds: &[Kind], full: bool) {
    let dev = if device == Device::Cpu { "cpu".to_string() } else { "cuda".to_string() };
    let dims = shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
    for &kind in kinds {
        let name = match kind {
            Kind::Float => "f32",
            Kind::BFloat16 => "bf16",
            Kind::Half => "f16",
            _ => "u8",
        };
        let mut group = c.benchmark_group(format!("{dev}/{dims}/{name}"));
        group.sample_size(10).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
        tch::manual_seed(0);
        let x = match kind {
            Kind::Uint8 => Tensor::randint(256, shape, (Kind::Uint8, device)),
            k => Tensor::rand(shape, (k, device)),
        };
        let labels = Tensor::randint(1000, [shape[0]], (Kind::Int64, device));
        let sync = || if let Device::Cuda(_) = device { tch::Cuda::synchronize(0) };
        let mut dst = x.copy();
        group.bench_function("copy", |b| b.iter(|| { dst.copy_(&x); sync(); }));
        let modes: &[MixMode] = if full { &[MixMode::Batch, MixMode::Elem] } else { &[MixMode::Batch] };
        for &mode in modes {
            for (recipe, config) in recipes(mode) {
                if !full && recipe == "both" {
                    continue;
                }
                for executor in [Executor::Reference, Executor::Fused] {
                    let mut mixer = Mixer::new(config.clone(), 0).unwrap().with_executor(executor);
                    let ex = if executor == Executor::Fused { "fused" } else { "reference" };
                    let id = |place: &str| BenchmarkId::new(format!("{recipe}/{mode:?}/{place}").to_lowercase(), ex);
                    let mut y = x.copy();
                    group.bench_function(id("in_place"), |b| b.iter(|| { let _ = mixer.apply_(&mut y, &labels).unwrap(); sync(); }));
                    if full {
                        group.bench_function(id("out_of_place"), |b| b.iter(|| { let _ = mixer.apply(&x, &labels).unwrap(); sync(); }));
                    }
                }
            }
        }
        group.finish();
    }
}

fn executors(c: &mut Criterion) {
    let all = [Kind::Float, Kind::BFloat16, Kind::Uint8];
    bench_device(c, Device::Cpu, &[128, 3, 32, 32], &all, true);
    // The size timm and torchvision were measured at on this kind of machine (../shared/TARGETS.md).
    bench_device(c, Device::Cpu, &[256, 3, 112, 112], &all, true);
    bench_device(c, Device::Cpu, &[256, 3, 224, 224], &[Kind::Float], false);
}

criterion_group!(benches, executors);
criterion_main!(benches);

//! The fused normalising pass (uint8 → mixed, converted, normalised bf16/f32 in one pass) against the
//! chain of tch ops it replaces (layout change, to_kind, mix, scale, normalise, to_kind), at
//! 256×3×224×224 from a decoder's NHWC uint8 batch (and the fused pass from tch's NCHW), on the CPU (and
//! on cuda:0 where there is one), and on the CPU a 4-channel batch (RGBA, RGB + depth or near-infrared)
//! from tch's NCHW into channels-last output beside the same pixels from NHWC.
//! `cargo bench --bench normalize`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tch::{Device, Kind, Tensor};
use tch_mixcut::{Executor, InputLayout, MixConfig, Mixer, Normalize};

/// What a training loop writes without the fused pass: mix in f32 (as timm's batch Mixup), then
/// `(x / 255 − mean) / std`, the output dtype and memory format.
fn chain(x_nhwc: &Tensor, lam: f64, kind: Kind, channels_last: bool, mean: &Tensor, std: &Tensor) -> Tensor {
    let x = x_nhwc.permute([0, 3, 1, 2]).to_kind(Kind::Float);
    let mixed = &x * lam + x.flip([0]) * (1.0 - lam);
    let y = ((mixed / 255.0 - mean) / std).to_kind(kind);
    if channels_last {
        y.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
    } else {
        y.contiguous()
    }
}

fn bench_device(c: &mut Criterion, device: Device) {
    let dev = if device == Device::Cpu { "cpu" } else { "cuda" };
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64)
        }
    };
    tch::manual_seed(0);
    let x = Tensor::randint(256, [256, 224, 224, 3], (Kind::Uint8, device));
    let x_nchw = x.permute([0, 3, 1, 2]).contiguous();
    let labels = Tensor::randint(1000, [256], (Kind::Int64, device));
    let mean = Tensor::from_slice(&[0.485f32, 0.456, 0.406]).view([1, 3, 1, 1]).to_device(device);
    let std = Tensor::from_slice(&[0.229f32, 0.224, 0.225]).view([1, 3, 1, 1]).to_device(device);
    for (kind, name) in [(Kind::BFloat16, "bf16"), (Kind::Float, "f32")] {
        let mut group = c.benchmark_group(format!("{dev}/normalize/256x224x224x3_u8_to_{name}"));
        group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        for channels_last in [true, false] {
            let layout = if channels_last { "channels_last" } else { "contiguous" };
            group.bench_function(format!("tch_op_chain/{layout}"), |b| {
                b.iter(|| {
                    drop(chain(&x, 0.7, kind, channels_last, &mean, &std));
                    sync();
                })
            });
            let norm = Normalize { input: InputLayout::Nhwc, channels_last, ..Normalize::imagenet(kind) };
            let mut mixer = Mixer::new(MixConfig::mixup(1.0, 1000), 0).unwrap().with_executor(Executor::Fused);
            group.bench_function(format!("fused/{layout}"), |b| {
                b.iter(|| {
                    drop(mixer.apply_normalized(&x, &labels, &norm).unwrap());
                    sync();
                })
            });
        }
        // tch's own images are CHW: an NCHW uint8 batch into a channels-last model.
        let norm = Normalize { input: InputLayout::Nchw, channels_last: true, ..Normalize::imagenet(kind) };
        let mut mixer = Mixer::new(MixConfig::mixup(1.0, 1000), 0).unwrap().with_executor(Executor::Fused);
        group.bench_function("fused_from_nchw/channels_last", |b| {
            b.iter(|| {
                drop(mixer.apply_normalized(&x_nchw, &labels, &norm).unwrap());
                sync();
            })
        });
        group.finish();
    }
}

/// Four channels, which no pixel vector is built for: NCHW uint8 into channels-last output, beside the
/// same pixels from NHWC (the same memory order in and out: plain vectors), and NHWC into NCHW output; at
/// a width of whole 16-lane vectors (224) and one of none (250).
fn four_channels(c: &mut Criterion) {
    tch::manual_seed(0);
    let labels = Tensor::randint(1000, [64], (Kind::Int64, Device::Cpu));
    let (mean, std) = (vec![0.485, 0.456, 0.406, 0.5], vec![0.229, 0.224, 0.225, 0.25]);
    for side in [224, 250] {
        let x = Tensor::randint(256, [64, side, side, 4], (Kind::Uint8, Device::Cpu));
        let x_nchw = x.permute([0, 3, 1, 2]).contiguous();
        for (kind, name) in [(Kind::BFloat16, "bf16"), (Kind::Float, "f32")] {
            let mut group = c.benchmark_group(format!("cpu/normalize/64x{side}x{side}x4_u8_to_{name}"));
            group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
            let cases = [
                (InputLayout::Nhwc, &x, true, "fused/channels_last"),
                (InputLayout::Nchw, &x_nchw, true, "fused_from_nchw/channels_last"),
                (InputLayout::Nhwc, &x, false, "fused/nchw"),
            ];
            for (input, images, channels_last, id) in cases {
                let norm = Normalize { input, channels_last, kind, mean: mean.clone(), std: std.clone() };
                let mut mixer = Mixer::new(MixConfig::mixup(1.0, 1000), 0).unwrap().with_executor(Executor::Fused);
                group.bench_function(id, |b| b.iter(|| drop(mixer.apply_normalized(images, &labels, &norm).unwrap())));
            }
            group.finish();
        }
    }
}

fn normalize(c: &mut Criterion) {
    bench_device(c, Device::Cpu);
    four_channels(c);
    if tch_mixcut::load_cuda_backend() && tch_mixcut::fused_cuda_available(0) {
        bench_device(c, Device::Cuda(0));
    }
}

criterion_group!(benches, normalize);
criterion_main!(benches);

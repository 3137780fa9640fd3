//! The training loop shared by the examples: uint8 batches from a [`Source`], mixed, converted and
//! normalised into the model's input in one pass by tch-mixcut, AdamW with linear warm-up and cosine
//! decay, and evaluation with augmentation off (logits kept for calibration and temperature scaling).

use std::time::Instant;

use anyhow::{ensure, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};
use tch_mixcut::{soft_cross_entropy, Mixer};

use crate::cli::{Recipe, TrainArgs};
use crate::input;
use crate::metrics::{fit_temperature, Logits, TEMPERATURE_RANGE};
use crate::models::Model;
use crate::results::{EpochLog, RunResult};
use crate::source::{EvalSplit, Source};

/// Learning rate at `step`: linear warm-up, then cosine decay to zero.
pub fn lr_at(step: usize, warmup: usize, total: usize, peak: f64) -> f64 {
    if step < warmup {
        peak * (step + 1) as f64 / warmup as f64
    } else {
        let t = (step - warmup) as f64 / (total - warmup).max(1) as f64;
        0.5 * peak * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
    }
}

/// Builds a fresh model under a given variable path.
pub type Build<'a> = dyn Fn(&nn::Path) -> Result<Model> + 'a;

/// One finished run: its result, and its first mixed training batch (uint8 images `[≤16, C, H, W]`
/// and soft targets, on the CPU) for pictures.
pub struct Trained {
    /// Metrics, timings and the per-epoch log.
    pub result: RunResult,
    /// The first 16 images of the first batch after mixing, with their targets.
    pub first_batch: (Tensor, Tensor),
}

/// Trains a fresh model from `build` under `recipe` with `seed`, evaluates it on the test split, and
/// (when the source has a held-out split) fits a temperature there and evaluates again with it.
pub fn train(
    build: &Build,
    recipe: Recipe,
    seed: u64,
    args: &TrainArgs,
    source: &dyn Source,
    device: Device,
) -> Result<Trained> {
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(device);
    let Model { net: model, attention } = build(&vs.root())?;
    ensure!(
        recipe != Recipe::Transmix || attention.is_some(),
        "recipe transmix: got a model that leaves no attention, expected a ViT (train_vit)"
    );
    let mut opt = nn::AdamW { wd: args.weight_decay, ..Default::default() }.build(&vs, args.lr)?;
    let classes = source.input().classes;
    let mut mixer = Mixer::new(args.mix_config(recipe, classes), seed)?;
    let n = source.train_len();
    ensure!(n > 0, "data: no training images");
    let steps_per_epoch = n.div_ceil(args.batch_size as usize);
    let total = steps_per_epoch * args.epochs;
    let warmup = (args.warmup_epochs * steps_per_epoch as f64) as usize;
    let (mut first_batch, mut epochs, mut eval) = (None, Vec::new(), None);
    let (mut step, mut seen, mut skipped, mut train_seconds) = (0, 0usize, 0usize, 0.0);
    for epoch in 0..args.epochs {
        mixer.set_epoch(epoch);
        let start = Instant::now();
        let bar = ProgressBar::new(n as u64).with_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{:>8} seed {seed} epoch {}/{}", recipe.name(), epoch + 1, args.epochs));
        let mut loss_sum = Tensor::zeros([], (Kind::Float, device));
        let mut epoch_images = 0;
        for batch in source.train_batches(epoch, seed)? {
            let batch = batch?;
            skipped += batch.skipped;
            let images = batch.images;
            let size = images.size()[0];
            // The uint8 batch mixed, converted and normalised in one pass on its device.
            let plan = mixer.sample_plan(&images.size())?;
            let norm = input::fused(source.stats(), &images);
            let (x, targets) = mixer.planned(&plan).apply_normalized(&images, &batch.labels, &norm)?;
            if first_batch.is_none() {
                // The picture of the first batch: the same plan on the uint8 images.
                let (mixed, _) = mixer.planned(&plan).apply(&images, &batch.labels)?;
                let k = 16.min(size);
                first_batch = Some((
                    mixed.narrow(0, 0, k).to_device(Device::Cpu),
                    targets.narrow(0, 0, k).to_device(Device::Cpu),
                ));
                let executor = mixer.last_executor().map_or("no".into(), |k| format!("{k:?}"));
                bar.suspend(|| {
                    println!("{:>8} seed {seed}: mixing on {device:?} with the {executor} executor", recipe.name())
                });
            }
            let logits = model.forward_t(&x, true);
            let targets = match (&attention, recipe) {
                // TransMix: the same images, the labels weighted by this pass's attention on each sample's own patches.
                (Some(tap), Recipe::Transmix) => {
                    let a = tap.take().ok_or_else(|| anyhow::anyhow!("the ViT left no attention"))?;
                    mixer.transmix_targets(&a, &plan, &batch.labels, tap.patch as usize)?
                }
                _ => targets,
            };
            let loss = soft_cross_entropy(&logits, &targets);
            opt.set_lr(lr_at(step, warmup, total, args.lr));
            opt.backward_step(&loss);
            loss_sum += loss.detach() * size as f64;
            step += 1;
            epoch_images += size as usize;
            bar.inc(size as u64);
            bar.set_message(format!("{:.0} images/s", epoch_images as f64 / start.elapsed().as_secs_f64()));
        }
        seen += epoch_images;
        let train_loss = loss_sum.double_value(&[]) / epoch_images.max(1) as f64;
        bar.finish_and_clear();
        let seconds = start.elapsed().as_secs_f64();
        train_seconds += seconds;
        let mut line =
            format!("{:>8} seed {seed} epoch {}/{}  train loss {train_loss:.4}", recipe.name(), epoch + 1, args.epochs);
        let mut log = EpochLog { train_loss, images_per_sec: epoch_images as f64 / seconds, test: None };
        if (epoch + 1) % args.eval_every == 0 || epoch + 1 == args.epochs {
            let (logits, bad) = evaluate(&model, &mut mixer, source, EvalSplit::Test)?;
            skipped += bad;
            let e = logits.evaluate(1.0);
            line += &format!("  test acc {:.2}%  NLL {:.4}  ECE {:.4}", 100.0 * e.accuracy, e.nll, e.calibration.ece);
            log.test = Some(e);
            eval = Some(logits);
        }
        println!("{line}  {:.0} images/s", log.images_per_sec);
        epochs.push(log);
    }
    let test = eval.expect("the last epoch evaluates");
    let temperature = if source.eval_len(EvalSplit::Holdout) > 0 {
        let (holdout, bad) = evaluate(&model, &mut mixer, source, EvalSplit::Holdout)?;
        skipped += bad;
        let t = fit_temperature(&holdout)?;
        let (lo, hi) = TEMPERATURE_RANGE;
        if t < lo * 1.001 || t > hi / 1.001 {
            println!(
                "{:>8} seed {seed}: the fitted temperature {t:.3} is at an end of the searched range [{lo}, {hi}]",
                recipe.name()
            );
        }
        Some(t)
    } else {
        None
    };
    if skipped > 0 {
        println!("{:>8} seed {seed}: {skipped} unreadable images skipped (--skip-bad-images)", recipe.name());
    }
    let result = RunResult {
        recipe: recipe.name().to_string(),
        seed,
        settings: String::new(),
        test: test.evaluate(1.0),
        temperature,
        test_scaled: temperature.map(|t| test.evaluate(t)),
        train_loss: epochs.last().map_or(0.0, |e| e.train_loss),
        train_seconds,
        images_per_sec: seen as f64 / train_seconds,
        skipped_images: skipped,
        epochs,
    };
    Ok(Trained { result, first_batch: first_batch.expect("at least one batch") })
}

/// A split's logits with augmentation off (`forward_t(.., false)`; the fused pass only converts and
/// normalises, `apply_normalized_t(.., false)`), and the number of
/// unreadable images left out.
pub fn evaluate(
    model: &impl ModuleT,
    mixer: &mut Mixer,
    source: &dyn Source,
    split: EvalSplit,
) -> Result<(Logits, usize)> {
    let mut logits = Logits { values: Vec::new(), labels: Vec::new(), classes: source.input().classes as usize };
    let mut skipped = 0;
    tch::no_grad(|| -> Result<()> {
        for batch in source.eval_batches(split)? {
            let batch = batch?;
            skipped += batch.skipped;
            let norm = input::fused(source.stats(), &batch.images);
            let (x, _) = mixer.apply_normalized_t(&batch.images, &batch.labels, &norm, false)?;
            logits.push(&model.forward_t(&x, false), &batch.labels)?;
        }
        Ok(())
    })?;
    Ok((logits, skipped))
}

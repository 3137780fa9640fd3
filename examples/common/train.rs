//! The training loop shared by the examples: batches built on the model's device, mixing through
//! tch-mixcut, AdamW with linear warm-up and cosine decay, and evaluation with augmentation off.

use std::time::Instant;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};
use tch_mixcut::{soft_cross_entropy, MixConfig, Mixer};

use super::cli::{Recipe, TrainArgs};
use super::data::{self, Split};
use super::metrics::{calibration, Evaluation};

/// Fashion-MNIST's pixel mean and standard deviation.
const MEAN: f64 = 0.2860;
const STD: f64 = 0.3530;
/// Classes of Fashion-MNIST.
pub const CLASSES: i64 = 10;

/// uint8 pixels → normalised float input.
pub fn normalise(x: &Tensor) -> Tensor {
    (x.to_kind(Kind::Float) / 255.0 - MEAN) / STD
}

/// Both splits, moved to `device` once (batches are then gathered there).
pub struct Data {
    pub train: Split,
    pub test: Split,
}

/// Loads Fashion-MNIST (the first `train_subset` training images, all test images) onto `device`.
pub fn load(args: &TrainArgs, device: Device) -> Result<Data> {
    let dir = data::resolve_dir(args.data.as_deref());
    let train = data::load(&dir, "train")?;
    let train = if args.train_subset > 0 { train.take(args.train_subset) } else { train };
    let test = data::load(&dir, "t10k")?;
    println!("Fashion-MNIST from {}: {} train, {} test images, on {device:?}", dir.display(), train.len(), test.len());
    let to = |s: Split| Split { images: s.images.to_device(device), labels: s.labels.to_device(device) };
    Ok(Data { train: to(train), test: to(test) })
}

/// What one training run produced.
pub struct Outcome {
    pub recipe: Recipe,
    pub eval: Evaluation,
    /// Mean training loss (against the mixed targets) of the last epoch.
    pub train_loss: f64,
    pub seconds: f64,
    pub images_per_sec: f64,
    /// The first training batch after mixing (uint8 images and soft targets, on the CPU), for pictures.
    pub first_batch: (Tensor, Tensor),
}

/// Learning rate at `step`: linear warm-up, then cosine decay to zero.
pub fn lr_at(step: usize, warmup: usize, total: usize, peak: f64) -> f64 {
    if step < warmup {
        peak * (step + 1) as f64 / warmup as f64
    } else {
        let t = (step - warmup) as f64 / (total - warmup).max(1) as f64;
        0.5 * peak * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
    }
}

/// The mixer of a recipe; `none` gets a disabled one, so its targets are the same (smoothed) one-hots.
fn mixer_for(args: &TrainArgs, recipe: Recipe) -> Result<Mixer> {
    match args.mix_config(recipe, CLASSES) {
        Some(config) => Ok(Mixer::new(config, args.seed)?),
        None => {
            let mut m = Mixer::new(MixConfig { label_smoothing: args.label_smoothing, ..MixConfig::mixup(1.0, CLASSES) }, args.seed)?;
            m.set_enabled(false);
            Ok(m)
        }
    }
}

/// Trains a fresh model from `build` under `recipe` and evaluates it on the test split.
pub fn train<M: ModuleT>(build: impl Fn(&nn::Path) -> M, recipe: Recipe, args: &TrainArgs, data: &Data, device: Device) -> Result<Outcome> {
    tch::manual_seed(args.seed as i64);
    let vs = nn::VarStore::new(device);
    let model = build(&vs.root());
    let mut opt = nn::AdamW { wd: args.weight_decay, ..Default::default() }.build(&vs, args.lr)?;
    let mut mixer = mixer_for(args, recipe)?;
    let n = data.train.len();
    let steps_per_epoch = (n as usize).div_ceil(args.batch_size as usize);
    let total = steps_per_epoch * args.epochs;
    let warmup = (args.warmup_epochs * steps_per_epoch as f64) as usize;
    let mut first_batch = None;
    let (mut step, mut seen, mut train_loss) = (0, 0i64, 0.0);
    let mut eval = None;
    let mut train_seconds = 0.0;
    for epoch in 1..=args.epochs {
        let epoch_start = Instant::now();
        let bar = ProgressBar::new(steps_per_epoch as u64).with_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}").unwrap().progress_chars("=> "),
        );
        bar.set_prefix(format!("{:>6} epoch {epoch}/{}", recipe.name(), args.epochs));
        let order = Tensor::randperm(n, (Kind::Int64, device));
        let mut loss_sum = Tensor::zeros([], (Kind::Float, device));
        for index in order.split(args.batch_size, 0) {
            let mut images = data.train.images.index_select(0, &index);
            let labels = data.train.labels.index_select(0, &index);
            // Mix the uint8 batch in place on its device (as timm's FastCollateMixup), then normalise.
            let targets = mixer.apply_(&mut images, &labels)?;
            if first_batch.is_none() {
                first_batch = Some((images.narrow(0, 0, 16.min(images.size()[0])).to_device(Device::Cpu), targets.narrow(0, 0, 16.min(images.size()[0])).to_device(Device::Cpu)));
            }
            let loss = soft_cross_entropy(&model.forward_t(&normalise(&images), true), &targets);
            opt.set_lr(lr_at(step, warmup, total, args.lr));
            opt.backward_step(&loss);
            loss_sum += loss.detach() * index.size()[0] as f64;
            step += 1;
            seen += index.size()[0];
            bar.inc(1);
        }
        train_loss = loss_sum.double_value(&[]) / n as f64;
        bar.finish_and_clear();
        train_seconds += epoch_start.elapsed().as_secs_f64();
        let e = evaluate(&model, &data.test, &mut mixer)?;
        println!(
            "{:>6} epoch {epoch}/{}  train loss {train_loss:.4}  test acc {:.2}%  NLL {:.4}  ECE {:.4}  {:.0} images/s",
            recipe.name(),
            args.epochs,
            100.0 * e.accuracy,
            e.nll,
            e.calibration.ece,
            n as f64 / epoch_start.elapsed().as_secs_f64()
        );
        eval = Some(e);
    }
    Ok(Outcome {
        recipe,
        eval: eval.expect("at least one epoch"),
        train_loss,
        seconds: train_seconds,
        images_per_sec: seen as f64 / train_seconds,
        first_batch: first_batch.expect("at least one batch"),
    })
}

/// Test-split accuracy, NLL and 15-bin calibration, with augmentation off (`apply_t(.., false)`).
pub fn evaluate(model: &impl ModuleT, test: &Split, mixer: &mut Mixer) -> Result<Evaluation> {
    let (mut confidences, mut correct, mut nll) = (Vec::new(), Vec::new(), 0.0);
    tch::no_grad(|| -> Result<()> {
        for index in Tensor::arange(test.len(), (Kind::Int64, test.labels.device())).split(1000, 0) {
            let (images, labels) = (test.images.index_select(0, &index), test.labels.index_select(0, &index));
            let (images, _) = mixer.apply_t(&images, &labels, false)?;
            let logits = model.forward_t(&normalise(&images), false);
            let log_probs = logits.log_softmax(-1, Kind::Float);
            nll -= log_probs.gather(1, &labels.view([-1, 1]), false).sum(Kind::Double).double_value(&[]);
            let (conf, pred) = log_probs.exp().max_dim(-1, false);
            confidences.extend(Vec::<f64>::try_from(conf.to_kind(Kind::Double).to_device(Device::Cpu))?);
            correct.extend(Vec::<bool>::try_from(pred.eq_tensor(&labels).to_device(Device::Cpu))?);
        }
        Ok(())
    })?;
    let accuracy = correct.iter().filter(|&&c| c).count() as f64 / correct.len() as f64;
    Ok(Evaluation { accuracy, nll: nll / correct.len() as f64, calibration: calibration(&confidences, &correct, 15) })
}

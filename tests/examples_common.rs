//! The training examples' shared code: the Fashion-MNIST loader on the shipped files, calibration and
//! temperature scaling on hand-computed cases, the picture and report writers, the models, the
//! schedule, the options, and the crop-and-flip augmentation.

use tch_mixcut_harness as ex;

use clap::Parser;
use ex::cli::{Recipe, TrainArgs};
use ex::metrics::{calibration, fit_temperature, pool, Logits};
use ex::{augment, fashion_mnist, input, models, report, results, train};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};
use tch_mixcut::{soft_cross_entropy, MixConfig, Mixer};

/// The installed data set, or `None` after printing why the test is skipped.
fn dataset() -> Option<std::path::PathBuf> {
    let dir = fashion_mnist::resolve_dir(None);
    if dir.join("t10k-labels-idx1-ubyte.gz").exists() {
        Some(dir)
    } else {
        eprintln!("skipped: Fashion-MNIST not installed at {} (bash scripts/setup.sh installs it)", dir.display());
        None
    }
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    train: TrainArgs,
}

fn args(line: &[&str]) -> TrainArgs {
    Args::try_parse_from(std::iter::once("test").chain(line.iter().copied())).unwrap().train
}

#[test]
fn a_device_that_is_not_here_is_an_error_that_names_it() {
    // No machine has 100 CUDA devices: without CUDA the backend is missing, with it the ordinal is.
    let e = args(&["--device", "cuda:99"]).device().unwrap_err().to_string();
    assert!(e.contains("device: got cuda:99") && e.contains("expected"), "{e}");
    assert_eq!(args(&["--device", "cpu"]).device().unwrap(), Device::Cpu);
    let e = Args::try_parse_from(["test", "--device", "gpu"]).err().unwrap().to_string();
    assert!(e.contains("expected auto, cpu or cuda:N"), "{e}");
}

#[test]
fn loader_reads_the_shipped_files() {
    let Some(dir) = dataset() else { return };
    let test = fashion_mnist::load(&dir, "t10k").unwrap();
    assert_eq!(test.images.size(), [10_000, 1, 28, 28]);
    assert_eq!((test.images.kind(), test.labels.kind()), (Kind::Uint8, Kind::Int64));
    let counts = Vec::<i64>::try_from(test.labels.bincount::<Tensor>(None, 10)).unwrap();
    assert_eq!(counts, vec![1000; 10], "the test split is balanced");
    assert_eq!(test.labels.int64_value(&[0]), 9, "first test label: Ankle boot");
    let train = fashion_mnist::load(&dir, "train").unwrap();
    assert_eq!(train.images.size(), [60_000, 1, 28, 28]);
    assert_eq!((train.labels.min().int64_value(&[]), train.labels.max().int64_value(&[])), (0, 9));
    assert_eq!(train.labels.int64_value(&[0]), 9);
    // Real images: not blank, full uint8 range used.
    assert_eq!(train.images.max().int64_value(&[]), 255);
    let e = fashion_mnist::load(&dir.join("missing"), "train").err().unwrap().to_string();
    assert!(e.contains("apt-get install dataset-fashion-mnist") && e.contains("--data"), "{e}");
}

#[test]
fn holdout_is_the_training_files_last_images_and_never_trained_on() {
    use ex::source::{EvalSplit, Source};
    let Some(dir) = dataset() else { return };
    let all = fashion_mnist::load(&dir, "train").unwrap();
    let source = fashion_mnist::FashionMnist::load(&dir, 0, 5000, 1000, false, Device::Cpu).unwrap();
    assert_eq!(
        (source.train_len(), source.eval_len(EvalSplit::Holdout), source.eval_len(EvalSplit::Test)),
        (55_000, 5000, 10_000)
    );
    let held: Vec<_> = source.eval_batches(EvalSplit::Holdout).unwrap().map(|b| b.unwrap()).collect();
    assert!(held[0].images.equal(&all.images.narrow(0, 55_000, 1000)));
    // A training epoch covers exactly the first 55,000 images.
    tch::manual_seed(0);
    let mut seen: Vec<i64> = Vec::new();
    for b in source.train_batches(0, 0).unwrap() {
        let b = b.unwrap();
        seen.extend(Vec::<i64>::try_from(b.labels).unwrap());
    }
    let expected = Vec::<i64>::try_from(all.labels.narrow(0, 0, 55_000).bincount::<Tensor>(None, 10)).unwrap();
    let got = Vec::<i64>::try_from(Tensor::from_slice(&seen).bincount::<Tensor>(None, 10)).unwrap();
    assert_eq!(got, expected);
    let e = fashion_mnist::FashionMnist::load(&dir, 0, 60_000, 128, false, Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("holdout: got 60000"), "{e}");
}

#[test]
fn ece_and_bins_on_hand_computed_cases() {
    // Two predictions at 0.95 (one right), two at 0.55 (both right): gaps 0.45 and 0.45, each half the data.
    let c = calibration(&[0.95, 0.95, 0.55, 0.55], &[true, false, true, true], 15);
    assert!((c.ece - 0.45).abs() < 1e-12, "{}", c.ece);
    assert_eq!(c.bins.len(), 15);
    assert_eq!((c.bins[14].count, c.bins[8].count), (2, 2));
    assert!((c.bins[14].accuracy - 0.5).abs() < 1e-12 && (c.bins[8].confidence - 0.55).abs() < 1e-12);
    // Perfectly calibrated: always right at confidence 1.
    assert_eq!(calibration(&[1.0; 5], &[true; 5], 15).ece, 0.0);
    // Bin edges: (lo, hi], so 1/15 falls in the first bin and just above it in the second.
    let e = calibration(&[1.0 / 15.0, 1.0 / 15.0 + 1e-9], &[true, false], 15);
    assert_eq!((e.bins[0].count, e.bins[1].count), (1, 1));
    // Pooling two runs equals the calibration of all their predictions together.
    let (a, b) = (calibration(&[0.95, 0.55], &[true, false], 15), calibration(&[0.95, 0.35], &[false, true], 15));
    let both = calibration(&[0.95, 0.55, 0.95, 0.35], &[true, false, false, true], 15);
    let pooled = pool(&[&a, &b]);
    assert!((pooled.ece - both.ece).abs() < 1e-12 && pooled.bins[14] == both.bins[14], "{pooled:?}");
}

#[test]
fn logits_metrics_and_temperature_fit() {
    // Two classes, logits (z, 0): p(class 0) = sigmoid(z). NLL and accuracy by hand.
    let logits = Logits { values: vec![2.0, 0.0, 0.0, 1.0], labels: vec![0, 0], classes: 2 };
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    let nll = -(sig(2.0).ln() + sig(-1.0).ln()) / 2.0;
    let e = logits.evaluate(1.0);
    assert!((e.nll - nll).abs() < 1e-12 && e.accuracy == 0.5, "{e:?}");
    assert!((logits.evaluate(2.0).nll - logits.nll(2.0)).abs() < 1e-12);
    // Data drawn from a model whose calibrated logits are z: scaled by 3, the fit must divide by ~3.
    let mut rng_state = 12345u64;
    let mut uniform = || {
        rng_state = rng_state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (rng_state >> 11) as f64 / (1u64 << 53) as f64
    };
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..20_000 {
        let z = 4.0 * uniform() - 2.0;
        labels.push(if uniform() < sig(z) { 0 } else { 1 });
        values.extend([3.0 * z as f32, 0.0]);
    }
    let t = fit_temperature(&Logits { values, labels, classes: 2 }).unwrap();
    assert!((t - 3.0).abs() < 0.15, "fitted T = {t}");
    let empty = Logits { values: vec![], labels: vec![], classes: 2 };
    assert!(fit_temperature(&empty).unwrap_err().to_string().contains("--holdout"));
}

#[test]
fn picture_and_report_writers_produce_files_that_decode() {
    let dir = std::env::temp_dir().join(format!("mixcut-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let classes: Vec<String> = fashion_mnist::CLASSES.iter().map(|c| c.to_string()).collect();
    let images = Tensor::arange(6 * 28 * 28, (Kind::Int64, Device::Cpu))
        .remainder(256)
        .to_kind(Kind::Uint8)
        .view([6, 1, 28, 28]);
    let targets = Tensor::full([6, 10], 0.1, (Kind::Float, Device::Cpu));
    report::batch_grid(&dir.join("grid.png"), "test grid", &images, &targets, &classes).unwrap();
    let grid = image::open(dir.join("grid.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (4 * (28 * 4 + 24), 2 * (28 * 4 + 34) + 30));
    let rgb = Tensor::zeros([2, 64, 64, 3], (Kind::Uint8, Device::Cpu)).permute([0, 3, 1, 2]);
    report::batch_grid(&dir.join("rgb.png"), "rgb", &rgb, &targets.narrow(0, 0, 2), &classes).unwrap();
    let cal = calibration(&[0.9, 0.6, 0.3], &[true, true, false], 15);
    report::reliability(&dir.join("rel.png"), "test", &[("a", &cal), ("b", &cal)]).unwrap();
    let rel = image::open(dir.join("rel.png")).unwrap();
    assert_eq!((rel.width(), rel.height()), (640, 560));
    let eval = |acc: f64, ece: f64| ex::metrics::Evaluation {
        accuracy: acc,
        nll: 0.3,
        calibration: ex::metrics::Calibration { ece, ..cal.clone() },
    };
    let run = |seed: u64, acc: f64| results::RunResult {
        recipe: "mixup".into(),
        seed,
        settings: "s".into(),
        test: eval(acc, 0.02),
        temperature: Some(0.9),
        test_scaled: Some(eval(acc, 0.01)),
        train_loss: 1.1,
        train_seconds: 12.0,
        images_per_sec: 1000.0,
        skipped_images: 0,
        epochs: vec![],
    };
    let runs = [run(0, 0.9012), run(1, 0.8988)];
    let csv = results::csv(&runs);
    assert_eq!(csv.lines().nth(1).unwrap(), "mixup,0,90.12,0.3000,0.0200,0.900,0.3000,0.0100,1.1000,12.0,1000");
    let md = results::markdown("T", "D", &runs);
    assert!(md.contains("| mixup | 0 | 90.12 | 0.3000 | 0.0200 | 0.900 |"), "{md}");
    assert!(md.contains("| mixup | 0, 1 | 90.00 ± 0.12 |"), "mean ± half-range over the seeds: {md}");
    results::summarise(&dir, "T", "D", &runs).unwrap();
    for f in ["report.md", "report.csv", "reliability.png", "reliability_scaled.png", "reliability_mixup.png"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    results::save(&dir.join("runs/x"), &runs[1]).unwrap();
    let back = results::load(&dir.join("runs/x")).unwrap().unwrap();
    assert_eq!((back.seed, back.test.accuracy), (1, 0.8988));
    assert!(results::load(&dir.join("runs/none")).unwrap().is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn schedule_warms_up_then_decays_to_zero() {
    assert!((train::lr_at(0, 10, 100, 1.0) - 0.1).abs() < 1e-12);
    assert!((train::lr_at(9, 10, 100, 1.0) - 1.0).abs() < 1e-12);
    assert!((train::lr_at(55, 10, 100, 1.0) - 0.5).abs() < 1e-12);
    assert!(train::lr_at(100, 10, 100, 1.0).abs() < 1e-12);
}

#[test]
fn options_recipes_seeds_and_the_off_epoch() {
    let a = args(&["--recipes", "none,both-off", "--seeds", "3,4", "--epochs", "30"]);
    assert_eq!((a.recipe_list(), a.seed_list()), (vec![Recipe::None, Recipe::BothOff], vec![3, 4]));
    assert_eq!(a.off_epoch(), 27, "the last 10% of 30 epochs");
    assert_eq!(args(&["--epochs", "2"]).off_epoch(), 1, "at least one epoch off");
    assert_eq!(args(&["--compare"]).recipe_list(), Recipe::COMPARE.to_vec());
    let both_off = a.mix_config(Recipe::BothOff, 10);
    assert_eq!((both_off.off_epoch, both_off.mixup_alpha, both_off.cutmix_alpha), (Some(27), 0.2, 1.0));
    // `none`: off from the first epoch, so the mixer passes images through with one-hot targets.
    let mut mixer = Mixer::new(a.mix_config(Recipe::None, 10), 0).unwrap();
    mixer.set_epoch(0);
    let mut images = Tensor::arange(4 * 28 * 28, (Kind::Int64, Device::Cpu))
        .remainder(256)
        .to_kind(Kind::Uint8)
        .view([4, 1, 28, 28]);
    let before = images.copy();
    let targets = mixer.apply_(&mut images, &Tensor::from_slice(&[0i64, 1, 2, 3])).unwrap();
    assert!(images.equal(&before) && targets.sum(Kind::Float).double_value(&[]) == 4.0);
    for (line, needle) in [
        (&["--epochs", "0"][..], "epochs: got 0"),
        (&["--mix-off-fraction", "1.5"][..], "mix-off-fraction: got 1.5"),
        (&["--workers", "0"][..], "workers: got 0"),
        // Finite, but AdamW's first step (10·lr) is past f32: tch panicked converting it.
        (&["--lr", "1e300"][..], "lr: got 1e300"),
        (&["--lr", "1e38"][..], "lr: got 1e38"),
        (&["--weight-decay", "NaN"][..], "weight-decay: got NaN"),
        (&["--weight-decay=-1"][..], "weight-decay: got -1"),
        (&["--warmup-epochs", "inf"][..], "warmup-epochs: got inf"),
    ] {
        let e = args(line).validate().unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}

#[test]
fn normalise_uses_the_stats_and_refuses_other_input() {
    let x = Tensor::from_slice(&[0u8, 255]).view([2, 1, 1, 1]);
    let y = Vec::<f32>::try_from(input::normalise(&x, &input::FASHION_MNIST).unwrap().flatten(0, -1)).unwrap();
    assert!((y[0] as f64 + 0.2860 / 0.3530).abs() < 1e-6 && (y[1] as f64 - (1.0 - 0.2860) / 0.3530).abs() < 1e-6);
    let rgb = Tensor::full([1, 2, 2, 3], 255, (Kind::Uint8, Device::Cpu)).permute([0, 3, 1, 2]);
    let z = input::normalise(&rgb, &input::IMAGENET).unwrap();
    assert!((z.double_value(&[0, 2, 1, 1]) - (1.0 - 0.406) / 0.225).abs() < 1e-5);
    let e = input::normalise(&rgb, &input::FASHION_MNIST).unwrap_err().to_string();
    assert!(e.contains("expected [N, 1, H, W]"), "{e}");
    assert!(input::normalise(&rgb.to_kind(Kind::Float), &input::IMAGENET).unwrap_err().to_string().contains("dtype"));
}

#[test]
fn pad_crop_flip_moves_whole_images_reproducibly() {
    let images = Tensor::arange(3 * 2 * 5 * 5, (Kind::Int64, Device::Cpu)).to_kind(Kind::Uint8).view([3, 2, 5, 5]);
    let indices = [7i64, 8, 9];
    let a = augment::pad_crop_flip(&images, 2, 1, 0, &indices).unwrap();
    assert!(a.equal(&augment::pad_crop_flip(&images, 2, 1, 0, &indices).unwrap()), "same seed, epoch and indices");
    assert!(!a.equal(&augment::pad_crop_flip(&images, 2, 1, 1, &indices).unwrap()), "another epoch draws anew");
    // Each output is a shifted (and maybe mirrored) copy of its own image padded with zeros: every
    // non-zero pixel comes from the same image and channel.
    for i in 0..3 {
        for c in 0..2 {
            let src: Vec<u8> = Vec::try_from(images.get(i).get(c).flatten(0, -1)).unwrap();
            let out: Vec<u8> = Vec::try_from(a.get(i).get(c).flatten(0, -1)).unwrap();
            assert!(out.iter().all(|v| *v == 0 || src.contains(v)), "{out:?}");
        }
    }
    // A sample's transform depends on its index, not on its place in the batch.
    let swapped =
        augment::pad_crop_flip(&images.index_select(0, &Tensor::from_slice(&[1i64, 0, 2])), 2, 1, 0, &[8, 7, 9])
            .unwrap();
    assert!(swapped.get(0).equal(&a.get(1)) && swapped.get(1).equal(&a.get(0)));
    assert!(augment::pad_crop_flip(&images, 2, 1, 0, &[1]).unwrap_err().to_string().contains("indices: got 1"));
}

/// A few AdamW steps on one small real batch with mixed targets: the loss must go down.
fn loss_decreases<M: ModuleT>(build: impl Fn(&nn::Path) -> M) {
    let Some(dir) = dataset() else { return };
    let slice = fashion_mnist::load(&dir, "t10k").unwrap().take(64);
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = build(&vs.root());
    let mut opt = nn::AdamW::default().build(&vs, 3e-3).unwrap();
    let mut mixer = Mixer::new(MixConfig::vit(10), 0).unwrap();
    let mut images = slice.images.copy();
    let targets = mixer.apply_(&mut images, &slice.labels).unwrap();
    let x = input::normalise(&images, &input::FASHION_MNIST).unwrap();
    let losses: Vec<f64> = (0..12)
        .map(|_| {
            let loss = soft_cross_entropy(&model.forward_t(&x, true), &targets);
            opt.backward_step(&loss);
            loss.double_value(&[])
        })
        .collect();
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(losses[9..].iter().sum::<f64>() < 0.8 * losses[..3].iter().sum::<f64>(), "{losses:?}");
}

#[test]
fn resnet_has_the_named_layers_and_trains_on_a_small_real_slice() {
    let vs = nn::VarStore::new(Device::Cpu);
    let out = models::resnet(&vs.root(), 1, 8, 1, 10)
        .forward_t(&Tensor::zeros([2, 1, 28, 28], (Kind::Float, Device::Cpu)), false);
    assert_eq!(out.size(), [2, 10]);
    let names = vs.variables();
    for name in [
        "stem.weight",
        "stem_bn.running_mean",
        "stage0_0.conv1.weight",
        "stage1_0.down.weight",
        "stage2_0.down_bn.weight",
        "fc.bias",
    ] {
        assert!(names.contains_key(name), "{name} missing from {:?}", names.keys());
    }
    assert!(!names.contains_key("stage0_0.down.weight"), "the first stage keeps the identity shortcut");
    loss_decreases(|p| models::resnet(p, 1, 8, 1, 10));
}

#[test]
fn vit_trains_on_a_small_real_slice() {
    let config =
        models::VitConfig { image: 28, channels: 1, patch: 7, dim: 32, depth: 2, heads: 4, mlp_ratio: 2, classes: 10 };
    config.validate().unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let out =
        models::vit(&vs.root(), &config).forward_t(&Tensor::zeros([2, 1, 28, 28], (Kind::Float, Device::Cpu)), false);
    assert_eq!(out.size(), [2, 10]);
    assert!(vs.variables().contains_key("block1.qkv.weight"));
    let e = models::VitConfig { patch: 5, ..config.clone() }.validate().unwrap_err().to_string();
    assert!(e.contains("patch: got 5, expected a divisor of the image side 28"), "{e}");
    loss_decreases(|p| models::vit(p, &config));
}

#[test]
fn the_mix_family_recipes_train_a_small_vit() {
    let Some(dir) = dataset() else { return };
    let a = args(&["--epochs", "1", "--train-subset", "256", "--batch-size", "64"]);
    let source = fashion_mnist::FashionMnist::load(&dir, 256, 0, 64, false, Device::Cpu).unwrap();
    let v = ex::cli::VitArgs { patch: Some(7), dim: Some(16), depth: Some(1), heads: Some(2), mlp_ratio: Some(2) };
    let input = ex::source::Source::input(&source);
    for recipe in [Recipe::Resizemix, Recipe::Fmix, Recipe::Transmix] {
        let build = |p: &nn::Path| models::vit_for(p, &v, &input);
        let trained = train::train(&build, recipe, 0, &a, &source, Device::Cpu).unwrap();
        let loss = trained.result.epochs[0].train_loss;
        assert!(loss.is_finite() && loss > 0.0, "{recipe:?}: training loss {loss}");
        assert_eq!(trained.first_batch.1.size(), [16, 10], "{recipe:?}");
    }
    // TransMix needs a model that leaves its attention.
    let resnet = |p: &nn::Path| Ok(models::Model::plain(models::resnet(p, 1, 4, 1, 10)));
    let e = train::train(&resnet, Recipe::Transmix, 0, &a, &source, Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("recipe transmix") && e.contains("ViT"), "{e}");
}

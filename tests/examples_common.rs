//! The training examples' shared code: the Fashion-MNIST loader on the shipped files, calibration
//! metrics on hand-computed cases, the picture and report writers, the models, the schedule.

#[path = "../examples/common/mod.rs"]
mod ex;

use ex::metrics::calibration;
use ex::{data, models, report, train};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};
use tch_mixcut::{soft_cross_entropy, MixConfig, Mixer};

/// The installed data set, or `None` after printing why the test is skipped.
fn dataset() -> Option<std::path::PathBuf> {
    let dir = data::resolve_dir(None);
    if dir.join("t10k-labels-idx1-ubyte.gz").exists() {
        Some(dir)
    } else {
        eprintln!("skipped: Fashion-MNIST not installed at {} (bash scripts/setup.sh installs it)", dir.display());
        None
    }
}

#[test]
fn loader_reads_the_shipped_files() {
    let Some(dir) = dataset() else { return };
    let test = data::load(&dir, "t10k").unwrap();
    assert_eq!(test.images.size(), [10_000, 1, 28, 28]);
    assert_eq!((test.images.kind(), test.labels.kind()), (Kind::Uint8, Kind::Int64));
    let counts = Vec::<i64>::try_from(test.labels.bincount::<Tensor>(None, 10)).unwrap();
    assert_eq!(counts, vec![1000; 10], "the test split is balanced");
    assert_eq!(test.labels.int64_value(&[0]), 9, "first test label: Ankle boot");
    let train = data::load(&dir, "train").unwrap();
    assert_eq!(train.images.size(), [60_000, 1, 28, 28]);
    assert_eq!((train.labels.min().int64_value(&[]), train.labels.max().int64_value(&[])), (0, 9));
    assert_eq!(train.labels.int64_value(&[0]), 9);
    // Real images: not blank, full uint8 range used.
    assert_eq!(train.images.max().int64_value(&[]), 255);
    let e = data::load(&dir.join("missing"), "train").err().unwrap().to_string();
    assert!(e.contains("apt-get install dataset-fashion-mnist") && e.contains("--data"), "{e}");
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
}

#[test]
fn picture_and_report_writers_produce_files_that_decode() {
    let dir = std::env::temp_dir().join(format!("mixcut-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let images = Tensor::arange(6 * 28 * 28, (Kind::Int64, Device::Cpu)).remainder(256).to_kind(Kind::Uint8).view([6, 1, 28, 28]);
    let targets = Tensor::full([6, 10], 0.1, (Kind::Float, Device::Cpu));
    report::batch_grid(&dir.join("grid.png"), "test grid", &images, &targets, &data::CLASSES).unwrap();
    let grid = image::open(dir.join("grid.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (4 * (28 * 4 + 24), 2 * (28 * 4 + 34) + 30));
    let cal = calibration(&[0.9, 0.6, 0.3], &[true, true, false], 15);
    report::reliability(&dir.join("rel.png"), "test", &[("a", &cal), ("b", &cal)]).unwrap();
    let rel = image::open(dir.join("rel.png")).unwrap();
    assert_eq!((rel.width(), rel.height()), (640, 560));
    let rows = [report::Row { recipe: "mixup".into(), accuracy: 0.9012, nll: 0.3, ece: 0.02, train_loss: 1.1, seconds: 12.0, images_per_sec: 1000.0 }];
    let csv = report::csv(&rows);
    assert_eq!(csv.lines().nth(1).unwrap(), "mixup,90.12,0.3000,0.0200,1.1000,12.0,1000");
    let md = report::markdown("T", "D", &rows);
    assert!(md.contains("| mixup | 90.12 | 0.3000 | 0.0200 |"), "{md}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn schedule_warms_up_then_decays_to_zero() {
    assert!((train::lr_at(0, 10, 100, 1.0) - 0.1).abs() < 1e-12);
    assert!((train::lr_at(9, 10, 100, 1.0) - 1.0).abs() < 1e-12);
    assert!((train::lr_at(55, 10, 100, 1.0) - 0.5).abs() < 1e-12);
    assert!(train::lr_at(100, 10, 100, 1.0).abs() < 1e-12);
}

/// A few AdamW steps on one small real batch with mixed targets: the loss must go down.
fn loss_decreases<M: ModuleT>(build: impl Fn(&nn::Path) -> M) {
    let Some(dir) = dataset() else { return };
    let slice = data::load(&dir, "t10k").unwrap().take(64);
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = build(&vs.root());
    let mut opt = nn::AdamW::default().build(&vs, 3e-3).unwrap();
    let mut mixer = Mixer::new(MixConfig::vit(10), 0).unwrap();
    let mut images = slice.images.copy();
    let targets = mixer.apply_(&mut images, &slice.labels).unwrap();
    let x = train::normalise(&images);
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
fn resnet_trains_on_a_small_real_slice() {
    let vs = nn::VarStore::new(Device::Cpu);
    let out = models::ResNet::new(&vs.root(), 8, 1, 10).forward_t(&Tensor::zeros([2, 1, 28, 28], (Kind::Float, Device::Cpu)), false);
    assert_eq!(out.size(), [2, 10]);
    loss_decreases(|p| models::ResNet::new(p, 8, 1, 10));
}

#[test]
fn vit_trains_on_a_small_real_slice() {
    let vs = nn::VarStore::new(Device::Cpu);
    let out = models::Vit::new(&vs.root(), 7, 32, 2, 4, 10).forward_t(&Tensor::zeros([2, 1, 28, 28], (Kind::Float, Device::Cpu)), false);
    assert_eq!(out.size(), [2, 10]);
    loss_decreases(|p| models::Vit::new(p, 7, 32, 2, 4, 10));
}

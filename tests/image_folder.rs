//! The training examples' image-folder source (the crate's loader behind the examples' `Source` trait) on
//! real files: a slice of Fashion-MNIST
//! (synthetic images when it is not installed) written as JPEG and PNG files, upscaled to 64 × 64 RGB,
//! into train/<class>/ and val/<class>/; then the class mapping, batches, determinism, bad files, and
//! short training runs of the examples' `run` functions in-process.

use tch_mixcut_harness as ex;

use std::path::{Path, PathBuf};

use clap::Parser;
use ex::cli::{ResNetArgs, TrainArgs, VitArgs};
use ex::image_folder::FolderSource;
use ex::source::{Batch, EvalSplit, Source};
use image::{ImageFormat, Rgb, RgbImage};
use tch::{Device, Kind};

/// Fashion-MNIST labels used as classes, with their folder names; sorted by name they are
/// "Ankle boot" (0), "Bag" (1), "Trouser" (2), unlike their label order.
const CLASSES: [(i64, &str); 3] = [(9, "Ankle boot"), (1, "Trouser"), (8, "Bag")];

/// A fresh empty folder under the system's temporary folder.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mixcut-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `per_class` grey 28 × 28 images of each class: Fashion-MNIST's test images, or synthetic ones.
fn source_images(per_class: usize) -> Vec<Vec<(u8, [u8; 784])>> {
    let dir = ex::fashion_mnist::resolve_dir(None);
    let split = if dir.join("t10k-images-idx3-ubyte.gz").exists() {
        Some(ex::fashion_mnist::load(&dir, "t10k").unwrap())
    } else {
        println!("Fashion-MNIST not installed at {}: synthetic images instead", dir.display());
        None
    };
    CLASSES
        .iter()
        .map(|&(label, _)| match &split {
            Some(s) => {
                let index = s.labels.eq(label).nonzero().flatten(0, -1).narrow(0, 0, per_class as i64);
                let pixels = Vec::<u8>::try_from(s.images.index_select(0, &index).flatten(0, -1)).unwrap();
                pixels.chunks_exact(784).map(|c| (label as u8, c.try_into().unwrap())).collect()
            }
            None => (0..per_class)
                .map(|i| {
                    let mut img = [0u8; 784];
                    for (k, v) in img.iter_mut().enumerate() {
                        *v = ((k * (label as usize + 1) + i * 7) % 256) as u8;
                    }
                    (label as u8, img)
                })
                .collect(),
        })
        .collect()
}

/// One 64 × 64 RGB picture of a grey image (nearest-neighbour upscaling, channels tinted differently).
fn rgb64(grey: &[u8; 784]) -> RgbImage {
    RgbImage::from_fn(64, 64, |x, y| {
        let v = grey[(y as usize * 28 / 64) * 28 + x as usize * 28 / 64];
        Rgb([v, v / 2, 255 - v])
    })
}

/// Writes `train_per_class` and `val_per_class` images per class into `root/{train,val}/<class>/`,
/// alternately as .jpg and .png; returns the number of files written per split.
fn write_folder(root: &Path, train_per_class: usize, val_per_class: usize) -> (usize, usize) {
    let images = source_images(train_per_class + val_per_class);
    for (c, &(_, name)) in CLASSES.iter().enumerate() {
        for (i, (_, grey)) in images[c].iter().enumerate() {
            let split = if i < train_per_class { "train" } else { "val" };
            let dir = root.join(split).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let (ext, format) = if i % 2 == 0 { ("jpg", ImageFormat::Jpeg) } else { ("png", ImageFormat::Png) };
            rgb64(grey).save_with_format(dir.join(format!("{i:04}.{ext}")), format).unwrap();
        }
    }
    (CLASSES.len() * train_per_class, CLASSES.len() * val_per_class)
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    train: TrainArgs,
    #[command(flatten)]
    resnet: ResNetArgs,
    #[command(flatten)]
    vit: VitArgs,
}

fn cli(root: &Path, extra: &[&str]) -> Cli {
    let data = root.to_str().unwrap();
    let base = ["test", "--data", data, "--image-size", "32", "--batch-size", "8", "--device", "cpu"];
    Cli::try_parse_from(base.iter().chain(extra)).unwrap()
}

fn open(root: &Path, extra: &[&str]) -> anyhow::Result<FolderSource> {
    FolderSource::open(root, &cli(root, extra).train, Device::Cpu)
}

fn collect(batches: ex::source::Batches<'_>) -> Vec<Batch> {
    batches.map(|b| b.unwrap()).collect()
}

#[test]
fn classes_come_from_sorted_folder_names_and_val_maps_by_name() {
    let root = temp_dir("classes");
    write_folder(&root, 6, 2);
    // val lacks a class (its folder is empty): allowed, the others keep their training index.
    for f in std::fs::read_dir(root.join("val/Trouser")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let source = open(&root, &[]).unwrap();
    assert_eq!(source.classes(), ["Ankle boot", "Bag", "Trouser"]);
    let listing = tch_mixcut::data::ImageFolder::with_classes(root.join("val"), source.classes()).unwrap();
    assert_eq!(listing.len(), 4);
    for sample in listing.samples() {
        let folder = sample.path.parent().unwrap().file_name().unwrap().to_str().unwrap();
        assert_eq!(source.classes()[sample.label as usize], folder);
    }
    let labels: Vec<i64> = collect(source.eval_batches(EvalSplit::Test).unwrap())
        .iter()
        .flat_map(|b| Vec::<i64>::try_from(&b.labels).unwrap())
        .collect();
    assert_eq!(labels, [0, 0, 1, 1], "val in listing order: Ankle boot, then Bag");
    // A val class that training does not have is refused, by name.
    std::fs::create_dir_all(root.join("val/Sandal")).unwrap();
    let e = open(&root, &[]).err().unwrap().to_string();
    assert!(e.contains("\"Sandal\" is not among the training classes"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn batches_are_uint8_nchw_views_of_nhwc_with_the_right_labels() {
    let root = temp_dir("batches");
    let (n_train, _) = write_folder(&root, 7, 2);
    let source = open(&root, &[]).unwrap();
    assert_eq!(source.train_len(), n_train);
    let batches = collect(source.train_batches(0, 0).unwrap());
    assert_eq!(batches.len(), n_train.div_ceil(8));
    for b in &batches {
        let n = b.labels.size()[0];
        assert_eq!((b.images.size(), b.images.kind(), b.labels.kind()), (vec![n, 3, 32, 32], Kind::Uint8, Kind::Int64));
        assert!(b.images.permute([0, 2, 3, 1]).is_contiguous(), "NHWC storage");
    }
    let mut counts = [0i64; 3];
    for b in &batches {
        for l in Vec::<i64>::try_from(&b.labels).unwrap() {
            counts[l as usize] += 1;
        }
    }
    assert_eq!(counts, [7, 7, 7]);
    // The tint survives decoding and resizing: red is the grey value, blue its complement.
    let eval = collect(source.eval_batches(EvalSplit::Test).unwrap());
    let img = eval[0].images.get(0).to_kind(Kind::Float);
    let (r, b) = (img.get(0), img.get(2));
    assert!(((r + b) - 255.0).abs().mean(Kind::Float).double_value(&[]) < 12.0, "R + B ≈ 255 after JPEG");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn same_seed_same_batches_whatever_the_workers() {
    let root = temp_dir("determinism");
    write_folder(&root, 8, 1);
    let a = collect(open(&root, &["--workers", "1"]).unwrap().train_batches(3, 42).unwrap());
    let b = collect(open(&root, &["--workers", "3", "--prefetch", "1"]).unwrap().train_batches(3, 42).unwrap());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!(x.images.equal(&y.images) && x.labels.equal(&y.labels));
    }
    let c = collect(open(&root, &[]).unwrap().train_batches(4, 42).unwrap());
    assert!(!a[0].images.equal(&c[0].images), "another epoch: another order and other crops");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn corrupt_files_fail_by_name_or_are_skipped_and_counted() {
    let root = temp_dir("corrupt");
    let (n_train, _) = write_folder(&root, 5, 1);
    let bad = root.join("train/Bag/zz-broken.jpg");
    std::fs::write(&bad, b"not a JPEG at all").unwrap();
    let e = collect_err(open(&root, &[]).unwrap().train_batches(0, 0).unwrap());
    assert!(e.contains("zz-broken.jpg") && e.contains("skip_bad_images"), "{e}");
    let source = open(&root, &["--skip-bad-images"]).unwrap();
    let batches = collect(source.train_batches(0, 0).unwrap());
    let skipped: usize = batches.iter().map(|b| b.skipped).sum();
    let images: i64 = batches.iter().map(|b| b.labels.size()[0]).sum();
    assert_eq!((skipped, images), (1, n_train as i64));
    std::fs::remove_dir_all(&root).unwrap();
}

fn collect_err(batches: ex::source::Batches<'_>) -> String {
    for b in batches {
        if let Err(e) = b {
            return format!("{e:#}");
        }
    }
    panic!("expected an error")
}

#[test]
fn non_image_files_are_ignored_and_content_decides_the_format() {
    let root = temp_dir("non-image");
    let (n_train, _) = write_folder(&root, 4, 1);
    std::fs::write(root.join("train/Bag/notes.txt"), "not an image").unwrap();
    std::fs::write(root.join("train/Bag/README"), "no extension").unwrap();
    // A PNG under an upper-case .JPG name: listed by extension, decoded by its magic bytes.
    std::fs::copy(root.join("train/Bag/0001.png"), root.join("train/Bag/copy.JPG")).unwrap();
    let listing = tch_mixcut::data::ImageFolder::new(root.join("train")).unwrap();
    assert_eq!((listing.len(), listing.ignored()), (n_train + 1, 2));
    let batches = collect(open(&root, &[]).unwrap().train_batches(0, 0).unwrap());
    assert_eq!(batches.iter().map(|b| b.labels.size()[0]).sum::<i64>(), n_train as i64 + 1);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn an_empty_training_class_is_refused_by_name() {
    let root = temp_dir("empty-class");
    write_folder(&root, 2, 1);
    std::fs::create_dir_all(root.join("train/Coat")).unwrap();
    std::fs::create_dir_all(root.join("val/Coat")).unwrap();
    let e = open(&root, &[]).err().unwrap().to_string();
    assert!(e.contains("\"Coat\"") && e.contains("every training class needs at least one"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_training_binaries_run_on_an_image_folder() {
    let root = temp_dir("train-run");
    write_folder(&root, 12, 4);
    let out = root.join("out");
    let common = ["--epochs", "1", "--recipe", "both", "--holdout", "6", "--out", out.to_str().unwrap()];
    for (name, extra) in
        [("resnet18", &["--arch", "resnet18"][..]), ("small", &["--arch", "small", "--width", "4"][..])]
    {
        let c = cli(&root, &[&common[..], extra].concat());
        ex::run_resnet(&c.train, &c.resnet).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let r = ex::results::load(&out.join("runs/both-seed0")).unwrap().expect("result written");
        assert!((0.0..=1.0).contains(&r.test.accuracy) && r.temperature.is_some() && r.train_loss.is_finite(), "{r:?}");
        assert!(out.join("report.md").exists() && out.join("batch_both.png").exists());
    }
    // --resume keeps a finished run of the same settings and refuses one of other settings.
    let kept = std::fs::read_to_string(out.join("runs/both-seed0/result.json")).unwrap();
    let c = cli(&root, &[&common[..], &["--arch", "small", "--width", "4", "--resume"]].concat());
    ex::run_resnet(&c.train, &c.resnet).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("runs/both-seed0/result.json")).unwrap(), kept);
    for other in [&["--width", "4", "--lr", "0.01"][..], &["--width", "5"][..]] {
        let c = cli(&root, &[&common[..], &["--arch", "small", "--resume"], other].concat());
        let e = ex::run_resnet(&c.train, &c.resnet).unwrap_err().to_string();
        assert!(e.contains("resume:") && e.contains("other settings"), "{other:?}: {e}");
    }
    // --report-only writes the report from the result files alone, trains nothing, and refuses a missing
    // run or runs of different settings.
    std::fs::remove_file(out.join("report.md")).unwrap();
    let report_only = |extra: &[&str]| {
        let c = cli(&root, &[&common[..], &["--arch", "small", "--report-only"], extra].concat());
        ex::run_resnet(&c.train, &c.resnet)
    };
    report_only(&[]).unwrap();
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("Report: `") && report.contains("| both | 0 |"), "{report}");
    assert_eq!(std::fs::read_to_string(out.join("runs/both-seed0/result.json")).unwrap(), kept);
    let e = report_only(&["--seeds", "0,1"]).unwrap_err().to_string();
    assert!(e.contains("report-only: no result file in") && e.contains("both-seed1"), "{e}");
    let other = out.join("runs/mixup-seed0");
    std::fs::create_dir_all(&other).unwrap();
    let edited = kept.replace("\"recipe\": \"both\"", "\"recipe\": \"mixup\"").replace("width 4", "width 5");
    assert_ne!(edited, kept);
    std::fs::write(other.join("result.json"), edited).unwrap();
    let e = report_only(&["--recipes", "both,mixup"]).unwrap_err().to_string();
    assert!(e.contains("report-only:") && e.contains("mixup-seed0 was written with other settings"), "{e}");
    let c = cli(&root, &[&common[..], &["--patch", "8", "--dim", "32", "--depth", "1", "--heads", "2"]].concat());
    ex::run_vit(&c.train, &c.vit).unwrap();
    let c = cli(&root, &[&common[..], &["--patch", "5"]].concat());
    let e = ex::run_vit(&c.train, &c.vit).unwrap_err().to_string();
    assert!(e.contains("patch: got 5, expected a divisor of the image side 32"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn missing_val_folder_is_named() {
    let root = temp_dir("no-val");
    write_folder(&root, 2, 0);
    let e = open(&root, &[]).err().unwrap().to_string();
    assert!(e.contains("val") && e.contains("train/<class>/* and val/<class>/*"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_mixer_mixes_loader_batches_in_place_through_their_nchw_view() {
    use tch_mixcut::{MixConfig, Mixer};
    let root = temp_dir("mix-view");
    write_folder(&root, 4, 1);
    let batch = collect(open(&root, &[]).unwrap().train_batches(0, 0).unwrap()).remove(0);
    let before = batch.images.copy();
    let mut images = batch.images;
    let config = MixConfig { cutmix_alpha: 1.0, ..MixConfig::mixup(1.0, 3) };
    let targets = Mixer::new(config.clone(), 5).unwrap().apply_(&mut images, &batch.labels).unwrap();
    let (expected, expected_targets) = Mixer::new(config, 5).unwrap().apply(&before, &batch.labels).unwrap();
    assert!(images.equal(&expected) && targets.equal(&expected_targets), "in place on the view = out of place");
    assert!(!images.equal(&before), "the batch was mixed");
    assert!(images.permute([0, 2, 3, 1]).is_contiguous(), "still NHWC storage");
    std::fs::remove_dir_all(&root).unwrap();
}

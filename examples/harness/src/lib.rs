//! The training harness the repository's examples share (not part of tch-mixcut's API): data sources
//! (Fashion-MNIST, image folders through `tch_mixcut::data`), models, the training loop, metrics,
//! pictures and reports. A crate of its own, so that the examples and the tests use it as ordinary code.

pub mod augment;
pub mod cli;
pub mod fashion_mnist;
pub mod image_folder;
pub mod input;
pub mod metrics;
pub mod models;
pub mod report;
pub mod results;
pub mod source;
pub mod train;
pub mod transfer;

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use tch::{nn, Device};

use cli::{Arch, ResNetArgs, TrainArgs, VitArgs};
use source::{InputShape, Source};

/// Whether `dir` is an ImageNet-layout folder (it has a `train/` folder) rather than Fashion-MNIST files.
pub fn is_image_folder(dir: &Path) -> bool {
    dir.join("train").is_dir()
}

/// The data set `--data` names (see [`is_image_folder`]), loaded for training on `device`.
pub fn open_source(args: &TrainArgs, device: Device) -> Result<Box<dyn Source>> {
    let dir = fashion_mnist::resolve_dir(args.data.as_deref());
    if is_image_folder(&dir) {
        Ok(Box::new(image_folder::FolderSource::open(&dir, args, device)?))
    } else {
        Ok(Box::new(fashion_mnist::FashionMnist::load(
            &dir,
            args.train_subset,
            args.holdout,
            args.batch_size,
            args.augment,
            device,
        )?))
    }
}

/// The settings that decide a run's numbers besides its recipe and seed, in words.
fn settings(model: &str, args: &TrainArgs, source: &dyn Source, device: Device) -> String {
    format!(
        "{model}; {}; {} epochs, batch {}, AdamW lr {} wd {}, warm-up {} epochs then cosine; mixup α {}, cutmix α {}, \
         minmax {:?}, prob {}, switch {}, mode {:?}, correct λ {}, label smoothing {}, both-off fraction {}; device {device:?}",
        source.describe(),
        args.epochs,
        args.batch_size,
        args.lr,
        args.weight_decay,
        args.warmup_epochs,
        args.mixup_alpha,
        args.cutmix_alpha,
        args.cutmix_minmax,
        args.prob,
        args.switch_prob,
        args.mode,
        !args.no_correct_lam,
        args.label_smoothing,
        args.mix_off_fraction,
    )
}

/// Trains the model that `build` makes (`model` names it in titles, `options` are its options in
/// words) under every requested recipe and seed; after each run writes its result file, and rewrites
/// the report, the reliability diagrams and the batch pictures.
pub fn run(
    model: &str,
    options: &str,
    args: &TrainArgs,
    build: &dyn Fn(&nn::Path, &InputShape) -> Result<models::Model>,
) -> Result<()> {
    args.validate()?;
    if args.report_only {
        return report_only(model, args);
    }
    let device = args.device()?;
    let source = open_source(args, device)?;
    println!("{}, on {device:?}", source.describe());
    let input = source.input();
    build(&nn::VarStore::new(Device::Cpu).root(), &input)?; // refuse bad model options before training
    let out = out_dir(model, args);
    let settings = settings(&format!("{model} ({options})"), args, source.as_ref(), device);
    let command: Vec<String> = std::env::args().collect();
    let (recipes, seeds) = (args.recipe_list(), args.seed_list());
    let description =
        format!("Command: `{}`  \nSettings: {settings}; seeds {seeds:?}. {}", command.join(" "), evaluation_note(args));
    let mut done = Vec::new();
    for &seed in &seeds {
        for &recipe in &recipes {
            let dir = results::run_dir(&out, recipe, seed);
            let previous = if args.resume { results::load(&dir)? } else { None };
            let result = match previous {
                Some(r) => {
                    ensure!(
                        r.settings == settings,
                        "resume: {} was written with other settings:\n  {}\nexpected:\n  {settings}",
                        dir.display(),
                        r.settings
                    );
                    println!("{:>8} seed {seed}: kept from {}", recipe.name(), dir.display());
                    r
                }
                None => {
                    let trained =
                        train::train(&|p: &nn::Path| build(p, &input), recipe, seed, args, source.as_ref(), device)?;
                    let mut result = trained.result;
                    result.settings = settings.clone();
                    results::save(&dir, &result)?;
                    if seed == seeds[0] {
                        let title = format!("{model}: first training batch, recipe {}", recipe.name());
                        let (images, targets) = &trained.first_batch;
                        report::batch_grid(
                            &out.join(format!("batch_{}.png", recipe.name())),
                            &title,
                            images,
                            targets,
                            source.classes(),
                        )?;
                    }
                    result
                }
            };
            done.push(result);
            let mut ordered = done.clone();
            ordered.sort_by_key(|r| (recipes.iter().position(|x| x.name() == r.recipe), r.seed));
            results::summarise(&out, &report_title(model, args), &description, &ordered)?;
        }
    }
    println!(
        "\n{}\nwrote {}/report.md, report.csv, reliability*.png, batch_*.png, runs/*/result.json",
        std::fs::read_to_string(out.join("report.md"))?,
        out.display()
    );
    Ok(())
}

/// `--report-only`: the report over the result files already in the output folder, one per requested
/// (recipe, seed), all written with the same settings; no data, device or model is touched.
fn report_only(model: &str, args: &TrainArgs) -> Result<()> {
    let out = out_dir(model, args);
    let (recipes, seeds) = (args.recipe_list(), args.seed_list());
    let mut runs = Vec::new();
    // Recipe by recipe, each recipe's seeds in turn: the training report's order.
    for &recipe in &recipes {
        for &seed in &seeds {
            let dir = results::run_dir(&out, recipe, seed);
            let run = results::load(&dir)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "report-only: no result file in {} (train that run first, or leave it out)",
                    dir.display()
                )
            })?;
            if let Some(first) = runs.first().map(|r: &results::RunResult| &r.settings) {
                ensure!(
                    run.settings == *first,
                    "report-only: {} was written with other settings:\n  {}\nthan the first run:\n  {first}",
                    dir.display(),
                    run.settings
                );
            }
            runs.push(run);
        }
    }
    let command: Vec<String> = std::env::args().collect();
    let description = format!(
        "Report: `{}`, over runs trained with these settings: {}; seeds {seeds:?}. {}",
        command.join(" "),
        runs[0].settings,
        evaluation_note(args)
    );
    results::summarise(&out, &report_title(model, args), &description, &runs)?;
    println!(
        "{}\nwrote {}/report.md, report.csv, reliability*.png",
        std::fs::read_to_string(out.join("report.md"))?,
        out.display()
    );
    Ok(())
}

/// The folder for the runs and the report: `--out`, else runs/<model>.
fn out_dir(model: &str, args: &TrainArgs) -> PathBuf {
    args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(model))
}

/// The report's title: the model and the data.
fn report_title(model: &str, args: &TrainArgs) -> String {
    format!("{model} on {}", data_name(args))
}

/// How the report's numbers were evaluated, for its description.
fn evaluation_note(args: &TrainArgs) -> &'static str {
    if args.holdout > 0 {
        "Evaluation with augmentation off; temperature fitted on the held-out images by minimising their NLL."
    } else {
        "Evaluation with augmentation off."
    }
}

/// "Fashion-MNIST" or the image folder's name, for titles.
fn data_name(args: &TrainArgs) -> String {
    let dir = fashion_mnist::resolve_dir(args.data.as_deref());
    if is_image_folder(&dir) {
        dir.file_name().map_or("an image folder".into(), |n| n.to_string_lossy().into_owned())
    } else {
        "Fashion-MNIST".into()
    }
}

/// The ResNet that `m` asks for (default: the small one on Fashion-MNIST, ResNet-18 on image folders).
fn resnet_arch(args: &TrainArgs, m: &ResNetArgs) -> Arch {
    m.arch.unwrap_or(if is_image_folder(&fashion_mnist::resolve_dir(args.data.as_deref())) {
        Arch::Resnet18
    } else {
        Arch::Small
    })
}

/// `train_resnet`: the chosen ResNet under [`run`].
pub fn run_resnet(args: &TrainArgs, m: &ResNetArgs) -> Result<()> {
    let arch = resnet_arch(args, m);
    let name = match arch {
        Arch::Small => "ResNet",
        Arch::Resnet18 => "ResNet-18",
        Arch::Resnet50 => "ResNet-50",
    };
    let options = match arch {
        Arch::Small => format!("width {}, {} blocks per stage", m.width, m.blocks),
        _ => "tch::vision::resnet".to_string(),
    };
    run(name, &options, args, &|p, input| Ok(models::Model::plain(models::resnet_for(p, arch, m, input)?)))
}

/// `train_vit`: a ViT (the data's default shape, or the flags') under [`run`].
pub fn run_vit(args: &TrainArgs, v: &VitArgs) -> Result<()> {
    let name = if is_image_folder(&fashion_mnist::resolve_dir(args.data.as_deref())) { "ViT-S" } else { "ViT" };
    let set: Vec<String> = [
        ("patch", v.patch),
        ("dim", v.dim),
        ("depth", v.depth.map(|d| d as i64)),
        ("heads", v.heads),
        ("MLP ratio", v.mlp_ratio),
    ]
    .iter()
    .filter_map(|(name, value)| value.map(|x| format!("{name} {x}")))
    .collect();
    let options = if set.is_empty() {
        "the data's default shape".to_string()
    } else {
        format!("{}, the rest by default", set.join(", "))
    };
    run(name, &options, args, &|p, input| models::vit_for(p, v, input))
}

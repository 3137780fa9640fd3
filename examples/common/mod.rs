//! Code the training examples share: data loading, the training loop, metrics, pictures and reports.
#![allow(dead_code)]

pub mod cli;
pub mod data;
pub mod metrics;
pub mod models;
pub mod report;
pub mod train;

use std::path::PathBuf;

use anyhow::Result;
use tch::nn::{self, ModuleT};

use cli::{Recipe, TrainArgs};

/// Trains `model` under the requested recipe (or all four with `--compare`), prints a summary per
/// epoch, and writes the report, the reliability diagram and one picture of a mixed batch per recipe.
pub fn run<M: ModuleT>(model: &str, args: &TrainArgs, build: impl Fn(&nn::Path) -> M) -> Result<()> {
    let device = args.device();
    let data = train::load(args, device)?;
    let recipes = if args.compare { Recipe::ALL.to_vec() } else { vec![args.recipe] };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(model));
    let outcomes = recipes.iter().map(|&r| train::train(&build, r, args, &data, device)).collect::<Result<Vec<_>>>()?;

    for o in &outcomes {
        let title = format!("{model}: first training batch, recipe {}", o.recipe.name());
        let path = out.join(format!("batch_{}.png", o.recipe.name()));
        std::fs::create_dir_all(&out)?;
        report::batch_grid(&path, &title, &o.first_batch.0, &o.first_batch.1, &data::CLASSES)?;
    }
    let runs: Vec<(&str, &metrics::Calibration)> = outcomes.iter().map(|o| (o.recipe.name(), &o.eval.calibration)).collect();
    report::reliability(&out.join("reliability.png"), &format!("{model} on Fashion-MNIST: reliability (test split)"), &runs)?;
    let rows: Vec<report::Row> = outcomes
        .iter()
        .map(|o| report::Row {
            recipe: o.recipe.name().to_string(),
            accuracy: o.eval.accuracy,
            nll: o.eval.nll,
            ece: o.eval.calibration.ece,
            train_loss: o.train_loss,
            seconds: o.seconds,
            images_per_sec: o.images_per_sec,
        })
        .collect();
    let command: Vec<String> = std::env::args().collect();
    let description = format!(
        "Command: `{}`  \nDevice: {device:?}; {} training images, {} epochs, batch {}, seed {}; \
         test split (10,000 images) evaluated with augmentation off.",
        command.join(" "),
        data.train.len(),
        args.epochs,
        args.batch_size,
        args.seed
    );
    let md = report::markdown(&format!("{model} on Fashion-MNIST"), &description, &rows);
    report::write(&out, "report.md", &md)?;
    report::write(&out, "report.csv", &report::csv(&rows))?;
    println!("\n{md}\nwrote {}/report.md, report.csv, reliability.png, batch_*.png", out.display());
    Ok(())
}

//! Pictures: a captioned grid of one mixed batch and a reliability diagram overlaying runs; and the
//! file writer the reports use.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;
use tch::{Kind, Tensor};

use crate::metrics::Calibration;

/// Where the captions' font is read from (Debian's fonts-dejavu-core; scripts/setup.sh installs it).
const FONT_PATHS: [&str; 2] =
    ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"];

/// Registers DejaVu Sans (or `$MIXCUT_FONT`) as plotters' "sans-serif", once.
fn font() -> Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let candidates = std::env::var("MIXCUT_FONT").into_iter().chain(FONT_PATHS.iter().map(|s| s.to_string()));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                    .map_err(|_| format!("{path}: not a usable font"));
            }
        }
        Err(format!("no font found at {FONT_PATHS:?}: install fonts-dejavu-core or set MIXCUT_FONT to a .ttf file"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// Whether captions can be drawn; where no font is found, the picture at `path` is skipped with a warning
/// (a GPU machine without fonts still trains and writes its report).
fn font_ready(path: &Path) -> bool {
    font().map_err(|e| eprintln!("warning: {} not drawn: {e}", path.display())).is_ok()
}

fn draw_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing: {e:?}")
}

/// A grid of `images` (uint8 `[N, C, H, W]`, C = 1 grey or 3 RGB, any strides), each captioned with its
/// top two soft-target classes and weights, so a reader sees Mixup blend and CutMix paste. Small images
/// are drawn enlarged (28 × 28 four times).
pub fn batch_grid(path: &Path, title: &str, images: &Tensor, targets: &Tensor, classes: &[String]) -> Result<()> {
    if !font_ready(path) {
        return Ok(());
    }
    let (n, c, h, w) = images.size4()?;
    anyhow::ensure!(c == 1 || c == 3, "images: got {c} channels, expected 1 or 3");
    let (cols, scale, caption) = (4i64, (112 / w).max(1), 34i64);
    let rows = (n + cols - 1) / cols;
    let (tile_w, tile_h) = (w * scale + 24, h * scale + caption);
    let size = ((cols * tile_w) as u32, (rows * tile_h + 30) as u32);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    root.draw(&Text::new(title.to_string(), (8, 6), ("sans-serif", 16).into_font())).map_err(draw_err)?;
    let pixels = Vec::<u8>::try_from(images.to_kind(Kind::Uint8).permute([0, 2, 3, 1]).contiguous().flatten(0, -1))?;
    let weights = Vec::<f32>::try_from(targets.to_kind(Kind::Float).contiguous().flatten(0, -1))?;
    let width = targets.size()[1] as usize;
    for i in 0..n {
        let (x0, y0) = ((i % cols) * tile_w + 12, (i / cols) * tile_h + 30);
        for y in 0..h {
            for x in 0..w {
                let at = ((i * h * w + y * w + x) * c) as usize;
                let (r, g, b) = if c == 3 {
                    (pixels[at], pixels[at + 1], pixels[at + 2])
                } else {
                    (pixels[at], pixels[at], pixels[at])
                };
                let rect = [
                    ((x0 + x * scale) as i32, (y0 + y * scale) as i32),
                    ((x0 + (x + 1) * scale) as i32, (y0 + (y + 1) * scale) as i32),
                ];
                root.draw(&Rectangle::new(rect, RGBColor(r, g, b).filled())).map_err(draw_err)?;
            }
        }
        let row = &weights[i as usize * width..(i as usize + 1) * width];
        let mut order: Vec<usize> = (0..width).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        for (line, &k) in order.iter().take(2).enumerate() {
            let label = format!("{} {:.2}", classes.get(k).map_or("?", String::as_str), row[k]);
            let at = (x0 as i32, (y0 + h * scale + 2 + 15 * line as i64) as i32);
            root.draw(&Text::new(label, at, ("sans-serif", 13).into_font())).map_err(draw_err)?;
        }
    }
    root.present().map_err(draw_err)?;
    Ok(())
}

/// A reliability diagram: per-bin accuracy against mean confidence for each named run, with the diagonal
/// of perfect calibration; the legend gives each run's ECE.
pub fn reliability(path: &Path, title: &str, runs: &[(&str, &Calibration)]) -> Result<()> {
    if !font_ready(path) {
        return Ok(());
    }
    let root = BitMapBackend::new(path, (640, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(draw_err)?;
    chart.configure_mesh().x_desc("confidence").y_desc("accuracy").draw().map_err(draw_err)?;
    chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4))).map_err(draw_err)?;
    for (k, (name, cal)) in runs.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let points: Vec<(f64, f64)> =
            cal.bins.iter().filter(|b| b.count > 0).map(|b| (b.confidence, b.accuracy)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(draw_err)?
            .label(format!("{name} (ECE {:.3})", cal.ece))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled()))).map_err(draw_err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)?;
    root.present().map_err(draw_err)?;
    Ok(())
}

/// Writes `text` to `dir/name`, creating `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(name), text).with_context(|| format!("writing {}", dir.join(name).display()))
}

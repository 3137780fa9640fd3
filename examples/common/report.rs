//! Pictures and tables: a captioned grid of one mixed batch, a reliability diagram overlaying recipes,
//! and the Markdown / CSV report.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;
use tch::{Kind, Tensor};

use super::metrics::Calibration;

/// Where the captions' font is read from (Debian's fonts-dejavu-core; scripts/setup.sh installs it).
const FONT_PATHS: [&str; 2] = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"];

/// Registers DejaVu Sans (or `$MIXCUT_FONT`) as plotters' "sans-serif", once.
fn font() -> Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let candidates = std::env::var("MIXCUT_FONT").into_iter().chain(FONT_PATHS.iter().map(|s| s.to_string()));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| format!("{path}: not a usable font"));
            }
        }
        Err(format!("no font found at {FONT_PATHS:?}: install fonts-dejavu-core or set MIXCUT_FONT to a .ttf file"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

fn draw_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing: {e:?}")
}

/// A grid of grey `images` (uint8 `[N, 1, H, W]`), each captioned with its top two soft-target classes
/// and weights, so a reader sees Mixup blend and CutMix paste.
pub fn batch_grid(path: &Path, title: &str, images: &Tensor, targets: &Tensor, classes: &[&str]) -> Result<()> {
    font()?;
    let (n, _, h, w) = images.size4()?;
    let (cols, scale, caption) = (4i64, 4i64, 34i64);
    let rows = (n + cols - 1) / cols;
    let (tile_w, tile_h) = (w * scale + 24, h * scale + caption);
    let size = ((cols * tile_w) as u32, (rows * tile_h + 30) as u32);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    root.draw(&Text::new(title.to_string(), (8, 6), ("sans-serif", 16).into_font())).map_err(draw_err)?;
    let pixels = Vec::<u8>::try_from(images.to_kind(Kind::Uint8).contiguous().flatten(0, -1))?;
    let weights = Vec::<f32>::try_from(targets.to_kind(Kind::Float).contiguous().flatten(0, -1))?;
    let c = targets.size()[1] as usize;
    for i in 0..n {
        let (x0, y0) = ((i % cols) * tile_w + 12, (i / cols) * tile_h + 30);
        for y in 0..h {
            for x in 0..w {
                let v = pixels[(i * h * w + y * w + x) as usize];
                let rect = [((x0 + x * scale) as i32, (y0 + y * scale) as i32), ((x0 + (x + 1) * scale) as i32, (y0 + (y + 1) * scale) as i32)];
                root.draw(&Rectangle::new(rect, RGBColor(v, v, v).filled())).map_err(draw_err)?;
            }
        }
        let row = &weights[i as usize * c..(i as usize + 1) * c];
        let mut order: Vec<usize> = (0..c).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        for (line, &k) in order.iter().take(2).enumerate() {
            let label = format!("{} {:.2}", classes.get(k).copied().unwrap_or("?"), row[k]);
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
    font()?;
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
        let points: Vec<(f64, f64)> = cal.bins.iter().filter(|b| b.count > 0).map(|b| (b.confidence, b.accuracy)).collect();
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

/// One row of the report.
pub struct Row {
    pub recipe: String,
    pub accuracy: f64,
    pub nll: f64,
    pub ece: f64,
    pub train_loss: f64,
    pub seconds: f64,
    pub images_per_sec: f64,
}

const HEADER: [&str; 7] = ["recipe", "top-1 accuracy (%)", "test NLL", "ECE (15 bins)", "train loss", "train time (s)", "images/s"];

fn cells(r: &Row) -> [String; 7] {
    [
        r.recipe.clone(),
        format!("{:.2}", 100.0 * r.accuracy),
        format!("{:.4}", r.nll),
        format!("{:.4}", r.ece),
        format!("{:.4}", r.train_loss),
        format!("{:.1}", r.seconds),
        format!("{:.0}", r.images_per_sec),
    ]
}

/// The results table as CSV.
pub fn csv(rows: &[Row]) -> String {
    let mut out = HEADER.join(",") + "\n";
    for r in rows {
        out += &(cells(r).join(",") + "\n");
    }
    out
}

/// The results table as Markdown, under a heading and the run's description.
pub fn markdown(title: &str, description: &str, rows: &[Row]) -> String {
    let mut out = format!("# {title}\n\n{description}\n\n| {} |\n|{}\n", HEADER.join(" | "), "---|".repeat(HEADER.len()));
    for r in rows {
        let _ = writeln!(out, "| {} |", cells(r).join(" | "));
    }
    out
}

/// Writes `text` to `dir/name`, creating `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(name), text).with_context(|| format!("writing {}", dir.join(name).display()))
}

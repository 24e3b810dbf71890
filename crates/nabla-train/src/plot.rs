//! Drawing a [`History`]: training against validation loss (and accuracy, when recorded) per
//! epoch, as an SVG file.
//!
//! SVG keeps text as text, so no font files are needed to draw it; a PNG would need a font
//! rasteriser and a font, which nabla does not ship, so only SVG is written.

use std::path::Path;

use plotters::prelude::*;

use crate::error::TrainError;
use crate::history::History;

const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VALIDATION: RGBColor = RGBColor(255, 127, 14);

/// Draws one panel: `name` for training and validation against the epoch.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    history: &History,
    name: &str,
) -> Result<(), String> {
    let train = history.train_series(name);
    let val = history.validation_series(name);
    let all: Vec<f64> = train.iter().chain(&val).copied().filter(|v| v.is_finite()).collect();
    let (lo, hi) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.08).max(1e-6);
    let epochs = history.epochs.len().max(2);
    let mut chart = ChartBuilder::on(area)
        .caption(name, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(1f64..epochs as f64, (lo - pad)..(hi + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(name)
        .x_labels(epochs.min(12))
        .x_label_formatter(&|x| format!("{}", x.round() as usize))
        .draw()
        .map_err(|e| e.to_string())?;
    for (series, label, color) in [(&train, "train", TRAIN), (&val, "validation", VALIDATION)] {
        if series.is_empty() {
            continue;
        }
        let points: Vec<(f64, f64)> = series.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Writes an SVG with one panel for the loss and, if the history has one, one for accuracy.
pub fn plot_history(history: &History, path: impl AsRef<Path>) -> Result<(), TrainError> {
    let path = path.as_ref();
    let fail = |reason: String| TrainError::Plot { path: path.to_path_buf(), reason };
    let has_accuracy = !history.train_series("accuracy").is_empty();
    let width = if has_accuracy { 1100 } else { 600 };
    let root = SVGBackend::new(path, (width, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    if has_accuracy {
        let (left, right) = root.split_horizontally(width / 2);
        panel(&left, history, "loss").map_err(fail)?;
        panel(&right, history, "accuracy").map_err(fail)?;
    } else {
        panel(&root, history, "loss").map_err(fail)?;
    }
    root.present().map_err(|e| fail(e.to_string()))
}

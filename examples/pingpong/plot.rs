//! `--plot FILE.svg`: the latency CDF of every row on one log-scale time axis, so a
//! reader can look at the distributions instead of reading medians (two modes, a long
//! tail, a row that crosses its baseline all show at a glance).

use crate::report::Outcome;
use plotters::prelude::*;
use std::path::Path;

/// Writes the SVG. Each row is one curve through the top of each non-empty histogram
/// bucket: (bucket's upper edge, fraction of round trips at or below it).
pub fn cdf_svg(path: &Path, outcomes: &[Outcome], title: &str) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("plotting to {}: {e}", path.display());
    let measured: Vec<&Outcome> = outcomes.iter().filter(|o| o.hist.len() > 0).collect();
    if measured.is_empty() {
        return Err(err(&"no row has samples"));
    }
    let lo = measured
        .iter()
        .map(|o| o.hist.min())
        .min()
        .unwrap_or(1)
        .max(1);
    let hi = measured
        .iter()
        .map(|o| o.hist.max())
        .max()
        .unwrap_or(2)
        .max(lo * 2);
    let root = SVGBackend::new(path, (1000, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d((lo as f64..hi as f64 * 1.05).log_scale(), 0f64..1f64)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("round-trip time (ns, log scale)")
        .y_desc("fraction of round trips at or below")
        .draw()
        .map_err(|e| err(&e))?;
    for (i, o) in measured.iter().enumerate() {
        let n = o.hist.len() as f64;
        let mut seen = 0u64;
        let mut points = vec![(o.hist.min().max(1) as f64, 0.0)];
        points.extend(o.hist.buckets().map(|(low, width, count)| {
            seen += count;
            ((low + width) as f64, seen as f64 / n)
        }));
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(o.row.key)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

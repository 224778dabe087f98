//! Output: the final table, and SVG charts (plotters) of series against
//! time or load, one panel per figure.

use std::path::Path;

use plotters::prelude::*;

use crate::metrics::Summary;

/// One row of the final table.
pub fn row(name: &str, unit: &str, s: &Summary) -> String {
    format!(
        "{name:<28} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>8}  {unit}",
        s.p50, s.p95, s.p99, s.max, s.count
    )
}

/// The table's header.
pub fn header() -> String {
    format!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "figure", "p50", "p95", "p99", "max", "samples"
    )
}

/// A line on a panel.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// One panel: a y axis and its lines.
#[derive(Debug, Clone)]
pub struct Panel {
    pub y_label: String,
    pub series: Vec<Series>,
}

/// Draws `panels` stacked, sharing the x axis, into an SVG file.
pub fn chart(path: &Path, title: &str, x_label: &str, panels: &[Panel]) -> crate::Result<()> {
    let height = 260 * panels.len().max(1) as u32 + 40;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let areas = root.split_evenly((panels.len().max(1), 1));
    let x_max = panels
        .iter()
        .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)))
        .fold(1.0f64, f64::max);
    let x_min = panels
        .iter()
        .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)))
        .fold(f64::INFINITY, f64::min)
        .min(x_max - 1.0)
        .max(0.0);
    for (panel, area) in panels.iter().zip(areas.iter()) {
        let y_max = panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0f64, f64::max);
        let y_max = if y_max <= 0.0 { 1.0 } else { y_max * 1.15 };
        let mut c = ChartBuilder::on(area)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(x_min..x_max, 0.0..y_max)?;
        c.configure_mesh()
            .x_desc(x_label)
            .y_desc(panel.y_label.as_str())
            .draw()?;
        for (i, s) in panel.series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            c.draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            c.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        c.configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_written_as_svg() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.svg");
        chart(
            &path,
            "test",
            "s",
            &[Panel {
                y_label: "ms".into(),
                series: vec![Series {
                    name: "p99".into(),
                    points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)],
                }],
            }],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("p99"), "{svg}");
        let s = Summary {
            count: 3,
            mean: 2.0,
            p50: 2.0,
            p95: 3.0,
            p99: 3.0,
            max: 3.0,
        };
        assert!(row("latency", "ms", &s).contains("3.00"));
    }
}

//! The HTML page: a title, text, and line charts drawn as inline SVG with
//! plotters (its SVG backend, no system fonts needed). Knows nothing of the
//! tour, so a test can render a page of its own with it.

use plotters::prelude::*;
use std::fmt::Write;

/// Line colours, in order: distinct enough to find in a screenshot.
pub const PALETTE: [(u8, u8, u8); 4] = [
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (148, 103, 189),
];

/// One line of a chart.
pub struct Series {
    pub name: String,
    /// Its colour (one of [`PALETTE`]).
    pub color: (u8, u8, u8),
    /// (seconds, value) points.
    pub points: Vec<(f64, f64)>,
}

/// One chart.
pub struct Chart {
    pub title: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// Chart size in pixels.
pub const SIZE: (u32, u32) = (760, 260);

/// The chart as an SVG element; `marks` are vertical lines at (seconds,
/// label), the phases' starts.
pub fn svg(chart: &Chart, marks: &[(f64, String)]) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        let _ = draw(&root, chart, marks);
        let _ = root.present();
    }
    out
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    chart: &Chart,
    marks: &[(f64, String)],
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let x_max = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let y_max = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.1;
    let mut c = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    c.configure_mesh()
        .x_desc("seconds")
        .y_desc(chart.y_label.as_str())
        .light_line_style(RGBColor(238, 238, 238))
        .draw()?;
    for (x, label) in marks {
        let grey = RGBColor(170, 170, 170);
        c.draw_series(LineSeries::new(
            [(*x, 0.0), (*x, y_max)],
            grey.stroke_width(1),
        ))?;
        c.draw_series(std::iter::once(Text::new(
            label.clone(),
            (*x + x_max * 0.005, y_max * 0.97),
            ("sans-serif", 11).into_font().color(&grey),
        )))?;
    }
    for s in &chart.series {
        let color = RGBColor(s.color.0, s.color.1, s.color.2);
        c.draw_series(LineSeries::new(
            s.points.iter().copied(),
            color.stroke_width(3),
        ))?
        .label(s.name.as_str())
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(3)));
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A whole page: `title`, `text` as preformatted lines, then the charts.
pub fn page(title: &str, text: &[String], charts: &[Chart], marks: &[(f64, String)]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:16px;background:#fff}}\
         pre{{font-size:12px}} .chart{{margin:8px 0}}</style></head><body><h1>{t}</h1>\n",
        t = escape(title)
    );
    for chart in charts {
        let _ = writeln!(out, "<div class=\"chart\">{}</div>", svg(chart, marks));
    }
    let _ = writeln!(out, "<pre>");
    for line in text {
        let _ = writeln!(out, "{}", escape(line));
    }
    let _ = writeln!(out, "</pre></body></html>");
    out
}

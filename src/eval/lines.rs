//! Line charts in a grid of panels (training curves, ROC and precision-recall curves), PNG and
//! SVG, drawn with `plotters` in the style of the report's other charts.
use super::plot::{
    category_labels, draw_title, fit_text, render_png, render_svg, FONT_FAMILY, MODEL_COLORS,
};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Stroke {
    /// A solid line.
    Line,
    /// A thin, pale line (raw values under a smoothed one).
    Faint,
    /// A line with a dot at every point (evaluations).
    Dots,
    /// A dashed grey line (the diagonal of a ROC chart).
    Reference,
    /// Dots alone, no line (a scatter: one trial of a search per dot).
    Points,
    /// Hollow circles alone (points that count less, e.g. pruned trials).
    OpenPoints,
}

/// How the x axis places values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scale {
    Linear,
    /// Positive values on a log scale (learning rates); ticks show the values themselves.
    Log,
    /// Categories at x = 1, 2, …, n, labelled with these names.
    Categories(Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// Shown in the panel's legend when not empty.
    pub(crate) label: String,
    /// Index into the colour cycle.
    pub(crate) color: usize,
    pub(crate) stroke: Stroke,
    pub(crate) points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Panel {
    pub(crate) title: String,
    pub(crate) x_label: String,
    pub(crate) y_label: String,
    pub(crate) series: Vec<Series>,
    pub(crate) x_scale: Scale,
    /// Fixed ranges (e.g. 0..1 for ROC); otherwise fitted to the data.
    pub(crate) x_range: Option<(f64, f64)>,
    pub(crate) y_range: Option<(f64, f64)>,
    /// Vertical dashed lines with a label (e.g. the best step), in the series' colour.
    pub(crate) marks: Vec<(f64, usize, String)>,
}

/// Panels in a grid under a title and an optional figure-wide legend.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    pub(crate) title: String,
    /// (label, colour index) entries shown under the title.
    pub(crate) legend: Vec<(String, usize)>,
    pub(crate) panels: Vec<Panel>,
    pub(crate) columns: usize,
}

const PANEL_W: u32 = 620;
const PANEL_H: u32 = 400;

pub(crate) fn color(i: usize) -> RGBColor {
    MODEL_COLORS[i % MODEL_COLORS.len()]
}

fn draw_error(e: impl std::fmt::Display) -> Error {
    Error::Config(format!("drawing a line chart: {e}"))
}

fn data_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return None;
    }
    let span = if hi > lo { hi - lo } else { hi.abs().max(1e-3) };
    Some((lo - 0.05 * span, hi + 0.05 * span))
}

/// Tick labels that stay short for tiny and huge values (learning rates, gradient norms).
fn tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

impl Figure {
    fn header_height(&self) -> u32 {
        if self.legend.is_empty() {
            64
        } else {
            100
        }
    }

    fn size(&self) -> (u32, u32) {
        let columns = self.columns.clamp(1, self.panels.len().max(1)) as u32;
        let rows = self.panels.len().div_ceil(columns as usize).max(1) as u32;
        (
            PANEL_W * columns + 20,
            PANEL_H * rows + self.header_height() + 10,
        )
    }

    pub(crate) fn to_png(&self) -> Result<Vec<u8>> {
        let (w, h) = self.size();
        render_png(w, h, |root| self.draw(root))
    }

    pub(crate) fn to_svg(&self) -> Result<String> {
        render_svg(self.size(), |root| self.draw(root))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| draw_error(e);
        root.fill(&WHITE).map_err(err)?;
        let (w, _) = root.dim_in_pixel();
        let (head, body) = root.split_vertically(self.header_height());
        draw_title(&head, &self.title).map_err(err)?;
        if !self.legend.is_empty() {
            legend_row(&head, &self.legend, w as i32 / 2, 72, w as i32 - 40).map_err(err)?;
        }
        let columns = self.columns.clamp(1, self.panels.len().max(1));
        let rows = self.panels.len().div_ceil(columns).max(1);
        let body = body.margin(0, 10, 10, 10);
        for (panel, area) in self.panels.iter().zip(body.split_evenly((rows, columns))) {
            draw_panel(&area, panel).map_err(err)?;
        }
        root.present().map_err(err)?;
        Ok(())
    }
}

/// Legend entries (a line swatch and its label) in one centred row, labels shortened so the
/// row fits in `max_width`.
fn legend_row<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, usize)],
    cx: i32,
    cy: i32,
    max_width: i32,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let font = (FONT_FAMILY, 19).into_font();
    let (swatch, gap, spacing) = (30i32, 8i32, 26i32);
    let room = (max_width / entries.len().max(1) as i32 - swatch - gap - spacing).max(60);
    let labels: Vec<String> = entries
        .iter()
        .map(|(l, _)| fit_text(area, l, &font, room))
        .collect();
    let measure = TextStyle::from(font.clone());
    let widths: Vec<i32> = labels
        .iter()
        .map(|l| area.estimate_text_size(l, &measure).map(|(w, _)| w as i32))
        .collect::<std::result::Result<_, _>>()?;
    let total: i32 = widths
        .iter()
        .map(|w| swatch + gap + w + spacing)
        .sum::<i32>()
        - spacing;
    let mut x = cx - total / 2;
    let style = measure.pos(Pos::new(HPos::Left, VPos::Center));
    for ((label, width), (_, c)) in labels.iter().zip(&widths).zip(entries) {
        area.draw(&PathElement::new(
            vec![(x, cy), (x + swatch, cy)],
            color(*c).stroke_width(4),
        ))?;
        area.draw_text(label, &style, (x + swatch + gap, cy + 1))?;
        x += swatch + gap + width + spacing;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    // On a log scale the chart's x coordinate is log10 of the value.
    let log = panel.x_scale == Scale::Log;
    let to_x = |x: f64| if log { x.log10() } else { x };
    let series: Vec<Vec<(f64, f64)>> = panel
        .series
        .iter()
        .map(|s| s.points.iter().map(|&(x, y)| (to_x(x), y)).collect())
        .collect();
    let points = || series.iter().flatten();
    let x_range = match &panel.x_scale {
        Scale::Categories(names) => Some((0.5, names.len().max(1) as f64 + 0.5)),
        _ => panel
            .x_range
            .map(|(a, b)| (to_x(a), to_x(b)))
            .or_else(|| data_range(points().map(|p| p.0))),
    }
    .unwrap_or((0.0, 1.0));
    let y_range = panel
        .y_range
        .or_else(|| data_range(points().map(|p| p.1)))
        .unwrap_or((0.0, 1.0));
    let (w, _) = area.dim_in_pixel();
    let caption_font = (FONT_FAMILY, 22).into_font();
    let caption = fit_text(area, &panel.title, &caption_font, w as i32 - 20);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, caption_font)
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)?;
    let categories = match &panel.x_scale {
        Scale::Categories(names) => names.as_slice(),
        _ => &[],
    };
    let category_tick = category_labels(categories);
    let x_tick = |v: &f64| match panel.x_scale {
        Scale::Linear => tick(*v),
        Scale::Log => tick(10f64.powf(*v)),
        Scale::Categories(_) => category_tick(v),
    };
    let x_labels = if categories.is_empty() {
        6
    } else {
        // one label per category: plotters puts labels at x_range.len() / n steps
        categories.len() + 1
    };
    let mut mesh = chart.configure_mesh();
    if !categories.is_empty() {
        mesh.disable_x_mesh();
    }
    mesh.x_labels(x_labels)
        .y_labels(6)
        .x_label_formatter(&x_tick)
        .y_label_formatter(&|v| tick(*v))
        .x_label_style((FONT_FAMILY, 16).into_font())
        .y_label_style((FONT_FAMILY, 16).into_font())
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .axis_desc_style((FONT_FAMILY, 18).into_font())
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.1))
        .draw()?;
    let (x_mid, y_span) = ((x_range.0 + x_range.1) / 2.0, y_range.1 - y_range.0);
    for (k, (x, c, label)) in panel.marks.iter().enumerate() {
        let x = &to_x(*x);
        let style = color(*c).mix(0.8).stroke_width(2);
        let dashes = dashed((*x, y_range.0), (*x, y_range.1), 24);
        chart.draw_series(dashes.into_iter().map(|seg| PathElement::new(seg, style)))?;
        if !label.is_empty() {
            // beside the line, on the side with room; several runs' labels one under another
            let (pos, text) = if *x > x_mid {
                (HPos::Right, format!("{label}  "))
            } else {
                (HPos::Left, format!("  {label}"))
            };
            let ink = color(*c);
            let font = TextStyle::from((FONT_FAMILY, 15).into_font())
                .color(&ink)
                .pos(Pos::new(pos, VPos::Top));
            let y = y_range.1 - 0.07 * y_span * k as f64;
            chart.draw_series([Text::new(text, (*x, y), font)])?;
        }
    }
    let mut labelled = false;
    for (s, points) in panel.series.iter().zip(&series) {
        let c = color(s.color);
        let drawn = match s.stroke {
            Stroke::Line => {
                chart.draw_series([PathElement::new(points.clone(), c.stroke_width(3))])?
            }
            Stroke::Faint => {
                chart.draw_series([PathElement::new(points.clone(), c.mix(0.3).stroke_width(1))])?
            }
            Stroke::Dots => {
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
                chart.draw_series([PathElement::new(points.clone(), c.stroke_width(2))])?
            }
            Stroke::Points => chart.draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, 5, c.mix(0.8).filled())),
            )?,
            Stroke::OpenPoints => chart.draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, 5, c.mix(0.9).stroke_width(2))),
            )?,
            Stroke::Reference => {
                let style = BLACK.mix(0.35).stroke_width(1);
                let segs: Vec<Vec<(f64, f64)>> = points
                    .windows(2)
                    .flat_map(|w| dashed(w[0], w[1], 30))
                    .collect();
                chart.draw_series(segs.into_iter().map(|seg| PathElement::new(seg, style)))?
            }
        };
        if !s.label.is_empty() {
            labelled = true;
            let stroke = s.stroke;
            let style = match stroke {
                Stroke::Reference => BLACK.mix(0.35).stroke_width(2),
                Stroke::Faint => c.mix(0.45).stroke_width(2),
                Stroke::OpenPoints => c.stroke_width(2),
                _ => c.stroke_width(3),
            };
            drawn.label(s.label.clone()).legend(move |(x, y)| {
                // a dot for a scatter, a line for a line
                match stroke {
                    Stroke::Points => Circle::new((x + 11, y), 5, style.color.filled()).into_dyn(),
                    Stroke::OpenPoints => Circle::new((x + 11, y), 5, style).into_dyn(),
                    _ => PathElement::new(vec![(x, y), (x + 22, y)], style).into_dyn(),
                }
            });
        }
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(emptiest_corner(&series, x_range, y_range))
            .label_font((FONT_FAMILY, 15).into_font())
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.2))
            .draw()?;
    }
    Ok(())
}

/// The legend's corner: the one whose quarter of the plot holds the fewest points (the lower
/// right first among equals), so that the legend hides as little data as it can.
fn emptiest_corner(
    series: &[Vec<(f64, f64)>],
    x: (f64, f64),
    y: (f64, f64),
) -> SeriesLabelPosition {
    let count = |right: bool, upper: bool| {
        series
            .iter()
            .flatten()
            .filter(|(px, py)| {
                let fx = (px - x.0) / (x.1 - x.0);
                let fy = (py - y.0) / (y.1 - y.0);
                (if right { fx > 0.55 } else { fx < 0.45 })
                    && (if upper { fy > 0.6 } else { fy < 0.4 })
            })
            .count()
    };
    let corners = [(true, false), (true, true), (false, false), (false, true)];
    let (right, upper) = corners
        .into_iter()
        .min_by_key(|(r, u)| count(*r, *u))
        .unwrap_or((true, false));
    match (right, upper) {
        (true, false) => SeriesLabelPosition::LowerRight,
        (true, true) => SeriesLabelPosition::UpperRight,
        (false, false) => SeriesLabelPosition::LowerLeft,
        (false, true) => SeriesLabelPosition::UpperLeft,
    }
}

/// A line from `a` to `b` cut into `pieces` dashes.
fn dashed(a: (f64, f64), b: (f64, f64), pieces: usize) -> Vec<Vec<(f64, f64)>> {
    let at = |t: f64| (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
    (0..pieces)
        .map(|i| {
            let t = i as f64 / pieces as f64;
            vec![at(t), at(t + 0.5 / pieces as f64)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_stay_short() {
        assert_eq!(tick(0.0005), "5.0e-4");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(12.0), "12");
        assert_eq!(tick(0.0), "0");
    }

    #[test]
    fn the_legend_goes_where_the_points_are_not() {
        let corner = |points: Vec<(f64, f64)>| {
            format!("{:?}", emptiest_corner(&[points], (0.0, 1.0), (0.0, 1.0)))
        };
        assert_eq!(corner(vec![(0.1, 0.9)]), "LowerRight");
        assert_eq!(corner(vec![(0.9, 0.1), (0.1, 0.1)]), "UpperRight");
        assert_eq!(
            corner(vec![(0.9, 0.1), (0.9, 0.9), (0.1, 0.9)]),
            "LowerLeft"
        );
    }

    #[test]
    fn draws_png_and_svg() {
        let figure = Figure {
            title: "a title".into(),
            legend: vec![("run".into(), 0)],
            panels: vec![Panel {
                title: "loss".into(),
                x_label: "step".into(),
                y_label: "loss".into(),
                series: vec![Series {
                    label: "loss".into(),
                    color: 0,
                    stroke: Stroke::Line,
                    points: vec![(1.0, 0.7), (2.0, 0.5)],
                }],
                x_scale: Scale::Linear,
                x_range: None,
                y_range: None,
                marks: vec![(2.0, 0, "best".into())],
            }],
            columns: 2,
        };
        let png = figure.to_png().unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
        assert!(figure.to_svg().unwrap().contains("<svg"));
    }
}

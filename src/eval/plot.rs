//! Charts of the evaluation report: grouped box plots (PNG and SVG) and confusion-matrix
//! heatmaps (PNG), drawn with `plotters`.
//!
//! Text in PNGs is rendered by `ab_glyph` from a font embedded in the binary (a subset of
//! DejaVu Sans, `assets/fonts/`), so no system fonts, fontconfig or freetype are needed.
//! SVGs name the family `sans-serif` and leave the glyphs to the viewer.
//!
//! Box plots follow matplotlib's `boxplot` defaults: the box spans the quartiles (NumPy's
//! linear percentiles), the line is the median, the whiskers reach the most extreme data
//! points within 1.5 × IQR of the box, and the points beyond them are drawn as outliers
//! (hollow circles). A dark triangle marks the mean (matplotlib's `showmeans=True`).
use crate::error::{Error, Result};
use crate::eval::stats::{percentile, sorted};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::sync::Once;

/// The family name under which the embedded font is registered (also what SVGs ask for).
pub(crate) const FONT_FAMILY: &str = "sans-serif";

static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-LatinGreek.ttf");

fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is part of the binary and known to parse; see `font_parses`.
            let _ = plotters::style::register_font(FONT_FAMILY, style, FONT_BYTES);
        }
    });
}

fn draw_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("drawing {what}: {e}"))
}

/// Name of the base model in the report and its charts.
pub(crate) const BASE: &str = "base";
/// Name of the tuned model in the report and its charts.
pub(crate) const TUNED: &str = "tuned";

/// Colours of the models' boxes (matplotlib's tab:blue, tab:orange, tab:green, …).
pub(crate) const MODEL_COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Box-plot statistics of one sample, as matplotlib's `cbook.boxplot_stats(x, whis=1.5)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BoxStats {
    pub(crate) q1: f64,
    pub(crate) median: f64,
    pub(crate) q3: f64,
    pub(crate) whisker_low: f64,
    pub(crate) whisker_high: f64,
    pub(crate) outliers: Vec<f64>,
    pub(crate) mean: f64,
    pub(crate) n: usize,
}

impl BoxStats {
    /// `None` when there are no finite values (non-finite values are ignored).
    pub(crate) fn new(values: &[f64]) -> Option<BoxStats> {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return None;
        }
        let s = sorted(&finite);
        let (q1, median, q3) = (
            percentile(&s, 25.0),
            percentile(&s, 50.0),
            percentile(&s, 75.0),
        );
        let iqr = q3 - q1;
        let (lo_limit, hi_limit) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
        let whisker_high = s
            .iter()
            .copied()
            .filter(|v| *v <= hi_limit)
            .fold(f64::NEG_INFINITY, f64::max);
        let whisker_high = if whisker_high < q3 { q3 } else { whisker_high };
        let whisker_low = s
            .iter()
            .copied()
            .filter(|v| *v >= lo_limit)
            .fold(f64::INFINITY, f64::min);
        let whisker_low = if whisker_low > q1 { q1 } else { whisker_low };
        let outliers = s
            .iter()
            .copied()
            .filter(|v| *v < whisker_low || *v > whisker_high)
            .collect();
        Some(BoxStats {
            q1,
            median,
            q3,
            whisker_low,
            whisker_high,
            outliers,
            mean: crate::eval::stats::mean(&s),
            n: s.len(),
        })
    }
}

/// One group of boxes: a metric and its per-example values for each model.
#[derive(Debug, Clone)]
pub(crate) struct MetricSeries {
    pub(crate) metric: String,
    /// `values[model]`: per-example values, in the order of [`Boxplot::models`].
    pub(crate) values: Vec<Vec<f64>>,
}

/// A grouped box plot: metrics on the x axis, one box per model in each group.
#[derive(Debug, Clone)]
pub(crate) struct Boxplot {
    pub(crate) title: String,
    /// Under the groups (e.g. "metric").
    pub(crate) x_label: String,
    pub(crate) y_label: String,
    pub(crate) models: Vec<String>,
    pub(crate) metrics: Vec<MetricSeries>,
}

impl Boxplot {
    fn size(&self) -> (u32, u32) {
        let longest = self
            .metrics
            .iter()
            .map(|m| m.metric.chars().count())
            .max()
            .unwrap_or(0) as u32;
        let group = (60 * self.models.len() as u32)
            .max(longest * 11 + 30)
            .max(170);
        ((190 + group * self.metrics.len() as u32).max(640), 660)
    }

    fn y_range(&self) -> (f64, f64) {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in self.metrics.iter().flat_map(|m| m.values.iter().flatten()) {
            if v.is_finite() {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
        }
        if !lo.is_finite() {
            return (0.0, 1.0);
        }
        // Scores in [0, 1] get the whole unit range.
        if lo >= 0.0 && hi <= 1.0 {
            lo = 0.0;
            hi = 1.0;
        }
        let span = if hi > lo { hi - lo } else { hi.abs().max(1.0) };
        (lo - 0.04 * span, hi + 0.04 * span)
    }

    /// Renders the plot as a PNG file's bytes.
    pub(crate) fn to_png(&self) -> Result<Vec<u8>> {
        let (w, h) = self.size();
        render_png(w, h, |root| self.draw(root))
    }

    /// Renders the plot as an SVG document.
    pub(crate) fn to_svg(&self) -> Result<String> {
        render_svg(self.size(), |root| self.draw(root))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| draw_error("box plot", e);
        root.fill(&WHITE).map_err(err)?;
        let k = self.metrics.len().max(1);
        let m = self.models.len().max(1);
        let (y_lo, y_hi) = self.y_range();
        let (w, _) = root.dim_in_pixel();

        // Title and legend above the plot, so that they never hide data.
        let (head, body) = root.split_vertically(88);
        let title =
            TextStyle::from((FONT_FAMILY, 30).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        let fitted = fit_text(
            &head,
            &self.title,
            &(FONT_FAMILY, 30).into_font(),
            w as i32 - 40,
        );
        head.draw_text(&fitted, &title, (w as i32 / 2, 14))
            .map_err(err)?;
        self.draw_legend(&head, w as i32 / 2, 68).map_err(err)?;

        let mut chart = ChartBuilder::on(&body)
            .margin(24)
            .margin_top(8)
            .x_label_area_size(56)
            .y_label_area_size(84)
            .build_cartesian_2d(0.5f64..k as f64 + 0.5, y_lo..y_hi)
            .map_err(err)?;
        let names: Vec<String> = self.metrics.iter().map(|s| s.metric.clone()).collect();
        let x_fmt = category_labels(&names);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(k)
            .x_label_formatter(&x_fmt)
            .x_label_style((FONT_FAMILY, 20).into_font())
            .y_labels(8)
            .y_label_style((FONT_FAMILY, 18).into_font())
            .y_label_formatter(&|v| format_tick(*v))
            .y_desc(&self.y_label)
            .x_desc(self.x_label.as_str())
            .axis_desc_style((FONT_FAMILY, 21).into_font())
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(err)?;

        let slot = 0.8 / m as f64;
        // Boxes at most ~90 px wide however few metrics there are.
        let px_per_unit = chart.plotting_area().dim_in_pixel().0 as f64 / k as f64;
        let half = (slot * 0.36).min(45.0 / px_per_unit);
        for (gi, series) in self.metrics.iter().enumerate() {
            for (mi, values) in series.values.iter().enumerate().take(m) {
                let Some(b) = BoxStats::new(values) else {
                    continue;
                };
                let color = MODEL_COLORS[mi % MODEL_COLORS.len()];
                let x = (gi + 1) as f64 + (mi as f64 - (m as f64 - 1.0) / 2.0) * slot;
                let edge = color.mix(1.0).stroke_width(2);
                let dark = BLACK.stroke_width(2);
                chart
                    .draw_series([
                        Rectangle::new(
                            [(x - half, b.q1), (x + half, b.q3)],
                            color.mix(0.45).filled(),
                        ),
                        Rectangle::new([(x - half, b.q1), (x + half, b.q3)], edge),
                    ])
                    .map_err(err)?;
                let cap = half * 0.5;
                let lines = [
                    vec![(x, b.q3), (x, b.whisker_high)],
                    vec![(x, b.q1), (x, b.whisker_low)],
                    vec![(x - cap, b.whisker_high), (x + cap, b.whisker_high)],
                    vec![(x - cap, b.whisker_low), (x + cap, b.whisker_low)],
                ];
                chart
                    .draw_series(lines.into_iter().map(|pts| PathElement::new(pts, edge)))
                    .map_err(err)?;
                chart
                    .draw_series([PathElement::new(
                        vec![(x - half, b.median), (x + half, b.median)],
                        dark,
                    )])
                    .map_err(err)?;
                chart
                    .draw_series(
                        b.outliers
                            .iter()
                            .map(|&v| Circle::new((x, v), 3, color.stroke_width(1))),
                    )
                    .map_err(err)?;
                chart
                    .draw_series([TriangleMarker::new((x, b.mean), 7, MEAN_COLOR.filled())])
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
        Ok(())
    }

    /// One row of legend entries centred on `(cx, cy)`: a swatch per model, then the mean marker.
    fn draw_legend<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        cx: i32,
        cy: i32,
    ) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let font =
            TextStyle::from((FONT_FAMILY, 20).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        let (swatch, gap, spacing) = (26i32, 8i32, 28i32);
        let mut labels: Vec<&str> = self.models.iter().map(String::as_str).collect();
        labels.push("mean");
        let widths: Vec<i32> = labels
            .iter()
            .map(|l| area.estimate_text_size(l, &font).map(|(w, _)| w as i32))
            .collect::<std::result::Result<_, _>>()?;
        let total: i32 = widths.iter().map(|w| swatch + gap + w).sum::<i32>()
            + spacing * (labels.len() as i32 - 1);
        let mut x = cx - total / 2;
        for (i, (label, width)) in labels.iter().zip(&widths).enumerate() {
            if i < self.models.len() {
                let color = MODEL_COLORS[i % MODEL_COLORS.len()];
                area.draw(&Rectangle::new(
                    [(x, cy - 8), (x + swatch, cy + 8)],
                    color.mix(0.45).filled(),
                ))?;
                area.draw(&Rectangle::new(
                    [(x, cy - 8), (x + swatch, cy + 8)],
                    color.stroke_width(2),
                ))?;
            } else {
                area.draw(&TriangleMarker::new(
                    (x + swatch / 2, cy),
                    7,
                    MEAN_COLOR.filled(),
                ))?;
            }
            area.draw_text(label, &font, (x + swatch + gap, cy + 2))?;
            x += swatch + gap + width + spacing;
        }
        Ok(())
    }
}

/// Colour of the mean markers.
const MEAN_COLOR: RGBColor = RGBColor(40, 40, 40);

/// Tick labels without float noise (`0.30000000000000004` → `0.3`).
fn format_tick(v: f64) -> String {
    let s = format!("{:.6}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// The title of a figure, centred at the top of `head` and shortened to fit its width.
pub(crate) fn draw_title<DB: DrawingBackend>(
    head: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, _) = head.dim_in_pixel();
    let font = (FONT_FAMILY, 28).into_font();
    let fitted = fit_text(head, title, &font, w as i32 - 40);
    head.draw_text(
        &fitted,
        &TextStyle::from(font).pos(Pos::new(HPos::Center, VPos::Top)),
        (w as i32 / 2, 14),
    )
}

/// Tick labels of a categorical x axis whose categories sit at 1, 2, …, `names.len()`.
pub(crate) fn category_labels(names: &[String]) -> impl Fn(&f64) -> String + '_ {
    move |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 1.0 && (i as usize) <= names.len() {
            names[i as usize - 1].clone()
        } else {
            String::new()
        }
    }
}

/// `text`, shortened from the left with "…" until it fits in `max_width` pixels (a long model
/// path keeps its end, the part that names the model).
pub(crate) fn fit_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    font: &FontDesc,
    max_width: i32,
) -> String {
    let style = TextStyle::from(font.clone());
    let width = |t: &str| {
        area.estimate_text_size(t, &style)
            .map(|(w, _)| w as i32)
            .unwrap_or(i32::MAX)
    };
    if width(text) <= max_width {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    for skip in 1..chars.len() {
        let candidate: String = std::iter::once('…')
            .chain(chars[skip..].iter().copied())
            .collect();
        if width(&candidate) <= max_width {
            return candidate;
        }
    }
    "…".into()
}

/// Renders a chart as an SVG document (text in the viewer's sans-serif).
pub(crate) fn render_svg<F>(size: (u32, u32), draw: F) -> Result<String>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
{
    ensure_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(|e| draw_error("SVG", e))?;
    }
    Ok(out)
}

pub(crate) fn render_png<F>(w: u32, h: u32, draw: F) -> Result<Vec<u8>>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
{
    ensure_font();
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(&root)?;
    }
    encode_png(&buf, w, h)
}

/// Encodes 8-bit RGB pixels as a PNG.
pub(crate) fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Best);
        let mut writer = encoder.write_header().map_err(|e| draw_error("PNG", e))?;
        writer
            .write_image_data(rgb)
            .map_err(|e| draw_error("PNG", e))?;
        writer.finish().map_err(|e| draw_error("PNG", e))?;
    }
    Ok(out)
}

/// One heatmap of a confusion-matrix figure.
#[derive(Debug, Clone)]
pub(crate) struct ConfusionPanel {
    /// Title above the heatmap (e.g. `"base (accuracy 0.812)"`).
    pub(crate) title: String,
    /// `matrix[true][predicted]`.
    pub(crate) matrix: Vec<Vec<usize>>,
}

/// matplotlib's "Blues" colormap, sampled at 9 points.
const BLUES: [(u8, u8, u8); 9] = [
    (247, 251, 255),
    (222, 235, 247),
    (198, 219, 239),
    (158, 202, 225),
    (107, 174, 214),
    (66, 146, 198),
    (33, 113, 181),
    (8, 81, 156),
    (8, 48, 107),
];

pub(crate) fn blues(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0) * (BLUES.len() - 1) as f64;
    let i = (t.floor() as usize).min(BLUES.len() - 2);
    let f = t - i as f64;
    let (a, b) = (BLUES[i], BLUES[i + 1]);
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn truncate_label(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Confusion matrices side by side (one panel per model), rows = true class, columns =
/// predicted class, each cell showing its count, coloured by the count relative to its row
/// (so the diagonal reads as per-class recall), as a PNG file's bytes.
pub(crate) fn confusion_png(
    title: &str,
    panels: &[ConfusionPanel],
    class_names: &[String],
) -> Result<Vec<u8>> {
    let c = class_names.len();
    if c == 0 || panels.is_empty() {
        return Err(Error::Config(
            "confusion plot: no classes or no panels".into(),
        ));
    }
    for p in panels {
        if p.matrix.len() != c || p.matrix.iter().any(|row| row.len() != c) {
            return Err(Error::Config(format!(
                "confusion plot: matrix '{}' is not {c}×{c}",
                p.title
            )));
        }
    }
    let names: Vec<String> = class_names.iter().map(|n| truncate_label(n, 24)).collect();
    let cell = (480 / c as u32).clamp(28, 110);
    let grid = cell * c as u32;
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(1) as u32;
    let label_px = longest * 10 + 16; // generous estimate at 17 px
    let rotate_x = label_px > cell;
    let left = 44 + label_px;
    let bottom = 52 + if rotate_x { label_px } else { 26 };
    let top = 44;
    let panel_w = left + grid + 40;
    let panel_h = top + grid + bottom;
    let (w, h) = (panel_w * panels.len() as u32 + 20, panel_h + 70);
    render_png(w, h, |root| {
        let err_b = |e: DrawingAreaErrorKind<<BitMapBackend as DrawingBackend>::ErrorType>| {
            draw_error("confusion matrix", e)
        };
        root.fill(&WHITE).map_err(err_b)?;
        let title_style =
            TextStyle::from((FONT_FAMILY, 28).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        let title = fit_text(root, title, &(FONT_FAMILY, 28).into_font(), w as i32 - 30);
        root.draw_text(&title, &title_style, (w as i32 / 2, 16))
            .map_err(err_b)?;
        let body = root.margin(70, 0, 10, 10);
        let areas = body.split_evenly((1, panels.len()));
        let font_size = if cell >= 60 {
            22
        } else if cell >= 40 {
            17
        } else {
            13
        };
        for (panel, area) in panels.iter().zip(areas) {
            let x0 = left as i32;
            let y0 = top as i32;
            let caption = TextStyle::from((FONT_FAMILY, 22).into_font())
                .pos(Pos::new(HPos::Center, VPos::Top));
            area.draw_text(&panel.title, &caption, (x0 + grid as i32 / 2, 4))
                .map_err(err_b)?;
            for (t, row) in panel.matrix.iter().enumerate() {
                let row_total: usize = row.iter().sum();
                for (p, &count) in row.iter().enumerate() {
                    let frac = if row_total > 0 {
                        count as f64 / row_total as f64
                    } else {
                        0.0
                    };
                    let (cx, cy) = (x0 + (p as u32 * cell) as i32, y0 + (t as u32 * cell) as i32);
                    area.draw(&Rectangle::new(
                        [(cx, cy), (cx + cell as i32, cy + cell as i32)],
                        blues(frac).filled(),
                    ))
                    .map_err(err_b)?;
                    area.draw(&Rectangle::new(
                        [(cx, cy), (cx + cell as i32, cy + cell as i32)],
                        WHITE.stroke_width(1),
                    ))
                    .map_err(err_b)?;
                    let ink = if frac > 0.5 { WHITE } else { BLACK };
                    let style = TextStyle::from((FONT_FAMILY, font_size).into_font())
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    area.draw_text(
                        &count.to_string(),
                        &style,
                        (cx + cell as i32 / 2, cy + cell as i32 / 2),
                    )
                    .map_err(err_b)?;
                }
            }
            area.draw(&Rectangle::new(
                [(x0, y0), (x0 + grid as i32, y0 + grid as i32)],
                BLACK.mix(0.6).stroke_width(1),
            ))
            .map_err(err_b)?;
            // Class names: rows on the left, columns below.
            let tick = TextStyle::from((FONT_FAMILY, 17).into_font());
            for (i, name) in names.iter().enumerate() {
                let mid = (i as u32 * cell + cell / 2) as i32;
                area.draw_text(
                    name,
                    &tick.pos(Pos::new(HPos::Right, VPos::Center)),
                    (x0 - 8, y0 + mid),
                )
                .map_err(err_b)?;
                let below = y0 + grid as i32 + 8;
                if rotate_x {
                    let style = tick
                        .transform(FontTransform::Rotate270)
                        .pos(Pos::new(HPos::Right, VPos::Center));
                    area.draw_text(name, &style, (x0 + mid, below))
                        .map_err(err_b)?;
                } else {
                    area.draw_text(
                        name,
                        &tick.pos(Pos::new(HPos::Center, VPos::Top)),
                        (x0 + mid, below),
                    )
                    .map_err(err_b)?;
                }
            }
            let axis = TextStyle::from((FONT_FAMILY, 20).into_font());
            area.draw_text(
                "predicted class",
                &axis.pos(Pos::new(HPos::Center, VPos::Bottom)),
                (x0 + grid as i32 / 2, panel_h as i32 - 6),
            )
            .map_err(err_b)?;
            area.draw_text(
                "true class",
                &axis
                    .transform(FontTransform::Rotate270)
                    .pos(Pos::new(HPos::Center, VPos::Top)),
                (6, y0 + grid as i32 / 2),
            )
            .map_err(err_b)?;
        }
        root.present().map_err(err_b)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn font_parses() {
        assert!(
            plotters::style::register_font("loratune-test", FontStyle::Normal, FONT_BYTES).is_ok()
        );
    }

    #[test]
    fn box_stats_match_matplotlib() {
        // matplotlib.cbook.boxplot_stats([1, 2, 3, 4, 5, 6, 7, 8, 9, 40])[0]
        // q1=3.25 med=5.5 q3=7.75 whislo=1 whishi=9 fliers=[40]
        let b = BoxStats::new(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 40.0]).unwrap();
        assert_eq!((b.q1, b.median, b.q3), (3.25, 5.5, 7.75));
        assert_eq!((b.whisker_low, b.whisker_high), (1.0, 9.0));
        assert_eq!(b.outliers, vec![40.0]);
        let single = BoxStats::new(&[0.5]).unwrap();
        assert_eq!((single.whisker_low, single.whisker_high), (0.5, 0.5));
        assert!(BoxStats::new(&[f64::NAN]).is_none());
    }

    #[test]
    fn colormap_ends() {
        assert_eq!(blues(0.0), RGBColor(247, 251, 255));
        assert_eq!(blues(1.0), RGBColor(8, 48, 107));
    }

    #[test]
    fn tick_format() {
        assert_eq!(format_tick(0.30000000000000004), "0.3");
        assert_eq!(format_tick(1.0), "1");
        assert_eq!(format_tick(-0.0), "0");
    }
}

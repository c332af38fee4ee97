//! Grouped bar charts with error bars (classification metrics of base and tuned with their
//! bootstrap intervals), PNG, drawn with `plotters` like the report's other charts.
use super::plot::{category_labels, draw_title, render_png, render_svg, FONT_FAMILY, MODEL_COLORS};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One bar: its value and interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bar {
    pub(crate) value: f64,
    pub(crate) low: f64,
    pub(crate) high: f64,
}

/// Groups of bars on a 0..1 scale: `groups[g]` = (name, one bar per model).
#[derive(Debug, Clone)]
pub(crate) struct Bars {
    pub(crate) title: String,
    pub(crate) y_label: String,
    pub(crate) models: Vec<String>,
    pub(crate) groups: Vec<(String, Vec<Bar>)>,
}

impl Bars {
    fn size(&self) -> (u32, u32) {
        let per_group = (110 * self.models.len() as u32).max(190);
        ((160 + per_group * self.groups.len() as u32).max(700), 560)
    }

    pub(crate) fn to_png(&self) -> Result<Vec<u8>> {
        let (w, h) = self.size();
        render_png(w, h, |root| self.draw(root))
    }

    pub(crate) fn to_svg(&self) -> Result<String> {
        render_svg(self.size(), |root| self.draw(root))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| {
            Error::Config(format!("drawing a bar chart: {e}"))
        };
        root.fill(&WHITE).map_err(err)?;
        let (w, _) = root.dim_in_pixel();
        let (head, body) = root.split_vertically(96);
        draw_title(&head, &self.title).map_err(err)?;
        // legend: a swatch per model
        let font = (FONT_FAMILY, 20).into_font();
        let mut x = w as i32 / 2 - 90 * self.models.len() as i32;
        for (i, model) in self.models.iter().enumerate() {
            let c = MODEL_COLORS[i % MODEL_COLORS.len()];
            head.draw(&Rectangle::new(
                [(x, 62), (x + 26, 78)],
                c.mix(0.75).filled(),
            ))
            .map_err(err)?;
            head.draw_text(
                model,
                &TextStyle::from(font.clone()).pos(Pos::new(HPos::Left, VPos::Center)),
                (x + 34, 71),
            )
            .map_err(err)?;
            x += 180;
        }
        let k = self.groups.len().max(1);
        let m = self.models.len().max(1);
        let mut chart = ChartBuilder::on(&body)
            .margin(20)
            .margin_top(4)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(0.5f64..k as f64 + 0.5, 0f64..1.08)
            .map_err(err)?;
        let names: Vec<String> = self.groups.iter().map(|g| g.0.clone()).collect();
        let x_fmt = category_labels(&names);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(k)
            .x_label_formatter(&x_fmt)
            .x_label_style((FONT_FAMILY, 20).into_font())
            .y_labels(6)
            .y_label_formatter(&|v| format!("{v:.1}"))
            .y_label_style((FONT_FAMILY, 17).into_font())
            .y_desc(self.y_label.as_str())
            .axis_desc_style((FONT_FAMILY, 19).into_font())
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.1))
            .draw()
            .map_err(err)?;
        let slot = 0.8 / m as f64;
        let half = slot * 0.42;
        for (g, (_, bars)) in self.groups.iter().enumerate() {
            for (i, bar) in bars.iter().enumerate().take(m) {
                let c = MODEL_COLORS[i % MODEL_COLORS.len()];
                let x = (g + 1) as f64 + (i as f64 - (m as f64 - 1.0) / 2.0) * slot;
                chart
                    .draw_series([Rectangle::new(
                        [(x - half, 0.0), (x + half, bar.value)],
                        c.mix(0.75).filled(),
                    )])
                    .map_err(err)?;
                if bar.low.is_finite() && bar.high.is_finite() {
                    let ink = BLACK.stroke_width(2);
                    let cap = half * 0.35;
                    let lines = [
                        vec![(x, bar.low), (x, bar.high)],
                        vec![(x - cap, bar.low), (x + cap, bar.low)],
                        vec![(x - cap, bar.high), (x + cap, bar.high)],
                    ];
                    chart
                        .draw_series(lines.into_iter().map(|l| PathElement::new(l, ink)))
                        .map_err(err)?;
                }
                let top = if bar.high.is_finite() {
                    bar.high
                } else {
                    bar.value
                };
                let label = TextStyle::from((FONT_FAMILY, 17).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Bottom));
                chart
                    .draw_series([Text::new(
                        format!("{:.3}", bar.value),
                        (x, (top + 0.012).min(1.07)),
                        label,
                    )])
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws() {
        let bar = Bar {
            value: 0.5,
            low: 0.4,
            high: 0.6,
        };
        let png = Bars {
            title: "t".into(),
            y_label: "score".into(),
            models: vec!["base".into(), "tuned".into()],
            groups: vec![("accuracy".into(), vec![bar, bar])],
        }
        .to_png()
        .unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
    }
}

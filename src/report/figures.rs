//! Drawing the report's figures with plotters: line charts, latent scatter plots, confusion
//! matrices and grids of digit images. Charts are written as PNG and SVG; scatter plots and
//! image grids (thousands of marks or pixels) as PNG only.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::data::IMAGE_SIDE;

/// The ten digit colours (matplotlib's tab10), used by every plot coloured by label.
pub const DIGIT_COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

const FONT: &str = "sans-serif";

/// TrueType fonts tried in order (Debian's fonts-dejavu-core, then Liberation).
const FONT_FILES: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
];

#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    #[error(
        "no TrueType font found (tried {0}); install one, e.g. `apt-get install fonts-dejavu-core`"
    )]
    NoFont(String),
    #[error("{path}: {message}")]
    Draw { path: PathBuf, message: String },
}

/// Registers a system font for plotters' text (once per process).
pub fn register_font() -> Result<(), FigureError> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for file in FONT_FILES {
                if let Ok(bytes) = std::fs::read(file) {
                    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                    if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_ok() {
                        let _ = plotters::style::register_font(FONT, FontStyle::Bold, bytes);
                        return Ok(());
                    }
                }
            }
            Err(FONT_FILES.join(", "))
        })
        .clone()
        .map_err(FigureError::NoFont)
}

fn draw_err(path: &Path, e: impl std::fmt::Display) -> FigureError {
    FigureError::Draw {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn font(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}

/// Draws `$body` (with `$root` bound to the whole drawing area) into `<stem>.png` and, when
/// `$svg`, `<stem>.svg`; evaluates to the PNG's path. A macro, because the body is generic over
/// the two plotters backends.
macro_rules! figure {
    ($stem:expr, $size:expr, $svg:expr, |$root:ident| $body:block) => {{
        register_font()?;
        let png = $stem.with_extension("png");
        if let Some(dir) = png.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| draw_err(&png, e))?;
        }
        {
            let $root = BitMapBackend::new(&png, $size).into_drawing_area();
            $root.fill(&WHITE).map_err(|e| draw_err(&png, e))?;
            (|| -> Result<(), String> { $body })().map_err(|e| draw_err(&png, e))?;
            $root.present().map_err(|e| draw_err(&png, e))?;
        }
        if $svg {
            let path = $stem.with_extension("svg");
            let $root = SVGBackend::new(&path, $size).into_drawing_area();
            $root.fill(&WHITE).map_err(|e| draw_err(&path, e))?;
            (|| -> Result<(), String> { $body })().map_err(|e| draw_err(&path, e))?;
            $root.present().map_err(|e| draw_err(&path, e))?;
        }
        Ok(png)
    }};
}

/// One curve of a line chart.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
}

/// One panel of a line chart.
pub struct LinePanel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Where the legend goes (where the curves are not).
    pub legend: SeriesLabelPosition,
}

/// Tick labels without trailing zeros: "20", "0.25", "1e-05" stays readable.
fn tick(v: &f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.06).max(1e-9);
    (lo - pad)..(hi + pad)
}

fn draw_line_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &LinePanel,
) -> Result<(), String> {
    let xs = padded_range(
        panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0)),
    );
    let ys = padded_range(
        panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1)),
    );
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, font(20.0))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d(xs, ys)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style(font(13.0))
        .axis_desc_style(font(15.0))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| e.to_string())?;
    for s in &panel.series {
        let color = s.color;
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(&s.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        if s.points.len() <= 12 {
            chart
                .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(|e| e.to_string())?;
        }
    }
    chart
        .configure_series_labels()
        .position(panel.legend.clone())
        .label_font(font(14.0))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(|e| e.to_string())
}

/// Line chart panels side by side (`columns` per row), PNG and SVG.
pub fn line_chart(
    stem: &Path,
    title: &str,
    panels: &[LinePanel],
    columns: usize,
) -> Result<PathBuf, FigureError> {
    let rows = panels.len().div_ceil(columns);
    let size = (520 * columns as u32, 40 + 380 * rows as u32);
    figure!(stem, size, true, |root| {
        let (top, body) = root.split_vertically(40);
        top.titled(title, font(24.0)).map_err(|e| e.to_string())?;
        for (area, panel) in body.split_evenly((rows, columns)).iter().zip(panels) {
            draw_line_panel(area, panel)?;
        }
        Ok(())
    })
}

/// One scatter panel: 2-D points coloured by digit label.
pub struct ScatterPanel<'a> {
    pub title: String,
    pub xy: &'a [f32],
    pub labels: &'a [u8],
    /// [x0, x1, y0, y1] shown.
    pub bounds: [f32; 4],
}

fn draw_scatter_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &ScatterPanel,
) -> Result<(), String> {
    let [x0, x1, y0, y1] = panel.bounds.map(f64::from);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, font(19.0))
        .margin(10)
        .x_label_area_size(34)
        .y_label_area_size(46)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style(font(12.0))
        .light_line_style(RGBColor(240, 240, 240))
        .draw()
        .map_err(|e| e.to_string())?;
    let inside = |x: f64, y: f64| x >= x0 && x <= x1 && y >= y0 && y <= y1;
    chart
        .draw_series(
            panel
                .xy
                .chunks_exact(2)
                .zip(panel.labels)
                .map(|(p, &l)| (f64::from(p[0]), f64::from(p[1]), l))
                .filter(|&(x, y, _)| inside(x, y))
                .map(|(x, y, l)| {
                    Circle::new((x, y), 2, DIGIT_COLORS[l as usize % 10].mix(0.55).filled())
                }),
        )
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Scatter panels in one row with a shared digit legend on the right (PNG).
pub fn scatter_row(
    stem: &Path,
    title: &str,
    panels: &[ScatterPanel],
) -> Result<PathBuf, FigureError> {
    let legend_width = 90;
    let size = (470 * panels.len() as u32 + legend_width, 520);
    figure!(stem, size, false, |root| {
        let (top, body) = root.split_vertically(40);
        top.titled(title, font(24.0)).map_err(|e| e.to_string())?;
        let (plots, legend) = body.split_horizontally(470 * panels.len() as u32);
        for (area, panel) in plots.split_evenly((1, panels.len())).iter().zip(panels) {
            draw_scatter_panel(area, panel)?;
        }
        draw_digit_legend(&legend)
    })
}

fn draw_digit_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> Result<(), String> {
    area.draw(&Text::new("digit", (14, 60), font(16.0)))
        .map_err(|e| e.to_string())?;
    for (d, color) in DIGIT_COLORS.iter().enumerate() {
        let y = 90 + 30 * d as i32;
        area.draw(&Circle::new((22, y), 7, color.filled()))
            .map_err(|e| e.to_string())?;
        area.draw(&Text::new(d.to_string(), (38, y - 9), font(17.0)))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn draw_confusion<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    counts: &[Vec<u32>],
) -> Result<(), String> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let n = counts.len() as i32;
    // Segmented axes: one segment per class, tick labels centred on the cells. The y axis runs
    // upwards, so true class t sits in segment n - 1 - t (class 0 on top).
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(19.0))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(52)
        .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())
        .map_err(|e| e.to_string())?;
    let label = move |flip: bool| {
        move |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(c) if (0..n).contains(c) => {
                (if flip { n - 1 - c } else { *c }).to_string()
            }
            _ => String::new(),
        }
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(n as usize + 1)
        .y_labels(n as usize + 1)
        .x_label_formatter(&label(false))
        .y_label_formatter(&label(true))
        .x_desc("predicted")
        .y_desc("true")
        .label_style(font(13.0))
        .axis_desc_style(font(15.0))
        .draw()
        .map_err(|e| e.to_string())?;
    for (t, row) in counts.iter().enumerate() {
        let total = row.iter().sum::<u32>().max(1) as f64;
        let y = n - 1 - t as i32;
        for (p, &c) in row.iter().enumerate() {
            let p = p as i32;
            let share = c as f64 / total;
            // White to dark blue by the share of the true class (square root: errors show).
            let shade = |full: u8| (255.0 - (255.0 - f64::from(full)) * share.sqrt()) as u8;
            let color = RGBColor(shade(8), shade(48), shade(107));
            chart
                .draw_series([Rectangle::new(
                    [
                        (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                    ],
                    color.filled(),
                )])
                .map_err(|e| e.to_string())?;
            let text_color = if share > 0.45 { WHITE } else { BLACK };
            let style = font(12.0)
                .color(&text_color)
                .pos(Pos::new(HPos::Center, VPos::Center));
            chart
                .draw_series([Text::new(
                    c.to_string(),
                    (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                    style,
                )])
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Confusion matrices side by side (rows: true class, columns: predicted), PNG and SVG.
pub fn confusion_matrices(
    stem: &Path,
    title: &str,
    matrices: &[(String, Vec<Vec<u32>>)],
) -> Result<PathBuf, FigureError> {
    let size = (560 * matrices.len() as u32, 600);
    figure!(stem, size, true, |root| {
        let (top, body) = root.split_vertically(40);
        top.titled(title, font(24.0)).map_err(|e| e.to_string())?;
        for (area, (name, counts)) in body.split_evenly((1, matrices.len())).iter().zip(matrices) {
            draw_confusion(area, name, counts)?;
        }
        Ok(())
    })
}

/// A row of digit images with a label on its left.
pub struct ImageRow {
    pub label: String,
    /// 28×28 images, pixels in [0, 1].
    pub images: Vec<Vec<f32>>,
}

/// Rows of digits, each image drawn `scale` times its size, with row labels (PNG).
pub fn image_rows(
    stem: &Path,
    title: &str,
    rows: &[ImageRow],
    scale: u32,
) -> Result<PathBuf, FigureError> {
    let label_width = 210u32;
    let cell = IMAGE_SIDE as u32 * scale + 4;
    let columns = rows.iter().map(|r| r.images.len()).max().unwrap_or(0) as u32;
    let size = (
        label_width + columns * cell + 10,
        50 + rows.len() as u32 * cell + 10,
    );
    figure!(stem, size, false, |root| {
        root.draw(&Text::new(title, (10, 12), font(22.0)))
            .map_err(|e| e.to_string())?;
        for (r, row) in rows.iter().enumerate() {
            let top = 50 + r as i32 * cell as i32;
            root.draw(&Text::new(
                row.label.as_str(),
                (10, top + cell as i32 / 2 - 9),
                font(16.0),
            ))
            .map_err(|e| e.to_string())?;
            for (c, image) in row.images.iter().enumerate() {
                let left = label_width as i32 + c as i32 * cell as i32;
                draw_digit(&root, image, (left + 2, top + 2), scale)?;
            }
        }
        Ok(())
    })
}

/// A square grid of digits (e.g. the VAE manifold), row-major, with axis captions (PNG).
pub fn digit_grid(
    stem: &Path,
    title: &str,
    images: &[Vec<f32>],
    columns: usize,
    x_caption: &str,
    y_caption: &str,
    scale: u32,
) -> Result<PathBuf, FigureError> {
    let cell = IMAGE_SIDE as u32 * scale;
    let rows = images.len().div_ceil(columns);
    let (left, top) = (40u32, 50u32);
    // Wide enough for the title (about 11 px per character at this size).
    let width = (left + columns as u32 * cell + 20).max(20 + 11 * title.chars().count() as u32);
    let size = (width, top + rows as u32 * cell + 40);
    figure!(stem, size, false, |root| {
        root.draw(&Text::new(title, (10, 12), font(22.0)))
            .map_err(|e| e.to_string())?;
        for (i, image) in images.iter().enumerate() {
            let (r, c) = (i / columns, i % columns);
            let at = (
                (left + c as u32 * cell) as i32,
                (top + r as u32 * cell) as i32,
            );
            draw_digit(&root, image, at, scale)?;
        }
        let bottom = (top + rows as u32 * cell) as i32;
        root.draw(&Text::new(
            x_caption,
            (left as i32, bottom + 10),
            font(15.0),
        ))
        .map_err(|e| e.to_string())?;
        root.draw(&Text::new(
            y_caption,
            (8, top as i32 + 10),
            font(15.0).transform(FontTransform::Rotate90),
        ))
        .map_err(|e| e.to_string())
    })
}

/// Images in a grid, each with a line of text under it (what a model read in it), PNG only.
pub fn labelled_grid(
    stem: &Path,
    title: &str,
    images: &[Vec<f32>],
    labels: &[String],
    columns: usize,
    scale: u32,
) -> Result<PathBuf, FigureError> {
    let side = IMAGE_SIDE as u32 * scale;
    let (cell_w, cell_h) = (side.max(96) + 8, side + 24);
    let rows = images.len().div_ceil(columns).max(1);
    let top = 50u32;
    let width = (columns as u32 * cell_w + 20).max(20 + 11 * title.chars().count() as u32);
    figure!(
        stem,
        (width, top + rows as u32 * cell_h + 10),
        false,
        |root| {
            root.draw(&Text::new(title, (10, 12), font(22.0)))
                .map_err(|e| e.to_string())?;
            for (i, (image, label)) in images.iter().zip(labels).enumerate() {
                let (r, c) = (i / columns, i % columns);
                let (x, y) = (10 + c as u32 * cell_w, top + r as u32 * cell_h);
                draw_digit(&root, image, (x as i32, y as i32), scale)?;
                root.draw(&Text::new(
                    label.as_str(),
                    (x as i32, (y + side + 4) as i32),
                    font(13.0),
                ))
                .map_err(|e| e.to_string())?;
            }
            Ok(())
        }
    )
}

fn draw_digit<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    image: &[f32],
    (left, top): (i32, i32),
    scale: u32,
) -> Result<(), String> {
    let s = scale as i32;
    for (i, &v) in image.iter().enumerate() {
        let (y, x) = ((i / IMAGE_SIDE) as i32, (i % IMAGE_SIDE) as i32);
        // White digits on black, as MNIST is usually shown.
        let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        let color = RGBColor(g, g, g);
        let (px, py) = (left + x * s, top + y * s);
        area.draw(&Rectangle::new(
            [(px, py), (px + s, py + s)],
            color.filled(),
        ))
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_makes_the_folder_it_is_written_to() {
        let dir = std::env::temp_dir().join(format!("digit-lab-figures-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let stem = dir.join("not/yet/there/grid");
        let image = vec![0.5; IMAGE_SIDE * IMAGE_SIDE];
        let png = labelled_grid(&stem, "t", &[image], &["a 1".into()], 4, 1).unwrap();
        assert!(png.exists(), "{}", png.display());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

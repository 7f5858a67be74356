//! Drawings that are not digits, to fit and measure how well the digit check rejects them: dots,
//! dashes, scribbles, hatching, stars, noise, letters from a font (the letters that do not look
//! like a digit) in every font the machine has, smileys, arrows, spirals and squiggles, each
//! drawn with a pen on a canvas and put in MNIST's format as the page puts a drawing; and shapes
//! drawn by a person's hand through the pad (`hand_shapes`: letters, hearts, arrows up and down,
//! polygons, random walks, tangles, digits cut short). Each seed gives a different set (the check
//! is fitted on one, chosen on another, measured on a third).

use rand::Rng;
use rand::{SeedableRng, rngs::StdRng};

use super::digit_templates::TEMPLATES;
use super::glyphs::{NamedFont, available_fonts};
use super::hand_shapes::{self, HAND_KINDS};
use crate::data::canvas::to_mnist_format;
use crate::data::pad::{PAD_SIDE, Stroke, to_mnist};

/// Side of the canvas the drawings are made on.
const SIDE: usize = 112;
/// Pen radius in canvas pixels (the page's pen is about 1/14 of its pad).
const PEN: f32 = 4.5;
/// Letters that no one would read as a digit (not O o D Q l I i j J S s Z z B b G g q T t A y
/// etc. that a hasty hand makes digit-like).
const LETTERS: &str = "CEFHKMNRUVWXaceflmnrvwx";

/// A kind of non-digit drawing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dot,
    Dash,
    Scribble,
    Hatch,
    Star,
    Noise,
    Letter,
    Smiley,
    Arrow,
    Spiral,
    Squiggle,
    /// Drawn by a hand through the pad: `hand_shapes::HAND_KINDS[i]`.
    Hand(usize),
}

impl Kind {
    /// Every kind, in the order [`generate`] cycles through them.
    const ALL: [Kind; 18] = [
        Kind::Dot,
        Kind::Dash,
        Kind::Scribble,
        Kind::Hatch,
        Kind::Star,
        Kind::Noise,
        Kind::Letter,
        Kind::Smiley,
        Kind::Arrow,
        Kind::Spiral,
        Kind::Squiggle,
        Kind::Hand(0),
        Kind::Hand(1),
        Kind::Hand(2),
        Kind::Hand(3),
        Kind::Hand(4),
        Kind::Hand(5),
        Kind::Hand(6),
    ];

    const fn name(self) -> &'static str {
        match self {
            Kind::Dot => "dot",
            Kind::Dash => "dash",
            Kind::Scribble => "scribble",
            Kind::Hatch => "hatch",
            Kind::Star => "star",
            Kind::Noise => "noise",
            Kind::Letter => "letter",
            Kind::Smiley => "smiley",
            Kind::Arrow => "arrow",
            Kind::Spiral => "spiral",
            Kind::Squiggle => "squiggle",
            Kind::Hand(i) => HAND_KINDS[i],
        }
    }
}

/// The kinds of drawing by name, in the order [`generate`] cycles through them.
pub const KINDS: [&str; Kind::ALL.len()] = {
    let mut names = [""; Kind::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Kind::ALL[i].name();
        i += 1;
    }
    names
};

/// A canvas with a round pen; it keeps each stroke's path too, so that a drawing can be drawn
/// again with the mouse on the page (`pen_strokes`).
struct Canvas(Vec<f32>, Vec<Stroke>);

impl Canvas {
    fn new() -> Self {
        Canvas(vec![0.0; SIDE * SIDE], Vec::new())
    }

    /// A stroke through `points`, anti-aliased over one pixel.
    fn stroke(&mut self, points: &[(f32, f32)], radius: f32) {
        self.1.push(Stroke {
            width: 2.0 * radius,
            points: points.iter().map(|&(x, y)| [x, y]).collect(),
        });
        for pair in points.windows(2) {
            let ((ax, ay), (bx, by)) = (pair[0], pair[1]);
            let (dx, dy) = (bx - ax, by - ay);
            let len2 = (dx * dx + dy * dy).max(1e-6);
            let lo_x = (ax.min(bx) - radius - 1.0).max(0.0) as usize;
            let hi_x = ((ax.max(bx) + radius + 2.0) as usize).min(SIDE);
            let lo_y = (ay.min(by) - radius - 1.0).max(0.0) as usize;
            let hi_y = ((ay.max(by) + radius + 2.0) as usize).min(SIDE);
            for y in lo_y..hi_y {
                for x in lo_x..hi_x {
                    let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                    let t = (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0);
                    let d = ((px - ax - t * dx).powi(2) + (py - ay - t * dy).powi(2)).sqrt();
                    let ink = (radius + 0.5 - d).clamp(0.0, 1.0);
                    let v = &mut self.0[y * SIDE + x];
                    *v = v.max(ink);
                }
            }
        }
    }
}

fn point(rng: &mut StdRng, margin: f32) -> (f32, f32) {
    let span = SIDE as f32 - 2.0 * margin;
    (
        margin + rng.random::<f32>() * span,
        margin + rng.random::<f32>() * span,
    )
}

/// `count` non-digit images (784 pixels each, concatenated) and the kind of each; an error
/// names the font the letters are drawn with when it cannot be read.
pub fn generate(count: usize, seed: u64) -> Result<(Vec<f32>, Vec<&'static str>), String> {
    generate_with_fonts(count, seed, &available_fonts()?, &[])
}

/// As [`generate`], without the kinds named in `left_out` ([`check_left_out`]).
pub fn generate_without(
    count: usize,
    seed: u64,
    left_out: &[String],
) -> Result<(Vec<f32>, Vec<&'static str>), String> {
    check_left_out(left_out)?;
    generate_with_fonts(count, seed, &available_fonts()?, left_out)
}

/// Kinds to leave out: each one of [`KINDS`], named once, and not all of them.
pub fn check_left_out(left_out: &[String]) -> Result<(), String> {
    if let Some(unknown) = left_out.iter().find(|k| !KINDS.contains(&k.as_str())) {
        return Err(format!(
            "unknown non-digit kind `{unknown}` (kinds: {})",
            KINDS.join(", ")
        ));
    }
    if let Some((_, twice)) = left_out
        .iter()
        .enumerate()
        .find(|(i, k)| left_out[..*i].contains(k))
    {
        return Err(format!("non-digit kind `{twice}` named twice"));
    }
    if left_out.len() >= KINDS.len() {
        return Err("every non-digit kind is left out".into());
    }
    Ok(())
}

/// The kinds drawn with a pen on the canvas, as a mouse could draw them (not noise, nor a font's
/// letters; the hand-drawn kinds are drawn through the pad already: `hand_shapes`).
pub const PEN_KINDS: [&str; 9] = [
    "dot", "dash", "scribble", "hatch", "star", "smiley", "arrow", "spiral", "squiggle",
];

/// One drawing of `kind` (one of [`PEN_KINDS`]) as pen strokes on the page's pad: the strokes
/// the generator draws on its canvas, scaled to the pad, pen widths with them.
pub fn pen_strokes(kind: &str, rng: &mut StdRng) -> Result<Vec<Stroke>, String> {
    let kind = pen_kind(kind)?;
    let mut canvas = Canvas::new();
    let pen = PEN * (0.7 + 0.6 * rng.random::<f32>());
    let scale = PAD_SIDE as f32 / SIDE as f32;
    // No font is read: the letters are not among the pen kinds.
    draw_with_pen(kind, &mut canvas, rng, pen);
    Ok(canvas
        .1
        .into_iter()
        .map(|s| Stroke {
            width: s.width * scale,
            points: s.points.iter().map(|p| p.map(|v| v * scale)).collect(),
        })
        .collect())
}

fn pen_kind(name: &str) -> Result<Kind, String> {
    Kind::ALL
        .into_iter()
        .find(|k| k.name() == name && PEN_KINDS.contains(&name))
        .ok_or_else(|| {
            format!(
                "`{name}` is not a kind drawn with a pen ({})",
                PEN_KINDS.join(", ")
            )
        })
}

#[cfg(test)]
fn generate_with_font(
    count: usize,
    seed: u64,
    font_path: &std::path::Path,
) -> Result<(Vec<f32>, Vec<&'static str>), String> {
    generate_with_fonts(count, seed, &[super::glyphs::load(font_path)?], &[])
}

fn generate_with_fonts(
    count: usize,
    seed: u64,
    fonts: &[NamedFont],
    left_out: &[String],
) -> Result<(Vec<f32>, Vec<&'static str>), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut images, mut kinds) = (Vec::with_capacity(count * 784), Vec::with_capacity(count));
    let drawn = Kind::ALL
        .iter()
        .filter(|k| !left_out.iter().any(|name| name == k.name()));
    for kind in drawn.cycle() {
        if kinds.len() == count {
            break;
        }
        let image = if let Kind::Hand(i) = kind {
            to_mnist(&hand_shapes::draw(HAND_KINDS[*i], &mut rng), PAD_SIDE)
        } else {
            let mut canvas = Canvas::new();
            let pen = PEN * (0.7 + 0.6 * rng.random::<f32>());
            let font = &fonts[rng.random_range(0..fonts.len())].font;
            draw(*kind, &mut canvas, &mut rng, pen, font);
            to_mnist_format(&canvas.0, SIDE, SIDE)
        };
        if let Some(image) = image {
            images.extend(image);
            kinds.push(kind.name());
        }
    }
    Ok((images, kinds))
}

/// Draws one drawing of `kind` with a pen of radius `pen`.
fn draw(kind: Kind, canvas: &mut Canvas, rng: &mut StdRng, pen: f32, font: &ab_glyph::FontVec) {
    match kind {
        Kind::Noise => {
            for v in canvas.0.iter_mut() {
                if rng.random::<f32>() < 0.08 {
                    *v = rng.random();
                }
            }
        }
        Kind::Letter => {
            let letter = LETTERS.as_bytes()[rng.random_range(0..LETTERS.len())] as char;
            draw_letter(canvas, font, letter);
        }
        _ => draw_with_pen(kind, canvas, rng, pen),
    }
}

/// Draws one drawing of a kind made of pen strokes.
fn draw_with_pen(kind: Kind, canvas: &mut Canvas, rng: &mut StdRng, pen: f32) {
    match kind {
        Kind::Dot => {
            let c = point(rng, 20.0);
            canvas.stroke(&[c, (c.0 + 0.5, c.1)], pen * (1.0 + rng.random::<f32>()));
        }
        Kind::Dash => {
            // Within 30° of horizontal: a steeper stroke is a one.
            let (a, angle) = (point(rng, 30.0), rng.random_range(-0.5f32..0.5));
            let len = 20.0 + 40.0 * rng.random::<f32>();
            canvas.stroke(
                &[a, (a.0 + len * angle.cos(), a.1 + len * angle.sin())],
                pen,
            );
        }
        Kind::Scribble => scribble(canvas, rng, pen),
        Kind::Hatch => hatch(canvas, rng, pen),
        Kind::Star => star(canvas, rng, pen),
        Kind::Smiley => smiley(canvas, rng, pen),
        Kind::Arrow => arrow(canvas, rng, pen),
        Kind::Spiral => spiral(canvas, rng, pen),
        Kind::Squiggle => squiggle(canvas, rng, pen),
        Kind::Noise | Kind::Letter => unreachable!("not drawn with a pen"),
        Kind::Hand(_) => unreachable!("drawn through the pad by `generate`"),
    }
}

/// Crossing-out: a zigzag back and forth, drifting down.
fn scribble(canvas: &mut Canvas, rng: &mut StdRng, pen: f32) {
    let (mut y, rows) = (rng.random_range(15.0..40.0), rng.random_range(6..12));
    let mut path = Vec::new();
    for k in 0..rows {
        let x = if k % 2 == 0 { 12.0 } else { 100.0 } + rng.random_range(-8.0..8.0);
        path.push((x, y));
        y += rng.random_range(4.0..12.0);
    }
    canvas.stroke(&path, pen * 0.8);
}

fn hatch(canvas: &mut Canvas, rng: &mut StdRng, pen: f32) {
    let lines = rng.random_range(3..6);
    for k in 0..lines {
        let y = 20.0 + 72.0 * k as f32 / lines as f32;
        canvas.stroke(&[(20.0, y), (92.0, y + 12.0)], pen);
        canvas.stroke(
            &[
                (20.0 + 18.0 * k as f32, 16.0),
                (26.0 + 18.0 * k as f32, 96.0),
            ],
            pen,
        );
    }
}

fn star(canvas: &mut Canvas, rng: &mut StdRng, pen: f32) {
    let c = (56.0, 56.0);
    let arms = rng.random_range(5..9);
    for k in 0..arms {
        let a = k as f32 * std::f32::consts::TAU / arms as f32 + rng.random::<f32>() * 0.3;
        canvas.stroke(&[c, (c.0 + 40.0 * a.cos(), c.1 + 40.0 * a.sin())], pen);
    }
}

/// A face: a circle with two eyes and a smile (a circle alone is a zero).
fn smiley(canvas: &mut Canvas, rng: &mut StdRng, pen: f32) {
    let (c, r) = ((56.0, 56.0), rng.random_range(32.0..46.0));
    canvas.stroke(&arc(c, r, r, 0.0, std::f32::consts::TAU, 40), pen);
    let eye = rng.random_range(0.25..0.4) * r;
    for side in [-1.0, 1.0] {
        let e = (c.0 + side * eye, c.1 - 0.3 * r);
        canvas.stroke(&[e, (e.0 + 0.5, e.1)], pen * 1.2);
    }
    let (a, b) = (rng.random_range(0.4..0.8), rng.random_range(2.3..2.7));
    canvas.stroke(
        &arc((c.0, c.1 + 0.05 * r), 0.55 * r, 0.5 * r, a, b, 12),
        pen,
    );
}

/// A shaft with a head, pointing anywhere but up or down (a 1 or a 4 with a flag).
fn arrow(canvas: &mut Canvas, rng: &mut StdRng, pen: f32) {
    let mut angle = rng.random_range(-1.0f32..1.0);
    if rng.random::<bool>() {
        angle += std::f32::consts::PI;
    }
    let (c, len) = ((56.0, 56.0), rng.random_range(30.0..45.0));
    let (dx, dy) = (angle.cos(), angle.sin());
    let tip = (c.0 + len * dx, c.1 + len * dy);
    canvas.stroke(&[(c.0 - len * dx, c.1 - len * dy), tip], pen);
    let head = rng.random_range(12.0..22.0);
    for side in [-0.5f32, 0.5] {
        let back = angle + std::f32::consts::PI + side;
        canvas.stroke(
            &[tip, (tip.0 + head * back.cos(), tip.1 + head * back.sin())],
            pen,
        );
    }
}

/// Two to three and a half turns from the centre out.
fn spiral(canvas: &mut Canvas, rng: &mut StdRng, pen: f32) {
    let turns = rng.random_range(2.0f32..3.5);
    let start = rng.random::<f32>() * std::f32::consts::TAU;
    let path: Vec<(f32, f32)> = (0..=200)
        .map(|k| {
            let t = k as f32 / 200.0;
            let (a, r) = (start + t * turns * std::f32::consts::TAU, 4.0 + 44.0 * t);
            (56.0 + r * a.cos(), 56.0 + r * a.sin())
        })
        .collect();
    canvas.stroke(&path, pen * 0.8);
}

/// A wavy line, roughly horizontal, two to five waves.
fn squiggle(canvas: &mut Canvas, rng: &mut StdRng, pen: f32) {
    let (waves, amp) = (rng.random_range(2.0f32..5.0), rng.random_range(6.0..18.0));
    let (tilt, y0) = (rng.random_range(-0.3f32..0.3), rng.random_range(35.0..75.0));
    let path: Vec<(f32, f32)> = (0..=120)
        .map(|k| {
            let t = k as f32 / 120.0;
            let x = 10.0 + 92.0 * t;
            let y = y0 + tilt * (x - 56.0) + amp * (t * waves * std::f32::consts::TAU).sin();
            (x, y)
        })
        .collect();
    canvas.stroke(&path, pen);
}

/// `steps` points of the ellipse arc round `c` with radii `rx`, `ry` from angle `a` to `b`.
fn arc(c: (f32, f32), rx: f32, ry: f32, a: f32, b: f32, steps: usize) -> Vec<(f32, f32)> {
    (0..=steps)
        .map(|k| {
            let t = a + (b - a) * k as f32 / steps as f32;
            (c.0 + rx * t.cos(), c.1 + ry * t.sin())
        })
        .collect()
}

fn draw_letter(canvas: &mut Canvas, font: &ab_glyph::FontVec, letter: char) {
    use ab_glyph::{Font, ScaleFont};
    let scaled = font.as_scaled(90.0);
    let glyph = scaled.scaled_glyph(letter);
    if let Some(outline) = font.outline_glyph(glyph) {
        let bounds = outline.px_bounds();
        let (ox, oy) = (
            (SIDE as f32 - bounds.width()) / 2.0,
            (SIDE as f32 - bounds.height()) / 2.0,
        );
        outline.draw(|x, y, coverage| {
            let (x, y) = ((x as f32 + ox) as usize, (y as f32 + oy) as usize);
            if x < SIDE && y < SIDE {
                canvas.0[y * SIDE + x] = coverage;
            }
        });
    }
}

/// Chaikin's corner cutting, twice: a polyline through the template's points made smooth.
fn smooth(points: &[(f32, f32)]) -> Vec<(f32, f32)> {
    let mut p = points.to_vec();
    for _ in 0..2 {
        if p.len() < 3 {
            break;
        }
        let mut q = vec![p[0]];
        for w in p.windows(2) {
            let ((ax, ay), (bx, by)) = (w[0], w[1]);
            q.push((0.75 * ax + 0.25 * bx, 0.75 * ay + 0.25 * by));
            q.push((0.25 * ax + 0.75 * bx, 0.25 * ay + 0.75 * by));
        }
        q.push(p[p.len() - 1]);
        p = q;
    }
    p
}

/// `count` digits drawn from the templates with random size, slant, rotation, wobble and pen
/// (784 pixels each, concatenated), and their labels.
pub fn drawn_digits(count: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut images, mut labels) = (Vec::with_capacity(count * 784), Vec::with_capacity(count));
    let mut i = 0;
    while labels.len() < count {
        let (label, strokes) = TEMPLATES[i % TEMPLATES.len()];
        i += 1;
        let height = rng.random_range(55.0f32..95.0);
        let width = height * rng.random_range(0.5f32..0.8);
        let (shear, angle) = (
            rng.random_range(-0.25f32..0.25),
            rng.random_range(-0.2f32..0.2),
        );
        let pen = PEN * rng.random_range(0.7f32..1.3);
        let mut canvas = Canvas::new();
        for stroke in strokes {
            let wobbled: Vec<(f32, f32)> = stroke
                .iter()
                .map(|&(x, y)| {
                    (
                        x + rng.random_range(-0.04f32..0.04),
                        y + rng.random_range(-0.04f32..0.04),
                    )
                })
                .collect();
            let path: Vec<(f32, f32)> = smooth(&wobbled)
                .into_iter()
                .map(|(x, y)| {
                    let (x, y) = (
                        (x - 0.5) * width + shear * (0.5 - y) * height,
                        (y - 0.5) * height,
                    );
                    let (c, s) = (angle.cos(), angle.sin());
                    (56.0 + c * x - s * y, 56.0 + s * x + c * y)
                })
                .collect();
            canvas.stroke(&path, pen);
        }
        if let Some(image) = to_mnist_format(&canvas.0, SIDE, SIDE) {
            images.extend(image);
            labels.push(label);
        }
    }
    (images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn pen_kinds_are_drawn_on_the_pad_as_on_their_canvas() {
        let mut rng = StdRng::seed_from_u64(3);
        for name in PEN_KINDS {
            // The same random draws on the generator's own canvas.
            let (mut canvas, mut same) = (Canvas::new(), rng.clone());
            let pen = PEN * (0.7 + 0.6 * same.random::<f32>());
            draw_with_pen(pen_kind(name).unwrap(), &mut canvas, &mut same, pen);
            let strokes = pen_strokes(name, &mut rng).unwrap();
            for s in &strokes {
                assert!((5.0..40.0).contains(&s.width), "{name}: pen {}", s.width);
                let inside = |v: &f32| (0.0..=PAD_SIDE as f32).contains(v);
                assert!(s.points.iter().flatten().all(inside), "{name}");
            }
            let pad = to_mnist(&strokes, PAD_SIDE).expect("ink on the pad");
            let own = to_mnist_format(&canvas.0, SIDE, SIDE).unwrap();
            let diff = pad
                .iter()
                .zip(&own)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / 784.0;
            // Two rasterisers of the same strokes: a wrong scale or pen would be far more.
            assert!(diff < 0.05, "{name}: mean difference {diff}");
        }
        let e = pen_strokes("noise", &mut rng).unwrap_err();
        assert!(
            e.starts_with("`noise` is not a kind drawn with a pen"),
            "{e}"
        );
    }

    #[test]
    fn every_kind_and_digit_is_drawn() {
        let (pixels, kinds) = generate(2 * KINDS.len(), 5).unwrap();
        assert_eq!(pixels.len(), 784 * kinds.len());
        for kind in KINDS {
            assert!(kinds.contains(&kind), "{kind}");
        }
        let (pixels, labels) = drawn_digits(TEMPLATES.len(), 5);
        assert_eq!(pixels.len(), 784 * labels.len());
        assert_eq!(
            labels
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<u8>>()
                .len(),
            10
        );
        // Another seed, other drawings.
        assert_ne!(generate(11, 5).unwrap().0, generate(11, 6).unwrap().0);
    }

    #[test]
    fn a_missing_or_broken_font_is_an_error_naming_it() {
        let missing = Path::new("/no/such/dir/Font.ttf");
        let e = generate_with_font(11, 5, missing).unwrap_err();
        assert!(e.contains("/no/such/dir/Font.ttf"), "{e}");
        let not_a_font = Path::new(file!()).canonicalize().unwrap();
        let e = generate_with_font(11, 5, &not_a_font).unwrap_err();
        assert!(e.contains(&not_a_font.display().to_string()), "{e}");
    }

    #[test]
    fn kinds_left_out_are_never_drawn_and_unknown_ones_are_named() {
        let left_out = ["smiley".to_string(), "heart".to_string()];
        let (pixels, kinds) = generate_without(3 * KINDS.len(), 5, &left_out).unwrap();
        assert_eq!(pixels.len(), 784 * kinds.len());
        assert!(!kinds.iter().any(|k| *k == "smiley" || *k == "heart"));
        assert!(kinds.contains(&"letter") && kinds.contains(&"tangle"));
        let e = generate_without(5, 5, &["smilie".to_string()]).unwrap_err();
        assert!(e.contains("`smilie`"), "{e}");
        let twice = ["dot".to_string(), "dot".to_string()];
        assert!(
            generate_without(5, 5, &twice)
                .unwrap_err()
                .contains("twice")
        );
        let all: Vec<String> = KINDS.iter().map(|k| k.to_string()).collect();
        assert!(generate_without(5, 5, &all).is_err());
    }

    #[test]
    fn kinds_are_named_once_each() {
        let names: std::collections::BTreeSet<&str> = KINDS.into_iter().collect();
        assert_eq!(names.len(), Kind::ALL.len());
        assert_eq!(KINDS[6], "letter");
    }
}

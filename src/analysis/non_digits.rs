//! Drawings that are not digits, to measure how well the digit check rejects them: dots,
//! dashes, scribbles, hatching, stars, noise and letters from a font (the letters that do not
//! look like a digit), each drawn with a pen on a canvas and put in MNIST's format as the page
//! puts a drawing.

use rand::Rng;
use rand::{SeedableRng, rngs::StdRng};

use crate::data::canvas::to_mnist_format;

/// Side of the canvas the drawings are made on.
const SIDE: usize = 112;
/// Pen radius in canvas pixels (the page's pen is about 1/14 of its pad).
const PEN: f32 = 4.5;
/// Letters that no one would read as a digit (not O o D Q l I i j J S s Z z B b G g q T t A y
/// etc. that a hasty hand makes digit-like).
const LETTERS: &str = "CEFHKMNRUVWXaceflmnrvwx";

/// The kinds of drawing, in the order [`generate`] cycles through them.
pub const KINDS: [&str; 7] = [
    "dot", "dash", "scribble", "hatch", "star", "noise", "letter",
];

/// A canvas with a round pen.
struct Canvas(Vec<f32>);

impl Canvas {
    fn new() -> Self {
        Canvas(vec![0.0; SIDE * SIDE])
    }

    /// A stroke through `points`, anti-aliased over one pixel.
    fn stroke(&mut self, points: &[(f32, f32)], radius: f32) {
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

/// `count` non-digit images (784 pixels each, concatenated) and the kind of each.
pub fn generate(count: usize, seed: u64) -> (Vec<f32>, Vec<&'static str>) {
    // Without the font (scripts/setup installs it) there are no letters; the other kinds stay.
    let font = std::fs::read(FONT_PATH)
        .ok()
        .and_then(|bytes| ab_glyph::FontVec::try_from_vec(bytes).ok());
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut images, mut kinds) = (Vec::with_capacity(count * 784), Vec::with_capacity(count));
    let mut i = 0;
    while kinds.len() < count {
        let kind = KINDS[i % KINDS.len()];
        i += 1;
        let mut canvas = Canvas::new();
        let pen = PEN * (0.7 + 0.6 * rng.random::<f32>());
        match kind {
            "dot" => {
                let c = point(&mut rng, 20.0);
                canvas.stroke(&[c, (c.0 + 0.5, c.1)], pen * (1.0 + rng.random::<f32>()));
            }
            "dash" => {
                // Within 30° of horizontal: a steeper stroke is a one.
                let (a, angle) = (point(&mut rng, 30.0), rng.random_range(-0.5f32..0.5));
                let len = 20.0 + 40.0 * rng.random::<f32>();
                canvas.stroke(
                    &[a, (a.0 + len * angle.cos(), a.1 + len * angle.sin())],
                    pen,
                );
            }
            "scribble" => {
                // Crossing-out: a zigzag back and forth, drifting down.
                let (mut y, rows) = (rng.random_range(15.0..40.0), rng.random_range(6..12));
                let mut path = Vec::new();
                for k in 0..rows {
                    let x = if k % 2 == 0 { 12.0 } else { 100.0 } + rng.random_range(-8.0..8.0);
                    path.push((x, y));
                    y += rng.random_range(4.0..12.0);
                }
                canvas.stroke(&path, pen * 0.8);
            }
            "hatch" => {
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
            "star" => {
                let c = (56.0, 56.0);
                let arms = rng.random_range(5..9);
                for k in 0..arms {
                    let a =
                        k as f32 * std::f32::consts::TAU / arms as f32 + rng.random::<f32>() * 0.3;
                    canvas.stroke(&[c, (c.0 + 40.0 * a.cos(), c.1 + 40.0 * a.sin())], pen);
                }
            }
            "noise" => {
                for v in canvas.0.iter_mut() {
                    if rng.random::<f32>() < 0.08 {
                        *v = rng.random();
                    }
                }
            }
            _ => {
                let Some(font) = &font else { continue };
                let letter = LETTERS.as_bytes()[rng.random_range(0..LETTERS.len())] as char;
                draw_letter(&mut canvas, font, letter);
            }
        }
        if let Some(image) = to_mnist_format(&canvas.0, SIDE, SIDE) {
            images.extend(image);
            kinds.push(kind);
        }
    }
    (images, kinds)
}

/// The system font the report's figures use (scripts/setup installs it).
const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

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

//! Characters from the machine's TrueType fonts drawn on the pad (native): the font digits of
//! the handwriting sets and the font letters of the non-digits. The fonts are looked for at
//! fixed paths (DejaVu, which scripts/setup installs, and Liberation where present).

use std::path::Path;

use ab_glyph::{Font, FontVec};

/// Font files tried, by family and style (those missing are skipped).
pub const FONT_FILES: [&str; 14] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Oblique.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-ExtraLight.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Italic.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Italic.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
];

/// A font and the name its figures are reported under (the file's stem).
pub struct NamedFont {
    pub name: String,
    pub font: FontVec,
}

/// The fonts of [`FONT_FILES`] that this machine has; an error when it has none of them.
pub fn available_fonts() -> Result<Vec<NamedFont>, String> {
    let fonts: Vec<NamedFont> = FONT_FILES
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| load(Path::new(p)))
        .collect::<Result<_, _>>()?;
    if fonts.is_empty() {
        return Err(format!(
            "none of the fonts {} is installed (`apt-get install fonts-dejavu-core`)",
            FONT_FILES[0]
        ));
    }
    Ok(fonts)
}

/// The TrueType fonts (`*.ttf`) in `dir`, by file name; an error when it holds none.
pub fn fonts_in(dir: &Path) -> Result<Vec<NamedFont>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("fonts in {}: {e}", dir.display()))?;
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ttf"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{} holds no .ttf font", dir.display()));
    }
    files.iter().map(|p| load(p)).collect()
}

/// The font at `path`, or an error naming it.
pub fn load(path: &Path) -> Result<NamedFont, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("font {}: {e}", path.display()))?;
    let font = FontVec::try_from_vec(bytes).map_err(|e| format!("font {}: {e}", path.display()))?;
    let name = path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    Ok(NamedFont { name, font })
}

/// Where and how a character is drawn on a square canvas.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    /// Height of the character's ink box, in canvas pixels.
    pub height: f32,
    /// Centre of the box.
    pub centre: [f32; 2],
    /// Horizontal shear (positive leans right).
    pub slant: f32,
}

/// Draws `ch` in `font` onto `canvas` (`side`×`side`, coverage kept where larger); false when
/// the font has no outline for it.
pub fn draw_char(canvas: &mut [f32], side: usize, font: &FontVec, ch: char, at: Placement) -> bool {
    let probe = font.outline_glyph(font.glyph_id(ch).with_scale(100.0));
    let Some(probe) = probe else { return false };
    let scale = 100.0 * at.height / probe.px_bounds().height().max(1.0);
    let Some(outline) = font.outline_glyph(font.glyph_id(ch).with_scale(scale)) else {
        return false;
    };
    let bounds = outline.px_bounds();
    let (w, h) = (bounds.width(), bounds.height());
    let (ox, oy) = (at.centre[0] - w / 2.0, at.centre[1] - h / 2.0);
    outline.draw(|x, y, coverage| {
        let shift = at.slant * (h / 2.0 - y as f32);
        let (cx, cy) = ((ox + x as f32 + shift).round(), (oy + y as f32).round());
        if cx >= 0.0 && cy >= 0.0 && (cx as usize) < side && (cy as usize) < side {
            let v = &mut canvas[cy as usize * side + cx as usize];
            *v = v.max(coverage);
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digit_is_drawn_at_the_height_asked() {
        let fonts = available_fonts().unwrap();
        let side = 200;
        let mut canvas = vec![0f32; side * side];
        let at = Placement {
            height: 120.0,
            centre: [100.0, 100.0],
            slant: 0.2,
        };
        assert!(draw_char(&mut canvas, side, &fonts[0].font, '7', at));
        let rows = (0..side)
            .filter(|y| canvas[y * side..(y + 1) * side].iter().any(|v| *v > 0.5))
            .count();
        assert!((115..=125).contains(&rows), "{rows}");
        let e = load(Path::new("/no/such/font.ttf")).err().unwrap();
        assert!(e.contains("/no/such/font.ttf"), "{e}");
        let dir = std::env::temp_dir().join(format!("digit-lab-fonts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = fonts_in(&dir).err().unwrap();
        assert!(e.contains("no .ttf font"), "{e}");
        std::fs::copy(FONT_FILES[0], dir.join("b.ttf")).unwrap();
        std::fs::copy(FONT_FILES[0], dir.join("a.ttf")).unwrap();
        std::fs::write(dir.join("a.LICENSE"), "not a font").unwrap();
        let names: Vec<String> = fonts_in(&dir)
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["a", "b"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

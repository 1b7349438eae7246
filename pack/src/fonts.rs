//! The embedded fonts, the per-character fallback chain and shaping.
//!
//! DejaVu Sans covers Latin (Vietnamese, Albanian), Greek and Cyrillic; Noto Sans Ethiopic
//! covers Ge'ez script; Noto Sans Arabic covers Arabic script (preferred for it even where
//! DejaVu has a glyph, as its shaping is complete). Text is cut into runs of one font by
//! coverage and each run is shaped with rustybuzz (the shaper krilla itself uses), which
//! applies Arabic joining and puts right-to-left runs in visual order.

use krilla::text::{Font, GlyphId, KrillaGlyph};
use rustybuzz::{Direction, Face, UnicodeBuffer};

use crate::error::{PackError, Result};

const DEJAVU: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const DEJAVU_BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");
const ETHIOPIC: &[u8] = include_bytes!("../fonts/NotoSansEthiopic-Regular.ttf");
const ETHIOPIC_BOLD: &[u8] = include_bytes!("../fonts/NotoSansEthiopic-Bold.ttf");
const ARABIC: &[u8] = include_bytes!("../fonts/NotoSansArabic-Regular.ttf");
const ARABIC_BOLD: &[u8] = include_bytes!("../fonts/NotoSansArabic-Bold.ttf");

/// One font, ready to draw (krilla) and to shape (rustybuzz).
pub(crate) struct LoadedFont {
    pub(crate) pdf: Font,
    face: Face<'static>,
    upem: f32,
    /// How far the font's glyphs reach above and below the baseline, in em, as krilla writes
    /// them into the PDF (the OS/2 typographic metrics): what a reader's text box spans.
    pub(crate) ascent: f32,
    pub(crate) descent: f32,
}

/// Index into [`Fonts::all`].
pub(crate) type FontId = usize;

const LATIN: usize = 0;
const GEEZ: usize = 1;
const ARABIC_SCRIPT: usize = 2;
/// Regular fonts are 0..3, bold ones 3..6, in the same order.
const BOLD_OFFSET: usize = 3;

/// The six embedded fonts.
pub(crate) struct Fonts {
    all: Vec<LoadedFont>,
}

/// A run of text in one font, shaped: glyphs in visual order with advances in em units.
#[derive(Debug, Clone)]
pub(crate) struct Shaped {
    pub(crate) font: FontId,
    pub(crate) text: String,
    pub(crate) glyphs: Vec<KrillaGlyph>,
    /// Sum of the advances, in em.
    pub(crate) advance: f32,
    pub(crate) rtl: bool,
}

impl Fonts {
    pub(crate) fn load() -> Result<Self> {
        let all = [
            DEJAVU,
            ETHIOPIC,
            ARABIC,
            DEJAVU_BOLD,
            ETHIOPIC_BOLD,
            ARABIC_BOLD,
        ]
        .into_iter()
        .map(|data| {
            let pdf = Font::new(data.into(), 0)
                .ok_or_else(|| PackError::Pdf("an embedded font could not be read".into()))?;
            let face = Face::from_slice(data, 0)
                .ok_or_else(|| PackError::Pdf("an embedded font could not be parsed".into()))?;
            let upem = face.units_per_em() as f32;
            let ascent = f32::from(face.typographic_ascender().unwrap_or(face.ascender())) / upem;
            let descent =
                -f32::from(face.typographic_descender().unwrap_or(face.descender())) / upem;
            Ok(LoadedFont {
                pdf,
                face,
                upem,
                ascent,
                descent,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(Fonts { all })
    }

    pub(crate) fn get(&self, id: FontId) -> &LoadedFont {
        &self.all[id]
    }

    fn covers(&self, id: FontId, c: char) -> bool {
        self.all[id].face.glyph_index(c).is_some()
    }

    /// The font for one character: its script's preferred font, then the chain.
    fn pick(&self, c: char, bold: bool) -> FontId {
        let base = if bold { BOLD_OFFSET } else { 0 };
        let chain: [usize; 3] = if is_arabic(c) {
            [ARABIC_SCRIPT, LATIN, GEEZ]
        } else {
            [LATIN, GEEZ, ARABIC_SCRIPT]
        };
        chain
            .into_iter()
            .map(|f| base + f)
            .find(|&f| self.covers(f, c))
            .unwrap_or(base + LATIN)
    }

    /// Cuts `text` (one word, or any text without line breaks) into runs by font coverage and
    /// shapes each run. Spaces and punctuation stay in the current run when its font has them.
    pub(crate) fn shape(&self, text: &str, bold: bool) -> Vec<Shaped> {
        let mut runs = Vec::new();
        let mut start = 0;
        let mut current: Option<FontId> = None;
        for (i, c) in text.char_indices() {
            let neutral = !c.is_alphanumeric();
            // Punctuation continues the current run, except after right-to-left text, where
            // it would be shaped into the right-to-left run and land on the wrong side.
            let font = match current {
                Some(f) if neutral && f % BOLD_OFFSET != ARABIC_SCRIPT && self.covers(f, c) => f,
                _ => self.pick(c, bold),
            };
            match current {
                Some(f) if f != font => {
                    runs.push(self.shape_run(&text[start..i], f));
                    start = i;
                    current = Some(font);
                }
                None => current = Some(font),
                _ => {}
            }
        }
        if let Some(f) = current {
            runs.push(self.shape_run(&text[start..], f));
        }
        runs
    }

    /// The advance of a space in the regular or bold Latin font, in em.
    pub(crate) fn space_advance(&self, bold: bool) -> f32 {
        self.shape_run(" ", if bold { BOLD_OFFSET } else { 0 })
            .advance
    }

    fn shape_run(&self, text: &str, font: FontId) -> Shaped {
        let loaded = &self.all[font];
        let mut buffer = UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.guess_segment_properties();
        let dir = buffer.direction();
        let output = rustybuzz::shape(&loaded.face, &[], buffer);
        let infos = output.glyph_infos();
        let positions = output.glyph_positions();
        let rtl = dir == Direction::RightToLeft;
        let mut glyphs = Vec::with_capacity(infos.len());
        let mut advance = 0.0;
        for (i, (info, pos)) in infos.iter().zip(positions).enumerate() {
            let start = info.cluster as usize;
            // The cluster ends where the next cluster in logical order begins: after this glyph
            // for left-to-right text, before it for right-to-left text (glyphs are visual).
            let next = |j: usize| infos.get(j).map(|n| n.cluster as usize);
            let end = if rtl {
                (0..i)
                    .rev()
                    .filter_map(next)
                    .find(|&c| c != start)
                    .unwrap_or(text.len())
            } else {
                (i + 1..infos.len())
                    .filter_map(next)
                    .find(|&c| c != start)
                    .unwrap_or(text.len())
            };
            let x_advance = pos.x_advance as f32 / loaded.upem;
            advance += x_advance;
            glyphs.push(KrillaGlyph::new(
                GlyphId::new(info.glyph_id),
                x_advance,
                pos.x_offset as f32 / loaded.upem,
                pos.y_offset as f32 / loaded.upem,
                pos.y_advance as f32 / loaded.upem,
                start..end,
                None,
            ));
        }
        Shaped {
            font,
            text: text.to_owned(),
            glyphs,
            advance,
            rtl,
        }
    }
}

/// Arabic-script blocks (Arabic, Supplement, Extended-A, Presentation Forms A and B).
fn is_arabic(c: char) -> bool {
    matches!(c as u32,
        0x0600..=0x06FF | 0x0750..=0x077F | 0x08A0..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_script_gets_a_font_that_has_its_glyphs() {
        let fonts = Fonts::load().expect("fonts");
        for (text, font) in [
            ("Nguyễn Thị Hương", LATIN),
            ("Ëndrit", LATIN),
            ("ሰላም", GEEZ),
            ("محمد", ARABIC_SCRIPT),
        ] {
            let runs = fonts.shape(text, false);
            assert_eq!(runs.len(), 1, "{text} is one run");
            assert_eq!(runs[0].font, font, "{text}");
            assert!(
                runs[0].glyphs.iter().all(|g| g.glyph_id.to_u32() != 0),
                "{text} has no missing glyph"
            );
        }
        let comma = fonts.shape("محمد,", false);
        assert_eq!(
            comma.iter().map(|r| r.font).collect::<Vec<_>>(),
            vec![ARABIC_SCRIPT, LATIN]
        );
        let mixed = fonts.shape("ሰላም-Ana", true);
        assert_eq!(
            mixed.iter().map(|r| r.font).collect::<Vec<_>>(),
            vec![BOLD_OFFSET + GEEZ, BOLD_OFFSET + LATIN]
        );
    }

    #[test]
    fn arabic_is_shaped_right_to_left_with_joining_forms() {
        let fonts = Fonts::load().expect("fonts");
        let runs = fonts.shape("محمد", false);
        assert!(runs[0].rtl);
        // Joined (medial/final) forms differ from the isolated forms of the same letters.
        let isolated: Vec<u32> = "محمد"
            .chars()
            .map(|c| {
                fonts.shape(&c.to_string(), false)[0].glyphs[0]
                    .glyph_id
                    .to_u32()
            })
            .collect();
        let joined: Vec<u32> = runs[0]
            .glyphs
            .iter()
            .map(|g| g.glyph_id.to_u32())
            .rev()
            .collect();
        assert_ne!(isolated, joined);
    }
}

//! A small layout engine: line wrapping by measured advances, and pages as display lists.
//!
//! krilla draws glyphs where it is told; it does not wrap lines. Here a paragraph is cut into
//! words at whitespace, each word is shaped (see [`crate::fonts`]) and lines are filled
//! greedily by the words' measured widths. A word wider than the line is broken between
//! characters. Within a line, consecutive right-to-left words (Arabic) are put in right-to-left
//! order; there is no full Unicode bidirectional algorithm (see the crate docs for the limits).

use crate::fonts::{Fonts, Shaped};

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rgb(pub(crate) u8, pub(crate) u8, pub(crate) u8);

pub(crate) const BLACK: Rgb = Rgb(0, 0, 0);
pub(crate) const GREY: Rgb = Rgb(85, 85, 85);
pub(crate) const RULE: Rgb = Rgb(200, 200, 200);
pub(crate) const RED: Rgb = Rgb(170, 0, 0);
pub(crate) const NAVY: Rgb = Rgb(20, 40, 90);
pub(crate) const WHITE: Rgb = Rgb(255, 255, 255);

/// How a piece of text looks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub(crate) size: f32,
    pub(crate) bold: bool,
    pub(crate) color: Rgb,
}

impl Style {
    pub(crate) const fn new(size: f32, bold: bool, color: Rgb) -> Self {
        Style { size, bold, color }
    }

    /// Distance between baselines.
    pub(crate) fn line_height(&self) -> f32 {
        self.size * 1.32
    }

    /// From the top of a line to its baseline.
    pub(crate) fn ascent(&self) -> f32 {
        self.size * 1.0
    }
}

/// One drawing operation, in points from the page's top-left corner.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Text {
        x: f32,
        baseline: f32,
        style: Style,
        run: Shaped,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        color: Rgb,
    },
    Photo {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
}

/// A laid-out line: runs with their x offsets from the line's start.
#[derive(Debug, Clone, Default)]
pub(crate) struct Line {
    pub(crate) runs: Vec<(f32, Shaped)>,
    pub(crate) width: f32,
    /// The tallest ascent and deepest descent of the line's fonts, in em.
    pub(crate) ascent: f32,
    pub(crate) descent: f32,
}

impl Line {
    /// The room this line needs above and below a plain line of `style` (one of
    /// [`Style::line_height`], baseline [`Style::ascent`] below its top), so that the boxes of
    /// its fonts (Arabic's are tall) stay clear of the lines around it.
    pub(crate) fn extra(&self, style: Style) -> (f32, f32) {
        let above = (self.ascent * style.size - style.ascent()).max(0.0);
        let below = (self.descent * style.size - (style.line_height() - style.ascent())).max(0.0);
        (above, below)
    }

    /// From this line's top to the next line's top.
    pub(crate) fn height(&self, style: Style) -> f32 {
        let (above, below) = self.extra(style);
        above + style.line_height() + below
    }

    /// Draw operations for this line starting at `x` with the given baseline.
    pub(crate) fn ops(&self, x: f32, baseline: f32, style: Style) -> impl Iterator<Item = Op> + '_ {
        self.runs.iter().map(move |(dx, run)| Op::Text {
            x: x + dx,
            baseline,
            style,
            run: run.clone(),
        })
    }
}

struct Word {
    runs: Vec<Shaped>,
    width: f32,
    rtl: bool,
}

fn word(fonts: &Fonts, text: &str, style: Style) -> Word {
    let runs = fonts.shape(text, style.bold);
    let width = runs.iter().map(|r| r.advance).sum::<f32>() * style.size;
    let rtl = runs.iter().any(|r| r.rtl);
    Word { runs, width, rtl }
}

/// Removes control characters other than line breaks; tabs become spaces.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\n' => Some('\n'),
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// Wraps `text` into lines no wider than `max_width` points. Line breaks in the text are kept.
pub(crate) fn wrap(fonts: &Fonts, text: &str, style: Style, max_width: f32) -> Vec<Line> {
    let space = fonts.space_advance(style.bold) * style.size;
    let mut lines = Vec::new();
    for paragraph in clean(text).split('\n') {
        let mut words: Vec<Word> = Vec::new();
        for w in paragraph.split_whitespace() {
            let shaped = word(fonts, w, style);
            if shaped.width <= max_width {
                words.push(shaped);
            } else {
                words.extend(break_word(fonts, w, style, max_width));
            }
        }
        let mut current: Vec<Word> = Vec::new();
        let mut width = 0.0;
        for w in words {
            let needed = if current.is_empty() {
                w.width
            } else {
                width + space + w.width
            };
            if needed > max_width && !current.is_empty() {
                let words = std::mem::take(&mut current);
                lines.push(finish_line(fonts, words, space, style.size));
                width = w.width;
            } else {
                width = needed;
            }
            current.push(w);
        }
        lines.push(finish_line(fonts, current, space, style.size));
    }
    lines
}

/// Breaks a word that is wider than a line between characters.
fn break_word(fonts: &Fonts, text: &str, style: Style, max_width: f32) -> Vec<Word> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let bounds: Vec<usize> = rest
            .char_indices()
            .map(|(i, _)| i)
            .skip(1)
            .chain(std::iter::once(rest.len()))
            .collect();
        // The longest prefix that fits (at least one character), by binary search.
        let (mut lo, mut hi) = (0, bounds.len() - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if word(fonts, &rest[..bounds[mid]], style).width <= max_width {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let cut = bounds[lo];
        pieces.push(word(fonts, &rest[..cut], style));
        rest = &rest[cut..];
    }
    pieces
}

fn finish_line(fonts: &Fonts, mut words: Vec<Word>, space: f32, size: f32) -> Line {
    // Consecutive right-to-left words read right to left.
    let mut i = 0;
    while i < words.len() {
        if words[i].rtl {
            let start = i;
            while i < words.len() && words[i].rtl {
                i += 1;
            }
            words[start..i].reverse();
        } else {
            i += 1;
        }
    }
    let mut line = Line::default();
    let mut x = 0.0;
    for (n, w) in words.into_iter().enumerate() {
        if n > 0 {
            x += space;
        }
        for run in w.runs {
            let font = fonts.get(run.font);
            line.ascent = line.ascent.max(font.ascent);
            line.descent = line.descent.max(font.descent);
            let advance = run.advance * size;
            line.runs.push((x, run));
            x += advance;
        }
    }
    line.width = x;
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: Style = Style::new(10.0, false, BLACK);

    #[test]
    fn long_text_wraps_within_the_width_and_keeps_every_word() {
        let fonts = Fonts::load().expect("fonts");
        let text = "Small scar above the left eyebrow, pierced ears, speaks quietly and avoids eye contact with adults she does not know. ".repeat(6);
        let lines = wrap(&fonts, &text, BODY, 200.0);
        assert!(lines.len() > 5, "wrapped into {} lines", lines.len());
        for line in &lines {
            assert!(line.width <= 200.0 + 0.01, "line of {} pt", line.width);
        }
        let words: usize = lines
            .iter()
            .map(|l| {
                l.runs
                    .iter()
                    .filter(|(_, r)| !r.text.trim().is_empty())
                    .count()
            })
            .sum();
        assert_eq!(words, text.split_whitespace().count());
    }

    #[test]
    fn a_word_wider_than_the_line_is_broken_between_characters() {
        let fonts = Fonts::load().expect("fonts");
        let handle = "instagram.com/a_very_long_account_name_that_cannot_fit_on_one_line";
        let lines = wrap(&fonts, handle, BODY, 80.0);
        assert!(lines.len() > 2);
        let rebuilt: String = lines
            .iter()
            .flat_map(|l| l.runs.iter().map(|(_, r)| r.text.as_str()))
            .collect();
        assert_eq!(rebuilt, handle);
        assert!(lines.iter().all(|l| l.width <= 80.01));
    }

    #[test]
    fn arabic_words_in_a_line_read_right_to_left() {
        let fonts = Fonts::load().expect("fonts");
        let lines = wrap(&fonts, "Called محمد علي by friends", BODY, 500.0);
        let order: Vec<&str> = lines[0].runs.iter().map(|(_, r)| r.text.as_str()).collect();
        assert_eq!(order, vec!["Called", "علي", "محمد", "by", "friends"]);
    }
}

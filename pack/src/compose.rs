//! What goes where: the police pack's pages, as display lists (see [`crate::layout`]).
//!
//! Page 1 opens with the banner, the category, the child's name and key facts beside the
//! photo (top right), then full-width sections in the order a call handler needs them: last
//! seen, risks, description, people of concern, who to call at the local authority, places,
//! phones and accounts. Every page carries a footer with the protective marking, when and by
//! whom the pack was generated, and "Page n of m"; later pages repeat the child's name.
//!
//! The footer is wrapped first and the body stops above its real height, however many lines
//! it takes. A person of concern or a contact is kept on one page where it fits on one.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};

use crate::fonts::Fonts;
use crate::layout::{BLACK, GREY, Line, NAVY, Op, RED, RULE, Rgb, Style, WHITE, clean, wrap};
use crate::model::{LaContact, PersonOfConcern, PolicePack};

/// A4 portrait, in points.
pub(crate) const PAGE_W: f32 = 595.28;
pub(crate) const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 36.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Below the footer's last line.
const BOTTOM_MARGIN: f32 = 22.0;
/// Between the body's last line and the footer's rule.
const FOOTER_GAP: f32 = 8.0;
/// Between the footer's rule and its first line.
const FOOTER_PAD: f32 = 4.0;
/// Who generated the pack is cut to this many characters in the footer, so the footer (whose
/// height is taken from the page) stays a few lines.
const MAX_GENERATED_BY: usize = 200;
/// The photo's box, top right of page 1; the photo is scaled to fit it, keeping its shape.
const PHOTO_W: f32 = 150.0;
const PHOTO_H: f32 = 190.0;
const GUTTER: f32 = 14.0;
const LABEL_W: f32 = 132.0;

const BODY: Style = Style::new(10.0, false, BLACK);
const BODY_BOLD: Style = Style::new(10.0, true, BLACK);
const LABEL: Style = Style::new(9.0, true, GREY);
const MUTED: Style = Style::new(10.0, false, GREY);
const FOOTER: Style = Style::new(7.5, false, GREY);
const PAGE_NUMBER: Style = Style::new(8.0, true, BLACK);
const SUBHEADING: Style = Style::new(11.0, true, BLACK);

/// The pages of a pack, each a list of drawing operations.
pub(crate) type Pages = Vec<Vec<Op>>;

/// One row of a key/value table: a label line, a value line, and the row's height.
type Row = (Option<Line>, Option<Line>, f32);

struct Composer<'a> {
    fonts: &'a Fonts,
    pages: Pages,
    y: f32,
    /// Body text ends above this line, which leaves room for the footer as it is wrapped.
    content_bottom: f32,
    footer: Footer,
    /// On page 1, text above this line must leave room for the photo.
    photo_bottom: f32,
    /// While the key facts are laid out: they stay in the column beside the photo, even
    /// where a tall row runs below it, so the table keeps one width.
    key_facts: bool,
    continued: String,
}

/// Lays out the whole pack. `photo_size` is the photo's pixel size, if there is one.
pub(crate) fn compose(fonts: &Fonts, pack: &PolicePack, photo_size: Option<(u32, u32)>) -> Pages {
    let name = non_empty(&pack.name).unwrap_or("Name not recorded");
    let footer = Footer::new(fonts, pack);
    let mut c = Composer {
        fonts,
        pages: vec![Vec::new()],
        y: MARGIN,
        content_bottom: footer.top - FOOTER_GAP,
        footer,
        photo_bottom: MARGIN,
        key_facts: true,
        continued: format!(
            "Police pack: {} (continued)",
            clean(name).replace('\n', " ")
        ),
    };

    // Banner.
    c.rect(MARGIN, c.y, CONTENT_W, 26.0, NAVY);
    c.text_line(
        "POLICE PACK: MISSING CHILD",
        Style::new(14.0, true, WHITE),
        MARGIN + 8.0,
        c.y + 6.0,
    );
    c.y += 26.0 + 10.0;

    // Photo, top right, below the banner.
    let top = c.y;
    if let Some((w, h)) = photo_size {
        let scale = (PHOTO_W / w as f32).min(PHOTO_H / h as f32);
        let (pw, ph) = (w as f32 * scale, h as f32 * scale);
        let x = MARGIN + CONTENT_W - pw;
        c.page().push(Op::Photo {
            x,
            y: top,
            w: pw,
            h: ph,
        });
        c.photo_bottom = top + ph;
    } else {
        let x = MARGIN + CONTENT_W - PHOTO_W;
        c.rect(x, top, PHOTO_W, PHOTO_H, Rgb(238, 238, 238));
        let lines = wrap(fonts, "No photo on file", MUTED, PHOTO_W - 16.0);
        c.lines_at(&lines, MUTED, x + 8.0, top + PHOTO_H / 2.0 - 6.0);
        c.photo_bottom = top + PHOTO_H;
    }

    // Category, name and key facts, beside the photo.
    if let Some(category) = pack.category {
        let style = Style::new(11.0, true, WHITE);
        let lines = wrap(fonts, category.label(), style, c.width() - 12.0);
        let h = lines.iter().map(|l| l.height(style)).sum::<f32>() + 8.0;
        c.rect(MARGIN, c.y, c.width(), h, RED);
        c.lines_at(&lines, style, MARGIN + 6.0, c.y + 4.0);
        c.y += h + 8.0;
    }
    c.paragraph(name, Style::new(20.0, true, BLACK), MARGIN, c.width());
    if !pack.known_as.is_empty() {
        c.paragraph(
            &format!("Known as: {}", pack.known_as.join(", ")),
            Style::new(11.0, false, BLACK),
            MARGIN,
            c.width(),
        );
    }
    c.y += 6.0;
    c.kv("Police reference", &pack.police_reference, BODY_BOLD);
    c.kv("Date of birth / age", &age_text(pack), BODY);
    c.kv("Languages", &pack.languages.join(", "), BODY);
    c.kv(
        "Interpreter needed",
        if pack.interpreter_needed { "YES" } else { "No" },
        if pack.interpreter_needed {
            BODY_BOLD
        } else {
            BODY
        },
    );
    c.kv(
        "Previous missing episodes",
        &pack.previous_episodes.to_string(),
        BODY,
    );
    c.kv(
        "Emergency number the child knows",
        &pack.memorised_emergency_number,
        BODY_BOLD,
    );
    c.y = c.y.max(c.photo_bottom) + 12.0;
    c.key_facts = false;

    c.heading("Last seen", NAVY);
    c.kv("When", &last_seen_when(pack), BODY_BOLD);
    c.kv("Where", &pack.last_seen.place, BODY);
    c.kv("With whom", &pack.last_seen.with_whom, BODY);
    c.kv("Wearing", &pack.clothing, BODY);
    c.kv("Circumstances", &pack.circumstances, BODY);

    c.heading("Risks and vulnerabilities", RED);
    c.bullets(&pack.risks, BODY_BOLD, "No risks recorded");
    c.kv("Medical needs", &pack.medical_needs, BODY);
    c.kv("Vulnerabilities", &pack.vulnerabilities, BODY);

    c.heading("Description", NAVY);
    c.kv("Physical description", &pack.physical_description, BODY);
    c.kv("Distinguishing marks", &pack.distinguishing_marks, BODY);

    c.heading("People of concern", NAVY);
    if pack.people_of_concern.is_empty() {
        c.paragraph("None shared", MUTED, MARGIN, CONTENT_W);
    }
    for person in &pack.people_of_concern {
        c.person(person);
    }

    c.heading("Who to call at the local authority", NAVY);
    if pack.local_authority_contacts.is_empty() {
        c.paragraph("No contact recorded", MUTED, MARGIN, CONTENT_W);
    }
    for contact in &pack.local_authority_contacts {
        c.la_contact(contact);
    }

    c.heading("Places the child may go", NAVY);
    c.bullets(&pack.places_may_go, BODY, "None recorded");

    c.heading("Phones and social-media accounts", NAVY);
    c.bullets(&pack.phones_and_accounts, BODY, "None recorded");

    c.footers();
    c.pages
}

impl Composer<'_> {
    fn page(&mut self) -> &mut Vec<Op> {
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// The width available at the current height (narrower beside the photo on page 1).
    fn width(&self) -> f32 {
        if self.pages.len() == 1 && (self.key_facts || self.y < self.photo_bottom) {
            CONTENT_W - PHOTO_W - GUTTER
        } else {
            CONTENT_W
        }
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = MARGIN;
        let continued = self.continued.clone();
        let lines = wrap(self.fonts, &continued, LABEL, CONTENT_W);
        let y = self.y;
        self.y += self.lines_at(&lines, LABEL, MARGIN, y) + 10.0;
    }

    /// Starts a new page unless `h` more points fit on this one.
    fn ensure(&mut self, h: f32) {
        if self.y + h > self.content_bottom {
            self.new_page();
        }
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb) {
        self.page().push(Op::Rect { x, y, w, h, color });
    }

    fn text_line(&mut self, text: &str, style: Style, x: f32, top: f32) {
        let lines = wrap(self.fonts, text, style, f32::INFINITY);
        self.lines_at(&lines, style, x, top);
    }

    /// Draws lines from `top` without moving the cursor or breaking pages; returns their
    /// height.
    fn lines_at(&mut self, lines: &[Line], style: Style, x: f32, top: f32) -> f32 {
        let mut y = top;
        for line in lines {
            let (above, _) = line.extra(style);
            let ops: Vec<Op> = line.ops(x, y + above + style.ascent(), style).collect();
            self.page().extend(ops);
            y += line.height(style);
        }
        y - top
    }

    /// Flowing text at the cursor, breaking pages between lines.
    fn paragraph(&mut self, text: &str, style: Style, x: f32, width: f32) {
        for line in wrap(self.fonts, text, style, width) {
            self.ensure(line.height(style));
            let y = self.y;
            self.y += self.lines_at(std::slice::from_ref(&line), style, x, y);
        }
    }

    fn heading(&mut self, title: &str, color: Rgb) {
        let style = Style::new(12.5, true, color);
        // Keep the heading with what follows (a sub-heading and a first row at least).
        self.ensure(style.line_height() + 12.0 + 4.0 * BODY.line_height());
        self.y += 6.0;
        let y = self.y;
        self.text_line(title, style, MARGIN, y);
        self.y += style.line_height() + 1.0;
        let y = self.y;
        self.rect(MARGIN, y, CONTENT_W, 1.2, color);
        self.y += 5.0;
    }

    /// One row of the two-column key/value table. An empty value shows "Not recorded".
    fn kv(&mut self, label: &str, value: &str, style: Style) {
        let width = self.width();
        let (rows, style) = self.kv_rows(label, value, style, width);
        self.ensure(style.line_height() + 4.0);
        self.y += 2.0;
        for (label, value, h) in &rows {
            self.ensure(*h);
            let y = self.y;
            if let Some(l) = label {
                self.lines_at(std::slice::from_ref(l), LABEL, MARGIN, y + 1.0);
            }
            if let Some(v) = value {
                self.lines_at(std::slice::from_ref(v), style, MARGIN + LABEL_W, y);
            }
            self.y += h;
        }
        self.y += 2.0;
        let y = self.y;
        self.rect(MARGIN, y, width, 0.5, RULE);
    }

    /// A key/value row's lines, label and value side by side, with each line pair's height;
    /// and the value's style ("Not recorded" is muted).
    fn kv_rows(&self, label: &str, value: &str, style: Style, width: f32) -> (Vec<Row>, Style) {
        let (value, style) = match non_empty(value) {
            Some(v) => (v, style),
            None => ("Not recorded", MUTED),
        };
        let mut labels = wrap(self.fonts, label, LABEL, LABEL_W - 6.0).into_iter();
        let mut values = wrap(self.fonts, value, style, width - LABEL_W).into_iter();
        let mut rows = Vec::new();
        loop {
            let (label, value) = (labels.next(), values.next());
            if label.is_none() && value.is_none() {
                break;
            }
            let h = value
                .as_ref()
                .map_or(style.line_height(), |v| v.height(style))
                .max(label.as_ref().map_or(0.0, |l| l.height(LABEL) + 1.0));
            rows.push((label, value, h));
        }
        (rows, style)
    }

    /// The height [`Self::kv`] takes at full width.
    fn kv_height(&self, label: &str, value: &str, style: Style) -> f32 {
        let (rows, _) = self.kv_rows(label, value, style, CONTENT_W);
        rows.iter().map(|r| r.2).sum::<f32>() + 4.0
    }

    /// The height [`Self::subheading`] takes.
    fn subheading_height(&self, text: &str) -> f32 {
        let lines = wrap(self.fonts, text, SUBHEADING, CONTENT_W);
        4.0 + lines.iter().map(|l| l.height(SUBHEADING)).sum::<f32>()
    }

    /// Starts a new page unless a block `h` high fits on this one; a block taller than a
    /// page is left to break where it must.
    fn keep_together(&mut self, h: f32) {
        if h < (self.content_bottom - MARGIN) * 0.8 {
            self.ensure(h);
        }
    }

    fn bullets(&mut self, items: &[String], style: Style, empty: &str) {
        let items: Vec<&str> = items.iter().filter_map(|i| non_empty(i)).collect();
        if items.is_empty() {
            self.paragraph(empty, MUTED, MARGIN, CONTENT_W);
        }
        for item in items {
            let lines = wrap(self.fonts, item, style, CONTENT_W - 14.0);
            for (i, line) in lines.iter().enumerate() {
                self.ensure(line.height(style));
                let y = self.y;
                if i == 0 {
                    // On the line's baseline, below any extra room the line needs above.
                    self.text_line("•", style, MARGIN + 2.0, y + line.extra(style).0);
                }
                self.y += self.lines_at(std::slice::from_ref(line), style, MARGIN + 14.0, y);
            }
            self.y += 2.0;
        }
        self.y += 2.0;
    }

    fn subheading(&mut self, text: &str) {
        self.ensure(SUBHEADING.line_height() + 2.0 * BODY.line_height());
        self.y += 4.0;
        self.paragraph(text, SUBHEADING, MARGIN, CONTENT_W);
    }

    /// A sub-heading and its rows, kept on one page where they fit on one.
    fn block(&mut self, title: &str, rows: &[(&str, String, Style)]) {
        let h = self.subheading_height(title)
            + rows
                .iter()
                .map(|(l, v, s)| self.kv_height(l, v, *s))
                .sum::<f32>();
        self.keep_together(h);
        self.subheading(title);
        for (label, value, style) in rows {
            self.kv(label, value, *style);
        }
    }

    fn person(&mut self, person: &PersonOfConcern) {
        self.block(
            non_empty(&person.name).unwrap_or("Name not recorded"),
            &[
                ("Also known as", person.aliases.join(", "), BODY),
                ("Phone numbers", person.phones.join("\n"), BODY_BOLD),
                ("Vehicles", person.vehicles.join("\n"), BODY),
            ],
        );
    }

    fn la_contact(&mut self, contact: &LaContact) {
        self.block(
            non_empty(&contact.who).unwrap_or("Contact"),
            &[
                ("Office hours", contact.numbers.join("\n"), BODY_BOLD),
                ("Out of hours", contact.out_of_hours.clone(), BODY_BOLD),
            ],
        );
    }

    /// Draws the footer on every page, now that the page count is known.
    fn footers(&mut self) {
        let count = self.pages.len();
        for n in 0..count {
            let mut ops = vec![Op::Rect {
                x: MARGIN,
                y: self.footer.top,
                w: CONTENT_W,
                h: 0.5,
                color: RULE,
            }];
            let mut y = self.footer.top + FOOTER_PAD;
            let mut first_baseline = None;
            for line in &self.footer.lines {
                let baseline = y + line.extra(FOOTER).0 + FOOTER.ascent();
                first_baseline.get_or_insert(baseline);
                ops.extend(line.ops(MARGIN, baseline, FOOTER));
                y += line.height(FOOTER);
            }
            let label = wrap(
                self.fonts,
                &format!("Page {} of {count}", n + 1),
                PAGE_NUMBER,
                f32::INFINITY,
            );
            if let Some(l) = label.first() {
                let baseline =
                    first_baseline.unwrap_or(self.footer.top + FOOTER_PAD + FOOTER.ascent());
                ops.extend(l.ops(MARGIN + CONTENT_W - l.width, baseline, PAGE_NUMBER));
            }
            self.pages[n].extend(ops);
        }
    }
}

/// The footer's marking, wrapped beside the page number, and where its rule goes: computed
/// before the body, so the body stops above the footer's real height.
struct Footer {
    top: f32,
    lines: Vec<Line>,
}

impl Footer {
    fn new(fonts: &Fonts, pack: &PolicePack) -> Self {
        let by = non_empty(&pack.generated_by).unwrap_or("unknown");
        let mut by: String = clean(by).replace('\n', " ");
        if let Some((cut, _)) = by.char_indices().nth(MAX_GENERATED_BY) {
            by.truncate(cut);
            by.push('…');
        }
        let left = format!(
            "OFFICIAL-SENSITIVE: personal data of a child. Generated {} by {by}.",
            when(pack.generated_at),
        );
        // Room for the widest page number a pack can have, and a gap before it.
        let number_w = wrap(fonts, "Page 8888 of 8888", PAGE_NUMBER, f32::INFINITY)
            .first()
            .map_or(0.0, |l| l.width);
        let lines = wrap(fonts, &left, FOOTER, CONTENT_W - number_w - 12.0);
        let text_h = lines.iter().map(|l| l.height(FOOTER)).sum::<f32>();
        let h = FOOTER_PAD + text_h.max(PAGE_NUMBER.line_height());
        Footer {
            top: PAGE_H - BOTTOM_MARGIN - h,
            lines,
        }
    }
}

fn non_empty(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty()).then_some(t)
}

/// "Sat 28 Nov 2026, 02:10 (UTC+00:00)".
fn when(t: DateTime<FixedOffset>) -> String {
    t.format("%a %-d %b %Y, %H:%M (UTC%:z)").to_string()
}

fn last_seen_when(pack: &PolicePack) -> String {
    let Some(t) = pack.last_seen.when else {
        return String::new();
    };
    let minutes = (pack.generated_at - t).num_minutes();
    if minutes < 0 {
        return when(t);
    }
    let (d, h, m) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let ago = match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    };
    format!("{}: {ago} before this pack was generated", when(t))
}

fn age_text(pack: &PolicePack) -> String {
    let note = non_empty(&pack.age_note);
    let dob = pack.date_of_birth.map(|dob| {
        let on = pack.generated_at.date_naive();
        format!("{} (age {})", dob.format("%-d %b %Y"), age_on(dob, on))
    });
    match (dob, note) {
        (Some(d), Some(n)) => format!("{d}. {n}"),
        (Some(d), None) => d,
        (None, Some(n)) => n.to_owned(),
        (None, None) => String::new(),
    }
}

fn age_on(dob: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - dob.year();
    if (on.month(), on.day()) < (dob.month(), dob.day()) {
        age -= 1;
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_counts_whole_years_up_to_the_birthday() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        assert_eq!(age_on(d(2010, 3, 14), d(2026, 3, 13)), 15);
        assert_eq!(age_on(d(2010, 3, 14), d(2026, 3, 14)), 16);
        assert_eq!(age_on(d(2008, 2, 29), d(2026, 2, 28)), 17);
    }
}

//! The police pack as a reader sees it: the PDF is rendered, then read back with poppler's
//! tools (`pdftotext`, `pdfimages`, `pdftoppm`, `pdfinfo`, from Debian's poppler-utils, which
//! `scripts/install-deps.sh` installs). A missing tool fails the test with a message saying so.
//!
//! Page 1 of the sample pack is kept as a PNG in `<target dir>/test-output/police-pack/` for a
//! person to look at.

use std::path::{Path, PathBuf};
use std::process::Command;

use casebook_pack::{
    LaContact, LastSeen, MAX_PHOTO_BYTES, MissingCategory, PackError, PersonOfConcern, PolicePack,
    render_police_pack,
};
use chrono::{DateTime, NaiveDate};

const PHOTO: &[u8] = include_bytes!("fixtures/photo.jpg");
const SHARED_PHONE: &str = "+44 7700 900123";
const LAST_PLACE: &str = "Bus stop outside Greggs, High Street (the end nearest the station)";

fn long_description() -> String {
    "Slim build, about 152 cm tall, long straight black hair usually tied back, brown eyes, \
     light brown skin. Walks quickly with her head down and avoids eye contact with adults she \
     does not know. Speaks a little English and understands more than she speaks; she may say \
     she is eighteen if stopped. Often carries a small pink rucksack with a keyring of a cat."
        .to_owned()
}

fn sample_pack() -> PolicePack {
    let at = |s: &str| DateTime::parse_from_rfc3339(s).expect("fixed time");
    PolicePack {
        name: "Nguyễn Thị Hương".into(),
        known_as: vec!["Huong".into(), "محمد".into(), "ሰላም".into()],
        date_of_birth: NaiveDate::from_ymd_opt(2010, 3, 14),
        age_note: "Age disputed; assessed as 15".into(),
        photo: Some(PHOTO.to_vec()),
        physical_description: long_description(),
        distinguishing_marks: "Small scar above the left eyebrow; pierced ears".into(),
        languages: vec!["Vietnamese".into(), "some English".into()],
        interpreter_needed: true,
        medical_needs: "Asthma: blue inhaler, needs it daily".into(),
        vulnerabilities: "Believed to owe a debt to the people who brought her to the UK".into(),
        risks: vec![
            "Missing within 48 hours of placement".into(),
            "Risk of re-trafficking: seen with an older man in a car".into(),
            "Repeat episode: third in 90 days".into(),
        ],
        clothing: "Black puffer jacket, grey joggers, white trainers".into(),
        last_seen: LastSeen {
            when: Some(at("2026-11-28T01:40:00+00:00")),
            place: LAST_PLACE.into(),
            with_whom: "Alone; a car was waiting nearby".into(),
        },
        circumstances: "Left through the back door after the carer went to bed.".into(),
        category: Some(MissingCategory::Missing),
        police_reference: "PR/2026/11/0042".into(),
        places_may_go: vec![
            "Nail bar, 14 Market Street".into(),
            "Friend's flat above the takeaway, Station Road".into(),
        ],
        phones_and_accounts: vec![
            "07700 900456 (her own phone)".into(),
            "Facebook: huong.nguyen.2010".into(),
        ],
        previous_episodes: 2,
        memorised_emergency_number: "07700 900999 (guardian)".into(),
        people_of_concern: vec![PersonOfConcern {
            name: "Ëndrit Hoxha".into(),
            aliases: vec!["Endri".into(), "Dritan".into()],
            phones: vec![SHARED_PHONE.into()],
            vehicles: vec!["Silver Toyota Prius, registration AB12 CDE".into()],
        }],
        local_authority_contacts: vec![LaContact {
            who: "Jane Smith, social worker, Children in Care team".into(),
            numbers: vec!["01632 960001".into()],
            out_of_hours: "01632 960999 (emergency duty team)".into(),
        }],
        generated_at: at("2026-11-28T02:14:00+00:00"),
        generated_by: "A. Carer (carer's phone)".into(),
    }
}

// ---- poppler tools -------------------------------------------------------------------------

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("test-output/police-pack");
    std::fs::create_dir_all(&dir).expect("output folder");
    dir
}

fn write_pdf(name: &str, pdf: &[u8]) -> PathBuf {
    let path = out_dir().join(name);
    std::fs::write(&path, pdf).expect("write pdf");
    path
}

/// Runs a poppler tool; a missing tool is a failure with a clear message, never a skip.
fn poppler(tool: &str, args: &[&str]) -> String {
    let output = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!(
            "`{tool}` could not be run ({e}): install Debian's poppler-utils \
             (scripts/install-deps.sh does)"
        )
    });
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("poppler writes UTF-8")
}

fn text_of(pdf: &Path, pages: Option<(u32, u32)>) -> String {
    let mut args = vec![];
    let (first, last);
    if let Some((f, l)) = pages {
        first = f.to_string();
        last = l.to_string();
        args.extend(["-f", first.as_str(), "-l", last.as_str()]);
    }
    let path = pdf.to_str().expect("utf-8 path");
    args.extend([path, "-"]);
    poppler("pdftotext", &args)
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn page_count(pdf: &Path) -> u32 {
    let info = poppler("pdfinfo", &[pdf.to_str().expect("utf-8 path")]);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("pdfinfo prints Pages:")
}

struct Word {
    page: usize,
    text: String,
    x_min: f32,
    y_min: f32,
    x_max: f32,
    y_max: f32,
}

fn attr(tag: &str, name: &str) -> f32 {
    let key = format!("{name}=\"");
    let start = tag.find(&key).expect("attribute") + key.len();
    let end = start + tag[start..].find('"').expect("closing quote");
    tag[start..end].parse().expect("number")
}

/// Pages (width, height) and words with their boxes, from `pdftotext -bbox`.
fn boxes(pdf: &Path) -> (Vec<(f32, f32)>, Vec<Word>) {
    let html = poppler(
        "pdftotext",
        &["-bbox", pdf.to_str().expect("utf-8 path"), "-"],
    );
    let (mut pages, mut words) = (Vec::new(), Vec::new());
    for line in html.lines().map(str::trim) {
        if line.starts_with("<page ") {
            pages.push((attr(line, "width"), attr(line, "height")));
        } else if line.starts_with("<word ") {
            let text = line
                .split_once('>')
                .and_then(|(_, rest)| rest.strip_suffix("</word>"))
                .expect("word text")
                .to_owned();
            words.push(Word {
                page: pages.len(),
                text,
                x_min: attr(line, "xMin"),
                y_min: attr(line, "yMin"),
                x_max: attr(line, "xMax"),
                y_max: attr(line, "yMax"),
            });
        }
    }
    (pages, words)
}

// ---- tests ---------------------------------------------------------------------------------

#[test]
fn the_pack_text_has_the_names_with_their_diacritics_and_the_shared_phone_number() {
    let pdf = write_pdf(
        "sample.pdf",
        &render_police_pack(&sample_pack()).expect("render"),
    );
    let text = text_of(&pdf, None);
    for expected in [
        "Nguyễn Thị Hương",
        "Ëndrit Hoxha",
        "ሰላም",
        SHARED_PHONE,
        "PR/2026/11/0042",
        "MISSING",
        "Silver Toyota Prius, registration AB12 CDE",
        "01632 960999",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not in the text:\n{text}"
        );
    }
    // Arabic: pdftotext gives back the letters in logical order (krilla maps each shaped
    // glyph cluster to its source text), so the name is found as typed.
    assert!(
        text.contains("محمد"),
        "Arabic name not in the text:\n{text}"
    );
    // The long description wraps, and every word of it is there in order.
    assert!(squash(&text).contains(&squash(&long_description())));
}

#[test]
fn a_long_description_wraps_and_no_word_runs_off_the_page() {
    let pdf = write_pdf(
        "sample-bbox.pdf",
        &render_police_pack(&sample_pack()).expect("render"),
    );
    let (pages, words) = boxes(&pdf);
    assert!(!words.is_empty());
    for w in &words {
        let (pw, ph) = pages[w.page - 1];
        assert!(
            w.x_min >= 0.0 && w.y_min >= 0.0 && w.x_max <= pw && w.y_max <= ph,
            "{:?} at ({}, {})-({}, {}) is outside page {} ({pw} x {ph})",
            w.text,
            w.x_min,
            w.y_min,
            w.x_max,
            w.y_max,
            w.page
        );
        // Stronger than the page: inside the 36 pt margins, with a point for rounding.
        assert!(
            w.x_min >= 35.0 && w.x_max <= pw - 35.0,
            "{:?} crosses the side margins: {} .. {}",
            w.text,
            w.x_min,
            w.x_max
        );
    }
    // The description's first and last words are on different lines.
    let y_of = |needle: &str| {
        words
            .iter()
            .find(|w| w.text == needle)
            .map(|w| w.y_min)
            .unwrap_or_else(|| panic!("{needle} not found"))
    };
    assert!(y_of("Slim") < y_of("cat."), "the description did not wrap");
}

#[test]
fn a_long_list_breaks_onto_page_two_with_the_child_named_again() {
    let mut pack = sample_pack();
    pack.places_may_go = (1..=60)
        .map(|i| format!("Place number {i}: a friend's address on a long road in the town centre"))
        .collect();
    let pdf = write_pdf("long-list.pdf", &render_police_pack(&pack).expect("render"));
    assert!(page_count(&pdf) >= 2);
    let page_one = text_of(&pdf, Some((1, 1)));
    let rest = text_of(&pdf, Some((2, page_count(&pdf))));
    assert!(page_one.contains("Page 1 of"));
    assert!(!page_one.contains("Place number 60:"));
    assert!(
        rest.contains("Place number 60:"),
        "last item not on a later page:\n{rest}"
    );
    assert!(rest.contains("Police pack: Nguyễn Thị Hương (continued)"));
    // Every item is printed exactly once.
    let all = text_of(&pdf, None);
    for i in 1..=60 {
        assert_eq!(
            all.matches(&format!("Place number {i}:")).count(),
            1,
            "item {i}"
        );
    }
    let (pages, words) = boxes(&pdf);
    for w in &words {
        let (pw, ph) = pages[w.page - 1];
        assert!(
            w.x_max <= pw && w.y_max <= ph,
            "{:?} off page {}",
            w.text,
            w.page
        );
    }
}

#[test]
fn the_photo_is_embedded_and_page_one_is_kept_as_a_png() {
    let pdf = write_pdf(
        "sample-photo.pdf",
        &render_police_pack(&sample_pack()).expect("render"),
    );
    let list = poppler("pdfimages", &["-list", pdf.to_str().expect("utf-8 path")]);
    let rows: Vec<Vec<&str>> = list
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 1, "one image expected:\n{list}");
    // page num type width height color comp bpc enc ...
    assert_eq!(&rows[0][3..5], &["300", "400"], "{list}");
    assert_eq!(rows[0][8], "jpeg", "the JPEG is embedded as is:\n{list}");

    let prefix = out_dir().join("page");
    poppler(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            pdf.to_str().expect("utf-8 path"),
            prefix.to_str().expect("utf-8 path"),
        ],
    );
    let png = std::fs::read(out_dir().join("page.png")).expect("page.png written");
    assert!(png.starts_with(b"\x89PNG"));
}

#[test]
fn a_png_photo_is_embedded_too_and_no_photo_still_renders() {
    let mut pack = sample_pack();
    pack.photo = Some(png_bytes(40, 60));
    let pdf = write_pdf("png-photo.pdf", &render_police_pack(&pack).expect("render"));
    let list = poppler("pdfimages", &["-list", pdf.to_str().expect("utf-8 path")]);
    let sizes: Vec<(String, String)> = list
        .lines()
        .skip(2)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols[3].to_owned(), cols[4].to_owned())
        })
        .collect();
    assert_eq!(sizes, vec![("40".to_owned(), "60".to_owned())], "{list}");

    pack.photo = None;
    let pdf = write_pdf("no-photo.pdf", &render_police_pack(&pack).expect("render"));
    assert!(text_of(&pdf, None).contains("No photo on file"));
}

fn png_bytes(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("png header");
    let pixels: Vec<u8> = (0..width * height * 3).map(|i| (i % 251) as u8).collect();
    writer.write_image_data(&pixels).expect("png data");
    writer.finish().expect("png end");
    out
}

/// PNG's chunk checksum (CRC-32, ISO-HDLC), to forge a valid header in a test.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn assert_photo_rejected(photo: Vec<u8>, reason_has: &str) {
    let mut pack = sample_pack();
    pack.photo = Some(photo);
    match render_police_pack(&pack) {
        Err(PackError::InvalidInput { field, reason }) => {
            assert_eq!(field, "photo");
            assert!(reason.contains(reason_has), "{reason}");
            assert!(
                !reason.contains("Nguy"),
                "the message holds no case content"
            );
        }
        other => panic!("expected InvalidInput for the photo, got {other:?}"),
    }
}

#[test]
fn a_photo_that_is_not_an_image_or_too_big_is_refused_naming_the_field() {
    assert_photo_rejected(b"%PDF-1.7 not a photo".to_vec(), "not a JPEG or PNG");
    let mut big = PHOTO.to_vec();
    big.resize(MAX_PHOTO_BYTES + 1, 0);
    assert_photo_rejected(big, "over the limit");
    // A small PNG that declares 100 000 x 100 000 pixels (a decompression bomb).
    let mut bomb = png_bytes(1, 1);
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    assert_photo_rejected(bomb, "pixels");
    // A JPEG whose frame header declares 7 000 x 7 000 pixels (49 megapixels).
    let mut huge = PHOTO.to_vec();
    let sof = huge
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("the fixture is a baseline JPEG");
    huge[sof + 5..sof + 7].copy_from_slice(&7_000u16.to_be_bytes());
    huge[sof + 7..sof + 9].copy_from_slice(&7_000u16.to_be_bytes());
    assert_photo_rejected(huge, "pixels");
    // A JPEG header followed by garbage.
    let mut broken = PHOTO[..40].to_vec();
    broken.extend_from_slice(&[0x55; 400]);
    let mut pack = sample_pack();
    pack.photo = Some(broken);
    assert!(
        matches!(render_police_pack(&pack), Err(PackError::InvalidInput { ref field, .. }) if field == "photo"),
        "a broken JPEG is refused"
    );
}

// ---- the footer band ------------------------------------------------------------------------

/// The footer's words on a page of `pages`: the protective marking line(s), then "Page n of m".
fn footer_words(pack: &PolicePack, page: usize, pages: usize) -> Vec<String> {
    let by = if pack.generated_by.trim().is_empty() {
        "unknown"
    } else {
        pack.generated_by.trim()
    };
    let when = pack
        .generated_at
        .format("%a %-d %b %Y, %H:%M (UTC%:z)")
        .to_string();
    format!(
        "OFFICIAL-SENSITIVE: personal data of a child. Generated {when} by {by}. \
         Page {page} of {pages}"
    )
    .split_whitespace()
    .map(|w| w.replace('\'', "&apos;"))
    .collect()
}

fn overlap(a: &Word, b: &Word) -> bool {
    // A tenth of a point of slack: boxes that only touch do not overlap.
    const E: f32 = 0.1;
    a.x_min + E < b.x_max && b.x_min + E < a.x_max && a.y_min + E < b.y_max && b.y_min + E < a.y_max
}

/// Reads the PDF back and checks the footer band of every page: the footer is all there, says
/// "Page n of m" with the real page count, every body word is above the footer's top, and no
/// two words on a page overlap. Returns the page count and the room left between page 1's
/// lowest body word and its footer.
fn assert_body_clear_of_the_footer(name: &str, pack: &PolicePack) -> (usize, f32) {
    let pdf = write_pdf(name, &render_police_pack(pack).expect("render"));
    let (pages, words) = boxes(&pdf);
    assert_eq!(pages.len() as u32, page_count(&pdf));
    let mut room_on_page_one = f32::INFINITY;
    for page in 1..=pages.len() {
        let on_page: Vec<&Word> = words.iter().filter(|w| w.page == page).collect();
        let marking = on_page
            .iter()
            .find(|w| w.text == "OFFICIAL-SENSITIVE:")
            .unwrap_or_else(|| panic!("{name}: no footer on page {page}"));
        let footer_top = marking.y_min;
        // Footer words are the ones at or below the marking's top whose text is in the footer;
        // exactly the footer's words must be found there.
        let mut expected = footer_words(pack, page, pages.len());
        let (footer, body): (Vec<&Word>, Vec<&Word>) = on_page
            .iter()
            .partition(|w| w.y_min >= footer_top - 0.5 && expected.contains(&w.text));
        let mut found: Vec<String> = footer.iter().map(|w| w.text.clone()).collect();
        expected.sort();
        found.sort();
        assert_eq!(
            found,
            expected,
            "{name}: page {page}'s footer is not exactly the marking and \"Page {page} of {}\"",
            pages.len()
        );
        for w in &body {
            if page == 1 {
                room_on_page_one = room_on_page_one.min(footer_top - w.y_max);
            }
            assert!(
                w.y_max <= footer_top - 2.0,
                "{name}: body word {:?} on page {page} reaches y = {} (footer top at {footer_top})",
                w.text,
                w.y_max
            );
        }
        for (i, a) in on_page.iter().enumerate() {
            for b in &on_page[i + 1..] {
                assert!(
                    !overlap(a, b),
                    "{name}: on page {page}, {:?} ({}, {})-({}, {}) overlaps {:?} ({}, {})-({}, {})",
                    a.text,
                    a.x_min,
                    a.y_min,
                    a.x_max,
                    a.y_max,
                    b.text,
                    b.x_min,
                    b.y_min,
                    b.x_max,
                    b.y_max
                );
            }
        }
    }
    (pages.len(), room_on_page_one)
}

#[test]
fn body_text_stays_above_the_footer_and_no_words_overlap() {
    assert_body_clear_of_the_footer("footer-sample.pdf", &sample_pack());

    // Local-authority contacts, one more at a time, until the list runs from page 1 onto
    // page 2: page 1 is then filled down to the footer (less than one more contact's room). Without people of
    // concern and with a short description the list starts
    // on page 1; a few more risks shift where page 1 ends.
    for extra_risks in 0..4 {
        let mut pack = sample_pack();
        pack.people_of_concern.clear();
        pack.physical_description = "Slim build, about 152 cm tall".into();
        pack.risks
            .extend((1..=extra_risks).map(|i| format!("Further risk number {i}")));
        let mut straddles = false;
        for n in 1..=12 {
            pack.local_authority_contacts = (1..=n)
                .map(|i| LaContact {
                    who: format!("Contact {i}, social worker, Children in Care team"),
                    numbers: vec![format!("01632 96{i:04}")],
                    out_of_hours: "01632 960999 (emergency duty team)".into(),
                })
                .collect();
            let name = format!("footer-contacts-{extra_risks}-{n}.pdf");
            let (pages, room) = assert_body_clear_of_the_footer(&name, &pack);
            let page_one = text_of(&out_dir().join(&name), Some((1, 1)));
            assert!(
                page_one.contains("Contact 1,"),
                "{name}: the list starts on page 1"
            );
            if pages >= 2 && !page_one.contains(&format!("Contact {n},")) {
                assert!(room < 70.0, "{name}: {room} pt left at the foot of page 1");
                straddles = true;
                break;
            }
        }
        assert!(straddles, "the contact list never ran onto page 2");
    }

    // A footer long enough to wrap to three lines keeps every word, clear of the body.
    let mut pack = sample_pack();
    pack.generated_by = "A. Carer, foster carer for the Children in Care team of the county \
                         council, on the carer's phone (a shared device that is kept in the \
                         office at the children's home on Station Road, Anytown)"
        .into();
    pack.places_may_go = (1..=40).map(|i| format!("Place number {i}")).collect();
    assert_body_clear_of_the_footer("footer-long.pdf", &pack);
}

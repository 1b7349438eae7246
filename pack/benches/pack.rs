//! Police pack benchmarks, one JSON line per figure (`{"bench", "value", "unit"}`):
//! - `missing.police_pack_ms`: median time to render the pack with a 2 MB photo (target < 300 ms).
//! - `missing.police_pack_bytes`: the size of that PDF.
//!
//! The photo is a 2 MB PNG of noise made here: the worst case, since krilla decodes a PNG and
//! compresses it again, while a JPEG is embedded as it is.

use std::time::Instant;

use casebook_pack::{
    LaContact, LastSeen, MissingCategory, PersonOfConcern, PolicePack, render_police_pack,
};

const RUNS: usize = 11;

fn noise_png(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("png header");
    // xorshift: incompressible pixels, so the file is as big as the image.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let pixels: Vec<u8> = (0..side * side * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    writer.write_image_data(&pixels).expect("png data");
    writer.finish().expect("png end");
    out
}

fn pack(photo: Vec<u8>) -> PolicePack {
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("fixed time");
    PolicePack {
        name: "Nguyễn Thị Hương".into(),
        known_as: vec!["Huong".into(), "محمد".into(), "ሰላም".into()],
        photo: Some(photo),
        physical_description: "Slim build, long black hair, brown eyes. ".repeat(8),
        languages: vec!["Vietnamese".into()],
        interpreter_needed: true,
        risks: vec!["Risk of re-trafficking".into(); 5],
        clothing: "Black puffer jacket, grey joggers, white trainers".into(),
        last_seen: LastSeen {
            when: Some(at("2026-11-28T01:40:00+00:00")),
            place: "High Street bus stop".into(),
            with_whom: "Alone".into(),
        },
        category: Some(MissingCategory::Missing),
        police_reference: "PR/2026/11/0042".into(),
        places_may_go: vec!["A friend's flat above the takeaway, Station Road".into(); 10],
        phones_and_accounts: vec!["07700 900456".into()],
        people_of_concern: vec![
            PersonOfConcern {
                name: "Ëndrit Hoxha".into(),
                aliases: vec!["Endri".into()],
                phones: vec!["+44 7700 900123".into()],
                vehicles: vec!["Silver Toyota Prius AB12 CDE".into()],
            };
            3
        ],
        local_authority_contacts: vec![LaContact {
            who: "Children in Care team".into(),
            numbers: vec!["01632 960001".into()],
            out_of_hours: "01632 960999".into(),
        }],
        generated_at: at("2026-11-28T02:14:00+00:00"),
        generated_by: "A. Carer (carer's phone)".into(),
        ..PolicePack::default()
    }
}

fn emit(name: &str, value: f64, unit: &str) {
    println!(r#"{{"bench":"{name}","value":{value},"unit":"{unit}"}}"#);
}

fn main() {
    let photo = noise_png(818);
    assert!(photo.len() >= 2_000_000, "photo of {} bytes", photo.len());
    let pack = pack(photo);
    let mut bytes = render_police_pack(&pack).expect("render").len();
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            bytes = render_police_pack(&pack).expect("render").len();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    emit("missing.police_pack_ms", times[RUNS / 2], "ms");
    emit("missing.police_pack_bytes", bytes as f64, "bytes");
}

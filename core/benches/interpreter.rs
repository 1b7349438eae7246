//! `cargo bench` figure for the interpreter link check (statutory guidance §26), one JSON
//! object per line: `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! - `casework.interpreter_check_500_associates_us`: one interpreter (name, phone, agency)
//!   checked against 500 persons of concern (each with two aliases, two phone numbers and an
//!   organisation) whose folded forms are kept, median of 200 runs.
//! - `casework.interpreter_keys_500_associates_us`: folding those 500 persons whole (as the
//!   server does once per change of the `associates` document), median of 20 runs.
//! - `casework.interpreter_check_device_500_associates_us`: the device's whole check
//!   (`links_to_persons`: folding the persons, parsing only the numbers that could match, and
//!   the check), median of 50 runs.

use std::hint::black_box;
use std::time::Instant;

use casebook_core::ids::EntryId;
use casebook_core::model::{
    AssociateKeys, Interpreter, InterpreterMode, PersonOfConcern, interpreter_links,
    links_to_persons,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng", "Bùi", "Đỗ", "Hoxha", "Kola",
];
const GIVEN: &[&str] = &[
    "Văn", "Thị", "Minh", "Hùng", "Lan", "Dũng", "Hương", "Tuấn", "Quang", "Ëndrit", "Arben",
    "Bảo", "Khánh",
];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.gen_range(0..from.len())]
}

fn name(rng: &mut StdRng) -> String {
    format!(
        "{} {} {}",
        pick(rng, FAMILY),
        pick(rng, GIVEN),
        pick(rng, GIVEN)
    )
}

fn emit(name: &str, value: f64, unit: &str) {
    println!(
        "{}",
        serde_json::json!({"bench": name, "value": value, "unit": unit})
    );
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let mut rng = StdRng::seed_from_u64(26);
    let persons: Vec<(EntryId, PersonOfConcern)> = (0..500)
        .map(|i| {
            let person = PersonOfConcern {
                name: name(&mut rng),
                aliases: vec![name(&mut rng), pick(&mut rng, GIVEN).to_owned()],
                phone_numbers: vec![
                    format!("07700 9{:05}", rng.gen_range(0..100_000)),
                    format!("+84 91 {:07}", rng.gen_range(0..10_000_000)),
                ],
                organisation: format!("Agency {i} Ltd"),
                ..PersonOfConcern::default()
            };
            (EntryId::random(&mut rng), person)
        })
        .collect();

    let mut samples = Vec::new();
    let mut keys = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        keys = black_box(AssociateKeys::all(&persons));
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    emit(
        "casework.interpreter_keys_500_associates_us",
        median(samples),
        "us",
    );

    let interpreter = Interpreter {
        mode: InterpreterMode::InPerson,
        name: "Hung Nguyen".into(),
        phone: "07700 900123".into(),
        agency: "Language Line".into(),
        ..Interpreter::default()
    };
    let mut samples = Vec::new();
    let mut found = 0;
    for _ in 0..200 {
        let started = Instant::now();
        let links = interpreter_links(black_box(&interpreter), &keys, |_| String::new());
        samples.push(started.elapsed().as_secs_f64() * 1e6);
        found = links.len();
    }
    assert!(found > 0, "the generated persons include a Nguyễn … Hùng");
    emit(
        "casework.interpreter_check_500_associates_us",
        median(samples),
        "us",
    );

    let mut samples = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let links = links_to_persons(black_box(&interpreter), &persons);
        samples.push(started.elapsed().as_secs_f64() * 1e6);
        assert_eq!(links.len(), found);
    }
    emit(
        "casework.interpreter_check_device_500_associates_us",
        median(samples),
        "us",
    );
}

//! `cargo bench` figures for the bindings, one JSON object per line:
//! `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! - `mobile.rust_list_500_cases_ms`: open a store of 500 cases and list them through the
//!   wrapper's Rust API (median of 5), measured like the core's
//!   `core.open_and_list_500_cases_ms`;
//! - `mobile.ffi_list_500_cases_ms`: the same calls from Python through the generated
//!   bindings and the C ABI (median of 5, timed inside Python);
//! - `mobile.ffi_over_rust_ratio`: the two above divided (target: at most 1.5);
//! - `mobile.cdylib_stripped_bytes`: the release cdylib after `strip`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use casebook_mobile::Casebook;
use casebook_mobile::records::{Immigration, LegalBasis, Nrm, Profile};

const CASES: usize = 500;
const KEY: [u8; 32] = [0x5a; 32];

fn emit(name: &str, value: f64, unit: &str) {
    println!("{{\"bench\": \"{name}\", \"value\": {value}, \"unit\": \"{unit}\"}}");
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn open(path: &Path) -> std::sync::Arc<Casebook> {
    Casebook::open(path.to_string_lossy().into_owned(), KEY.to_vec()).expect("open")
}

/// The release cdylib next to this bench's executable.
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("bench executable");
    let deps = exe.parent().expect("deps dir");
    let name = format!(
        "{}casebook_mobile{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    [
        deps.join(&name),
        deps.parent().expect("profile dir").join(&name),
    ]
    .into_iter()
    .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
    .max()
    .map(|(_, p)| p)
    .unwrap_or_else(|| panic!("{name} not found next to {}", exe.display()))
}

fn check(what: &str, command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const PYTHON_LIST: &str = r#"
import sys, time
from casebook_mobile import Casebook
path, n = sys.argv[1], int(sys.argv[2])
key = bytes([0x5a] * 32)
samples = []
for _ in range(5):
    started = time.perf_counter()
    book = Casebook.open(path, key)
    cases = book.list_cases()
    samples.append((time.perf_counter() - started) * 1e3)
    assert len(cases) == n, len(cases)
    book.close_store()
    del book
samples.sort()
print(samples[len(samples) // 2])
"#;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("500.db");
    {
        let book = open(&path);
        for i in 0..CASES {
            book.create_case(Profile {
                case_reference: format!("HUL-{i:04}"),
                given_name: format!("Child {i}"),
                legal_basis: LegalBasis::CareOrder,
                nrm: Nrm::default(),
                immigration: Immigration::default(),
                ..Profile::default()
            })
            .expect("create case");
        }
    }

    let rust = median(
        (0..5)
            .map(|_| {
                let started = Instant::now();
                let book = open(&path);
                let cases = book.list_cases().expect("list");
                let ms = started.elapsed().as_secs_f64() * 1e3;
                assert_eq!(cases.len(), CASES);
                ms
            })
            .collect(),
    );
    emit("mobile.rust_list_500_cases_ms", rust, "ms");

    let library = cdylib();
    let bindings = dir.path().join("bindings");
    check(
        "generate Python bindings",
        Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
            .args([
                "generate",
                "--no-format",
                "--language",
                "python",
                "--out-dir",
            ])
            .arg(&bindings)
            .arg(&library),
    );
    std::fs::copy(&library, bindings.join(library.file_name().expect("name"))).expect("copy");
    let ffi: f64 = check(
        "list through Python",
        Command::new("python3")
            .args(["-c", PYTHON_LIST])
            .arg(&path)
            .arg(CASES.to_string())
            .env("PYTHONPATH", &bindings),
    )
    .trim()
    .parse()
    .expect("python timing");
    emit("mobile.ffi_list_500_cases_ms", ffi, "ms");
    emit("mobile.ffi_over_rust_ratio", ffi / rust, "ratio");

    let stripped = dir.path().join("stripped.so");
    check(
        "strip the cdylib",
        Command::new("strip")
            .arg("--strip-all")
            .arg(&library)
            .arg("-o")
            .arg(&stripped),
    );
    let bytes = std::fs::metadata(&stripped).expect("stripped size").len();
    #[allow(clippy::cast_precision_loss)]
    emit("mobile.cdylib_stripped_bytes", bytes as f64, "bytes");
}

//! `cargo bench` figures for the bindings, one JSON object per line:
//! `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! - `mobile.rust_list_500_cases_ms`: list the 500 cases of an open store through the
//!   wrapper's Rust API (median of the last 20 of 200 calls);
//! - `mobile.ffi_list_500_cases_ms`: the same call from Kotlin on the JVM through the
//!   generated bindings, JNA and the C ABI (median of the last 20 of 200, after JIT warm-up);
//! - `mobile.ffi_over_rust_ratio`: the two above divided (target: at most 1.5);
//! - `mobile.python_ffi_list_500_cases_ms`: opening the store and listing from Python (median of 5, timed
//!   inside Python), for partners scripting against the core;
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

const KOTLIN_LIST: &str = r#"
import org.casebook.mobile.*

fun main(args: Array<String>) {
    val path = args[0]
    val n = args[1].toInt()
    val key = ByteArray(32) { 0x5a }
    val samples = mutableListOf<Double>()
    // The first rounds warm up the JIT; the median of the last twenty is reported.
    val book = Casebook.open(path, key)
    repeat(200) { round ->
        val started = System.nanoTime()
        val cases = book.listCases()
        val ms = (System.nanoTime() - started) / 1e6
        check(cases.size == n) { "listed ${cases.size}" }
        if (round >= 180) samples.add(ms)
    }
    book.closeStore()
    samples.sort()
    println(samples[samples.size / 2])
}
"#;

/// The Kotlin compiler and the jars the JVM side needs, if installed (scripts/install-deps.sh).
fn kotlin_tools() -> Option<(PathBuf, PathBuf, PathBuf, PathBuf)> {
    let root = Command::new("npm").args(["root", "-g"]).output().ok()?;
    let kotlinc = PathBuf::from(String::from_utf8_lossy(&root.stdout).trim())
        .join("kotlin-compiler/bin/kotlinc");
    let lib = kotlinc.canonicalize().ok()?.parent()?.parent()?.join("lib");
    let jna = PathBuf::from("/usr/share/java/jna.jar");
    [&kotlinc, &jna].iter().all(|p| p.exists()).then(|| {
        (
            kotlinc,
            jna,
            lib.join("kotlin-stdlib.jar"),
            lib.join("kotlinx-coroutines-core-jvm.jar"),
        )
    })
}

/// Median ms of opening the store and listing its cases from Kotlin on the JVM.
fn kotlin_list(library: &Path, dir: &Path, path: &Path) -> Option<f64> {
    let (kotlinc, jna, stdlib, coroutines) = kotlin_tools()?;
    let out = dir.join("kotlin");
    check(
        "generate Kotlin bindings",
        Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
            .args([
                "generate",
                "--no-format",
                "--language",
                "kotlin",
                "--out-dir",
            ])
            .arg(&out)
            .arg(library),
    );
    std::fs::copy(library, out.join(library.file_name()?)).ok()?;
    let source = out.join("ListBench.kt");
    std::fs::write(&source, KOTLIN_LIST).ok()?;
    let jar = out.join("bench.jar");
    let classpath = |jars: &[&Path]| std::env::join_paths(jars).expect("classpath");
    check(
        "kotlinc",
        Command::new(&kotlinc)
            .arg(&source)
            .arg(out.join("org/casebook/mobile/casebook_mobile.kt"))
            .arg("-cp")
            .arg(classpath(&[&jna, &coroutines]))
            .arg("-d")
            .arg(&jar),
    );
    check(
        "list through Kotlin",
        Command::new("java")
            .arg(format!("-Djna.library.path={}", out.display()))
            .arg("-cp")
            .arg(classpath(&[&jar, &jna, &stdlib, &coroutines]))
            .arg("ListBenchKt")
            .arg(path)
            .arg(CASES.to_string()),
    )
    .trim()
    .parse()
    .ok()
}

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

    let book = open(&path);
    let rust = median(
        (0..200)
            .map(|_| {
                let started = Instant::now();
                let cases = book.list_cases().expect("list");
                let ms = started.elapsed().as_secs_f64() * 1e3;
                assert_eq!(cases.len(), CASES);
                ms
            })
            .skip(180)
            .collect(),
    );
    drop(book);
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
    emit("mobile.python_ffi_list_500_cases_ms", ffi, "ms");
    match kotlin_list(&library, dir.path(), &path) {
        Some(kotlin) => {
            emit("mobile.ffi_list_500_cases_ms", kotlin, "ms");
            emit("mobile.ffi_over_rust_ratio", kotlin / rust, "ratio");
        }
        None => eprintln!("Kotlin tools missing (scripts/install-deps.sh): no Kotlin figure"),
    }

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

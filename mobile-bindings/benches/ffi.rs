//! `cargo bench` figures for the bindings, one JSON object per line:
//! `{"bench": "<name>", "value": <number>, "unit": "<unit>"}`.
//!
//! - `mobile.rust_list_500_cases_ms`: list the 500 cases of an open store through the
//!   wrapper's Rust API, dropping the list included (median of 2,000 calls after 1,000
//!   warm-up calls);
//! - `mobile.ffi_list_500_cases_ms`: the same call from Kotlin on the JVM through the
//!   generated bindings, JNA and the C ABI (median of 2,000 calls after 1,000 that warm up
//!   the JIT);
//! - `mobile.ffi_over_rust_ratio`: Kotlin over Rust (target: at most 1.5), the median over
//!   turns of each Kotlin turn's median over the Rust turn's that follows it; and
//!   `mobile.ffi_overhead_per_case_us`: what crossing the boundary adds per listed case;
//! - `mobile.python_ffi_list_500_cases_ms`: opening the store and listing from Python (median
//!   of 5, timed inside Python), for partners scripting against the core;
//! - `mobile.cdylib_stripped_bytes`: the release cdylib after `strip`.
//!
//! The Rust and Kotlin figures are taken in lockstep, so that both see the same machine: the
//! JVM runs as a child process with its own handle on the same store, and the two take turns
//! in batches of calls, each waiting on a pipe while the other works. Measured one after the
//! other, minutes apart, the ratio swung between 0.9 and 2.2 on this shared 2-core machine,
//! whose speed changes from one second to the next (a listing takes 0.40 ms, then 0.72 ms,
//! in the same process); a turn of 25 calls lasts about 15 ms, so each pair of turns sees
//! the same machine, and the ratio is taken per pair.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use casebook_mobile::Casebook;
use casebook_mobile::records::{Immigration, LegalBasis, Nrm, Profile};

const CASES: usize = 500;
/// Calls per turn of the lockstep, and turns (warm-up, then measured) on each side.
const BATCH: usize = 25;
const WARM_UP_TURNS: usize = 40;
const MEASURED_TURNS: usize = 80;
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

/// The JVM side of the lockstep: for each line `N` on stdin it lists the cases N times and
/// answers with the N durations in nanoseconds on one line; `quit` closes the store.
const KOTLIN_LIST: &str = r#"
import org.casebook.mobile.*

fun main(args: Array<String>) {
    val n = args[1].toInt()
    val book = Casebook.open(args[0], ByteArray(32) { 0x5a })
    while (true) {
        val line = readLine() ?: break
        if (line == "quit") break
        val times = LongArray(line.trim().toInt()) {
            val started = System.nanoTime()
            val cases = book.listCases()
            val took = System.nanoTime() - started
            check(cases.size == n) { "listed ${cases.size}" }
            took
        }
        println(times.joinToString(" "))
        System.out.flush()
    }
    book.closeStore()
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

/// The JVM side of the lockstep, started and waiting for its first turn.
struct KotlinLister {
    child: Child,
    turns: ChildStdin,
    answers: BufReader<ChildStdout>,
}

impl KotlinLister {
    /// Generate the Kotlin bindings of `library`, compile the lister against them and start
    /// it on the store at `path`. `None` when the Kotlin tools are not installed.
    fn start(library: &Path, dir: &Path, path: &Path) -> Option<Self> {
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
        let name = library.file_name().expect("library file name");
        std::fs::copy(library, out.join(name)).expect("copy the cdylib");
        let source = out.join("ListBench.kt");
        std::fs::write(&source, KOTLIN_LIST).expect("write the Kotlin lister");
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
        let mut child = Command::new("java")
            .arg(format!("-Djna.library.path={}", out.display()))
            .arg("-cp")
            .arg(classpath(&[&jar, &jna, &stdlib, &coroutines]))
            .arg("ListBenchKt")
            .arg(path)
            .arg(CASES.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the JVM");
        let turns = child.stdin.take().expect("JVM stdin");
        let answers = BufReader::new(child.stdout.take().expect("JVM stdout"));
        Some(KotlinLister {
            child,
            turns,
            answers,
        })
    }

    /// List the cases `calls` times from Kotlin; the duration of each call in ms.
    fn turn(&mut self, calls: usize) -> Vec<f64> {
        writeln!(self.turns, "{calls}").expect("send a turn to the JVM");
        self.turns.flush().expect("send a turn to the JVM");
        let mut line = String::new();
        self.answers
            .read_line(&mut line)
            .expect("read the JVM's answer");
        let times: Vec<f64> = line
            .split_whitespace()
            .map(|nanos| nanos.parse::<f64>().expect("a duration in ns") / 1e6)
            .collect();
        assert_eq!(times.len(), calls, "the JVM lister failed (see its stderr)");
        times
    }

    fn finish(mut self) {
        writeln!(self.turns, "quit").expect("stop the JVM");
        let status = self.child.wait().expect("wait for the JVM");
        assert!(status.success(), "the JVM lister exited with {status}");
    }
}

/// Durations in ms of `calls` listings through the wrapper's Rust API. Each includes
/// dropping the returned list, as criterion's `iter` counts dropping a routine's output: the
/// FFI call frees the same Rust strings inside the call, as it serialises them.
fn rust_turn(book: &Casebook, calls: usize) -> Vec<f64> {
    (0..calls)
        .map(|_| {
            let started = Instant::now();
            let listed = book.list_cases().expect("list").len();
            let ms = started.elapsed().as_secs_f64() * 1e3;
            assert_eq!(listed, CASES);
            ms
        })
        .collect()
}

/// The listing figures of one lockstep run.
struct ListFigures {
    /// Median ms of a listing in Rust.
    rust_ms: f64,
    /// Median ms of a listing from Kotlin, and the median over turns of the Kotlin turn's
    /// median divided by the Rust turn's that followed it.
    kotlin: Option<(f64, f64)>,
}

/// List in Rust and, if the Kotlin tools are installed, from Kotlin, in lockstep turns.
fn list_figures(book: &Casebook, mut kotlin: Option<KotlinLister>) -> ListFigures {
    let (mut rust_ms, mut kotlin_ms, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for turn in 0..WARM_UP_TURNS + MEASURED_TURNS {
        let kotlin_turn = kotlin.as_mut().map(|kotlin| kotlin.turn(BATCH));
        let rust_turn = rust_turn(book, BATCH);
        if turn < WARM_UP_TURNS {
            continue;
        }
        if let Some(kotlin_turn) = kotlin_turn {
            ratios.push(median(kotlin_turn.clone()) / median(rust_turn.clone()));
            kotlin_ms.extend(kotlin_turn);
        }
        rust_ms.extend(rust_turn);
    }
    if let Some(kotlin) = kotlin {
        kotlin.finish();
    }
    ListFigures {
        rust_ms: median(rust_ms),
        kotlin: (!ratios.is_empty()).then(|| (median(kotlin_ms), median(ratios))),
    }
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
    let python: f64 = check(
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
    emit("mobile.python_ffi_list_500_cases_ms", python, "ms");

    let kotlin = KotlinLister::start(&library, dir.path(), &path);
    if kotlin.is_none() {
        eprintln!("Kotlin tools missing (scripts/install-deps.sh): no Kotlin figure");
    }
    let book = open(&path);
    let figures = list_figures(&book, kotlin);
    drop(book);
    emit("mobile.rust_list_500_cases_ms", figures.rust_ms, "ms");
    if let Some((kotlin_ms, ratio)) = figures.kotlin {
        emit("mobile.ffi_list_500_cases_ms", kotlin_ms, "ms");
        emit("mobile.ffi_over_rust_ratio", ratio, "ratio");
        #[allow(clippy::cast_precision_loss)]
        emit(
            "mobile.ffi_overhead_per_case_us",
            (kotlin_ms - figures.rust_ms) * 1e3 / CASES as f64,
            "us",
        );
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

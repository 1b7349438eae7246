//! The generated bindings of `casebook-mobile`, tested from their own languages.
//!
//! `casebook-mobile` is a dependency of this crate, so `cargo test` has already built its
//! cdylib. Each test here generates the Kotlin, Swift and Python bindings and the C header
//! from that library (library mode, uniffi's own generator: the code behind the in-tree
//! `uniffi-bindgen` binary), once per run, and then:
//!
//! - compiles `kotlin/CasebookTest.kt` with the generated Kotlin against JNA and
//!   kotlinx-coroutines and runs it on the JVM;
//! - runs `python/test_bindings.py` against the generated Python (with
//!   `mobile-bindings/python/records_repr.py` appended, as the generation script does);
//! - checks the Swift file was produced, compiles the C header with the C compiler, and
//!   links `c/abi.c` against the cdylib to call through the C ABI.
//!
//! Missing tools fail the test with what to install (CI installs them): `java` (17),
//! `kotlinc` (npm package `kotlin-compiler`, or `KOTLINC`), JNA (`/usr/share/java/jna.jar`
//! from Debian's `libjna-java`, or `JNA_JAR`), `python3`, `cc`/`gcc`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The bindings generated for this run: (directory, cdylib copied into it).
fn generated() -> &'static (PathBuf, PathBuf) {
    static GENERATED: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    GENERATED.get_or_init(|| {
        let library = cdylib();
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("casebook-bindings");
        if out.exists() {
            std::fs::remove_dir_all(&out).expect("clear old bindings");
        }
        std::fs::create_dir_all(&out).expect("bindings dir");
        uniffi::generate(uniffi::GenerateOptions {
            languages: vec![
                uniffi::TargetLanguage::Kotlin,
                uniffi::TargetLanguage::Swift,
                uniffi::TargetLanguage::Python,
            ],
            source: utf8(&library).into(),
            out_dir: utf8(&out).into(),
            config_override: None,
            format: false,
            crate_filter: None,
            metadata_no_deps: true,
        })
        .expect("generate bindings in library mode");
        // As scripts/generate-bindings.sh does: records print their fields in Python.
        let python = out.join("casebook_mobile.py");
        let mut module = std::fs::read_to_string(&python).expect("generated Python");
        module.push_str(include_str!("../../mobile-bindings/python/records_repr.py"));
        std::fs::write(&python, module).expect("patch the generated Python");
        // Kotlin (JNA) and Python load the library by name from this directory.
        let copy = out.join(library.file_name().expect("library file name"));
        std::fs::copy(&library, &copy).expect("copy the cdylib next to the bindings");
        (out, copy)
    })
}

fn utf8(path: &Path) -> String {
    path.to_str().expect("UTF-8 path").to_owned()
}

/// The cdylib `cargo test` built for this profile (as a dependency it stays in `deps/`).
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let deps = exe.parent().expect("deps dir");
    let profile = deps.parent().expect("profile dir");
    let name = format!(
        "{}casebook_mobile{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    [deps.join(&name), profile.join(&name)]
        .into_iter()
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("{name} not found next to {}", exe.display()))
}

/// This directory (`tests/bindings`).
fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bindings")
}

/// Run `command`, failing the test with its output unless it succeeds; returns stdout.
fn run(what: &str, command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start {command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- {what} stdout ---\n{stdout}");
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    stdout
}

/// A tool from the environment variable `var`, else the first candidate that exists; a
/// missing tool fails the test with the install hint.
fn tool(var: &str, candidates: &[PathBuf], hint: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| panic!("missing tool: {hint} (or set {var})"))
}

/// A program on `PATH`.
fn on_path(name: &str) -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .collect()
        })
        .unwrap_or_default()
}

/// Where npm puts global packages (`npm root -g`), if npm is there.
fn npm_root() -> Option<PathBuf> {
    let output = Command::new("npm").args(["root", "-g"]).output().ok()?;
    output
        .status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// The Kotlin usage example of `mobile-bindings/README.md` (its ```kotlin block that imports
/// the bindings), compiled with the test programs so that it keeps matching the real API.
fn readme_kotlin_example() -> String {
    let readme = here().join("../../mobile-bindings/README.md");
    let readme = std::fs::read_to_string(&readme).expect("mobile-bindings/README.md");
    readme
        .split("```kotlin\n")
        .skip(1)
        .filter_map(|block| block.split_once("\n```").map(|(code, _)| code))
        .find(|code| code.contains("import org.casebook.mobile.*"))
        .expect("mobile-bindings/README.md has a Kotlin example importing the bindings")
        .to_owned()
}

/// The Kotlin test programs, and the README's example, compiled against the generated
/// bindings: (java, classpath, dir).
fn kotlin() -> &'static (PathBuf, std::ffi::OsString, PathBuf) {
    static KOTLIN: OnceLock<(PathBuf, std::ffi::OsString, PathBuf)> = OnceLock::new();
    KOTLIN.get_or_init(|| {
        let java = tool(
            "JAVA",
            &on_path("java"),
            "java 17 (apt-get install -y openjdk-17-jdk-headless)",
        );
        let mut kotlinc_candidates = on_path("kotlinc");
        if let Some(root) = npm_root() {
            kotlinc_candidates.push(root.join("kotlin-compiler/bin/kotlinc"));
        }
        let kotlinc = tool(
            "KOTLINC",
            &kotlinc_candidates,
            "kotlinc (npm install -g kotlin-compiler)",
        );
        let jna = tool(
            "JNA_JAR",
            &[PathBuf::from("/usr/share/java/jna.jar")],
            "JNA (apt-get install -y libjna-java)",
        );
        let kotlin_lib = kotlinc
            .canonicalize()
            .expect("kotlinc path")
            .parent()
            .and_then(Path::parent)
            .expect("kotlin home")
            .join("lib");
        let coroutines = kotlin_lib.join("kotlinx-coroutines-core-jvm.jar");
        let stdlib = kotlin_lib.join("kotlin-stdlib.jar");
        for jar in [&coroutines, &stdlib] {
            assert!(
                jar.is_file(),
                "missing {} (it ships with the npm kotlin-compiler)",
                jar.display()
            );
        }

        let (dir, _) = generated();
        let generated_kt = dir.join("org/casebook/mobile/casebook_mobile.kt");
        let readme_example = dir.join("ReadmeExample.kt");
        std::fs::write(&readme_example, readme_kotlin_example()).expect("write the example");
        let jar = dir.join("casebook-kotlin-test.jar");
        let classpath = |jars: &[&Path]| std::env::join_paths(jars).expect("classpath");
        run(
            "kotlinc",
            Command::new(&kotlinc)
                .arg(here().join("kotlin/CasebookTest.kt"))
                .arg(here().join("kotlin/DayTest.kt"))
                .arg(here().join("kotlin/SignerTest.kt"))
                .arg(here().join("kotlin/AlertsTest.kt"))
                .arg(here().join("kotlin/Support.kt"))
                .arg(&readme_example)
                .arg(&generated_kt)
                .arg("-cp")
                .arg(classpath(&[&jna, &coroutines]))
                .arg("-d")
                .arg(&jar),
        );
        (
            java,
            classpath(&[&jar, &jna, &stdlib, &coroutines]),
            dir.clone(),
        )
    })
}

/// A JVM running `main_class` from the compiled Kotlin tests.
fn jvm(main_class: &str) -> Command {
    let (java, classpath, dir) = kotlin();
    let mut command = Command::new(java);
    command
        .arg(format!("-Djna.library.path={}", dir.display()))
        .arg("-cp")
        .arg(classpath)
        .arg(main_class);
    command
}

#[test]
fn the_readme_kotlin_example_compiles_against_the_generated_bindings() {
    let (_, _, dir) = kotlin();
    let example = std::fs::read_to_string(dir.join("ReadmeExample.kt")).expect("example");
    assert!(example.contains("Casebook.open") && example.contains("syncNow"));
}

#[test]
fn kotlin_suite_runs_on_the_jvm() {
    let stdout = run("kotlin suite", &mut jvm("CasebookTestKt"));
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

/// The realistic day (`kotlin/DayTest.kt`) against a real server over TLS. This test is the
/// administrator: it sets up the people, issues enrolment codes, and answers the Kotlin
/// program's requests (put the new case in the team and link the carer; revoke a phone).
#[test]
fn kotlin_day_against_a_real_server() {
    use std::io::{BufRead, BufReader};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let h = runtime
        .block_on(casebook_tests::support::Harness::start())
        .expect("server");
    let admin = &h.admin;
    let day = tempfile::tempdir().expect("dir");
    let (guardian, supervisor, carer, team, codes) = runtime
        .block_on(async {
            let guardian = admin.user("guardian", "guardian").await?;
            let supervisor = admin.user("supervisor", "supervisor").await?;
            let carer = admin.user("carer", "carer").await?;
            let team = admin.team("day team", &[&supervisor, &guardian]).await?;
            let codes = [
                admin.code(&guardian).await?,
                admin.code(&supervisor).await?,
                admin.code(&carer).await?,
            ];
            anyhow::Ok((guardian, supervisor, carer, team, codes))
        })
        .expect("set up people");
    let _ = (&guardian, &supervisor);
    let mut child = jvm("DayTestKt")
        .env("CASEBOOK_URL", h.server.base_url())
        .env("CASEBOOK_PIN", &h.server.cert_fingerprint)
        .env("CASEBOOK_DAY_DIR", day.path())
        .env("CASEBOOK_CODE_GUARDIAN", &codes[0])
        .env("CASEBOOK_CODE_SUPERVISOR", &codes[1])
        .env("CASEBOOK_CODE_CARER", &codes[2])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the JVM");
    let stdout = child.stdout.take().expect("stdout");
    let mut transcript = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read");
        transcript.push_str(&line);
        transcript.push('\n');
        let Some(request) = line.strip_prefix("REQUEST ") else {
            continue;
        };
        let parts: Vec<&str> = request.split_whitespace().collect();
        let [n, verb, arg] = parts[..] else {
            panic!("bad request line {line}");
        };
        runtime
            .block_on(async {
                match verb {
                    "case" => {
                        admin.set_team(arg, &team).await?;
                        admin.link_carer(arg, &carer).await
                    }
                    "revoke" => admin.revoke(arg).await,
                    other => anyhow::bail!("unknown request {other}"),
                }
            })
            .unwrap_or_else(|e| panic!("administrator failed {verb}: {e}"));
        std::fs::write(day.path().join(format!("done-{n}")), b"").expect("signal");
    }
    let status = child.wait().expect("wait");
    assert!(
        status.success() && transcript.contains(" 0 failed"),
        "{transcript}"
    );
    assert!(transcript.contains("8 passed"), "{transcript}");
}

/// The device key held by a Kotlin `DeviceSigner` built on `java.security`
/// (`kotlin/SignerTest.kt`) against a real server over TLS: it enrols and syncs, and a copy of
/// its store on a phone without the private key cannot open a session.
#[test]
fn kotlin_signer_against_a_real_server() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let h = runtime
        .block_on(casebook_tests::support::Harness::start())
        .expect("server");
    let codes = runtime
        .block_on(async {
            let guardian = h.admin.user("kt-guardian", "guardian").await?;
            anyhow::Ok([
                h.admin.code(&guardian).await?,
                h.admin.code(&guardian).await?,
            ])
        })
        .expect("codes");
    let dir = tempfile::tempdir().expect("dir");
    let stdout = run(
        "kotlin signer",
        jvm("SignerTestKt")
            .env("CASEBOOK_URL", h.server.base_url())
            .env("CASEBOOK_PIN", &h.server.cert_fingerprint)
            .env("CASEBOOK_SIGNER_DIR", dir.path())
            .env("CASEBOOK_CODE_1", &codes[0])
            .env("CASEBOOK_CODE_2", &codes[1]),
    );
    assert!(stdout.contains("5 passed, 0 failed"), "{stdout}");
    drop(h);
}

#[test]
fn python_suite_runs() {
    let python = tool(
        "PYTHON",
        &on_path("python3"),
        "python3 (apt-get install -y python3)",
    );
    let (dir, _) = generated();
    run(
        "python suite",
        Command::new(python)
            .arg(here().join("python/test_bindings.py"))
            .env("PYTHONPATH", dir),
    );
}

/// The write rules on the device through the Python bindings (`python/test_write_rules.py`):
/// a guardian's device (the core) opens a case with a plan step and syncs; the carer's phone
/// (Python) may not change the step and is told why.
#[test]
fn python_write_rules_against_a_real_server() {
    let python = tool(
        "PYTHON",
        &on_path("python3"),
        "python3 (apt-get install -y python3)",
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let h = runtime
        .block_on(casebook_tests::support::Harness::start())
        .expect("server");
    let (case, code) = runtime
        .block_on(async {
            let (_, guardian) = h.person("py-rules-guardian", "guardian").await?;
            let carer = h.admin.user("py-rules-carer", "carer").await?;
            let profile = casebook_core::model::Profile {
                case_reference: "PY-RULES-1".into(),
                ..Default::default()
            };
            let edit = guardian.edit();
            let case = guardian
                .lock()
                .create_case(&edit, &mut rand::rngs::OsRng, &profile)?;
            let safety = casebook_core::doc::DocId::new(case, casebook_core::doc::DocKind::Safety);
            guardian.change(safety, |d, e| {
                d.add_plan_step(
                    e,
                    casebook_core::ids::EntryId::random(&mut rand::rngs::OsRng),
                    &casebook_core::model::PlanStep {
                        description: "24-hour supervision".into(),
                        restricts: true,
                        ..Default::default()
                    },
                )
            })?;
            guardian.sync().await?;
            h.admin.link_carer(&case.to_string(), &carer).await?;
            anyhow::Ok((case.to_string(), h.admin.code(&carer).await?))
        })
        .expect("a case with a plan step, and the carer's code");
    let (dir, _) = generated();
    run(
        "python write rules",
        Command::new(python)
            .arg(here().join("python/test_write_rules.py"))
            .env("PYTHONPATH", dir)
            .env("CASEBOOK_URL", h.server.base_url())
            .env("CASEBOOK_PIN", &h.server.cert_fingerprint)
            .env("CASEBOOK_CODE_CARER", code)
            .env("CASEBOOK_CASE", case),
    );
    drop(h);
}

/// The Python bindings against a real server over TLS (`python/test_day.py`).
#[test]
fn python_day_against_a_real_server() {
    let python = tool(
        "PYTHON",
        &on_path("python3"),
        "python3 (apt-get install -y python3)",
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let h = runtime
        .block_on(casebook_tests::support::Harness::start())
        .expect("server");
    let codes = runtime
        .block_on(async {
            let guardian = h.admin.user("py-guardian", "guardian").await?;
            let twin = h.admin.user("py-twin", "guardian").await?;
            let pair = h.admin.user("py-pair", "guardian").await?;
            anyhow::Ok([
                h.admin.code(&guardian).await?,
                h.admin.code(&guardian).await?,
                h.admin.code(&twin).await?,
                h.admin.code(&twin).await?,
                h.admin.code(&pair).await?,
                h.admin.code(&pair).await?,
            ])
        })
        .expect("codes");
    let (dir, _) = generated();
    // The server keeps serving on the runtime's worker threads while Python runs.
    run(
        "python day",
        Command::new(python)
            .arg(here().join("python/test_day.py"))
            .env("PYTHONPATH", dir)
            .env("CASEBOOK_URL", h.server.base_url())
            .env("CASEBOOK_PIN", &h.server.cert_fingerprint)
            .env("CASEBOOK_CODE_1", &codes[0])
            .env("CASEBOOK_CODE_2", &codes[1])
            .env("CASEBOOK_CODE_3", &codes[2])
            .env("CASEBOOK_CODE_4", &codes[3])
            .env("CASEBOOK_CODE_5", &codes[4])
            .env("CASEBOOK_CODE_6", &codes[5]),
    );
    drop(h);
}

#[test]
fn swift_and_c_header_are_generated_and_the_c_abi_links() {
    let (dir, library) = generated();
    let swift = std::fs::read_to_string(dir.join("CasebookMobile.swift")).expect("Swift file");
    assert!(swift.contains("open class Casebook") || swift.contains("class Casebook"));
    assert!(dir.join("casebook_mobileFFI.modulemap").is_file());
    let cc = tool(
        "CC",
        &on_path("cc"),
        "a C compiler (apt-get install -y gcc)",
    );
    let abi = here().join("c/abi.c");
    run(
        "C header syntax",
        Command::new(&cc)
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"])
            .arg("-I")
            .arg(dir)
            .arg(&abi),
    );
    let exe = dir.join("abi");
    let libdir = library.parent().expect("library dir");
    run(
        "link against the cdylib",
        Command::new(&cc)
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
            .arg("-I")
            .arg(dir)
            .arg(&abi)
            .arg(format!("-L{}", libdir.display()))
            .arg("-lcasebook_mobile")
            .arg(format!("-Wl,-rpath,{}", libdir.display()))
            .arg("-o")
            .arg(&exe),
    );
    let stdout = run("call through the C ABI", &mut Command::new(&exe));
    assert_eq!(
        stdout.trim(),
        format!("contract=30 version={}", casebook_mobile::library_version())
    );
}

/// Alerts to the team through the Kotlin bindings' listener (`kotlin/AlertsTest.kt`) against
/// a real server over TLS: this test is the administrator (people, codes, the new case put in
/// the team with the carer linked) and checks afterwards that the audit has the supervisor's
/// acknowledgement.
#[test]
fn kotlin_alerts_against_a_real_server() {
    use std::io::{BufRead, BufReader};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let h = runtime
        .block_on(casebook_tests::support::Harness::start())
        .expect("server");
    let admin = &h.admin;
    let dir = tempfile::tempdir().expect("dir");
    let (supervisor, carer, team, codes) = runtime
        .block_on(async {
            let guardian = admin.user("guardian", "guardian").await?;
            let supervisor = admin.user("supervisor", "supervisor").await?;
            let carer = admin.user("carer", "carer").await?;
            let team = admin.team("alerts team", &[&supervisor, &guardian]).await?;
            let codes = [
                admin.code(&guardian).await?,
                admin.code(&supervisor).await?,
                admin.code(&carer).await?,
            ];
            anyhow::Ok((supervisor, carer, team, codes))
        })
        .expect("set up people");
    let mut child = jvm("AlertsTestKt")
        .env("CASEBOOK_URL", h.server.base_url())
        .env("CASEBOOK_PIN", &h.server.cert_fingerprint)
        .env("CASEBOOK_ALERTS_DIR", dir.path())
        .env("CASEBOOK_CODE_GUARDIAN", &codes[0])
        .env("CASEBOOK_CODE_SUPERVISOR", &codes[1])
        .env("CASEBOOK_CODE_CARER", &codes[2])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the JVM");
    let stdout = child.stdout.take().expect("stdout");
    let mut transcript = String::new();
    let mut case = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read");
        transcript.push_str(&line);
        transcript.push('\n');
        let Some(request) = line.strip_prefix("REQUEST ") else {
            continue;
        };
        let parts: Vec<&str> = request.split_whitespace().collect();
        let [n, "case", arg] = parts[..] else {
            panic!("bad request line {line}");
        };
        case = Some(arg.to_owned());
        runtime
            .block_on(async {
                admin.set_team(arg, &team).await?;
                admin.link_carer(arg, &carer).await
            })
            .unwrap_or_else(|e| panic!("administrator failed: {e}"));
        std::fs::write(dir.path().join(format!("done-{n}")), b"").expect("signal");
    }
    let status = child.wait().expect("wait");
    assert!(
        status.success() && transcript.contains("4 passed, 0 failed"),
        "{transcript}"
    );
    let case = case.expect("the Kotlin program created a case");
    assert!(
        transcript.contains(&format!("ACKNOWLEDGED {case}")),
        "{transcript}"
    );
    let audit = runtime
        .block_on(admin.audit_for_case(&case))
        .expect("audit");
    let acknowledged: Vec<_> = audit
        .iter()
        .filter(|row| row["event"] == "alert_acknowledged")
        .collect();
    assert_eq!(acknowledged.len(), 1, "{audit:?}");
    assert_eq!(acknowledged[0]["actor_user"], supervisor.as_str());
    assert_eq!(
        audit
            .iter()
            .filter(|row| row["event"] == "alert_created")
            .count(),
        2,
        "missing, then ended: {audit:?}"
    );
}

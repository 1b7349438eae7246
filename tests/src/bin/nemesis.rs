//! The long nemesis run (`scripts/nemesis.sh`): `nemesis [--minutes N] [--faults N]
//! [--seed N]`. Prints the faults injected, the checks made and PASS or FAIL; exits 1 on
//! FAIL. Re-executed with `CASEBOOK_NEMESIS_SERVER_DIR` set, it is the server child instead.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use casebook_tests::nemesis::{self, Config};

fn parse(args: &[String]) -> Result<Config> {
    let mut minutes = 4.0_f64;
    let mut faults = 1000_usize;
    let mut seed: u64 = rand::random();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--minutes" => minutes = value.parse().context("--minutes: a number")?,
            "--faults" => faults = value.parse().context("--faults: a whole number")?,
            "--seed" => seed = value.parse().context("--seed: a whole number")?,
            other => bail!("unknown option {other} (--minutes N, --faults N, --seed N)"),
        }
    }
    if !(minutes > 0.0 && minutes <= 120.0) {
        bail!("--minutes: between 0 and 120");
    }
    if faults == 0 {
        bail!("--faults: at least 1");
    }
    Ok(Config::long(
        seed,
        faults,
        Duration::from_secs_f64(minutes * 60.0),
    ))
}

fn main() -> Result<ExitCode> {
    if let Ok(dir) = std::env::var(nemesis::server::CHILD_ENV) {
        nemesis::server::serve_child(Path::new(&dir))?;
        return Ok(ExitCode::SUCCESS);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = parse(&args)?;
    println!(
        "nemesis: seed {} ({} faults over {:.1} minutes; rerun with --seed {})",
        config.seed,
        config.faults,
        config.duration.as_secs_f64() / 60.0,
        config.seed
    );
    let exe = std::env::current_exe()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(nemesis::run(&config, Box::new(move || Command::new(&exe))))?;
    print!("{report}");
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

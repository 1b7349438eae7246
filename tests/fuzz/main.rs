//! `casebook-fuzz`: the fuzzer behind `scripts/fuzz.sh` (see `casebook_tests::fuzz`).
//!
//! - `casebook-fuzz run TARGET BATCH INPUTS OUT_DIR [--record FILE]`: run one batch (its
//!   inputs follow from the batch number), keep what it found under
//!   `OUT_DIR/TARGET/` and append one JSON line to `OUT_DIR/TARGET.jsonl`; with `--record`,
//!   write each input to FILE before running it (to find the input that kills a process).
//! - `casebook-fuzz replay TARGET FILE`: run one kept input and print its outcome
//!   (`CASEBOOK_FUZZ_SHOW_PANICS=1` prints each panic with its backtrace).
//! - `casebook-fuzz summary TARGET OUT_DIR`: the batches of a run added up.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use casebook_tests::fuzz::{self, Seeds, Target};
use sha2::{Digest, Sha256};

fn target(name: &str) -> Result<Target> {
    Target::from_name(name).with_context(|| format!("unknown target {name}"))
}

fn short_hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

/// Keep `input` in `dir` as `<why>-<hash>`; a caught panic (`caught-panic <place>`) only if
/// no input of the same place is kept there yet (from this run or an earlier one).
fn keep(dir: &Path, why: &str, input: &[u8]) -> Result<Option<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let name = match why.strip_prefix("caught-panic ") {
        Some(place) => {
            let prefix = format!("caught-panic-{}", short_hash(place.as_bytes()));
            for entry in std::fs::read_dir(dir)? {
                if entry?.file_name().to_string_lossy().starts_with(&prefix) {
                    return Ok(None);
                }
            }
            format!("{prefix}-{}", short_hash(input))
        }
        None => format!("{why}-{}", short_hash(input)),
    };
    let path = dir.join(name);
    std::fs::write(&path, input)?;
    Ok(Some(path))
}

fn run(args: &[String]) -> Result<()> {
    let [name, batch, inputs, out, rest @ ..] = args else {
        bail!("usage: casebook-fuzz run TARGET BATCH INPUTS OUT_DIR [--record FILE]");
    };
    let target = target(name)?;
    let batch: u64 = batch.parse().context("BATCH")?;
    let inputs: u64 = inputs.parse().context("INPUTS")?;
    let out = PathBuf::from(out);
    let record = match rest {
        [flag, file] if flag == "--record" => Some(PathBuf::from(file)),
        [] => None,
        _ => bail!("unexpected arguments {rest:?}"),
    };
    std::fs::create_dir_all(&out)?;
    let seeds = Seeds::new()?;
    fuzz::install_quiet_panic_hook();
    let report = fuzz::run_batch(target, &seeds, batch, inputs, |input| {
        if let Some(file) = &record {
            // Best effort: the file names the input that was running when the process died.
            let _ = std::fs::write(file, input);
        }
    });
    let mut kept = Vec::new();
    for (why, input) in &report.kept {
        kept.extend(keep(&out.join(target.name()), why, input)?);
    }
    let line = serde_json::json!({
        "target": target.name(),
        "batch": batch,
        "inputs": report.inputs,
        "accepted": report.accepted,
        "refused": report.refused,
        "caught_panics": report.caught_panics,
        "crashes": report.crashes,
        "slow": report.slow,
        "seconds": report.elapsed.as_secs_f64(),
        "kept": kept,
    });
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out.join(format!("{}.jsonl", target.name())))?;
    writeln!(log, "{line}")?;
    println!("{line}");
    Ok(())
}

fn replay(args: &[String]) -> Result<()> {
    let [name, file] = args else {
        bail!("usage: casebook-fuzz replay TARGET FILE");
    };
    let target = target(name)?;
    let input = std::fs::read(file)?;
    let seeds = Seeds::new()?;
    fuzz::install_quiet_panic_hook();
    let started = std::time::Instant::now();
    let outcome = fuzz::run(target, &seeds, &input);
    println!("{outcome:?} in {:?}", started.elapsed());
    Ok(())
}

/// The batches of `OUT_DIR/TARGET.jsonl` added up: one line for the script's report.
fn summary(args: &[String]) -> Result<()> {
    let [name, out] = args else {
        bail!("usage: casebook-fuzz summary TARGET OUT_DIR");
    };
    let target = target(name)?;
    let log = std::fs::read_to_string(Path::new(out).join(format!("{}.jsonl", target.name())))
        .unwrap_or_default();
    let keys = [
        "inputs",
        "accepted",
        "refused",
        "caught_panics",
        "crashes",
        "slow",
    ];
    let mut sums = [0u64; 6];
    let (mut seconds, mut batches) = (0f64, 0);
    for line in log.lines() {
        let value: serde_json::Value = serde_json::from_str(line)?;
        for (sum, key) in sums.iter_mut().zip(keys) {
            *sum += value[key].as_u64().unwrap_or(0);
        }
        seconds += value["seconds"].as_f64().unwrap_or(0.0);
        batches += 1;
    }
    let [inputs, accepted, refused, caught, crashes, slow] = sums;
    println!(
        "{:<16} {inputs:>9} inputs in {seconds:>7.1} s ({batches} batches): {accepted} accepted, \
         {refused} refused, {caught} panics caught inside, {crashes} crashes, {slow} slow",
        target.name()
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((cmd, rest)) if cmd == "run" => run(rest),
        Some((cmd, rest)) if cmd == "replay" => replay(rest),
        Some((cmd, rest)) if cmd == "summary" => summary(rest),
        _ => bail!("usage: casebook-fuzz run|replay|summary ..."),
    }
}

//! The fuzzer's findings kept as regression tests: every input under
//! `tests/fixtures/fuzz-regressions/<target>/` that ever panicked (caught or not) or ran slow
//! in `scripts/fuzz.sh` is replayed through the same entry points, and must neither panic
//! out of them nor take long. The seeds must still reach the code behind the decoders (most
//! are accepted), and a short fuzz batch of each target runs here too.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use casebook_tests::fuzz::{self, Outcome, Seeds, Target};

/// Generous for a debug build; `scripts/fuzz.sh` keeps inputs slower than `fuzz::SLOW` in
/// release.
const REPLAY_LIMIT: Duration = Duration::from_secs(30);

fn regressions(target: Target) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/fuzz-regressions")
        .join(target.name())
}

#[test]
fn every_kept_input_replays_without_a_panic_escaping() -> Result<()> {
    let seeds = Seeds::new()?;
    fuzz::install_quiet_panic_hook();
    let mut replayed = 0;
    for target in Target::ALL {
        let dir = regressions(target);
        assert!(dir.is_dir(), "{} is missing", dir.display());
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.file_name().is_some_and(|n| n == ".gitkeep") {
                continue;
            }
            let input = std::fs::read(&path)?;
            let started = Instant::now();
            let outcome = fuzz::run(target, &seeds, &input);
            assert_ne!(outcome, Outcome::Crash, "{}", path.display());
            assert!(
                started.elapsed() < REPLAY_LIMIT,
                "{} took {:?}",
                path.display(),
                started.elapsed()
            );
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} kept inputs");
    Ok(())
}

#[test]
fn the_seeds_are_accepted_and_a_cut_seed_is_refused() -> Result<()> {
    let seeds = Seeds::new()?;
    fuzz::install_quiet_panic_hook();
    for target in Target::ALL {
        let corpus = seeds.corpus(target);
        assert!(
            corpus.len() >= 3,
            "{}: {} seeds",
            target.name(),
            corpus.len()
        );
        // Real bytes reach the code behind the decoders: none panics, and most are taken by
        // every entry point (some messages are answers to a state these entry points do not
        // start from, and are refused).
        let mut accepted = 0;
        for (i, seed) in corpus.iter().enumerate() {
            let outcome = fuzz::run(target, &seeds, seed);
            assert!(
                matches!(outcome, Outcome::Accepted | Outcome::Refused),
                "{} seed {i}: {outcome:?}",
                target.name()
            );
            accepted += usize::from(outcome == Outcome::Accepted);
        }
        assert!(
            accepted * 4 >= corpus.len() * 3,
            "{}: {accepted} of {} seeds accepted",
            target.name(),
            corpus.len()
        );
        // Cut in half, the largest seed is refused with an error, not accepted nor a panic.
        let largest = corpus
            .iter()
            .max_by_key(|s| s.len())
            .cloned()
            .unwrap_or_default();
        let cut = &largest[..largest.len() / 2];
        assert_eq!(
            fuzz::run(target, &seeds, cut),
            Outcome::Refused,
            "{}",
            target.name()
        );
    }
    Ok(())
}

#[test]
fn a_short_fuzz_batch_of_each_target_finds_no_crash() -> Result<()> {
    let seeds = Seeds::new()?;
    fuzz::install_quiet_panic_hook();
    for target in Target::ALL {
        let report = fuzz::run_batch(target, &seeds, 1, 200, |_| {});
        assert_eq!(report.inputs, 200);
        assert_eq!(report.crashes, 0, "{}: {:?}", target.name(), report.kept);
        // The mutations are structure-aware: some mutants still get through every decoder.
        assert!(report.accepted > 0, "{}: {report:?}", target.name());
        assert!(report.refused > 0, "{}: {report:?}", target.name());
    }
    Ok(())
}

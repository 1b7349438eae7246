//! The checks a nemesis run makes, counted by name, and the final ones: every device
//! converged with the server, nothing acknowledged lost, no document where it may not be.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;
use automerge::ChangeHash;
use casebook_core::doc::{CaseDoc, DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};

use super::fleet::{FleetDevice, Ledger, Record};

/// Checks made, by name: how many passed, how many failed, and the first failures.
#[derive(Debug, Default)]
pub struct Checks {
    counts: BTreeMap<&'static str, (usize, usize)>,
    failures: Vec<String>,
}

impl Checks {
    /// Count one check of `name`; on failure keep `detail()` (the first 20 only).
    pub fn record(&mut self, name: &'static str, ok: bool, detail: impl FnOnce() -> String) {
        let count = self.counts.entry(name).or_default();
        if ok {
            count.0 += 1;
        } else {
            count.1 += 1;
            if self.failures.len() < 20 {
                self.failures.push(format!("{name}: {}", detail()));
            }
        }
    }

    /// Passed and failed counts by name.
    pub fn counts(&self) -> &BTreeMap<&'static str, (usize, usize)> {
        &self.counts
    }

    /// The first failures.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Whether every check passed (and at least one was made).
    pub fn passed(&self) -> bool {
        !self.counts.is_empty() && self.counts.values().all(|(_, failed)| *failed == 0)
    }
}

/// The server's documents, read from its database after it stopped, and its audit chain's
/// verdict.
#[derive(Debug)]
pub struct ServerDocs {
    docs: BTreeMap<DocId, CaseDoc>,
    audit: casebook_server::audit::Verdict,
}

impl ServerDocs {
    /// Open the server's data directory (as a restart does), load every document of
    /// `cases` and verify the audit chain.
    pub async fn read(data_dir: &Path, cases: &[CaseId]) -> Result<Self> {
        let opened = casebook_server::open_data_dir(
            data_dir,
            casebook_server::Clock::System,
            super::server::settings(),
        )?;
        let mut docs = BTreeMap::new();
        for &case in cases {
            for kind in DocKind::ALL {
                let doc = DocId::new(case, kind);
                let id = doc.to_string();
                let bytes: Option<Vec<u8>> = opened
                    .state
                    .db
                    .read(move |c| Ok(casebook_server::db::docs::read_bytes(c, &id)?))
                    .await?;
                if let Some(bytes) = bytes {
                    docs.insert(doc, CaseDoc::load(doc, Some(&bytes), &[])?);
                }
            }
        }
        let audit = opened.state.db.read(casebook_server::audit::verify).await?;
        Ok(Self { docs, audit })
    }

    /// Drop `doc`, as if the server had lost it (to show the checks see a loss).
    pub fn forget(&mut self, doc: DocId) {
        self.docs.remove(&doc);
    }
}

/// The entries of `record` in `doc`.
fn entries(doc: &CaseDoc, record: Record) -> casebook_core::Result<BTreeSet<EntryId>> {
    let ids = match record {
        Record::VisitNote => doc.visit_notes()?.into_iter().map(|(id, _)| id).collect(),
        Record::SafetyCheck => doc.safety_checks()?.into_iter().map(|(id, _)| id).collect(),
        Record::MissingEpisode => doc
            .missing_episodes()?
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
    };
    Ok(ids)
}

fn heads_on(device: &FleetDevice, doc: DocId) -> Result<Option<Vec<ChangeHash>>> {
    let mut repo = device.device.lock();
    if !repo.holds(doc)? {
        return Ok(None);
    }
    Ok(Some(repo.read(doc, |d| Ok(d.heads()))?))
}

/// The entries of `record` in `doc` on `device` (none if it does not hold it).
fn entries_on(device: &FleetDevice, doc: DocId, record: Record) -> Result<BTreeSet<EntryId>> {
    let mut repo = device.device.lock();
    if !repo.holds(doc)? {
        return Ok(BTreeSet::new());
    }
    Ok(repo.read(doc, |d| entries(d, record))?)
}

/// The final checks, once the faults stopped and every device synced until quiet.
pub fn final_checks(
    server: &mut ServerDocs,
    fleet: &[FleetDevice],
    cases: &[CaseId],
    ledger: &Ledger,
    checks: &mut Checks,
) -> Result<()> {
    let (intact, broken) = match &server.audit {
        casebook_server::audit::Verdict::Intact(rows) => (*rows > 0, String::new()),
        casebook_server::audit::Verdict::Broken(link) => (false, link.reason.to_string()),
    };
    checks.record("the server's audit chain verifies", intact, || {
        format!("broken or empty: {broken}")
    });
    for device in fleet {
        for &case in cases {
            for kind in DocKind::ALL {
                let doc = DocId::new(case, kind);
                if !device.may_read(doc, cases) {
                    continue;
                }
                let on_server = server.docs.get_mut(&doc).map(CaseDoc::heads);
                let here = heads_on(device, doc)?;
                checks.record(
                    "device converged with the server (same heads)",
                    on_server.is_some() && on_server == here,
                    || format!("{}: {kind:?} differs from the server's", device.name),
                );
            }
        }
        checks.record(
            "device has no edit left unacknowledged",
            device.pending() == 0,
            || {
                format!(
                    "{}: {} edits never acknowledged",
                    device.name,
                    device.pending()
                )
            },
        );
        checks.record("device unlocked at the end", !device.locked()?, || {
            format!("{} is locked at the end", device.name)
        });
    }
    // The entries of each (reader, document, record) looked up once; the server is reader
    // `usize::MAX`.
    let mut present: BTreeMap<(usize, DocId, u8), BTreeSet<EntryId>> = BTreeMap::new();
    for written in &ledger.acknowledged {
        let (doc, record) = (written.doc, written.record);
        let on_server = match present.entry((usize::MAX, doc, record as u8)) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => slot.insert(match server.docs.get(&doc) {
                Some(d) => entries(d, record)?,
                None => BTreeSet::new(),
            }),
        };
        checks.record(
            "acknowledged edit present on the server",
            on_server.contains(&written.entry),
            || format!("{record:?} {} lost on the server", written.entry),
        );
        for (index, device) in fleet.iter().enumerate() {
            if !device.may_read(doc, cases) {
                continue;
            }
            let here = match present.entry((index, doc, record as u8)) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => slot.insert(entries_on(device, doc, record)?),
            };
            checks.record(
                "acknowledged edit present on every device that may read it",
                here.contains(&written.entry),
                || format!("{record:?} {} missing on {}", written.entry, device.name),
            );
        }
    }
    Ok(())
}

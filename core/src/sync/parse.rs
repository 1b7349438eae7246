//! Parsing the documents a sync response brings, on every core but in groups bounded by
//! bytes. automerge's load of a document of long notes allocates, while it runs, far more
//! than the document's stored size (a fresh phone's resident memory swings by some 150 MB
//! around each load of a 200 KB document of 100 notes of 10,000 characters), and a whole
//! response (up to the server's 8 MiB budget) was parsed at once on every core, all of its
//! documents then held loaded together. Each group is staged, committed and dropped before
//! the next is parsed, and a group holds at most two such documents, loaded at the same time
//! on two cores (a load's transient is about 90 MB; the loaded document about 2 MB).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::wire::DocSnapshot;
use crate::doc::{CaseDoc, DocId, chunk_guard, columns};
use crate::error::{Error, Result};
use crate::repo::whole_view_op;
use crate::store::WriteOp;

/// Stored bytes of documents parsed together (a larger document is parsed alone): two
/// documents of 100 long notes, or many small ones.
pub const PARSE_GROUP_BYTES: usize = 512 * 1024;

/// Split `snapshots` into groups, in order, of at most `budget` stored bytes each (a
/// document larger than `budget` forms a group of its own).
pub(crate) fn groups(snapshots: Vec<DocSnapshot>, budget: usize) -> Vec<Vec<DocSnapshot>> {
    let mut out: Vec<Vec<DocSnapshot>> = Vec::new();
    let mut size = 0usize;
    for snapshot in snapshots {
        let len = snapshot.data.len();
        match out.last_mut() {
            Some(group) if !group.is_empty() && size.saturating_add(len) <= budget => {
                size += len;
                group.push(snapshot);
            }
            _ => {
                size = len;
                out.push(vec![snapshot]);
            }
        }
    }
    out
}

/// A document received whole, loaded, with its view write when the device does not hold it
/// yet (computed where it was loaded, so the rows cost no second pass on the session's
/// thread).
pub(crate) struct Parsed {
    pub(crate) doc: CaseDoc,
    pub(crate) view: Option<WriteOp>,
    /// The bytes to store: the snapshot with its columns deflated as automerge saves them
    /// (a wire copy arrives inflated, [`crate::doc::columns`]), so the store holds the save
    /// the server holds.
    pub(crate) stored: Vec<u8>,
}

/// Parse whole documents on every core: parsing dominates a fresh device's first sync, and
/// documents are independent. Each worker takes the next document not yet taken, so two
/// large documents in a group are loaded at the same time whatever their places in it.
/// Each result stays with its snapshot, so one bad document is quarantined alone. The view
/// rows of the documents not in `held` are computed by the same worker.
pub(crate) fn parse_all(
    snapshots: Vec<DocSnapshot>,
    held: &HashSet<DocId>,
) -> Vec<(DocSnapshot, Result<Parsed>)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8)
        .min(snapshots.len());
    if threads <= 1 {
        return snapshots
            .into_iter()
            .map(|s| {
                let parsed = parse_one(&s, held);
                (s, parsed)
            })
            .collect();
    }
    let next = AtomicUsize::new(0);
    let mut parsed: Vec<Option<Result<Parsed>>> = (0..snapshots.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(s) = snapshots.get(i) else {
                            return done;
                        };
                        done.push((i, parse_one(s, held)));
                    }
                })
            })
            .collect();
        for worker in workers {
            // A worker that panicked leaves its documents unparsed (reported below).
            if let Ok(done) = worker.join() {
                for (i, result) in done {
                    if let Some(slot) = parsed.get_mut(i) {
                        *slot = Some(result);
                    }
                }
            }
        }
    });
    snapshots
        .into_iter()
        .zip(parsed)
        .map(|(s, result)| {
            let result =
                result.unwrap_or_else(|| Err(Error::Protocol("a document parser panicked".into())));
            (s, result)
        })
        .collect()
}

/// Load one snapshot, and compute its view rows and the bytes to store if the device does
/// not hold it.
fn parse_one(s: &DocSnapshot, held: &HashSet<DocId>) -> Result<Parsed> {
    let mut doc = load_snapshot(s)?;
    if held.contains(&s.doc) {
        // Merged into the copy held; its bytes are not stored.
        return Ok(Parsed {
            doc,
            view: None,
            stored: Vec::new(),
        });
    }
    let view = Some(whole_view_op(&mut doc));
    let stored = columns::deflate_columns(&s.data)?;
    Ok(Parsed { doc, view, stored })
}

/// A snapshot from the server, its chunks bounded before automerge parses them; a document
/// that fails to load (automerge's panics included, `CaseDoc::load`) is quarantined alone and
/// the session goes on.
fn load_snapshot(s: &DocSnapshot) -> Result<CaseDoc> {
    chunk_guard::check_document(&s.data)?;
    CaseDoc::load(s.doc, Some(&s.data), &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::DocKind;
    use crate::ids::CaseId;

    fn snapshot(i: u8, len: usize) -> DocSnapshot {
        DocSnapshot {
            doc: DocId::new(CaseId::from_bytes([i; 16]), DocKind::Visits),
            data: vec![0; len],
        }
    }

    #[test]
    fn a_response_is_parsed_in_groups_bounded_by_bytes() {
        let sizes = [700, 700, 700, 2500, 100, 900, 50];
        let snapshots = sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| snapshot(u8::try_from(i).expect("small"), len))
            .collect();
        let grouped = groups(snapshots, 1000);
        let lens: Vec<Vec<usize>> = grouped
            .iter()
            .map(|g| g.iter().map(|s| s.data.len()).collect())
            .collect();
        // In order, every document once; a group exceeds the budget only as a lone document.
        assert_eq!(
            lens,
            vec![
                vec![700],
                vec![700],
                vec![700],
                vec![2500],
                vec![100, 900],
                vec![50]
            ]
        );
        let order: Vec<DocId> = grouped.iter().flatten().map(|s| s.doc).collect();
        let expected: Vec<DocId> = (0..sizes.len())
            .map(|i| snapshot(u8::try_from(i).expect("small"), 0).doc)
            .collect();
        assert_eq!(order, expected);
        assert!(groups(Vec::new(), 1000).is_empty());
    }

    #[test]
    fn every_document_is_parsed_in_place_with_the_view_of_those_not_held() {
        let edit = crate::doc::Edit::new(
            crate::doc::Author {
                user: crate::ids::UserId::from_bytes([1; 16]),
                device: crate::ids::DeviceId::from_bytes([2; 16]),
            },
            chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        );
        let mut snapshots = Vec::new();
        for i in 0..3u8 {
            let profile = crate::model::Profile {
                case_reference: format!("R{i}"),
                ..crate::model::Profile::default()
            };
            let docs =
                crate::model::new_case(CaseId::from_bytes([i; 16]), &edit, &profile).expect("case");
            snapshots.extend(docs.into_iter().map(|mut d| DocSnapshot {
                doc: d.id(),
                data: d.save(),
            }));
        }
        // One document's bytes are another's: refused alone, in its place.
        let bad = 7;
        snapshots[bad].data = snapshots[0].data.clone();
        let held: HashSet<DocId> = [snapshots[1].doc].into();
        let expected: Vec<DocId> = snapshots.iter().map(|s| s.doc).collect();
        let parsed = parse_all(snapshots, &held);
        let order: Vec<DocId> = parsed.iter().map(|(s, _)| s.doc).collect();
        assert_eq!(order, expected);
        for (i, (snapshot, result)) in parsed.into_iter().enumerate() {
            if i == bad {
                assert!(result.is_err(), "{i}");
                continue;
            }
            let parsed = result.expect("parses");
            assert_eq!(parsed.doc.id(), snapshot.doc);
            assert_eq!(parsed.view.is_some(), !held.contains(&snapshot.doc), "{i}");
        }
    }
}

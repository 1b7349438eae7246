//! The one test suite every [`Store`](super::Store) must pass, as a macro instantiated for
//! each implementation: `store_suite!(module_name, constructor)`, where the constructor
//! evaluates to `(store, guard)` and the guard (a temporary directory, say) is kept alive
//! for the test.

use chrono::{TimeZone, Utc};

use super::{CaseSummary, WriteOp};
use crate::doc::{DocId, DocKind};
use crate::ids::CaseId;

/// Document `kind` of the case numbered `n`.
pub(crate) fn doc(n: u8, kind: DocKind) -> DocId {
    DocId::new(CaseId::from_bytes([n; 16]), kind)
}

/// An append of `bytes` to `doc`.
pub(crate) fn append(doc: DocId, bytes: &[u8], local: bool) -> WriteOp {
    WriteOp::AppendChunk {
        doc,
        bytes: bytes.to_vec(),
        local,
    }
}

/// A summary of case `n`.
pub(crate) fn summary(n: u8, reference: &str, name: &str) -> CaseSummary {
    CaseSummary {
        case: CaseId::from_bytes([n; 16]),
        reference: reference.into(),
        display_name: name.into(),
        updated_at: Utc
            .timestamp_opt(1_700_000_000 + i64::from(n), 123_456_789)
            .single()
            .unwrap_or_default(),
    }
}

macro_rules! store_suite {
    ($name:ident, $ctor:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::doc::DocKind::{Location, Profile, Visits};
            use $crate::error::{Error, Result};
            use $crate::store::suite::{append, doc, summary};
            use $crate::store::{DirtyDoc, Store, StoredDoc, WriteOp};

            #[test]
            fn a_new_store_is_empty() -> Result<()> {
                let (store, _guard) = $ctor;
                assert_eq!(store.load(&doc(1, Profile))?, None);
                assert!(store.docs()?.is_empty());
                assert!(store.dirty()?.is_empty());
                assert!(store.cases()?.is_empty());
                assert_eq!(store.sync_state("server", &doc(1, Profile))?, None);
                assert_eq!(store.meta("cursor")?, None);
                Ok(())
            }

            #[test]
            fn holds_says_what_load_would_without_reading_the_bytes() -> Result<()> {
                let (mut store, _guard) = $ctor;
                let (a, b) = (doc(1, Profile), doc(1, Visits));
                assert!(!store.holds(&a)?);
                // A view row or a sync state alone is not the document.
                store.apply(vec![WriteOp::PutSyncState {
                    peer: "p1".into(),
                    doc: a,
                    state: b"s".to_vec(),
                }])?;
                assert!(!store.holds(&a)?);
                store.apply(vec![append(a, b"1", false), append(b, b"1", true)])?;
                assert!(store.holds(&a)? && store.holds(&b)?);
                store.apply(vec![WriteOp::Compact {
                    doc: a,
                    snapshot: b"s".to_vec(),
                    upto: 1,
                }])?;
                assert!(store.holds(&a)?);
                store.apply(vec![WriteOp::RemoveDoc(a)])?;
                assert!(!store.holds(&a)? && store.holds(&b)?);
                for id in [a, b, doc(2, Profile)] {
                    assert_eq!(store.holds(&id)?, store.load(&id)?.is_some());
                }
                store.wipe()?;
                assert!(!store.holds(&b)?);
                Ok(())
            }

            #[test]
            fn appended_chunks_load_in_order() -> Result<()> {
                let (mut store, _guard) = $ctor;
                let (a, b) = (doc(1, Profile), doc(1, Visits));
                store.apply(vec![append(a, b"one", true), append(b, b"other", false)])?;
                store.apply(vec![append(a, b"two", true), append(a, b"three", false)])?;
                let loaded = store.load(&a)?.expect("stored");
                assert_eq!(
                    loaded,
                    StoredDoc {
                        snapshot: None,
                        chunks: vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()],
                        last_chunk: 3,
                    }
                );
                assert_eq!(store.load(&b)?.expect("stored").last_chunk, 1);
                assert_eq!(store.docs()?, vec![a, b]);
                store.apply(vec![])?;
                assert_eq!(store.load(&a)?, Some(loaded));
                Ok(())
            }

            #[test]
            fn compaction_keeps_chunks_appended_after_the_snapshot() -> Result<()> {
                let (mut store, _guard) = $ctor;
                let a = doc(1, Profile);
                store.apply(vec![append(a, b"1", true), append(a, b"2", true)])?;
                let upto = store.load(&a)?.expect("stored").last_chunk;
                // Another edit lands while the snapshot of chunks 1..=2 is being made.
                store.apply(vec![append(a, b"3", true)])?;
                store.apply(vec![WriteOp::Compact {
                    doc: a,
                    snapshot: b"save-1-2".to_vec(),
                    upto,
                }])?;
                let loaded = store.load(&a)?.expect("stored");
                assert_eq!(loaded.snapshot.as_deref(), Some(&b"save-1-2"[..]));
                assert_eq!(loaded.chunks, vec![b"3".to_vec()]);
                assert_eq!(loaded.last_chunk, 3);
                Ok(())
            }

            #[test]
            fn chunk_numbers_are_not_reused_after_compaction() -> Result<()> {
                let (mut store, _guard) = $ctor;
                let a = doc(2, Location);
                store.apply(vec![append(a, b"1", true), append(a, b"2", true)])?;
                store.apply(vec![WriteOp::Compact {
                    doc: a,
                    snapshot: b"s".to_vec(),
                    upto: 2,
                }])?;
                let loaded = store.load(&a)?.expect("stored");
                assert!(loaded.chunks.is_empty());
                assert_eq!(loaded.last_chunk, 2);
                store.apply(vec![append(a, b"3", true)])?;
                let loaded = store.load(&a)?.expect("stored");
                assert_eq!((loaded.chunks, loaded.last_chunk), (vec![b"3".to_vec()], 3));
                // Compacting at an old number drops nothing newer.
                store.apply(vec![WriteOp::Compact {
                    doc: a,
                    snapshot: b"s2".to_vec(),
                    upto: 2,
                }])?;
                assert_eq!(store.load(&a)?.expect("stored").chunks, vec![b"3".to_vec()]);
                assert_eq!(store.dirty()?[0].last_local_chunk, 3);
                Ok(())
            }

            #[test]
            fn compacting_a_new_document_stores_its_snapshot() -> Result<()> {
                let (mut store, _guard) = $ctor;
                let a = doc(3, Profile);
                store.apply(vec![WriteOp::Compact {
                    doc: a,
                    snapshot: b"from server".to_vec(),
                    upto: 0,
                }])?;
                let loaded = store.load(&a)?.expect("stored");
                assert_eq!(loaded.snapshot.as_deref(), Some(&b"from server"[..]));
                assert_eq!((loaded.chunks.len(), loaded.last_chunk), (0, 0));
                assert_eq!(store.docs()?, vec![a]);
                assert!(store.dirty()?.is_empty());
                Ok(())
            }

            #[test]
            fn local_edits_are_dirty_until_marked_synced() -> Result<()> {
                let (mut store, _guard) = $ctor;
                let (a, b) = (doc(1, Profile), doc(2, Profile));
                store.apply(vec![append(a, b"mine", true), append(b, b"theirs", false)])?;
                let dirty_a = |last| DirtyDoc {
                    doc: a,
                    last_local_chunk: last,
                };
                assert_eq!(store.dirty()?, vec![dirty_a(1)]);
                // A peer's chunk after ours does not move the local mark.
                store.apply(vec![append(a, b"theirs", false)])?;
                assert_eq!(store.dirty()?, vec![dirty_a(1)]);
                store.apply(vec![WriteOp::MarkSynced { doc: a, upto: 1 }])?;
                assert!(store.dirty()?.is_empty());
                // An edit after the mark makes it dirty again.
                store.apply(vec![append(a, b"more", true)])?;
                assert_eq!(store.dirty()?, vec![dirty_a(3)]);
                // An older acknowledgement never moves the mark back.
                store.apply(vec![WriteOp::MarkSynced { doc: a, upto: 3 }])?;
                store.apply(vec![WriteOp::MarkSynced { doc: a, upto: 1 }])?;
                assert!(store.dirty()?.is_empty());
                // Marking an unknown document at 0 is harmless and creates nothing.
                store.apply(vec![WriteOp::MarkSynced {
                    doc: doc(9, Visits),
                    upto: 0,
                }])?;
                assert_eq!(store.docs()?, vec![a, b]);
                Ok(())
            }

            #[test]
            fn remove_doc_drops_its_chunks_and_sync_states() -> Result<()> {
                let (mut store, _guard) = $ctor;
                let (a, b) = (doc(1, Profile), doc(1, Location));
                store.apply(vec![
                    append(a, b"1", true),
                    append(b, b"1", true),
                    WriteOp::Compact {
                        doc: a,
                        snapshot: b"s".to_vec(),
                        upto: 0,
                    },
                    WriteOp::PutSyncState {
                        peer: "p1".into(),
                        doc: a,
                        state: b"a1".to_vec(),
                    },
                    WriteOp::PutSyncState {
                        peer: "p2".into(),
                        doc: a,
                        state: b"a2".to_vec(),
                    },
                    WriteOp::PutSyncState {
                        peer: "p1".into(),
                        doc: b,
                        state: b"b1".to_vec(),
                    },
                ])?;
                store.apply(vec![WriteOp::RemoveDoc(a)])?;
                assert_eq!(store.load(&a)?, None);
                assert_eq!(store.docs()?, vec![b]);
                assert_eq!(store.dirty()?.len(), 1);
                assert_eq!(store.sync_state("p1", &a)?, None);
                assert_eq!(store.sync_state("p2", &a)?, None);
                assert_eq!(store.sync_state("p1", &b)?, Some(b"b1".to_vec()));
                // A document removed and fetched again starts afresh.
                store.apply(vec![append(a, b"new", false)])?;
                let loaded = store.load(&a)?.expect("stored");
                assert_eq!((loaded.snapshot, loaded.chunks.len()), (None, 1));
                Ok(())
            }

            #[test]
            fn summaries_are_listed_by_reference() -> Result<()> {
                let (mut store, _guard) = $ctor;
                let (one, two, three) = (
                    summary(1, "REF-300", "Child C"),
                    summary(2, "REF-100", "Child A"),
                    summary(3, "REF-200", "Child B"),
                );
                store.apply(vec![
                    WriteOp::PutSummary(one.clone()),
                    WriteOp::PutSummary(two.clone()),
                    WriteOp::PutSummary(three.clone()),
                ])?;
                assert_eq!(
                    store.cases()?,
                    vec![two.clone(), three.clone(), one.clone()]
                );
                let renamed = summary(1, "REF-000", "Child C, renamed");
                store.apply(vec![
                    WriteOp::PutSummary(renamed.clone()),
                    WriteOp::RemoveSummary(three.case),
                ])?;
                assert_eq!(store.cases()?, vec![renamed.clone(), two]);
                assert_eq!(store.case(&renamed.case)?, Some(renamed));
                assert_eq!(store.case(&three.case)?, None);
                Ok(())
            }

            #[test]
            fn meta_values_are_set_and_replaced() -> Result<()> {
                let (mut store, _guard) = $ctor;
                let put = |key: &str, value: &[u8]| WriteOp::PutMeta {
                    key: key.into(),
                    value: value.to_vec(),
                };
                store.apply(vec![put("cursor", b"1"), put("device", b"d")])?;
                store.apply(vec![put("cursor", b"2")])?;
                assert_eq!(store.meta("cursor")?, Some(b"2".to_vec()));
                assert_eq!(store.meta("device")?, Some(b"d".to_vec()));
                assert_eq!(store.meta("Cursor")?, None);
                Ok(())
            }

            #[test]
            fn sync_states_are_kept_per_peer_and_document() -> Result<()> {
                let (mut store, _guard) = $ctor;
                let (a, b) = (doc(1, Profile), doc(2, Profile));
                let put = |peer: &str, doc, state: &[u8]| WriteOp::PutSyncState {
                    peer: peer.into(),
                    doc,
                    state: state.to_vec(),
                };
                store.apply(vec![
                    put("p1", a, b"1a"),
                    put("p2", a, b"2a"),
                    put("p1", b, b"1b"),
                ])?;
                store.apply(vec![put("p1", a, b"1a-new")])?;
                assert_eq!(store.sync_state("p1", &a)?, Some(b"1a-new".to_vec()));
                assert_eq!(store.sync_state("p2", &a)?, Some(b"2a".to_vec()));
                assert_eq!(store.sync_state("p1", &b)?, Some(b"1b".to_vec()));
                assert_eq!(store.sync_state("p2", &b)?, None);
                // A sync state alone does not make a document stored.
                assert!(store.docs()?.is_empty());
                Ok(())
            }

            #[test]
            fn wipe_erases_everything_and_the_store_stays_usable() -> Result<()> {
                let (mut store, _guard) = $ctor;
                let a = doc(1, Profile);
                store.apply(vec![
                    append(a, b"1", true),
                    WriteOp::PutSummary(summary(1, "REF", "Child")),
                    WriteOp::PutSyncState {
                        peer: "p".into(),
                        doc: a,
                        state: b"s".to_vec(),
                    },
                    WriteOp::PutMeta {
                        key: "k".into(),
                        value: b"v".to_vec(),
                    },
                ])?;
                store.wipe()?;
                assert_eq!(store.load(&a)?, None);
                assert!(store.docs()?.is_empty() && store.dirty()?.is_empty());
                assert!(store.cases()?.is_empty());
                assert_eq!(store.sync_state("p", &a)?, None);
                assert_eq!(store.meta("k")?, None);
                store.apply(vec![append(a, b"after", true)])?;
                assert_eq!(
                    store.load(&a)?.expect("stored").chunks,
                    vec![b"after".to_vec()]
                );
                Ok(())
            }

            #[test]
            fn view_rows_are_replaced_patched_and_dropped_with_their_document() -> Result<()> {
                use $crate::view::{RowKind, ViewChange, ViewRow};
                let (mut store, _guard) = $ctor;
                let (a, b) = (doc(1, Visits), doc(2, Visits));
                let row = |kind, record: &str, body: &str| ViewRow {
                    kind,
                    record: record.into(),
                    body: body.into(),
                };
                let whole = |doc, version: &str, rows: Vec<ViewRow>| {
                    WriteOp::PutView(ViewChange {
                        doc,
                        version: version.into(),
                        rows,
                        removed: vec![],
                        whole: true,
                    })
                };
                assert_eq!(store.view(&a, RowKind::VisitNote, None)?, None);
                assert_eq!(store.view_version(&a)?, None);
                store.apply(vec![
                    append(a, b"1", true),
                    append(b, b"1", true),
                    whole(
                        a,
                        "v1",
                        vec![
                            row(RowKind::VisitNote, "n2", "\"two\""),
                            row(RowKind::VisitNote, "n1", "\"one\""),
                            row(RowKind::VisitSummary, "n1", "\"s1\""),
                        ],
                    ),
                    whole(b, "w1", vec![row(RowKind::VisitNote, "m1", "\"m\"")]),
                ])?;
                let notes = store.view(&a, RowKind::VisitNote, None)?.expect("rows");
                assert_eq!(notes.version, "v1");
                assert_eq!(
                    notes.rows,
                    vec![
                        row(RowKind::VisitNote, "n1", "\"one\""),
                        row(RowKind::VisitNote, "n2", "\"two\"")
                    ],
                    "one kind, ordered by record"
                );
                let one = store
                    .view(&a, RowKind::VisitNote, Some("n2"))?
                    .expect("row");
                assert_eq!(one.rows, vec![row(RowKind::VisitNote, "n2", "\"two\"")]);
                assert!(
                    store
                        .view(&a, RowKind::PlanStep, None)?
                        .expect("doc has rows")
                        .rows
                        .is_empty()
                );

                // A patch replaces and removes single rows and moves the version.
                store.apply(vec![WriteOp::PutView(ViewChange {
                    doc: a,
                    version: "v2".into(),
                    rows: vec![row(RowKind::VisitNote, "n1", "\"uno\"")],
                    removed: vec![(RowKind::VisitNote, "n2".into())],
                    whole: false,
                })])?;
                let notes = store.view(&a, RowKind::VisitNote, None)?.expect("rows");
                assert_eq!(notes.version, "v2");
                assert_eq!(notes.rows, vec![row(RowKind::VisitNote, "n1", "\"uno\"")]);
                assert_eq!(
                    store
                        .view(&a, RowKind::VisitSummary, None)?
                        .expect("rows")
                        .rows
                        .len(),
                    1,
                    "rows not named are kept"
                );

                // A whole change replaces every row of the document, and only its own.
                store.apply(vec![whole(
                    a,
                    "v3",
                    vec![row(RowKind::VisitNote, "n3", "3")],
                )])?;
                assert_eq!(
                    store
                        .view(&a, RowKind::VisitSummary, None)?
                        .expect("rows")
                        .rows,
                    vec![]
                );
                assert_eq!(store.view_version(&a)?, Some("v3".into()));
                assert_eq!(
                    store
                        .view(&b, RowKind::VisitNote, None)?
                        .expect("rows")
                        .rows
                        .len(),
                    1
                );

                // Removing a document drops its rows; a wipe drops everyone's.
                store.apply(vec![WriteOp::RemoveDoc(a)])?;
                assert_eq!(store.view(&a, RowKind::VisitNote, None)?, None);
                assert_eq!(store.view_version(&a)?, None);
                assert!(store.view(&b, RowKind::VisitNote, None)?.is_some());
                store.wipe()?;
                assert_eq!(store.view(&b, RowKind::VisitNote, None)?, None);
                Ok(())
            }

            #[test]
            fn attachments_follow_their_document_reference() -> Result<()> {
                use $crate::doc::DocKind::Safety;
                use $crate::store::Attachment;
                let (mut store, _guard) = $ctor;
                let (a, b) = (doc(1, Safety), doc(2, Safety));
                let photo = |n: u8| $crate::model::PhotoRef {
                    attachment_id: format!("{n:032x}"),
                    sha256: format!("{n:064x}"),
                    size: u64::from(n),
                    media_type: "image/png".into(),
                };
                let image = |doc, n: u8, pending| {
                    WriteOp::PutAttachment(Attachment {
                        id: format!("{n:032x}"),
                        doc,
                        media_type: "image/png".into(),
                        sha256: format!("{n:064x}"),
                        bytes: vec![n; usize::from(n)],
                        pending_upload: pending,
                    })
                };
                assert_eq!(store.attachment(&format!("{:032x}", 1))?, None);
                assert_eq!(store.attachment_ref(&a)?, None);
                store.apply(vec![
                    WriteOp::SetAttachmentRef {
                        doc: a,
                        reference: Some(photo(1)),
                    },
                    image(a, 1, true),
                    WriteOp::SetAttachmentRef {
                        doc: b,
                        reference: Some(photo(2)),
                    },
                ])?;
                assert_eq!(store.attachment_ref(&a)?, Some(photo(1)));
                let held = store.attachment(&photo(1).attachment_id)?.expect("held");
                assert_eq!((held.doc, held.bytes.clone()), (a, vec![1u8]));
                assert!(held.pending_upload);
                assert_eq!(store.pending_uploads()?, vec![(a, photo(1).attachment_id)]);
                // b refers to an image this store does not hold yet.
                assert_eq!(store.missing_attachments()?, vec![(b, photo(2))]);
                store.apply(vec![
                    WriteOp::MarkAttachmentUploaded(photo(1).attachment_id),
                    image(b, 2, false),
                ])?;
                assert!(store.pending_uploads()?.is_empty());
                assert!(store.missing_attachments()?.is_empty());

                // Replacing a's photo deletes the old image in the same batch.
                store.apply(vec![
                    WriteOp::SetAttachmentRef {
                        doc: a,
                        reference: Some(photo(3)),
                    },
                    image(a, 3, true),
                ])?;
                assert_eq!(store.attachment(&photo(1).attachment_id)?, None);
                assert!(store.attachment(&photo(3).attachment_id)?.is_some());
                // Clearing the reference deletes the image too.
                store.apply(vec![WriteOp::SetAttachmentRef {
                    doc: a,
                    reference: None,
                }])?;
                assert_eq!(store.attachment(&photo(3).attachment_id)?, None);
                assert_eq!(store.attachment_ref(&a)?, None);
                // A purge takes the document's images and reference with it.
                store.apply(vec![WriteOp::RemoveDoc(b)])?;
                assert_eq!(store.attachment(&photo(2).attachment_id)?, None);
                assert_eq!(store.attachment_ref(&b)?, None);
                // And a wipe everything.
                store.apply(vec![
                    WriteOp::SetAttachmentRef {
                        doc: a,
                        reference: Some(photo(4)),
                    },
                    image(a, 4, false),
                ])?;
                store.wipe()?;
                assert_eq!(store.attachment(&photo(4).attachment_id)?, None);
                assert!(store.missing_attachments()?.is_empty());
                Ok(())
            }

            #[test]
            fn a_failed_batch_changes_nothing() -> Result<()> {
                let (mut store, _guard) = $ctor;
                let a = doc(1, Profile);
                store.apply(vec![append(a, b"kept", true)])?;
                let before = store.load(&a)?;
                for bad in [
                    WriteOp::Compact {
                        doc: a,
                        snapshot: b"s".to_vec(),
                        upto: 5,
                    },
                    WriteOp::MarkSynced { doc: a, upto: 9 },
                    WriteOp::MarkSynced {
                        doc: doc(7, Visits),
                        upto: u64::MAX,
                    },
                ] {
                    let err = store
                        .apply(vec![
                            append(a, b"lost", true),
                            append(doc(2, Visits), b"lost", true),
                            WriteOp::PutSummary(summary(2, "REF", "lost")),
                            WriteOp::PutMeta {
                                key: "lost".into(),
                                value: vec![],
                            },
                            WriteOp::MarkSynced { doc: a, upto: 1 },
                            bad,
                        ])
                        .expect_err("the batch has an invalid operation");
                    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
                    assert_eq!(store.load(&a)?, before);
                    assert_eq!(store.docs()?, vec![a]);
                    assert_eq!(store.dirty()?.len(), 1);
                    assert!(store.cases()?.is_empty());
                    assert_eq!(store.meta("lost")?, None);
                }
                // The store still takes writes, numbered on from where it was.
                store.apply(vec![append(a, b"next", true)])?;
                assert_eq!(store.load(&a)?.expect("stored").last_chunk, 2);
                Ok(())
            }

            #[test]
            fn alerts_are_stored_acknowledged_and_removed_with_their_case() -> Result<()> {
                use $crate::store::suite::alert;
                let (mut store, _guard) = $ctor;
                assert!(store.alerts()?.is_empty());
                let (a, b, other_case) = (alert(1, 1), alert(2, 1), alert(3, 2));
                store.apply(vec![
                    WriteOp::PutAlert(a.clone()),
                    WriteOp::PutAlert(b.clone()),
                    WriteOp::PutAlert(other_case.clone()),
                ])?;
                let mut got = store.alerts()?;
                got.sort_by_key(|s| s.alert.id);
                assert_eq!(got.len(), 3);
                assert_eq!(got[0].alert, a);
                assert_eq!(got[0].pending_ack_at, None);

                // Acknowledged here: pending, and kept when the server resends it
                // unacknowledged; acknowledging twice keeps the first time.
                store.apply(vec![WriteOp::AcknowledgeAlert { id: a.id, at: 500 }])?;
                store.apply(vec![WriteOp::AcknowledgeAlert { id: a.id, at: 900 }])?;
                store.apply(vec![WriteOp::PutAlert(a.clone())])?;
                let pending = |store: &dyn Store, id| -> Result<Option<i64>> {
                    Ok(store
                        .alerts()?
                        .into_iter()
                        .find(|s| s.alert.id == id)
                        .and_then(|s| s.pending_ack_at))
                };
                assert_eq!(pending(&store, a.id)?, Some(500));
                // The server's acknowledgement replaces the pending one.
                let mut acknowledged = a.clone();
                acknowledged.acknowledged_by = Some($crate::ids::UserId::from_bytes([9; 16]));
                acknowledged.acknowledged_at = Some(600);
                store.apply(vec![WriteOp::PutAlert(acknowledged.clone())])?;
                assert_eq!(pending(&store, a.id)?, None);
                let stored = store.alerts()?;
                assert!(stored.iter().any(|s| s.alert == acknowledged));

                // Sent: the pending acknowledgement is forgotten.
                store.apply(vec![WriteOp::AcknowledgeAlert { id: b.id, at: 700 }])?;
                assert_eq!(pending(&store, b.id)?, Some(700));
                store.apply(vec![WriteOp::AcknowledgementSent(b.id)])?;
                assert_eq!(pending(&store, b.id)?, None);

                // An unknown alert fails the batch.
                let unknown = alert(4, 1).id;
                let err = store
                    .apply(vec![
                        WriteOp::AcknowledgementSent(a.id),
                        WriteOp::AcknowledgeAlert { id: unknown, at: 1 },
                    ])
                    .expect_err("no such alert");
                assert!(matches!(err, Error::NoSuchEntry { .. }), "{err:?}");

                // A purged case takes its alerts with it; a wipe takes the rest.
                store.apply(vec![WriteOp::RemoveAlerts(a.case)])?;
                let left: Vec<_> = store.alerts()?.into_iter().map(|s| s.alert).collect();
                assert_eq!(left, vec![other_case]);
                store.wipe()?;
                assert!(store.alerts()?.is_empty());
                Ok(())
            }
        }
    };
}

pub(crate) use store_suite;

/// An unacknowledged alert numbered `n` about case `case`.
pub(crate) fn alert(n: u8, case: u8) -> crate::alert::Alert {
    crate::alert::Alert {
        id: crate::ids::AlertId::from_bytes([n; 16]),
        case: CaseId::from_bytes([case; 16]),
        episode: crate::ids::EntryId::from_bytes([n; 16]),
        kind: crate::alert::AlertKind::Missing,
        at: Some(1_700_000_000),
        raised_at: 1_700_000_000 + i64::from(n),
        acknowledged_by: None,
        acknowledged_at: None,
        linked_case_reference: n.is_multiple_of(2).then(|| format!("HUL-2026-{n:03}")),
    }
}

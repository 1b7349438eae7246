//! Who sees what: a carer's device never receives profile, visits, location or associates; a
//! guardian of another case receives nothing of this one; writes beyond a role's rights are
//! refused and audited; when access ends, the device purges what it held.

use anyhow::{Context, Result};
use automerge::sync::SyncDoc;
use base64::Engine;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::model::{Placement, new_case};
use casebook_core::sync::wire::{DocMessage, RejectReason, SyncRequest, SyncResponse};

use super::{NOTE_CANARY, PROFILE_CANARY, record_visit, team};

/// Every document a response carried, and the decoded text of its payloads.
fn carried(responses: &[SyncResponse]) -> Vec<(DocId, String)> {
    let mut out = Vec::new();
    for response in responses {
        for m in &response.messages {
            let message =
                automerge::sync::Message::decode(&m.data).expect("server sent a valid message");
            let mut doc = automerge::AutoCommit::new();
            let mut state = automerge::sync::State::new();
            let _ = doc.sync().receive_sync_message(&mut state, message);
            out.push((m.doc, format!("{:?}", automerge::AutoSerde::from(&doc))));
        }
        for s in &response.snapshots {
            let doc = automerge::AutoCommit::load(&s.data).expect("server sent a valid document");
            out.push((
                s.doc,
                serde_json::to_string(&automerge::AutoSerde::from(&doc)).unwrap_or_default(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carer_receives_only_the_safety_document() -> Result<()> {
    let t = team().await?;
    record_visit(&t.guardian, t.case, NOTE_CANARY)?;
    t.guardian
        .change(DocId::new(t.case, DocKind::Location), |d, e| {
            d.set_current_placement(
                e,
                &Placement {
                    address: "CANARY-12-Secret-Lane".into(),
                    ..Placement::default()
                },
            )
        })?;
    t.guardian.sync().await?;

    let received = t.carer.sync_capturing().await?;
    let docs = carried(&received.responses);
    assert!(!docs.is_empty(), "the carer received the safety document");
    for (doc, text) in &docs {
        assert_eq!(doc.kind, DocKind::Safety, "carer was sent {doc}");
        assert!(!text.contains(NOTE_CANARY) && !text.contains(PROFILE_CANARY));
    }
    for raw in &received.raw {
        let text = String::from_utf8_lossy(raw);
        for kind in ["/profile", "/visits", "/location", "/associates"] {
            assert!(!text.contains(kind), "raw bytes name a {kind} document");
        }
    }
    assert_eq!(t.carer.lock().held_kinds(t.case)?, vec![DocKind::Safety]);

    // The supervisor of the case's team receives everything.
    t.supervisor.sync().await?;
    assert_eq!(
        t.supervisor.lock().held_kinds(t.case)?,
        DocKind::ALL.to_vec()
    );

    // A guardian of another case receives nothing of this one.
    let (_, stranger) = t.h.person("other-guardian", "guardian").await?;
    let received = stranger.sync_capturing().await?;
    assert!(carried(&received.responses).is_empty());
    assert!(stranger.lock().cases()?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_beyond_a_role_are_refused_and_audited() -> Result<()> {
    let t = team().await?;
    t.carer.sync().await?;
    // The carer's phone forges a profile document for the case and pushes it.
    let mut forged = new_case(
        t.case,
        &t.carer.edit(),
        &casebook_core::model::Profile {
            case_reference: "FORGED".into(),
            ..Default::default()
        },
    )?;
    let profile = forged
        .iter_mut()
        .find(|d| d.kind() == DocKind::Profile)
        .context("profile")?;
    let mut state = automerge::sync::State::new();
    let mut doc = automerge::AutoCommit::load(&profile.save())?;
    let opening = doc
        .sync()
        .generate_sync_message(&mut state)
        .context("opening")?;
    let request = SyncRequest {
        v: 1,
        cursor: 0,
        messages: vec![DocMessage {
            doc: profile.id(),
            data: opening.encode(),
        }],
        purged: vec![],
        epoch: None,
    };
    let transport = casebook_core::client::Transport::new(
        &t.carer.identity.server_url,
        &t.carer.identity.trust,
    )?;
    let mut traffic = Default::default();
    let session = transport
        .open_session(
            t.carer.identity.device_id,
            |c| t.carer.identity.sign_challenge(c),
            &mut traffic,
        )
        .await?;
    let answer = transport
        .sync(&session.token, &request, &mut traffic)
        .await?;
    assert_eq!(answer.rejected.len(), 1, "{answer:?}");
    assert_eq!(answer.rejected[0].reason, RejectReason::Forbidden);
    assert!(
        answer
            .messages
            .iter()
            .all(|m| m.doc.kind == DocKind::Safety)
    );

    let audit = t.h.admin.audit_for_case(&t.case.to_string()).await?;
    let denial = audit
        .iter()
        .find(|row| {
            row.to_string().contains("den")
                && row
                    .to_string()
                    .contains(&t.carer.identity.device_id.to_string())
        })
        .context("the refused write is in the audit log")?;
    assert!(
        !denial.to_string().contains("FORGED"),
        "audit rows carry no content"
    );

    // The guardian's profile is untouched.
    t.guardian.sync().await?;
    let reference = t
        .guardian
        .lock()
        .read(DocId::new(t.case, DocKind::Profile), |d| d.profile())?
        .case_reference;
    assert_eq!(reference, "HUL-2026-0099");
    let _ = base64::engine::general_purpose::STANDARD.encode([0u8]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_access_ends_the_device_purges_the_documents() -> Result<()> {
    let t = team().await?;
    t.carer.sync().await?;
    assert_eq!(t.carer.lock().held_kinds(t.case)?, vec![DocKind::Safety]);
    t.h.admin
        .unlink_carer(&t.case.to_string(), &t.carer_id)
        .await?;
    let outcome = t.carer.sync().await?;
    assert_eq!(
        outcome.report.purged,
        vec![DocId::new(t.case, DocKind::Safety)]
    );
    assert!(t.carer.lock().held_kinds(t.case)?.is_empty());
    assert!(t.carer.lock().cases()?.is_empty());
    // Reopening from disk shows the same: nothing left.
    assert!(t.carer.reopen()?.cases()?.is_empty());
    // Guardian reassigned: their device purges all five documents.
    t.guardian.sync().await?;
    t.h.admin
        .unassign(&t.case.to_string(), &t.guardian_id)
        .await?;
    let outcome = t.guardian.sync().await?;
    assert_eq!(outcome.report.purged.len(), 5, "{:?}", outcome.report);
    assert!(t.guardian.lock().cases()?.is_empty());
    Ok(())
}

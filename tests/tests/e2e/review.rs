//! Supervisor review (issue 11): a note a guardian submits offline is in the supervisor's
//! queue after both sync; the supervisor's sign-off and return reach the guardian; an edit of
//! a signed-off note reopens review and the queue shows it again. A sign-off written by the
//! guardian's phone (in the guardian's name, or forged in the supervisor's), or by a device of
//! another team's supervisor, is refused and audited, and the queue still holds the note.

use anyhow::{Context, Result};
use automerge::sync::{State, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Automerge, ROOT, ReadDoc};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::ReviewStatus;
use casebook_core::sync::wire::{
    DocMessage, PROTOCOL_VERSION, RejectReason, SyncRequest, SyncResponse,
};
use casebook_tests::support::{Admin, Device, pin};
use chrono::Utc;
use serde_json::{Value, json};

use super::{Team, record_visit, team};

/// Submit `note` for review on `device` (offline).
fn submit(device: &Device, doc: DocId, note: EntryId) -> Result<()> {
    device.change(doc, |d, e| {
        d.review_visit_note(e, note, ReviewStatus::Submitted, "")
    })?;
    Ok(())
}

/// The supervisor's queue, as `GET /v1/review-queue` answers it.
async fn queue(t: &Team, device: &Device, query: &str) -> Result<Value> {
    let client = Admin::connect(&t.h.server.base_url(), &pin(&t.h.server), device).await?;
    client.get(&format!("/v1/review-queue{query}")).await
}

fn queued_notes(q: &Value) -> Vec<String> {
    q["notes"]
        .as_array()
        .map(|notes| {
            notes
                .iter()
                .filter_map(|n| n["note_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn review_on(device: &Device, doc: DocId, note: EntryId) -> Result<casebook_core::model::Review> {
    Ok(device.lock().read(doc, |d| d.visit_note(note))?.review)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_submitted_offline_is_queued_and_the_supervisors_decisions_reach_the_guardian()
-> Result<()> {
    let t = team().await?;
    t.supervisor.sync().await?;
    let visits = DocId::new(t.case, DocKind::Visits);

    // Offline: one note submitted, one left as a draft.
    let submitted = record_visit(&t.guardian, t.case, "I like my school")?;
    let draft = record_visit(&t.guardian, t.case, "still writing")?;
    submit(&t.guardian, visits, submitted)?;
    t.guardian.sync().await?;
    t.supervisor.sync().await?;

    let q = queue(&t, &t.supervisor, "").await?;
    assert_eq!(queued_notes(&q), vec![submitted.to_string()], "{q}");
    let entry = &q["notes"][0];
    assert_eq!(entry["case_id"], t.case.to_string());
    assert_eq!(entry["case_reference"], "HUL-2026-0099");
    assert_eq!(entry["author_id"], t.guardian_id.as_str());
    assert_eq!(entry["author_name"], "guardian");
    assert!(entry["age_seconds"].as_i64().is_some_and(|a| a >= 0), "{q}");
    assert!(!q.to_string().contains(super::NOTE_CANARY));

    // The supervisor signs it off on their phone; the queue empties and the guardian sees it.
    t.supervisor.change(visits, |d, e| {
        d.review_visit_note(e, submitted, ReviewStatus::SignedOff, "Good record")
    })?;
    t.supervisor.sync().await?;
    assert!(queued_notes(&queue(&t, &t.supervisor, "").await?).is_empty());
    t.guardian.sync().await?;
    let review = review_on(&t.guardian, visits, submitted)?;
    assert_eq!(review.status, ReviewStatus::SignedOff);
    assert_eq!(
        review.reviewer.map(|u| u.to_string()),
        Some(t.supervisor_id.clone())
    );
    assert_eq!(review.comment, "Good record");

    // The draft, submitted later, is returned with a comment.
    submit(&t.guardian, visits, draft)?;
    t.guardian.sync().await?;
    t.supervisor.sync().await?;
    assert_eq!(
        queued_notes(&queue(&t, &t.supervisor, "").await?),
        vec![draft.to_string()]
    );
    t.supervisor.change(visits, |d, e| {
        d.review_visit_note(e, draft, ReviewStatus::Returned, "Add who attended")
    })?;
    t.supervisor.sync().await?;
    t.guardian.sync().await?;
    let review = review_on(&t.guardian, visits, draft)?;
    assert_eq!(review.status, ReviewStatus::Returned);
    assert_eq!(review.comment, "Add who attended");

    // An edit of the signed-off note reopens review, on the phone and in the queue.
    t.guardian.change(visits, |d, e| {
        let mut note = d.visit_note(submitted)?;
        note.observations = "Added after sign-off.".into();
        d.update_visit_note(e, submitted, &note)
    })?;
    assert_eq!(
        review_on(&t.guardian, visits, submitted)?.status,
        ReviewStatus::Submitted
    );
    t.guardian.sync().await?;
    assert_eq!(
        queued_notes(&queue(&t, &t.supervisor, "").await?),
        vec![submitted.to_string()]
    );
    t.supervisor.sync().await?;
    assert_eq!(
        review_on(&t.supervisor, visits, submitted)?.status,
        ReviewStatus::Submitted
    );

    // The queue's reads are audited per case; decisions are audited without the comment.
    let audit = t.h.admin.audit_for_case(&t.case.to_string()).await?;
    let text = serde_json::to_string(&audit)?;
    assert!(text.contains("review_queue"), "queue read audited");
    assert!(text.contains("note_reviewed"), "decision audited");
    assert!(!text.contains("Good record"), "no comment in the audit");

    // A guardian has no queue: 403, audited.
    let err = queue(&t, &t.guardian, "")
        .await
        .expect_err("a guardian's queue");
    assert!(err.to_string().contains("403"), "{err}");
    let guardian = t.guardian_id.clone();
    let denied = casebook_tests::support::audit_rows(&t.h.server)
        .await?
        .iter()
        .filter(|r| {
            r.event == "denied"
                && r.actor_user.as_deref() == Some(guardian.as_str())
                && r.detail.contains("review_queue")
        })
        .count();
    assert_eq!(denied, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_pages_oldest_first_and_a_bad_cursor_is_a_clear_error() -> Result<()> {
    let t = team().await?;
    let visits = DocId::new(t.case, DocKind::Visits);
    let mut notes = Vec::new();
    for i in 0..3 {
        let note = record_visit(&t.guardian, t.case, &format!("visit {i}"))?;
        submit(&t.guardian, visits, note)?;
        // One sync per submission: each is received in its own second.
        t.guardian.sync().await?;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        notes.push(note.to_string());
    }
    let first = queue(&t, &t.supervisor, "?limit=2").await?;
    assert_eq!(queued_notes(&first), notes[..2].to_vec());
    let next = first["next"].as_str().context("a next page")?;
    let second = queue(&t, &t.supervisor, &format!("?limit=2&after={next}")).await?;
    assert_eq!(queued_notes(&second), notes[2..].to_vec());
    assert!(second["next"].is_null());

    let err = queue(&t, &t.supervisor, "?after=forged")
        .await
        .expect_err("a forged cursor");
    assert!(err.to_string().contains("after"), "{err}");
    let err = queue(&t, &t.supervisor, "?limit=0")
        .await
        .expect_err("limit 0");
    assert!(err.to_string().contains("limit"), "{err}");
    Ok(())
}

/// A raw change to `device`'s copy of `doc` setting `note`'s review to signed off by
/// `reviewer`, under a commit note naming `user` and `named_device` (as a modified app would).
fn forged_sign_off(
    device: &Device,
    doc: DocId,
    note: EntryId,
    reviewer: &str,
    (user, named_device): (&str, &str),
) -> Result<()> {
    let bytes = device.lock().read(doc, |d| Ok(d.save()))?;
    let mut raw = AutoCommit::load(&bytes)?;
    let heads = raw.get_heads();
    raw.set_actor(ActorId::from(device.identity.device_id.as_bytes()));
    let (_, notes) = raw.get(ROOT, "notes")?.context("notes")?;
    let (_, entry) = raw.get(&notes, note.to_string())?.context("note")?;
    let (_, review) = raw.get(&entry, "review")?.context("review")?;
    raw.put(&review, "status", "signed_off")?;
    raw.put(&review, "reviewer", reviewer)?;
    let message = json!({ "user": user, "device": named_device, "what": "raw" });
    raw.commit_with(
        CommitOptions::default()
            .with_message(message.to_string())
            .with_time(Utc::now().timestamp_millis()),
    );
    let change = raw.save_after(&heads);
    device.change(doc, |d, _| d.merge_bytes(&change))?;
    Ok(())
}

async fn status_on_server(t: &Team, note: EntryId) -> Result<String> {
    let (case, note) = (t.case.to_string(), note.to_string());
    Ok(t.h
        .server
        .state
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT status FROM review_index WHERE case_id = ?1 AND note_id = ?2",
                [case, note],
                |r| r.get(0),
            )?)
        })
        .await?)
}

async fn review_denials(t: &Team, reason: &str) -> Result<usize> {
    let audit = t.h.admin.audit_for_case(&t.case.to_string()).await?;
    Ok(audit
        .iter()
        .filter(|row| {
            let text = row.to_string();
            text.contains("\"denied\"") && text.contains(reason)
        })
        .count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_offs_from_a_guardians_phone_or_another_teams_supervisor_are_refused() -> Result<()> {
    let t = team().await?;
    let visits = DocId::new(t.case, DocKind::Visits);
    let note = record_visit(&t.guardian, t.case, "I want to stay here")?;
    submit(&t.guardian, visits, note)?;
    t.guardian.sync().await?;
    assert_eq!(status_on_server(&t, note).await?, "submitted");

    // The guardian's modified app signs off its own note, in the guardian's name.
    let guardian_device = t.guardian.identity.device_id.to_string();
    let before = review_denials(&t, "write_rule").await?;
    forged_sign_off(
        &t.guardian,
        visits,
        note,
        &t.guardian_id,
        (&t.guardian_id, &guardian_device),
    )?;
    let outcome = t.guardian.sync().await?;
    assert!(
        outcome
            .report
            .rejected
            .iter()
            .any(|r| r.doc == visits && r.reason == RejectReason::ReadOnly),
        "{:?}",
        outcome.report
    );
    assert!(review_denials(&t, "write_rule").await? > before);
    assert!(
        review_denials(&t, "only a supervisor signs off").await? >= 1,
        "the violation is named"
    );
    assert_eq!(status_on_server(&t, note).await?, "submitted");

    // The same phone forging the supervisor's name and device in the commit note.
    let (forger_id, forger) = t.h.person("forger", "guardian").await?;
    t.h.admin.assign(&t.case.to_string(), &forger_id).await?;
    forger.sync().await?;
    let supervisor_device = t.supervisor.identity.device_id.to_string();
    forged_sign_off(
        &forger,
        visits,
        note,
        &t.supervisor_id,
        (&t.supervisor_id, &supervisor_device),
    )?;
    let outcome = forger.sync().await?;
    assert!(
        outcome
            .report
            .rejected
            .iter()
            .any(|r| r.doc == visits && r.reason == RejectReason::ReadOnly),
        "{:?}",
        outcome.report
    );
    assert_eq!(status_on_server(&t, note).await?, "submitted");

    // A supervisor of another team signs off from their own enrolled phone: the server
    // refuses the change (they may not write this case), and nothing is stored.
    let (other_id, other) = t.h.person("other supervisor", "supervisor").await?;
    t.h.admin.team("Leeds team", &[&other_id]).await?;
    other.sync().await?;
    let stored: Vec<u8> = {
        let doc = visits.to_string();
        t.h.server
            .state
            .db
            .read(move |c| {
                casebook_server::db::docs::read_bytes(c, &doc)?
                    .ok_or_else(|| casebook_server::Error::NotFound("document"))
            })
            .await?
    };
    let response = send_sign_off(&other, &other_id, visits, note, &stored).await?;
    assert!(
        response
            .rejected
            .iter()
            .any(|r| r.doc == visits && r.reason == RejectReason::Forbidden),
        "{response:?}"
    );
    assert_eq!(status_on_server(&t, note).await?, "submitted");

    // The team's own supervisor signs off: accepted, and out of the queue.
    t.supervisor.sync().await?;
    t.supervisor.change(visits, |d, e| {
        d.review_visit_note(e, note, ReviewStatus::SignedOff, "Fine")
    })?;
    let outcome = t.supervisor.sync().await?;
    assert!(outcome.report.rejected.is_empty(), "{:?}", outcome.report);
    assert_eq!(status_on_server(&t, note).await?, "signed_off");
    assert!(queued_notes(&queue(&t, &t.supervisor, "").await?).is_empty());
    Ok(())
}

/// Send, as `device` (of user `user`), a sync message carrying a sign-off of `note` made on
/// `stored` (the server's copy of `doc`): what a device that got hold of the document would
/// send. Returns the server's answer.
async fn send_sign_off(
    device: &Device,
    user: &str,
    doc: DocId,
    note: EntryId,
    stored: &[u8],
) -> Result<SyncResponse> {
    let server_copy = Automerge::load(stored)?;
    let mut raw = AutoCommit::load(stored)?;
    raw.set_actor(ActorId::from(device.identity.device_id.as_bytes()));
    let (_, notes) = raw.get(ROOT, "notes")?.context("notes")?;
    let (_, entry) = raw.get(&notes, note.to_string())?.context("note")?;
    let (_, review) = raw.get(&entry, "review")?.context("review")?;
    raw.put(&review, "status", "signed_off")?;
    raw.put(&review, "reviewer", user)?;
    let message = json!({
        "user": user,
        "device": device.identity.device_id.to_string(),
        "what": "raw",
    });
    raw.commit_with(
        CommitOptions::default()
            .with_message(message.to_string())
            .with_time(Utc::now().timestamp_millis()),
    );
    let mut attacker = raw.document().clone();
    // A message from the server's copy tells the attacker's copy what the server holds.
    let mut server_state = State::new();
    let hello = server_copy
        .generate_sync_message(&mut server_state)
        .context("hello")?;
    let mut attacker_state = State::new();
    attacker.receive_sync_message(&mut attacker_state, hello)?;
    let carrying = attacker
        .generate_sync_message(&mut attacker_state)
        .context("changes")?;
    let request = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![DocMessage {
            doc,
            data: carrying.encode(),
        }],
        purged: Vec::new(),
        epoch: None,
    };
    let identity = &device.identity;
    let (client, token) = device.session().await?;
    let response = client
        .post(format!("{}/v1/sync", identity.server_url))
        .bearer_auth(token)
        .json(&request)
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "{}", response.status());
    Ok(response.json().await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_from_the_console_reaches_the_guardian_and_other_teams_are_refused() -> Result<()>
{
    use casebook_tests::console::Console;
    use reqwest::StatusCode;

    let t = team().await?;
    let visits = DocId::new(t.case, DocKind::Visits);
    let note = record_visit(&t.guardian, t.case, "I miss my brother")?;
    submit(&t.guardian, visits, note)?;
    t.guardian.sync().await?;
    let page = format!("/console/review/{}/{note}", t.case);

    // A supervisor of another team: 403 on the note and on a decision, nothing written.
    let (other_id, _) = t.h.person("other supervisor", "supervisor").await?;
    t.h.admin.team("Leeds team", &[&other_id]).await?;
    let other = Console::enrol(&t.h.server, &t.h.admin.code(&other_id).await?, "Leeds").await?;
    assert_eq!(other.get(&page).await?.status(), StatusCode::FORBIDDEN);
    let csrf = other.csrf().await?;
    let resp = other
        .post(
            &page,
            &[("csrf", &csrf), ("decision", "sign_off"), ("comment", "")],
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        !other
            .get("/console/review")
            .await?
            .text()
            .await?
            .contains(&page)
    );
    assert_eq!(status_on_server(&t, note).await?, "submitted");

    // The team's supervisor, in the browser: the queue links the note.
    let code = t.h.admin.code(&t.supervisor_id).await?;
    let sam = Console::enrol(&t.h.server, &code, "Sam's browser").await?;
    let queue_html = sam.get("/console/review").await?.text().await?;
    assert!(queue_html.contains(&page), "{queue_html}");
    assert!(queue_html.contains("HUL-2026-0099"));
    let note_html = sam.get(&page).await?.text().await?;
    assert!(note_html.contains("I miss my brother"));

    // Without the CSRF token: refused. Returning without a comment: the error beside the
    // field, nothing written.
    let resp = sam
        .post(&page, &[("decision", "return"), ("comment", "Why?")])
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let csrf = sam.csrf().await?;
    let resp = sam
        .post(
            &page,
            &[("csrf", &csrf), ("decision", "return"), ("comment", "  ")],
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await?.contains("id=\"return-comment-error\""));
    assert_eq!(status_on_server(&t, note).await?, "submitted");

    // Returned with a comment: the guardian's phone receives it as Sam's change.
    let resp = sam
        .post(
            &page,
            &[
                ("csrf", &csrf),
                ("decision", "return"),
                ("comment", "Add who attended"),
            ],
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(status_on_server(&t, note).await?, "returned");
    t.guardian.sync().await?;
    let review = review_on(&t.guardian, visits, note)?;
    assert_eq!(review.status, ReviewStatus::Returned);
    assert_eq!(review.comment, "Add who attended");
    assert_eq!(
        review.reviewer.map(|u| u.to_string()),
        Some(t.supervisor_id.clone())
    );

    // Deciding again on a note no longer awaiting review: 409, nothing written.
    let resp = sam
        .post(
            &page,
            &[("csrf", &csrf), ("decision", "sign_off"), ("comment", "")],
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(status_on_server(&t, note).await?, "returned");
    Ok(())
}

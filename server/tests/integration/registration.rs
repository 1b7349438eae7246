//! Cases a device created offline, registered by its sync: what registers nothing (messages
//! that do not decode), which team a registered case joins, and the list of cases without a
//! team shown to administrators and supervisors.

use automerge::AutoCommit;
use automerge::sync::{Message, State, SyncDoc};
use axum::http::{Method, StatusCode};
use casebook_core::doc::DocKind;
use casebook_core::ids::CaseId;
use casebook_core::sync::wire::{DocMessage, PROTOCOL_VERSION, SyncRequest, SyncResponse};
use casebook_server::Settings;
use serde_json::{Value, json};

use crate::support::{Device, Harness, doc, new_case};

/// A real sync message that carries one change, from a device with some content.
fn message_with_a_change() -> Vec<u8> {
    let mut am = AutoCommit::new();
    automerge::transaction::Transactable::put(&mut am, automerge::ROOT, "k", "v").expect("put");
    let mut state = State::new();
    // The first message announces heads; the peer's empty answer makes the next carry changes.
    let first = am.sync().generate_sync_message(&mut state).expect("first");
    let mut peer = AutoCommit::new();
    let mut peer_state = State::new();
    peer.sync()
        .receive_sync_message(&mut peer_state, first)
        .expect("peer receives");
    let answer = peer
        .sync()
        .generate_sync_message(&mut peer_state)
        .expect("answer");
    am.sync()
        .receive_sync_message(&mut state, answer)
        .expect("receive answer");
    let with_changes = am
        .sync()
        .generate_sync_message(&mut state)
        .expect("changes");
    assert!(
        !with_changes.changes.is_empty(),
        "the message carries a change"
    );
    with_changes.encode()
}

/// Messages whose bytes do not decode as automerge: each one for a case the server does not know.
fn undecodable_messages() -> Vec<(&'static str, Vec<u8>)> {
    let good = message_with_a_change();
    let decoded = Message::decode(&good).expect("decodes");
    let change = decoded.changes.iter().next().expect("a change").to_vec();
    let mut variants = vec![
        ("empty", Vec::new()),
        ("not a sync message", vec![0x42, 0xff, 0xff]),
        ("truncated", good[..good.len() / 2].to_vec()),
    ];
    // The message's frame is sound but the change inside it is not: its bytes are flipped
    // one at a time after the chunk header, so the checksum or the columns are wrong.
    let change_at = good
        .windows(change.len())
        .position(|w| w == change.as_slice())
        .expect("the change is in the message");
    for offset in [8usize, 12, change.len() / 2, change.len() - 1] {
        let mut bad = good.clone();
        bad[change_at + offset] ^= 0x5a;
        variants.push(("corrupt change", bad));
    }
    variants
}

async fn count(h: &Harness, sql: &'static str, arg: String) -> i64 {
    h.state
        .db
        .read(move |c| Ok(c.query_row(sql, [arg], |r| r.get(0))?))
        .await
        .expect("count")
}

async fn send(h: &Harness, device: &Device, messages: Vec<DocMessage>) -> SyncResponse {
    let req = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages,
        purged: vec![],
        epoch: None,
    };
    let reply = h.sync_raw(device, &req).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.error());
    reply.json()
}

#[tokio::test]
async fn an_undecodable_message_for_an_unknown_case_registers_nothing() {
    // A limit of one: a consumed registration would show as the real case below refused.
    let h = Harness::with_settings(Settings {
        max_case_registrations_per_day: 1,
        ..Settings::default()
    })
    .await;
    let mut guardian = h.person("guardian").await;
    for (what, data) in undecodable_messages() {
        let case = new_case();
        let d = doc(case, DocKind::Visits);
        let resp = send(&h, &guardian, vec![DocMessage { doc: d, data }]).await;
        assert_eq!(resp.rejected.len(), 1, "{what}: refused");
        assert_eq!(resp.rejected[0].doc, d);
        let cases = count(
            &h,
            "SELECT COUNT(*) FROM cases WHERE id = ?1",
            case.to_string(),
        )
        .await;
        assert_eq!(cases, 0, "{what}: no case row");
        let created = count(
            &h,
            "SELECT COUNT(*) FROM audit WHERE event = 'case_created' AND case_id = ?1",
            case.to_string(),
        )
        .await;
        assert_eq!(created, 0, "{what}: no registration audited");
        let docs = count(
            &h,
            "SELECT COUNT(*) FROM docs WHERE case_id = ?1",
            case.to_string(),
        )
        .await;
        assert_eq!(docs, 0, "{what}: no document stored");
    }
    // The day's one registration is still there for a real case.
    let case = new_case();
    let d = doc(case, DocKind::Visits);
    guardian.write(d, "v", "first visit");
    let resps = h.sync_until_quiet(&mut guardian).await;
    assert!(resps.iter().all(|r| r.rejected.is_empty()), "{resps:?}");
    let cases = count(
        &h,
        "SELECT COUNT(*) FROM cases WHERE id = ?1",
        case.to_string(),
    )
    .await;
    assert_eq!(cases, 1, "the real case is registered");
    assert_eq!(guardian.read(&d, "v").as_deref(), Some("first visit"));
}

async fn team_of(h: &Harness, case: CaseId) -> Option<String> {
    let case = case.to_string();
    h.state
        .db
        .read(move |c| {
            Ok(
                c.query_row("SELECT team_id FROM cases WHERE id = ?1", [case], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .expect("case row")
}

async fn unteamed(h: &Harness, token: &str) -> (StatusCode, Value) {
    let reply = h
        .raw(
            Method::GET,
            "/v1/admin/cases/unteamed",
            Some(token),
            Vec::new(),
        )
        .await;
    let body = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    (reply.status, body)
}

/// Register `case` by syncing a first visit from `device`.
async fn register(h: &Harness, device: &mut Device, case: CaseId) {
    device.write(doc(case, DocKind::Visits), "v", "first visit");
    let resps = h.sync_until_quiet(device).await;
    assert!(resps.iter().all(|r| r.rejected.is_empty()), "{resps:?}");
}

#[tokio::test]
async fn a_case_synced_by_a_guardian_in_one_team_joins_it_and_its_supervisor_sees_it() {
    let h = Harness::new().await;
    let mut guardian = h.person("guardian").await;
    let mut supervisor = h.person("supervisor").await;
    let team = h.new_team("North", &h.root_org.clone()).await;
    h.join(&team, &guardian.user_id).await;
    h.join(&team, &supervisor.user_id).await;

    let case = new_case();
    register(&h, &mut guardian, case).await;
    assert_eq!(team_of(&h, case).await.as_deref(), Some(team.as_str()));
    // The team's supervisor receives it on their next sync.
    h.sync_until_quiet(&mut supervisor).await;
    assert_eq!(
        supervisor.read(&doc(case, DocKind::Visits), "v").as_deref(),
        Some("first visit")
    );
    // It is not waiting for a team.
    let (status, list) = unteamed(&h, &h.admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));
    assert_eq!(
        count(
            &h,
            "SELECT COUNT(*) FROM audit WHERE event = 'case_without_team' AND case_id = ?1",
            case.to_string()
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_case_synced_by_a_guardian_in_no_team_or_two_waits_in_the_unteamed_list() {
    let h = Harness::new().await;
    let root = h.root_org.clone();
    let mut lone = h.person("guardian").await;
    let mut social_worker = h.person("social_worker").await;
    let north = h.new_team("North", &root).await;
    let south = h.new_team("South", &root).await;
    h.join(&north, &social_worker.user_id).await;
    h.join(&south, &social_worker.user_id).await;
    let supervisor = h.person("supervisor").await;
    h.join(&north, &supervisor.user_id).await;
    let teamless_supervisor = h.person("supervisor").await;
    // A supervisor of a team in another organisation.
    let other_org: Value = h
        .admin_post(
            "/v1/admin/orgs",
            json!({ "name": "Elsewhere", "authorities": [] }),
        )
        .await
        .json();
    let other_org = other_org["id"].as_str().expect("id").to_owned();
    let elsewhere = h.new_team("Elsewhere team", &other_org).await;
    let outsider = h.create_user("supervisor", &other_org).await;
    let outsider_code = h.code_for(&outsider).await;
    let outsider = h.enrol_device(&outsider_code).await;
    h.join(&elsewhere, &outsider.user_id).await;

    let first = new_case();
    register(&h, &mut lone, first).await;
    h.clock.advance(60);
    let second = new_case();
    register(&h, &mut social_worker, second).await;
    assert_eq!(team_of(&h, first).await, None, "no team to join");
    assert_eq!(team_of(&h, second).await, None, "two teams: no guess");
    for case in [first, second] {
        assert_eq!(
            count(
                &h,
                "SELECT COUNT(*) FROM audit WHERE event = 'case_without_team' AND case_id = ?1",
                case.to_string()
            )
            .await,
            1,
            "audited"
        );
    }

    // Administrators see both, with their organisation and who is assigned.
    let (status, list) = unteamed(&h, &h.admin.token).await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().expect("a list").clone();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["case_id"], json!(first.to_string()));
    assert_eq!(list[0]["org_id"], json!(root));
    assert_eq!(list[0]["assigned"], json!([lone.user_id]));
    assert_eq!(list[1]["case_id"], json!(second.to_string()));
    assert_eq!(list[1]["assigned"], json!([social_worker.user_id]));
    assert!(
        list[0]["created_at"].as_i64().expect("time")
            < list[1]["created_at"].as_i64().expect("time")
    );

    // A supervisor of a team in the organisation sees the reference and the time only.
    let (status, seen) = unteamed(&h, &supervisor.token).await;
    assert_eq!(status, StatusCode::OK);
    let seen = seen.as_array().expect("a list").clone();
    assert_eq!(seen.len(), 2);
    for (row, full) in seen.iter().zip(&list) {
        let keys: Vec<&String> = row.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["case_id", "created_at"], "{row}");
        assert_eq!(row["case_id"], full["case_id"]);
    }
    // A supervisor of no team, one of another organisation, and a guardian see nothing.
    let (status, _) = unteamed(&h, &teamless_supervisor.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, none) = unteamed(&h, &outsider.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none, json!([]));
    let (status, _) = unteamed(&h, &lone.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Once an administrator sets a team the case leaves the list.
    let reply = h
        .raw(
            Method::PUT,
            &format!("/v1/admin/cases/{first}/team"),
            Some(&h.admin.token),
            serde_json::to_vec(&json!({ "team_id": north })).expect("json"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.error());
    let (_, list) = unteamed(&h, &h.admin.token).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["case_id"], json!(second.to_string()));
}

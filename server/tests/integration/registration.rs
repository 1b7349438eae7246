//! Cases a device created offline, registered by its sync: what registers nothing (messages
//! that do not decode), which team a registered case joins, and the list of cases without a
//! team shown to administrators and supervisors.

use automerge::AutoCommit;
use automerge::sync::{Message, State, SyncDoc};
use axum::http::StatusCode;
use casebook_core::doc::DocKind;
use casebook_core::sync::wire::{DocMessage, PROTOCOL_VERSION, SyncRequest, SyncResponse};
use casebook_server::Settings;

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

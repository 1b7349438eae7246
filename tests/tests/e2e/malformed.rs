//! Malformed, truncated and oversized requests over real TLS get 4xx answers in the JSON error
//! shape and change nothing.

use anyhow::Result;
use casebook_core::client::{Transport, client_config};
use casebook_core::sync::wire::{ErrorBody, MAX_SYNC_REQUEST_BYTES, PROTOCOL_VERSION, SyncRequest};

use super::{record_visit, team};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_change_nothing() -> Result<()> {
    let t = team().await?;
    record_visit(&t.guardian, t.case, "before the garbage")?;
    t.guardian.sync().await?;
    let identity = &t.guardian.identity;
    let transport = Transport::new(&identity.server_url, &identity.trust)?;
    let token = transport
        .open_session(
            identity.device_id,
            |c| identity.sign_challenge(c),
            &mut Default::default(),
        )
        .await?
        .token;
    let noop = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![],
        purged: vec![],
        epoch: None,
    };
    let before = transport
        .sync(&token, &noop, &mut Default::default())
        .await?;
    let audit_before = t.h.admin.audit_for_case(&t.case.to_string()).await?.len();

    let valid = serde_json::to_vec(&noop)?;
    let doc = format!("{}/visits", t.case);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("not json", b"\x00\x01garbage".to_vec()),
        ("truncated", valid[..valid.len() / 2].to_vec()),
        ("wrong version", br#"{"v":99,"cursor":0}"#.to_vec()),
        ("unknown field", br#"{"v":1,"cursor":0,"extra":1}"#.to_vec()),
        ("negative cursor", br#"{"v":1,"cursor":-1}"#.to_vec()),
        (
            "bad base64",
            format!(r#"{{"v":1,"cursor":0,"messages":[{{"doc":"{doc}","data":"@@@"}}]}}"#)
                .into_bytes(),
        ),
        (
            "bad doc id",
            br#"{"v":1,"cursor":0,"messages":[{"doc":"x/visits","data":""}]}"#.to_vec(),
        ),
        ("oversized", vec![b' '; MAX_SYNC_REQUEST_BYTES + 1]),
    ];
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(client_config(&identity.trust)?)
        .build()?;
    for (label, body) in bodies {
        let response = client
            .post(format!("{}/v1/sync", identity.server_url))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        assert!(status.is_client_error(), "{label}: {status}");
        let error: ErrorBody = serde_json::from_slice(&response.bytes().await?)
            .unwrap_or_else(|e| panic!("{label}: error body is not the JSON shape: {e}"));
        assert!(!error.error.is_empty(), "{label}");
    }
    // No token, and a made-up token.
    for token in [None, Some("made-up")] {
        let mut request = client
            .post(format!("{}/v1/sync", identity.server_url))
            .body(valid.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(request.send().await?.status().as_u16(), 401);
    }

    let after = transport
        .sync(&token, &noop, &mut Default::default())
        .await?;
    assert_eq!(after.cursor, before.cursor, "nothing was stored");
    assert_eq!(
        t.h.admin.audit_for_case(&t.case.to_string()).await?.len(),
        audit_before
    );
    t.supervisor.sync().await?;
    let notes = t.supervisor.lock().read(
        casebook_core::doc::DocId::new(t.case, casebook_core::doc::DocKind::Visits),
        |d| d.visit_notes(),
    )?;
    assert_eq!(notes.len(), 1);
    Ok(())
}

//! One enrolled device cannot monopolise the server's single writer over real TLS: oversized
//! purge and message lists are refused before any work, purge confirmations are audited only
//! for documents the device really held (never another organisation's case), and a device
//! that syncs too fast gets 429 with `Retry-After`.

use anyhow::Result;
use casebook_core::client::{Transport, client_config};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::CaseId;
use casebook_core::sync::wire::{
    DocMessage, ErrorBody, MAX_SYNC_MESSAGES, MAX_SYNC_PURGED, PROTOCOL_VERSION, SyncRequest,
};
use casebook_server::TestServer;
use casebook_tests::support::Device;
use serde_json::json;

use super::team;

/// A device's raw HTTP client with an open session.
struct Raw {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Raw {
    async fn open(device: &Device) -> Result<Self> {
        let identity = &device.identity;
        let transport = Transport::new(&identity.server_url, &identity.trust)?;
        let token = transport
            .open_session(
                identity.device_id,
                |c| identity.sign_challenge(c),
                &mut Default::default(),
            )
            .await?
            .token;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(client_config(&identity.trust)?)
            .build()?;
        Ok(Raw {
            client,
            url: format!("{}/v1/sync", identity.server_url),
            token,
        })
    }

    async fn sync(&self, req: &SyncRequest) -> Result<(u16, Vec<u8>, Option<String>)> {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(req)?)
            .send()
            .await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((status, response.bytes().await?.to_vec(), retry_after))
    }
}

async fn count(server: &TestServer, sql: &'static str, arg: String) -> Result<i64> {
    Ok(server
        .state
        .db
        .read(move |c| Ok(c.query_row(sql, [arg], |r| r.get(0))?))
        .await?)
}

async fn audit_rows(server: &TestServer) -> Result<i64> {
    count(
        server,
        "SELECT COUNT(*) FROM audit WHERE ?1 = ?1",
        String::new(),
    )
    .await
}

async fn audit_rows_naming(server: &TestServer, case: &CaseId) -> Result<i64> {
    count(
        server,
        "SELECT COUNT(*) FROM audit WHERE case_id = ?1",
        case.to_string(),
    )
    .await
}

const KINDS: [DocKind; 5] = [
    DocKind::Profile,
    DocKind::Location,
    DocKind::Visits,
    DocKind::Safety,
    DocKind::Associates,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_purge_confirmations_is_refused_and_audits_nothing_foreign() -> Result<()> {
    let mut t = team().await?;
    // Another organisation's case, whose id the attacker learnt.
    let other_org = t.h.admin.create_org("Leeds City Council").await?;
    let other =
        t.h.admin
            .post("/v1/admin/cases", json!({ "org_id": other_org }))
            .await?;
    let server = &t.h.server;
    let other: CaseId = other["id"].as_str().unwrap_or_default().parse()?;
    let raw = Raw::open(&t.guardian).await?;

    // 100,000 confirmations, the other organisation's documents over and over.
    let flood: Vec<DocId> = (0..100_000)
        .map(|i| DocId::new(other, KINDS[i % KINDS.len()]))
        .collect();
    let before = audit_rows(server).await?;
    // Its creation by the administrator is the only row that names it.
    let naming_other = audit_rows_naming(server, &other).await?;
    let (status, body, _) = raw
        .sync(&SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 0,
            messages: vec![],
            purged: flood,
            epoch: None,
        })
        .await?;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let error: ErrorBody = serde_json::from_slice(&body)?;
    assert_eq!(error.error, "bad_request");
    assert_eq!(
        audit_rows(server).await?,
        before,
        "a refused request audits nothing"
    );
    assert_eq!(audit_rows_naming(server, &other).await?, naming_other);

    // A list at the cap: the other organisation's documents and one the device holds, each
    // named hundreds of times. Only the one really held is forgotten and audited, once.
    let own = DocId::new(t.case, DocKind::Visits);
    let mut list: Vec<DocId> = (0..MAX_SYNC_PURGED - 300)
        .map(|i| DocId::new(other, KINDS[i % KINDS.len()]))
        .collect();
    list.extend(std::iter::repeat_n(own, 300));
    let before = audit_rows(server).await?;
    let (status, body, _) = raw
        .sync(&SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 0,
            messages: vec![],
            purged: list,
            epoch: None,
        })
        .await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let grown = audit_rows(server).await? - before;
    assert!(grown <= 4, "{grown} audit rows for one real confirmation");
    assert_eq!(audit_rows_naming(server, &other).await?, naming_other);
    let confirmed = count(
        server,
        "SELECT COUNT(*) FROM audit WHERE event = 'purge_confirmed' AND doc_id = ?1",
        own.to_string(),
    )
    .await?;
    assert_eq!(confirmed, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_empty_messages_register_no_case() -> Result<()> {
    let t = team().await?;
    let server = &t.h.server;
    let raw = Raw::open(&t.guardian).await?;
    let cases_before = count(
        server,
        "SELECT COUNT(*) FROM cases WHERE ?1 = ?1",
        String::new(),
    )
    .await?;
    let audit_before = audit_rows(server).await?;
    let messages: Vec<DocMessage> = (0..50_000)
        .map(|_| DocMessage {
            doc: DocId::new(CaseId::random(&mut rand::rngs::OsRng), DocKind::Visits),
            data: Vec::new(),
        })
        .collect();
    let (status, body, _) = raw
        .sync(&SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 0,
            messages,
            purged: vec![],
            epoch: None,
        })
        .await?;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let cases_after = count(
        server,
        "SELECT COUNT(*) FROM cases WHERE ?1 = ?1",
        String::new(),
    )
    .await?;
    assert_eq!(cases_after, cases_before, "no case registered");
    assert_eq!(audit_rows(server).await?, audit_before);
    // At the cap the request is taken, and still registers nothing: a message that does not
    // decode never registers a case.
    let messages: Vec<DocMessage> = (0..MAX_SYNC_MESSAGES)
        .map(|_| DocMessage {
            doc: DocId::new(CaseId::random(&mut rand::rngs::OsRng), DocKind::Visits),
            data: Vec::new(),
        })
        .collect();
    let (status, body, _) = raw
        .sync(&SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 0,
            messages,
            purged: vec![],
            epoch: None,
        })
        .await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let cases_after = count(
        server,
        "SELECT COUNT(*) FROM cases WHERE ?1 = ?1",
        String::new(),
    )
    .await?;
    assert_eq!(cases_after, cases_before, "no case registered");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_syncing_too_fast_gets_429_with_retry_after() -> Result<()> {
    let t = team().await?;
    let raw = Raw::open(&t.carer).await?;
    let noop = SyncRequest {
        v: PROTOCOL_VERSION,
        cursor: 0,
        messages: vec![],
        purged: vec![],
        epoch: None,
    };
    let burst = t.h.server.state.settings.sync_burst;
    let mut refused = None;
    // The bucket refills while the requests travel: send until it runs dry.
    for _ in 0..burst * 10 {
        let (status, body, retry_after) = raw.sync(&noop).await?;
        if status == 429 {
            refused = Some((body, retry_after));
            break;
        }
        assert_eq!(status, 200);
    }
    let (body, retry_after) = refused.expect("the burst ran out");
    let error: ErrorBody = serde_json::from_slice(&body)?;
    assert_eq!(error.error, "rate_limited");
    let seconds: u64 = retry_after.expect("Retry-After").parse()?;
    assert!((1..=60).contains(&seconds), "{seconds}");
    // Other devices are not slowed by it.
    t.guardian.sync().await?;
    Ok(())
}

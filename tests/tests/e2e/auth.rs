//! Devices and trust: revocation wipes the device; wrong pins, bad signatures, replayed
//! challenges and expired or reused enrolment codes are refused.

use anyhow::Result;
use casebook_core::Error;
use casebook_core::client::{ServerTrust, Transport};
use casebook_core::sync::wire::{ChallengeRequest, SessionRequest};
use casebook_tests::support::Device;

use super::{record_visit, team};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_refused_and_wiped() -> Result<()> {
    let t = team().await?;
    record_visit(&t.guardian, t.case, "note before revocation")?;
    t.guardian.sync().await?;
    assert_eq!(t.guardian.lock().cases()?.len(), 1);
    t.h.admin
        .revoke(&t.guardian.identity.device_id.to_string())
        .await?;
    let err = t.guardian.sync().await.expect_err("revoked");
    assert!(matches!(err, Error::DeviceRevoked), "{err:?}");
    assert!(t.guardian.lock().cases()?.is_empty(), "store wiped");
    assert!(
        t.guardian.reopen()?.cases()?.is_empty(),
        "wiped on disk too"
    );
    // Other devices carry on.
    t.supervisor.sync().await?;
    assert_eq!(t.supervisor.lock().cases()?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pins_bad_signatures_replays_and_used_codes_are_refused() -> Result<()> {
    let t = team().await?;
    let url = t.h.server.base_url();

    // Wrong certificate pin: the TLS handshake fails before anything is sent.
    let wrong = Transport::new(&url, &ServerTrust::Pin("AB".repeat(32)))?;
    let err = wrong
        .open_session(
            t.guardian.identity.device_id,
            |c| t.guardian.identity.sign_challenge(c),
            &mut Default::default(),
        )
        .await
        .expect_err("wrong pin");
    assert!(matches!(err, Error::UntrustedServer), "{err:?}");

    let transport = Transport::new(&url, &t.guardian.identity.trust)?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(casebook_core::client::client_config(
            &t.guardian.identity.trust,
        )?)
        .build()?;
    let challenge = |device| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let response = client
                .post(format!("{url}/v1/challenge"))
                .json(&ChallengeRequest { device_id: device })
                .send()
                .await?;
            anyhow::Ok(
                response
                    .json::<casebook_core::sync::wire::ChallengeResponse>()
                    .await?,
            )
        }
    };
    let session = |request: SessionRequest| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let response = client
                .post(format!("{url}/v1/session"))
                .json(&request)
                .send()
                .await?;
            anyhow::Ok(response.status())
        }
    };

    // Bad signature: another device's key signs the guardian's challenge.
    let device = t.guardian.identity.device_id;
    let c = challenge(device).await?;
    let forged = t.carer.identity.sign_challenge(&c.challenge)?;
    let status = session(SessionRequest {
        device_id: device,
        challenge: c.challenge.clone(),
        signature: forged,
    })
    .await?;
    assert_eq!(status.as_u16(), 401);

    // A good signature works once; replaying the same challenge is refused.
    let c = challenge(device).await?;
    let signature = t.guardian.identity.sign_challenge(&c.challenge)?;
    let good = SessionRequest {
        device_id: device,
        challenge: c.challenge.clone(),
        signature,
    };
    assert!(session(good.clone()).await?.is_success());
    assert_eq!(session(good).await?.as_u16(), 401, "replayed challenge");

    // A challenge the server never issued.
    let made_up = vec![7u8; 32];
    let signature = t.guardian.identity.sign_challenge(&made_up)?;
    assert_eq!(
        session(SessionRequest {
            device_id: device,
            challenge: made_up,
            signature
        })
        .await?
        .as_u16(),
        401
    );

    // Enrolment codes are single use.
    let user = t.h.admin.user("social worker", "social_worker").await?;
    let code = t.h.admin.code(&user).await?;
    Device::enrol_at(
        &t.h.server,
        t.h.devices_dir.path().join("sw1.db"),
        &code,
        "sw phone",
    )
    .await?;
    let again = Device::enrol_at(
        &t.h.server,
        t.h.devices_dir.path().join("sw2.db"),
        &code,
        "sw phone 2",
    )
    .await;
    assert!(again.is_err(), "a used code is refused");
    let bogus = Device::enrol_at(
        &t.h.server,
        t.h.devices_dir.path().join("sw3.db"),
        "not-a-code",
        "x",
    )
    .await;
    assert!(bogus.is_err());
    drop(transport);
    Ok(())
}

/// A client pinned to the test server that connects from `local` (any 127.0.0.x address
/// reaches a server listening on 127.0.0.1).
fn client_from(h: &casebook_tests::support::Harness, local: &str) -> Result<reqwest::Client> {
    let trust = casebook_tests::support::pin(&h.server);
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(casebook_core::client::client_config(&trust)?)
        .local_address(local.parse::<std::net::IpAddr>()?)
        .build()?)
}

async fn audit_rows(h: &casebook_tests::support::Harness, sql: &'static str) -> Result<i64> {
    Ok(h.server
        .state
        .db
        .read(move |c| Ok(c.query_row(sql, [], |r| r.get(0))?))
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_from_many_addresses_do_not_lock_out_a_valid_code() -> Result<()> {
    let h = casebook_tests::support::Harness::start().await?;
    let user = h.admin.user("guardian", "guardian").await?;
    let code = h.admin.code(&user).await?;
    let key: Vec<u8> = h
        .server
        .state
        .db
        .read(|c| Ok(c.query_row("SELECT public_key FROM devices LIMIT 1", [], |r| r.get(0))?))
        .await?;
    let url = h.server.base_url();
    // 100 wrong codes from 20 addresses: more than the old limit for everyone together.
    let mut limited = 0;
    for host in 2..22 {
        let client = client_from(&h, &format!("127.0.0.{host}"))?;
        for i in 0..6 {
            let status = client
                .post(format!("{url}/v1/enrol"))
                .json(&casebook_core::sync::wire::EnrolRequest {
                    code: format!("WRONG-WRONG-WRONG-{i:05}"),
                    public_key: key.clone(),
                    device_name: "attacker".into(),
                })
                .send()
                .await?
                .status();
            match status.as_u16() {
                401 => {}
                429 => limited += 1,
                other => anyhow::bail!("unexpected {other}"),
            }
        }
    }
    assert_eq!(
        limited, 20,
        "each address is slowed after its own 5 failures"
    );
    // The guardian, from an address of their own, enrols with the real client.
    let phone = Device::enrol_at(
        &h.server,
        h.devices_dir.path().join("guardian.db"),
        &code,
        "guardian phone",
    )
    .await?;
    phone.sync().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_bad_sessions_in_a_victims_name_barely_touch_the_audit() -> Result<()> {
    let h = casebook_tests::support::Harness::start().await?;
    let (_, victim) = h.person("guardian", "guardian").await?;
    let device = victim.identity.device_id;
    let url = h.server.base_url();
    let before = audit_rows(&h, "SELECT COUNT(*) FROM audit").await?;
    let started = std::time::Instant::now();
    let mut statuses = std::collections::BTreeMap::new();
    for host in 2..6 {
        let client = client_from(&h, &format!("127.0.0.{host}"))?;
        for i in 0..250u32 {
            let status = client
                .post(format!("{url}/v1/session"))
                .json(&SessionRequest {
                    device_id: device,
                    challenge: i.to_be_bytes().repeat(8),
                    signature: vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
                })
                .send()
                .await?
                .status()
                .as_u16();
            *statuses.entry(status).or_insert(0) += 1;
        }
    }
    let elapsed = started.elapsed();
    let added = audit_rows(&h, "SELECT COUNT(*) FROM audit").await? - before;
    println!("1000 bad sessions: {statuses:?} in {elapsed:?}, {added} audit rows");
    assert!(added <= 5, "{added} audit rows for 1,000 failures");
    assert_eq!(statuses.keys().copied().collect::<Vec<_>>(), vec![401, 429]);
    let victim_id = device.to_string();
    let as_actor: i64 = h
        .server
        .state
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM audit WHERE event = 'auth_failed' AND actor_device = ?1",
                [victim_id],
                |r| r.get(0),
            )?)
        })
        .await?;
    assert_eq!(as_actor, 0, "the victim is never the actor of a failure");
    // The victim's own sign-in and sync still work.
    victim.sync().await?;
    Ok(())
}

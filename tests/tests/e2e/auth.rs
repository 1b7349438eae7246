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

//! Alerts to the team (issue 10): a carer's phone, offline, starts a missing episode at 02:10
//! and syncs later; the guardian's and the supervisor's phones get the alert in their next
//! sync's answer; the supervisor acknowledges and the guardian then sees who did and when; the
//! audit has both; a carer of another case and an unassigned guardian get nothing; a replayed
//! request raises nothing more.

use anyhow::{Context, Result};
use casebook_core::alert::{Alert, AlertKind};
use casebook_core::client::{Transport, client_config};
use casebook_core::doc::{DocId, DocKind, Edit};
use casebook_core::ids::EntryId;
use casebook_core::model::MissingEpisode;
use casebook_core::sync::wire::SyncRequest;
use casebook_tests::support::Device;
use chrono::{Duration, NaiveTime, Utc};

use super::team;

const EPISODE_CANARY: &str = "CANARY-left-with-a-man-in-a-silver-car";

/// Alerts on the server (all of them, or those for `kind`).
async fn alerts_on_server(t: &super::Team, kind: AlertKind) -> Result<i64> {
    let kind = kind.as_str();
    Ok(t.h
        .server
        .state
        .db
        .read(move |c| {
            Ok(
                c.query_row("SELECT COUNT(*) FROM alerts WHERE kind = ?1", [kind], |r| {
                    r.get(0)
                })?,
            )
        })
        .await?)
}

/// Send `request` again as `device`, in a session of its own.
async fn replay(device: &Device, request: &SyncRequest) -> Result<u16> {
    let identity = &device.identity;
    let (client, token) = device.session().await?;
    let response = client
        .post(format!("{}/v1/sync", identity.server_url))
        .bearer_auth(token)
        .json(request)
        .send()
        .await?;
    Ok(response.status().as_u16())
}

fn only(alerts: &[Alert]) -> Result<&Alert> {
    match alerts {
        [one] => Ok(one),
        other => anyhow::bail!("expected one alert, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_episode_started_offline_alerts_the_guardian_and_the_supervisor_once() -> Result<()> {
    let t = team().await?;
    // Someone unassigned, and a carer of another child's placement.
    let (_, stranger) = t.h.person("stranger", "guardian").await?;
    let (other_carer_id, other_carer) = t.h.person("other carer", "carer").await?;
    let other_case = stranger.lock().create_case(
        &stranger.edit(),
        &mut rand::rngs::OsRng,
        &casebook_core::model::Profile {
            case_reference: "HUL-2026-0100".into(),
            ..Default::default()
        },
    )?;
    stranger.sync().await?;
    t.h.admin
        .link_carer(&other_case.to_string(), &other_carer_id)
        .await?;
    for device in [
        &t.carer,
        &t.guardian,
        &t.supervisor,
        &stranger,
        &other_carer,
    ] {
        device.sync().await?;
    }

    // 02:10, no signal: the carer starts an episode.
    let safety = DocId::new(t.case, DocKind::Safety);
    let episode = EntryId::random(&mut rand::rngs::OsRng);
    // Yesterday's 02:10: the return at 09:10 must be in the past whenever the test runs.
    let at_0210 = (Utc::now() - Duration::days(1))
        .date_naive()
        .and_time(NaiveTime::from_hms_opt(2, 10, 0).context("time")?)
        .and_utc();
    let edit = Edit::new(t.carer.identity.author(), at_0210);
    t.carer.lock().edit(safety, at_0210, |d| {
        d.start_missing_episode(
            &edit,
            episode,
            &MissingEpisode {
                missing_since: Some(at_0210),
                circumstances: EPISODE_CANARY.into(),
                ..MissingEpisode::default()
            },
        )
    })?;
    // What the phone will send, kept to be sent again later.
    let (_, first_request) = t.carer.lock().start_sync(&t.carer.identity.server_id)?;

    // Signal again: the carer syncs. The author gets no alert of their own.
    let carer_sync = t.carer.sync().await?;
    assert!(
        carer_sync.report.rejected.is_empty(),
        "{:?}",
        carer_sync.report
    );
    assert!(carer_sync.report.alerts.is_empty());
    assert!(t.carer.lock().alerts()?.is_empty());
    assert_eq!(alerts_on_server(&t, AlertKind::Missing).await?, 1);

    // The supervisor's next sync brings it, in the answer to its first request.
    let supervisor_sync = t.supervisor.sync_capturing().await?;
    let alert = only(&supervisor_sync.report.alerts)?.clone();
    assert_eq!(only(&supervisor_sync.responses[0].alerts)?, &alert);
    assert_eq!(alert.case, t.case);
    assert_eq!(alert.episode, episode);
    assert_eq!(alert.kind, AlertKind::Missing);
    assert_eq!(alert.at, Some(at_0210.timestamp()));
    assert_eq!(alert.acknowledged_at, None);
    // Case reference, kind and times only: nothing of the episode's text.
    let shown = serde_json::to_string(&supervisor_sync.report.alerts)?;
    assert!(!shown.contains(EPISODE_CANARY), "{shown}");
    let listed = t.supervisor.lock().alerts()?;
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].is_acknowledged());

    // The guardian's too.
    let guardian_sync = t.guardian.sync().await?;
    assert_eq!(only(&guardian_sync.report.alerts)?.id, alert.id);

    // Nobody else: the stranger and the other child's carer get nothing.
    for device in [&stranger, &other_carer] {
        let outcome = device.sync().await?;
        assert!(outcome.report.alerts.is_empty());
        assert!(device.lock().alerts()?.is_empty());
    }

    // The same request again (a retry whose answer was lost, or a copy of the phone) and a
    // further edit of the open episode raise nothing more.
    assert_eq!(replay(&t.carer, &first_request).await?, 200);
    t.carer.change(safety, |d, e| {
        let mut again = d
            .missing_episodes()?
            .into_iter()
            .find(|(id, _)| *id == episode)
            .map(|(_, e)| e)
            .unwrap_or_default();
        again.police_reference = "HU-1234".into();
        d.update_missing_episode(e, episode, &again)
    })?;
    t.carer.sync().await?;
    assert_eq!(alerts_on_server(&t, AlertKind::Missing).await?, 1);
    let supervisor_again = t.supervisor.sync().await?;
    assert!(supervisor_again.report.alerts.is_empty());

    // The supervisor acknowledges (on the phone, sent with the next sync).
    t.supervisor
        .lock()
        .acknowledge_alert(alert.id, Utc::now())?;
    assert!(t.supervisor.lock().alerts()?[0].is_acknowledged());
    let acknowledging = t.supervisor.sync().await?;
    let mine = only(&acknowledging.report.alerts)?;
    assert_eq!(
        mine.acknowledged_by.map(|u| u.to_string()),
        Some(t.supervisor_id.clone())
    );
    assert!(t.supervisor.lock().pending_acknowledgements()?.is_empty());

    // The guardian then sees it acknowledged, by whom and when.
    let guardian_sync = t.guardian.sync().await?;
    let seen = only(&guardian_sync.report.alerts)?;
    assert_eq!(seen.id, alert.id);
    assert_eq!(
        seen.acknowledged_by.map(|u| u.to_string()),
        Some(t.supervisor_id.clone())
    );
    assert_eq!(seen.acknowledged_at, mine.acknowledged_at);
    let held = t.guardian.lock().alerts()?;
    assert_eq!(held.len(), 1);
    assert!(held[0].is_acknowledged());

    // A second acknowledgement (the guardian's) keeps the first.
    t.guardian.lock().acknowledge_alert(alert.id, Utc::now())?;
    t.guardian.sync().await?;
    let held = t.guardian.lock().alerts()?;
    assert_eq!(
        held[0].alert.acknowledged_by.map(|u| u.to_string()),
        Some(t.supervisor_id.clone())
    );

    // The audit has the alert and its acknowledgement, with who.
    let audit = t.h.admin.audit_for_case(&t.case.to_string()).await?;
    let created: Vec<_> = audit
        .iter()
        .filter(|r| r["event"] == "alert_created")
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["actor_user"], t.carer_id.as_str());
    let acknowledged: Vec<_> = audit
        .iter()
        .filter(|r| r["event"] == "alert_acknowledged")
        .collect();
    assert_eq!(acknowledged.len(), 1, "{acknowledged:?}");
    assert_eq!(acknowledged[0]["actor_user"], t.supervisor_id.as_str());
    assert!(!serde_json::to_string(&audit)?.contains(EPISODE_CANARY));

    // The child is found: the episode ends, and the team hears that too, once.
    t.carer.change(safety, |d, e| {
        d.end_missing_episode(e, episode, at_0210 + Duration::hours(7))
    })?;
    t.carer.sync().await?;
    let guardian_sync = t.guardian.sync().await?;
    let ended = only(&guardian_sync.report.alerts)?;
    assert_eq!(ended.kind, AlertKind::Ended);
    assert_eq!(ended.at, Some((at_0210 + Duration::hours(7)).timestamp()));
    // Unacknowledged first.
    let listed = t.guardian.lock().alerts()?;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].alert.kind, AlertKind::Ended);
    assert_eq!(alerts_on_server(&t, AlertKind::Ended).await?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_is_not_delivered_once_access_to_the_case_ends() -> Result<()> {
    let t = team().await?;
    t.carer.sync().await?;
    t.guardian.sync().await?;
    t.h.admin
        .unassign(&t.case.to_string(), &t.guardian_id)
        .await?;
    // The guardian's phone purges the case.
    t.guardian.sync().await?;
    let safety = DocId::new(t.case, DocKind::Safety);
    let episode = EntryId::random(&mut rand::rngs::OsRng);
    t.carer.change(safety, |d, e| {
        d.start_missing_episode(
            e,
            episode,
            &MissingEpisode {
                missing_since: Some(e.at),
                ..MissingEpisode::default()
            },
        )
    })?;
    t.carer.sync().await?;
    // Still the supervisor's case (through the team), no longer the guardian's.
    assert_eq!(
        only(&t.supervisor.sync().await?.report.alerts)?.episode,
        episode
    );
    assert!(t.guardian.sync().await?.report.alerts.is_empty());
    assert!(t.guardian.lock().alerts()?.is_empty());
    // Nor can the guardian acknowledge it (refused and audited).
    let id = t.supervisor.lock().alerts()?[0].alert.id;
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
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(client_config(&identity.trust)?)
        .build()?;
    let answer: casebook_core::alert::AcknowledgeResponse = client
        .post(format!("{}/v1/alerts/acknowledge", identity.server_url))
        .bearer_auth(token)
        .json(&serde_json::json!({ "alerts": [id] }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert!(answer.alerts.is_empty());
    let supervisor_view = t.supervisor.sync().await?;
    assert!(supervisor_view.report.alerts.is_empty(), "not acknowledged");
    assert!(!t.supervisor.lock().alerts()?[0].is_acknowledged());
    Ok(())
}

//! Who may enrol a device for whom (issue 8, H5), over real TLS: a supervisor's codes only
//! for the guardians, social workers and carers of their own teams; administrators never in
//! a team; a second device announced to the first through sync; disabled users, cancelled
//! codes and codes issued before a revocation all refused.

use anyhow::{Context, Result};
use casebook_core::Error;
use casebook_core::sync::wire::NoticeKind;
use casebook_tests::support::{Admin, Device, Harness, pin};
use serde_json::{Value, json};

/// Enrol a new device for the code, its store in the harness's device directory.
async fn enrol(h: &Harness, code: &str, name: &str) -> Result<Device> {
    Device::enrol_at(
        &h.server,
        h.devices_dir.path().join(format!("{name}.db")),
        code,
        name,
    )
    .await
}

/// Audit events about `user` (as actor or subject).
async fn events_about(h: &Harness, user: &str) -> Result<Vec<Value>> {
    let rows = h.admin.get(&format!("/v1/admin/audit?user={user}")).await?;
    Ok(rows.as_array().cloned().unwrap_or_default())
}

fn count(rows: &[Value], event: &str) -> usize {
    rows.iter().filter(|r| r["event"] == event).count()
}

/// Issue a code as the harness's administrator: (code, code id).
async fn issue(h: &Harness, user: &str) -> Result<(String, String)> {
    let issued = h
        .admin
        .post(&format!("/v1/admin/users/{user}/enrolment-code"), json!({}))
        .await?;
    let field = |name: &str| {
        issued[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {name} in {issued}"))
    };
    Ok((field("code")?, field("code_id")?))
}

fn refused_with(result: Result<Value>, status: &str) {
    let err = result.expect_err("should be refused");
    assert!(err.to_string().contains(status), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_enrols_only_guardians_social_workers_and_carers_of_their_teams() -> Result<()>
{
    let h = Harness::start().await?;
    let (supervisor_id, supervisor) = h.person("supervisor", "supervisor").await?;
    let other_supervisor = h.admin.user("other supervisor", "supervisor").await?;
    let guardian = h.admin.user("guardian", "guardian").await?;
    let carer = h.admin.user("carer", "carer").await?;
    let stranger = h.admin.user("guardian elsewhere", "guardian").await?;
    let administrator = h
        .admin
        .user("second administrator", "administrator")
        .await?;
    let team = h
        .admin
        .team(
            "team",
            &[&supervisor_id, &other_supervisor, &guardian, &carer],
        )
        .await?;

    // An administrator cannot be put in a team (so no supervisor can become one) ...
    refused_with(
        h.admin
            .post(
                &format!("/v1/admin/teams/{team}/members"),
                json!({ "user_id": administrator }),
            )
            .await,
        "403",
    );
    assert_eq!(
        count(
            &events_about(&h, &administrator).await?,
            "team_member_refused"
        ),
        1
    );
    // ... and one left in a team by an older server gives the supervisor nothing either.
    let (t, a) = (team.clone(), administrator.clone());
    h.server
        .state
        .db
        .write(move |tx| {
            tx.execute(
                "INSERT INTO team_members (team_id, user_id) VALUES (?1, ?2)",
                [&t, &a],
            )?;
            Ok(())
        })
        .await?;

    let as_supervisor = Admin::connect(&h.server.base_url(), &pin(&h.server), &supervisor).await?;
    let code_for = |user: String| {
        let client = &as_supervisor;
        async move {
            client
                .post(&format!("/v1/admin/users/{user}/enrolment-code"), json!({}))
                .await
        }
    };
    let code = code_for(guardian.clone()).await?;
    enrol(&h, code["code"].as_str().context("code")?, "guardian phone").await?;
    code_for(carer.clone()).await?;
    for target in [&administrator, &other_supervisor, &stranger] {
        refused_with(code_for(target.clone()).await, "403");
        let rows = events_about(&h, target).await?;
        assert_eq!(
            count(&rows, "enrolment_code_refused"),
            1,
            "{target}: {rows:?}"
        );
        assert_eq!(count(&rows, "enrolment_code_issued"), 0, "{target}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_left_in_teams_are_removed_and_audited_at_start() -> Result<()> {
    let h = Harness::start().await?;
    let administrator = h
        .admin
        .user("second administrator", "administrator")
        .await?;
    let team = h.admin.team("team", &[]).await?;
    let (t, a) = (team.clone(), administrator.clone());
    h.server
        .state
        .db
        .write(move |tx| {
            tx.execute(
                "INSERT INTO team_members (team_id, user_id) VALUES (?1, ?2)",
                [&t, &a],
            )?;
            Ok(())
        })
        .await?;
    let Harness {
        server, data_dir, ..
    } = h;
    server.shutdown().await?;
    let again = casebook_server::start_for_tests(data_dir.path()).await?;
    let a = administrator.clone();
    let (members, removals): (i64, i64) = again
        .state
        .db
        .read(move |c| {
            let members = c.query_row(
                "SELECT COUNT(*) FROM team_members WHERE user_id = ?1",
                [&a],
                |r| r.get(0),
            )?;
            let removals = c.query_row(
                "SELECT COUNT(*) FROM audit WHERE event = 'team_member_removed' AND subject = ?1",
                [&a],
                |r| r.get(0),
            )?;
            Ok((members, removals))
        })
        .await?;
    assert_eq!((members, removals), (0, 1));
    again.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_device_is_announced_to_the_first_through_sync() -> Result<()> {
    let h = Harness::start().await?;
    let (guardian, first) = h.person("guardian", "guardian").await?;
    assert!(first.sync().await?.report.notices.is_empty());
    let code = h.admin.code(&guardian).await?;
    let second = enrol(&h, &code, "a phone nobody expected").await?;

    let report = first.sync().await?.report;
    assert_eq!(report.notices.len(), 1, "{report:?}");
    let notice = &report.notices[0];
    assert_eq!(notice.kind, NoticeKind::DeviceEnrolled);
    assert_eq!(notice.device_id, second.identity.device_id);
    assert_eq!(notice.device_name, "a phone nobody expected");
    // Delivered once; the new device is told nothing about itself.
    assert!(first.sync().await?.report.notices.is_empty());
    assert!(second.sync().await?.report.notices.is_empty());
    let rows = events_about(&h, &guardian).await?;
    assert_eq!(count(&rows, "device_enrolled_notice"), 1, "{rows:?}");
    assert_eq!(count(&rows, "notices_delivered"), 1, "{rows:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_loses_every_device_and_code_until_re_enabled() -> Result<()> {
    let h = Harness::start().await?;
    let (guardian, first) = h.person("guardian", "guardian").await?;
    let (code, _) = issue(&h, &guardian).await?;
    let second = enrol(&h, &code, "second").await?;
    let (outstanding, outstanding_id) = issue(&h, &guardian).await?;
    let listed = h
        .admin
        .get(&format!("/v1/admin/users/{guardian}/enrolment-codes"))
        .await?;
    let ids: Vec<&str> = listed
        .as_array()
        .context("list")?
        .iter()
        .filter_map(|c| c["code_id"].as_str())
        .collect();
    assert_eq!(ids, vec![outstanding_id.as_str()]);
    first.sync().await?;

    h.admin
        .post(&format!("/v1/admin/users/{guardian}/disable"), json!({}))
        .await?;
    for device in [&first, &second] {
        let err = device.sync().await.expect_err("disabled");
        assert!(matches!(err, Error::DeviceRevoked), "{err:?}");
    }
    assert!(enrol(&h, &outstanding, "third").await.is_err(), "code void");
    refused_with(
        h.admin
            .post(
                &format!("/v1/admin/users/{guardian}/enrolment-code"),
                json!({}),
            )
            .await,
        "403",
    );
    let listed = h
        .admin
        .get(&format!("/v1/admin/users/{guardian}/enrolment-codes"))
        .await?;
    assert_eq!(listed, json!([]));

    h.admin
        .post(&format!("/v1/admin/users/{guardian}/enable"), json!({}))
        .await?;
    let (code, _) = issue(&h, &guardian).await?;
    enrol(&h, &code, "replacement").await?.sync().await?;
    let rows = events_about(&h, &guardian).await?;
    assert_eq!(count(&rows, "user_disabled"), 1);
    assert_eq!(count(&rows, "user_enabled"), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_code_is_refused() -> Result<()> {
    let h = Harness::start().await?;
    let guardian = h.admin.user("guardian", "guardian").await?;
    let (code, id) = issue(&h, &guardian).await?;
    h.admin
        .delete(&format!("/v1/admin/enrolment-codes/{id}"))
        .await?;
    assert!(enrol(&h, &code, "phone").await.is_err(), "cancelled code");
    refused_with(
        h.admin
            .delete(&format!("/v1/admin/enrolment-codes/{id}"))
            .await,
        "404",
    );
    let rows = events_about(&h, &guardian).await?;
    assert_eq!(count(&rows, "enrolment_code_cancelled"), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_issued_before_a_revocation_is_refused_after_it() -> Result<()> {
    let h = Harness::start().await?;
    let (guardian, phone) = h.person("guardian", "guardian").await?;
    let before = h.admin.code(&guardian).await?;
    h.admin
        .revoke(&phone.identity.device_id.to_string())
        .await?;
    assert!(
        enrol(&h, &before, "thief").await.is_err(),
        "code from before"
    );
    let after = h.admin.code(&guardian).await?;
    enrol(&h, &after, "replacement").await?.sync().await?;
    Ok(())
}

//! The administrator's story, in the browser from the printed code to a revoked phone, with
//! the supervisor's review: a note a guardian's phone submitted, signed off in the browser,
//! received by the phone on its next sync.

use anyhow::{Context, Result};
use casebook_core::Error as CoreError;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{
    Interpreter, InterpreterMode, Profile, ReviewStatus, VettingStatus, VisitNote,
};
use casebook_tests::support::Device;

use super::browser::Driver;
use super::{count, created_id, enrol_browser};

/// Create a user through the form; returns their id.
pub(super) async fn new_user(
    b: &super::browser::Browser,
    base: &str,
    org: &str,
    name: &str,
    role: &str,
) -> Result<String> {
    b.goto(&format!("{base}/console/users")).await?;
    b.fill("#user-name", name).await?;
    b.choose("#user-role", role).await?;
    b.choose("#user-org", org).await?;
    b.submit("#create-user").await?;
    created_id(b, "/console/users/").await
}

/// Issue a code on the person's page; returns (code, enrol link).
pub(super) async fn issue(
    b: &super::browser::Browser,
    base: &str,
    user: &str,
) -> Result<(String, String)> {
    b.goto(&format!("{base}/console/users/{user}")).await?;
    b.submit("#issue-code").await?;
    let code = b.text("#issued-code").await?;
    let link = b.text("#enrol-link").await?;
    Ok((code, link))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_sets_up_a_team_and_revokes_a_phone_in_the_browser() -> Result<()> {
    let data = tempfile::tempdir()?;
    let phones = tempfile::tempdir()?;
    let server = casebook_server::start_for_tests(data.path()).await?;
    let base = server.base_url();
    let driver = Driver::start().await?;
    let b = driver.browser(&server.cert_fingerprint).await?;

    // Sign in with the code the server printed.
    b.goto(&format!("{base}/console/")).await?;
    b.wait_path("/console/signin").await?;
    b.screenshot("01-signin").await?;
    enrol_browser(&b, &server, &server.admin_code, "Admin office browser").await?;
    b.wait_text("What you can do here").await?;
    b.screenshot("02-home").await?;

    // An organisation for the local authority.
    b.goto(&format!("{base}/console/orgs")).await?;
    b.fill("#org-name", "Hull City Council").await?;
    b.submit("form[action='/console/orgs'] button").await?;
    b.wait_text("Hull City Council").await?;
    let org: String = server
        .state
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT id FROM orgs WHERE name = 'Hull City Council'",
                [],
                |r| r.get(0),
            )?)
        })
        .await?;
    b.screenshot("03-orgs").await?;

    // Bad input comes back beside the field, and nothing is written.
    let users_before = count(&server, "SELECT COUNT(*) FROM users").await?;
    b.goto(&format!("{base}/console/users")).await?;
    b.choose("#user-role", "guardian").await?;
    b.submit("#create-user").await?;
    assert_eq!(b.text("#user-name-error").await?, "Enter a name.");
    b.fill("#user-name", "Wanda Wizard").await?;
    b.client
        .execute(
            "document.querySelector('#user-role option[value=guardian]').value = 'wizard';",
            vec![],
        )
        .await?;
    b.choose("#user-role", "wizard").await?;
    b.submit("#create-user").await?;
    assert_eq!(
        b.text("#user-role-error").await?,
        "Choose one of the roles."
    );
    assert_eq!(
        b.find("#user-name").await?.prop("value").await?.as_deref(),
        Some("Wanda Wizard"),
        "the form keeps what was typed"
    );
    b.screenshot("04-users-form-errors").await?;
    assert_eq!(
        count(&server, "SELECT COUNT(*) FROM users").await?,
        users_before
    );

    // A supervisor, two guardians and a carer.
    let sam = new_user(&b, &base, &org, "Sam Okafor", "supervisor").await?;
    let gita = new_user(&b, &base, &org, "Gita Patel", "guardian").await?;
    let grace = new_user(&b, &base, &org, "Grace Hall", "guardian").await?;
    let carla = new_user(&b, &base, &org, "Carla Jones", "carer").await?;
    b.goto(&format!("{base}/console/users?q=a")).await?;
    b.wait_text("Carla Jones").await?;
    b.screenshot("05-users").await?;

    // A team with them.
    b.goto(&format!("{base}/console/teams")).await?;
    b.fill("#team-name", "Hull guardianship").await?;
    b.choose("#team-org", &org).await?;
    b.submit("#create-team").await?;
    let team = created_id(&b, "/console/teams/").await?;
    for member in [&sam, &gita, &grace, &carla] {
        b.choose("#member", member).await?;
        b.submit("#add-member").await?;
        b.wait_path(&format!("/console/teams/{team}")).await?;
    }
    assert_eq!(
        count(&server, "SELECT COUNT(*) FROM team_members").await?,
        4
    );
    b.wait_text("Carla Jones").await?;
    b.screenshot("06-team").await?;

    // A case in the team: Gita assigned, Carla linked as the carer.
    b.goto(&format!("{base}/console/cases")).await?;
    b.choose("#case-org", &org).await?;
    b.submit("#create-case").await?;
    let case = created_id(&b, "/console/cases/").await?;
    b.choose("#case-team", &team).await?;
    b.submit("#set-team").await?;
    b.wait_path(&format!("/console/cases/{case}")).await?;
    b.choose("#assign-user", &gita).await?;
    b.submit("#assign").await?;
    b.wait_path(&format!("/console/cases/{case}")).await?;
    b.choose("#carer-user", &carla).await?;
    b.submit("#link-carer").await?;
    b.wait_text("Unlink").await?;
    b.screenshot("07-case").await?;
    let linked: (String, i64, i64) = {
        let case = case.clone();
        server
            .state
            .db
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT IFNULL(team_id, ''),
                        (SELECT COUNT(*) FROM assignments WHERE case_id = ?1),
                        (SELECT COUNT(*) FROM placements WHERE case_id = ?1)
                     FROM cases WHERE id = ?1",
                    [&case],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?)
            })
            .await?
    };
    assert_eq!(linked, (team.clone(), 1, 1));

    // Codes, shown as text and as a QR code of the enrolment link.
    let (gita_code, gita_link) = issue(&b, &base, &gita).await?;
    assert!(
        gita_link.starts_with("casebook://enrol?server=https%3A%2F%2F127.0.0.1%3A"),
        "{gita_link}"
    );
    assert!(
        gita_link.contains(&format!(
            "&pin={}",
            server.cert_fingerprint.replace(':', "%3A")
        )),
        "{gita_link}"
    );
    assert!(gita_link.ends_with(&format!("&code={gita_code}")));
    b.find(".qr svg path").await.context("the QR code")?;
    b.screenshot("08-code").await?;
    let (carla_code, _) = issue(&b, &base, &carla).await?;

    // Phones enrol with the codes from the page, and sync.
    let gita_phone = Device::enrol_at(
        &server,
        phones.path().join("gita.db"),
        &gita_code,
        "Gita's phone",
    )
    .await?;
    gita_phone.sync().await?;
    let carla_phone = Device::enrol_at(
        &server,
        phones.path().join("carla.db"),
        &carla_code,
        "Carla's phone",
    )
    .await?;
    carla_phone.sync().await?;

    // Carla's phone is lost: the administrator revokes it from her page.
    let carla_device = carla_phone.identity.device_id.to_string();
    b.goto(&format!("{base}/console/users/{carla}")).await?;
    b.wait_text("Carla's phone").await?;
    b.screenshot("09-devices").await?;
    b.submit(&format!(
        "form[action='/console/devices/{carla_device}/revoke'] button"
    ))
    .await?;
    b.wait_text("Revoked").await?;
    let err = carla_phone.sync().await.expect_err("revoked");
    assert!(matches!(err, CoreError::DeviceRevoked), "{err:?}");
    gita_phone.sync().await?;

    // Gita's phone, offline, opens a case (it goes to her only team), writes a visit note
    // with an interpreter and submits it for review; then it syncs.
    let gita_case = gita_phone.lock().create_case(
        &gita_phone.edit(),
        &mut rand::rngs::OsRng,
        &Profile {
            case_reference: "HUL-2026-0042".into(),
            ..Profile::default()
        },
    )?;
    let visits = DocId::new(gita_case, DocKind::Visits);
    let note = EntryId::random(&mut rand::rngs::OsRng);
    gita_phone.change(visits, |d, e| {
        d.add_visit_note(
            e,
            note,
            &VisitNote {
                visited_at: Some(e.at),
                place: "Foster home".into(),
                wishes_and_feelings: "I want to stay with my foster family.".into(),
                observations: "Relaxed; showed me her drawings.".into(),
                interpreter: Interpreter {
                    mode: InterpreterMode::InPerson,
                    name: "Hung Nguyen".into(),
                    agency: "Northern Interpreting".into(),
                    language: "Vietnamese".into(),
                    vetting: VettingStatus::Vetted,
                    ..Interpreter::default()
                },
                ..VisitNote::default()
            },
        )?;
        d.review_visit_note(e, note, ReviewStatus::Submitted, "")
    })?;
    gita_phone.sync().await?;

    // The supervisor signs in with a code of his own and finds the note in his queue.
    let (sam_code, _) = issue(&b, &base, &sam).await?;
    let sb = driver.browser(&server.cert_fingerprint).await?;
    enrol_browser(&sb, &server, &sam_code, "Sam's office browser").await?;
    sb.click("#home-review").await?;
    sb.wait_path("/console/review").await?;
    sb.wait_text("HUL-2026-0042").await?;
    assert!(sb.text("#review-queue").await?.contains("Gita Patel"));
    sb.screenshot("14-review-queue").await?;
    sb.click(&format!("a[href='/console/review/{gita_case}/{note}']"))
        .await?;
    sb.wait_text("I want to stay with my foster family.")
        .await?;
    assert!(sb.text("#note-interpreter").await?.contains("Hung Nguyen"));
    sb.screenshot("15-review-note").await?;

    // Returning it without a comment is refused beside the field; nothing is written.
    sb.submit("#return-note").await?;
    assert_eq!(
        sb.text("#return-comment-error").await?,
        "Say what the author should change to return a note."
    );
    // Signing it off writes the review into the document as Sam's change, from his
    // browser, and Gita's phone receives it on its next sync.
    sb.submit("#sign-off").await?;
    sb.wait_text("Signed off.").await?;
    assert!(
        sb.page_text()
            .await?
            .contains("No notes are waiting for review.")
    );
    sb.screenshot("16-review-signed-off").await?;
    gita_phone.sync().await?;
    let review = gita_phone
        .lock()
        .read(visits, |d| d.visit_note(note))?
        .review;
    assert_eq!(review.status, ReviewStatus::SignedOff);
    assert_eq!(review.reviewer.map(|u| u.to_string()), Some(sam.clone()));
    let sam_browser: String = server
        .state
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT id FROM devices WHERE name = 'Sam''s office browser'",
                [],
                |r| r.get(0),
            )?)
        })
        .await?;
    let last = gita_phone
        .lock()
        .read(visits, |d| Ok(d.history()))?
        .pop()
        .context("a change")?;
    let author = last.author.context("an author")?;
    assert_eq!(author.device.to_string(), sam_browser);
    assert_eq!(author.user.to_string(), sam);
    sb.close().await?;

    // The browser is in its person's device list like a phone.
    let admin_devices = count(
        &server,
        "SELECT COUNT(*) FROM devices d JOIN users u ON u.id = d.user_id
         WHERE u.role = 'administrator' AND d.name = 'Admin office browser'",
    )
    .await?;
    assert_eq!(admin_devices, 1);

    // The audit trail of the case, and the chain.
    b.goto(&format!("{base}/console/audit?case={case}")).await?;
    b.wait_text("placement_linked").await?;
    b.screenshot("10-audit-case").await?;
    b.goto(&format!("{base}/console/audit/verify")).await?;
    assert!(b.text("#chain-state").await?.starts_with("Intact"));
    b.screenshot("11-audit-verify").await?;

    b.close().await?;
    drop(driver);
    server.shutdown().await?;
    Ok(())
}

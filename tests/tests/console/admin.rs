//! The administrator's bulk and lasting changes in the browser: importing users from a CSV
//! file (a preview with row-by-row errors, an oversized file refused, nothing written until
//! a clean file is confirmed), transferring a case to another organisation (the old
//! guardian's phone deletes it at its next sync), disabling a person (their phone is refused)
//! and cancelling an unused code.

use std::path::Path;

use anyhow::{Context, Result};
use casebook_core::Error as CoreError;
use casebook_core::model::Profile;
use casebook_server::TestServer;
use casebook_tests::support::Device;

use super::browser::{Browser, Driver};
use super::story::{issue, new_user};
use super::{count, created_id, enrol_browser};

/// The id of the organisation named `name`.
async fn org_named(server: &TestServer, name: &'static str) -> Result<String> {
    Ok(server
        .state
        .db
        .read(
            move |c| Ok(c.query_row("SELECT id FROM orgs WHERE name = ?1", [name], |r| r.get(0))?),
        )
        .await?)
}

/// The organisation of `case` and how many people are assigned to it.
async fn case_place(server: &TestServer, case: &str) -> Result<(String, i64)> {
    let case = case.to_owned();
    Ok(server
        .state
        .db
        .read(move |c| {
            Ok(c.query_row(
                "SELECT org_id, (SELECT COUNT(*) FROM assignments WHERE case_id = ?1)
                 FROM cases WHERE id = ?1",
                [&case],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await?)
}

/// Choose `file` in the import form and press "Preview".
async fn upload(b: &Browser, base: &str, file: &Path) -> Result<()> {
    b.goto(&format!("{base}/console/users/import")).await?;
    let path = file.to_str().context("a UTF-8 temporary path")?;
    b.find("#import-file").await?.send_keys(path).await?;
    b.submit("#preview-import").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_import_shows_every_rows_errors_and_writes_only_a_clean_file() -> Result<()> {
    let data = tempfile::tempdir()?;
    let files = tempfile::tempdir()?;
    let server = casebook_server::start_for_tests(data.path()).await?;
    let base = server.base_url();
    let driver = Driver::start().await?;
    let b = driver.browser(&server.cert_fingerprint).await?;
    enrol_browser(&b, &server, &server.admin_code, "Admin office browser").await?;

    // A team the file names.
    b.goto(&format!("{base}/console/teams")).await?;
    b.fill("#team-name", "Hull guardianship").await?;
    b.submit("#create-team").await?;
    created_id(&b, "/console/teams/").await?;
    let users_before = count(&server, "SELECT COUNT(*) FROM users").await?;
    let audit_before = count(&server, "SELECT COUNT(*) FROM audit").await?;

    // A file with one good row and a bad one of every kind: nothing is written.
    let bad = files.path().join("staff-with-errors.csv");
    std::fs::write(
        &bad,
        "name,role,teams\n\
         Sam Okafor,supervisor,Hull guardianship\n\
         ,guardian,\n\
         Wanda Wizard,wizard,\n\
         Eve\u{202E}lyn Smith,carer,\n\
         sam okafor,guardian,\n\
         Nora Field,social worker,Nowhere\n\
         Ada Admin,administrator,Hull guardianship\n",
    )?;
    upload(&b, &base, &bad).await?;
    let error = b.text("#import-file-error").await?;
    assert!(error.starts_with("6 of 7 rows have errors"), "{error}");
    let preview = b.text("#import-preview").await?;
    for expected in [
        "name: empty",
        "role: unknown role \"wizard\"",
        "name: holds a bidirectional override, isolate or mark (U+202E)",
        "name: the same as line 2",
        "teams: no team \"Nowhere\" in this organisation",
        "teams: administrators cannot be team members",
    ] {
        assert!(preview.contains(expected), "{expected:?} in {preview}");
    }
    assert!(
        b.client
            .find(fantoccini::Locator::Css("#confirm-import"))
            .await
            .is_err(),
        "no Import button while a row has an error"
    );
    b.screenshot("14-import-preview-errors").await?;

    // An oversized file comes back with the error beside the field.
    let big = files.path().join("too-big.csv");
    let mut text = String::from("name,role\n");
    while text.len() <= 300 * 1024 {
        text.push_str("Somebody With A Long Name,guardian\n");
    }
    std::fs::write(&big, text)?;
    upload(&b, &base, &big).await?;
    assert_eq!(
        b.text("#import-file-error").await?,
        "The file is larger than 256 KiB; split it into smaller files."
    );
    assert_eq!(
        b.find("#import-file")
            .await?
            .attr("aria-describedby")
            .await?
            .as_deref(),
        Some("import-file-error")
    );
    assert_eq!(
        count(&server, "SELECT COUNT(*) FROM users").await?,
        users_before
    );
    assert_eq!(
        count(&server, "SELECT COUNT(*) FROM audit").await?,
        audit_before
    );

    // A clean file: the preview, then "Import" writes every row and its team.
    let good = files.path().join("staff.csv");
    std::fs::write(
        &good,
        "name,role,teams\r\n\
         Sam Okafor,supervisor,Hull guardianship\r\n\
         \"Patel, Gita\",Guardian,hull guardianship\r\n\
         Carla Jones,carer,\r\n",
    )?;
    upload(&b, &base, &good).await?;
    b.wait_text("Import 3 users").await?;
    assert!(b.text("#import-preview").await?.contains("Patel, Gita"));
    b.screenshot("15-import-preview").await?;
    assert_eq!(
        count(&server, "SELECT COUNT(*) FROM users").await?,
        users_before
    );
    b.submit("#confirm-import").await?;
    b.wait_path("/console/users?imported=3").await?;
    assert_eq!(b.text("#imported").await?, "3 users imported.");
    assert_eq!(
        count(&server, "SELECT COUNT(*) FROM users").await?,
        users_before + 3
    );
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM team_members m JOIN users u ON u.id = m.user_id
             WHERE u.name IN ('Sam Okafor', 'Patel, Gita')"
        )
        .await?,
        2
    );
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM audit WHERE event = 'users_imported'"
        )
        .await?,
        1
    );
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM audit WHERE event = 'user_created'"
        )
        .await?,
        3
    );

    // The same file again: every row is now a duplicate, and nothing more is written.
    upload(&b, &base, &good).await?;
    assert!(
        b.text("#import-file-error")
            .await?
            .starts_with("3 of 3 rows have errors")
    );
    assert!(
        b.text("#import-preview")
            .await?
            .contains("name: a user of this name is already in the organisation")
    );
    assert_eq!(
        count(&server, "SELECT COUNT(*) FROM users").await?,
        users_before + 3
    );

    b.close().await?;
    drop(driver);
    server.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transferred_case_leaves_the_old_phones_and_a_disabled_persons_phone_is_refused()
-> Result<()> {
    let data = tempfile::tempdir()?;
    let phones = tempfile::tempdir()?;
    let server = casebook_server::start_for_tests(data.path()).await?;
    let base = server.base_url();
    let driver = Driver::start().await?;
    let b = driver.browser(&server.cert_fingerprint).await?;
    enrol_browser(&b, &server, &server.admin_code, "Admin office browser").await?;

    // Two local authorities; a guardian of Hull with a phone that opens a case.
    for name in ["Hull City Council", "Leeds City Council"] {
        b.goto(&format!("{base}/console/orgs")).await?;
        b.fill("#org-name", name).await?;
        b.submit("form[action='/console/orgs'] button").await?;
        b.wait_text(name).await?;
    }
    let hull = org_named(&server, "Hull City Council").await?;
    let leeds = org_named(&server, "Leeds City Council").await?;
    let gita = new_user(&b, &base, &hull, "Gita Patel", "guardian").await?;
    let grace = new_user(&b, &base, &hull, "Grace Hall", "guardian").await?;
    let (gita_code, _) = issue(&b, &base, &gita).await?;
    let gita_phone = Device::enrol_at(
        &server,
        phones.path().join("gita.db"),
        &gita_code,
        "Gita's phone",
    )
    .await?;
    let profile = Profile {
        case_reference: "HUL-2026-0123".into(),
        ..Profile::default()
    };
    let edit = gita_phone.edit();
    let case = gita_phone
        .lock()
        .create_case(&edit, &mut rand::rngs::OsRng, &profile)?;
    gita_phone.sync().await?;
    assert_eq!(gita_phone.lock().cases()?.len(), 1);
    let case = case.to_string();

    // Bad input on the transfer form comes back beside the fields, and nothing changes.
    b.goto(&format!("{base}/console/cases/{case}")).await?;
    b.click("#transfer-link").await?;
    b.wait_path(&format!("/console/cases/{case}/transfer"))
        .await?;
    b.wait_text("Gita Patel").await?;
    assert!(b.text("#transfer-ends").await?.contains("1 devices hold"));
    b.screenshot("16-transfer").await?;
    b.submit("#transfer").await?;
    assert_eq!(
        b.text("#transfer-org-error").await?,
        "Choose the organisation that takes the case."
    );
    assert!(
        b.text("#transfer-confirm-error")
            .await?
            .starts_with("Tick the box")
    );
    b.choose("#transfer-org", &leeds).await?;
    b.submit("#transfer").await?;
    assert!(
        b.text("#transfer-confirm-error")
            .await?
            .starts_with("Tick the box")
    );
    assert_eq!(case_place(&server, &case).await?, (hull.clone(), 1));
    b.screenshot("17-transfer-errors").await?;

    // Transferred: the case is Leeds's, and Gita's phone deletes it at its next sync.
    b.choose("#transfer-org", &leeds).await?;
    b.click("#transfer-confirm").await?;
    b.submit("#transfer").await?;
    b.wait_path(&format!("/console/cases/{case}?transferred=1"))
        .await?;
    b.wait_text("Leeds City Council").await?;
    assert_eq!(case_place(&server, &case).await?, (leeds.clone(), 0));
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM audit WHERE event = 'case_transferred'"
        )
        .await?,
        1
    );
    let outcome = gita_phone.sync().await?;
    assert_eq!(outcome.report.purged.len(), 5, "{:?}", outcome.report);
    assert!(gita_phone.lock().cases()?.is_empty());

    // Grace is disabled from her page: her phone is refused at its next sync.
    let (grace_code, _) = issue(&b, &base, &grace).await?;
    let grace_phone = Device::enrol_at(
        &server,
        phones.path().join("grace.db"),
        &grace_code,
        "Grace's phone",
    )
    .await?;
    grace_phone.sync().await?;
    b.goto(&format!("{base}/console/users/{grace}")).await?;
    b.submit("#disable-user").await?;
    b.wait_path(&format!("/console/users/{grace}?disabled=1"))
        .await?;
    b.wait_text("Enable Grace Hall").await?;
    b.screenshot("18-user-disabled").await?;
    let err = grace_phone.sync().await.expect_err("disabled");
    assert!(matches!(err, CoreError::DeviceRevoked), "{err:?}");
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM audit WHERE event = 'user_disabled'"
        )
        .await?,
        1
    );

    // An unused code is cancelled from the person's page and no longer enrols a phone.
    let (_, _) = issue(&b, &base, &gita).await?;
    let (cancelled, _) = issue(&b, &base, &gita).await?;
    b.goto(&format!("{base}/console/users/{gita}")).await?;
    let outstanding = count(
        &server,
        "SELECT COUNT(*) FROM enrolment_codes WHERE voided_at IS NULL AND used_at IS NULL",
    )
    .await?;
    assert_eq!(outstanding, 2);
    b.submit("form[action^='/console/codes/'] button").await?;
    b.wait_path(&format!("/console/users/{gita}?cancelled=1"))
        .await?;
    b.submit("form[action^='/console/codes/'] button").await?;
    b.wait_path(&format!("/console/users/{gita}?cancelled=1"))
        .await?;
    b.wait_text("No unused code.").await?;
    let refused = Device::enrol_at(
        &server,
        phones.path().join("gita2.db"),
        &cancelled,
        "Gita's new phone",
    )
    .await;
    assert!(refused.is_err(), "a cancelled code enrols nothing");
    assert_eq!(
        count(
            &server,
            "SELECT COUNT(*) FROM audit WHERE event = 'enrolment_code_cancelled'"
        )
        .await?,
        2
    );

    b.close().await?;
    drop(driver);
    server.shutdown().await?;
    Ok(())
}

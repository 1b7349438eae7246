//! The supervisor's console, in Chromium against the real server: the missing-from-care alert
//! first on the home page and acknowledged in one click; the case read from the stored
//! documents; a conflict made by two phones editing offline resolved from the page and
//! received by a phone; the police pack as PDF. Attacks: a guardian opening a case not
//! assigned to them (403, audited), a carer's browser seeing nothing but the safety document,
//! an acknowledgement without its CSRF token.

use std::process::Command;

use anyhow::{Context, Result, bail};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};
use casebook_core::model::{
    Interpreter, InterpreterMode, MissingEpisode, PlanStep, Profile, VisitNote,
};
use casebook_server::TestServer;
use casebook_tests::console::Console;
use casebook_tests::support::{Device, Harness};
use chrono::{Duration, Utc};
use reqwest::StatusCode;

use super::browser::{Driver, output_dir};
use super::enrol_browser;

const PROFILE_CANARY: &str = "CANARY-profile-Linh";
const VISIT_CANARY: &str = "CANARY-visit-wants-to-see-her-sister";
const SAFETY_TEXT: &str = "Carer checks the bedroom window at 22:00";

/// A case opened on `guardian`'s phone and synced.
async fn open_case(guardian: &Device, reference: &str) -> Result<CaseId> {
    let profile = Profile {
        case_reference: reference.into(),
        given_name: PROFILE_CANARY.into(),
        family_name: "Pham".into(),
        ..Profile::default()
    };
    let case = guardian
        .lock()
        .create_case(&guardian.edit(), &mut rand::rngs::OsRng, &profile)?;
    guardian.sync().await?;
    Ok(case)
}

fn visit(case: CaseId, device: &Device) -> Result<()> {
    let note = VisitNote {
        place: "Foster home".into(),
        wishes_and_feelings: VISIT_CANARY.into(),
        interpreter: Interpreter {
            mode: InterpreterMode::Telephone,
            name: "Interpreter Mai".into(),
            language: "Vietnamese (northern)".into(),
            child_consented: Some(true),
            ..Interpreter::default()
        },
        ..VisitNote::default()
    };
    device.change(DocId::new(case, DocKind::Visits), |d, e| {
        d.add_visit_note(e, EntryId::random(&mut rand::rngs::OsRng), &note)
    })?;
    Ok(())
}

/// A safety plan step, added on a case team member's `device`.
fn plan_step(case: CaseId, device: &Device) -> Result<()> {
    device.change(DocId::new(case, DocKind::Safety), |d, e| {
        d.add_plan_step(
            e,
            EntryId::random(&mut rand::rngs::OsRng),
            &PlanStep {
                description: SAFETY_TEXT.into(),
                ..PlanStep::default()
            },
        )
    })?;
    Ok(())
}

/// Set the profile's nationality on `device` (offline).
fn nationality(case: CaseId, device: &Device, value: &str) -> Result<()> {
    device.change(DocId::new(case, DocKind::Profile), |d, e| {
        let mut p = d.profile()?;
        p.nationality = value.into();
        d.set_profile(e, &p)
    })?;
    Ok(())
}

/// The carer's phone records an open episode (since yesterday) and syncs; returns its id.
async fn goes_missing(case: CaseId, carer: &Device) -> Result<EntryId> {
    let episode = EntryId::random(&mut rand::rngs::OsRng);
    let since = Utc::now() - Duration::hours(20);
    carer.change(DocId::new(case, DocKind::Safety), |d, e| {
        d.start_missing_episode(
            e,
            episode,
            &MissingEpisode {
                missing_since: Some(since),
                last_seen: "Bus station".into(),
                ..MissingEpisode::default()
            },
        )
    })?;
    carer.sync().await?;
    Ok(episode)
}

async fn one<T: casebook_server::sql::FromValue + Send + 'static>(
    server: &TestServer,
    sql: &'static str,
    arg: String,
) -> Result<T> {
    Ok(server
        .state
        .db
        .read(move |c| Ok(c.query_row(sql, [arg], |r| r.get(0))?))
        .await?)
}

fn pdf_text(pdf: &[u8]) -> Result<String> {
    let dir = output_dir();
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("police-pack-from-console.pdf");
    std::fs::write(&file, pdf)?;
    let out = Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .context("pdftotext (Debian's poppler-utils) must be installed")?;
    if !out.status.success() {
        bail!("pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_acknowledges_reads_resolves_and_downloads_the_pack() -> Result<()> {
    let h = Harness::start().await?;
    let (gita, gita_phone) = h.person("Gita Patel", "guardian").await?;
    let (grace, grace_phone) = h.person("Grace Hall", "guardian").await?;
    let (carla, carla_phone) = h.person("Carla Jones", "carer").await?;
    let sam = h.admin.user("Sam Okafor", "supervisor").await?;
    let team = h
        .admin
        .team("Hull ICTG team", &[&sam, &gita, &grace])
        .await?;
    let case = open_case(&gita_phone, "HUL-2026-0101").await?;
    let case_text = case.to_string();
    h.admin.set_team(&case_text, &team).await?;
    h.admin.assign(&case_text, &grace).await?;
    h.admin.link_carer(&case_text, &carla).await?;
    for phone in [&grace_phone, &carla_phone] {
        phone.sync().await?;
    }

    // Two guardians' phones set the child's nationality differently, both offline.
    nationality(case, &gita_phone, "Vietnamese")?;
    nationality(case, &grace_phone, "Albanian")?;
    visit(case, &gita_phone)?;
    plan_step(case, &gita_phone)?;
    gita_phone.sync().await?;
    grace_phone.sync().await?;
    let conflicted: i64 = one(
        &h.server,
        "SELECT COUNT(*) FROM doc_conflicts WHERE case_id = ?1",
        case_text.clone(),
    )
    .await?;
    assert_eq!(conflicted, 1, "the stored profile is counted as conflicted");

    // An earlier episode that has ended, then the child goes missing again tonight.
    let earlier = EntryId::random(&mut rand::rngs::OsRng);
    let (from, back) = (
        Utc::now() - Duration::days(3),
        Utc::now() - Duration::days(2),
    );
    carla_phone.change(DocId::new(case, DocKind::Safety), |d, e| {
        d.start_missing_episode(
            e,
            earlier,
            &MissingEpisode {
                missing_since: Some(from),
                ..MissingEpisode::default()
            },
        )?;
        d.end_missing_episode(e, earlier, back)
    })?;
    carla_phone.sync().await?;
    let episode = goes_missing(case, &carla_phone).await?;

    // The supervisor signs in: the missing alert is at the top, acknowledged in one click.
    let driver = Driver::start().await?;
    let b = driver.browser(&h.server.cert_fingerprint).await?;
    let code = h.admin.code(&sam).await?;
    enrol_browser(&b, &h.server, &code, "Sam's office browser").await?;
    b.wait_text("Missing from care").await?;
    let first = b.text("#alerts tbody tr:first-child").await?;
    assert!(first.starts_with("Missing from care"), "{first}");
    assert!(first.contains("Acknowledge"), "{first}");
    assert!(b.page_text().await?.contains("Returned from missing"));
    // Cases are named by their reference where the person may read the profile.
    assert!(b.text("#conflicts").await?.contains("HUL-2026-0101"));
    b.screenshot("20-supervisor-home").await?;
    assert!(
        b.fits_at("20-supervisor-home-tablet", 768).await?,
        "the home page scrolls sideways on a tablet"
    );
    b.submit("#alerts tbody tr:first-child button").await?;
    b.wait_path("/console/").await?;
    let browser_device: String = one(
        &h.server,
        "SELECT id FROM devices WHERE name = ?1",
        "Sam's office browser".to_owned(),
    )
    .await?;
    let acked_by: String = one(
        &h.server,
        "SELECT acknowledged_by FROM alerts WHERE kind = 'missing' AND episode_id = ?1",
        episode.to_string(),
    )
    .await?;
    assert_eq!(acked_by, sam);
    let audited: i64 = one(
        &h.server,
        "SELECT COUNT(*) FROM audit WHERE event = 'alert_acknowledged' AND actor_device = ?1",
        browser_device.clone(),
    )
    .await?;
    assert_eq!(audited, 1);
    assert!(b.text("#alerts").await?.contains("by Sam Okafor"));

    // The case, laid out from the stored documents; every document shown is audited.
    let reads_before: i64 = one(
        &h.server,
        "SELECT COUNT(*) FROM audit WHERE event = 'read' AND actor_device = ?1",
        browser_device.clone(),
    )
    .await?;
    b.goto(&format!("{}/console/cases/{case}", h.server.base_url()))
        .await?;
    b.wait_text(&format!("{PROFILE_CANARY} Pham")).await?;
    let text = b.page_text().await?;
    for needle in [
        "HUL-2026-0101",
        VISIT_CANARY,
        "Interpreter Mai",
        SAFETY_TEXT,
        "Bus station",
        "Vietnamese",
        "Albanian",
        "Gita Patel",
        "Grace Hall",
    ] {
        assert!(text.contains(needle), "the case page shows {needle}");
    }
    b.find(&format!("#pack-{episode}")).await?;
    assert!(
        b.find(&format!("#pack-{earlier}")).await.is_err(),
        "no pack for an ended episode"
    );
    let reads: i64 = one(
        &h.server,
        "SELECT COUNT(*) FROM audit WHERE event = 'read' AND actor_device = ?1",
        browser_device.clone(),
    )
    .await?;
    assert_eq!(reads - reads_before, 3, "profile, visits and safety read");
    b.screenshot("21-supervisor-case").await?;
    assert!(
        b.fits_at("21-supervisor-case-tablet", 768).await?,
        "the case page scrolls sideways on a tablet"
    );

    // Resolve the conflict: keep Grace's value. Gita's phone receives the resolution.
    b.submit("form:has(input[name=chosen][value='\"Albanian\"']) button")
        .await?;
    b.wait_path(&format!("/console/cases/{case}")).await?;
    b.wait_text("No conflicts.").await?;
    let left: i64 = one(
        &h.server,
        "SELECT COUNT(*) FROM doc_conflicts WHERE case_id = ?1",
        case_text.clone(),
    )
    .await?;
    assert_eq!(left, 0);
    gita_phone.sync().await?;
    let (kept, open, resolutions) =
        gita_phone
            .lock()
            .read(DocId::new(case, DocKind::Profile), |d| {
                Ok((
                    d.profile()?.nationality,
                    d.conflicts()?.len(),
                    d.resolutions()?,
                ))
            })?;
    assert_eq!((kept.as_str(), open), ("Albanian", 0));
    let (_, resolution) = resolutions.first().context("a recorded resolution")?;
    assert_eq!(resolution.by.user.to_string(), sam);
    assert_eq!(resolution.by.device.to_string(), browser_device);

    // The field's history: who set it, when, to what.
    b.goto(&format!(
        "{}/console/cases/{case}/history?doc=profile&path=nationality",
        h.server.base_url()
    ))
    .await?;
    b.wait_text("Sam Okafor").await?;
    let history = b.text("#history").await?;
    for who in ["Gita Patel", "Grace Hall", "Sam Okafor"] {
        assert!(history.contains(who), "{history}");
    }
    b.screenshot("22-field-history").await?;

    // The police pack of the open episode, as PDF, never cached, audited.
    let code = h.admin.code(&sam).await?;
    let sam_http = Console::enrol(&h.server, &code, "Sam's laptop").await?;
    let resp = sam_http
        .get(&format!(
            "/console/cases/{case}/police-pack?episode={episode}"
        ))
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let pdf = resp.bytes().await?;
    assert!(pdf.starts_with(b"%PDF"));
    let text = pdf_text(&pdf)?;
    assert!(
        text.contains(PROFILE_CANARY),
        "the child's name is in the pack"
    );
    assert!(!text.contains(VISIT_CANARY), "no visit note in the pack");
    let packs: i64 = one(
        &h.server,
        "SELECT COUNT(*) FROM audit WHERE event = 'police_pack_generated' AND actor_user = ?1",
        sam.clone(),
    )
    .await?;
    assert_eq!(packs, 1);

    b.close().await?;
    drop(driver);
    Ok(())
}

async fn denied(server: &TestServer, user: &str) -> Result<i64> {
    let rows = casebook_tests::support::audit_rows(server).await?;
    Ok(rows
        .iter()
        .filter(|r| {
            r.event == "denied"
                && r.actor_user.as_deref() == Some(user)
                && r.detail.contains("console_case")
        })
        .count() as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_cases_other_documents_and_forged_acknowledgements_are_refused() -> Result<()> {
    let h = Harness::start().await?;
    let (gita, gita_phone) = h.person("Gita Patel", "guardian").await?;
    let (grace, _grace_phone) = h.person("Grace Hall", "guardian").await?;
    let (carla, carla_phone) = h.person("Carla Jones", "carer").await?;
    let case = open_case(&gita_phone, "HUL-2026-0202").await?;
    let case_text = case.to_string();
    h.admin.link_carer(&case_text, &carla).await?;
    visit(case, &gita_phone)?;
    plan_step(case, &gita_phone)?;
    gita_phone.sync().await?;
    carla_phone.sync().await?;
    let episode = goes_missing(case, &carla_phone).await?;

    // Grace is not assigned to the case: every page of it is 403, and audited.
    let grace_http =
        Console::enrol(&h.server, &h.admin.code(&grace).await?, "Grace's laptop").await?;
    for path in [
        format!("/console/cases/{case}"),
        format!("/console/cases/{case}/history?doc=profile&path=given_name"),
    ] {
        let resp = grace_http.get(&path).await?;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(!resp.text().await?.contains(PROFILE_CANARY));
    }
    assert_eq!(denied(&h.server, &grace).await?, 2);
    let resp = grace_http
        .get(&format!(
            "/console/cases/{case}/police-pack?episode={episode}"
        ))
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let csrf = grace_http.csrf().await?;
    let resp = grace_http
        .post(
            &format!("/console/cases/{case}/conflicts"),
            &[
                ("csrf", &csrf),
                ("doc", "profile"),
                ("path", "nationality"),
                ("chosen", "\"Albanian\""),
            ],
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let home = grace_http.get("/console/").await?.text().await?;
    assert!(!home.contains(&case_text), "not in Grace's lists");

    // The carer's browser: the safety pages only; nothing of the profile or the visits in
    // any page it can reach.
    let carla_http =
        Console::enrol(&h.server, &h.admin.code(&carla).await?, "Carla's laptop").await?;
    let page = carla_http.get(&format!("/console/cases/{case}")).await?;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await?;
    assert!(
        html.contains(SAFETY_TEXT),
        "the carer reads the safety plan"
    );
    assert!(html.contains(&format!("pack-{episode}")));
    let mut pages = vec![html];
    pages.push(carla_http.get("/console/").await?.text().await?);
    for doc in ["profile", "visits"] {
        let resp = carla_http
            .get(&format!(
                "/console/cases/{case}/history?doc={doc}&path=given_name"
            ))
            .await?;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        pages.push(resp.text().await?);
    }
    for html in &pages {
        for canary in [
            PROFILE_CANARY,
            VISIT_CANARY,
            "HUL-2026-0202",
            "Interpreter Mai",
        ] {
            assert!(!html.contains(canary), "a carer's page shows {canary}");
        }
    }
    assert_eq!(denied(&h.server, &carla).await?, 2);
    let carer_reads = casebook_tests::support::audit_rows(&h.server)
        .await?
        .iter()
        .filter(|r| {
            r.event == "read"
                && r.actor_user.as_deref() == Some(carla.as_str())
                && r.detail.contains("console")
                && !r.doc_id.as_deref().unwrap_or("").contains("safety")
        })
        .count();
    assert_eq!(carer_reads, 0, "only the safety document was read for her");

    // Gita's alert: an acknowledgement without the CSRF token is refused, audited, unwritten.
    let gita_http = Console::enrol(&h.server, &h.admin.code(&gita).await?, "Gita's laptop").await?;
    let alert: String = one(
        &h.server,
        "SELECT id FROM alerts WHERE episode_id = ?1",
        episode.to_string(),
    )
    .await?;
    let resp = gita_http
        .post(&format!("/console/alerts/{alert}/acknowledge"), &[])
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let acked: Option<String> = one(
        &h.server,
        "SELECT acknowledged_by FROM alerts WHERE id = ?1",
        alert.clone(),
    )
    .await?;
    assert_eq!(acked, None);
    let refused: i64 = one(
        &h.server,
        "SELECT COUNT(*) FROM audit WHERE event = 'console_csrf_refused' AND actor_user = ?1",
        gita.clone(),
    )
    .await?;
    assert_eq!(refused, 1);
    // Grace, with her own valid token, may not acknowledge an alert that is not hers.
    let resp = grace_http
        .post(
            &format!("/console/alerts/{alert}/acknowledge"),
            &[("csrf", &grace_http.csrf().await?)],
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // With the token, Gita's acknowledgement is written.
    let resp = gita_http
        .post(
            &format!("/console/alerts/{alert}/acknowledge"),
            &[("csrf", &gita_http.csrf().await?)],
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let acked: Option<String> = one(
        &h.server,
        "SELECT acknowledged_by FROM alerts WHERE id = ?1",
        alert,
    )
    .await?;
    assert_eq!(acked.as_deref(), Some(gita.as_str()));
    Ok(())
}

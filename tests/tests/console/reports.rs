//! The reports page in the browser: a supervisor opens it from the home page, asks for a
//! period, reads the tables and the server-drawn charts, and a bad date comes back beside its
//! field. Screenshots `20-reports` and `21-reports-errors`.

use anyhow::{Context, Result};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{EpisodeCategory, MissingEpisode, Profile, VisitNote};
use casebook_tests::support::Harness;
use chrono::{Duration, Utc};

use super::browser::Driver;
use super::enrol_browser;

const CANARY: &str = "CANARY-reports-page-free-text";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_reads_the_reports_page_with_tables_and_charts() -> Result<()> {
    let h = Harness::start().await?;
    let (guardian_id, guardian) = h.person("guardian", "guardian").await?;
    let supervisor = h.admin.user("Sam Okafor", "supervisor").await?;
    let team = h
        .admin
        .team("Hull ICTG team", &[&supervisor, &guardian_id])
        .await?;
    let ten_days_ago = Utc::now() - Duration::days(10);
    let mut cases = Vec::new();
    for i in 0..7 {
        let profile = Profile {
            case_reference: format!("{CANARY}-{i}"),
            given_name: CANARY.into(),
            ..Profile::default()
        };
        let case =
            guardian
                .lock()
                .create_case(&guardian.edit(), &mut rand::rngs::OsRng, &profile)?;
        // Six episodes: five missing (returned after 8 hours), one away (still away); a
        // visit each.
        if i < 6 {
            let episode = MissingEpisode {
                category: if i == 5 {
                    EpisodeCategory::AwayFromPlacement
                } else {
                    EpisodeCategory::Missing
                },
                missing_since: Some(ten_days_ago),
                returned_at: (i < 5).then(|| ten_days_ago + Duration::hours(8)),
                circumstances: CANARY.into(),
                ..MissingEpisode::default()
            };
            let id = EntryId::random(&mut rand::rngs::OsRng);
            guardian.change(DocId::new(case, DocKind::Safety), |d, e| {
                d.start_missing_episode(e, id, &episode)
            })?;
        }
        let note = VisitNote {
            visited_at: Some(ten_days_ago),
            wishes_and_feelings: CANARY.into(),
            ..VisitNote::default()
        };
        let id = EntryId::random(&mut rand::rngs::OsRng);
        guardian.change(DocId::new(case, DocKind::Visits), |d, e| {
            d.add_visit_note(e, id, &note)
        })?;
        cases.push(case);
    }
    guardian.sync().await?;
    for case in &cases {
        h.admin.set_team(&case.to_string(), &team).await?;
    }

    let driver = Driver::start().await?;
    let b = driver.browser(&h.server.cert_fingerprint).await?;
    let code = h.admin.code(&supervisor).await?;
    enrol_browser(&b, &h.server, &code, "Sam's desk").await?;
    b.click("#home-reports").await?;
    b.wait_path("/console/reports").await?;
    let from = (Utc::now() - Duration::days(30)).date_naive().to_string();
    let to = Utc::now().date_naive().to_string();
    b.fill("#report-from", &from).await?;
    b.fill("#report-to", &to).await?;
    b.submit("#show-report").await?;
    assert_eq!(b.text("#children").await?, "7");
    let missing = b.text("#missing-table").await?;
    assert!(
        missing.contains("Episodes started 6 5 1"),
        "episodes by category: {missing}"
    );
    assert!(missing.contains("Still missing 1 0 1"), "{missing}");
    let visits = b.text("#visits-table").await?;
    assert!(visits.contains("Visits 7"), "{visits}");
    // The charts: drawn on the server, with a title, a description and the values as text.
    let chart = b.find("#chart-episodes").await?;
    let svg = chart.html(false).await?;
    assert!(svg.contains("<title"), "{svg}");
    assert!(
        svg.contains("Missing: 5; Away without authorisation: 1"),
        "{svg}"
    );
    let csv_link = b
        .find("#download-csv")
        .await?
        .attr("href")
        .await?
        .context("href")?;
    assert!(
        csv_link.starts_with("/console/reports.csv?from="),
        "{csv_link}"
    );
    assert!(!b.page_text().await?.contains("CANARY"));
    // At 1,280 px wide every label and value of the charts is drawn at 12 px or more (the
    // SVG's font size times the scale it is drawn at).
    let smallest = b
        .client
        .execute(
            "let least = Infinity;
             for (const svg of document.querySelectorAll('figure.chart svg')) {
               const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
               for (const t of svg.querySelectorAll('text')) {
                 least = Math.min(least, scale * parseFloat(t.getAttribute('font-size')));
               }
             }
             return least;",
            vec![],
        )
        .await?
        .as_f64()
        .context("font size")?;
    assert!(
        (12.0..100.0).contains(&smallest),
        "chart text drawn at {smallest} px"
    );
    b.screenshot("20-reports").await?;

    // A date that is not one: the error beside the field, no figures.
    b.fill("#report-from", "2026-13-40").await?;
    b.submit("#show-report").await?;
    let error = b.text("#report-from-error").await?;
    assert!(error.contains("YYYY-MM-DD"), "{error}");
    assert!(!b.page_text().await?.contains("Episodes started"));
    b.screenshot("21-reports-errors").await?;
    Ok(())
}

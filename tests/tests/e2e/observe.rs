//! Operations against the real server (issue 13): `/healthz` and `/readyz` (503 while
//! another connection holds the database's write lock, when the disk minimum is not met and
//! when the served certificate expires in 3 days), the metrics scraped over HTTP and parsed
//! as Prometheus parses them, and canaries written into every field of a case found in
//! neither the server's logs (JSON and text) nor its metrics.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result, ensure};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{
    IndependentVisitor, Interpreter, InterpreterMode, Nrm, Profile, VettingStatus, VisitNote,
};
use casebook_server::TestServer;
use casebook_tests::console::Console;
use casebook_tests::support::Harness;
use serde_json::Value;

use super::team;

/// An HTTPS client trusting only `server`'s pin (redirects not followed).
fn client(server: &TestServer) -> Result<reqwest::Client> {
    let trust = casebook_tests::support::pin(server);
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(casebook_core::client::client_config(&trust)?)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<(u16, Value)> {
    let response = http.get(url).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

fn small_disk_minimum() -> casebook_server::Settings {
    casebook_server::Settings {
        min_free_disk_bytes: 1 << 20,
        ..casebook_server::Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_turn_503_while_the_database_is_locked_and_recover() -> Result<()> {
    let h = Harness::start_with(small_disk_minimum()).await?;
    if !casebook_tests::support::on_sqlite(&h.server, "readiness under a SQLite lock") {
        return Ok(());
    }
    let http = client(&h.server)?;
    let base = h.server.base_url();

    let response = http
        .get(format!("{base}/healthz"))
        .header("x-request-id", "CANARY-client-chosen-id")
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let id = response
        .headers()
        .get("x-request-id")
        .context("a request id in the answer")?
        .to_str()?
        .to_owned();
    assert_ne!(id, "CANARY-client-chosen-id", "the server makes its own id");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let body: Value = response.json().await?;
    assert_eq!(body, serde_json::json!({"status": "alive"}));

    // Probed every 100 ms, without authentication, readiness stays 200 (no rate limit).
    for _ in 0..20 {
        let (status, body) = get_json(&http, &format!("{base}/readyz")).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "ready");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, body) = get_json(&http, &format!("{base}/readyz")).await?;
    let names: Vec<&str> = body["checks"]
        .as_array()
        .context("checks")?
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["database", "disk", "certificate"]);

    // Another process's connection, opened with the key from the key file, holds the write
    // lock: the database is not writable.
    let data_dir = h.server.data_dir.clone();
    let key = casebook_server::db::read_key(&data_dir.join(casebook_server::db::DEFAULT_KEY_FILE))?;
    let holder = casebook_core::store::open_encrypted(&data_dir.join("casebook.sqlite"), key)?;
    holder.execute_batch("BEGIN EXCLUSIVE")?;
    // Past the moment a readiness result is reused.
    tokio::time::sleep(
        casebook_server::observe::health::READINESS_REUSE + std::time::Duration::from_millis(100),
    )
    .await;
    let started = std::time::Instant::now();
    let (status, body) = get_json(&http, &format!("{base}/readyz")).await?;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["failed"], serde_json::json!(["database"]), "{body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "answered within the probe's busy timeout: {:?}",
        started.elapsed()
    );
    // The liveness probe does not touch the database.
    let (status, _) = get_json(&http, &format!("{base}/healthz")).await?;
    assert_eq!(status, 200);
    // Also on the metrics listener.
    let metrics_base = format!("http://{}", h.server.metrics_addr);
    let (status, _) = get_json(&http, &format!("{metrics_base}/readyz")).await?;
    assert_eq!(status, 503);

    holder.execute_batch("COMMIT")?;
    drop(holder);
    tokio::time::sleep(
        casebook_server::observe::health::READINESS_REUSE + std::time::Duration::from_millis(100),
    )
    .await;
    let (status, body) = get_json(&http, &format!("{base}/readyz")).await?;
    assert_eq!(status, 200, "back once the lock is released: {body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_an_expiring_certificate_and_a_full_disk() -> Result<()> {
    // A disk minimum no filesystem meets.
    let dir = tempfile::tempdir()?;
    let settings = casebook_server::Settings {
        min_free_disk_bytes: u64::MAX,
        ..casebook_server::Settings::default()
    };
    let server =
        casebook_server::start_for_tests_with(dir.path(), casebook_server::Clock::System, settings)
            .await?;
    let http = client(&server)?;
    let base = server.base_url();
    let (status, body) = get_json(&http, &format!("{base}/readyz")).await?;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failed"], serde_json::json!(["disk"]), "{body}");

    // The served certificate replaced by one (same key, so the pin holds) expiring in 3 days.
    let tls_dir = dir.path().join("tls");
    let key_pem = std::fs::read_to_string(tls_dir.join("dev-key.pem"))?;
    let key = rcgen::KeyPair::from_pem(&key_pem)?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?;
    let now = chrono::Utc::now();
    let day = |t: chrono::DateTime<chrono::Utc>| {
        use chrono::Datelike;
        let d = t.date_naive();
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    params.not_before = day(now - chrono::Days::new(1));
    params.not_after = day(now + chrono::Days::new(3));
    let cert = params.self_signed(&key)?;
    std::fs::write(tls_dir.join("dev-cert.pem"), cert.pem())?;
    ensure!(
        server.tls.reload_if_changed()?,
        "the new certificate is served"
    );
    tokio::time::sleep(
        casebook_server::observe::health::READINESS_REUSE + std::time::Duration::from_millis(100),
    )
    .await;
    let (status, body) = get_json(&http, &format!("{base}/readyz")).await?;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["failed"],
        serde_json::json!(["disk", "certificate"]),
        "{body}"
    );
    let detail = body["checks"][2]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("expires in 2 days") || detail.contains("expires in 3 days"),
        "{detail}"
    );
    server.shutdown().await?;
    Ok(())
}

type Exposition = openmetrics_parser::MetricsExposition<
    openmetrics_parser::PrometheusType,
    openmetrics_parser::PrometheusValue,
>;

/// One scrape, parsed by a Prometheus text-format parser.
async fn scrape(server: &TestServer) -> Result<(String, Exposition)> {
    // Plain HTTP (the client's TLS set-up is unused).
    let response = client(server)?
        .get(format!("http://{}/metrics", server.metrics_addr))
        .send()
        .await?;
    ensure!(response.status() == 200, "metrics: {}", response.status());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    ensure!(content_type.starts_with("text/plain"), "{content_type}");
    let body = response.text().await?;
    let parsed = openmetrics_parser::prometheus::parse_prometheus(&body)
        .map_err(|e| anyhow::anyhow!("the metrics do not parse: {e:?}"))?;
    Ok((body, parsed))
}

/// Every sample as (family, labels, value); a histogram's value is its count.
fn samples(scrape: &Exposition) -> Vec<(String, HashMap<String, String>, f64)> {
    use openmetrics_parser::PrometheusValue;
    let mut out = Vec::new();
    for (name, family) in &scrape.families {
        for sample in family.iter_samples() {
            let labels = sample
                .get_labelset()
                .map(|set| {
                    set.iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<HashMap<_, _>>()
                })
                .unwrap_or_default();
            let value = match &sample.value {
                PrometheusValue::Unknown(n) | PrometheusValue::Gauge(n) => n.as_f64(),
                PrometheusValue::Counter(c) => c.value.as_f64(),
                PrometheusValue::Histogram(h) => h.count.unwrap_or(0) as f64,
                PrometheusValue::Summary(s) => s.count.unwrap_or(0) as f64,
            };
            out.push((name.clone(), labels, value));
        }
    }
    out
}

/// The value of `name` with these labels, summed (absent: 0).
fn value(scrape: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(scrape)
        .into_iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_after_a_sync_and_label_routes_by_template() -> Result<()> {
    let t = team().await?;
    let server = &t.h.server;
    let (_, before) = scrape(server).await?;
    let sync = [("route", "/v1/sync")];
    let syncs_before = value(&before, "casebook_syncs_total", &[("outcome", "ok")]);
    let audit_before = value(&before, "casebook_audit_chain_rows", &[]);

    super::record_visit(&t.guardian, t.case, "a visit")?;
    t.guardian.sync().await?;
    t.supervisor.sync().await?;
    let case = t.case.to_string();
    // A route with an id in its path, a console page, and a path no route matches.
    let (http, token) = t.guardian.session().await?;
    let pack = http
        .post(format!("{}/v1/cases/{case}/police-pack", server.base_url()))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await?;
    let pack_status = pack.status().as_u16().to_string();
    let _ = pack.bytes().await?;
    let console = client(server)?;
    let page = console
        .get(format!("{}/console/cases/{case}", server.base_url()))
        .send()
        .await?;
    let page_status = page.status().as_u16().to_string();
    let missing = console
        .get(format!("{}/v1/no-such/{case}", server.base_url()))
        .send()
        .await?;
    assert_eq!(missing.status(), 404);
    t.h.admin
        .revoke(&t.carer.identity.device_id.to_string())
        .await?;

    let (body, after) = scrape(server).await?;
    let syncs_after = value(&after, "casebook_syncs_total", &[("outcome", "ok")]);
    assert!(
        syncs_after >= syncs_before + 2.0,
        "{syncs_before} -> {syncs_after}"
    );
    let ok_sync = [("route", "/v1/sync"), ("method", "POST"), ("status", "200")];
    assert!(
        value(&after, "casebook_http_requests_total", &ok_sync)
            >= value(&before, "casebook_http_requests_total", &ok_sync) + 2.0
    );
    let latency = "casebook_http_request_duration_seconds";
    assert!(
        value(&after, latency, &sync) >= value(&before, latency, &sync) + 2.0,
        "the latency histogram counted the syncs"
    );
    for bytes in [
        "casebook_http_request_bytes_total",
        "casebook_http_response_bytes_total",
    ] {
        assert!(
            value(&after, bytes, &sync) > value(&before, bytes, &sync),
            "{bytes} moved"
        );
    }
    assert!(value(&after, "casebook_audit_chain_rows", &[]) > audit_before);
    // The admin, guardian, carer and supervisor enrolled; the carer's device revoked.
    assert_eq!(value(&after, "casebook_devices_enrolled", &[]), 3.0);
    assert_eq!(value(&after, "casebook_devices_revoked", &[]), 1.0);
    assert!(value(&after, "casebook_devices_active", &[]) >= 2.0);
    assert!(value(&after, "casebook_database_bytes", &[]) > 0.0);
    for (route, method, status) in [
        ("/v1/cases/{case}/police-pack", "POST", pack_status.as_str()),
        ("/console/cases/{case}", "GET", page_status.as_str()),
        ("/v1/admin/cases/{case}/team", "PUT", "204"),
        ("/v1/admin/devices/{device}/revoke", "POST", "204"),
        ("unmatched", "GET", "404"),
    ] {
        let labels = [("route", route), ("method", method), ("status", status)];
        assert!(
            value(&after, "casebook_http_requests_total", &labels) >= 1.0,
            "{route} {method} {status} counted by its template"
        );
    }
    // No label carries an id.
    let ids = [
        case.clone(),
        t.guardian_id.clone(),
        t.carer_id.clone(),
        t.supervisor_id.clone(),
        t.carer.identity.device_id.to_string(),
        t.guardian.identity.device_id.to_string(),
    ];
    for id in &ids {
        assert!(!body.contains(id.as_str()), "an id in the metrics: {id}");
    }
    for (metric, labels, _) in samples(&after) {
        for (name, label) in labels {
            assert!(
                label.len() <= 64,
                "{metric}: label {name}={label} is too long to be a template"
            );
        }
    }
    Ok(())
}

/// A log sink shared by the whole test process.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Sink {
    type Writer = Sink;
    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

/// The server's log formats (the layers `casebook-server --log-format` installs), both
/// capturing every event of this process at debug level from now on.
fn captured_logs() -> &'static (Sink, Sink) {
    static SINKS: OnceLock<(Sink, Sink)> = OnceLock::new();
    SINKS.get_or_init(|| {
        use casebook_server::observe::logs::{LogFormat, layer};
        use tracing_subscriber::layer::SubscriberExt;
        let json = Sink::default();
        let text = Sink::default();
        let filter = tracing_subscriber::EnvFilter::new(
            "debug,h2=info,hyper=info,hyper_util=info,rustls=info,tokio_util=info,reqwest=info",
        );
        let subscriber = tracing_subscriber::registry()
            .with(layer(LogFormat::Json, json.clone()))
            .with(layer(LogFormat::Text, text.clone()))
            .with(filter);
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            eprintln!("a global subscriber was already installed; logs not captured");
        }
        (json, text)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_in_every_field_of_a_case_reach_neither_logs_nor_metrics() -> Result<()> {
    let (json_logs, text_logs) = captured_logs();
    let t = team().await?;
    let mut canaries: Vec<String> = Vec::new();
    let mut canary = |field: &str| {
        let c = format!("CANARY-{field}-7f3a");
        canaries.push(c.clone());
        c
    };
    let profile = Profile {
        case_reference: canary("case-reference"),
        given_name: canary("given-name"),
        family_name: canary("family-name"),
        aliases: vec![canary("alias")],
        nationality: canary("nationality"),
        languages: vec![canary("language")],
        interpreter_needs: canary("interpreter-needs"),
        allocated_guardian: canary("allocated-guardian"),
        allocated_social_worker: canary("allocated-social-worker"),
        nrm: Nrm {
            referred_by: canary("nrm-referred-by"),
            decision_maker: canary("nrm-decision-maker"),
            ..Nrm::default()
        },
        independent_visitor: IndependentVisitor {
            declined: true,
            declined_reason: canary("visitor-declined-reason"),
            ..IndependentVisitor::default()
        },
        ..Profile::default()
    };
    let mut profile = profile;
    profile.immigration.legal_representative = canary("legal-representative");
    let case =
        t.guardian
            .lock()
            .create_case(&t.guardian.edit(), &mut rand::rngs::OsRng, &profile)?;
    let note = VisitNote {
        place: canary("visit-place"),
        attendees: vec![canary("attendee")],
        wishes_and_feelings: canary("wishes-and-feelings"),
        observations: canary("observations"),
        interpreter: Interpreter {
            mode: InterpreterMode::Telephone,
            name: canary("interpreter-name"),
            agency: canary("interpreter-agency"),
            phone: canary("interpreter-phone"),
            language: canary("interpreter-language"),
            vetting: VettingStatus::Vetted,
            child_consented: Some(true),
        },
        ..VisitNote::default()
    };
    let id = EntryId::random(&mut rand::rngs::OsRng);
    t.guardian
        .change(DocId::new(case, DocKind::Visits), |d, e| {
            d.add_visit_note(e, id, &note)
        })?;
    t.guardian.sync().await?;
    let team_id =
        t.h.admin
            .team("Observed team", &[&t.supervisor_id, &t.guardian_id])
            .await?;
    t.h.admin.set_team(&case.to_string(), &team_id).await?;
    t.supervisor.sync().await?;
    t.guardian.sync().await?;

    // The supervisor's browser opens the case's pages.
    let code = t.h.admin.code(&t.supervisor_id).await?;
    let console = Console::enrol(&t.h.server, &code, "supervisor's desk").await?;
    let mut seen_on_page = false;
    for path in [
        format!("/console/cases/{case}"),
        format!("/console/cases/{case}/history"),
        "/console/".to_owned(),
        "/console/review".to_owned(),
    ] {
        let page = console.get(&path).await?;
        let html = page.text().await?;
        seen_on_page |= html.contains("CANARY-given-name-7f3a");
    }
    assert!(
        seen_on_page,
        "the console showed the case (so its content went through the server)"
    );
    let (metrics_body, _) = scrape(&t.h.server).await?;

    let json = json_logs.text();
    let text = text_logs.text();
    // The capture works: this test's own requests are there, each with its span.
    let request_lines: Vec<Value> = json
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "request finished")
        .collect();
    assert!(
        request_lines
            .iter()
            .any(|l| l["span"]["route"] == "/console/cases/{case}"
                && l["span"]["request_id"]
                    .as_str()
                    .is_some_and(|id| id.len() == 36)),
        "JSON request lines with their request id and route template"
    );
    assert!(text.contains("request finished"), "text lines captured");
    let mut counts = HashMap::new();
    for canary in &canaries {
        for (name, haystack) in [
            ("JSON logs", &json),
            ("text logs", &text),
            ("metrics", &metrics_body),
        ] {
            if haystack.contains(canary.as_str()) {
                *counts.entry(name).or_insert(0) += 1;
                eprintln!("{canary} found in the {name}");
            }
        }
    }
    assert!(counts.is_empty(), "canaries leaked: {counts:?}");
    assert!(canaries.len() >= 18, "{} fields", canaries.len());
    Ok(())
}

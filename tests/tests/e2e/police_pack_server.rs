//! The police pack made by the server (`POST /v1/cases/{case}/police-pack`, issue 10): a
//! carer's phone records an open episode and syncs; the guardian has shared a person of
//! concern into the profile and uploaded the photo; the supervisor's phone asks the server for
//! the pack. The PDF's text (poppler's `pdftotext`) has the names with their diacritics, the
//! shared number and the episode's fields, and nothing from a visit note or `associates`;
//! `pdfimages` finds the photo; page 1 is kept as a PNG in
//! `<target dir>/test-output/police-pack/from-server-page1.png`. A guardian not assigned and a
//! supervisor of another team get `403`, audited; every pack made is audited without content;
//! an unknown or ended episode is a `4xx` naming the episode. The console's entry point
//! ([`casebook_server::police_pack::for_user`]) decides the same.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use casebook_core::client::{Transport, client_config};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{
    EpisodeCategory, MissingEpisode, MissingPersonProfile, PersonOfConcern, Writer,
};
use casebook_tests::support::Device;
use chrono::{Duration, Utc};

use super::{PROFILE_CANARY, record_visit, team};

const VISIT_CANARY: &str = "CANARY-visit-note-she-lives-at-12-Elm-Road";
const ASSOCIATES_CANARIES: [&str; 3] = [
    "CANARY-associates-relationship-uncle-boss",
    "CANARY-associates-notes-drives-to-Leeds",
    "CANARY-associates-unshared-person",
];
const UNSHARED_PHONE: &str = "07700 900777";
const SHARED_PHONE: &str = "07700 900123";
const NAMES: [&str; 4] = ["Nguyễn Thị Hương", "Ëndrit Hoxha", "محمد", "ሰላም"];

/// A real JPEG photograph (the pack crate's test fixture).
const PHOTO: &[u8] = include_bytes!("../../../pack/tests/fixtures/photo.jpg");

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("test-output/police-pack");
    std::fs::create_dir_all(&dir).expect("output folder");
    dir
}

/// Runs a poppler tool; a missing tool is a failure with a clear message, never a skip.
fn poppler(tool: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("`{tool}` could not be run ({e}): install Debian's poppler-utils")
    });
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// What the server answered: status, content type, body.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// Ask the server for the pack of `episode` as `device`, in a session of its own.
async fn ask(device: &Device, case: &str, episode: &str) -> Result<Answer> {
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
    let response = client
        .post(format!(
            "{}/v1/cases/{case}/police-pack",
            identity.server_url
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({ "episode": episode }))
        .send()
        .await?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.bytes().await?.to_vec();
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

fn pdf_text(name: &str, pdf: &[u8]) -> Result<(PathBuf, String)> {
    let file = out_dir().join(name);
    std::fs::write(&file, pdf)?;
    let arg = file.to_str().context("utf-8 path")?;
    let text = String::from_utf8(poppler("pdftotext", &[arg, "-"]))?;
    Ok((file, text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_gets_the_pack_of_an_open_episode_from_the_server() -> Result<()> {
    let t = team().await?;
    let case = t.case.to_string();
    let safety = DocId::new(t.case, DocKind::Safety);

    // The guardian: a visit note (never in the pack), two persons in `associates`, one of
    // them shared into the profile, the missing-person profile and the photo.
    record_visit(&t.guardian, t.case, VISIT_CANARY)?;
    let shared = EntryId::random(&mut rand::rngs::OsRng);
    let unshared = EntryId::random(&mut rand::rngs::OsRng);
    t.guardian
        .change(DocId::new(t.case, DocKind::Associates), |d, e| {
            d.add_person(
                e,
                shared,
                &PersonOfConcern {
                    name: "Ëndrit Hoxha".into(),
                    aliases: vec!["محمد".into()],
                    relationship: ASSOCIATES_CANARIES[0].into(),
                    phone_numbers: vec![SHARED_PHONE.into()],
                    vehicles: vec!["Silver Audi A4, YX17 ABC".into()],
                    notes: ASSOCIATES_CANARIES[1].into(),
                    ..PersonOfConcern::default()
                },
            )?;
            d.add_person(
                e,
                unshared,
                &PersonOfConcern {
                    name: ASSOCIATES_CANARIES[2].into(),
                    phone_numbers: vec![UNSHARED_PHONE.into()],
                    ..PersonOfConcern::default()
                },
            )
        })?;
    let guardian = Writer {
        user: t.guardian.identity.user_id,
        role: t.guardian.identity.role.parse()?,
        device: t.guardian.identity.device_id,
    };
    let edit = t.guardian.edit();
    t.guardian
        .lock()
        .share_person_into_profile(t.case, shared, &edit, Some(&guardian))?;
    t.guardian.change(safety, |d, e| {
        d.set_missing_person_profile(
            e,
            &MissingPersonProfile {
                name: "Nguyễn Thị Hương".into(),
                known_as: vec!["ሰላም".into()],
                languages: vec!["Vietnamese".into()],
                interpreter_needed: true,
                local_authority_contact: "Hull children's services".into(),
                out_of_hours_number: "01482 300304".into(),
                ..MissingPersonProfile::default()
            },
        )
    })?;
    let edit = t.guardian.edit();
    t.guardian
        .lock()
        .set_profile_photo_as(&guardian, &edit, t.case, PHOTO)?;
    let pushed = t.guardian.sync().await?;
    assert_eq!(pushed.attachments.sent, 1, "{pushed:?}");

    // The carer: an earlier episode, ended, and tonight's, open.
    t.carer.sync().await?;
    let now = Utc::now();
    let ended = EntryId::random(&mut rand::rngs::OsRng);
    let open = EntryId::random(&mut rand::rngs::OsRng);
    let since = now - Duration::minutes(40);
    t.carer.change(safety, |d, e| {
        d.start_missing_episode(
            e,
            ended,
            &MissingEpisode {
                missing_since: Some(now - Duration::days(3)),
                returned_at: Some(now - Duration::days(2)),
                ..MissingEpisode::default()
            },
        )?;
        d.start_missing_episode(
            e,
            open,
            &MissingEpisode {
                category: EpisodeCategory::AwayFromPlacement,
                missing_since: Some(since),
                last_seen_at: Some(since - Duration::minutes(30)),
                last_seen: "Hull Paragon bus station".into(),
                last_seen_with: "Two older boys".into(),
                clothing: "Grey tracksuit, black cap".into(),
                police_reference: "HUM-2611-0042".into(),
                ..MissingEpisode::default()
            },
        )
    })?;
    t.carer.sync().await?;

    // The supervisor's phone asks the server (its own store plays no part).
    let answer = ask(&t.supervisor, &case, &open.to_string()).await?;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.content_type, "application/pdf");
    assert!(answer.body.starts_with(b"%PDF-"));
    let (file, text) = pdf_text("from-server.pdf", &answer.body)?;
    for name in NAMES {
        assert!(text.contains(name), "{name} not found in:\n{text}");
    }
    for wanted in [
        SHARED_PHONE,
        "HUM-2611-0042",
        "Grey tracksuit, black cap",
        "Hull Paragon bus station",
        "Two older boys",
        "AWAY FROM PLACEMENT WITHOUT AUTHORISATION",
        "01482 300304",
        "supervisor",
    ] {
        assert!(text.contains(wanted), "{wanted} not found in:\n{text}");
    }
    assert!(!text.contains("No photo on file"), "{text}");
    for canary in [VISIT_CANARY, UNSHARED_PHONE]
        .into_iter()
        .chain(ASSOCIATES_CANARIES)
    {
        assert!(!text.contains(canary), "{canary} in:\n{text}");
        assert!(!String::from_utf8_lossy(&answer.body).contains(canary));
    }
    let file_arg = file.to_str().context("utf-8 path")?;
    let images = String::from_utf8(poppler("pdfimages", &["-list", file_arg]))?;
    assert!(
        images
            .lines()
            .skip(2)
            .any(|l| l.split_whitespace().nth(2) == Some("image")),
        "no image in the pack: {images}"
    );
    let png_base = out_dir().join("from-server-page1");
    poppler(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            file_arg,
            png_base.to_str().context("utf-8 path")?,
        ],
    );
    let png = std::fs::read(png_base.with_extension("png"))?;
    assert!(png.starts_with(b"\x89PNG"));

    // The carer may read `safety`, so she gets the pack too, but the case profile (which she
    // may not read) plays no part in hers: its given name is not on it.
    let carers = ask(&t.carer, &case, &open.to_string()).await?;
    assert_eq!(carers.status, 200);
    let (_, carers_text) = pdf_text("from-server-carer.pdf", &carers.body)?;
    assert!(carers_text.contains("Nguyễn Thị Hương"), "{carers_text}");
    assert!(!carers_text.contains(PROFILE_CANARY), "{carers_text}");

    // An unknown episode, an ended one, a malformed id: 4xx naming the episode, no pack.
    let unknown = EntryId::random(&mut rand::rngs::OsRng).to_string();
    for (episode, status) in [
        (unknown.as_str(), 404),
        (&ended.to_string(), 409),
        ("not-an-id", 400),
    ] {
        let refused = ask(&t.supervisor, &case, episode).await?;
        let body = String::from_utf8_lossy(&refused.body);
        assert_eq!(refused.status, status, "{body}");
        assert!(body.contains("episode"), "{body}");
    }

    // A guardian not assigned to the case and a supervisor of another team: 403, audited.
    let (stranger_id, stranger) = t.h.person("unassigned guardian", "guardian").await?;
    let (other_sup_id, other_sup) = t.h.person("other supervisor", "supervisor").await?;
    t.h.admin.team("Leeds team", &[&other_sup_id]).await?;
    for device in [&stranger, &other_sup] {
        let refused = ask(device, &case, &open.to_string()).await?;
        assert_eq!(refused.status, 403);
        assert!(!refused.body.starts_with(b"%PDF"));
    }

    // The console's entry point decides the same for a user by id.
    let db = &t.h.server.state.db;
    let at = Utc::now().timestamp();
    let console =
        casebook_server::police_pack::for_user(db, &t.supervisor_id, t.case, open, at).await?;
    assert!(console.starts_with(b"%PDF-"));
    let refused = casebook_server::police_pack::for_user(db, &stranger_id, t.case, open, at).await;
    assert!(
        matches!(refused, Err(casebook_server::Error::Forbidden(_))),
        "{refused:?}"
    );

    let audit = t.h.admin.audit_for_case(&case).await?;
    let rows = |event: &str, user: &str| {
        audit
            .iter()
            .filter(|r| r["event"] == event && r["actor_user"] == user)
            .cloned()
            .collect::<Vec<_>>()
    };
    let made = rows("police_pack_generated", &t.supervisor_id);
    assert_eq!(made.len(), 2, "{audit:#?}");
    assert_eq!(made[0]["subject"], open.to_string());
    assert_eq!(
        made[0]["actor_device"],
        t.supervisor.identity.device_id.to_string()
    );
    assert_eq!(made[1]["actor_device"], serde_json::Value::Null);
    assert_eq!(rows("police_pack_generated", &t.carer_id).len(), 1);
    for row in &made {
        let detail = row["detail"].as_str().unwrap_or_default();
        assert!(
            !detail.contains("Nguy") && !detail.contains("CANARY"),
            "{detail}"
        );
    }
    let denied = |user: &str| {
        rows("denied", user)
            .iter()
            .filter(|r| {
                r["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("police_pack")
            })
            .count()
    };
    assert_eq!(denied(&stranger_id), 2, "{audit:#?}");
    assert_eq!(denied(&other_sup_id), 1, "{audit:#?}");
    // Refused episodes made no pack.
    assert_eq!(
        audit
            .iter()
            .filter(|r| r["event"] == "police_pack_generated")
            .count(),
        3
    );
    Ok(())
}

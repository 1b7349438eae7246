//! People of concern shared into the missing-person profile: the carer's device receives
//! the shared persons' names, aliases, phone numbers and vehicles and nothing else of
//! `associates` (checked on the bytes it received and on its store); each share and unshare
//! is audited by the server from the document it stored; a carer cannot share.

use anyhow::Result;
use automerge::sync::SyncDoc;
use casebook_core::doc::{DocId, DocKind};
use casebook_core::ids::EntryId;
use casebook_core::model::{MissingPersonProfile, PersonOfConcern, Writer};
use casebook_core::sync::wire::SyncResponse;
use casebook_core::view::RowKind;
use casebook_tests::support::Device;

use super::team;

/// What `associates` holds that the carer must never receive.
const CANARIES: [&str; 5] = [
    "CANARY-relationship-uncle-boss",
    "CANARY-place-car-wash-Anlaby-Road",
    "CANARY-notes-drives-children-to-Leeds",
    "CANARY-unshared-person-Dritan",
    "CANARY-unshared-phone-07700900777",
];

const SHARED_NAME: &str = "Ëndrit Hoxha";
const SHARED_PHONE: &str = "07700 900123";
const SHARED_CAR: &str = "Silver Audi A4 YX17 ABC";

/// Every payload the responses carried, decoded to text (automerge's JSON view).
fn payload_text(responses: &[SyncResponse]) -> String {
    let mut out = String::new();
    for response in responses {
        for m in &response.messages {
            let message =
                automerge::sync::Message::decode(&m.data).expect("server sent a valid message");
            let mut doc = automerge::AutoCommit::new();
            let mut state = automerge::sync::State::new();
            let _ = doc.sync().receive_sync_message(&mut state, message);
            out.push_str(&format!("{:?}", automerge::AutoSerde::from(&doc)));
        }
        for s in &response.snapshots {
            let doc = automerge::AutoCommit::load(&s.data).expect("server sent a valid document");
            out.push_str(
                &serde_json::to_string(&automerge::AutoSerde::from(&doc)).unwrap_or_default(),
            );
        }
    }
    out
}

/// Everything the carer's store holds for the case, as text: every held document whole and
/// every view row.
fn store_text(device: &Device, case: casebook_core::ids::CaseId) -> Result<String> {
    let mut repo = device.lock();
    let mut out = String::new();
    for kind in repo.held_kinds(case)? {
        let doc = DocId::new(case, kind);
        out.push_str(&repo.read(doc, |d| d.to_json())?.to_string());
        for row in RowKind::ALL {
            for r in repo.view(doc, row, None)?.rows {
                out.push_str(&r.body);
            }
        }
    }
    Ok(out)
}

fn writer_of(device: &Device) -> Result<Writer> {
    Ok(Writer {
        user: device.identity.user_id,
        role: device.identity.role.parse()?,
        device: device.identity.device_id,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_carer_receives_only_the_shared_persons_of_associates() -> Result<()> {
    let t = team().await?;
    let associates = DocId::new(t.case, DocKind::Associates);
    let shared_id = EntryId::random(&mut rand::rngs::OsRng);
    let other_id = EntryId::random(&mut rand::rngs::OsRng);
    t.guardian.change(associates, |d, e| {
        d.add_person(
            e,
            shared_id,
            &PersonOfConcern {
                name: SHARED_NAME.into(),
                aliases: vec!["Eni".into()],
                relationship: CANARIES[0].into(),
                phone_numbers: vec![SHARED_PHONE.into()],
                vehicles: vec![SHARED_CAR.into()],
                places: vec![CANARIES[1].into()],
                notes: CANARIES[2].into(),
                organisation: String::new(),
            },
        )?;
        d.add_person(
            e,
            other_id,
            &PersonOfConcern {
                name: CANARIES[3].into(),
                phone_numbers: vec![CANARIES[4].into()],
                ..PersonOfConcern::default()
            },
        )
    })?;
    let edit = t.guardian.edit();
    let guardian = writer_of(&t.guardian)?;
    t.guardian
        .lock()
        .share_person_into_profile(t.case, shared_id, &edit, Some(&guardian))?;
    t.guardian.sync().await?;

    // The carer's first sync: the safety document with the shared person, nothing else.
    let received = t.carer.sync_capturing().await?;
    let text = payload_text(&received.responses);
    assert!(text.contains(SHARED_NAME) && text.contains(SHARED_PHONE) && text.contains(SHARED_CAR));
    for raw in &received.raw {
        let raw = String::from_utf8_lossy(raw);
        assert!(
            !raw.contains("/associates"),
            "raw bytes name the associates document"
        );
        for canary in CANARIES {
            assert!(!raw.contains(canary), "raw bytes hold {canary}");
        }
    }
    for canary in CANARIES {
        assert!(!text.contains(canary), "the carer received {canary}");
    }
    assert_eq!(t.carer.lock().held_kinds(t.case)?, vec![DocKind::Safety]);
    let stored = store_text(&t.carer, t.case)?;
    assert!(stored.contains(SHARED_PHONE));
    for canary in CANARIES {
        assert!(!stored.contains(canary), "the carer's store holds {canary}");
    }
    let shared = t.carer.lock().shared_persons(t.case)?;
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].0, shared_id);
    assert_eq!(shared[0].1.phone_numbers, vec![SHARED_PHONE.to_owned()]);
    assert_eq!(shared[0].1.shared_by, Some(t.guardian.identity.user_id));

    // The carer keeps the profile (allowed); sharing is not theirs to do: their device
    // holds no associates, and a share forged past the core is refused by the server.
    let carer = writer_of(&t.carer)?;
    let edit = t.carer.edit();
    t.carer
        .change(DocId::new(t.case, DocKind::Safety), |d, e| {
            d.set_missing_person_profile(
                e,
                &MissingPersonProfile {
                    name: "Nguyễn Thị Hương".into(),
                    ..MissingPersonProfile::default()
                },
            )
        })?;
    let err = t
        .carer
        .lock()
        .share_person_into_profile(t.case, other_id, &edit, Some(&carer))
        .expect_err("a carer's device holds no associates");
    assert!(matches!(err, casebook_core::Error::NotHeld(_)), "{err:?}");
    // The unshare reaches the carer; both are in the audit, by the guardian, without names.
    let edit = t.guardian.edit();
    t.guardian
        .lock()
        .unshare_person_from_profile(t.case, shared_id, &edit, Some(&guardian))?;
    t.guardian.sync().await?;
    let audit = t.h.admin.audit_for_case(&t.case.to_string()).await?;
    let of = |event: &str| -> Vec<&serde_json::Value> {
        audit.iter().filter(|r| r["event"] == event).collect()
    };
    let shares = of("person_shared_into_profile");
    let unshares = of("person_unshared_from_profile");
    assert_eq!(shares.len(), 1, "{audit:#?}");
    assert_eq!(unshares.len(), 1, "{audit:#?}");
    for row in shares.iter().chain(&unshares) {
        assert_eq!(row["actor_user"], t.guardian_id);
        let detail: serde_json::Value =
            serde_json::from_str(row["detail"].as_str().unwrap_or_default())?;
        assert_eq!(detail["person"], shared_id.to_string());
        assert!(!row.to_string().contains(SHARED_NAME));
    }
    t.carer.sync().await?;
    assert!(t.carer.lock().shared_persons(t.case)?.is_empty());
    assert_eq!(
        t.carer.lock().missing_person_profile(t.case)?.name,
        "Nguyễn Thị Hương"
    );
    t.guardian.sync().await?;
    let profile = t.guardian.lock().missing_person_profile(t.case)?;
    assert_eq!(
        profile.name, "Nguyễn Thị Hương",
        "the carer's profile reached the team"
    );

    // A share forged past the core on the carer's device is refused by the server.
    let forged = EntryId::random(&mut rand::rngs::OsRng);
    t.carer
        .change(DocId::new(t.case, DocKind::Safety), |d, e| {
            d.share_person(
                e,
                forged,
                &PersonOfConcern {
                    name: "FORGED".into(),
                    ..PersonOfConcern::default()
                },
            )
            .map(drop)
        })?;
    let outcome = t.carer.sync().await?;
    assert!(
        !outcome.report.rejected.is_empty(),
        "the forged share was refused: {:?}",
        outcome.report
    );
    t.guardian.sync().await?;
    assert!(
        t.guardian.lock().shared_persons(t.case)?.is_empty(),
        "the forged share did not reach the server"
    );
    let audit = t.h.admin.audit_for_case(&t.case.to_string()).await?;
    assert_eq!(
        audit
            .iter()
            .filter(|r| r["event"] == "person_shared_into_profile")
            .count(),
        1
    );
    assert!(!serde_json::to_string(&audit)?.contains("FORGED"));
    Ok(())
}

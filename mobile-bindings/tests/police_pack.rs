//! The police pack made through the bindings, as the app makes it: a case with a canary in a
//! visit note and in the associates' notes, a missing-person profile, one person shared into
//! it and an open episode. The PDF's text (Debian's poppler-utils `pdftotext`) has the
//! shared person's number and the names with their diacritics exactly, and no canary; page 1
//! is kept as a PNG (`pdftoppm`) in `<target dir>/test-output/police-pack/` to look at.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use casebook_mobile::Casebook;
use casebook_mobile::records::{
    EpisodeCategory, MissingEpisode, MissingPersonProfile, PersonOfConcern, Profile, VisitNote,
};

const VISIT_CANARY: &str = "CANARY-visit-note-lives-at-12-Elm-Road";
const ASSOCIATES_CANARY: &str = "CANARY-associates-notes-car-wash";
const NAMES: [&str; 4] = ["Nguyễn Thị Hương", "Ëndrit Hoxha", "محمد", "ሰላም"];
const SHARED_PHONE: &str = "07700 900123";

/// A real JPEG photograph (the pack crate's test fixture).
const PHOTO: &[u8] = include_bytes!("../../pack/tests/fixtures/photo.jpg");

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

#[test]
fn the_pack_from_the_bindings_has_the_profile_and_shared_person_and_no_canary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let book = Casebook::open(path.to_string_lossy().into_owned(), vec![9; 32]).expect("open");
    let case = book
        .create_case(Profile {
            case_reference: "HUL-2026-0107".into(),
            given_name: "Thị Hương".into(),
            family_name: "Nguyễn".into(),
            ..Profile::default()
        })
        .expect("case");
    book.add_visit_note(
        case.clone(),
        VisitNote {
            place: "Foster home".into(),
            observations: VISIT_CANARY.into(),
            ..VisitNote::default()
        },
    )
    .expect("visit note");
    let shared = book
        .add_person(
            case.clone(),
            PersonOfConcern {
                name: "Ëndrit Hoxha".into(),
                aliases: vec!["محمد".into()],
                relationship: format!("{ASSOCIATES_CANARY}-relationship"),
                phone_numbers: vec![SHARED_PHONE.into()],
                vehicles: vec!["Silver Audi A4, YX17 ABC".into()],
                places: vec![format!("{ASSOCIATES_CANARY}-place")],
                notes: ASSOCIATES_CANARY.into(),
                ..PersonOfConcern::default()
            },
        )
        .expect("person");
    book.add_person(
        case.clone(),
        PersonOfConcern {
            name: format!("{ASSOCIATES_CANARY}-unshared-person"),
            phone_numbers: vec!["07700 900777".into()],
            ..PersonOfConcern::default()
        },
    )
    .expect("person");
    book.share_person_into_profile(case.clone(), shared.clone())
        .expect("share");
    let read = book.missing_person_profile(case.clone()).expect("profile");
    let profile = MissingPersonProfile {
        name: "Nguyễn Thị Hương".into(),
        known_as: vec!["ሰላም".into()],
        date_of_birth: Some("2010-04-02".into()),
        physical_description: "Slim, about 150 cm, long straight black hair, brown eyes".into(),
        distinguishing_marks: "Small scar above the left eyebrow".into(),
        languages: vec!["Vietnamese".into(), "some English".into()],
        interpreter_needed: true,
        medical_needs: "Asthma: blue inhaler".into(),
        vulnerabilities: "Trafficked into the UK; at risk of being re-trafficked to a nail bar"
            .into(),
        places_may_go: vec!["Nail bar, 3 High Street, Hull".into()],
        phones_and_accounts: vec!["Facebook: huong.nguyen.2010".into()],
        previous_missing_episodes: "Missing twice from a hotel in Kent before this placement"
            .into(),
        memorised_emergency_number: "07700 900999".into(),
        local_authority_contact: "Hull children's services, duty social worker".into(),
        local_authority_numbers: vec!["01482 300300".into()],
        out_of_hours_number: "01482 300304".into(),
        ..read
    };
    book.set_missing_person_profile(case.clone(), profile.clone())
        .expect("save profile");
    let again = book.missing_person_profile(case.clone()).expect("profile");
    assert_eq!(again.name, profile.name);
    assert_eq!(again.out_of_hours_number, profile.out_of_hours_number);

    // The photo kept on file (§39), set on this device: it is on the pack.
    book.set_profile_photo(case.clone(), PHOTO.to_vec())
        .expect("photo");

    let since = SystemTime::now() - Duration::from_secs(40 * 60);
    let episode = book
        .start_missing_episode(
            case.clone(),
            MissingEpisode {
                missing_since: Some(since),
                category: EpisodeCategory::AwayFromPlacement,
                last_seen_at: Some(since - Duration::from_secs(30 * 60)),
                last_seen: "Hull Paragon bus station".into(),
                last_seen_with: "Two older boys".into(),
                clothing: "Grey tracksuit, black cap".into(),
                police_reference: "HUM-2611-0042".into(),
                circumstances: "Did not come back from college".into(),
                ..MissingEpisode::default()
            },
        )
        .expect("episode");

    let pdf = book
        .police_pack_pdf(case.clone(), Some(episode))
        .expect("pack");
    assert!(pdf.starts_with(b"%PDF-"));
    let open = book.police_pack_pdf(case, None).expect("the open episode");
    assert!(open.starts_with(b"%PDF-"));

    let file = out_dir().join("from-bindings.pdf");
    std::fs::write(&file, &pdf).expect("write pdf");
    let file_arg = file.to_str().expect("utf-8 path");
    let text = String::from_utf8(poppler("pdftotext", &[file_arg, "-"])).expect("utf-8");
    for name in NAMES {
        assert!(text.contains(name), "{name} not found in:\n{text}");
    }
    assert!(text.contains(SHARED_PHONE), "{text}");
    assert!(text.contains("HUM-2611-0042"), "{text}");
    // The episode's own fields and its DfE category.
    for wanted in [
        "Grey tracksuit, black cap",
        "Two older boys",
        "AWAY FROM PLACEMENT WITHOUT AUTHORISATION",
    ] {
        assert!(text.contains(wanted), "{wanted} not found in:\n{text}");
    }
    assert!(!text.contains("No photo on file"), "{text}");
    let images = String::from_utf8(poppler("pdfimages", &["-list", file_arg])).expect("utf-8");
    assert!(
        images
            .lines()
            .skip(2)
            .any(|l| l.split_whitespace().nth(2) == Some("image")),
        "no image in the pack: {images}"
    );
    assert!(!text.contains("CANARY"), "{text}");
    assert!(
        !text.contains("07700 900777"),
        "the unshared person's number: {text}"
    );
    assert!(!String::from_utf8_lossy(&pdf).contains("CANARY"));

    let png_base = out_dir().join("from-bindings-page1");
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
            png_base.to_str().expect("utf-8 path"),
        ],
    );
    let png = png_base.with_extension("png");
    let bytes = std::fs::read(&png).expect("page 1 as PNG");
    assert!(bytes.starts_with(b"\x89PNG"), "{}", png.display());
}

//! Tests of the interpreter link check: a table of names and numbers, both ways, and the
//! decision a warned note needs before it is saved.

use super::*;
use crate::model::{InterpreterMode, LinkDecision};

fn person(name: &str, aliases: &[&str], phones: &[&str], organisation: &str) -> PersonOfConcern {
    PersonOfConcern {
        name: name.into(),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        phone_numbers: phones.iter().map(|p| (*p).to_owned()).collect(),
        organisation: organisation.into(),
        ..PersonOfConcern::default()
    }
}

fn interpreter(name: &str, phone: &str, agency: &str) -> Interpreter {
    Interpreter {
        mode: InterpreterMode::InPerson,
        name: name.into(),
        phone: phone.into(),
        agency: agency.into(),
        ..Interpreter::default()
    }
}

/// (interpreter name, associate name, whether they match)
const NAMES: &[(&str, &str, bool)] = &[
    ("Hung Nguyen", "Nguyễn Văn Hùng", true),
    ("Nguyen Van Hung", "Nguyễn Văn Hùng", true),
    ("HUNG NGUYEN", "nguyễn văn hùng", true),
    ("Nguyễn Hùng", "Hung Van Nguyen", true),
    ("Đặng Minh", "Dang Minh", true),
    ("dang thi minh", "Đặng Minh", true),
    ("Mai Tran", "Trần Thị Mai", true),
    ("José Álvarez", "jose alvarez", true),
    ("Ｈｕｎｇ Ｎｇｕｙｅｎ", "Hung Nguyen", true),
    ("Hung-Nguyen", "Nguyen, Hung", true),
    ("Aleksandra Nowak", "Nowak Aleksandra Maria", true),
    ("Hùng", "Hùng", true),
    ("Mai Tran", "Nguyễn Văn Hùng", false),
    ("Hung Tran", "Nguyễn Văn Hùng", false),
    ("Hung", "Nguyễn Văn Hùng", false),
    ("Nguyen", "Nguyen Van Hung", false),
    ("Linh Pham", "Lin Pham", false),
    ("Anna Nowak", "Aleksandra Nowak", false),
    ("", "Nguyễn Văn Hùng", false),
    ("Dung Le", "Đặng Lê", false),
];

/// (interpreter number, associate number, whether they match)
const PHONES: &[(&str, &str, bool)] = &[
    ("07700 900123", "+44 7700 900123", true),
    ("0044 7700-900-123", "+44 7700 900123", true),
    ("07700900123", "0044 7700-900-123", true),
    ("+447700900123", "07700 900123", true),
    ("(07700) 900 123", "+44 (0) 7700 900123", true),
    ("020 7946 0018", "+44 20 7946 0018", true),
    ("+84 912 345 678", "0084 912345678", true),
    ("07700 900123", "07700 900124", false),
    ("07700 900123", "+84 7700 900123", false),
    ("07700 900 999", "+44 7700 900123", false),
    ("020 7946 0018", "0161 496 0018", false),
    ("123", "123", false),
    ("", "+44 7700 900123", false),
];

fn linked(i: &Interpreter, p: &PersonOfConcern) -> Vec<PossibleLink> {
    let id = EntryId::from_bytes([7; 16]);
    links_to_persons(i, &[(id, p.clone())])
}

#[test]
fn names_match_regardless_of_case_accents_order_and_middle_names_and_only_then() {
    for (theirs, ours, expected) in NAMES {
        // Both ways: the interpreter's name against the person's, and the other way round.
        for (a, b) in [(theirs, ours), (ours, theirs)] {
            let links = linked(&interpreter(a, "", ""), &person(b, &[], &[], ""));
            assert_eq!(!links.is_empty(), *expected, "{a:?} ~ {b:?}");
            if *expected {
                assert_eq!(links[0].field, LinkField::Name);
                assert_eq!(links[0].matched, *b);
                assert_eq!(links[0].interpreter_value, *a);
            }
        }
    }
}

#[test]
fn phone_numbers_match_in_e164_and_only_then() {
    for (theirs, ours, expected) in PHONES {
        for (a, b) in [(theirs, ours), (ours, theirs)] {
            let links = linked(
                &interpreter("Someone Else", a, ""),
                &person("Nguyễn Văn Hùng", &[], &[b], ""),
            );
            assert_eq!(!links.is_empty(), *expected, "{a:?} ~ {b:?}");
            if *expected {
                assert_eq!(links[0].field, LinkField::Phone);
                assert_eq!(links[0].matched, *b);
            }
        }
    }
    assert_eq!(
        normalise_phone("0044 7700-900-123").as_deref(),
        Some("+447700900123")
    );
}

#[test]
fn hung_nguyen_is_warned_by_name_and_number_and_mai_tran_is_not() {
    let id = EntryId::from_bytes([3; 16]);
    let persons = vec![
        (
            id,
            person(
                "Nguyễn Văn Hùng",
                &["Anh Hai"],
                &["+44 7700 900123"],
                "Quick Lingo Ltd",
            ),
        ),
        (
            EntryId::from_bytes([4; 16]),
            person("Boss Li", &[], &["+44 20 7946 0000"], ""),
        ),
    ];
    let links = links_to_persons(
        &interpreter("Hung Nguyen", "07700 900123", "quick lingo LTD"),
        &persons,
    );
    let fields: Vec<LinkField> = links.iter().map(|l| l.field).collect();
    assert_eq!(
        fields,
        [LinkField::Name, LinkField::Phone, LinkField::Organisation]
    );
    assert!(links.iter().all(|l| l.person == id));
    assert!(links.iter().all(|l| l.person_name == "Nguyễn Văn Hùng"));
    assert!(links.iter().all(|l| !l.reason.is_empty()));
    // An alias matches as an alias.
    let alias = links_to_persons(&interpreter("Hai Anh", "", ""), &persons);
    assert_eq!(alias.len(), 1);
    assert_eq!(alias[0].field, LinkField::Alias);
    assert_eq!(alias[0].matched, "Anh Hai");
    // Mai Tran with an unrelated number and agency: nothing.
    assert!(
        links_to_persons(
            &interpreter("Mai Tran", "07700 900456", "Language Line"),
            &persons
        )
        .is_empty()
    );
}

#[test]
fn a_warned_note_needs_a_decision_on_this_interpreter_to_be_saved() {
    let persons = vec![(
        EntryId::from_bytes([3; 16]),
        person("Nguyễn Văn Hùng", &[], &["+44 7700 900123"], ""),
    )];
    let mut note = VisitNote {
        interpreter: interpreter("Hung Nguyen", "07700 900123", ""),
        ..VisitNote::default()
    };
    let links = links_to_persons(&note.interpreter, &persons);
    let err = check_interpreter_decision(&note, &links).expect_err("no decision");
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "interpreter_decision"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("Hung"), "{err}");
    // Proceed without a reason: refused.
    note.interpreter_decision = InterpreterDecision {
        outcome: LinkDecision::Proceed,
        interpreter_name: "Hung Nguyen".into(),
        interpreter_phone: "07700 900123".into(),
        ..InterpreterDecision::default()
    };
    check_interpreter_decision(&note, &links).expect_err("no reason");
    // With a reason: saved.
    note.interpreter_decision.reason =
        "the only Vietnamese interpreter today; vetted by phone".into();
    check_interpreter_decision(&note, &links).expect("proceed with a reason");
    // "Use another interpreter", yet the same interpreter: refused.
    note.interpreter_decision.outcome = LinkDecision::OtherInterpreter;
    check_interpreter_decision(&note, &links).expect_err("same interpreter");
    // A decision made on another interpreter does not cover this one.
    note.interpreter_decision.outcome = LinkDecision::Proceed;
    note.interpreter_decision.interpreter_phone = "07700 900999".into();
    check_interpreter_decision(&note, &links).expect_err("another interpreter's decision");
    // A note whose interpreter has no links needs nothing.
    let plain = VisitNote {
        interpreter: interpreter("Mai Tran", "07700 900456", ""),
        ..VisitNote::default()
    };
    let none = links_to_persons(&plain.interpreter, &persons);
    assert!(none.is_empty());
    check_interpreter_decision(&plain, &none).expect("no links");
}

#[test]
fn old_documents_without_the_new_fields_read_with_defaults() {
    let note: VisitNote = serde_json::from_value(serde_json::json!({
        "visited_at": null, "place": "", "attendees": [],
        "interpreter": {"mode": "in_person", "name": "A B", "agency": "", "language": "",
                        "vetting": "not_checked", "child_consented": null},
        "wishes_and_feelings": "", "observations": "", "actions": {},
        "review": {"status": "draft", "reviewer": null, "reviewed_at": null, "comment": ""}
    }))
    .expect("old note");
    assert_eq!(note.interpreter.phone, "");
    assert_eq!(note.interpreter_decision, InterpreterDecision::default());
    let person: PersonOfConcern = serde_json::from_value(serde_json::json!({
        "name": "X", "aliases": [], "relationship": "", "phone_numbers": [], "vehicles": [],
        "places": [], "notes": ""
    }))
    .expect("old person");
    assert_eq!(person.organisation, "");
}

#[test]
fn the_decision_is_stamped_with_who_decided_and_when_by_the_save() {
    use chrono::{TimeZone, Utc};

    use crate::doc::{Author, DocKind, Edit};
    use crate::ids::{CaseId, DeviceId, UserId};
    use crate::model::{Profile, new_case};

    let author = |n: u8| Author {
        user: UserId::from_bytes([n; 16]),
        device: DeviceId::from_bytes([n + 1; 16]),
    };
    let at = |h: u32| {
        Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0)
            .single()
            .expect("time")
    };
    let profile = Profile {
        case_reference: "HUL-26".into(),
        ..Profile::default()
    };
    let mut visits = new_case(
        CaseId::from_bytes([1; 16]),
        &Edit::new(author(1), at(9)),
        &profile,
    )
    .expect("case")
    .into_iter()
    .find(|d| d.kind() == DocKind::Visits)
    .expect("visits");
    let id = EntryId::from_bytes([2; 16]);
    let note = VisitNote {
        interpreter: interpreter("Hung Nguyen", "07700 900123", ""),
        interpreter_decision: InterpreterDecision {
            outcome: LinkDecision::Proceed,
            reason: "checked".into(),
            interpreter_name: "Hung Nguyen".into(),
            interpreter_phone: "07700 900123".into(),
            // Whatever the caller claims, the edit says who and when.
            decided_by: Some(UserId::from_bytes([9; 16])),
            decided_at: None,
        },
        ..VisitNote::default()
    };
    visits
        .add_visit_note(&Edit::new(author(1), at(10)), id, &note)
        .expect("add");
    let saved = visits.visit_note(id).expect("read").interpreter_decision;
    assert_eq!(saved.decided_by, Some(author(1).user));
    assert_eq!(saved.decided_at, Some(at(10)));
    // Someone else saves the note with the decision unchanged: it stays the first person's.
    let mut later = visits.visit_note(id).expect("read");
    later.observations = "More.".into();
    visits
        .update_visit_note(&Edit::new(author(3), at(11)), id, &later)
        .expect("update");
    let kept = visits.visit_note(id).expect("read").interpreter_decision;
    assert_eq!(
        (kept.decided_by, kept.decided_at),
        (Some(author(1).user), Some(at(10)))
    );
    // A changed decision is theirs.
    later.interpreter_decision.reason = "checked again with the agency".into();
    visits
        .update_visit_note(&Edit::new(author(3), at(12)), id, &later)
        .expect("update");
    let changed = visits.visit_note(id).expect("read").interpreter_decision;
    assert_eq!(
        (changed.decided_by, changed.decided_at),
        (Some(author(3).user), Some(at(12)))
    );
    // A note without a decision records none.
    let plain = EntryId::from_bytes([4; 16]);
    visits
        .add_visit_note(&Edit::new(author(1), at(13)), plain, &VisitNote::default())
        .expect("add");
    assert_eq!(
        visits.visit_note(plain).expect("read").interpreter_decision,
        InterpreterDecision::default()
    );
}

/// The folding as first written: the whole string's NFKD, then marks dropped. The fast fold
/// (each character decomposed on its own, ASCII passed through) must give the same words.
fn fold_words_by_string_nfkd(name: &str) -> Vec<String> {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    let mut words = Vec::new();
    let mut word = String::new();
    for c in name.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        let c = match c {
            'đ' | 'Đ' => 'd',
            other => other,
        };
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[test]
fn the_fast_fold_gives_the_words_of_the_strings_nfkd() {
    for name in [
        "Nguyễn Văn Hùng",
        "NGUYỄN  văn-HÙNG",
        "Đặng Thị Hương",
        "Ëndrit Hoxha",
        "Mai Tran",
        "O'Brien-Smith, Jr.",
        "ﬁona ＡＢＣ １２３",
        "محمد عبد الله",
        "김민준",
        "Zoë Ångström Øster",
        "e\u{0301}\u{0323}le\u{0300}ve",
        "ǅemal ß ǈ",
        "",
        "   ",
        "Ⅻ Ⓐ ㍿",
    ] {
        assert_eq!(
            fold_words(name),
            fold_words_by_string_nfkd(name),
            "{name:?}"
        );
    }
}

//! Tests of the write rules: the decision table for every role and kind, and refusals of the
//! attacks a modified app could send (deleting, replacing, forging authors).

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT};
use chrono::{TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::doc::{Author, DocId, Edit};
use crate::ids::{CaseId, DeviceId};
use crate::model::{PersonOfConcern, new_case};

struct World {
    rng: StdRng,
    docs: Vec<CaseDoc>,
    guardian: Author,
}

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0)
        .single()
        .expect("time")
}

fn person(rng: &mut StdRng) -> Author {
    Author {
        user: UserId::random(rng),
        device: DeviceId::random(rng),
    }
}

fn world(seed: u64) -> World {
    let mut rng = StdRng::seed_from_u64(seed);
    let guardian = person(&mut rng);
    let case = CaseId::random(&mut rng);
    let profile = Profile {
        case_reference: "HUL-1".into(),
        ..Profile::default()
    };
    let docs = new_case(case, &Edit::new(guardian, at()), &profile).expect("case");
    World {
        rng,
        docs,
        guardian,
    }
}

impl World {
    fn doc(&mut self, kind: DocKind) -> &mut CaseDoc {
        self.docs
            .iter_mut()
            .find(|d| d.kind() == kind)
            .expect("every kind")
    }

    fn id(&mut self) -> EntryId {
        EntryId::random(&mut self.rng)
    }
}

fn writer(author: Author, role: WriterRole) -> Writer {
    Writer {
        user: author.user,
        role,
        device: author.device,
    }
}

/// The table restated, checked against `allowed` for every combination.
#[test]
fn the_decision_table_for_every_role_class_and_action() {
    use RecordClass as C;
    use WriteAction as A;
    use WriterRole as R;
    for role in R::ALL {
        let team = matches!(role, R::Guardian | R::SocialWorker | R::Supervisor);
        for class in [
            C::Skeleton,
            C::CaseRecord,
            C::Plan,
            C::PlanReview,
            C::CarerLog,
            C::Resolution,
            C::MissingPerson,
            C::MissingProfile,
            C::SharedPerson,
        ] {
            for action in [A::Add, A::Change, A::Remove] {
                for own in [false, true] {
                    let expected = match (class, action) {
                        (C::SharedPerson, _) => team,
                        (_, A::Remove) | (C::Skeleton, _) => false,
                        (C::PlanReview, _) => role == R::Supervisor,
                        (C::MissingProfile, _) => team || role == R::Carer,
                        (C::CaseRecord | C::Plan, _) => team,
                        (C::CarerLog, A::Add) => team || role == R::Carer,
                        (C::CarerLog, A::Change) => team || (role == R::Carer && own),
                        (C::Resolution, A::Add) => role != R::Administrator,
                        (C::Resolution, A::Change) => false,
                        (C::MissingPerson, _) => team || role == R::Carer,
                    };
                    assert_eq!(
                        allowed(role, class, action, own),
                        expected,
                        "{role} {class:?} {action:?} own={own}"
                    );
                }
            }
        }
    }
}

type Op = fn(&mut CaseDoc, &Edit, EntryId) -> Result<()>;

/// Typical edits of each kind, and the class of record each touches.
fn typical_edits() -> Vec<(DocKind, &'static str, RecordClass, Op)> {
    vec![
        (
            DocKind::Profile,
            "change profile",
            RecordClass::CaseRecord,
            |d, e, _| {
                let mut p = d.profile()?;
                p.given_name = "Linh".into();
                d.set_profile(e, &p)
            },
        ),
        (
            DocKind::Location,
            "move placement",
            RecordClass::CaseRecord,
            |d, e, id| {
                let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
                d.move_placement(e, id, day, &Placement::default())
            },
        ),
        (
            DocKind::Visits,
            "add visit note",
            RecordClass::CaseRecord,
            |d, e, id| d.add_visit_note(e, id, &VisitNote::default()),
        ),
        (
            DocKind::Associates,
            "add person",
            RecordClass::CaseRecord,
            |d, e, id| d.add_person(e, id, &PersonOfConcern::default()),
        ),
        (
            DocKind::Safety,
            "add plan step",
            RecordClass::Plan,
            |d, e, id| d.add_plan_step(e, id, &PlanStep::default()),
        ),
        (
            DocKind::Safety,
            "set feel_safe",
            RecordClass::Plan,
            |d, e, _| d.set_feel_safe(e, "Her sister's photo"),
        ),
        (
            DocKind::Safety,
            "set placement start",
            RecordClass::Plan,
            |d, e, _| d.set_placement_started_at(e, Some(at())),
        ),
        (
            DocKind::Safety,
            "log check",
            RecordClass::CarerLog,
            |d, e, id| d.log_safety_check(e, id, &SafetyCheck::default()),
        ),
        (
            DocKind::Safety,
            "start episode",
            RecordClass::CarerLog,
            |d, e, id| {
                let episode = MissingEpisode {
                    missing_since: Some(at()),
                    ..MissingEpisode::default()
                };
                d.start_missing_episode(e, id, &episode)
            },
        ),
    ]
}

#[test]
fn every_role_and_kind_typical_edits_follow_the_table() {
    for role in WriterRole::ALL {
        for (kind, what, class, op) in typical_edits() {
            let mut w = world(11);
            let someone = person(&mut w.rng);
            let id = w.id();
            let edit = Edit::new(someone, at());
            let doc = w.doc(kind);
            let before = doc.save();
            let result = doc.edit_checked(&writer(someone, role), |d| op(d, &edit, id));
            // Changing a profile, feel_safe or the current placement is a change; the rest
            // are additions.
            let action = if matches!(
                what,
                "change profile" | "set feel_safe" | "set placement start" | "move placement"
            ) {
                WriteAction::Change
            } else {
                WriteAction::Add
            };
            let expected = allowed(role, class, action, false);
            assert_eq!(result.is_ok(), expected, "{role} {kind} {what}: {result:?}");
            if let Err(e) = result {
                assert!(matches!(e, Error::NotPermitted { .. }), "{e:?}");
                assert_eq!(doc.save(), before, "{role} {kind} {what}: nothing written");
            }
        }
    }
}

#[test]
fn a_carer_edits_their_own_check_but_not_another_carers_nor_a_plan_step() {
    let mut w = world(12);
    let carer_a = person(&mut w.rng);
    let carer_b = person(&mut w.rng);
    let (step, check) = (w.id(), w.id());
    let guardian = w.guardian;
    let safety = w.doc(DocKind::Safety);
    safety
        .add_plan_step(
            &Edit::new(guardian, at()),
            step,
            &PlanStep {
                description: "24-hour supervision".into(),
                ..PlanStep::default()
            },
        )
        .expect("guardian's step");
    let a = writer(carer_a, WriterRole::Carer);
    let b = writer(carer_b, WriterRole::Carer);
    let as_a = Edit::new(carer_a, at());
    let as_b = Edit::new(carer_b, at());
    safety
        .edit_checked(&a, |d| {
            d.log_safety_check(&as_a, check, &SafetyCheck::default())
        })
        .expect("a carer adds a check");
    let amended = SafetyCheck {
        note: "Seen at breakfast".into(),
        ..SafetyCheck::default()
    };
    safety
        .edit_checked(&a, |d| d.update_entry(&as_a, &["checks"], check, &amended))
        .expect("a carer edits their own check");
    let err = safety
        .edit_checked(&b, |d| {
            d.update_entry(&as_b, &["checks"], check, &SafetyCheck::default())
        })
        .expect_err("another carer's check");
    assert!(err.to_string().contains(&check.to_string()), "{err}");

    let err = safety
        .edit_checked(&a, |d| {
            d.update_plan_step(&as_a, step, &PlanStep::default())
        })
        .expect_err("a carer edits a plan step");
    assert!(
        matches!(&err, Error::NotPermitted { record, .. } if record == &format!("plan step {step}")),
        "{err:?}"
    );
    let guardian_edit = Edit::new(guardian, at());
    safety
        .edit_checked(&writer(guardian, WriterRole::Guardian), |d| {
            d.update_plan_step(&guardian_edit, step, &PlanStep::default())?;
            d.update_entry(&guardian_edit, &["checks"], check, &SafetyCheck::default())
        })
        .expect("the guardian edits the step and the carer's check");
}

/// Raw automerge edits, as a modified app would make them, under a proper commit note.
fn raw(
    doc: &mut CaseDoc,
    author: Author,
    f: impl FnOnce(&mut automerge::AutoCommit) -> Result<()>,
) {
    doc.edit(&Edit::new(author, at()), "raw", f)
        .expect("raw edit");
}

#[test]
fn nobody_deletes_or_replaces_entries_or_the_skeleton() {
    let mut w = world(13);
    let step = w.id();
    let guardian = w.guardian;
    let carer = person(&mut w.rng);
    let safety = w.doc(DocKind::Safety);
    safety
        .add_plan_step(&Edit::new(guardian, at()), step, &PlanStep::default())
        .expect("step");
    let steps = safety.object(&["plan_steps"]).expect("steps");
    let key = step.to_string();
    for role in [WriterRole::Carer, WriterRole::Guardian] {
        let author = if role == WriterRole::Carer {
            carer
        } else {
            guardian
        };
        let who = writer(author, role);
        let deleted = safety.edit_checked(&who, |d| {
            raw(d, author, |am| Ok(am.delete(&steps, key.as_str())?));
            Ok(())
        });
        assert!(deleted.is_err(), "{role} deleting a plan step");
        let replaced = safety.edit_checked(&who, |d| {
            raw(d, author, |am| {
                am.put_object(&steps, key.as_str(), ObjType::Map)?;
                Ok(())
            });
            Ok(())
        });
        assert!(replaced.is_err(), "{role} replacing a plan step");
        for skeleton in ["plan_steps", "checks", "feel_safe", "resolutions", "kind"] {
            let gone = safety.edit_checked(&who, |d| {
                raw(d, author, |am| Ok(am.delete(ROOT, skeleton)?));
                Ok(())
            });
            let err = gone.expect_err("deleting the skeleton");
            assert!(err.to_string().contains(skeleton), "{err}");
            let swapped = safety.edit_checked(&who, |d| {
                raw(d, author, |am| {
                    am.put_object(ROOT, skeleton, ObjType::Map)?;
                    Ok(())
                });
                Ok(())
            });
            assert!(swapped.is_err(), "{role} replacing {skeleton}");
        }
        let added = safety.edit_checked(&who, |d| {
            raw(d, author, |am| Ok(am.put(ROOT, "extra", "x")?));
            Ok(())
        });
        assert!(added.is_err(), "{role} adding a top-level field");
    }
    assert_eq!(safety.plan_steps().expect("steps").len(), 1);
}

#[test]
fn a_change_in_another_users_name_or_an_unreadable_record_is_refused() {
    let mut w = world(14);
    let carer = person(&mut w.rng);
    let guardian = w.guardian;
    let check = w.id();
    let safety = w.doc(DocKind::Safety);
    let forged = safety.edit_checked(&writer(carer, WriterRole::Carer), |d| {
        d.log_safety_check(&Edit::new(guardian, at()), check, &SafetyCheck::default())
    });
    let err = forged.expect_err("a change signed with the guardian's name");
    assert!(err.to_string().contains("recorded author"), "{err}");

    let checks = safety.object(&["checks"]).expect("checks");
    let bogus = safety.edit_checked(&writer(carer, WriterRole::Carer), |d| {
        raw(d, carer, |am| {
            let entry = am.put_object(&checks, check.to_string().as_str(), ObjType::Map)?;
            am.put(&entry, "outcome", "CANARY-not-an-outcome")?;
            Ok(())
        });
        Ok(())
    });
    let err = bogus.expect_err("a check that does not read");
    assert!(err.to_string().contains("does not read"), "{err}");
    assert!(!err.to_string().contains("CANARY"), "{err}");
    let bad_key = safety.edit_checked(&writer(carer, WriterRole::Carer), |d| {
        raw(d, carer, |am| {
            am.put_object(&checks, "not-an-id", ObjType::Map)?;
            Ok(())
        });
        Ok(())
    });
    assert!(bad_key.is_err());
    assert!(safety.safety_checks().expect("checks").is_empty());
}

#[test]
fn only_the_case_team_creates_a_document() {
    let mut w = world(15);
    let carer = person(&mut w.rng);
    let id = w.doc(DocKind::Safety).id();
    let mut made = w.doc(DocKind::Safety).save();
    let after = automerge::Automerge::load(&made).expect("load");
    let empty = automerge::Automerge::new();
    let guardian = writer(w.guardian, WriterRole::Guardian);
    assert_eq!(
        check_write(DocKind::Safety, &empty, &after, &guardian),
        Ok(())
    );
    let by_carer = writer(carer, WriterRole::Carer);
    assert!(check_write(DocKind::Safety, &empty, &after, &by_carer).is_err());
    assert!(check_write(DocKind::Visits, &empty, &after, &guardian).is_err());
    made.clear();
    assert_eq!(id.kind, DocKind::Safety);
}

#[test]
fn the_case_team_keeps_every_ordinary_edit() {
    let mut w = world(16);
    let guardian = w.guardian;
    let g = writer(guardian, WriterRole::Guardian);
    let edit = Edit::new(guardian, at());
    let (note, action) = (w.id(), w.id());
    let visits = w.doc(DocKind::Visits);
    visits
        .edit_checked(&g, |d| {
            d.add_visit_note(&edit, note, &VisitNote::default())?;
            d.add_action(&edit, note, action, &crate::model::Action::default())?;
            d.review_visit_note(&edit, note, crate::model::ReviewStatus::Submitted, "ok")
        })
        .expect("visit note, action, review");
    assert_eq!(visits.visit_notes().expect("notes").len(), 1);
    let id = DocId::new(visits.id().case, DocKind::Visits);
    assert_eq!(visits.id(), id);
}

/// A modified app writes under another device: its change names the other device in the
/// commit note, or carries the other device's automerge actor (which would also make automerge
/// refuse that device's own next change as a duplicate sequence number). Both are refused; the
/// writer's own device, and a fork actor of its own, are accepted.
#[test]
fn a_change_under_another_devices_name_or_actor_is_refused() {
    let mut w = world(15);
    let carer = person(&mut w.rng);
    let guardian = w.guardian;
    let (first, second, third) = (w.id(), w.id(), w.id());
    let safety = w.doc(DocKind::Safety);
    let as_carer = writer(carer, WriterRole::Carer);

    let posing = Author {
        user: carer.user,
        device: guardian.device,
    };
    let err = safety
        .edit_checked(&as_carer, |d| {
            d.log_safety_check(&Edit::new(posing, at()), first, &SafetyCheck::default())
        })
        .expect_err("a note naming the guardian's device");
    assert!(err.to_string().contains("recorded device"), "{err}");

    let checks = safety.object(&["checks"]).expect("checks");
    let err = safety
        .edit_checked(&as_carer, |d| {
            raw(d, carer, |am| {
                am.set_actor(automerge::ActorId::from(guardian.device.as_bytes()));
                let entry = am.put_object(&checks, second.to_string().as_str(), ObjType::Map)?;
                am.put(&entry, "outcome", "done")?;
                Ok(())
            });
            Ok(())
        })
        .expect_err("a change under the guardian's actor");
    assert!(err.to_string().contains("another device's actor"), "{err}");
    assert!(safety.safety_checks().expect("checks").is_empty());

    safety
        .edit_checked(&as_carer, |d| {
            d.log_safety_check(&Edit::new(carer, at()), third, &SafetyCheck::default())
        })
        .expect("the carer's own device and actor");
}

/// The rules compare only the entries the new changes' operations touched: a forbidden edit
/// deep inside one entry among many (a raw splice into a plan step's text, next to an allowed
/// new check) is still found and named, and the checked changes handed to the repository are
/// exactly the edit's.
#[test]
fn a_forbidden_edit_hidden_among_many_entries_is_found_and_named() {
    let mut w = world(21);
    let guardian = w.guardian;
    let carer = person(&mut w.rng);
    let steps: Vec<EntryId> = (0..30).map(|_| w.id()).collect();
    let check = w.id();
    let safety = w.doc(DocKind::Safety);
    for (n, step) in steps.iter().enumerate() {
        let plan = PlanStep {
            description: format!("step {n}"),
            ..PlanStep::default()
        };
        safety
            .add_plan_step(&Edit::new(guardian, at()), *step, &plan)
            .expect("step");
    }
    let hidden = steps[17];
    let text = safety
        .object(&["plan_steps", &hidden.to_string(), "description"])
        .expect("description text");
    let as_carer = writer(carer, WriterRole::Carer);
    let err = safety
        .edit_checked(&as_carer, |d| {
            d.log_safety_check(&Edit::new(carer, at()), check, &SafetyCheck::default())?;
            raw(d, carer, |am| Ok(am.splice_text(&text, 0, 0, "not ")?));
            Ok(())
        })
        .expect_err("a carer's splice into a plan step");
    assert!(
        matches!(&err, Error::NotPermitted { record, .. } if record == &format!("plan step {hidden}")),
        "{err:?}"
    );
    assert!(safety.checked.is_none(), "a refused edit hands nothing on");

    let before = safety.heads();
    safety
        .edit_checked(&as_carer, |d| {
            d.log_safety_check(&Edit::new(carer, at()), check, &SafetyCheck::default())
        })
        .expect("the carer's own check");
    let after = safety.heads();
    let expected: Vec<_> = safety
        .changes_after(&before)
        .iter()
        .map(automerge::Change::hash)
        .collect();
    let checked = safety.take_checked_changes(&before).expect("handed on");
    assert_eq!(checked.to, after);
    let handed: Vec<_> = checked
        .changes
        .iter()
        .map(automerge::Change::hash)
        .collect();
    assert_eq!(handed, expected);
    assert_eq!(
        checked.touched,
        Some(BTreeSet::from([(
            "checks".to_owned(),
            Some(check.to_string())
        )]))
    );
    // Changes handed on are used once, and not after the document changed again.
    assert!(safety.take_checked_changes(&before).is_none());
    safety
        .edit_checked(&as_carer, |d| {
            d.update_entry(
                &Edit::new(carer, at()),
                &["checks"],
                check,
                &SafetyCheck {
                    note: "again".into(),
                    ..SafetyCheck::default()
                },
            )
        })
        .expect("edit");
    safety
        .set_feel_safe(&Edit::new(guardian, at()), "football")
        .expect("an unchecked edit after it");
    assert!(safety.take_checked_changes(&after).is_none());
}

#[test]
fn the_case_team_sets_and_changes_the_placement_start_a_carer_does_not() {
    let mut w = world(21);
    let guardian = w.guardian;
    let carer = person(&mut w.rng);
    let safety = w.doc(DocKind::Safety);
    let as_guardian = writer(guardian, WriterRole::Guardian);
    let edit = Edit::new(guardian, at());
    let earlier = at() - chrono::TimeDelta::days(2);
    safety
        .edit_checked(&as_guardian, |d| {
            d.set_placement_started_at(&edit, Some(at()))
        })
        .expect("set");
    // Changing the scalar again is a change of the record, not of the skeleton.
    safety
        .edit_checked(&as_guardian, |d| {
            d.set_placement_started_at(&edit, Some(earlier))
        })
        .expect("changed");
    assert_eq!(safety.placement_started_at().expect("read"), Some(earlier));
    let before = safety.save();
    let err = safety
        .edit_checked(&writer(carer, WriterRole::Carer), |d| {
            d.set_placement_started_at(&Edit::new(carer, at()), None)
        })
        .expect_err("a carer may not");
    assert!(matches!(err, Error::NotPermitted { .. }), "{err:?}");
    assert_eq!(safety.save(), before);
    // A value that is not a time is refused, as is an object in its place.
    for bad in [0, 1] {
        let err = safety
            .edit_checked(&as_guardian, |d| {
                d.edit(&edit, "raw", |am| {
                    if bad == 0 {
                        am.put(ROOT, "placement_started_at", "next Tuesday")?;
                    } else {
                        am.put_object(ROOT, "placement_started_at", ObjType::Map)?;
                    }
                    Ok(())
                })
            })
            .expect_err("not a time");
        assert!(matches!(err, Error::NotPermitted { .. }), "{err:?}");
    }
}

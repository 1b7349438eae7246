//! The `profile` document: who the child is, their status, and the dates that drive their
//! plans. Its fields live at the document root.

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::nrm::{NrmRoute, PanelMember};
use crate::doc::{CaseDoc, DocKind, Edit, Record};
use crate::error::{Error, Result};

/// How far back a child's date of birth may lie, in years: support for care leavers runs to
/// 25, so an older date for someone treated as a child is a typing error.
pub const MAX_CHILD_AGE_YEARS: u32 = 25;

/// How the child's age is known. Where it is in doubt the child is treated as a child until a
/// full age assessment shows otherwise (statutory guidance, "Definitions").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeStatus {
    /// Age established from documents.
    Documented,
    /// Age claimed by the child and not disputed.
    #[default]
    Claimed,
    /// Age disputed: treat as a child until assessed.
    DisputedTreatAsChild,
    /// A full age assessment found the person to be an adult.
    AssessedAdult,
}

impl AgeStatus {
    /// Whether Casebook treats the person as a child: always, unless assessed as an adult.
    pub fn treat_as_child(self) -> bool {
        self != AgeStatus::AssessedAdult
    }
}

/// The legal basis on which the child is looked after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// Not yet recorded.
    #[default]
    NotRecorded,
    /// A care order.
    CareOrder,
    /// Accommodated under section 20 of the Children Act 1989.
    Section20,
    /// Police protection.
    PoliceProtection,
    /// Another basis, described in the case notes.
    Other,
}

/// A National Referral Mechanism (or local pilot panel) decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NrmDecision {
    /// No decision yet.
    #[default]
    Pending,
    /// Positive: grounds found.
    Positive,
    /// Negative: grounds not found.
    Negative,
}

/// The NRM referral and its decisions (checked by [`Nrm::validate`]; the route, panels and
/// rules are in `nrm.rs`). Fields added after the first release read as empty in older
/// documents.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Nrm {
    /// When the referral was made.
    pub referred_on: Option<NaiveDate>,
    /// The first responder who referred (agency, and person if known).
    pub referred_by: String,
    /// Who decides, as text (kept from the first release; [`Nrm::route`] is the checked
    /// field).
    pub decision_maker: String,
    /// Reasonable grounds decision.
    pub reasonable_grounds: NrmDecision,
    /// Date of the reasonable grounds decision.
    pub reasonable_grounds_on: Option<NaiveDate>,
    /// Conclusive grounds decision.
    pub conclusive_grounds: NrmDecision,
    /// Date of the conclusive grounds decision.
    pub conclusive_grounds_on: Option<NaiveDate>,
    /// Who decides: the Home Office or the local safeguarding partners' panel.
    pub route: NrmRoute,
    /// The reasons given for the reasonable grounds decision.
    pub reasonable_grounds_reasons: String,
    /// Who recorded the reasonable grounds decision.
    pub reasonable_grounds_recorded_by: String,
    /// The panel that made the reasonable grounds decision (local panel route).
    pub reasonable_grounds_panel: Vec<PanelMember>,
    /// The reasons given for the conclusive grounds decision.
    pub conclusive_grounds_reasons: String,
    /// Who recorded the conclusive grounds decision.
    pub conclusive_grounds_recorded_by: String,
    /// The panel that made the conclusive grounds decision (local panel route).
    pub conclusive_grounds_panel: Vec<PanelMember>,
}

/// Where an asylum or immigration claim stands (statutory guidance, paragraph 58).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImmigrationOutcome {
    /// No claim made, or not recorded.
    #[default]
    NotRecorded,
    /// Claim made, awaiting decision.
    Pending,
    /// Granted refugee status.
    RefugeeStatus,
    /// Refused asylum, granted humanitarian protection.
    HumanitarianProtection,
    /// Refused asylum, granted UASC leave.
    UascLeave,
    /// Refused with no grant of leave.
    RefusedNoLeave,
    /// Appeal lodged.
    Appealing,
}

/// Immigration and asylum status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Immigration {
    /// Whether an asylum claim has been made.
    pub asylum_claimed: bool,
    /// When it was made.
    pub claimed_on: Option<NaiveDate>,
    /// The current outcome.
    pub outcome: ImmigrationOutcome,
    /// When the outcome was decided.
    pub decided_on: Option<NaiveDate>,
    /// When any leave granted expires.
    pub leave_expires_on: Option<NaiveDate>,
    /// The child's legal representative (regulated solicitor or OISC adviser).
    pub legal_representative: String,
    /// When a decision on a pending claim or appeal is expected (as the Home Office or the
    /// legal representative gave it), if known.
    #[serde(default)]
    pub decision_due_on: Option<NaiveDate>,
    /// When an application to extend leave was made (before the leave ended).
    #[serde(default)]
    pub extension_applied_on: Option<NaiveDate>,
}

/// Dates of the child's plans (next review due).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlanDates {
    /// Care plan.
    pub care_plan: Option<NaiveDate>,
    /// Health plan.
    pub health_plan: Option<NaiveDate>,
    /// Personal education plan.
    pub education_plan: Option<NaiveDate>,
    /// Pathway plan (transition to adulthood).
    pub pathway_plan: Option<NaiveDate>,
}

/// Whether an independent visitor was offered and the child's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IndependentVisitor {
    /// When the offer was made.
    pub offered_on: Option<NaiveDate>,
    /// Whether the child declined.
    pub declined: bool,
    /// The child's reasons for declining, which must be recorded.
    pub declined_reason: String,
}

/// The child's profile.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Profile {
    /// The local authority's case reference.
    pub case_reference: String,
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Other names the child has used or been given.
    pub aliases: Vec<String>,
    /// Date of birth, if known.
    pub date_of_birth: Option<NaiveDate>,
    /// The age the child gives, if the date of birth is unknown.
    pub claimed_age: Option<u8>,
    /// How the age is known.
    pub age_status: AgeStatus,
    /// Nationality.
    pub nationality: String,
    /// Languages and dialects, most fluent first ("Vietnamese (northern)").
    pub languages: Vec<String>,
    /// Interpreter needs: language, dialect, gender preference, people to avoid.
    pub interpreter_needs: String,
    /// Unaccompanied asylum-seeking child.
    pub unaccompanied: bool,
    /// Known or suspected victim of trafficking.
    pub trafficked: bool,
    /// Legal basis of care.
    pub legal_basis: LegalBasis,
    /// Allocated guardian (ICTG), by name.
    pub allocated_guardian: String,
    /// Allocated social worker, by name.
    pub allocated_social_worker: String,
    /// NRM referral and decisions.
    pub nrm: Nrm,
    /// Immigration and asylum status.
    pub immigration: Immigration,
    /// Plan review dates.
    pub plans: PlanDates,
    /// Independent visitor offer.
    pub independent_visitor: IndependentVisitor,
    /// Reference to the photograph kept on file for use if the child goes missing.
    pub photo_reference: Option<String>,
    /// The date of birth the local authority accepts where the age is in doubt (a working
    /// date, or the one an age assessment found); deadlines tied to the child's age (16,
    /// 17½, 18) count from it when set, else from `date_of_birth`.
    #[serde(default)]
    pub accepted_date_of_birth: Option<NaiveDate>,
    /// The personal adviser appointed for the move to adulthood (due at 18), by name.
    #[serde(default)]
    pub personal_adviser: String,
}

impl Record for Profile {
    const NAME: &'static str = "profile";
    const TEXT_FIELDS: &'static [&'static str] = &["interpreter_needs", "declined_reason"];
}

impl Profile {
    /// Check the profile's dates against `now` (the caller's clock): a date of birth may not
    /// lie in the future, nor, while the person is treated as a child (see
    /// [`AgeStatus::treat_as_child`]), more than [`MAX_CHILD_AGE_YEARS`] years back.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        let today = now.date_naive();
        if self.accepted_date_of_birth.is_some_and(|d| d > today) {
            return Err(Error::invalid("accepted_date_of_birth", "is in the future"));
        }
        let Some(born) = self.date_of_birth else {
            return Ok(());
        };
        if born > today {
            return Err(Error::invalid("date_of_birth", "is in the future"));
        }
        let earliest = today.checked_sub_months(Months::new(12 * MAX_CHILD_AGE_YEARS));
        if self.age_status.treat_as_child() && earliest.is_some_and(|e| born < e) {
            return Err(Error::invalid(
                "date_of_birth",
                format!("is more than {MAX_CHILD_AGE_YEARS} years ago for a child"),
            ));
        }
        Ok(())
    }

    /// The name shown in case lists.
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
            .trim()
            .to_owned()
    }
}

impl CaseDoc {
    /// The profile (profile document).
    pub fn profile(&self) -> Result<Profile> {
        self.expect_kind(DocKind::Profile)?;
        self.read_at(&[])
    }

    /// Update the profile, touching only the fields that differ.
    /// A date of birth or age status that changes is checked ([`Profile::validate`]) at the
    /// edit's time, and so is an NRM record that changes ([`Nrm::validate`]); one left as it
    /// was is not, so a case that outlived the check stays editable.
    pub fn set_profile(&mut self, edit: &Edit, profile: &Profile) -> Result<()> {
        self.expect_kind(DocKind::Profile)?;
        let before = self.profile()?;
        if before.date_of_birth != profile.date_of_birth
            || before.age_status != profile.age_status
            || before.accepted_date_of_birth != profile.accepted_date_of_birth
        {
            profile.validate(edit.at)?;
        }
        if before.nrm != profile.nrm {
            profile.nrm.validate(edit.at)?;
        }
        self.write_at(edit, &[], profile)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::doc::Author;
    use crate::ids::{CaseId, DeviceId, UserId};
    use crate::model::new_case;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
            .single()
            .expect("time")
    }

    fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    fn edit() -> Edit {
        let mut rng = rand::rngs::OsRng;
        let author = Author {
            user: UserId::random(&mut rng),
            device: DeviceId::random(&mut rng),
        };
        Edit::new(author, now())
    }

    fn born(on: Option<NaiveDate>) -> Profile {
        Profile {
            case_reference: "LA-1".into(),
            date_of_birth: on,
            ..Profile::default()
        }
    }

    fn refused(result: Result<()>) -> String {
        match result {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "date_of_birth");
                reason
            }
            other => panic!("expected a refused date of birth, got {other:?}"),
        }
    }

    #[test]
    fn a_date_of_birth_in_the_future_is_refused() {
        let reason = refused(born(date(2026, 12, 1)).validate(now()));
        assert!(reason.contains("future"), "{reason}");
        assert!(born(date(2026, 11, 30)).validate(now()).is_ok(), "today");
        assert!(born(None).validate(now()).is_ok(), "unknown");
    }

    #[test]
    fn a_child_born_more_than_25_years_ago_is_refused_an_assessed_adult_is_not() {
        let reason = refused(born(date(2001, 11, 29)).validate(now()));
        assert!(reason.contains("25 years"), "{reason}");
        assert!(
            born(date(2001, 11, 30)).validate(now()).is_ok(),
            "exactly 25"
        );
        for status in [
            AgeStatus::Documented,
            AgeStatus::Claimed,
            AgeStatus::DisputedTreatAsChild,
        ] {
            let p = Profile {
                age_status: status,
                ..born(date(1990, 1, 1))
            };
            refused(p.validate(now()));
        }
        let adult = Profile {
            age_status: AgeStatus::AssessedAdult,
            ..born(date(1990, 1, 1))
        };
        assert!(adult.validate(now()).is_ok());
    }

    #[test]
    fn creating_a_case_or_saving_a_profile_checks_the_date_of_birth() {
        let e = edit();
        let case = CaseId::random(&mut rand::rngs::OsRng);
        refused(new_case(case, &e, &born(date(2030, 1, 1))).map(|_| ()));
        let mut docs = new_case(case, &e, &born(date(2012, 5, 1))).expect("a case");
        let profile = docs
            .iter_mut()
            .find(|d| d.id().kind == DocKind::Profile)
            .expect("profile document");
        refused(profile.set_profile(&e, &born(date(2030, 1, 1))));
        refused(profile.set_profile(&e, &born(date(1980, 1, 1))));
        assert_eq!(
            profile.profile().expect("read").date_of_birth,
            date(2012, 5, 1)
        );
        profile
            .set_profile(&e, &born(date(2011, 5, 1)))
            .expect("a plausible date");
    }
}

//! The `profile` document: who the child is, their status, and the dates that drive their
//! plans. Its fields live at the document root.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::doc::{CaseDoc, DocKind, Edit, Record};
use crate::error::Result;

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

/// The NRM referral and its decisions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Nrm {
    /// When the referral was made.
    pub referred_on: Option<NaiveDate>,
    /// Who referred (agency).
    pub referred_by: String,
    /// Who decides: the Home Office competent authority or a local pilot panel.
    pub decision_maker: String,
    /// Reasonable grounds decision.
    pub reasonable_grounds: NrmDecision,
    /// Date of the reasonable grounds decision.
    pub reasonable_grounds_on: Option<NaiveDate>,
    /// Conclusive grounds decision.
    pub conclusive_grounds: NrmDecision,
    /// Date of the conclusive grounds decision.
    pub conclusive_grounds_on: Option<NaiveDate>,
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
}

impl Record for Profile {
    const NAME: &'static str = "profile";
    const TEXT_FIELDS: &'static [&'static str] = &["interpreter_needs", "declined_reason"];
}

impl Profile {
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
    pub fn set_profile(&mut self, edit: &Edit, profile: &Profile) -> Result<()> {
        self.expect_kind(DocKind::Profile)?;
        self.write_at(edit, &[], profile)
    }
}

//! The child's profile: identity, status, NRM (with the local panel's members) and
//! immigration, plan dates.

use casebook_core::model as core;

use super::{mirror_enum, parse_opt_date, show_date};
use crate::error::CasebookError;

mirror_enum!(
    /// How the child's age is known; where in doubt the child is treated as a child.
    AgeStatus <=> core::AgeStatus {
        /// Established from documents.
        Documented,
        /// Claimed by the child and not disputed.
        #[default]
        Claimed,
        /// Disputed: treat as a child until assessed.
        DisputedTreatAsChild,
        /// A full age assessment found the person to be an adult.
        AssessedAdult,
    }
);

mirror_enum!(
    /// The legal basis on which the child is looked after.
    LegalBasis <=> core::LegalBasis {
        /// Not yet recorded.
        #[default]
        NotRecorded,
        /// A care order.
        CareOrder,
        /// Section 20 of the Children Act 1989.
        Section20,
        /// Police protection.
        PoliceProtection,
        /// Another basis, described in the case notes.
        Other,
    }
);

mirror_enum!(
    /// A National Referral Mechanism decision.
    NrmDecision <=> core::NrmDecision {
        /// No decision yet.
        #[default]
        Pending,
        /// Grounds found.
        Positive,
        /// Grounds not found.
        Negative,
    }
);

mirror_enum!(
    /// Who decides on the child's status.
    NrmRoute <=> core::NrmRoute {
        /// Not yet recorded.
        #[default]
        NotRecorded,
        /// The Home Office (the National Referral Mechanism).
        HomeOffice,
        /// The local safeguarding partners' panel of the local decision-making pilot.
        LocalPanel,
    }
);

/// A member of the panel that made a decision.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PanelMember {
    /// The member's name.
    pub name: String,
    /// The agency they sit for: `social_care`, `police`, `health`, `education`,
    /// `home_office` or `other` (anything else is refused as `InvalidInput`).
    pub agency: String,
}

impl From<core::PanelMember> for PanelMember {
    fn from(m: core::PanelMember) -> Self {
        PanelMember {
            name: m.name,
            agency: m.agency.as_str().to_owned(),
        }
    }
}

fn panel(field: &str, members: Vec<PanelMember>) -> Result<Vec<core::PanelMember>, CasebookError> {
    members
        .into_iter()
        .map(|m| {
            let agency =
                m.agency
                    .parse::<core::Agency>()
                    .map_err(|e| CasebookError::InvalidInput {
                        field: format!("{field}.agency"),
                        reason: e.to_string(),
                    })?;
            Ok(core::PanelMember {
                name: m.name,
                agency,
            })
        })
        .collect()
}

mirror_enum!(
    /// Where an asylum or immigration claim stands.
    ImmigrationOutcome <=> core::ImmigrationOutcome {
        /// No claim made, or not recorded.
        #[default]
        NotRecorded,
        /// Awaiting decision.
        Pending,
        /// Refugee status granted.
        RefugeeStatus,
        /// Humanitarian protection granted.
        HumanitarianProtection,
        /// UASC leave granted.
        UascLeave,
        /// Refused with no grant of leave.
        RefusedNoLeave,
        /// Appeal lodged.
        Appealing,
    }
);

/// The NRM referral and its decisions. Dates are `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct Nrm {
    /// When the referral was made.
    #[uniffi(default = None)]
    pub referred_on: Option<String>,
    /// Who referred (agency).
    #[uniffi(default = "")]
    pub referred_by: String,
    /// Home Office competent authority or a local pilot panel.
    #[uniffi(default = "")]
    pub decision_maker: String,
    /// Reasonable grounds decision.
    pub reasonable_grounds: NrmDecision,
    /// Date of the reasonable grounds decision.
    #[uniffi(default = None)]
    pub reasonable_grounds_on: Option<String>,
    /// Conclusive grounds decision.
    pub conclusive_grounds: NrmDecision,
    /// Date of the conclusive grounds decision.
    #[uniffi(default = None)]
    pub conclusive_grounds_on: Option<String>,
    /// Who decides: the Home Office or the local panel (a panel decision needs social
    /// care, police and health among its members). Reads always fill it in; `None` (a
    /// record made from scratch) means `NotRecorded`.
    #[uniffi(default = None)]
    pub route: Option<NrmRoute>,
    /// The reasons given for the reasonable grounds decision.
    #[uniffi(default = "")]
    pub reasonable_grounds_reasons: String,
    /// Who recorded the reasonable grounds decision.
    #[uniffi(default = "")]
    pub reasonable_grounds_recorded_by: String,
    /// The panel that made the reasonable grounds decision.
    #[uniffi(default = [])]
    pub reasonable_grounds_panel: Vec<PanelMember>,
    /// The reasons given for the conclusive grounds decision.
    #[uniffi(default = "")]
    pub conclusive_grounds_reasons: String,
    /// Who recorded the conclusive grounds decision.
    #[uniffi(default = "")]
    pub conclusive_grounds_recorded_by: String,
    /// The panel that made the conclusive grounds decision.
    #[uniffi(default = [])]
    pub conclusive_grounds_panel: Vec<PanelMember>,
    /// The version of the profile document this was read at by `nrm` (keep it when you
    /// save with `set_nrm`); unused inside a `Profile`, which carries its own.
    #[uniffi(default = "")]
    pub version: String,
}

impl From<core::Nrm> for Nrm {
    fn from(n: core::Nrm) -> Self {
        Nrm {
            referred_on: show_date(n.referred_on),
            referred_by: n.referred_by,
            decision_maker: n.decision_maker,
            reasonable_grounds: n.reasonable_grounds.into(),
            reasonable_grounds_on: show_date(n.reasonable_grounds_on),
            conclusive_grounds: n.conclusive_grounds.into(),
            conclusive_grounds_on: show_date(n.conclusive_grounds_on),
            route: Some(n.route.into()),
            reasonable_grounds_reasons: n.reasonable_grounds_reasons,
            reasonable_grounds_recorded_by: n.reasonable_grounds_recorded_by,
            reasonable_grounds_panel: n
                .reasonable_grounds_panel
                .into_iter()
                .map(Into::into)
                .collect(),
            conclusive_grounds_reasons: n.conclusive_grounds_reasons,
            conclusive_grounds_recorded_by: n.conclusive_grounds_recorded_by,
            conclusive_grounds_panel: n
                .conclusive_grounds_panel
                .into_iter()
                .map(Into::into)
                .collect(),
            version: String::new(),
        }
    }
}

impl TryFrom<Nrm> for core::Nrm {
    type Error = CasebookError;

    fn try_from(n: Nrm) -> Result<Self, CasebookError> {
        Ok(core::Nrm {
            referred_on: parse_opt_date("nrm.referred_on", n.referred_on)?,
            referred_by: n.referred_by,
            decision_maker: n.decision_maker,
            reasonable_grounds: n.reasonable_grounds.into(),
            reasonable_grounds_on: parse_opt_date(
                "nrm.reasonable_grounds_on",
                n.reasonable_grounds_on,
            )?,
            conclusive_grounds: n.conclusive_grounds.into(),
            conclusive_grounds_on: parse_opt_date(
                "nrm.conclusive_grounds_on",
                n.conclusive_grounds_on,
            )?,
            route: n.route.unwrap_or_default().into(),
            reasonable_grounds_reasons: n.reasonable_grounds_reasons,
            reasonable_grounds_recorded_by: n.reasonable_grounds_recorded_by,
            reasonable_grounds_panel: panel(
                "nrm.reasonable_grounds_panel",
                n.reasonable_grounds_panel,
            )?,
            conclusive_grounds_reasons: n.conclusive_grounds_reasons,
            conclusive_grounds_recorded_by: n.conclusive_grounds_recorded_by,
            conclusive_grounds_panel: panel(
                "nrm.conclusive_grounds_panel",
                n.conclusive_grounds_panel,
            )?,
        })
    }
}

/// Immigration and asylum status. Dates are `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct Immigration {
    /// Whether an asylum claim has been made.
    #[uniffi(default = false)]
    pub asylum_claimed: bool,
    /// When it was made.
    #[uniffi(default = None)]
    pub claimed_on: Option<String>,
    /// The current outcome.
    pub outcome: ImmigrationOutcome,
    /// When the outcome was decided.
    #[uniffi(default = None)]
    pub decided_on: Option<String>,
    /// When any leave granted expires.
    #[uniffi(default = None)]
    pub leave_expires_on: Option<String>,
    /// The child's legal representative.
    #[uniffi(default = "")]
    pub legal_representative: String,
    /// When a decision on a pending claim or appeal is expected, if known.
    #[uniffi(default = None)]
    pub decision_due_on: Option<String>,
    /// When an application to extend leave was made.
    #[uniffi(default = None)]
    pub extension_applied_on: Option<String>,
}

/// Next review dates of the child's plans (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct PlanDates {
    /// Care plan.
    #[uniffi(default = None)]
    pub care_plan: Option<String>,
    /// Health plan.
    #[uniffi(default = None)]
    pub health_plan: Option<String>,
    /// Personal education plan.
    #[uniffi(default = None)]
    pub education_plan: Option<String>,
    /// Pathway plan.
    #[uniffi(default = None)]
    pub pathway_plan: Option<String>,
}

/// Whether an independent visitor was offered and the child's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct IndependentVisitor {
    /// When the offer was made (`YYYY-MM-DD`).
    #[uniffi(default = None)]
    pub offered_on: Option<String>,
    /// Whether the child declined.
    #[uniffi(default = false)]
    pub declined: bool,
    /// The child's reasons for declining.
    #[uniffi(default = "")]
    pub declined_reason: String,
}

/// The child's profile. Only `case_reference` is required to open a case.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct Profile {
    /// The local authority's case reference.
    pub case_reference: String,
    /// Given name(s).
    #[uniffi(default = "")]
    pub given_name: String,
    /// Family name.
    #[uniffi(default = "")]
    pub family_name: String,
    /// Other names used.
    #[uniffi(default = [])]
    pub aliases: Vec<String>,
    /// Date of birth (`YYYY-MM-DD`), if known.
    #[uniffi(default = None)]
    pub date_of_birth: Option<String>,
    /// The age the child gives, if the date of birth is unknown.
    #[uniffi(default = None)]
    pub claimed_age: Option<u8>,
    /// How the age is known.
    pub age_status: AgeStatus,
    /// Nationality.
    #[uniffi(default = "")]
    pub nationality: String,
    /// Languages and dialects, most fluent first.
    #[uniffi(default = [])]
    pub languages: Vec<String>,
    /// Interpreter needs.
    #[uniffi(default = "")]
    pub interpreter_needs: String,
    /// Unaccompanied asylum-seeking child.
    #[uniffi(default = false)]
    pub unaccompanied: bool,
    /// Known or suspected victim of trafficking.
    #[uniffi(default = false)]
    pub trafficked: bool,
    /// Legal basis of care.
    pub legal_basis: LegalBasis,
    /// Allocated guardian, by name.
    #[uniffi(default = "")]
    pub allocated_guardian: String,
    /// Allocated social worker, by name.
    #[uniffi(default = "")]
    pub allocated_social_worker: String,
    /// NRM referral and decisions.
    pub nrm: Nrm,
    /// Immigration and asylum status.
    pub immigration: Immigration,
    /// Plan review dates.
    #[uniffi(default)]
    pub plans: PlanDates,
    /// Independent visitor offer.
    #[uniffi(default)]
    pub independent_visitor: IndependentVisitor,
    /// Reference to the photograph kept on file.
    #[uniffi(default = None)]
    pub photo_reference: Option<String>,
    /// The date of birth the local authority accepts where the age is in doubt
    /// (`YYYY-MM-DD`); age deadlines count from it when set.
    #[uniffi(default = None)]
    pub accepted_date_of_birth: Option<String>,
    /// The personal adviser appointed for the move to adulthood, by name.
    #[uniffi(default = "")]
    pub personal_adviser: String,
    /// The version of its document this was read at: reads fill it in; keep it when you
    /// save, so the save writes only what was changed since and keeps what others wrote
    /// meanwhile. Empty for a record made from scratch (the save then writes every field
    /// that differs from the document now).
    #[uniffi(default = "")]
    pub version: String,
}

impl From<core::Profile> for Profile {
    fn from(p: core::Profile) -> Self {
        Profile {
            case_reference: p.case_reference,
            given_name: p.given_name,
            family_name: p.family_name,
            aliases: p.aliases,
            date_of_birth: show_date(p.date_of_birth),
            claimed_age: p.claimed_age,
            age_status: p.age_status.into(),
            nationality: p.nationality,
            languages: p.languages,
            interpreter_needs: p.interpreter_needs,
            unaccompanied: p.unaccompanied,
            trafficked: p.trafficked,
            legal_basis: p.legal_basis.into(),
            allocated_guardian: p.allocated_guardian,
            allocated_social_worker: p.allocated_social_worker,
            nrm: p.nrm.into(),
            immigration: Immigration {
                asylum_claimed: p.immigration.asylum_claimed,
                claimed_on: show_date(p.immigration.claimed_on),
                outcome: p.immigration.outcome.into(),
                decided_on: show_date(p.immigration.decided_on),
                leave_expires_on: show_date(p.immigration.leave_expires_on),
                legal_representative: p.immigration.legal_representative,
                decision_due_on: show_date(p.immigration.decision_due_on),
                extension_applied_on: show_date(p.immigration.extension_applied_on),
            },
            plans: PlanDates {
                care_plan: show_date(p.plans.care_plan),
                health_plan: show_date(p.plans.health_plan),
                education_plan: show_date(p.plans.education_plan),
                pathway_plan: show_date(p.plans.pathway_plan),
            },
            independent_visitor: IndependentVisitor {
                offered_on: show_date(p.independent_visitor.offered_on),
                declined: p.independent_visitor.declined,
                declined_reason: p.independent_visitor.declined_reason,
            },
            photo_reference: p.photo_reference,
            accepted_date_of_birth: show_date(p.accepted_date_of_birth),
            personal_adviser: p.personal_adviser,
            version: String::new(),
        }
    }
}

impl TryFrom<Profile> for core::Profile {
    type Error = CasebookError;

    fn try_from(p: Profile) -> Result<Self, CasebookError> {
        Ok(core::Profile {
            case_reference: p.case_reference,
            given_name: p.given_name,
            family_name: p.family_name,
            aliases: p.aliases,
            date_of_birth: parse_opt_date("date_of_birth", p.date_of_birth)?,
            claimed_age: p.claimed_age,
            age_status: p.age_status.into(),
            nationality: p.nationality,
            languages: p.languages,
            interpreter_needs: p.interpreter_needs,
            unaccompanied: p.unaccompanied,
            trafficked: p.trafficked,
            legal_basis: p.legal_basis.into(),
            allocated_guardian: p.allocated_guardian,
            allocated_social_worker: p.allocated_social_worker,
            nrm: p.nrm.try_into()?,
            immigration: core::Immigration {
                asylum_claimed: p.immigration.asylum_claimed,
                claimed_on: parse_opt_date("immigration.claimed_on", p.immigration.claimed_on)?,
                outcome: p.immigration.outcome.into(),
                decided_on: parse_opt_date("immigration.decided_on", p.immigration.decided_on)?,
                leave_expires_on: parse_opt_date(
                    "immigration.leave_expires_on",
                    p.immigration.leave_expires_on,
                )?,
                legal_representative: p.immigration.legal_representative,
                decision_due_on: parse_opt_date(
                    "immigration.decision_due_on",
                    p.immigration.decision_due_on,
                )?,
                extension_applied_on: parse_opt_date(
                    "immigration.extension_applied_on",
                    p.immigration.extension_applied_on,
                )?,
            },
            plans: core::PlanDates {
                care_plan: parse_opt_date("plans.care_plan", p.plans.care_plan)?,
                health_plan: parse_opt_date("plans.health_plan", p.plans.health_plan)?,
                education_plan: parse_opt_date("plans.education_plan", p.plans.education_plan)?,
                pathway_plan: parse_opt_date("plans.pathway_plan", p.plans.pathway_plan)?,
            },
            independent_visitor: core::IndependentVisitor {
                offered_on: parse_opt_date(
                    "independent_visitor.offered_on",
                    p.independent_visitor.offered_on,
                )?,
                declined: p.independent_visitor.declined,
                declined_reason: p.independent_visitor.declined_reason,
            },
            photo_reference: p.photo_reference,
            accepted_date_of_birth: parse_opt_date(
                "accepted_date_of_birth",
                p.accepted_date_of_birth,
            )?,
            personal_adviser: p.personal_adviser,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_core_type() {
        let app = Profile {
            case_reference: "HUL-7".into(),
            date_of_birth: Some("2010-05-01".into()),
            age_status: AgeStatus::DisputedTreatAsChild,
            nrm: Nrm {
                reasonable_grounds: NrmDecision::Positive,
                reasonable_grounds_on: Some("2026-01-02".into()),
                route: Some(NrmRoute::LocalPanel),
                reasonable_grounds_panel: vec![PanelMember {
                    name: "C. Nurse".into(),
                    agency: "health".into(),
                }],
                ..Nrm::default()
            },
            ..Profile::default()
        };
        let core = core::Profile::try_from(app.clone()).expect("valid");
        assert_eq!(Profile::from(core), app);
    }

    #[test]
    fn an_unknown_agency_names_its_field() {
        let app = Nrm {
            conclusive_grounds_panel: vec![PanelMember {
                name: "D. Officer".into(),
                agency: "Police".into(),
            }],
            ..Nrm::default()
        };
        match core::Nrm::try_from(app) {
            Err(CasebookError::InvalidInput { field, reason }) => {
                assert_eq!(field, "nrm.conclusive_grounds_panel.agency");
                assert!(reason.contains("social_care"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_bad_date_names_its_field() {
        let app = Profile {
            plans: PlanDates {
                care_plan: Some("next week".into()),
                ..PlanDates::default()
            },
            ..Profile::default()
        };
        match core::Profile::try_from(app) {
            Err(CasebookError::InvalidInput { field, .. }) => assert_eq!(field, "plans.care_plan"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

//! Victim-status decisions on the NRM record (the `nrm` map of the profile document): the
//! referral's route (the Home Office, or the local safeguarding partners' panel of the
//! 2021 local decision-making pilot), the panel members and their agencies, and the checks a
//! decision must pass before anything is written. A panel decision needs social care,
//! police and health at the table (the pilot's "local safeguarding partners").

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::profile::{Nrm, NrmDecision};
use crate::doc::{CaseDoc, DocKind, Edit, Record};
use crate::error::{Error, Result};

/// Who decides on the child's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NrmRoute {
    /// Not yet recorded.
    #[default]
    NotRecorded,
    /// The Home Office competent authority (the National Referral Mechanism).
    HomeOffice,
    /// The local safeguarding partners' panel of the local decision-making pilot.
    LocalPanel,
}

/// The agency a panel member sits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agency {
    /// Children's social care (the local authority).
    SocialCare,
    /// The police.
    Police,
    /// Health (the integrated care board or a health trust).
    Health,
    /// Education.
    Education,
    /// The Home Office.
    HomeOffice,
    /// Another agency.
    Other,
}

impl Agency {
    /// Every agency, in the order shown.
    pub const ALL: [Agency; 6] = [
        Agency::SocialCare,
        Agency::Police,
        Agency::Health,
        Agency::Education,
        Agency::HomeOffice,
        Agency::Other,
    ];

    /// The agencies a panel decision cannot be made without.
    pub const REQUIRED: [Agency; 3] = [Agency::SocialCare, Agency::Police, Agency::Health];

    /// The stored and exchanged name (`social_care`).
    pub fn as_str(self) -> &'static str {
        match self {
            Agency::SocialCare => "social_care",
            Agency::Police => "police",
            Agency::Health => "health",
            Agency::Education => "education",
            Agency::HomeOffice => "home_office",
            Agency::Other => "other",
        }
    }

    /// How a person reads it ("social care").
    pub fn label(self) -> &'static str {
        match self {
            Agency::SocialCare => "social care",
            Agency::Police => "police",
            Agency::Health => "health",
            Agency::Education => "education",
            Agency::HomeOffice => "Home Office",
            Agency::Other => "other",
        }
    }
}

impl fmt::Display for Agency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An agency name that is not one of [`Agency::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a known agency (social_care, police, health, education, home_office, other)")]
pub struct UnknownAgency;

impl FromStr for Agency {
    type Err = UnknownAgency;

    fn from_str(s: &str) -> std::result::Result<Self, UnknownAgency> {
        Agency::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(UnknownAgency)
    }
}

/// A member of the panel that made a decision. Stored as one text item `agency:name` in a
/// list, so members added on two devices at once both stay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PanelMember {
    /// The member's name.
    pub name: String,
    /// The agency they sit for.
    pub agency: Agency,
}

impl From<PanelMember> for String {
    fn from(m: PanelMember) -> String {
        format!("{}:{}", m.agency, m.name)
    }
}

impl TryFrom<String> for PanelMember {
    type Error = UnknownAgency;

    fn try_from(s: String) -> std::result::Result<Self, UnknownAgency> {
        let (agency, name) = s.split_once(':').ok_or(UnknownAgency)?;
        Ok(PanelMember {
            agency: agency.parse()?,
            name: name.to_owned(),
        })
    }
}

/// Which decision: reasonable grounds first, conclusive grounds after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Reasonable,
    Conclusive,
}

impl Stage {
    fn field(self, suffix: &str) -> String {
        match self {
            Stage::Reasonable => format!("nrm.reasonable_grounds{suffix}"),
            Stage::Conclusive => format!("nrm.conclusive_grounds{suffix}"),
        }
    }
}

impl Record for Nrm {
    const NAME: &'static str = "NRM record";
    const TEXT_FIELDS: &'static [&'static str] = &[];
}

impl Nrm {
    /// Check the record at `now` (the caller's clock). Refused, naming the field:
    /// - a date in the future, or a decision dated before the referral;
    /// - a conclusive grounds decision (or its date) without a reasonable grounds decision,
    ///   or dated before it;
    /// - on the local panel route, a decision whose panel lacks social care, police or
    ///   health, or a member without a name.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        let today = now.date_naive();
        for (field, date) in [
            ("nrm.referred_on", self.referred_on),
            ("nrm.reasonable_grounds_on", self.reasonable_grounds_on),
            ("nrm.conclusive_grounds_on", self.conclusive_grounds_on),
        ] {
            if date.is_some_and(|d| d > today) {
                return Err(Error::invalid(field, "is in the future"));
            }
        }
        if let Some(referred) = self.referred_on {
            for (field, date) in [
                ("nrm.reasonable_grounds_on", self.reasonable_grounds_on),
                ("nrm.conclusive_grounds_on", self.conclusive_grounds_on),
            ] {
                if date.is_some_and(|d| d < referred) {
                    return Err(Error::invalid(
                        field,
                        "is before the referral (nrm.referred_on)",
                    ));
                }
            }
        }
        let conclusive_made =
            self.conclusive_grounds != NrmDecision::Pending || self.conclusive_grounds_on.is_some();
        if conclusive_made && self.reasonable_grounds == NrmDecision::Pending {
            return Err(Error::invalid(
                "nrm.conclusive_grounds",
                "needs a reasonable grounds decision first",
            ));
        }
        if let (Some(rg), Some(cg)) = (self.reasonable_grounds_on, self.conclusive_grounds_on)
            && cg < rg
        {
            return Err(Error::invalid(
                "nrm.conclusive_grounds_on",
                "is before the reasonable grounds decision",
            ));
        }
        self.check_panel(
            Stage::Reasonable,
            self.reasonable_grounds,
            &self.reasonable_grounds_panel,
        )?;
        self.check_panel(
            Stage::Conclusive,
            self.conclusive_grounds,
            &self.conclusive_grounds_panel,
        )
    }

    fn check_panel(
        &self,
        stage: Stage,
        decision: NrmDecision,
        panel: &[PanelMember],
    ) -> Result<()> {
        if panel.iter().any(|m| m.name.trim().is_empty()) {
            return Err(Error::invalid(
                stage.field("_panel"),
                "a member has no name",
            ));
        }
        if self.route != NrmRoute::LocalPanel || decision == NrmDecision::Pending {
            return Ok(());
        }
        let missing: Vec<&str> = Agency::REQUIRED
            .into_iter()
            .filter(|a| !panel.iter().any(|m| m.agency == *a))
            .map(Agency::label)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::invalid(
            stage.field("_panel"),
            format!(
                "a panel decision needs social care, police and health; missing: {}",
                missing.join(", ")
            ),
        ))
    }
}

impl CaseDoc {
    /// The NRM record (profile document, `nrm`).
    pub fn nrm(&self) -> Result<Nrm> {
        self.expect_kind(DocKind::Profile)?;
        self.read_at(&["nrm"])
    }

    /// Save the NRM record, touching only the fields that differ. A record that changes is
    /// checked first ([`Nrm::validate`] at the edit's time); a refused one writes nothing.
    pub fn set_nrm(&mut self, edit: &Edit, nrm: &Nrm) -> Result<()> {
        let before = self.nrm()?;
        if before != *nrm {
            nrm.validate(edit.at)?;
        }
        self.write_at(edit, &["nrm"], nrm)
    }
}

#[cfg(test)]
#[path = "nrm_tests.rs"]
mod tests;

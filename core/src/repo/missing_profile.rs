//! The repository's side of the missing-person profile: sharing a person of concern from
//! `associates` into the `safety` document's profile (only a device that holds `associates`
//! can, so only the case team's), and reading the profile and shared persons from the view.

use crate::doc::{DocId, DocKind, Edit};
use crate::error::Result;
use crate::ids::{CaseId, EntryId};
use crate::model::{MissingPersonProfile, SharedPerson, Writer};
use crate::view::RowKind;

use super::Repo;

impl Repo {
    /// Share the `associates` person `person` into the case's missing-person profile: their
    /// name, aliases, phone numbers and vehicles (nothing else), with who shared them and
    /// when. Checked against the write rules for `writer` when given (a carer may not).
    /// [`NotHeld`](crate::Error::NotHeld) on a device without `associates`,
    /// [`NoSuchEntry`](crate::Error::NoSuchEntry) for an unknown person.
    pub fn share_person_into_profile(
        &mut self,
        case: CaseId,
        person: EntryId,
        edit: &Edit,
        writer: Option<&Writer>,
    ) -> Result<SharedPerson> {
        let record = self.read(DocId::new(case, DocKind::Associates), |d| {
            d.entry(&["persons"], person)
        })?;
        self.edit(
            DocId::new(case, DocKind::Safety),
            edit.at,
            |d| match writer {
                Some(w) => d.edit_checked(w, |d| d.share_person(edit, person, &record)),
                None => d.share_person(edit, person, &record),
            },
        )
    }

    /// Remove the person `person` from the case's missing-person profile (checked against
    /// the write rules for `writer` when given).
    pub fn unshare_person_from_profile(
        &mut self,
        case: CaseId,
        person: EntryId,
        edit: &Edit,
        writer: Option<&Writer>,
    ) -> Result<()> {
        self.edit(
            DocId::new(case, DocKind::Safety),
            edit.at,
            |d| match writer {
                Some(w) => d.edit_checked(w, |d| d.unshare_person(edit, person)),
                None => d.unshare_person(edit, person),
            },
        )
    }

    /// The case's missing-person profile, read from the view.
    pub fn missing_person_profile(&mut self, case: CaseId) -> Result<MissingPersonProfile> {
        let view = self.view(
            DocId::new(case, DocKind::Safety),
            RowKind::MissingPersonProfile,
            None,
        )?;
        Ok(view.first()?.unwrap_or_default())
    }

    /// The persons shared into the case's missing-person profile (by their `associates`
    /// id), read from the view.
    pub fn shared_persons(&mut self, case: CaseId) -> Result<Vec<(EntryId, SharedPerson)>> {
        let view = self.view(
            DocId::new(case, DocKind::Safety),
            RowKind::SharedPerson,
            None,
        )?;
        view.records::<SharedPerson>()?
            .into_iter()
            .map(|(id, person)| {
                let id = id.parse().map_err(|_| crate::error::Error::Malformed {
                    doc: "view".into(),
                    path: "shared_person".into(),
                    reason: "record id is not an id".into(),
                })?;
                Ok((id, person))
            })
            .collect()
    }
}

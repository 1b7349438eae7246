//! Exported calls on the child's missing-person photo: an image (PNG or JPEG, at most
//! 5 MiB) kept encrypted beside the `safety` document and synced outside its history, so a
//! replaced photo is gone from the phone (and, after the next sync, from the server).

use casebook_core::doc::Edit;
use casebook_core::ids::CaseId;
use chrono::Utc;

use crate::casebook::{Casebook, author, writer};
use crate::error::Result;
use crate::records::{DocKind, parse_id};

#[uniffi::export]
impl Casebook {
    /// Set (or replace) the child's photo. `photo` must be a PNG or JPEG image of at most
    /// 5 MiB, else `InvalidInput` on `photo` and nothing is written. It is uploaded at the
    /// next sync; the photo it replaces is deleted here at once.
    pub fn set_profile_photo(&self, case_id: String, photo: Vec<u8>) -> Result<()> {
        let case: CaseId = parse_id("case_id", &case_id)?;
        self.with_unlocked(|repo| {
            let edit = Edit::new(author(repo)?, Utc::now());
            match writer(repo)? {
                Some(writer) => repo.set_profile_photo_as(&writer, &edit, case, &photo)?,
                None => repo.set_profile_photo(&edit, case, &photo)?,
            };
            Ok(())
        })?;
        self.notify_local(case, DocKind::Safety);
        Ok(())
    }

    /// The child's photo, decrypted, if one is set and held on this phone (one set on another
    /// phone arrives with a sync). Read from the store; no document is loaded.
    pub fn profile_photo(&self, case_id: String) -> Result<Option<Vec<u8>>> {
        let case: CaseId = parse_id("case_id", &case_id)?;
        self.with_unlocked(|repo| Ok(repo.profile_photo(case)?))
    }

    /// Remove the child's photo: deleted here at once, and on the server after the next sync.
    pub fn remove_profile_photo(&self, case_id: String) -> Result<()> {
        let case: CaseId = parse_id("case_id", &case_id)?;
        self.with_unlocked(|repo| {
            let edit = Edit::new(author(repo)?, Utc::now());
            match writer(repo)? {
                Some(writer) => repo.remove_profile_photo_as(&writer, &edit, case)?,
                None => repo.remove_profile_photo(&edit, case)?,
            };
            Ok(())
        })?;
        self.notify_local(case, DocKind::Safety);
        Ok(())
    }
}

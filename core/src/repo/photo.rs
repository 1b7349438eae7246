//! The missing-person photo on the device: [`Repo::set_profile_photo`] validates an image,
//! stores it as an attachment (encrypted in the store, outside the automerge history) and
//! writes its reference into the `safety` document in one transaction; replacing or removing
//! it deletes the old image. The store keeps each document's current reference beside it
//! (staged with every change to a `safety` document, made here or received), so a sync learns
//! which images to upload or fetch without loading a document.

use crate::doc::{CaseDoc, DocId, DocKind, Edit};
use crate::error::{Error, Result};
use crate::ids::CaseId;
use crate::model::{PhotoRef, Writer, photo_ref, validate_photo};
use crate::store::{Attachment, Store, WriteOp};
use crate::sync::wire::{AttachmentData, AttachmentUpload, PROTOCOL_VERSION};

use super::{Batch, Repo};

/// The reference `doc` holds now, when it is a readable, well-formed one.
fn current_ref(doc: &CaseDoc) -> Option<PhotoRef> {
    doc.photo_ref()
        .ok()
        .flatten()
        .filter(PhotoRef::is_well_formed)
}

/// Add to `batch` the change of `doc`'s recorded reference, if it changed. A `safety`
/// document whose reference does not read leaves the recorded one (and its image) alone.
pub(super) fn stage_ref(store: &dyn Store, doc: &CaseDoc, batch: &mut Batch) -> Result<()> {
    let id = doc.id();
    if id.kind != DocKind::Safety {
        return Ok(());
    }
    let Ok(read) = doc.photo_ref() else {
        return Ok(());
    };
    let now = read.filter(PhotoRef::is_well_formed);
    let staged = batch.ops.iter().rev().find_map(|op| match op {
        WriteOp::SetAttachmentRef { doc, reference } if *doc == id => Some(reference.clone()),
        _ => None,
    });
    let recorded = match staged {
        Some(reference) => reference,
        None => store.attachment_ref(&id)?,
    };
    if recorded != now {
        batch.ops.push(WriteOp::SetAttachmentRef {
            doc: id,
            reference: now,
        });
    }
    Ok(())
}

impl Repo {
    /// Set the child's missing-person photo (the case's `safety` document): `bytes` must be a
    /// PNG or JPEG image of at most [`crate::model::MAX_PHOTO_BYTES`]. The image is stored
    /// encrypted beside the document, to be uploaded at the next sync, and the reference
    /// written in the same transaction; a photo it replaces is deleted.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `photo` for anything else (nothing is written);
    /// [`Error::NotHeld`] if this device does not hold the case's `safety` document.
    pub fn set_profile_photo(
        &mut self,
        edit: &Edit,
        case: CaseId,
        bytes: &[u8],
    ) -> Result<PhotoRef> {
        self.set_photo(None, edit, case, bytes)
    }

    /// [`Repo::set_profile_photo`], checked against the write rules for `writer`.
    pub fn set_profile_photo_as(
        &mut self,
        writer: &Writer,
        edit: &Edit,
        case: CaseId,
        bytes: &[u8],
    ) -> Result<PhotoRef> {
        self.set_photo(Some(writer), edit, case, bytes)
    }

    fn set_photo(
        &mut self,
        writer: Option<&Writer>,
        edit: &Edit,
        case: CaseId,
        bytes: &[u8],
    ) -> Result<PhotoRef> {
        let media_type = validate_photo("photo", bytes)?;
        let doc = DocId::new(case, DocKind::Safety);
        let photo = photo_ref(case, bytes, media_type);
        let unchanged = {
            let loaded = self.loaded(doc)?;
            let unchanged = current_ref(&loaded.doc).as_ref() == Some(&photo);
            if !unchanged {
                write_ref(&mut loaded.doc, writer, edit, Some(&photo))?;
            }
            unchanged
        };
        let mut batch = Batch::default();
        if !unchanged {
            self.stage(doc, true, edit.at, &mut batch)?;
        }
        batch.ops.push(WriteOp::PutAttachment(Attachment {
            id: photo.attachment_id.clone(),
            doc,
            media_type: photo.media_type.clone(),
            sha256: photo.sha256.clone(),
            bytes: bytes.to_vec(),
            pending_upload: true,
        }));
        self.commit(batch)?;
        Ok(photo)
    }

    /// Remove the child's photo: the reference is cleared and the image deleted here (and on
    /// the server once the change reaches it).
    pub fn remove_profile_photo(&mut self, edit: &Edit, case: CaseId) -> Result<()> {
        self.remove_photo(None, edit, case)
    }

    /// [`Repo::remove_profile_photo`], checked against the write rules for `writer`.
    pub fn remove_profile_photo_as(
        &mut self,
        writer: &Writer,
        edit: &Edit,
        case: CaseId,
    ) -> Result<()> {
        self.remove_photo(Some(writer), edit, case)
    }

    fn remove_photo(&mut self, writer: Option<&Writer>, edit: &Edit, case: CaseId) -> Result<()> {
        let doc = DocId::new(case, DocKind::Safety);
        {
            let loaded = self.loaded(doc)?;
            if loaded.doc.photo_ref()?.is_none() {
                return Ok(());
            }
            write_ref(&mut loaded.doc, writer, edit, None)?;
        }
        self.persist(doc, true, edit.at).map(drop)
    }

    /// The reference to the case's photo, if one is set (read from the store, no document
    /// loaded). `None` too when this device does not hold the case's `safety` document.
    pub fn profile_photo_ref(&self, case: CaseId) -> Result<Option<PhotoRef>> {
        self.store
            .attachment_ref(&DocId::new(case, DocKind::Safety))
    }

    /// The case's photo, decrypted, when a photo is set and its image is held here (one set
    /// on another device arrives with a sync). The bytes are checked against the reference.
    pub fn profile_photo(&self, case: CaseId) -> Result<Option<Vec<u8>>> {
        let Some(photo) = self.profile_photo_ref(case)? else {
            return Ok(None);
        };
        let Some(held) = self.store.attachment(&photo.attachment_id)? else {
            return Ok(None);
        };
        if !photo.matches(&held.bytes) {
            return Err(Error::Malformed {
                doc: "store".into(),
                path: "attachments".into(),
                reason: "an image does not match its reference".into(),
            });
        }
        Ok(Some(held.bytes))
    }

    /// Attachments taken on this device that the server does not have yet: (document,
    /// attachment id). Empty, and cheap, when nothing changed.
    pub fn pending_attachment_uploads(&self) -> Result<Vec<(DocId, String)>> {
        self.store.pending_uploads()
    }

    /// The upload of attachment `id`, if it is still held and still referred to.
    pub fn attachment_upload(&self, id: &str) -> Result<Option<AttachmentUpload>> {
        let Some(held) = self.store.attachment(id)? else {
            return Ok(None);
        };
        Ok(Some(AttachmentUpload {
            v: PROTOCOL_VERSION,
            doc: held.doc,
            attachment_id: held.id,
            media_type: held.media_type,
            data: held.bytes,
        }))
    }

    /// Record that the server holds attachment `id`.
    pub fn mark_attachment_uploaded(&mut self, id: &str) -> Result<()> {
        self.store
            .apply(vec![WriteOp::MarkAttachmentUploaded(id.to_owned())])
    }

    /// Images the documents held here refer to but this device does not have: fetch them.
    /// Empty, and cheap, when nothing changed.
    pub fn missing_attachments(&self) -> Result<Vec<(DocId, PhotoRef)>> {
        self.store.missing_attachments()
    }

    /// Keep an image fetched from the server, if `doc` still refers to it and the bytes are
    /// what the reference names. Returns whether it was kept.
    ///
    /// # Errors
    /// [`Error::Protocol`] if the bytes do not match the reference (nothing is kept).
    pub fn store_fetched_attachment(&mut self, fetched: AttachmentData) -> Result<bool> {
        let Some(photo) = self.store.attachment_ref(&fetched.doc)? else {
            return Ok(false);
        };
        if photo.attachment_id != fetched.attachment_id {
            return Ok(false);
        }
        if !photo.matches(&fetched.data) {
            return Err(Error::Protocol(
                "an attachment from the server does not match its reference".into(),
            ));
        }
        self.store.apply(vec![WriteOp::PutAttachment(Attachment {
            id: photo.attachment_id,
            doc: fetched.doc,
            media_type: photo.media_type,
            sha256: photo.sha256,
            bytes: fetched.data,
            pending_upload: false,
        })])?;
        Ok(true)
    }
}

fn write_ref(
    doc: &mut CaseDoc,
    writer: Option<&Writer>,
    edit: &Edit,
    photo: Option<&PhotoRef>,
) -> Result<()> {
    match writer {
        Some(writer) => doc.edit_checked(writer, |d| d.set_photo_ref(edit, photo)),
        None => doc.set_photo_ref(edit, photo),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::doc::Author;
    use crate::ids::{DeviceId, UserId};
    use crate::model::{MAX_PHOTO_BYTES, Profile, WriterRole};
    use crate::store::MemoryStore;

    /// A valid PNG of `w`x1 pixels whose header names `w`; the rest is filler bytes.
    pub(crate) fn png(w: u8, filler: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        bytes.extend_from_slice(&[0, 0, 0, 13]);
        bytes.extend_from_slice(b"IHDR");
        bytes.extend_from_slice(&[0, 0, 0, w, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        bytes.extend_from_slice(filler);
        bytes
    }

    fn setup() -> (Repo, Edit, CaseId) {
        let mut rng = StdRng::seed_from_u64(9);
        let author = Author {
            user: UserId::random(&mut rng),
            device: DeviceId::random(&mut rng),
        };
        let edit = Edit::new(
            author,
            Utc.with_ymd_and_hms(2026, 11, 30, 2, 10, 0)
                .single()
                .expect("time"),
        );
        let mut repo = Repo::new(MemoryStore::new());
        let profile = Profile {
            case_reference: "HUL-9".into(),
            ..Profile::default()
        };
        let case = repo.create_case(&edit, &mut rng, &profile).expect("case");
        (repo, edit, case)
    }

    #[test]
    fn a_photo_is_stored_beside_the_document_and_a_replaced_one_is_deleted() -> Result<()> {
        let (mut repo, edit, case) = setup();
        let safety = DocId::new(case, DocKind::Safety);
        assert_eq!(repo.profile_photo(case)?, None);
        let first = png(1, b"CANARY-first-photo");
        let one = repo.set_profile_photo(&edit, case, &first)?;
        assert_eq!(repo.profile_photo(case)?, Some(first.clone()));
        assert_eq!(repo.read(safety, |d| d.photo_ref())?, Some(one.clone()));
        assert_eq!(
            repo.pending_attachment_uploads()?,
            vec![(safety, one.attachment_id.clone())]
        );
        // The document holds the reference, never the image.
        let stored = repo.store().load(&safety)?.expect("stored");
        let all: Vec<u8> = stored.chunks.concat();
        assert!(!all.windows(5).any(|w| w == b"CANARY"));

        let second = png(2, b"second photo");
        let two = repo.set_profile_photo(&edit, case, &second)?;
        assert_ne!(one.attachment_id, two.attachment_id);
        assert_eq!(repo.profile_photo(case)?, Some(second));
        assert_eq!(repo.store().attachment(&one.attachment_id)?, None);
        assert_eq!(
            repo.pending_attachment_uploads()?,
            vec![(safety, two.attachment_id.clone())]
        );

        repo.remove_profile_photo(&edit, case)?;
        assert_eq!(repo.profile_photo(case)?, None);
        assert_eq!(repo.store().attachment(&two.attachment_id)?, None);
        assert!(repo.pending_attachment_uploads()?.is_empty());
        Ok(())
    }

    #[test]
    fn bad_photos_are_refused_by_name_and_nothing_is_written() -> Result<()> {
        let (mut repo, edit, case) = setup();
        let safety = DocId::new(case, DocKind::Safety);
        let before = repo.store().load(&safety)?;
        let mut too_large = png(1, b"");
        too_large.resize(MAX_PHOTO_BYTES + 1, 7);
        for bad in [b"%PDF-1.7".to_vec(), Vec::new(), too_large] {
            let err = repo
                .set_profile_photo(&edit, case, &bad)
                .expect_err("refused");
            assert!(
                matches!(&err, Error::InvalidInput { field, .. } if field == "photo"),
                "{err:?}"
            );
            assert_eq!(repo.store().load(&safety)?, before);
            assert!(repo.pending_attachment_uploads()?.is_empty());
            assert_eq!(repo.profile_photo_ref(case)?, None);
        }
        Ok(())
    }

    #[test]
    fn carers_and_the_case_team_may_set_the_photo_administrators_may_not() -> Result<()> {
        let (mut repo, edit, case) = setup();
        for (role, allowed) in [
            (WriterRole::Carer, true),
            (WriterRole::Guardian, true),
            (WriterRole::Administrator, false),
        ] {
            let writer = Writer {
                user: edit.author.user,
                role,
                device: edit.author.device,
            };
            let result = repo.set_profile_photo_as(&writer, &edit, case, &png(3, &[role as u8]));
            assert_eq!(result.is_ok(), allowed, "{role}: {result:?}");
        }
        Ok(())
    }

    #[test]
    fn a_fetched_image_is_kept_only_if_it_is_the_one_referred_to() -> Result<()> {
        let (mut repo, edit, case) = setup();
        let safety = DocId::new(case, DocKind::Safety);
        let bytes = png(4, b"photo");
        let photo = repo.set_profile_photo(&edit, case, &bytes)?;
        // Forget the image, as a device that received only the document would be.
        repo.store.apply(vec![WriteOp::SetAttachmentRef {
            doc: safety,
            reference: None,
        }])?;
        repo.store.apply(vec![WriteOp::SetAttachmentRef {
            doc: safety,
            reference: Some(photo.clone()),
        }])?;
        assert_eq!(repo.missing_attachments()?, vec![(safety, photo.clone())]);
        let data = |data: Vec<u8>| AttachmentData {
            v: PROTOCOL_VERSION,
            doc: safety,
            attachment_id: photo.attachment_id.clone(),
            media_type: photo.media_type.clone(),
            data,
        };
        assert!(
            repo.store_fetched_attachment(data(png(4, b"other")))
                .is_err()
        );
        assert_eq!(repo.profile_photo(case)?, None);
        assert!(repo.store_fetched_attachment(data(bytes.clone()))?);
        assert_eq!(repo.profile_photo(case)?, Some(bytes));
        assert!(repo.missing_attachments()?.is_empty());
        assert!(repo.pending_attachment_uploads()?.is_empty());
        Ok(())
    }
}

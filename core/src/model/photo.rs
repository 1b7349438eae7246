//! The child's missing-person photograph: the small reference record at the `safety`
//! document's root key `missing_person_photo` (attachment id, SHA-256, byte size, media type).
//! The image itself is an attachment kept outside the automerge history (the store's
//! attachments, synced beside the documents), so a photo replaced is gone rather than hidden
//! in old changes; this module validates an image and reads and writes the reference.

use automerge::{ObjType, ROOT, ReadDoc, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::doc::{CaseDoc, DocKind, Edit, Record, create_map, to_fields, update_map};
use crate::error::{Error, Result};
use crate::ids::CaseId;

/// The `safety` document's root key holding the photo's reference.
pub const PHOTO_KEY: &str = "missing_person_photo";

/// Largest photograph accepted, in bytes (5 MiB): a recent phone photo, resized by the app,
/// fits with room to spare, and one upload stays well under a request's limits.
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;

/// Media types a photograph may have.
pub const PHOTO_MEDIA_TYPES: [&str; 2] = ["image/png", "image/jpeg"];

/// Where a photograph is and how to check it: the record at [`PHOTO_KEY`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PhotoRef {
    /// The attachment's id: 32 lowercase hex characters.
    pub attachment_id: String,
    /// SHA-256 of the image bytes, lowercase hex.
    pub sha256: String,
    /// The image's size in bytes.
    pub size: u64,
    /// `image/png` or `image/jpeg`.
    pub media_type: String,
}

impl Record for PhotoRef {
    const NAME: &'static str = "missing-person photo";
    const TEXT_FIELDS: &'static [&'static str] = &[];
}

impl PhotoRef {
    /// Whether `bytes` are the image this reference names (size and SHA-256).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        u64::try_from(bytes.len()).is_ok_and(|len| len == self.size)
            && hex::encode(Sha256::digest(bytes)) == self.sha256
    }

    /// Whether the reference is well formed: a 32-hex-character id, a 64-hex-character
    /// digest, a size within [`MAX_PHOTO_BYTES`] and a known media type.
    pub fn is_well_formed(&self) -> bool {
        is_attachment_id(&self.attachment_id)
            && self.sha256.len() == 64
            && self
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && self.size > 0
            && usize::try_from(self.size).is_ok_and(|s| s <= MAX_PHOTO_BYTES)
            && PHOTO_MEDIA_TYPES.contains(&self.media_type.as_str())
    }
}

/// Whether `id` is an attachment id: 32 lowercase hex characters.
pub fn is_attachment_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Check that `bytes` are a PNG or JPEG image (by its signature, and a header that decodes to
/// non-zero dimensions) of at most [`MAX_PHOTO_BYTES`], and give its media type.
///
/// # Errors
/// [`Error::InvalidInput`] naming `field` if it is empty, too large or not such an image.
pub fn validate_photo(field: &str, bytes: &[u8]) -> Result<&'static str> {
    if bytes.is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "is {} bytes, over the limit of {MAX_PHOTO_BYTES}",
                bytes.len()
            ),
        ));
    }
    let not_image = || Error::invalid(field, "is not a PNG or JPEG image");
    let media_type = match imagesize::image_type(bytes).map_err(|_| not_image())? {
        imagesize::ImageType::Png => "image/png",
        imagesize::ImageType::Jpeg => "image/jpeg",
        _ => return Err(not_image()),
    };
    let size = imagesize::blob_size(bytes).map_err(|_| not_image())?;
    if size.width == 0 || size.height == 0 {
        return Err(not_image());
    }
    Ok(media_type)
}

/// The reference to `bytes` (already validated as `media_type`) as a photo of `case`. The id
/// is derived from the case and the content, so the same image set twice is one attachment,
/// and two cases never share an id.
pub fn photo_ref(case: CaseId, bytes: &[u8], media_type: &str) -> PhotoRef {
    let sha = Sha256::digest(bytes);
    let mut id = Sha256::new();
    id.update(b"casebook-attachment-v1\0");
    id.update(case.as_bytes());
    id.update(sha);
    PhotoRef {
        attachment_id: hex::encode(&id.finalize()[..16]),
        sha256: hex::encode(sha),
        size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        media_type: media_type.to_owned(),
    }
}

/// The photo reference of an automerge `safety` document, if it names a well-formed one
/// (the server reads it from the document it stored, without the typed model).
pub fn referenced_photo(doc: &impl ReadDoc) -> Option<PhotoRef> {
    let (value, obj) = doc.get(ROOT, PHOTO_KEY).ok().flatten()?;
    if !matches!(value, Value::Object(ObjType::Map)) {
        return None;
    }
    let scalar = |key: &str| match doc.get(&obj, key).ok().flatten() {
        Some((Value::Scalar(s), _)) => Some(s.into_owned()),
        _ => None,
    };
    let text = |key: &str| match scalar(key)? {
        automerge::ScalarValue::Str(s) => Some(s.to_string()),
        _ => None,
    };
    let size = match scalar("size")? {
        automerge::ScalarValue::Uint(n) => n,
        automerge::ScalarValue::Int(n) => u64::try_from(n).ok()?,
        _ => return None,
    };
    let photo = PhotoRef {
        attachment_id: text("attachment_id")?,
        sha256: text("sha256")?,
        size,
        media_type: text("media_type")?,
    };
    photo.is_well_formed().then_some(photo)
}

impl CaseDoc {
    /// The photo reference, if a photo was ever set and not removed.
    pub fn photo_ref(&self) -> Result<Option<PhotoRef>> {
        self.expect_kind(DocKind::Safety)?;
        if self.automerge().get(ROOT, PHOTO_KEY)?.is_none() {
            return Ok(None);
        }
        let photo: PhotoRef = self.read_at(&[PHOTO_KEY])?;
        Ok((!photo.attachment_id.is_empty()).then_some(photo))
    }

    /// Write `photo` as the reference (all its fields in one change), or clear it with
    /// `None` (the record stays, with an empty id).
    pub fn set_photo_ref(&mut self, edit: &Edit, photo: Option<&PhotoRef>) -> Result<()> {
        self.expect_kind(DocKind::Safety)?;
        let cleared = PhotoRef::default();
        let fields = to_fields(photo.unwrap_or(&cleared))?;
        self.edit(edit, "set missing-person photo", |d| {
            match d.get(ROOT, PHOTO_KEY)? {
                Some((Value::Object(ObjType::Map), obj)) => update_map(d, &obj, &fields, &[]),
                // Created once; later photos are written into it field by field, all in one
                // change, so concurrent replacements resolve to one whole reference.
                _ => create_map(d, &ROOT, PHOTO_KEY, &fields, &[]).map(drop),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1x1 PNG.
    pub(crate) const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn png_and_jpeg_are_accepted_and_anything_else_is_refused_by_name() {
        assert_eq!(validate_photo("photo", PNG).expect("png"), "image/png");
        // A JPEG header: SOI, then a SOF0 frame of 2x3 pixels.
        let jpeg = [
            0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x03, 0x00, 0x02, 0x03, 0x01, 0x22,
            0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xd9,
        ];
        assert_eq!(validate_photo("photo", &jpeg).expect("jpeg"), "image/jpeg");
        for bad in [
            &b""[..],
            b"GIF89a\x01\x00\x01\x00",
            b"%PDF-1.7 not a photo",
            &PNG[..12],
        ] {
            let err = validate_photo("photo", bad).expect_err("refused");
            assert!(
                matches!(&err, Error::InvalidInput { field, .. } if field == "photo"),
                "{err:?}"
            );
        }
        let mut big = PNG.to_vec();
        big.resize(MAX_PHOTO_BYTES + 1, 0);
        let err = validate_photo("photo", &big).expect_err("too large");
        assert!(
            matches!(&err, Error::InvalidInput { field, reason } if field == "photo" && reason.contains("limit")),
            "{err:?}"
        );
    }

    #[test]
    fn a_reference_names_its_bytes_and_differs_per_case() {
        let a = photo_ref(CaseId::from_bytes([1; 16]), PNG, "image/png");
        let b = photo_ref(CaseId::from_bytes([2; 16]), PNG, "image/png");
        assert!(a.is_well_formed() && b.is_well_formed());
        assert_ne!(a.attachment_id, b.attachment_id);
        assert_eq!(a.sha256, b.sha256);
        assert!(a.matches(PNG));
        assert!(!a.matches(&PNG[1..]));
    }

    #[test]
    fn the_server_reads_the_reference_the_device_wrote() {
        use crate::doc::Author;
        use crate::ids::{DeviceId, UserId};
        let edit = Edit::new(
            Author {
                user: UserId::from_bytes([1; 16]),
                device: DeviceId::from_bytes([2; 16]),
            },
            chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        );
        let case = CaseId::from_bytes([3; 16]);
        let profile = crate::model::Profile {
            case_reference: "R".into(),
            ..crate::model::Profile::default()
        };
        let mut safety = crate::model::new_case(case, &edit, &profile)
            .expect("case")
            .into_iter()
            .find(|d| d.kind() == DocKind::Safety)
            .expect("safety");
        assert_eq!(referenced_photo(safety.automerge()), None);
        let photo = photo_ref(case, PNG, "image/png");
        safety.set_photo_ref(&edit, Some(&photo)).expect("set");
        assert_eq!(referenced_photo(safety.automerge()), Some(photo.clone()));
        assert_eq!(safety.photo_ref().expect("read"), Some(photo));
        safety.set_photo_ref(&edit, None).expect("clear");
        assert_eq!(referenced_photo(safety.automerge()), None);
        assert_eq!(safety.photo_ref().expect("read"), None);
    }

    #[test]
    fn a_carer_sets_the_first_photo_of_a_case_opened_before_photos_existed() {
        use crate::doc::{Author, DocId};
        use crate::ids::{DeviceId, UserId};
        use crate::model::{Writer, WriterRole};
        use serde_json::{Map, Value as Json};
        let author = Author {
            user: UserId::from_bytes([1; 16]),
            device: DeviceId::from_bytes([2; 16]),
        };
        let edit = Edit::new(author, chrono::DateTime::<chrono::Utc>::UNIX_EPOCH);
        let case = CaseId::from_bytes([3; 16]);
        // The safety skeleton as earlier builds created it: no `missing_person_photo`.
        let mut root: Map<String, Json> = ["plan_steps", "checks", "missing_episodes"]
            .iter()
            .map(|k| ((*k).to_owned(), Json::Object(Map::new())))
            .collect();
        root.insert("feel_safe".into(), Json::String(String::new()));
        let mut safety = CaseDoc::create(
            DocId::new(case, DocKind::Safety),
            &edit,
            &root,
            &["feel_safe"],
        )
        .expect("old skeleton");
        assert_eq!(safety.photo_ref().expect("read"), None);
        let carer = Writer {
            user: UserId::from_bytes([4; 16]),
            role: WriterRole::Carer,
            device: DeviceId::from_bytes([5; 16]),
        };
        let carer_edit = Edit::new(
            Author {
                user: carer.user,
                device: carer.device,
            },
            edit.at,
        );
        let photo = photo_ref(case, PNG, "image/png");
        safety
            .edit_checked(&carer, |d| d.set_photo_ref(&carer_edit, Some(&photo)))
            .expect("a carer may set the first photo");
        assert_eq!(safety.photo_ref().expect("read"), Some(photo));
        // A reference that is not well formed is refused by the write rules.
        let bad = PhotoRef {
            attachment_id: "not-an-id".into(),
            ..photo_ref(case, PNG, "image/png")
        };
        let refused = safety.edit_checked(&carer, |d| d.set_photo_ref(&carer_edit, Some(&bad)));
        assert!(
            matches!(refused, Err(Error::NotPermitted { .. })),
            "{refused:?}"
        );
    }
}

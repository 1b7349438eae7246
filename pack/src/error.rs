//! The one error type of the police pack renderer.
//!
//! Messages name the offending field and the rule it broke, never the field's content: they can
//! end up in crash logs, and the content is a missing child's personal data.

/// Why a police pack could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// A field of the [`PolicePack`](crate::PolicePack) breaks a documented rule (for example the
    /// photo is not a JPEG or PNG image, or is over [`MAX_PHOTO_BYTES`](crate::MAX_PHOTO_BYTES)).
    #[error("invalid input in `{field}`: {reason}")]
    InvalidInput {
        /// The field, as named in the `PolicePack` type (`photo`, `people_of_concern[1].name`).
        field: String,
        /// The rule it broke (never the field's content).
        reason: String,
    },
    /// The PDF writer failed (a font or the photo could not be embedded).
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

impl PackError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        PackError::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The police pack's result type.
pub type Result<T> = std::result::Result<T, PackError>;

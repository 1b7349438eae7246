//! The police pack: a missing child's profile and open episode as a printable PDF.
//!
//! Police forces ask carers to keep a missing-person profile ready (the Philomena Protocol) so
//! that the first call to the police is quick. This crate turns that profile and the open
//! episode into a PDF a call handler can read at a glance: photo, name, category, police
//! reference, last seen, risks, who to call at the local authority, description, people of
//! concern with their numbers, places the child may go, phones and accounts. It is pure: no
//! clock, no file or network I/O; the fonts are embedded in the binary, so it works offline on
//! a phone as well as on the server.
//!
//! ```
//! use casebook_pack::{MissingCategory, PolicePack, render_police_pack};
//!
//! # fn main() -> Result<(), casebook_pack::PackError> {
//! let pack = PolicePack {
//!     name: "Nguyễn Thị Hương".into(),
//!     category: Some(MissingCategory::Missing),
//!     generated_at: chrono::DateTime::parse_from_rfc3339("2026-11-28T02:14:00+00:00")
//!         .expect("a fixed time"),
//!     ..PolicePack::default()
//! };
//! let pdf = render_police_pack(&pack)?;
//! assert!(pdf.starts_with(b"%PDF-"));
//! # Ok(())
//! # }
//! ```
//!
//! # What is in it, and what is not
//! [`PolicePack`] has no field for visit notes, the `location` document or the placement
//! address: the pack cannot show what its input cannot hold.
//!
//! # Scripts and limits
//! Fonts: DejaVu Sans and Sans Bold (Latin including Vietnamese and Albanian, Cyrillic,
//! Greek), Noto Sans Ethiopic (Ge'ez) and Noto Sans Arabic (Arabic script), picked per
//! character by coverage. Text is shaped with rustybuzz, so Arabic letters join and run right
//! to left. There is no full Unicode bidirectional algorithm: within a line, consecutive
//! Arabic-script words are placed right to left, and everything else left to right, with the
//! line aligned left. Scripts none of the fonts cover (e.g. Chinese; Tigrinya and Amharic are
//! covered, in Ge'ez) show as empty boxes. The photo must be JPEG or PNG, at most [`MAX_PHOTO_BYTES`]
//! bytes and [`MAX_PHOTO_PIXELS`] pixels.

mod compose;
mod error;
mod fonts;
mod from_case;
mod from_safety;
mod layout;
mod model;
mod photo;
mod render;

pub use error::{PackError, Result};
pub use from_case::{CaseRecords, police_pack};
pub use from_safety::{Generated, SafetyRecords};
pub use model::{LaContact, LastSeen, MissingCategory, PersonOfConcern, PolicePack};
pub use photo::{MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS};

/// Renders the police pack as PDF bytes (A4 portrait).
///
/// # Errors
/// [`PackError::InvalidInput`] naming `photo` when the photo is not a JPEG or PNG image or is
/// over the limits; [`PackError::Pdf`] if the PDF writer fails.
pub fn render_police_pack(pack: &PolicePack) -> Result<Vec<u8>> {
    let photo = pack.photo.as_deref().map(photo::load).transpose()?;
    let fonts = fonts::Fonts::load()?;
    let pages = compose::compose(&fonts, pack, photo.as_ref().map(|p| p.size()));
    render::render(&fonts, &pages, photo.as_ref())
}

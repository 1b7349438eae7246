//! Every name the server is given that other people are shown (organisations and their
//! authorities, users, teams, and a device's name at enrolment) is checked here, by the core's
//! [`casebook_core::names::check_display_name`]: no control characters, bidirectional
//! overrides, isolates or marks, or other invisible format characters. A refusal is a
//! `bad_request` naming the field and the character's code point.

use crate::error::{Error, Result};

/// Check `name`, given as `field` of a request.
pub fn check(field: &str, name: &str) -> Result<()> {
    casebook_core::names::check_display_name(name)
        .map_err(|e| Error::BadRequest(format!("{field} {e}")))
}

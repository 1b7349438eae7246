//! Names shown to other people (people, devices, teams, organisations): one check, used by the
//! server for every name an administrator or an enrolling device gives it, and by the device
//! before it sends its own name at enrolment.
//!
//! A name is refused when it is empty, longer than [`MAX_NAME_BYTES`], or holds a character
//! that is invisible or changes how the text around it is shown: control characters (Unicode
//! `Cc`, such as a newline or an escape), line and paragraph separators, and format characters
//! (`Cf`) such as the bidirectional embeddings, overrides and isolates (U+202A-202E,
//! U+2066-2069), the directional marks (U+200E, U+200F, U+061C), zero-width spaces and the byte
//! order mark. A name holding them can pass for another person's, or reorder what an audit
//! screen shows after it. Two format characters are kept because real names need them: the
//! zero-width non-joiner and joiner (U+200C, U+200D; Persian, Indic scripts and emoji), and
//! the tag characters of subdivision flags (U+E0020-E007F).

use std::fmt;

/// The longest name accepted, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 200;

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// Empty or only white space.
    Empty,
    /// Longer than [`MAX_NAME_BYTES`].
    TooLong,
    /// Holds a control character (a newline, a tab, an escape).
    Control(char),
    /// Holds a bidirectional embedding, override, isolate or mark.
    Bidi(char),
    /// Holds another invisible format character or a line or paragraph separator.
    Invisible(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "is empty"),
            NameError::TooLong => write!(f, "is longer than {MAX_NAME_BYTES} bytes"),
            NameError::Control(c) => {
                write!(f, "holds a control character (U+{:04X})", u32::from(*c))
            }
            NameError::Bidi(c) => write!(
                f,
                "holds a bidirectional override, isolate or mark (U+{:04X})",
                u32::from(*c)
            ),
            NameError::Invisible(c) => write!(
                f,
                "holds an invisible format character (U+{:04X})",
                u32::from(*c)
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Check a name that other people will be shown.
pub fn check_display_name(name: &str) -> Result<(), NameError> {
    if name.trim().is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong);
    }
    for c in name.chars() {
        if c.is_control() {
            return Err(NameError::Control(c));
        }
        if is_bidi_control(c) {
            return Err(NameError::Bidi(c));
        }
        if is_refused_format(c) {
            return Err(NameError::Invisible(c));
        }
    }
    Ok(())
}

/// The bidirectional formatting characters (Unicode Standard Annex 9, table 4) and marks.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// The other format characters (general category `Cf`, Unicode 15.1) and the line and
/// paragraph separators, except the joiners and the tag characters names need.
fn is_refused_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{2028}'..='\u{2029}'
            | '\u{2060}'..='\u{2064}'
            | '\u{206A}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_in_any_script_pass() {
        for name in [
            "Amira Haddad",
            "Nguyễn Văn An",
            "مریم\u{200C}ها",
            "अर्जुन",
            "Zoë O'Brien-Smith",
            "South team 🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
            "Family 👩\u{200D}👧",
        ] {
            assert_eq!(check_display_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn bidirectional_controls_are_refused() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            let name = format!("Ali{c}ecnarG");
            assert_eq!(check_display_name(&name), Err(NameError::Bidi(c)), "{c:?}");
        }
    }

    #[test]
    fn control_and_invisible_characters_are_refused() {
        for c in ['\n', '\r', '\t', '\0', '\u{1B}', '\u{7F}', '\u{85}'] {
            let name = format!("Ali{c}Grace");
            assert_eq!(
                check_display_name(&name),
                Err(NameError::Control(c)),
                "{c:?}"
            );
        }
        for c in [
            '\u{200B}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{2060}',
            '\u{2028}',
            '\u{E0001}',
        ] {
            let name = format!("Ali{c}Grace");
            assert_eq!(
                check_display_name(&name),
                Err(NameError::Invisible(c)),
                "{c:?}"
            );
        }
    }

    #[test]
    fn empty_and_long_names_are_refused() {
        assert_eq!(check_display_name(""), Err(NameError::Empty));
        assert_eq!(check_display_name("  "), Err(NameError::Empty));
        assert_eq!(check_display_name(&"a".repeat(MAX_NAME_BYTES)), Ok(()));
        assert_eq!(
            check_display_name(&"a".repeat(MAX_NAME_BYTES + 1)),
            Err(NameError::TooLong)
        );
    }

    #[test]
    fn the_message_names_the_character() {
        let e = check_display_name("a\u{202E}b").expect_err("refused");
        assert!(e.to_string().contains("U+202E"), "{e}");
    }
}

//! [`Version`]: which state of a document a record was read at (its automerge heads), so a
//! save of that record can change only what the person changed since.

use std::fmt;
use std::str::FromStr;

use automerge::ChangeHash;

/// The heads of a document when a record was read. Text form: the change hashes in hex,
/// sorted, joined by `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(Vec<ChangeHash>);

impl Version {
    /// The version made of `heads` (in any order).
    pub fn new(mut heads: Vec<ChangeHash>) -> Self {
        heads.sort_unstable();
        heads.dedup();
        Version(heads)
    }

    /// The change hashes.
    pub fn heads(&self) -> &[ChangeHash] {
        &self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, head) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{head}")?;
        }
        Ok(())
    }
}

/// Text that is not a [`Version`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a document version (expected change hashes in hex joined by '.')")]
pub struct ParseVersionError;

impl FromStr for Version {
    type Err = ParseVersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() || text.len() > 64 * 1024 {
            return Err(ParseVersionError);
        }
        let heads = text
            .split('.')
            .map(|hash| {
                if hash.len() != 64 {
                    return Err(ParseVersionError);
                }
                hash.parse::<ChangeHash>().map_err(|_| ParseVersionError)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Version::new(heads))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(byte: u8) -> ChangeHash {
        ChangeHash([byte; 32])
    }

    #[test]
    fn round_trips_as_text_in_a_canonical_order() {
        let version = Version::new(vec![hash(2), hash(1), hash(2)]);
        assert_eq!(version.heads(), &[hash(1), hash(2)]);
        let text = version.to_string();
        assert_eq!(text.len(), 64 * 2 + 1);
        assert_eq!(text.parse::<Version>(), Ok(version));
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        let one = Version::new(vec![hash(7)]).to_string();
        for bad in [
            String::new(),
            "x".into(),
            format!("{one}."),
            format!(".{one}"),
            one[..63].to_owned(),
            one.replace('7', "g"),
        ] {
            assert_eq!(bad.parse::<Version>(), Err(ParseVersionError), "{bad:?}");
        }
    }
}

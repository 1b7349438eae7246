//! Identifier newtypes: cases, users, devices, document entries. Each parses and prints as
//! 32 lowercase hex characters (128 random bits supplied by the caller).

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id: expected 32 lowercase hex characters")]
pub struct ParseIdError {
    /// Which kind of identifier was being parsed.
    pub kind: &'static str,
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name([u8; 16]);

        impl $name {
            /// A fresh identifier drawn from the caller's randomness.
            pub fn random(rng: &mut dyn RngCore) -> Self {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                Self(bytes)
            }

            /// The identifier built from raw bytes.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($kind, "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let invalid = || ParseIdError { kind: $kind };
                if s.len() != 32 || s.bytes().any(|b| b.is_ascii_uppercase()) {
                    return Err(invalid());
                }
                let mut bytes = [0u8; 16];
                hex::decode_to_slice(s, &mut bytes).map_err(|_| invalid())?;
                Ok(Self(bytes))
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseIdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
    };
}

id_type!(
    /// One child's case.
    CaseId,
    "case"
);
id_type!(
    /// A person using Casebook (guardian, social worker, carer, supervisor, administrator).
    UserId,
    "user"
);
id_type!(
    /// An enrolled phone or tablet; also the automerge actor of every change it makes.
    DeviceId,
    "device"
);
id_type!(
    /// An entry inside a document: a visit note, a plan step, a safety check, a missing
    /// episode, a person of concern, a placement, an action. Always fresh, so no two devices
    /// ever create an object under the same key.
    EntryId,
    "entry"
);
id_type!(
    /// An alert to the people on a case (a missing episode started or ended), raised by the
    /// server.
    AlertId,
    "alert"
);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn display_and_parse_round_trip() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let id = CaseId::random(&mut rng);
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<CaseId>(), Ok(id));
        let json = serde_json::to_string(&id).expect("serialise");
        assert_eq!(serde_json::from_str::<CaseId>(&json).expect("parse"), id);
    }

    #[test]
    fn rejects_bad_input_with_its_kind() {
        for bad in ["", "abc", &"g".repeat(32), &"A".repeat(32), &"0".repeat(33)] {
            let err = bad.parse::<DeviceId>().expect_err(bad);
            assert_eq!(err.kind, "device");
        }
        assert!(serde_json::from_str::<UserId>("\"nothex\"").is_err());
    }
}

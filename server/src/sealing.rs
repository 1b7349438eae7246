//! Sealing of row contents the server writes to a database without its own encryption
//! (PostgreSQL): XChaCha20-Poly1305 under a subkey of the database key file's key, bound to the
//! row it belongs to, with the key's id stored beside the ciphertext for rotation.
//!
//! A sealed value is `0x01 || key id (8 bytes) || nonce (24 bytes) || ciphertext and tag`.
//! The associated data names the row (`"docs/<doc id>"`, say), so a sealed body copied into
//! another row does not open there. The key id is the first 8 bytes of SHA-256 of the subkey:
//! it names the key without revealing it, and lets a [`Sealer`] hold old keys for opening
//! while it seals with the newest.

use casebook_core::store::StoreKey;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The format byte of a sealed value.
const FORMAT: u8 = 1;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// The purpose under which the sealing subkey is derived from the key file's key.
const PURPOSE: &str = "server/row-sealing/v1";

/// Why a sealed value did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// Too short, or another format.
    #[error("not a sealed value")]
    Malformed,
    /// Sealed under a key this server does not hold.
    #[error("sealed under unknown key {0}")]
    UnknownKey(String),
    /// The tag did not verify: altered, or moved from another row.
    #[error("sealed value altered or moved from another row")]
    Forged,
}

struct SealingKey {
    id: [u8; KEY_ID_LEN],
    cipher: XChaCha20Poly1305,
}

impl SealingKey {
    fn from_store_key(key: &StoreKey) -> Self {
        let subkey: Zeroizing<[u8; 32]> = key.derive(PURPOSE);
        let digest = Sha256::digest(subkey.as_ref());
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Self {
            id,
            cipher: XChaCha20Poly1305::new(subkey.as_ref().into()),
        }
    }
}

/// Seals with the current key and opens with it or any older key it was given.
pub struct Sealer {
    current: SealingKey,
    older: Vec<SealingKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("current", &hex::encode(self.current.id))
            .field("older", &self.older.len())
            .finish()
    }
}

impl Sealer {
    /// A sealer under `current`, able to open values sealed under any of `older` too.
    pub fn new(current: &StoreKey, older: &[StoreKey]) -> Self {
        Self {
            current: SealingKey::from_store_key(current),
            older: older.iter().map(SealingKey::from_store_key).collect(),
        }
    }

    /// The id of the key new values are sealed under (hex), for the operator's records.
    pub fn current_key_id(&self) -> String {
        hex::encode(self.current.id)
    }

    /// The ids of the older keys it opens with (hex).
    pub fn older_key_ids(&self) -> Vec<String> {
        self.older.iter().map(|k| hex::encode(k.id)).collect()
    }

    /// Seal `plain` for the row named `row`, with a fresh random nonce from `rng`.
    pub fn seal(&self, row: &str, plain: &[u8], rng: &mut impl RngCore) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let sealed = self.current.cipher.encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plain,
                aad: row.as_bytes(),
            },
        );
        let Ok(sealed) = sealed else {
            // XChaCha20-Poly1305 refuses only messages beyond 256 GiB, which no row holds.
            unreachable!("a row's contents are far below the AEAD's length limit");
        };
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Open a value sealed for the row named `row`.
    pub fn open(&self, row: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < HEADER_LEN || sealed[0] != FORMAT {
            return Err(OpenError::Malformed);
        }
        let id = &sealed[1..1 + KEY_ID_LEN];
        let nonce: [u8; NONCE_LEN] = sealed[1 + KEY_ID_LEN..HEADER_LEN]
            .try_into()
            .map_err(|_| OpenError::Malformed)?;
        let key = std::iter::once(&self.current)
            .chain(&self.older)
            .find(|k| k.id == id)
            .ok_or_else(|| OpenError::UnknownKey(hex::encode(id)))?;
        key.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed[HEADER_LEN..],
                    aad: row.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Forged)
    }

    /// Whether `sealed` was sealed under an older key (and should be sealed again under the
    /// current one when rotating).
    pub fn needs_reseal(&self, sealed: &[u8]) -> bool {
        sealed.len() >= HEADER_LEN && sealed[1..1 + KEY_ID_LEN] != self.current.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn key(b: u8) -> StoreKey {
        StoreKey::from_bytes(&[b; 32]).expect("key")
    }

    #[test]
    fn a_sealed_value_opens_for_its_row_and_holds_no_plain_text() {
        let sealer = Sealer::new(&key(1), &[]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let plain = b"CANARY-visit-note: the child is placed at 12 Acacia Road";
        let sealed = sealer.seal("docs/d1", plain, &mut rng);
        assert_eq!(sealer.open("docs/d1", &sealed).expect("open"), plain);
        assert!(
            !sealed.windows(6).any(|w| w == b"CANARY"),
            "the plain text shows through"
        );
        assert_eq!(sealed.len(), HEADER_LEN + plain.len() + 16);
        let again = sealer.seal("docs/d1", plain, &mut rng);
        assert_ne!(
            sealed, again,
            "two seals of one value must differ (fresh nonces)"
        );
    }

    #[test]
    fn a_value_moved_to_another_row_altered_or_truncated_does_not_open() {
        let sealer = Sealer::new(&key(1), &[]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let sealed = sealer.seal("docs/d1", b"body", &mut rng);
        assert_eq!(sealer.open("docs/d2", &sealed), Err(OpenError::Forged));
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(sealer.open("docs/d1", &flipped), Err(OpenError::Forged));
        assert_eq!(
            sealer.open("docs/d1", &sealed[..HEADER_LEN - 1]),
            Err(OpenError::Malformed)
        );
        let mut other_format = sealed;
        other_format[0] = 2;
        assert_eq!(
            sealer.open("docs/d1", &other_format),
            Err(OpenError::Malformed)
        );
    }

    #[test]
    fn after_rotation_old_values_open_new_ones_use_the_new_key_and_a_stranger_key_is_named() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let old = Sealer::new(&key(1), &[]);
        let sealed_old = old.seal("audit/5", b"detail", &mut rng);
        let rotated = Sealer::new(&key(2), &[key(1)]);
        assert_eq!(
            rotated.open("audit/5", &sealed_old).expect("old opens"),
            b"detail"
        );
        assert!(rotated.needs_reseal(&sealed_old));
        let sealed_new = rotated.seal("audit/5", b"detail", &mut rng);
        assert!(!rotated.needs_reseal(&sealed_new));
        assert_ne!(old.current_key_id(), rotated.current_key_id());
        let stranger = Sealer::new(&key(3), &[]);
        assert_eq!(
            stranger.open("audit/5", &sealed_new),
            Err(OpenError::UnknownKey(rotated.current_key_id()))
        );
    }
}

//! The store's encryption key: 32 raw bytes handed in by the platform (Android Keystore,
//! iOS Keychain), wiped from memory when dropped and never printed.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Length of a store key in bytes.
const KEY_LEN: usize = 32;

/// A 256-bit key that encrypts the local store. It is used as a raw SQLCipher key, so no
/// key derivation happens anywhere: the caller supplies full-entropy bytes.
///
/// The bytes are zeroed when the key is dropped, and `Debug` prints `StoreKey(..)`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StoreKey {
    bytes: [u8; KEY_LEN],
}

impl StoreKey {
    /// The key made of `bytes`, which must be exactly 32 bytes long.
    ///
    /// # Errors
    /// [`Error::BadKeyLength`] for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bytes: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| Error::BadKeyLength(bytes.len()))?;
        Ok(Self { bytes })
    }

    /// The key made of `bytes`, which must be exactly 32 bytes long. The vector is wiped
    /// whether or not it is a valid key.
    ///
    /// # Errors
    /// [`Error::BadKeyLength`] for any other length.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self> {
        let bytes = Zeroizing::new(bytes);
        Self::from_bytes(&bytes)
    }

    /// A 32-byte subkey of this key for one `purpose` (HKDF-SHA256, the purpose as its info),
    /// so one key file can key several things without any of them learning the key itself.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; KEY_LEN]> {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, &self.bytes);
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        let info = format!("casebook/{purpose}");
        // 32 bytes is far below HKDF-SHA256's limit of 255 * 32, so expand cannot fail.
        if hk.expand(info.as_bytes(), out.as_mut()).is_err() {
            unreachable!("HKDF-SHA256 expands to 32 bytes");
        }
        out
    }

    /// The value for SQLCipher's `PRAGMA key` that sets this raw key: `x'<64 hex digits>'`.
    /// Every copy of the hex text lives in zeroizing memory.
    pub(crate) fn sqlcipher_raw_key(&self) -> Zeroizing<String> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        // Reserve the full length up front so the string never reallocates (which would
        // leave an unwiped copy behind).
        let mut value = Zeroizing::new(String::with_capacity(2 * KEY_LEN + 3));
        value.push_str("x'");
        for &byte in &self.bytes {
            value.push(char::from(HEX[usize::from(byte >> 4)]));
            value.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        value.push('\'');
        value
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl TryFrom<Vec<u8>> for StoreKey {
    type Error = Error;
    fn try_from(bytes: Vec<u8>) -> Result<Self> {
        Self::from_vec(bytes)
    }
}

impl TryFrom<&[u8]> for StoreKey {
    type Error = Error;
    fn try_from(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subkeys_differ_by_purpose_and_key_and_repeat_for_the_same_pair() {
        let a = StoreKey::from_bytes(&[1; 32]).expect("key");
        let b = StoreKey::from_bytes(&[2; 32]).expect("key");
        assert_eq!(*a.derive("seal/1"), *a.derive("seal/1"));
        assert_ne!(*a.derive("seal/1"), *a.derive("seal/2"));
        assert_ne!(*a.derive("seal/1"), *b.derive("seal/1"));
        assert_ne!(*a.derive("seal/1"), [1; 32]);
    }

    #[test]
    fn accepts_only_32_bytes() {
        assert!(StoreKey::from_bytes(&[1; 32]).is_ok());
        assert!(StoreKey::from_vec(vec![1; 32]).is_ok());
        for len in [0, 16, 31, 33, 64] {
            let err = StoreKey::from_bytes(&vec![1; len]).expect_err("wrong length");
            assert!(matches!(err, Error::BadKeyLength(n) if n == len), "{err:?}");
            assert!(matches!(
                StoreKey::from_vec(vec![1; len]),
                Err(Error::BadKeyLength(_))
            ));
        }
    }

    #[test]
    fn debug_never_shows_the_bytes() {
        let key = StoreKey::from_bytes(&[0xab; 32]).expect("valid key");
        let shown = format!("{key:?} {key:#?}");
        assert_eq!(format!("{key:?}"), "StoreKey(..)");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    }

    #[test]
    fn raw_key_pragma_value() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0x01;
        bytes[31] = 0xfe;
        let key = StoreKey::from_bytes(&bytes).expect("valid key");
        let value = key.sqlcipher_raw_key();
        assert_eq!(value.len(), 67);
        assert!(
            value.starts_with("x'01") && value.ends_with("fe'"),
            "{}",
            *value
        );
        assert!(value[2..66].bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn zeroize_clears_the_bytes() {
        let mut key = StoreKey::from_bytes(&[9; 32]).expect("valid key");
        key.zeroize();
        assert_eq!(key.bytes, [0; 32]);
    }
}

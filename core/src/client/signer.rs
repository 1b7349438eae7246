//! Who signs for the device: [`ChallengeSigner`], implemented by the software [`DeviceKey`]
//! (the fallback, its private bytes kept in the encrypted store) and by a key the app keeps in
//! the platform's hardware (Android Keystore, the Secure Enclave), which never leaves it.
//!
//! Whatever the signer, what reaches the server is checked here first: the public key must be
//! a P-256 point and each signature a valid ECDSA P-256 / SHA-256 signature of the payload by
//! the enrolled key, normalised to DER (the form the server verifies).

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

use super::identity::DeviceKey;
use crate::error::{Error, Result};

/// Something that holds the device's ECDSA P-256 key and signs with it.
///
/// The payload is what the server verifies (see
/// [`session_signing_payload`](crate::sync::wire::session_signing_payload)): a fixed prefix,
/// the device id and the server's random challenge. It never holds case content.
pub trait ChallengeSigner: Send + Sync {
    /// The public key: SEC1 (`04 || X || Y`, as the Secure Enclave exports it, or compressed)
    /// or X.509 SubjectPublicKeyInfo DER (as Android's `PublicKey.getEncoded()` gives it).
    fn public_key(&self) -> Result<Vec<u8>>;

    /// An ECDSA P-256 / SHA-256 signature of `payload` (the signer hashes it): DER (what
    /// Java's `SHA256withECDSA` and `SecKeyCreateSignature` produce) or raw `r || s`.
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>>;

    /// The app's name for the key (an Android Keystore alias, a Keychain tag), kept in the
    /// store beside the public key so the app can find the key again. Empty for a key
    /// without a name.
    fn key_alias(&self) -> String {
        String::new()
    }
}

impl ChallengeSigner for DeviceKey {
    fn public_key(&self) -> Result<Vec<u8>> {
        Ok(self.public_key_sec1())
    }

    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>> {
        let signature: Signature = self.signing_key().sign(payload);
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

/// A failure of signing (never carries case content: a signer only sees the payload).
pub(crate) fn signer_error(reason: impl Into<String>) -> Error {
    Error::Signer(reason.into())
}

/// `public_key` (SEC1 or SubjectPublicKeyInfo DER) as an uncompressed SEC1 P-256 point, or
/// an error if it is not a P-256 public key.
pub fn normalise_public_key(public_key: &[u8]) -> Result<Vec<u8>> {
    let key = VerifyingKey::from_sec1_bytes(public_key)
        .or_else(|_| VerifyingKey::from_public_key_der(public_key))
        .map_err(|_| signer_error("the public key is not a P-256 key (SEC1 or SPKI DER)"))?;
    Ok(key.to_encoded_point(false).as_bytes().to_vec())
}

/// Ask `signer` to sign `payload` and check the answer against `public_key` (uncompressed
/// SEC1): a DER signature the server will accept, or an error naming what went wrong.
pub fn sign_checked(
    signer: &dyn ChallengeSigner,
    public_key: &[u8],
    payload: &[u8],
) -> Result<Vec<u8>> {
    let key = VerifyingKey::from_sec1_bytes(public_key)
        .map_err(|_| signer_error("the enrolled public key is invalid"))?;
    let raw = signer.sign(payload)?;
    let signature = Signature::from_der(&raw)
        .or_else(|_| Signature::from_slice(&raw))
        .map_err(|_| signer_error("the signature is neither DER nor raw ECDSA P-256"))?;
    key.verify(payload, &signature)
        .map_err(|_| signer_error("the signature is not by this device's enrolled key"))?;
    // Some signers give a high-S signature; both verify, and DER carries either.
    Ok(signature.to_der().as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::EncodePublicKey;
    use rand::rngs::OsRng;

    use super::*;

    /// A stand-in for the app's hardware key: the private key lives here, not in a store.
    struct AppKey {
        key: SigningKey,
        raw: bool,
    }

    impl ChallengeSigner for AppKey {
        fn public_key(&self) -> Result<Vec<u8>> {
            let spki = self.key.verifying_key().to_public_key_der();
            Ok(spki
                .map_err(|_| signer_error("encode"))?
                .as_bytes()
                .to_vec())
        }

        fn sign(&self, payload: &[u8]) -> Result<Vec<u8>> {
            let signature: Signature = self.key.sign(payload);
            Ok(if self.raw {
                signature.to_bytes().to_vec()
            } else {
                signature.to_der().as_bytes().to_vec()
            })
        }
    }

    fn verifies(public_sec1: &[u8], payload: &[u8], der: &[u8]) -> bool {
        let key = VerifyingKey::from_sec1_bytes(public_sec1).expect("key");
        let signature = Signature::from_der(der).expect("DER");
        key.verify(payload, &signature).is_ok()
    }

    #[test]
    fn the_software_key_signs_der_that_verifies() {
        let key = DeviceKey::generate(&mut OsRng);
        let public = normalise_public_key(&key.public_key().expect("public")).expect("P-256");
        assert_eq!(public, key.public_key_sec1());
        let der = sign_checked(&key, &public, b"payload").expect("sign");
        assert!(verifies(&public, b"payload", &der));
    }

    #[test]
    fn an_app_key_in_spki_and_raw_signatures_are_normalised() {
        for raw in [false, true] {
            let app = AppKey {
                key: SigningKey::random(&mut OsRng),
                raw,
            };
            let public = normalise_public_key(&app.public_key().expect("spki")).expect("P-256");
            assert_eq!(public.len(), 65);
            assert_eq!(public[0], 4);
            let der = sign_checked(&app, &public, b"payload").expect("sign");
            assert!(verifies(&public, b"payload", &der), "raw={raw}");
        }
    }

    #[test]
    fn a_signature_by_another_key_or_garbage_is_refused_before_the_server() {
        let enrolled = DeviceKey::generate(&mut OsRng).public_key_sec1();
        let other = DeviceKey::generate(&mut OsRng);
        let err = sign_checked(&other, &enrolled, b"payload").expect_err("other key");
        assert!(err.to_string().contains("not by this device"), "{err}");

        struct Garbage;
        impl ChallengeSigner for Garbage {
            fn public_key(&self) -> Result<Vec<u8>> {
                Ok(vec![1, 2, 3])
            }
            fn sign(&self, _: &[u8]) -> Result<Vec<u8>> {
                Ok(vec![0x30, 0x02, 0x01])
            }
        }
        assert!(normalise_public_key(&Garbage.public_key().expect("bytes")).is_err());
        let err = sign_checked(&Garbage, &enrolled, b"payload").expect_err("garbage");
        assert!(err.to_string().contains("neither DER nor raw"), "{err}");
    }
}

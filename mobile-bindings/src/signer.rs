//! The app's device key: a foreign [`DeviceSigner`] backed by the Android Keystore or the
//! Secure Enclave, so the private key never leaves the hardware and a copy of the store
//! cannot open a session. Without one, the device keeps a software key in its encrypted store.
//!
//! The signer is called while a sync or an enrolment opens its session, from one of the
//! library's worker threads; it should answer within a second or two (a key that needs the
//! user's biometrics should be authorised for a few seconds at a time, not per use).

use std::sync::Arc;

use casebook_core::client::ChallengeSigner;

/// Why the app's signer could not sign. Kotlin sees `SignerException.KeyUnavailable` etc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The key is gone or unusable (deleted, invalidated by a new fingerprint, the user has
    /// not authenticated). The device must enrol again if the key is gone for good.
    #[error("the device key is unavailable: {reason}")]
    KeyUnavailable {
        /// Why, in the app's words (never case content).
        reason: String,
    },
    /// Signing failed for another reason; try again.
    #[error("signing failed: {reason}")]
    Failed {
        /// Why, in the app's words (never case content).
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for SignerError {
    fn from(_: uniffi::UnexpectedUniFFICallbackError) -> Self {
        // The exception's text is the app's and could say anything; keep it out of logs.
        SignerError::Failed {
            reason: "the app's signer threw an unexpected exception".into(),
        }
    }
}

/// Implemented by the app: holds the device's ECDSA P-256 key in the platform's hardware.
#[uniffi::export(foreign)]
pub trait DeviceSigner: Send + Sync {
    /// The app's name for the key (Android Keystore alias, Keychain application tag). Kept in
    /// the store beside the public key (see `Casebook.deviceKeyAlias()`).
    fn key_alias(&self) -> String;

    /// The public key: X.509 SubjectPublicKeyInfo DER (Android's `PublicKey.getEncoded()`) or
    /// SEC1 (`SecKeyCopyExternalRepresentation`: `04 || X || Y`).
    fn public_key(&self) -> Result<Vec<u8>, SignerError>;

    /// Sign `payload` with ECDSA P-256 over its SHA-256 (`SHA256withECDSA`,
    /// `.ecdsaSignatureMessageX962SHA256`): DER, or raw `r || s` (64 bytes). The payload is a
    /// fixed prefix, the device id and the server's random challenge; never case content.
    fn sign(&self, payload: Vec<u8>) -> Result<Vec<u8>, SignerError>;
}

/// The app's signer, as the core's [`ChallengeSigner`].
pub(crate) struct AppSigner(pub(crate) Arc<dyn DeviceSigner>);

fn core_error(error: SignerError) -> casebook_core::Error {
    casebook_core::Error::Signer(error.to_string())
}

impl ChallengeSigner for AppSigner {
    fn public_key(&self) -> casebook_core::Result<Vec<u8>> {
        self.0.public_key().map_err(core_error)
    }

    fn sign(&self, payload: &[u8]) -> casebook_core::Result<Vec<u8>> {
        self.0.sign(payload.to_vec()).map_err(core_error)
    }

    fn key_alias(&self) -> String {
        self.0.key_alias()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Refuses;

    impl DeviceSigner for Refuses {
        fn key_alias(&self) -> String {
            "alias".into()
        }
        fn public_key(&self) -> Result<Vec<u8>, SignerError> {
            Err(SignerError::KeyUnavailable {
                reason: "invalidated".into(),
            })
        }
        fn sign(&self, _payload: Vec<u8>) -> Result<Vec<u8>, SignerError> {
            Err(SignerError::from(
                uniffi::UnexpectedUniFFICallbackError::new("text the app wrote"),
            ))
        }
    }

    #[test]
    fn the_app_signers_failures_reach_the_core_as_signer_errors() {
        let signer = AppSigner(Arc::new(Refuses));
        assert_eq!(signer.key_alias(), "alias");
        let unavailable = signer.public_key().expect_err("refused");
        assert!(
            matches!(&unavailable, casebook_core::Error::Signer(r) if r.contains("unavailable")),
            "{unavailable:?}"
        );
        let thrown = signer.sign(b"payload").expect_err("threw");
        let casebook_core::Error::Signer(reason) = thrown else {
            panic!("{thrown:?}");
        };
        assert!(!reason.contains("text the app wrote"), "{reason}");
    }
}

//! The device's enrolled identity: its ECDSA P-256 key pair (created on the device), the ids
//! the server gave it, and how to reach and trust the server. Kept in the encrypted store.

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::ids::{DeviceId, UserId};
use crate::store::{Store, WriteOp};
use crate::sync::wire::session_signing_payload;

const IDENTITY_KEY: &str = "device.identity";

/// How the device decides to trust the server's TLS certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerTrust {
    /// Trust the server whose certificate's public key (SubjectPublicKeyInfo DER) has this
    /// SHA-256, hex with colons optional: the SPKI pin `casebook-server` prints.
    Pin(String),
    /// Trust certificates issued by this CA (PEM).
    Ca(String),
}

/// A new device key pair, before enrolment.
pub struct DeviceKey(SigningKey);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceKey(..)")
    }
}

impl DeviceKey {
    /// A fresh key pair from the caller's cryptographic randomness.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        DeviceKey(SigningKey::random(rng))
    }

    /// The public key, SEC1 encoded, for enrolment.
    pub fn public_key_sec1(&self) -> Vec<u8> {
        self.0
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.to_bytes().to_vec())
    }
}

/// Everything a device needs to sync: who it is, its key, and where its server is.
#[derive(Clone, Serialize, Deserialize)]
pub struct DeviceIdentity {
    /// The device id the server assigned (also its automerge actor).
    pub device_id: DeviceId,
    /// The enrolled user.
    pub user_id: UserId,
    /// The user's role, for menus only.
    pub role: String,
    /// The server's identity; sync states are kept per server.
    pub server_id: String,
    /// The server's base URL (`https://host:port`).
    pub server_url: String,
    /// How the server's certificate is trusted.
    pub trust: ServerTrust,
    #[serde(with = "secret_b64")]
    secret: Zeroizing<Vec<u8>>,
}

mod secret_b64 {
    use serde::{Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(
        bytes: &Zeroizing<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        crate::sync::wire::b64::serialize(bytes.as_slice(), s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Zeroizing<Vec<u8>>, D::Error> {
        crate::sync::wire::b64::deserialize(d).map(Zeroizing::new)
    }
}

impl std::fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("device_id", &self.device_id)
            .field("user_id", &self.user_id)
            .field("server_id", &self.server_id)
            .finish_non_exhaustive()
    }
}

impl DeviceIdentity {
    /// The identity for `key` after the server accepted its enrolment.
    pub fn new(
        key: &DeviceKey,
        device_id: DeviceId,
        user_id: UserId,
        role: String,
        server_id: String,
        server_url: String,
        trust: ServerTrust,
    ) -> Self {
        Self {
            device_id,
            user_id,
            role,
            server_id,
            server_url,
            trust,
            secret: key.secret_bytes(),
        }
    }

    /// Sign a session challenge (DER-encoded ECDSA P-256 / SHA-256).
    pub fn sign_challenge(&self, challenge: &[u8]) -> Result<Vec<u8>> {
        let key = SigningKey::from_slice(&self.secret)
            .map_err(|_| Error::Protocol("stored device key is invalid".into()))?;
        let signature: Signature = key.sign(&session_signing_payload(&self.device_id, challenge));
        Ok(signature.to_der().as_bytes().to_vec())
    }

    /// The author of this device's edits.
    pub fn author(&self) -> crate::doc::Author {
        crate::doc::Author {
            user: self.user_id,
            device: self.device_id,
        }
    }

    /// Load the identity kept in `store`, if this device is enrolled.
    pub fn load(store: &dyn Store) -> Result<Option<Self>> {
        let Some(bytes) = store.meta(IDENTITY_KEY)? else {
            return Ok(None);
        };
        let bytes = Zeroizing::new(bytes);
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| Error::Protocol("stored device identity does not decode".into()))
    }

    /// The write that keeps this identity in the store.
    pub fn save_op(&self) -> Result<WriteOp> {
        let value = serde_json::to_vec(self).map_err(|e| Error::Protocol(e.to_string()))?;
        Ok(WriteOp::PutMeta {
            key: IDENTITY_KEY.into(),
            value,
        })
    }
}

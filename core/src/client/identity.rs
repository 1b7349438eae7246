//! The device's enrolled identity: its ECDSA P-256 key (a software key created on the device
//! and kept in the store, or a key held by the app's signer, of which the store keeps only the
//! public key and the app's alias), the ids the server gave it, and how to reach and trust the
//! server. Kept in the encrypted store.

use p256::ecdsa::SigningKey;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::ids::{DeviceId, UserId};
use crate::store::{Store, WriteOp};
use crate::sync::wire::session_signing_payload;

use super::signer::{ChallengeSigner, sign_checked, signer_error};

const IDENTITY_KEY: &str = "device.identity";

/// Check the name this device will be shown as (to its user's other devices and to
/// administrators) before an enrolment spends its code: see [`crate::names`].
pub(crate) fn check_device_name(name: &str) -> Result<()> {
    crate::names::check_display_name(name).map_err(|e| Error::invalid("device_name", e.to_string()))
}

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

    pub(super) fn signing_key(&self) -> &SigningKey {
        &self.0
    }
}

/// A key held by the app's signer: what the store keeps of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalKey {
    /// The public key, uncompressed SEC1.
    #[serde(with = "crate::sync::wire::b64")]
    pub public_key: Vec<u8>,
    /// The app's name for the key (an Android Keystore alias, a Keychain tag).
    pub alias: String,
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
    /// The software key's private scalar; absent when the app's signer holds the key.
    #[serde(default, with = "secret_b64", skip_serializing_if = "Option::is_none")]
    secret: Option<Zeroizing<Vec<u8>>>,
    /// The key the app's signer holds; absent for a software key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    external: Option<ExternalKey>,
}

mod secret_b64 {
    use serde::{Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(
        bytes: &Option<Zeroizing<Vec<u8>>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => crate::sync::wire::b64::serialize(bytes.as_slice(), s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, D::Error> {
        crate::sync::wire::b64::deserialize(d).map(|b| Some(Zeroizing::new(b)))
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
            secret: Some(key.secret_bytes()),
            external: None,
        }
    }

    /// The identity for a key the app's signer holds, after the server accepted its
    /// enrolment: the store keeps its public key and alias, never private bytes.
    pub fn with_external_key(
        key: ExternalKey,
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
            secret: None,
            external: Some(key),
        }
    }

    /// The key the app's signer holds for this device, if the app's signer holds it.
    pub fn external_key(&self) -> Option<&ExternalKey> {
        self.external.as_ref()
    }

    /// Sign a session challenge with the software key kept in the store (DER-encoded ECDSA
    /// P-256 / SHA-256). Fails for a device whose key the app's signer holds.
    pub fn sign_challenge(&self, challenge: &[u8]) -> Result<Vec<u8>> {
        self.sign_challenge_with(None, challenge)
    }

    /// Sign a session challenge with this device's key: the software key kept in the store,
    /// or else `signer`, the app's, which must hold the enrolled key (checked here, so a
    /// wrong or missing signer fails before anything is sent).
    pub fn sign_challenge_with(
        &self,
        signer: Option<&dyn ChallengeSigner>,
        challenge: &[u8],
    ) -> Result<Vec<u8>> {
        let payload = session_signing_payload(&self.device_id, challenge);
        if let Some(secret) = &self.secret {
            let key = DeviceKey(
                SigningKey::from_slice(secret)
                    .map_err(|_| Error::Protocol("stored device key is invalid".into()))?,
            );
            let public = key.public_key_sec1();
            return sign_checked(&key, &public, &payload);
        }
        let Some(external) = &self.external else {
            return Err(Error::Protocol("stored device identity has no key".into()));
        };
        let signer = signer.ok_or_else(|| {
            signer_error("this device's key is held by the app's signer, which was not supplied")
        })?;
        sign_checked(signer, &external.public_key, &payload)
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
        let identity: Self = serde_json::from_slice(&bytes)
            .map_err(|_| Error::Protocol("stored device identity does not decode".into()))?;
        if identity.secret.is_some() == identity.external.is_some() {
            return Err(Error::Protocol(
                "stored device identity must hold exactly one key".into(),
            ));
        }
        Ok(Some(identity))
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

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{Signature, VerifyingKey};
    use rand::rngs::OsRng;

    use super::*;
    use crate::store::MemoryStore;

    fn b64_string(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// The app's hardware key, as the core sees it: it signs, and nobody gets its bytes.
    struct AppKey(DeviceKey, &'static str);

    impl ChallengeSigner for AppKey {
        fn public_key(&self) -> Result<Vec<u8>> {
            Ok(self.0.public_key_sec1())
        }
        fn sign(&self, payload: &[u8]) -> Result<Vec<u8>> {
            self.0.sign(payload)
        }
        fn key_alias(&self) -> String {
            self.1.into()
        }
    }

    fn ids() -> (DeviceId, UserId) {
        (DeviceId::random(&mut OsRng), UserId::random(&mut OsRng))
    }

    fn software(key: &DeviceKey) -> DeviceIdentity {
        let (device, user) = ids();
        let trust = ServerTrust::Pin("AB".repeat(32));
        DeviceIdentity::new(
            key,
            device,
            user,
            "guardian".into(),
            "s".into(),
            "u".into(),
            trust,
        )
    }

    fn external(app: &AppKey) -> DeviceIdentity {
        let (device, user) = ids();
        let key = ExternalKey {
            public_key: app.0.public_key_sec1(),
            alias: app.key_alias(),
        };
        let trust = ServerTrust::Pin("AB".repeat(32));
        DeviceIdentity::with_external_key(
            key,
            device,
            user,
            "guardian".into(),
            "s".into(),
            "u".into(),
            trust,
        )
    }

    fn saved_and_loaded(identity: &DeviceIdentity) -> (Vec<u8>, DeviceIdentity) {
        let mut store = MemoryStore::new();
        store
            .apply(vec![identity.save_op().expect("op")])
            .expect("save");
        let bytes = store.meta(IDENTITY_KEY).expect("meta").expect("saved");
        let loaded = DeviceIdentity::load(&store).expect("load").expect("some");
        (bytes, loaded)
    }

    fn verifies(public_sec1: &[u8], device: &DeviceId, challenge: &[u8], der: &[u8]) -> bool {
        let key = VerifyingKey::from_sec1_bytes(public_sec1).expect("key");
        let signature = Signature::from_der(der).expect("DER");
        key.verify(&session_signing_payload(device, challenge), &signature)
            .is_ok()
    }

    #[test]
    fn the_software_fallback_keeps_its_key_and_signs_as_before() {
        let key = DeviceKey::generate(&mut OsRng);
        let (bytes, loaded) = saved_and_loaded(&software(&key));
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert!(json.get("secret").is_some() && json.get("external").is_none());
        assert!(loaded.external_key().is_none());
        let der = loaded.sign_challenge(b"challenge").expect("sign");
        let public = key.public_key_sec1();
        assert!(verifies(&public, &loaded.device_id, b"challenge", &der));
        // A supplied signer does not replace the enrolled software key.
        let other = AppKey(DeviceKey::generate(&mut OsRng), "other");
        let der = loaded
            .sign_challenge_with(Some(&other), b"challenge")
            .expect("sign");
        assert!(verifies(&public, &loaded.device_id, b"challenge", &der));
    }

    #[test]
    fn a_stored_identity_from_before_signers_still_loads() {
        let key = DeviceKey::generate(&mut OsRng);
        let old = serde_json::json!({
            "device_id": DeviceId::random(&mut OsRng),
            "user_id": UserId::random(&mut OsRng),
            "role": "carer",
            "server_id": "s",
            "server_url": "https://127.0.0.1:1",
            "trust": {"pin": "AB"},
            "secret": b64_string(&key.secret_bytes()),
        });
        let mut store = MemoryStore::new();
        store
            .apply(vec![WriteOp::PutMeta {
                key: IDENTITY_KEY.into(),
                value: serde_json::to_vec(&old).expect("json"),
            }])
            .expect("save");
        let loaded = DeviceIdentity::load(&store).expect("load").expect("some");
        let der = loaded.sign_challenge(b"c").expect("sign");
        assert!(verifies(
            &key.public_key_sec1(),
            &loaded.device_id,
            b"c",
            &der
        ));
    }

    #[test]
    fn an_app_held_key_leaves_only_its_public_key_and_alias_in_the_store() {
        let app = AppKey(DeviceKey::generate(&mut OsRng), "casebook-device-key");
        let (bytes, loaded) = saved_and_loaded(&external(&app));
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert!(json.get("secret").is_none(), "{json}");
        let secret = app.0.secret_bytes();
        let b64 = b64_string(&secret);
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_slice()));
        assert!(!String::from_utf8_lossy(&bytes).contains(&b64));
        assert_eq!(
            loaded.external_key().map(|k| k.alias.as_str()),
            Some("casebook-device-key")
        );

        let der = loaded
            .sign_challenge_with(Some(&app), b"challenge")
            .expect("the app's key signs");
        let public = app.0.public_key_sec1();
        assert!(verifies(&public, &loaded.device_id, b"challenge", &der));

        // Without the app's signer, or with another key, nothing is signed.
        let missing = loaded.sign_challenge(b"challenge").expect_err("no signer");
        assert!(matches!(missing, Error::Signer(_)), "{missing:?}");
        let clone = AppKey(DeviceKey::generate(&mut OsRng), "casebook-device-key");
        let wrong = loaded
            .sign_challenge_with(Some(&clone), b"challenge")
            .expect_err("another key");
        assert!(matches!(wrong, Error::Signer(_)), "{wrong:?}");
    }

    #[test]
    fn an_identity_with_no_key_or_two_keys_is_refused() {
        let key = DeviceKey::generate(&mut OsRng);
        let mut both = software(&key);
        both.external = Some(ExternalKey {
            public_key: key.public_key_sec1(),
            alias: "a".into(),
        });
        let mut neither = software(&key);
        neither.secret = None;
        for identity in [both, neither] {
            let mut store = MemoryStore::new();
            store
                .apply(vec![identity.save_op().expect("op")])
                .expect("save");
            assert!(DeviceIdentity::load(&store).is_err());
        }
    }
}

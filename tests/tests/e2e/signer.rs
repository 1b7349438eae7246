//! The device key held by the app's signer (Android Keystore, Secure Enclave): the store keeps
//! no private key, so a copy of the store on another phone cannot open a session, while a copy
//! of a software-key store can (the threat this defends against).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use base64::Engine;
use casebook_core::Error;
use casebook_core::client::{self, ChallengeSigner, DeviceIdentity, Transport};
use casebook_core::doc::Edit;
use casebook_core::model::Profile;
use casebook_core::repo::Repo;
use casebook_core::store::{SqliteStore, StoreKey, open_encrypted};
use casebook_core::sync::wire::session_signing_payload;
use casebook_tests::support::{Harness, pin};
use chrono::Utc;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use rand::rngs::OsRng;

const ALIAS: &str = "casebook-device-key";

/// The app's hardware key: the private key lives here (in the "secure hardware"), and the
/// core only ever gets its public key and signatures.
struct HardwareKey(SigningKey);

impl ChallengeSigner for HardwareKey {
    fn public_key(&self) -> casebook_core::Result<Vec<u8>> {
        // As Android gives it: X.509 SubjectPublicKeyInfo DER.
        let spki = self.0.verifying_key().to_public_key_der();
        Ok(spki.expect("encode SPKI").as_bytes().to_vec())
    }

    fn sign(&self, payload: &[u8]) -> casebook_core::Result<Vec<u8>> {
        let signature: Signature = self.0.sign(payload);
        Ok(signature.to_der().as_bytes().to_vec())
    }

    fn key_alias(&self) -> String {
        ALIAS.into()
    }
}

fn open(path: &Path, key: &[u8; 32]) -> Result<Mutex<Repo>> {
    let store = SqliteStore::open(path, StoreKey::from_bytes(key)?)?;
    Ok(Mutex::new(Repo::new(store)))
}

async fn sync(
    repo: &Mutex<Repo>,
    identity: &DeviceIdentity,
    signer: Option<&dyn ChallengeSigner>,
) -> casebook_core::Result<client::SyncOutcome> {
    client::sync_now_with_signer(
        repo,
        identity,
        signer,
        &|| Utc::now().into(),
        &|_| {},
        &AtomicBool::new(false),
    )
    .await
}

/// Copy a closed store's files (the database and any WAL beside it) to `to`, as a thief
/// copying them off a phone would.
fn copy_store(from: &Path, to: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let source = PathBuf::from(format!("{}{suffix}", from.display()));
        if source.exists() {
            std::fs::copy(&source, format!("{}{suffix}", to.display()))?;
        }
    }
    Ok(())
}

/// Every text and blob value in every table of the decrypted store.
fn decrypted_values(path: &Path, key: &[u8; 32]) -> Result<Vec<Vec<u8>>> {
    let conn = open_encrypted(path, StoreKey::from_bytes(key)?)?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(!tables.is_empty(), "no tables in the store");
    let mut values = Vec::new();
    for table in tables {
        let mut statement = conn.prepare(&format!("SELECT * FROM \"{table}\""))?;
        let columns = statement.column_count();
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            for i in 0..columns {
                match row.get_ref(i)? {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        values.push(t.to_vec());
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(values)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn identity_json(path: &Path, key: &[u8; 32]) -> Result<serde_json::Value> {
    let conn = open_encrypted(path, StoreKey::from_bytes(key)?)?;
    let bytes: Vec<u8> = conn.query_row(
        "SELECT value FROM meta WHERE key = 'device.identity'",
        [],
        |row| row.get(0),
    )?;
    Ok(serde_json::from_slice(&bytes)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloned_store_cannot_open_a_session_when_the_app_signer_holds_the_key() -> Result<()> {
    let h = Harness::start().await?;
    let guardian = h.admin.user("guardian", "guardian").await?;
    let code = h.admin.code(&guardian).await?;
    let dir = h.devices_dir.path();
    let (phone, clone) = (dir.join("phone.db"), dir.join("clone.db"));
    let store_key = [9u8; 32];
    let hardware = HardwareKey(SigningKey::random(&mut OsRng));

    // The phone enrols with its hardware key and syncs a case.
    let repo = open(&phone, &store_key)?;
    let url = h.server.base_url();
    let identity = client::enrol_with_signer(
        &repo,
        &url,
        pin(&h.server),
        &code,
        "guardian phone",
        &hardware,
        Utc::now().into(),
    )
    .await?;
    assert_eq!(
        identity.external_key().map(|k| k.alias.as_str()),
        Some(ALIAS)
    );
    let profile = Profile {
        case_reference: "HUL-SIGNER-1".into(),
        ..Profile::default()
    };
    let edit = Edit::new(identity.author(), Utc::now());
    repo.lock()
        .expect("repo")
        .create_case(&edit, &mut OsRng, &profile)?;
    let outcome = sync(&repo, &identity, Some(&hardware)).await?;
    assert!(outcome.report.docs_pushed >= 1, "{:?}", outcome.report);
    drop(repo);

    // The decrypted store holds no private key material, in any encoding.
    let secret = hardware.0.to_bytes().to_vec();
    let encodings = [
        secret.clone(),
        hex::encode(&secret).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(&secret)
            .into_bytes(),
    ];
    let values = decrypted_values(&phone, &store_key)?;
    for value in &values {
        for encoded in &encodings {
            assert!(!contains(value, encoded), "the private key is in the store");
        }
    }
    let json = identity_json(&phone, &store_key)?;
    assert!(json.get("secret").is_none(), "{json}");
    assert_eq!(json["external"]["alias"], ALIAS);

    // A thief copies the store and its key to a phone without the hardware key.
    copy_store(&phone, &clone)?;
    let stolen = open(&clone, &store_key)?;
    let stolen_identity =
        DeviceIdentity::load(stolen.lock().expect("repo").store())?.expect("the copy is enrolled");
    assert_eq!(stolen_identity.device_id, identity.device_id);
    let err = sync(&stolen, &stolen_identity, None)
        .await
        .expect_err("no signer");
    assert!(matches!(err, Error::Signer(_)), "{err:?}");
    // With a key of its own in its signer: refused before anything is sent.
    let thief = HardwareKey(SigningKey::random(&mut OsRng));
    let err = sync(&stolen, &stolen_identity, Some(&thief))
        .await
        .expect_err("another key");
    assert!(matches!(err, Error::Signer(_)), "{err:?}");
    // Going round the library: the server refuses a signature by any other key.
    let transport = Transport::new(&url, &stolen_identity.trust)?;
    let device = stolen_identity.device_id;
    let err = transport
        .open_session(
            device,
            |c| thief.sign(&session_signing_payload(&device, c)),
            &mut Default::default(),
        )
        .await
        .expect_err("the server refuses another key");
    assert!(
        matches!(
            err,
            Error::Unauthenticated | Error::Server { status: 401, .. }
        ),
        "{err:?}"
    );
    drop(stolen);

    // The phone with its hardware key keeps syncing.
    let repo = open(&phone, &store_key)?;
    sync(&repo, &identity, Some(&hardware)).await?;

    // The baseline: a copy of a software-key store opens a session as that phone.
    let worker = h.admin.user("social worker", "social_worker").await?;
    let code = h.admin.code(&worker).await?;
    let (software, software_copy) = (dir.join("sw.db"), dir.join("sw-copy.db"));
    let repo = open(&software, &store_key)?;
    let mut rng = OsRng;
    let now = Utc::now().into();
    client::enrol(&repo, &url, pin(&h.server), &code, "sw", &mut rng, now).await?;
    drop(repo);
    assert!(
        identity_json(&software, &store_key)?
            .get("secret")
            .is_some()
    );
    copy_store(&software, &software_copy)?;
    let copied = open(&software_copy, &store_key)?;
    let copied_identity =
        DeviceIdentity::load(copied.lock().expect("repo").store())?.expect("the copy is enrolled");
    sync(&copied, &copied_identity, None).await?;
    Ok(())
}

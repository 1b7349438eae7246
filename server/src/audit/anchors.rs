//! Signed anchors of the audit chain: every so many rows or seconds, and at shutdown, the
//! server signs the chain's head (row id, hash, time) with an Ed25519 key kept apart from the
//! database key, and appends the signed head as one JSON line to a file outside the data
//! directory (and to the log, for syslog or journald). `audit verify --anchors` then checks
//! that the chain still holds every anchored head: someone holding the database key can
//! recompute the hashes after rewriting or truncating the log, but cannot sign a new head.
//!
//! What the anchors cannot see: rows appended after the newest anchor that are later
//! removed, and anything done by someone holding the signing key too. Keep the key file
//! (`--audit-signing-key-file`) and the anchors file (`--audit-anchors`) off the database's
//! disk, and ship the anchors file elsewhere (append-only storage, a log collector).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::sql::Conn;
use crate::state::Clock;

/// The signing key file's name inside the data directory, when no other file is configured.
pub const DEFAULT_SIGNING_KEY_FILE: &str = "audit-signing.key";

/// Anchor after this many new rows, by default (noticed at the next check; the running
/// server checks the head once a second).
pub const DEFAULT_EVERY_ROWS: u64 = 1000;
/// Anchor new rows at least this often (seconds), by default.
pub const DEFAULT_EVERY_SECS: u64 = 300;

/// Domain separation for the signed message.
const CONTEXT: &[u8] = b"casebook-audit-anchor-v1\0";

/// Where the anchors go by default: beside the data directory, not inside it,
/// `<parent>/<data-dir name>.audit-anchors.jsonl`.
pub fn default_anchors_file(data_dir: &Path) -> PathBuf {
    let name = data_dir
        .file_name()
        .map_or_else(|| "casebook-data".into(), |n| n.to_string_lossy());
    let parent = data_dir.parent().unwrap_or_else(|| Path::new("."));
    parent.join(format!("{name}.audit-anchors.jsonl"))
}

/// How and where to anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorConfig {
    /// The Ed25519 signing key file (64 hex characters of seed, mode 600).
    pub key_file: PathBuf,
    /// The append-only JSON-lines file of signed heads.
    pub anchors_file: PathBuf,
    /// Anchor once this many rows were appended since the last anchor.
    pub every_rows: u64,
    /// Anchor new rows at least this often, in seconds.
    pub every_secs: u64,
}

/// One signed head of the chain, as written to the anchors file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The newest row's id when anchored.
    pub row_id: i64,
    /// Hex of that row's chain hash.
    pub hash: String,
    /// Unix seconds when anchored.
    pub at: i64,
    /// Hex of the first 8 bytes of SHA-256 over the signing public key.
    pub key_id: String,
    /// Hex of the Ed25519 signature over the context, `row_id`, hash and `at`.
    pub signature: String,
}

fn message(row_id: i64, hash: &[u8; 32], at: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + 48);
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(&row_id.to_be_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(&at.to_be_bytes());
    m
}

/// The key id printed beside a public key and recorded in every anchor.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Sign the head (`row_id`, `hash`) at time `at`.
pub fn sign(key: &SigningKey, row_id: i64, hash: &[u8; 32], at: i64) -> Anchor {
    let signature = key.sign(&message(row_id, hash, at));
    Anchor {
        row_id,
        hash: hex::encode(hash),
        at,
        key_id: key_id(&key.verifying_key()),
        signature: hex::encode(signature.to_bytes()),
    }
}

/// Read the signing key, creating it (mode 600) if the file does not exist. Returns whether
/// it was created.
pub fn load_or_create_key(path: &Path) -> Result<(SigningKey, bool)> {
    if path.exists() {
        return Ok((read_key(path)?, false));
    }
    let seed = crate::db::create_secret_file(path)?;
    Ok((SigningKey::from_bytes(&seed), true))
}

/// Read a signing key file: 64 hex characters, not readable by group or others.
pub fn read_key(path: &Path) -> Result<SigningKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Error::Config(format!(
                "the audit signing key file {} is readable by other users (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            )));
        }
    }
    let text = Zeroizing::new(std::fs::read_to_string(path)?);
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), seed.as_mut()).map_err(|_| {
        Error::Config(format!(
            "the audit signing key file {} must hold 64 hex characters",
            path.display()
        ))
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Parse a public key given as 64 hex characters.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes)
        .map_err(|_| Error::Config("the audit public key must be 64 hex characters".into()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| Error::Config("not an Ed25519 public key".into()))
}

/// Append one anchor to the file (created mode 600 if absent) and flush it to disk.
pub fn append_anchor(path: &Path, anchor: &Anchor) -> Result<()> {
    let line = serde_json::to_string(anchor).map_err(|e| Error::Corrupt(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(path)?;
    out.write_all(format!("{line}\n").as_bytes())?;
    out.sync_all()?;
    Ok(())
}

/// Signs the chain's head when due and writes the anchors.
#[derive(Debug)]
pub struct Anchorer {
    key: SigningKey,
    config: AnchorConfig,
    /// The last anchored row id and when; `None` before the first anchor of this process.
    last: Option<(i64, i64)>,
}

impl Anchorer {
    /// An anchorer signing with `key` as `config` says.
    pub fn new(key: SigningKey, config: AnchorConfig) -> Self {
        Self {
            key,
            config,
            last: None,
        }
    }

    /// The public key verifiers need.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Anchor the head of the chain in `conn` if it moved and is due (or `force`), at `now`.
    /// Returns the anchor written, if any.
    pub fn anchor_if_due(
        &mut self,
        conn: Conn<'_>,
        now: i64,
        force: bool,
    ) -> Result<Option<Anchor>> {
        let Some((row_id, hash)) = super::head(conn)? else {
            return Ok(None);
        };
        let due = match self.last {
            None => true,
            Some((last_id, _)) if last_id >= row_id => false,
            Some((last_id, last_at)) => {
                force
                    || u64::try_from(row_id - last_id).unwrap_or(0) >= self.config.every_rows
                    || u64::try_from(now - last_at).unwrap_or(0) >= self.config.every_secs
            }
        };
        if !due {
            return Ok(None);
        }
        let anchor = sign(&self.key, row_id, &hash, now);
        append_anchor(&self.config.anchors_file, &anchor)?;
        tracing::info!(
            target: "casebook::audit_anchor",
            row_id = anchor.row_id,
            hash = %anchor.hash,
            at = anchor.at,
            key_id = %anchor.key_id,
            signature = %anchor.signature,
            "audit chain anchored"
        );
        self.last = Some((row_id, now));
        Ok(Some(anchor))
    }
}

/// How often the running server looks at the chain's head.
const POLL: Duration = Duration::from_secs(1);

/// Anchor `db`'s chain while the server runs, and a last time once `stop` is cancelled
/// (after the server has drained its connections). Failures are logged, never fatal.
pub fn spawn(
    anchorer: Anchorer,
    db: Db,
    clock: Clock,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut anchorer = anchorer;
        let mut tick = tokio::time::interval(POLL);
        loop {
            let force = tokio::select! {
                () = stop.cancelled() => true,
                _ = tick.tick() => false,
            };
            let db = db.clone();
            let now = clock.now();
            let joined = tokio::task::spawn_blocking(move || {
                // Marked as a blocking-pool thread, so PostgreSQL's statements are waited
                // for here rather than each on a thread of its own.
                let result = crate::sql::postgres::on_blocking_thread(|| {
                    db.read_blocking(|c| anchorer.anchor_if_due(c, now, force))
                });
                (anchorer, result)
            })
            .await;
            match joined {
                Ok((back, result)) => {
                    anchorer = back;
                    if let Err(e) = result {
                        tracing::error!(error = %e, "could not anchor the audit chain");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit anchoring task failed");
                    return;
                }
            }
            if force {
                return;
            }
        }
    })
}

/// What checking the anchors found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorVerdict {
    /// Every anchor is validly signed and its head is in the chain.
    Consistent {
        /// How many anchors were checked.
        anchors: usize,
        /// The newest anchored row.
        newest_row: i64,
    },
    /// An anchor's signature or key is wrong: the anchors file itself was tampered with.
    BadAnchor {
        /// The line in the anchors file, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The chain ends before an anchored row: rows were deleted from the end.
    Truncated {
        /// The newest row the chain still holds (0 if empty).
        chain_ends_at: i64,
        /// The anchored row it no longer reaches.
        anchored_row: i64,
    },
    /// The chain holds a different hash at an anchored row: history was rewritten.
    Mismatch {
        /// The anchored row.
        row_id: i64,
    },
}

/// Check every anchor in `anchors_file` against the chain in `conn`: each must be signed by
/// `key`, and the chain must reach its row and hold the same hash there.
pub fn verify_anchors(
    conn: Conn<'_>,
    anchors_file: &Path,
    key: &VerifyingKey,
) -> Result<AnchorVerdict> {
    let file = std::fs::File::open(anchors_file)?;
    let chain_end = super::head(conn)?.map_or(0, |(id, _)| id);
    let expected_id = key_id(key);
    let mut checked = 0;
    let mut newest = 0;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        let number = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| {
            Ok(AnchorVerdict::BadAnchor {
                line: number,
                reason: reason.to_owned(),
            })
        };
        let Ok(anchor) = serde_json::from_str::<Anchor>(&line) else {
            return bad("not an anchor");
        };
        if anchor.key_id != expected_id {
            return bad("signed by another key");
        }
        let mut hash = [0u8; 32];
        let mut sig = [0u8; 64];
        if hex::decode_to_slice(&anchor.hash, &mut hash).is_err()
            || hex::decode_to_slice(&anchor.signature, &mut sig).is_err()
        {
            return bad("malformed hash or signature");
        }
        let signature = Signature::from_bytes(&sig);
        if key
            .verify_strict(&message(anchor.row_id, &hash, anchor.at), &signature)
            .is_err()
        {
            return bad("signature does not verify");
        }
        if anchor.row_id > chain_end {
            return Ok(AnchorVerdict::Truncated {
                chain_ends_at: chain_end,
                anchored_row: anchor.row_id,
            });
        }
        match super::hash_at(conn, anchor.row_id)? {
            Some(stored) if stored.as_slice() == hash.as_slice() => {}
            _ => {
                return Ok(AnchorVerdict::Mismatch {
                    row_id: anchor.row_id,
                });
            }
        }
        checked += 1;
        newest = newest.max(anchor.row_id);
    }
    Ok(AnchorVerdict::Consistent {
        anchors: checked,
        newest_row: newest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Event, append};

    fn setup(rows: usize) -> (tempfile::TempDir, Db, Anchorer) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(
            &dir.path().join("db.sqlite"),
            casebook_core::store::StoreKey::from_bytes(&[5u8; 32]).expect("key"),
        )
        .expect("open");
        add_rows(&db, rows);
        let (key, created) =
            load_or_create_key(&dir.path().join("signing.key")).expect("signing key");
        assert!(created);
        let anchorer = Anchorer::new(
            key,
            AnchorConfig {
                key_file: dir.path().join("signing.key"),
                anchors_file: dir.path().join("anchors.jsonl"),
                every_rows: 10,
                every_secs: 60,
            },
        );
        (dir, db, anchorer)
    }

    fn add_rows(db: &Db, n: usize) {
        db.write_blocking(|tx| {
            for _ in 0..n {
                append(
                    tx,
                    1_000,
                    Event {
                        event: "write",
                        ..Event::default()
                    },
                )?;
            }
            Ok(())
        })
        .expect("append");
    }

    #[test]
    fn anchors_when_due_and_verifies() {
        let (dir, db, mut anchorer) = setup(3);
        let mut tick = |now, force| {
            db.read_blocking(|c| anchorer.anchor_if_due(c, now, force))
                .expect("anchor")
                .map(|a| a.row_id)
        };
        assert_eq!(tick(0, false), Some(3), "first tick anchors the head");
        assert_eq!(tick(1, false), None, "nothing new");
        add_rows(&db, 9);
        assert_eq!(tick(2, false), None, "9 rows, 2 s: not due");
        add_rows(&db, 1);
        assert_eq!(tick(3, false), Some(13), "10 rows");
        add_rows(&db, 1);
        assert_eq!(tick(62, false), None, "60 s not yet passed");
        assert_eq!(tick(63, false), Some(14), "60 s passed");
        add_rows(&db, 1);
        assert_eq!(tick(65, true), Some(15), "shutdown forces");
        let public = anchorer.public_key();
        let verdict = db
            .read_blocking(|c| verify_anchors(c, &dir.path().join("anchors.jsonl"), &public))
            .expect("verify");
        assert_eq!(
            verdict,
            AnchorVerdict::Consistent {
                anchors: 4,
                newest_row: 15
            }
        );
        let other = SigningKey::from_bytes(&[9; 32]).verifying_key();
        let verdict = db
            .read_blocking(|c| verify_anchors(c, &dir.path().join("anchors.jsonl"), &other))
            .expect("verify");
        assert!(matches!(verdict, AnchorVerdict::BadAnchor { line: 1, .. }));
    }

    #[test]
    fn a_forged_anchor_line_is_refused() {
        let (dir, db, mut anchorer) = setup(2);
        db.read_blocking(|c| anchorer.anchor_if_due(c, 0, false))
            .expect("anchor");
        let path = dir.path().join("anchors.jsonl");
        let text = std::fs::read_to_string(&path).expect("read");
        let mut anchor: Anchor = serde_json::from_str(text.trim()).expect("anchor");
        anchor.row_id = 1;
        append_anchor(&path, &anchor).expect("append");
        let verdict = db
            .read_blocking(|c| verify_anchors(c, &path, &anchorer.public_key()))
            .expect("verify");
        assert!(matches!(verdict, AnchorVerdict::BadAnchor { line: 2, .. }));
    }

    #[test]
    fn the_default_anchors_file_is_beside_the_data_directory() {
        assert_eq!(
            default_anchors_file(Path::new("/srv/casebook-data")),
            PathBuf::from("/srv/casebook-data.audit-anchors.jsonl")
        );
        assert_eq!(
            default_anchors_file(Path::new("data")),
            PathBuf::from("data.audit-anchors.jsonl")
        );
    }
}

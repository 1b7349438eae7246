//! The missing-person photo: set offline on the carer's phone, it reaches the guardian's
//! phone outside the automerge documents; a stranger is refused and audited; a replaced photo
//! leaves no copy in any store (device or server), decrypted or raw; a sync with nothing
//! changed sends nothing about photos.

use std::path::Path;

use anyhow::{Context, Result};
use casebook_core::client::{Backoff, RetryPolicy, Transport};
use casebook_core::doc::{DocId, DocKind};
use casebook_core::store::StoreKey;
use casebook_core::sync::wire::{AttachmentFetch, PROTOCOL_VERSION};
use casebook_tests::support::Device;
use rand::RngCore;

use super::team;

/// A PNG header naming 1x1 pixels, then `len` random (incompressible) bytes.
pub fn canary_png(len: usize) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    bytes.extend_from_slice(&[0, 0, 0, 13]);
    bytes.extend_from_slice(b"IHDR");
    bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0, 0, 0, 0]);
    let mut filler = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut filler);
    bytes.extend_from_slice(&filler);
    bytes
}

/// Three 48-byte pieces of the image's random part: any copy of it holds them verbatim.
fn pieces(image: &[u8]) -> Vec<Vec<u8>> {
    let len = image.len();
    [40, len / 2, len - 60]
        .iter()
        .map(|&at| image[at..at + 48].to_vec())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn holds_any(haystack: &[u8], image: &[u8]) -> bool {
    pieces(image).iter().any(|p| contains(haystack, p))
}

/// Every value of every table, as bytes (text and blobs), read through SQL.
fn every_value(conn: &rusqlite::Connection) -> Result<Vec<(String, Vec<u8>)>> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\""))?;
        let columns = stmt.column_count();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            for i in 0..columns {
                let bytes = match row.get_ref(i)? {
                    rusqlite::types::ValueRef::Blob(b) => b.to_vec(),
                    rusqlite::types::ValueRef::Text(t) => t.to_vec(),
                    _ => continue,
                };
                out.push((table.clone(), bytes));
            }
        }
    }
    Ok(out)
}

/// Every automerge document in `values` (the device's `docs.snapshot`/`chunks.bytes`, the
/// server's `docs.bytes`) loaded and saved uncompressed, so compression hides nothing.
fn documents_uncompressed(values: &[(String, Vec<u8>)]) -> Vec<Vec<u8>> {
    values
        .iter()
        .filter(|(table, _)| table == "docs" || table == "chunks")
        .filter_map(|(_, bytes)| automerge::Automerge::load(bytes).ok())
        .map(|doc| doc.save_nocompress())
        .collect()
}

/// Where `image` is found in a store: its tables (decrypted), its documents (uncompressed),
/// its raw files.
#[derive(Debug, Default, PartialEq, Eq)]
struct Found {
    tables: Vec<String>,
    documents: usize,
    files: Vec<String>,
}

fn scan(conn: &rusqlite::Connection, dir: &Path, prefix: &str, image: &[u8]) -> Result<Found> {
    let values = every_value(conn)?;
    let mut found = Found::default();
    for (table, bytes) in &values {
        if holds_any(bytes, image) && !found.tables.contains(table) {
            found.tables.push(table.clone());
        }
    }
    found.documents = documents_uncompressed(&values)
        .iter()
        .filter(|d| holds_any(d, image))
        .count();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.starts_with(prefix) && holds_any(&std::fs::read(&path)?, image) {
            found.files.push(name);
        }
    }
    Ok(found)
}

fn scan_device(device: &Device, image: &[u8]) -> Result<Found> {
    let conn = casebook_core::store::open_encrypted_reader(
        &device.path,
        &StoreKey::from_bytes(&device.store_key())?,
    )?;
    let dir = device.path.parent().context("store directory")?;
    let prefix = device
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .context("store name")?;
    scan(&conn, dir, prefix, image)
}

async fn open_session(device: &Device) -> Result<(Transport, String)> {
    let transport = Transport::new(&device.identity.server_url, &device.identity.trust)?;
    let token = transport
        .open_session(
            device.identity.device_id,
            |c| device.identity.sign_challenge(c),
            &mut Default::default(),
        )
        .await?
        .token;
    Ok((transport, token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_set_offline_by_the_carer_reaches_the_guardian_and_no_stranger() -> Result<()> {
    let t = team().await?;
    t.carer.sync().await?;
    let photo = canary_png(600 * 1024);
    // Offline: nothing but the carer's store is touched.
    let reference = {
        let edit = t.carer.edit();
        t.carer.lock().set_profile_photo(&edit, t.case, &photo)?
    };
    assert_eq!(t.carer.lock().profile_photo(t.case)?, Some(photo.clone()));

    let pushed = t.carer.sync().await?;
    assert_eq!(pushed.attachments.sent, 1, "{pushed:?}");
    let pulled = t.guardian.sync().await?;
    assert_eq!(pulled.attachments.received, 1, "{pulled:?}");
    assert_eq!(
        t.guardian.lock().profile_photo(t.case)?,
        Some(photo.clone())
    );
    t.supervisor.sync().await?;
    assert_eq!(
        t.supervisor.lock().profile_photo(t.case)?,
        Some(photo.clone())
    );

    // Nothing changed: the next sync says nothing about photos (challenge, session, one
    // sync request) and moves a few hundred bytes, not the photo.
    for device in [&t.carer, &t.guardian] {
        let idle = device.sync().await?;
        assert_eq!(idle.requests, 3, "{idle:?}");
        assert_eq!(idle.attachments, Default::default());
        assert!(idle.traffic.received < 4096, "{idle:?}");
    }

    // A guardian of another case is refused, and the refusal is audited.
    let (stranger_id, stranger) = t.h.person("other-guardian", "guardian").await?;
    let (transport, token) = open_session(&stranger).await?;
    let safety = DocId::new(t.case, DocKind::Safety);
    let asked = transport
        .fetch_attachment(
            &token,
            &AttachmentFetch {
                v: PROTOCOL_VERSION,
                doc: safety,
                attachment_id: reference.attachment_id.clone(),
            },
            &mut Default::default(),
            &mut Backoff::new(RetryPolicy::default(), 1),
        )
        .await;
    assert!(
        matches!(asked, Err(casebook_core::Error::Forbidden(_))),
        "{asked:?}"
    );
    // Nor may they upload an image for the case.
    let upload = t
        .carer
        .lock()
        .attachment_upload(&reference.attachment_id)?
        .context("the carer holds the image")?;
    let pushed = transport
        .upload_attachment(
            &token,
            &upload,
            &mut Default::default(),
            &mut Backoff::new(RetryPolicy::default(), 1),
        )
        .await;
    assert!(
        matches!(pushed, Err(casebook_core::Error::Forbidden(_))),
        "{pushed:?}"
    );
    // The carer herself may upload only the image the stored document refers to, and only
    // an image at that.
    let (carer_transport, carer_token) = open_session(&t.carer).await?;
    for (data, status) in [
        (canary_png(1024), 409),
        (b"%PDF-1.7 not a photo".to_vec(), 400),
    ] {
        let mut forged = upload.clone();
        forged.data = data;
        let refused = carer_transport
            .upload_attachment(
                &carer_token,
                &forged,
                &mut Default::default(),
                &mut Backoff::new(RetryPolicy::default(), 1),
            )
            .await;
        assert!(
            matches!(&refused, Err(casebook_core::Error::Server { status: s, .. }) if *s == status),
            "{refused:?}"
        );
    }
    let audit = t.h.admin.audit_for_case(&t.case.to_string()).await?;
    let events = |name: &str, user: &str| {
        audit
            .iter()
            .filter(|r| r["event"] == name && r["actor_user"] == user)
            .count()
    };
    assert_eq!(events("denied", &stranger_id), 2, "{audit:#?}");
    assert_eq!(events("attachment_write", &t.carer_id), 1);
    assert_eq!(events("attachment_refused", &t.carer_id), 1);
    assert_eq!(events("attachment_read", &t.guardian_id), 1);
    assert_eq!(events("attachment_read", &t.supervisor_id), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_photo_leaves_no_copy_in_any_store() -> Result<()> {
    let t = team().await?;
    if !casebook_tests::support::on_sqlite(&t.h.server, "photo scan of the server's file") {
        return Ok(());
    }
    t.carer.sync().await?;
    let old = canary_png(300 * 1024);
    let new = canary_png(300 * 1024);
    let edit = t.carer.edit();
    t.carer.lock().set_profile_photo(&edit, t.case, &old)?;
    t.carer.sync().await?;
    t.guardian.sync().await?;
    assert_eq!(t.guardian.lock().profile_photo(t.case)?, Some(old.clone()));

    // The scanner finds the photo where it is (so "not found" below means something).
    let server = &t.h.server;
    // The server's database read as SQLite stores it (every byte of every value), on a
    // reader of its own under the server's key file.
    let server_scan = |image: &[u8]| -> Result<Found> {
        let key_file = server
            .state
            .settings
            .db_key_file
            .clone()
            .unwrap_or_else(|| server.data_dir.join(casebook_server::db::DEFAULT_KEY_FILE));
        let key = casebook_server::db::read_key(&key_file)?;
        let conn = casebook_core::store::open_encrypted_reader(server.state.db.path(), &key)?;
        scan(&conn, &server.data_dir, "casebook.sqlite", image)
    };
    for found in [
        scan_device(&t.carer, &old)?,
        scan_device(&t.guardian, &old)?,
        server_scan(&old)?,
    ] {
        assert_eq!(found.tables, vec!["attachments".to_owned()], "{found:?}");
        assert_eq!(found.documents, 0, "{found:?}");
        assert!(found.files.is_empty(), "encrypted at rest: {found:?}");
    }

    // Replaced on the carer's phone, then synced everywhere.
    let edit = t.carer.edit();
    t.carer.lock().set_profile_photo(&edit, t.case, &new)?;
    t.carer.sync().await?;
    t.guardian.sync().await?;
    assert_eq!(t.guardian.lock().profile_photo(t.case)?, Some(new.clone()));
    assert_eq!(t.carer.lock().profile_photo(t.case)?, Some(new.clone()));

    for (store, found) in [
        ("carer", scan_device(&t.carer, &old)?),
        ("guardian", scan_device(&t.guardian, &old)?),
        ("server", server_scan(&old)?),
    ] {
        assert_eq!(
            found,
            Found::default(),
            "the old photo is still in the {store}'s store"
        );
    }
    assert_eq!(server_scan(&new)?.tables, vec!["attachments".to_owned()]);
    let audit = t.h.admin.audit_for_case(&t.case.to_string()).await?;
    assert_eq!(
        audit
            .iter()
            .filter(|r| r["event"] == "attachment_deleted")
            .count(),
        1,
        "{audit:#?}"
    );

    // After shutdown (the WAL folded in), the server's files hold neither photo.
    let dir = server.data_dir.clone();
    t.h.server.shutdown().await?;
    for entry in std::fs::read_dir(&dir)? {
        let bytes = std::fs::read(entry?.path()).unwrap_or_default();
        assert!(!holds_any(&bytes, &old) && !holds_any(&bytes, &new));
    }
    Ok(())
}

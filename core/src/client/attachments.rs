//! Moving attachments (the missing-person photo) after a sync session: upload the images
//! taken here that the server does not have, then fetch the images the documents held here
//! refer to and this device lacks. Both lists come from the store without loading a
//! document, so a sync with nothing changed sends nothing about attachments.

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use super::retry::Backoff;
use super::transport::{Traffic, Transport};
use super::{lock, unless_cancelled};
use crate::error::{Error, Result};
use crate::repo::Repo;
use crate::sync::wire::{AttachmentFetch, PROTOCOL_VERSION};

/// What moving attachments did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachmentCounts {
    /// Images uploaded.
    pub sent: u32,
    /// Images fetched and kept.
    pub received: u32,
    /// Images the server refused or did not have yet, or fetched bytes that did not match
    /// their reference (an upload refused for good is not tried again; a fetch is tried at
    /// the next sync).
    pub failed: u32,
}

/// Whether `error` ends the sync (the network, the session or the device) rather than one
/// attachment.
fn fatal(error: &Error) -> bool {
    matches!(
        error,
        Error::Network(_)
            | Error::Cancelled
            | Error::DeviceRevoked
            | Error::Unauthenticated
            | Error::UntrustedServer
    )
}

/// Upload the pending images, then fetch the missing ones.
pub(super) async fn transfer(
    repo: &Mutex<Repo>,
    transport: &Transport,
    token: &str,
    traffic: &mut Traffic,
    backoff: &mut Backoff,
    cancel: &AtomicBool,
) -> Result<(AttachmentCounts, u32)> {
    let mut counts = AttachmentCounts::default();
    let mut requests = 0u32;
    let pending = lock(repo)?.pending_attachment_uploads()?;
    for (_, id) in pending {
        let Some(upload) = lock(repo)?.attachment_upload(&id)? else {
            continue;
        };
        requests += 1;
        let sent = unless_cancelled(
            cancel,
            transport.upload_attachment(token, &upload, traffic, backoff),
        )
        .await;
        match sent {
            Ok(_) => counts.sent += 1,
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                // Refused for good (the stored document refers to another image, or access
                // ended): trying again at every sync would only resend the image.
                tracing::warn!(error = %e, "the server refused an attachment");
                counts.failed += 1;
            }
        }
        lock(repo)?.mark_attachment_uploaded(&id)?;
    }
    let missing = lock(repo)?.missing_attachments()?;
    for (doc, photo) in missing {
        let request = AttachmentFetch {
            v: PROTOCOL_VERSION,
            doc,
            attachment_id: photo.attachment_id.clone(),
        };
        requests += 1;
        let fetched = unless_cancelled(
            cancel,
            transport.fetch_attachment(token, &request, traffic, backoff),
        )
        .await;
        let kept = match fetched {
            Ok(data) => lock(repo)?.store_fetched_attachment(data),
            Err(e) => Err(e),
        };
        match kept {
            Ok(true) => counts.received += 1,
            Ok(false) => {}
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "an attachment was not fetched; trying next sync");
                counts.failed += 1;
            }
        }
    }
    Ok((counts, requests))
}

//! The sync route's wire formats and compression, negotiated over HTTP (`docs/protocol.md`,
//! "Wire formats"): a request's `Content-Type` picks version 1 (JSON, payloads in base64) or
//! wire format 2 ([`casebook_core::sync::frame`], payloads raw), and the answer comes in the
//! request's format. zstd in both directions is tower-http's ([`layers`]); a wire format 2
//! answer to a device that accepts zstd carries each whole document with its columns
//! inflated ([`casebook_core::doc::columns`]), so the compressor sees raw columns across
//! documents.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::handler::Handler;
use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use casebook_core::doc::columns;
use casebook_core::sync::frame;
use casebook_core::sync::wire::{SyncRequest, SyncResponse};
use tower_http::compression::predicate::SizeAbove;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::decompression::RequestDecompressionLayer;

use crate::error::{Error, Result};
use crate::http::{ApiJson, body_error};
use crate::state::AppState;

/// Answers smaller than this are sent as they are: a no-op answer gains nothing from zstd.
pub const COMPRESS_ANSWERS_ABOVE: u16 = 1024;

/// The documents of an answer are sent with their columns inflated while the whole answer's
/// documents stay within this many bytes (half of
/// [`casebook_core::sync::wire::MAX_SYNC_RESPONSE_BYTES`], which the device accepts once
/// decompressed); past it, a document goes as stored. Notes of ordinary prose deflate five
/// to ten times, so a limit per document (it was four times the stored size) sent most visit
/// documents deflated, where zstd finds nothing across them.
pub const MAX_INFLATED_ANSWER_BYTES: usize = casebook_core::sync::wire::MAX_SYNC_RESPONSE_BYTES / 2;

/// zstd level for answers (only answers above [`COMPRESS_ANSWERS_ABOVE`], in practice a
/// device's first pull of documents). Measured on the bench's fresh pull of 200 cases
/// with every document inflated, on 2026-12-02: level 3 sent 1,073,745 bytes, level 9
/// 1,023,965, level 12 946,553 (server and network time 184, 323 and 423 ms).
pub const ANSWER_LEVEL: i32 = 12;

/// The formats a sync body may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// Version 1: JSON, payloads in base64.
    Json,
    /// Wire format 2: the binary frame.
    V2,
}

/// A sync request as it arrived: its format, and whether the device takes zstd answers.
#[derive(Debug)]
pub struct SyncBody {
    /// The format of the request, and so of the answer.
    pub format: WireFormat,
    /// Whether `Accept-Encoding` names zstd.
    pub accepts_zstd: bool,
    /// The request.
    pub request: SyncRequest,
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn accepts_zstd(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("zstd") && !refused
        })
}

impl<S: Send + Sync> FromRequest<S> for SyncBody {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        // A coding the decompression layer did not take (it takes zstd) arrives as it was.
        if let Some(coding) = req.headers().get(CONTENT_ENCODING) {
            let coding = coding.to_str().unwrap_or("?").trim();
            if !coding.eq_ignore_ascii_case("identity") {
                return Err(Error::BadRequest(
                    "unsupported Content-Encoding: send zstd or none".into(),
                ));
            }
        }
        let accepts_zstd = accepts_zstd(req.headers());
        let media = media_type(req.headers());
        if media == frame::CONTENT_TYPE_V2 {
            let bytes = Bytes::from_request(req, state)
                .await
                .map_err(|e| body_error(e.status(), "the sync frame"))?;
            let request =
                frame::decode_request(&bytes).map_err(|e| Error::BadRequest(e.to_string()))?;
            return Ok(Self {
                format: WireFormat::V2,
                accepts_zstd,
                request,
            });
        }
        if let Some(version) = media.strip_prefix(frame::CONTENT_TYPE_PREFIX) {
            // Another wire format (a newer app): say so by number.
            return Err(Error::UnsupportedVersion(version.parse().unwrap_or(0)));
        }
        if media != frame::CONTENT_TYPE_JSON {
            return Err(Error::BadRequest(format!(
                "expected Content-Type: {} or {}",
                frame::CONTENT_TYPE_JSON,
                frame::CONTENT_TYPE_V2
            )));
        }
        let ApiJson(request) = ApiJson::<SyncRequest>::from_request(req, state).await?;
        Ok(Self {
            format: WireFormat::Json,
            accepts_zstd,
            request,
        })
    }
}

/// The answer to a sync request, in the request's format.
#[derive(Debug)]
pub enum SyncAnswer {
    /// Version 1: JSON.
    Json(SyncResponse),
    /// Wire format 2: the encoded frame.
    V2(Vec<u8>),
}

/// Encode `response` for a request that came as `body` says, off the async runtime (a fresh
/// device's answer is megabytes of documents to copy and inflate).
pub async fn answer(
    format: WireFormat,
    accepts_zstd: bool,
    mut response: SyncResponse,
) -> Result<SyncAnswer> {
    match format {
        WireFormat::Json => Ok(SyncAnswer::Json(response)),
        WireFormat::V2 => Ok(tokio::task::spawn_blocking(move || {
            if accepts_zstd {
                inflate_snapshots(&mut response);
            }
            SyncAnswer::V2(frame::encode_response(&response))
        })
        .await?),
    }
}

/// Replace each whole document by its copy with inflated columns, in order, while the
/// documents of the answer stay within [`MAX_INFLATED_ANSWER_BYTES`] (else it goes as
/// stored).
pub fn inflate_snapshots(response: &mut SyncResponse) {
    let mut total: usize = response.snapshots.iter().map(|s| s.data.len()).sum();
    for snapshot in &mut response.snapshots {
        if let Ok(copy) = columns::inflate_columns(&snapshot.data) {
            let grown = total - snapshot.data.len() + copy.len();
            if grown <= MAX_INFLATED_ANSWER_BYTES {
                total = grown;
                snapshot.data = copy;
            }
        }
    }
}

impl IntoResponse for SyncAnswer {
    fn into_response(self) -> Response {
        match self {
            SyncAnswer::Json(response) => axum::Json(response).into_response(),
            SyncAnswer::V2(bytes) => (
                [(
                    CONTENT_TYPE,
                    HeaderValue::from_static(frame::CONTENT_TYPE_V2),
                )],
                bytes,
            )
                .into_response(),
        }
    }
}

/// The sync route: `handler` behind the body limit and zstd in both directions. Request
/// bodies with `Content-Encoding: zstd` are decompressed before the body limit counts them (so
/// a zstd bomb meets the limit after decompression, as `payload_too_large`), and answers
/// above [`COMPRESS_ANSWERS_ABOVE`] bytes are compressed for a device that accepts zstd.
pub fn route<H, T>(handler: H, body_limit: usize) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let decompress = RequestDecompressionLayer::new()
        .zstd(true)
        .pass_through_unaccepted(true);
    let compress = CompressionLayer::new()
        .zstd(true)
        .quality(CompressionLevel::Precise(ANSWER_LEVEL))
        .compress_when(SizeAbove::new(COMPRESS_ANSWERS_ABOVE));
    post(handler)
        .layer::<_, Infallible>(DefaultBodyLimit::max(body_limit))
        .layer::<_, Infallible>(decompress)
        .layer::<_, Infallible>(compress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_is_accepted_only_when_named_without_q_zero() {
        let headers = |value: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(ACCEPT_ENCODING, HeaderValue::from_static(value));
            h
        };
        assert!(accepts_zstd(&headers("zstd")));
        assert!(accepts_zstd(&headers("gzip, ZSTD;q=0.5")));
        assert!(!accepts_zstd(&headers("gzip, br")));
        assert!(!accepts_zstd(&headers("zstd;q=0")));
        assert!(!accepts_zstd(&HeaderMap::new()));
    }
}

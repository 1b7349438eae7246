//! HTTPS transport to the sync server over rustls with the device's trust setting: JSON, and
//! sync in wire format 2 ([`frame`]) with zstd both ways ([`compression`]). The only module
//! of the core that touches the network.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::compression;
use super::identity::ServerTrust;
use super::retry::{Backoff, Failure};
use super::tls::client_config;
use crate::alert::{AcknowledgeRequest, AcknowledgeResponse};
use crate::error::{Error, Result};
use crate::sync::frame;
use crate::sync::wire::{
    AttachmentData, AttachmentFetch, AttachmentStored, AttachmentUpload, ChallengeRequest,
    ChallengeResponse, ERROR_DEVICE_REVOKED, EnrolRequest, EnrolResponse, ErrorBody,
    MAX_SYNC_RESPONSE_BYTES, SessionRequest, SessionResponse, SyncRequest, SyncResponse,
};

/// A connection to one sync server.
#[derive(Debug, Clone)]
pub struct Transport {
    base: String,
    /// The pooled client; replaced by a fresh one (new connections) after a transient failure.
    http: Arc<Mutex<reqwest::Client>>,
    tls: rustls::ClientConfig,
}

/// A pooled connection idle this long is closed by the client before a server or a middlebox
/// (which often close at 30 s or more) does it under a request.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

fn http_client(tls: rustls::ClientConfig) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(120))
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build()
        .map_err(|e| Error::Network(e.to_string()))
}

/// Bytes moved by a request, for measurements and progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Request body bytes sent.
    pub sent: u64,
    /// Response body bytes received.
    pub received: u64,
}

impl Transport {
    /// A transport to `base_url` (`https://host:port`) trusting only what `trust` says.
    pub fn new(base_url: &str, trust: &ServerTrust) -> Result<Self> {
        if !base_url.starts_with("https://") {
            return Err(Error::invalid("server url", "must start with https://"));
        }
        let tls = client_config(trust)?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http: Arc::new(Mutex::new(http_client(tls.clone())?)),
            tls,
        })
    }

    fn client(&self) -> reqwest::Client {
        self.http
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drop the pooled connections: the next request opens a fresh one.
    fn reconnect(&self) -> Result<()> {
        let fresh = http_client(self.tls.clone())?;
        *self.http.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
        token: Option<&str>,
        traffic: &mut Traffic,
    ) -> Result<Resp> {
        self.post_once(path, body, token, traffic)
            .await
            .map_err(Failure::into_error)
    }

    /// [`Transport::post`], retried on a fresh connection after a transient failure, as
    /// `backoff` says.
    async fn post_retrying<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
        token: Option<&str>,
        traffic: &mut Traffic,
        backoff: &mut Backoff,
    ) -> Result<Resp> {
        let outgoing = Outgoing::json(path, body)?;
        let answer = self
            .send_retrying(&outgoing, token, traffic, backoff)
            .await?;
        decode_json(path, &answer)
    }

    async fn post_once<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
        token: Option<&str>,
        traffic: &mut Traffic,
    ) -> std::result::Result<Resp, Failure> {
        let outgoing = Outgoing::json(path, body)?;
        let answer = self.send_once(&outgoing, token, traffic).await?;
        Ok(decode_json(path, &answer)?)
    }

    /// Send `outgoing` until it is answered or `backoff` gives up, on a fresh connection after
    /// each transient failure.
    async fn send_retrying(
        &self,
        outgoing: &Outgoing<'_>,
        token: Option<&str>,
        traffic: &mut Traffic,
        backoff: &mut Backoff,
    ) -> Result<Answer> {
        let mut attempt = 1;
        loop {
            let failure = match self.send_once(outgoing, token, traffic).await {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            let Some(wait) = backoff.delay(attempt, &failure) else {
                return Err(failure.into_error());
            };
            let path = outgoing.path;
            tracing::info!(path, attempt, ?wait, error = %failure_text(&failure), "retrying on a fresh connection");
            backoff.retries += 1;
            attempt += 1;
            self.reconnect()?;
            tokio::time::sleep(wait).await;
        }
    }

    /// One request: the body as prepared, the answer's body decompressed (bounded) on
    /// success, the server's error otherwise.
    async fn send_once(
        &self,
        outgoing: &Outgoing<'_>,
        token: Option<&str>,
        traffic: &mut Traffic,
    ) -> std::result::Result<Answer, Failure> {
        traffic.sent += outgoing.body.len() as u64;
        let mut request = self
            .client()
            .post(format!("{}{}", self.base, outgoing.path))
            .header(reqwest::header::CONTENT_TYPE, outgoing.content_type)
            .header(reqwest::header::ACCEPT_ENCODING, "zstd")
            .body(outgoing.body.clone());
        if outgoing.zstd {
            request = request.header(reqwest::header::CONTENT_ENCODING, "zstd");
        }
        if let Some(accept) = outgoing.accept {
            request = request.header(reqwest::header::ACCEPT, accept);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(transient)?;
        let status = response.status();
        let headers = response.headers();
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let zstd_body = match headers
            .get(reqwest::header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        {
            None => false,
            Some(coding) if coding == "zstd" => true,
            Some(coding) if coding == "identity" => false,
            Some(_) => {
                return Err(Failure::Fatal(Error::Protocol(format!(
                    "answer from {} in an unknown content encoding",
                    outgoing.path
                ))));
            }
        };
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.bytes().await.map_err(transient)?;
        traffic.received += body.len() as u64;
        let body = if zstd_body {
            compression::decompress(&body, MAX_SYNC_RESPONSE_BYTES).map_err(|_| {
                Failure::Fatal(Error::Protocol(format!(
                    "the answer from {} does not decompress within {MAX_SYNC_RESPONSE_BYTES} bytes",
                    outgoing.path
                )))
            })?
        } else {
            body.to_vec()
        };
        if status.is_success() {
            return Ok(Answer { content_type, body });
        }
        let error: ErrorBody = serde_json::from_slice(&body).unwrap_or(ErrorBody {
            error: "unknown".into(),
            message: format!("HTTP {status}"),
        });
        let error = match error.error.as_str() {
            ERROR_DEVICE_REVOKED => Error::DeviceRevoked,
            "unauthenticated" => Error::Unauthenticated,
            "forbidden" => Error::Forbidden(error.message),
            _ => Error::Server {
                status: status.as_u16(),
                code: error.error,
                message: error.message,
            },
        };
        Err(match status.as_u16() {
            // Overloaded, or a proxy in front of the server lost it: worth another try.
            408 | 502 | 503 | 504 => Failure::Transient {
                error,
                after: retry_after,
            },
            // Too many requests: only worth waiting for if the server says how long.
            429 if retry_after.is_some() => Failure::Transient {
                error,
                after: retry_after,
            },
            _ => Failure::Fatal(error),
        })
    }

    /// Register this device's public key with a one-time enrolment code.
    pub async fn enrol(&self, request: &EnrolRequest) -> Result<EnrolResponse> {
        self.post("/v1/enrol", request, None, &mut Traffic::default())
            .await
    }

    /// Open a session: fetch a challenge, have `sign` sign it, exchange it for a token.
    pub async fn open_session(
        &self,
        device: crate::ids::DeviceId,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
        traffic: &mut Traffic,
    ) -> Result<SessionResponse> {
        let challenge: ChallengeResponse = self
            .post(
                "/v1/challenge",
                &ChallengeRequest { device_id: device },
                None,
                traffic,
            )
            .await?;
        let signature = sign(&challenge.challenge)?;
        self.post(
            "/v1/session",
            &SessionRequest {
                device_id: device,
                challenge: challenge.challenge,
                signature,
            },
            None,
            traffic,
        )
        .await
    }

    /// [`Transport::open_session`], opened again from a new challenge (on a fresh
    /// connection) after a transient failure of either step, as `backoff` says.
    pub async fn open_session_retrying(
        &self,
        device: crate::ids::DeviceId,
        sign: impl Fn(&[u8]) -> Result<Vec<u8>>,
        traffic: &mut Traffic,
        backoff: &mut Backoff,
    ) -> Result<SessionResponse> {
        let challenge_request = ChallengeRequest { device_id: device };
        let mut attempt = 1;
        loop {
            let result = async {
                let challenge: ChallengeResponse = self
                    .post_once("/v1/challenge", &challenge_request, None, traffic)
                    .await?;
                let signature = sign(&challenge.challenge)?;
                let request = SessionRequest {
                    device_id: device,
                    challenge: challenge.challenge,
                    signature,
                };
                self.post_once("/v1/session", &request, None, traffic).await
            }
            .await;
            let failure = match result {
                Ok(session) => return Ok(session),
                Err(failure) => failure,
            };
            let Some(wait) = backoff.delay(attempt, &failure) else {
                return Err(failure.into_error());
            };
            backoff.retries += 1;
            attempt += 1;
            self.reconnect()?;
            tokio::time::sleep(wait).await;
        }
    }

    /// One sync round trip, in wire format 2 ([`frame`]) with zstd negotiated both ways.
    pub async fn sync(
        &self,
        token: &str,
        request: &SyncRequest,
        traffic: &mut Traffic,
    ) -> Result<SyncResponse> {
        let outgoing = Outgoing::sync(request);
        let answer = self
            .send_once(&outgoing, Some(token), traffic)
            .await
            .map_err(Failure::into_error)?;
        decode_sync(&answer)
    }

    /// Acknowledge alerts (`POST /v1/alerts/acknowledge`), sent again on a fresh connection
    /// after a transient failure (acknowledging is idempotent).
    pub async fn acknowledge_alerts_retrying(
        &self,
        token: &str,
        request: &AcknowledgeRequest,
        traffic: &mut Traffic,
        backoff: &mut Backoff,
    ) -> Result<AcknowledgeResponse> {
        self.post_retrying(
            "/v1/alerts/acknowledge",
            request,
            Some(token),
            traffic,
            backoff,
        )
        .await
    }

    /// One sync round trip, sent again on a fresh connection after a transient failure as
    /// `backoff` says (sync requests are idempotent).
    pub async fn sync_retrying(
        &self,
        token: &str,
        request: &SyncRequest,
        traffic: &mut Traffic,
        backoff: &mut Backoff,
    ) -> Result<SyncResponse> {
        let outgoing = Outgoing::sync(request);
        let answer = self
            .send_retrying(&outgoing, Some(token), traffic, backoff)
            .await?;
        decode_sync(&answer)
    }
}

/// A request body ready to send (and to send again).
struct Outgoing<'a> {
    path: &'a str,
    body: Vec<u8>,
    content_type: &'static str,
    /// The body is zstd-compressed (`Content-Encoding: zstd`).
    zstd: bool,
    accept: Option<&'static str>,
}

impl<'a> Outgoing<'a> {
    fn json(path: &'a str, body: &impl Serialize) -> Result<Self> {
        Ok(Self {
            path,
            body: serde_json::to_vec(body).map_err(|e| Error::Protocol(e.to_string()))?,
            content_type: frame::CONTENT_TYPE_JSON,
            zstd: false,
            accept: None,
        })
    }

    /// A sync request as a wire format 2 frame, compressed when it is large enough to gain.
    fn sync(request: &SyncRequest) -> Outgoing<'static> {
        let frame = frame::encode_request(request);
        let (body, zstd) = compression::compress_if_large(frame);
        Outgoing {
            path: SYNC_PATH,
            body,
            content_type: frame::CONTENT_TYPE_V2,
            zstd,
            accept: Some(frame::CONTENT_TYPE_V2),
        }
    }
}

/// A successful answer: its content type and its body, decompressed.
struct Answer {
    content_type: String,
    body: Vec<u8>,
}

const SYNC_PATH: &str = "/v1/sync";

fn decode_json<Resp: DeserializeOwned>(path: &str, answer: &Answer) -> Result<Resp> {
    serde_json::from_slice(&answer.body)
        .map_err(|_| Error::Protocol(format!("unreadable answer from {path}")))
}

fn decode_sync(answer: &Answer) -> Result<SyncResponse> {
    let media_type = answer
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if !media_type.eq_ignore_ascii_case(frame::CONTENT_TYPE_V2) {
        return Err(Error::Protocol(format!(
            "the sync answer is not in wire format 2 (content type {media_type:?})"
        )));
    }
    Ok(frame::decode_response(&answer.body)?)
}

impl Transport {
    /// Upload an image a document refers to (retried like a sync round trip: the server
    /// keeps one copy however often it arrives).
    pub async fn upload_attachment(
        &self,
        token: &str,
        upload: &AttachmentUpload,
        traffic: &mut Traffic,
        backoff: &mut Backoff,
    ) -> Result<AttachmentStored> {
        self.post_retrying(
            "/v1/attachments/upload",
            upload,
            Some(token),
            traffic,
            backoff,
        )
        .await
    }

    /// Fetch an image a document held here refers to.
    pub async fn fetch_attachment(
        &self,
        token: &str,
        fetch: &AttachmentFetch,
        traffic: &mut Traffic,
        backoff: &mut Backoff,
    ) -> Result<AttachmentData> {
        self.post_retrying(
            "/v1/attachments/fetch",
            fetch,
            Some(token),
            traffic,
            backoff,
        )
        .await
    }
}

fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Fatal(error) | Failure::Transient { error, .. } => error.to_string(),
    }
}

/// A request that failed on the way: trust failures are final, anything else (connect error,
/// reset or closed connection, timeout, cut-off body) is worth another try.
fn transient(e: reqwest::Error) -> Failure {
    match network(e) {
        Error::UntrustedServer => Failure::Fatal(Error::UntrustedServer),
        error => Failure::Transient { error, after: None },
    }
}

fn network(e: reqwest::Error) -> Error {
    // The chain says whether TLS trust failed; say so plainly, without the server's details.
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(err) = source {
        if err.to_string().contains("certificate") || err.to_string().contains("InvalidCertificate")
        {
            return Error::UntrustedServer;
        }
        source = err.source();
    }
    Error::Network(e.to_string())
}

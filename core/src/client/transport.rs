//! HTTPS transport to the sync server: JSON over rustls with the device's trust setting.
//! The only module of the core that touches the network.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::identity::ServerTrust;
use super::tls::client_config;
use crate::error::{Error, Result};
use crate::sync::wire::{
    ChallengeRequest, ChallengeResponse, ERROR_DEVICE_REVOKED, EnrolRequest, EnrolResponse,
    ErrorBody, SessionRequest, SessionResponse, SyncRequest, SyncResponse,
};

/// A connection to one sync server.
#[derive(Debug, Clone)]
pub struct Transport {
    base: String,
    http: reqwest::Client,
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
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(client_config(trust)?)
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| Error::Network(e.to_string()))?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
        token: Option<&str>,
        traffic: &mut Traffic,
    ) -> Result<Resp> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Protocol(e.to_string()))?;
        traffic.sent += bytes.len() as u64;
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(bytes);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        let body = response.bytes().await.map_err(network)?;
        traffic.received += body.len() as u64;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|_| Error::Protocol(format!("unreadable answer from {path}")));
        }
        let error: ErrorBody = serde_json::from_slice(&body).unwrap_or(ErrorBody {
            error: "unknown".into(),
            message: format!("HTTP {status}"),
        });
        Err(match error.error.as_str() {
            ERROR_DEVICE_REVOKED => Error::DeviceRevoked,
            "unauthenticated" => Error::Unauthenticated,
            "forbidden" => Error::Forbidden(error.message),
            _ => Error::Server {
                status: status.as_u16(),
                code: error.error,
                message: error.message,
            },
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

    /// One sync round trip.
    pub async fn sync(
        &self,
        token: &str,
        request: &SyncRequest,
        traffic: &mut Traffic,
    ) -> Result<SyncResponse> {
        self.post("/v1/sync", request, Some(token), traffic).await
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

//! The console as a browser's sign-in script drives it, without a browser: a P-256 key signing
//! challenges in WebCrypto's 64-byte r‖s form, the session cookie, and the pages' forms with
//! their CSRF token. The console's tests use it to read statuses and headers exactly; the
//! console bench uses it to fetch the home page.

use anyhow::{Context, Result, bail};
use casebook_core::client::{ServerTrust, client_config};
use casebook_core::ids::DeviceId;
use casebook_core::sync::wire::{
    ChallengeRequest, ChallengeResponse, EnrolRequest, SessionRequest, session_signing_payload,
};
use casebook_server::TestServer;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::Value;

/// A browser as the server sees it: a P-256 key, a device id, the session cookie.
#[derive(Debug, Clone)]
pub struct Console {
    /// The HTTP client (trusting only the server's pin; redirects not followed).
    pub http: reqwest::Client,
    /// `https://127.0.0.1:<port>`.
    pub base: String,
    /// The browser's key.
    pub key: SigningKey,
    /// Its device id.
    pub device: DeviceId,
    /// `name=value` of the session cookie, once signed in.
    pub cookie: Option<String>,
}

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(casebook_server::console::COOKIE))
        .map(str::to_owned)
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_of(html: &str) -> Result<String> {
    let at = html
        .find("name=\"csrf\" value=\"")
        .context("a csrf field")?;
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    Ok(rest[..rest.find('"').context("end of csrf")?].to_owned())
}

impl Console {
    pub async fn enrol(server: &TestServer, code: &str, name: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(client_config(&ServerTrust::Pin(
                server.cert_fingerprint.clone(),
            ))?)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let base = server.base_url();
        let req = EnrolRequest {
            code: code.to_owned(),
            public_key: key
                .verifying_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
            device_name: name.to_owned(),
        };
        let resp = http
            .post(format!("{base}/console/api/enrol"))
            .json(&req)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("enrol: {} {}", resp.status(), resp.text().await?);
        }
        let body: Value = resp.json().await?;
        let device: DeviceId = body["device_id"].as_str().context("device id")?.parse()?;
        let mut console = Console {
            http,
            base,
            key,
            device,
            cookie: None,
        };
        let (challenge, signature) = console.signed_challenge().await?;
        let resp = console.open(&challenge, &signature).await?;
        if resp.status() != StatusCode::OK {
            bail!("session: {} {}", resp.status(), resp.text().await?);
        }
        Ok(console)
    }

    /// A fresh challenge and its signature in WebCrypto's form (r‖s, 64 bytes).
    pub async fn signed_challenge(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let resp: ChallengeResponse = self
            .http
            .post(format!("{}/console/api/challenge", self.base))
            .json(&ChallengeRequest {
                device_id: self.device,
            })
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let sig: Signature = self
            .key
            .sign(&session_signing_payload(&self.device, &resp.challenge));
        Ok((resp.challenge, sig.to_bytes().to_vec()))
    }

    /// Open a session with a signed challenge; keeps the cookie if one is set.
    pub async fn open(&mut self, challenge: &[u8], signature: &[u8]) -> Result<reqwest::Response> {
        let req = SessionRequest {
            device_id: self.device,
            challenge: challenge.to_vec(),
            signature: signature.to_vec(),
        };
        let resp = self
            .http
            .post(format!("{}/console/api/session", self.base))
            .json(&req)
            .send()
            .await?;
        if let Some(set) = session_cookie(resp.headers()) {
            let pair = set.split(';').next().unwrap_or_default().to_owned();
            self.cookie = Some(pair);
        }
        Ok(resp)
    }

    fn with_cookie(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => r.header(reqwest::header::COOKIE, c),
            None => r,
        }
    }

    pub async fn get(&self, path: &str) -> Result<reqwest::Response> {
        Ok(self
            .with_cookie(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await?)
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<reqwest::Response> {
        Ok(self
            .with_cookie(self.http.post(format!("{}{path}", self.base)))
            .form(form)
            .send()
            .await?)
    }

    /// This session's CSRF token, read from a page's form.
    pub async fn csrf(&self) -> Result<String> {
        csrf_of(&self.get("/console/").await?.text().await?)
    }

    /// Create a user through the form; returns their id.
    pub async fn new_user(&self, name: &str, role: &str, org: &str) -> Result<String> {
        let csrf = self.csrf().await?;
        let resp = self
            .post(
                "/console/users",
                &[
                    ("csrf", &csrf),
                    ("name", name),
                    ("role", role),
                    ("org_id", org),
                ],
            )
            .await?;
        let to = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .context("redirect to the new user")?;
        Ok(to.trim_start_matches("/console/users/").to_owned())
    }

    /// Issue a code for `user` through the form; returns the code.
    pub async fn code(&self, user: &str) -> Result<String> {
        let csrf = self.csrf().await?;
        let html = self
            .post(&format!("/console/users/{user}/codes"), &[("csrf", &csrf)])
            .await?
            .text()
            .await?;
        let at = html.find("id=\"issued-code\">").context("issued code")?;
        let rest = &html[at + "id=\"issued-code\">".len()..];
        Ok(rest[..rest.find('<').context("end of code")?].to_owned())
    }

    /// Revoke a device through the form.
    pub async fn revoke(&self, device: &str) -> Result<StatusCode> {
        let csrf = self.csrf().await?;
        Ok(self
            .post(
                &format!("/console/devices/{device}/revoke"),
                &[("csrf", &csrf)],
            )
            .await?
            .status())
    }
}

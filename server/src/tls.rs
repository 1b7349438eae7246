//! TLS: certificates from PEM files (or a self-signed development certificate generated on
//! first start, valid one year and renewed with the same key), served through a resolver
//! that swaps in new files without a restart. Devices pin the certificate's public key (the
//! SPKI pin), so a renewal with the same key keeps every enrolled device working.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// Hex of SHA-256 over a certificate's DER (the leaf fingerprint; changes on renewal).
pub fn fingerprint(cert_der: &[u8]) -> String {
    hex::encode(Sha256::digest(cert_der))
}

/// Hex of SHA-256 over a certificate's SubjectPublicKeyInfo: what a client pins. It stays
/// the same when the certificate is renewed with the same key.
pub fn spki_pin(cert_der: &[u8]) -> Result<String> {
    casebook_core::client::spki_sha256(cert_der)
        .map(hex::encode)
        .map_err(|e| Error::Tls(format!("certificate: {e}")))
}

/// How long a generated development certificate is valid.
const DEV_CERT_DAYS: i64 = 365;
/// Renew the development certificate (same key) when it has fewer days than this left.
const DEV_CERT_RENEW_DAYS: i64 = 30;

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The loaded certificate and what it was loaded from.
struct Loaded {
    key: Arc<CertifiedKey>,
    /// The SPKI pin of the leaf certificate.
    pin: String,
    /// SHA-256 over the two PEM files' bytes, to notice a change.
    source_hash: Vec<u8>,
}

/// A certificate resolver that reloads its PEM files when they change.
pub struct ReloadingResolver {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Loaded>,
}

impl fmt::Debug for ReloadingResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingResolver")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

fn load(cert_path: &Path, key_path: &Path) -> Result<Loaded> {
    let cert_pem = std::fs::read(cert_path)?;
    let key_pem = std::fs::read(key_path)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("certificate PEM: {e}")))?;
    if chain.is_empty() {
        return Err(Error::Tls("no certificate in the certificate file".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| Error::Tls(format!("private key PEM: {e}")))?;
    let pin = spki_pin(&chain[0])?;
    let key = CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| Error::Tls(format!("certificate and key: {e}")))?;
    let mut h = Sha256::new();
    h.update(&cert_pem);
    h.update(&key_pem);
    Ok(Loaded {
        key: Arc::new(key),
        pin,
        source_hash: h.finalize().to_vec(),
    })
}

impl ReloadingResolver {
    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .key
            .clone()
    }

    /// Reload the files if their contents changed. Returns whether the certificate changed.
    /// A half-written or mismatched pair is an error and the old certificate stays.
    pub fn reload_if_changed(&self) -> Result<bool> {
        let loaded = load(&self.cert_path, &self.key_path)?;
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if current.source_hash == loaded.source_hash {
            return Ok(false);
        }
        *current = loaded;
        Ok(true)
    }
}

impl ResolvesServerCert for ReloadingResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The server's TLS configuration: a rustls config whose certificate can be reloaded.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    resolver: Arc<ReloadingResolver>,
    config: Arc<ServerConfig>,
}

impl TlsConfig {
    /// Serve the certificate chain and private key in these PEM files.
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Self> {
        let loaded = load(cert_path, key_path)?;
        let resolver = Arc::new(ReloadingResolver {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            current: RwLock::new(loaded),
        });
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            resolver,
            config: Arc::new(config),
        })
    }

    /// The development certificate in `<data_dir>/tls/`, generated (self-signed, for
    /// `localhost`, `127.0.0.1` and `::1`, valid one year) if absent, and renewed with the
    /// same key when less than 30 days are left (or its expiry was never recorded, as for
    /// the certificates of older versions, valid until 4096). Its SPKI pin is written to
    /// `<data_dir>/cert.sha256`.
    pub fn development(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("tls");
        let cert_path = dir.join("dev-cert.pem");
        let key_path = dir.join("dev-key.pem");
        let expiry_path = dir.join("dev-cert.not-after");
        let now = chrono::Utc::now().timestamp();
        if !cert_path.exists() || !key_path.exists() {
            std::fs::create_dir_all(&dir)?;
            let not_after = write_self_signed(&cert_path, &key_path)?;
            std::fs::write(&expiry_path, format!("{not_after}\n"))?;
        } else {
            let recorded = std::fs::read_to_string(&expiry_path)
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok());
            if recorded.is_none_or(|at| at - now < DEV_CERT_RENEW_DAYS * 86_400) {
                let not_after = renew_self_signed(&cert_path, &key_path)?;
                std::fs::write(&expiry_path, format!("{not_after}\n"))?;
                tracing::info!("development certificate renewed with the same key");
            }
        }
        let tls = Self::from_pem_files(&cert_path, &key_path)?;
        std::fs::write(
            data_dir.join("cert.sha256"),
            format!("{}\n", tls.fingerprint()),
        )?;
        Ok(tls)
    }

    /// The rustls server configuration.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// DER of the certificate currently served.
    pub fn cert_der(&self) -> Vec<u8> {
        self.resolver
            .current()
            .cert
            .first()
            .map(|c| c.to_vec())
            .unwrap_or_default()
    }

    /// The SPKI pin of the certificate currently served: what devices pin.
    pub fn fingerprint(&self) -> String {
        self.spki_pin()
    }

    /// The SPKI pin of the certificate currently served.
    pub fn spki_pin(&self) -> String {
        self.resolver
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .pin
            .clone()
    }

    /// SHA-256 over the DER of the certificate currently served (changes on renewal).
    pub fn leaf_fingerprint(&self) -> String {
        fingerprint(&self.cert_der())
    }

    /// Reload the PEM files if they changed; see [`ReloadingResolver::reload_if_changed`].
    pub fn reload_if_changed(&self) -> Result<bool> {
        let changed = self.resolver.reload_if_changed()?;
        if changed {
            tracing::info!(fingerprint = %self.fingerprint(), "TLS certificate reloaded");
        }
        Ok(changed)
    }

    /// Poll the files every `every`, and reload at once on SIGHUP, until `shutdown`.
    pub async fn watch(self, every: Duration, shutdown: CancellationToken) {
        let mut hup = crate::signals::listen(crate::signals::Kind::Hangup);
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
                () = crate::signals::next(&mut hup) => tracing::info!("SIGHUP: reloading certificate"),
            }
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.reload_if_changed()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "certificate reload failed; keeping the old one")
                }
                Err(e) => tracing::warn!(error = %e, "certificate reload task failed"),
            }
        }
    }
}

/// Write a fresh key and a self-signed certificate for it, valid one year, as PEM (the key
/// readable by the owner only). Returns the certificate's expiry in Unix seconds.
pub fn write_self_signed(cert_path: &Path, key_path: &Path) -> Result<i64> {
    let key =
        rcgen::KeyPair::generate().map_err(|e| Error::Tls(format!("generating a key: {e}")))?;
    write_private(key_path, key.serialize_pem().as_bytes())?;
    write_cert_for(cert_path, &key)
}

/// Write a new self-signed certificate, valid one year, for the key already in `key_path`:
/// the SPKI pin stays the same. Returns the certificate's expiry in Unix seconds.
pub fn renew_self_signed(cert_path: &Path, key_path: &Path) -> Result<i64> {
    let pem = zeroize::Zeroizing::new(std::fs::read_to_string(key_path)?);
    let key = rcgen::KeyPair::from_pem(&pem)
        .map_err(|e| Error::Tls(format!("reading the development key: {e}")))?;
    write_cert_for(cert_path, &key)
}

fn write_cert_for(cert_path: &Path, key: &rcgen::KeyPair) -> Result<i64> {
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let mut params = rcgen::CertificateParams::new(names)
        .map_err(|e| Error::Tls(format!("certificate names: {e}")))?;
    let today = chrono::Utc::now().date_naive();
    let day = |d: chrono::NaiveDate| {
        use chrono::Datelike;
        // Month and day always fit a u8.
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    let not_after = today + chrono::Days::new(DEV_CERT_DAYS as u64);
    params.not_before = day(today - chrono::Days::new(1));
    params.not_after = day(not_after);
    let cert = params
        .self_signed(key)
        .map_err(|e| Error::Tls(format!("generating a certificate: {e}")))?;
    // Write beside and rename, so the reloader never reads half a file.
    let tmp = cert_path.with_extension("pem.tmp");
    std::fs::write(&tmp, cert.pem())?;
    std::fs::rename(&tmp, cert_path)?;
    Ok(not_after
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp()))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_cert_is_created_once_and_reloads_when_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = TlsConfig::development(dir.path()).expect("dev cert");
        let first = tls.fingerprint();
        assert_eq!(first.len(), 64);
        let written = std::fs::read_to_string(dir.path().join("cert.sha256")).expect("read");
        assert_eq!(written.trim(), first);
        assert!(!tls.reload_if_changed().expect("reload"));
        let again = TlsConfig::development(dir.path()).expect("dev cert again");
        assert_eq!(again.fingerprint(), first);

        let tls_dir = dir.path().join("tls");
        write_self_signed(&tls_dir.join("dev-cert.pem"), &tls_dir.join("dev-key.pem"))
            .expect("new cert");
        assert!(tls.reload_if_changed().expect("reload"));
        assert_ne!(tls.fingerprint(), first);
    }

    #[test]
    fn the_development_certificate_lasts_a_year_and_renews_with_the_same_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = TlsConfig::development(dir.path()).expect("dev cert");
        let (pin, leaf) = (tls.spki_pin(), tls.leaf_fingerprint());
        let expiry_path = dir.path().join("tls/dev-cert.not-after");
        let not_after: i64 = std::fs::read_to_string(&expiry_path)
            .expect("expiry recorded")
            .trim()
            .parse()
            .expect("number");
        let days = (not_after - chrono::Utc::now().timestamp()) / 86_400;
        assert!((364..=365).contains(&days), "{days} days");

        // A certificate from an older version (no recorded expiry) or near its end is
        // renewed at start: a new certificate, the same key, the same pin.
        std::fs::remove_file(&expiry_path).expect("remove");
        let renewed = TlsConfig::development(dir.path()).expect("renewed");
        assert_ne!(renewed.leaf_fingerprint(), leaf);
        assert_eq!(renewed.spki_pin(), pin);
        std::fs::write(
            &expiry_path,
            format!("{}\n", chrono::Utc::now().timestamp() + 86_400),
        )
        .expect("write");
        let again = TlsConfig::development(dir.path()).expect("renewed again");
        assert_eq!(again.spki_pin(), pin);
        assert_ne!(again.leaf_fingerprint(), renewed.leaf_fingerprint());
        let written = std::fs::read_to_string(dir.path().join("cert.sha256")).expect("read");
        assert_eq!(written.trim(), pin);
    }

    #[test]
    fn mismatched_pair_keeps_the_old_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = TlsConfig::development(dir.path()).expect("dev cert");
        let before = tls.fingerprint();
        let other = dir.path().join("other");
        std::fs::create_dir_all(&other).expect("mkdir");
        write_self_signed(&other.join("c.pem"), &other.join("k.pem")).expect("other");
        std::fs::copy(other.join("c.pem"), dir.path().join("tls/dev-cert.pem")).expect("copy");
        assert!(tls.reload_if_changed().is_err());
        assert_eq!(tls.fingerprint(), before);
    }
}

//! TLS: certificates from PEM files (or a self-signed development certificate generated on
//! first start), served through a resolver that swaps in new files without a restart.

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

/// Hex of SHA-256 over a certificate's DER: what a client pins.
pub fn fingerprint(cert_der: &[u8]) -> String {
    hex::encode(Sha256::digest(cert_der))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The loaded certificate and what it was loaded from.
struct Loaded {
    key: Arc<CertifiedKey>,
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
    let key = CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| Error::Tls(format!("certificate and key: {e}")))?;
    let mut h = Sha256::new();
    h.update(&cert_pem);
    h.update(&key_pem);
    Ok(Loaded {
        key: Arc::new(key),
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
    /// `localhost`, `127.0.0.1` and `::1`) if absent. Its fingerprint is written to
    /// `<data_dir>/cert.sha256`.
    pub fn development(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("tls");
        let cert_path = dir.join("dev-cert.pem");
        let key_path = dir.join("dev-key.pem");
        if !cert_path.exists() || !key_path.exists() {
            std::fs::create_dir_all(&dir)?;
            write_self_signed(&cert_path, &key_path)?;
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

    /// Fingerprint of the certificate currently served.
    pub fn fingerprint(&self) -> String {
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

/// Write a fresh self-signed certificate and its key as PEM (the key readable by the owner only).
pub fn write_self_signed(cert_path: &Path, key_path: &Path) -> Result<()> {
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| Error::Tls(format!("generating a certificate: {e}")))?;
    write_private(key_path, certified.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(cert_path, certified.cert.pem())?;
    Ok(())
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

//! Reading a PostgreSQL connection URL and its TLS settings. TLS goes through rustls
//! (tokio-postgres-rustls) and always verifies the server's certificate and host name against
//! the CA certificates named by `sslrootcert=<PEM file>` (libpq's parameter, removed from the
//! URL before tokio-postgres parses it). `sslmode=require` without `sslrootcert` is refused:
//! an unverified TLS connection is no protection against the network in between.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};

/// The connection settings of `url`, and the TLS connector it asks for (`None`: plain TCP or
/// a Unix socket).
pub fn parse(url: &str) -> Result<(tokio_postgres::Config, Option<MakeRustlsConnect>)> {
    let (url, root_cert) = take_root_cert(url);
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| Error::Config(format!("the PostgreSQL URL does not parse: {e}")))?;
    let tls = match (config.get_ssl_mode(), root_cert) {
        (SslMode::Disable, _) => None,
        (_, Some(path)) => Some(connector(&path)?),
        (SslMode::Require, None) => {
            return Err(Error::Config(
                "sslmode=require needs sslrootcert=<CA certificate file> in the PostgreSQL URL \
                 (the server's certificate is always verified)"
                    .into(),
            ));
        }
        (_, None) => None,
    };
    Ok((config, tls))
}

/// `url` without its `sslrootcert` query parameter, and that parameter's value.
fn take_root_cert(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut root = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some(("sslrootcert", v)) => {
                root = Some(v.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    if kept.is_empty() {
        (base.to_owned(), root)
    } else {
        (format!("{base}?{}", kept.join("&")), root)
    }
}

fn connector(root_cert: &str) -> Result<MakeRustlsConnect> {
    let pem = std::fs::read(root_cert)
        .map_err(|e| Error::Config(format!("sslrootcert {root_cert}: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| Error::Config(format!("sslrootcert {root_cert}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| Error::Config(format!("sslrootcert {root_cert}: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::Config(format!(
            "sslrootcert {root_cert} holds no certificate"
        )));
    }
    let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(Arc::new(roots))
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_certificate_is_taken_out_of_the_url() {
        assert_eq!(
            take_root_cert("postgres://u@h/db?sslmode=require&sslrootcert=/ca.pem"),
            (
                "postgres://u@h/db?sslmode=require".to_owned(),
                Some("/ca.pem".to_owned())
            )
        );
        assert_eq!(
            take_root_cert("postgres://u@h/db?sslrootcert=/ca.pem"),
            ("postgres://u@h/db".to_owned(), Some("/ca.pem".to_owned()))
        );
        assert_eq!(
            take_root_cert("postgres://u@h/db"),
            ("postgres://u@h/db".to_owned(), None)
        );
    }

    #[test]
    fn tls_without_a_root_certificate_is_refused_and_plain_is_plain() {
        let refused = parse("postgres://u@h/db?sslmode=require");
        assert!(matches!(refused, Err(Error::Config(m)) if m.contains("sslrootcert")));
        let (config, tls) = parse("postgres://u@h/db?sslmode=disable").expect("plain");
        assert!(tls.is_none());
        assert_eq!(config.get_dbname(), Some("db"));
        assert!(parse("postgres://u@h/db?sslrootcert=/nonexistent.pem").is_err());
    }
}

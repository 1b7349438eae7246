//! Reading a PostgreSQL connection URL and its TLS settings. TLS goes through rustls
//! (tokio-postgres-rustls) and always verifies the server's certificate and host name against
//! the CA certificates named by `sslrootcert=<PEM file>` (libpq's parameter, removed from the
//! URL before tokio-postgres parses it). `sslmode=require` without `sslrootcert` is refused:
//! an unverified TLS connection is no protection against the network in between. With
//! `sslrootcert`, TLS is required (never libpq's `prefer`, which a network attacker turns into
//! plaintext by declining); without it, a connection to anything but a Unix socket or the
//! loopback address must say `sslmode=disable` outright.
//!
//! Every session is also given `idle_in_transaction_session_timeout` and `statement_timeout`,
//! so that an instance that stops mid-transaction (paused, cut off) cannot hold the write lock
//! for longer than a minute.

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
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| Error::Config(format!("the PostgreSQL URL does not parse: {e}")))?;
    let tls = match (config.get_ssl_mode(), root_cert) {
        (SslMode::Disable, Some(_)) => {
            return Err(Error::Config(
                "the PostgreSQL URL says both sslmode=disable and sslrootcert: choose one".into(),
            ));
        }
        (SslMode::Disable, None) => None,
        (_, Some(path)) => {
            config.ssl_mode(SslMode::Require);
            Some(connector(&path)?)
        }
        (SslMode::Require, None) => {
            return Err(Error::Config(
                "sslmode=require needs sslrootcert=<CA certificate file> in the PostgreSQL URL \
                 (the server's certificate is always verified)"
                    .into(),
            ));
        }
        (_, None) if only_local_hosts(&config) => None,
        (_, None) => {
            return Err(Error::Config(
                "the PostgreSQL URL names a host over the network without TLS: give \
                 sslmode=require&sslrootcert=<CA certificate file>, or sslmode=disable to send \
                 everything in clear on purpose"
                    .into(),
            ));
        }
    };
    let guard = format!(
        "-c idle_in_transaction_session_timeout={} -c statement_timeout={}",
        IDLE_IN_TRANSACTION.as_millis(),
        STATEMENT_TIMEOUT.as_millis()
    );
    let options = match config.get_options() {
        Some(given) if !given.is_empty() => format!("{given} {guard}"),
        _ => guard,
    };
    config.options(&options);
    Ok((config, tls))
}

/// How long a session may sit inside a transaction doing nothing before PostgreSQL ends it
/// (and releases the write lock it may hold).
const IDLE_IN_TRANSACTION: std::time::Duration = std::time::Duration::from_secs(60);
/// The longest one statement may run (a request's own limit is 120 s).
const STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Whether every host of `config` is a Unix socket or the loopback address.
fn only_local_hosts(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().all(|host| match host {
        tokio_postgres::config::Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(_) => true,
    })
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

    #[test]
    fn a_network_host_without_tls_is_refused_unless_plain_is_asked_for() {
        // libpq's default (`prefer`) lets a network attacker decline TLS: refused.
        for url in [
            "postgres://u@db.internal/db",
            "postgres://u@db.internal/db?sslmode=prefer",
            "postgres://u@10.0.0.5/db",
        ] {
            assert!(
                matches!(parse(url), Err(Error::Config(m)) if m.contains("without TLS")),
                "{url}"
            );
        }
        for url in [
            "postgres://u@localhost/db",
            "postgres://u@127.0.0.1:5432/db",
            "postgresql://u@/db?host=/run/postgresql",
        ] {
            let (_, tls) = parse(url).expect(url);
            assert!(tls.is_none(), "{url}");
        }
        assert!(parse("postgres://u@db.internal/db?sslmode=disable&sslrootcert=/ca.pem").is_err());
    }

    #[test]
    fn a_root_certificate_makes_tls_required_and_sessions_get_timeouts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = rcgen::generate_simple_self_signed(vec!["db.internal".to_owned()]).expect("ca");
        let pem = dir.path().join("ca.pem");
        std::fs::write(&pem, ca.cert.pem()).expect("write");
        let url = format!("postgres://u@db.internal/db?sslrootcert={}", pem.display());
        let (config, tls) = parse(&url).expect("parse");
        assert!(tls.is_some());
        assert_eq!(config.get_ssl_mode(), SslMode::Require, "never prefer");
        let options = config.get_options().expect("options");
        assert!(
            options.contains("idle_in_transaction_session_timeout=60000"),
            "{options}"
        );
        assert!(options.contains("statement_timeout=120000"), "{options}");
    }
}

//! The real server over real TLS: a client that trusts only the generated certificate, and a
//! certificate swapped on disk being picked up without a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

fn connector(trusted: &[u8]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(trusted.to_vec()))
        .expect("trust anchor");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// POST a small JSON body over TLS; returns the raw HTTP response and the server's cert DER.
async fn post(
    addr: std::net::SocketAddr,
    trusted: &[u8],
    path: &str,
    body: &str,
) -> std::io::Result<(String, Vec<u8>)> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = connector(trusted).connect(name, tcp).await?;
    let peer = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await?;
    Ok((String::from_utf8_lossy(&out).into_owned(), peer))
}

#[tokio::test]
async fn tls_round_trip_and_certificate_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = casebook_server::start_for_tests(dir.path())
        .await
        .expect("start");
    assert_eq!(
        casebook_server::tls::spki_pin(&server.cert_der).expect("pin"),
        server.cert_fingerprint
    );
    let pinned = std::fs::read_to_string(dir.path().join("cert.sha256")).expect("pin file");
    assert_eq!(pinned.trim(), server.cert_fingerprint);

    let body = r#"{"device_id":"00000000000000000000000000000000"}"#;
    let (resp, peer) = post(server.addr, &server.cert_der, "/v1/challenge", body)
        .await
        .expect("TLS request");
    // An unknown device gets a challenge like any other (it can never be signed).
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"challenge\":"), "{resp}");
    assert_eq!(peer, server.cert_der);

    // A client trusting some other certificate is refused by its own TLS stack.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    assert!(
        post(server.addr, other.cert.der(), "/v1/challenge", body)
            .await
            .is_err()
    );

    // Replace the certificate on disk; the poller picks it up without a restart.
    let tls_dir = dir.path().join("tls");
    casebook_server::tls::write_self_signed(
        &tls_dir.join("dev-cert.pem"),
        &tls_dir.join("dev-key.pem"),
    )
    .expect("new cert");
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.tls.fingerprint() == server.cert_fingerprint {
        assert!(Instant::now() < deadline, "certificate not reloaded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let new_der = server.tls.cert_der();
    let (resp, peer) = post(server.addr, &new_der, "/v1/challenge", body)
        .await
        .expect("TLS request with the new certificate");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(peer, new_der);
    assert!(
        post(server.addr, &server.cert_der, "/v1/challenge", body)
            .await
            .is_err()
    );

    server.shutdown().await.expect("graceful shutdown");
}

#[tokio::test]
async fn restart_keeps_data_and_issues_a_new_admin_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = casebook_server::start_for_tests(dir.path())
        .await
        .expect("start");
    let fingerprint = first.cert_fingerprint.clone();
    let code = first.admin_code.clone();
    first.shutdown().await.expect("shutdown");
    let second = casebook_server::start_for_tests(dir.path())
        .await
        .expect("restart");
    assert_eq!(second.cert_fingerprint, fingerprint);
    assert_ne!(second.admin_code, code);
    second.shutdown().await.expect("shutdown");
}

/// The device's own TLS stack (core's `ServerTrust::Pin`) against the real server: a
/// handshake succeeds, and the server answers.
async fn pinned_request(addr: std::net::SocketAddr, pin: &str) -> std::io::Result<String> {
    let config = casebook_core::client::client_config(&casebook_core::client::ServerTrust::Pin(
        pin.to_owned(),
    ))
    .expect("client config");
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let body = r#"{"device_id":"00000000000000000000000000000000"}"#;
    let req = format!(
        "POST /v1/challenge HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

async fn wait_for_reload(server: &casebook_server::TestServer, old_der: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.tls.cert_der() == old_der {
        assert!(Instant::now() < deadline, "certificate not reloaded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Devices pin the server's public key: a certificate renewed with the same key is still
/// accepted by a pinned device (no re-enrolment), a certificate with another key is not.
#[tokio::test]
async fn a_pinned_device_accepts_a_renewed_certificate_but_not_a_new_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = casebook_server::start_for_tests(dir.path())
        .await
        .expect("start");
    let pin = server.cert_fingerprint.clone();
    // Any device id gets a challenge (unknown, revoked and live ids are answered alike).
    let resp = pinned_request(server.addr, &pin).await.expect("pinned");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");

    let tls_dir = dir.path().join("tls");
    let (cert, key) = (tls_dir.join("dev-cert.pem"), tls_dir.join("dev-key.pem"));
    casebook_server::tls::renew_self_signed(&cert, &key).expect("renew");
    wait_for_reload(&server, &server.cert_der).await;
    let renewed = server.tls.cert_der();
    assert_ne!(renewed, server.cert_der, "a new certificate is served");
    let resp = pinned_request(server.addr, &pin)
        .await
        .expect("the renewed certificate keeps the pin");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");

    casebook_server::tls::write_self_signed(&cert, &key).expect("new key");
    wait_for_reload(&server, &renewed).await;
    assert!(
        pinned_request(server.addr, &pin).await.is_err(),
        "a certificate with another key is refused"
    );
    let new_pin = casebook_server::tls::spki_pin(&server.tls.cert_der()).expect("pin");
    assert_ne!(new_pin, pin);
    assert!(pinned_request(server.addr, &new_pin).await.is_ok());
    server.shutdown().await.expect("graceful shutdown");
}

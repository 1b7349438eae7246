//! TLS trust for the sync client: either a pinned server certificate (SHA-256 of its DER, as
//! printed by `casebook-server` on first start) or a configured CA. Uses rustls with the ring
//! provider; nothing here implements cryptography itself.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use super::identity::ServerTrust;
use crate::error::{Error, Result};

/// Parse a SHA-256 fingerprint written as hex, with or without colons.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32]> {
    let hex_only: String = text.chars().filter(|c| *c != ':').collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_only.trim(), &mut out)
        .map_err(|_| Error::invalid("certificate pin", "expected a SHA-256 fingerprint in hex"))?;
    Ok(out)
}

/// The SHA-256 fingerprint of a DER certificate, as colon-separated upper-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[derive(Debug)]
struct PinnedCert {
    pin: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if Sha256::digest(end_entity.as_ref())[..] == self.pin[..] {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A rustls client configuration that trusts only what `trust` says.
pub fn client_config(trust: &ServerTrust) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Protocol(format!("TLS setup: {e}")))?;
    let config = match trust {
        ServerTrust::Pin(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedCert {
                pin: parse_fingerprint(pin)?,
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        ServerTrust::Ca(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(pem.as_bytes()) {
                let cert: CertificateDer<'static> =
                    cert.map_err(|_| Error::invalid("ca", "not a PEM certificate"))?;
                roots
                    .add(cert)
                    .map_err(|_| Error::invalid("ca", "certificate not usable as a root"))?;
            }
            if roots.is_empty() {
                return Err(Error::invalid("ca", "no certificate found"));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let fp = fingerprint(b"certificate");
        let parsed = parse_fingerprint(&fp).expect("parse");
        assert_eq!(
            parse_fingerprint(&fp.replace(':', "").to_lowercase()).expect("parse"),
            parsed
        );
        assert!(parse_fingerprint("zz").is_err());
        assert!(parse_fingerprint("AB:CD").is_err());
    }

    #[test]
    fn a_ca_that_is_not_pem_is_refused() {
        assert!(client_config(&ServerTrust::Ca("nope".into())).is_err());
        assert!(client_config(&ServerTrust::Pin("00".repeat(32))).is_ok());
    }
}

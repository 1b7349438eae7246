//! TLS trust for the sync client: either a pinned server public key (SHA-256 of the
//! certificate's SubjectPublicKeyInfo, the "SPKI pin" printed by `casebook-server` on start)
//! or a configured CA. Pinning the key rather than the certificate lets the server renew its
//! certificate with the same key without re-enrolling every device. Uses rustls with the
//! ring provider and rustls-webpki's certificate parser; nothing here implements
//! cryptography itself.

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
    colon_hex(&Sha256::digest(der))
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// SHA-256 over a DER certificate's SubjectPublicKeyInfo (the whole DER `SEQUENCE`, as in
/// HTTP public key pinning): the value a [`ServerTrust::Pin`] holds.
///
/// # Errors
/// [`Error::InvalidInput`] if `der` is not an X.509 certificate webpki can parse.
pub fn spki_sha256(der: &[u8]) -> Result<[u8; 32]> {
    let der = CertificateDer::from(der);
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|_| Error::invalid("certificate", "not a parsable X.509 certificate"))?;
    Ok(Sha256::digest(cert.subject_public_key_info().as_ref()).into())
}

/// [`spki_sha256`] as colon-separated upper-case hex.
pub fn spki_fingerprint(der: &[u8]) -> Result<String> {
    Ok(colon_hex(&spki_sha256(der)?))
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
        // The pin names the key; the handshake signature below is still checked with the
        // key in this certificate, so only the holder of the pinned private key gets in.
        if spki_sha256(end_entity.as_ref()).is_ok_and(|spki| spki == self.pin) {
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
    fn the_spki_pin_follows_the_key_not_the_certificate() {
        let names = vec!["localhost".to_owned()];
        let key = rcgen::KeyPair::generate().expect("key");
        let first = rcgen::CertificateParams::new(names.clone())
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let mut params = rcgen::CertificateParams::new(names.clone()).expect("params");
        params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let renewed = params.self_signed(&key).expect("renewed");
        let other = rcgen::generate_simple_self_signed(names).expect("other");
        assert_ne!(first.der().as_ref(), renewed.der().as_ref());
        let pin = spki_sha256(first.der()).expect("pin");
        assert_eq!(spki_sha256(renewed.der()).expect("pin"), pin);
        assert_ne!(spki_sha256(other.cert.der()).expect("pin"), pin);
        assert_eq!(
            Sha256::digest(key.public_key_der())[..],
            pin[..],
            "the pin is SHA-256 of the DER SubjectPublicKeyInfo"
        );
        assert!(spki_sha256(b"not a certificate").is_err());
        let text = spki_fingerprint(first.der()).expect("fingerprint");
        assert_eq!(parse_fingerprint(&text).expect("parse"), pin);
    }

    #[test]
    fn a_ca_that_is_not_pem_is_refused() {
        assert!(client_config(&ServerTrust::Ca("nope".into())).is_err());
        assert!(client_config(&ServerTrust::Pin("00".repeat(32))).is_ok());
    }
}

//! TLS for the database connections, by rustls with libpq's `sslmode` meaning: `require` encrypts
//! without checking who answers; `verify-ca`/`verify-full` check the certificate against
//! `sslrootcert`. An `sslrootcert` without them is refused: libpq would check the certificate
//! against it, and silently not checking would be weaker than asked.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Certificate checking asked for by `sslmode=verify-ca|verify-full`: the roots in `sslrootcert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verify {
    root_cert: PathBuf,
}

/// Takes libpq's certificate-checking parameters out of the URL, which tokio-postgres does not
/// know: `sslmode=verify-ca|verify-full` becomes `require` plus a verifying TLS setup.
pub(crate) fn take_tls_params(url: &str) -> Result<(String, Option<Verify>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut kept = Vec::new();
    let (mut verify, mut root_cert) = (false, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", "verify-ca" | "verify-full")) => {
                verify = true;
                kept.push("sslmode=require");
            }
            Some(("sslrootcert", path)) => root_cert = Some(PathBuf::from(path)),
            _ => kept.push(pair),
        }
    }
    let verify = match (verify, root_cert) {
        (false, None) => None,
        // libpq would check the certificate against it (require then acts as verify-ca); ignoring it
        // would encrypt without the check the operator asked for. Said instead of guessed.
        (false, Some(_)) => {
            return Err(
                "names sslrootcert, which is used only with sslmode=verify-ca or verify-full: set one of those to check the server's certificate".into(),
            );
        }
        (true, Some(root_cert)) => Some(Verify { root_cert }),
        (true, None) => {
            return Err(
                "with sslmode=verify-ca or verify-full needs sslrootcert=<CA bundle path>".into(),
            );
        }
    };
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, verify))
}

/// The TLS setup for the connections: with `verify`, the server's certificate must chain to the
/// given roots and name the host (libpq's verify-full); otherwise the channel is encrypted without
/// checking who answers, which is exactly what libpq's `sslmode=require` promises.
pub(crate) fn tls_connector(verify: Option<&Verify>) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let config = match verify {
        Some(verify) => {
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(&verify.root_cert)
                .map_err(|_| "sslrootcert cannot be read as PEM certificates".to_owned())?;
            for cert in certs {
                let cert =
                    cert.map_err(|_| "sslrootcert holds an unreadable certificate".to_owned())?;
                roots
                    .add(cert)
                    .map_err(|_| "sslrootcert holds an invalid certificate".to_owned())?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// libpq's `sslmode=require`: any certificate is accepted, but the handshake must still be signed
/// by the key in the certificate presented, so the channel is encrypted end to end with that peer.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_full_takes_the_root_certificate_out_of_the_url() {
        let (url, verify) = take_tls_params(
            "postgres://u@h/d?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(url, "postgres://u@h/d?sslmode=require&application_name=x");
        assert_eq!(
            verify,
            Some(Verify {
                root_cert: "/ca.pem".into()
            })
        );
        assert!(take_tls_params("postgres://u@h/d?sslmode=verify-ca").is_err());
    }

    #[test]
    fn a_root_certificate_without_a_verifying_sslmode_is_refused_not_ignored() {
        for url in [
            "postgres://u@h/d?sslmode=require&sslrootcert=/ca.pem",
            "postgres://u@h/d?sslrootcert=/ca.pem",
        ] {
            let err = take_tls_params(url).unwrap_err();
            assert!(
                err.contains("sslrootcert") && err.contains("verify-full"),
                "{url}: {err}"
            );
        }
        assert_eq!(
            take_tls_params("postgres://u@h/d?sslmode=require").unwrap(),
            ("postgres://u@h/d?sslmode=require".to_owned(), None)
        );
    }
}

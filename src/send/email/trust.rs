//! Which relays rustig trusts: the CAs of the operating system's trust store (read by
//! `rustls-native-certs`: `/etc/ssl/certs` as `update-ca-certificates` leaves it, or
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` when set) plus those in `email.ca_file`. Schools often
//! relay through a server whose certificate comes from the school board's own CA; the Mozilla
//! roots compiled into a binary never know that CA. There is deliberately no setting that
//! skips the check.

use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};

/// TLS settings for a relay called `host` (the name its certificate must carry), trusting
/// the system's CAs and `extra_cas` (DER).
pub(super) fn tls_parameters(host: &str, extra_cas: &[Vec<u8>]) -> Result<TlsParameters, String> {
    let mut builder =
        TlsParameters::builder(host.to_string()).certificate_store(CertificateStore::Default);
    for der in extra_cas {
        let cert = Certificate::from_der(der.clone()).map_err(|e| e.to_string())?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(|e| e.to_string())
}

/// How many CAs the system's trust store gives, and how many of its files failed to load
/// (for the start-up log and `rustig check --smtp`; lettre loads the same store again).
pub(super) fn system_ca_count() -> (usize, usize) {
    let found = rustls_native_certs::load_native_certs();
    (found.certs.len(), found.errors.len())
}

/// Why a TLS handshake failed, when it failed on the peer's certificate (unknown issuer,
/// expired, not valid for the name): rustls's error, found anywhere in the chain of sources
/// (tokio-rustls wraps it in an `io::Error`).
pub(super) fn certificate_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut todo: Vec<&(dyn std::error::Error + 'static)> = vec![err];
    while let Some(e) = todo.pop() {
        if let Some(found) = as_certificate_error(e) {
            return Some(found);
        }
        // `io::Error::source` skips the error it wraps: look at that one too.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            todo.push(inner);
        }
        todo.extend(e.source());
    }
    None
}

fn as_certificate_error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    match e.downcast_ref::<rustls::Error>()? {
        err @ (rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented) => {
            Some(err.to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_are_found_through_io_errors() {
        let rustls_error =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_error);
        let outer = std::io::Error::other(io);
        let found = certificate_problem(&outer).unwrap();
        assert!(found.contains("UnknownIssuer"), "{found}");
        let other = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::HandshakeNotComplete,
        );
        assert_eq!(certificate_problem(&other), None);
        assert_eq!(
            certificate_problem(&std::io::Error::other("connection reset")),
            None
        );
    }

    #[test]
    fn extra_cas_are_accepted_and_garbage_is_not() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca.example".into()]).unwrap();
        tls_parameters("relay.example", &[ca.cert.der().to_vec()]).unwrap();
        assert!(tls_parameters("relay.example", &[b"not a certificate".to_vec()]).is_err());
    }
}

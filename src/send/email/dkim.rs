//! DKIM (RFC 6376 RSA-SHA256, RFC 8463 Ed25519-SHA256) for schools that send without a
//! signing relay: lettre signs; this module loads the configured key and makes new ones for
//! `rustig dkim-keygen`, with the DNS record to publish.
//!
//! Signed headers: From, To, Subject, Date, Message-ID (not Content-Type: lettre writes a
//! multipart message's Content-Type with the body, after signing the headers, so a signature
//! over it would not verify);
//! canonicalization relaxed/relaxed, which survives relays that refold headers. Use RSA
//! unless every receiver that matters verifies Ed25519 (many large ones do not yet).

use base64::Engine as _;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;

use crate::config::email::{read_dkim_key, DkimKey};
use crate::config::DkimSettings;

/// The signer for `[email.dkim]`.
pub(super) fn signer(settings: &DkimSettings) -> Result<DkimConfig, String> {
    let key = match read_dkim_key(&settings.private_key_file)? {
        DkimKey::Rsa(pem) => DkimSigningKey::new(&pem, DkimSigningAlgorithm::Rsa),
        DkimKey::Ed25519(secret) => DkimSigningKey::new(&secret, DkimSigningAlgorithm::Ed25519),
    }
    .map_err(|e| format!("{}: {e}", settings.private_key_file.display()))?;
    let headers = ["From", "To", "Subject", "Date", "Message-ID"]
        .into_iter()
        .map(HeaderName::new_from_ascii_str)
        .collect();
    Ok(DkimConfig::new(
        settings.selector.clone(),
        settings.domain.clone(),
        key,
        headers,
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

/// Which kind of key `rustig dkim-keygen` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA 2048, verified by every receiver.
    Rsa,
    /// Ed25519 (RFC 8463): short, but not verified everywhere yet.
    Ed25519,
}

/// A new key: (private key PEM (PKCS#8), the TXT record's value `v=DKIM1; k=…; p=…`).
pub fn generate(kind: KeyKind) -> Result<(String, String), String> {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut rng = rand_core::OsRng;
    match kind {
        KeyKind::Rsa => {
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| e.to_string())?;
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| e.to_string())?;
            let public = key
                .to_public_key()
                .to_public_key_der()
                .map_err(|e| e.to_string())?;
            Ok((
                pem.to_string(),
                format!("v=DKIM1; k=rsa; p={}", b64.encode(public.as_bytes())),
            ))
        }
        KeyKind::Ed25519 => {
            let key = ed25519_dalek::SigningKey::generate(&mut rng);
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| e.to_string())?;
            Ok((
                pem.to_string(),
                format!(
                    "v=DKIM1; k=ed25519; p={}",
                    b64.encode(key.verifying_key().to_bytes())
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        for (kind, k) in [(KeyKind::Ed25519, "ed25519"), (KeyKind::Rsa, "rsa")] {
            let (pem, record) = generate(kind).unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
            assert!(
                record.starts_with(&format!("v=DKIM1; k={k}; p=")),
                "{record}"
            );
            let path = dir.path().join(k);
            std::fs::write(&path, &pem).unwrap();
            let read = read_dkim_key(&path).unwrap();
            match (kind, read) {
                (KeyKind::Rsa, DkimKey::Rsa(p)) => {
                    assert!(p.starts_with("-----BEGIN RSA PRIVATE KEY-----"))
                }
                (KeyKind::Ed25519, DkimKey::Ed25519(s)) => assert_eq!(s.len(), 44),
                other => panic!("{other:?}"),
            }
            signer(&DkimSettings {
                selector: "rustig".into(),
                domain: "coornhert.example".into(),
                private_key_file: path,
            })
            .unwrap();
        }
        let junk = dir.path().join("junk");
        std::fs::write(
            &junk,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(read_dkim_key(&junk)
            .unwrap_err()
            .contains("not an RSA or Ed25519"));
    }
}

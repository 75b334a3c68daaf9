//! DKIM signatures (RFC 6376; Ed25519 by RFC 8463) on every email, made with mail-auth, the
//! signer of mail-send's own family, and the DNS record that publishes the public key.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};

use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

use crate::config::{self, DkimAlgorithm};

/// The headers signed. Those absent from an email are signed as absent, so that nobody on
/// the way can add them (RFC 6376 §5.4).
const SIGNED_HEADERS: [&str; 10] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Language",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// Signs messages with the configured key.
pub struct Signer {
    signer: DkimSigner<DkimKey, Done>,
    /// The public key as the DNS record's `k=` and `p=` give it.
    key_type: &'static str,
    public_key: Vec<u8>,
    name: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("record", &self.name)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// The signer of `[mail.dkim]`, `None` when signing is off. The error names the file and
    /// says what is wrong with it (the caller names the config key).
    pub fn load(dkim: &config::Dkim) -> Result<Option<Signer>, String> {
        if !dkim.enabled() {
            return Ok(None);
        }
        let file = &dkim.private_key_file;
        let (key, key_type, public_key) = read_key(file, dkim.algorithm)?;
        let signer = DkimSigner::from_key(key)
            .domain(dkim.domain.clone())
            .selector(dkim.selector.clone())
            .headers(SIGNED_HEADERS)
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed);
        // One trial signature: a key that parses but cannot sign is refused now, not at the
        // first email.
        signer
            .sign(b"From: a@example.com\r\n\r\nx\r\n")
            .map_err(|e| format!("{}: cannot sign with this key ({e})", file.display()))?;
        Ok(Some(Signer {
            signer,
            key_type,
            public_key,
            name: format!("{}._domainkey.{}", dkim.selector, dkim.domain),
        }))
    }

    /// `raw` with a `DKIM-Signature` header in front.
    pub fn sign(&self, raw: Vec<u8>) -> Result<Vec<u8>, String> {
        let signature = self.signer.sign(&raw).map_err(|e| e.to_string())?;
        let mut signed = signature.to_header().into_bytes();
        signed.extend_from_slice(&raw);
        Ok(signed)
    }

    /// The DNS TXT record that publishes the public key: its name and its value.
    pub fn dns_record(&self) -> (String, String) {
        let value = format!(
            "v=DKIM1; k={}; p={}",
            self.key_type,
            STANDARD.encode(&self.public_key)
        );
        (self.name.clone(), value)
    }
}

/// The key in `file`, checked against `algorithm`, with its DNS key type and public key.
fn read_key(
    file: &Path,
    algorithm: DkimAlgorithm,
) -> Result<(DkimKey, &'static str, Vec<u8>), String> {
    let shown = file.display();
    let pem = std::fs::read(file).map_err(|e| format!("cannot read the key file {shown}: {e}"))?;
    let der = PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        format!(
            "{shown} holds no private key in PEM form (-----BEGIN PRIVATE KEY----- or \
             -----BEGIN RSA PRIVATE KEY-----)"
        )
    })?;
    let ed25519 = match &der {
        PrivateKeyDer::Pkcs8(pkcs8) => Ed25519Key::from_pkcs8_der(pkcs8.secret_pkcs8_der()).ok(),
        _ => None,
    };
    let rsa = match ed25519 {
        Some(_) => None,
        None => RsaKey::<Sha256>::from_key_der(der.clone_key()).ok(),
    };
    match (algorithm, ed25519, rsa) {
        (DkimAlgorithm::Ed25519Sha256, Some(key), _) => {
            let public = key.public_key();
            Ok((DkimKey::Ed25519(key), "ed25519", public))
        }
        (DkimAlgorithm::RsaSha256, _, Some(key)) => {
            let public = rsa_subject_public_key_info(&key.public_key());
            Ok((DkimKey::Rsa(key), "rsa", public))
        }
        (DkimAlgorithm::RsaSha256, Some(_), _) => Err(format!(
            "{shown} holds an Ed25519 key, but mail.dkim.algorithm is \"rsa-sha256\" \
             (set it to \"ed25519-sha256\")"
        )),
        (DkimAlgorithm::Ed25519Sha256, _, Some(_)) => Err(format!(
            "{shown} holds an RSA key, but mail.dkim.algorithm is \"ed25519-sha256\" \
             (set it to \"rsa-sha256\")"
        )),
        (_, None, None) => Err(format!(
            "{shown} holds neither an RSA nor an Ed25519 private key"
        )),
    }
}

/// A PKCS #1 `RSAPublicKey` wrapped as the `SubjectPublicKeyInfo` DKIM records carry (what
/// `openssl rsa -pubout` prints, and every verifier reads).
fn rsa_subject_public_key_info(pkcs1: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
    const ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x00];
    bit_string.extend_from_slice(pkcs1);
    let mut body = ALGORITHM.to_vec();
    body.extend(der(0x03, &bit_string));
    der(0x30, &body)
}

/// One DER element: tag, definite length, contents.
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

#[cfg(test)]
mod tests {
    use super::der;

    #[test]
    fn der_lengths_use_the_short_and_the_long_form() {
        assert_eq!(der(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = der(0x04, &[0; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(long.len(), 304);
    }
}

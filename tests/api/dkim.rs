//! DKIM (SPEC §8.5): every email is signed, over SMTP and in the file transport's `.eml`
//! files, with RSA or Ed25519; `mail dkim-record` prints the record that publishes the key;
//! `serve` refuses a bad key naming it. The signatures are checked by dkimpy (PyPI), an
//! independent verifier, given the public key as its DNS answer; the keys are made by the
//! openssl command here, for each run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::binary::Binary;
use crate::common::spawn_app_with;
use customer_area::config::{DkimAlgorithm, MailTransport};
use reqwest::StatusCode;
use serde_json::json;

/// Checks one message with dkimpy: argv is the message file, the record's name and value.
/// Prints whether it verifies as sent, with its body changed, and with its subject changed.
const VERIFY: &str = r#"
import sys, dkim
message = open(sys.argv[1], "rb").read()
name, value = sys.argv[2], sys.argv[3].encode()
asked = []
def dns(qname, timeout=5):
    qname = qname.decode() if isinstance(qname, bytes) else qname
    asked.append(qname)
    return value if qname.rstrip(".") == name else None
head, body = message.split(b"\r\n\r\n", 1)
at = next(i for i, b in enumerate(body) if chr(b).isalpha())
changed_body = head + b"\r\n\r\n" + body[:at] + bytes([body[at] ^ 0x20]) + body[at + 1:]
changed_subject = head.replace(b"Subject: ", b"Subject: Re: ", 1) + b"\r\n\r\n" + body
assert changed_body != message and changed_subject != message
results = [dkim.verify(m, dnsfunc=dns) for m in (message, changed_body, changed_subject)]
print(" ".join(str(r) for r in results), "asked=" + ",".join(sorted(set(asked))))
"#;

/// The python of the venv that has dkimpy (and PyNaCl, for Ed25519), when it and the openssl
/// command are there; `None` (said loudly) when not, a panic instead under `CI=true`.
fn dkimpy_and_openssl() -> Option<PathBuf> {
    let python = std::env::var_os("CUSTOMER_AREA_TEST_DKIM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dkim-venv/bin/python")
        });
    let has_dkimpy = Command::new(&python)
        .args(["-c", "import dkim, nacl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_dkimpy {
        return skipped(&format!("dkimpy and PyNaCl in {}", python.display()));
    }
    openssl_or_skip().map(|()| python)
}

/// `Some` when the openssl command runs; `None` (said loudly) when not, a panic under `CI=true`.
fn openssl_or_skip() -> Option<()> {
    let has_openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_openssl {
        Some(())
    } else {
        skipped("the openssl command (Debian package openssl)")
    }
}

/// Says loudly that the running test checked nothing for want of `missing`; fails it instead
/// under `CI=true`.
fn skipped<T>(missing: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("the DKIM tests need {missing} (.ci/run installs them), missing under CI=true");
    }
    // Straight to stderr: the test harness would hide eprintln! of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "\n==================== SKIPPED: DKIM test ====================\n\
         {missing} is missing, so {} checked nothing.\n\
         Install it (dkimpy: as .ci/run does, in target/dkim-venv).\n\
         ============================================================\n",
        std::thread::current().name().unwrap_or("this test")
    );
    None
}

/// Runs openssl with `args`, which must succeed.
fn openssl(args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A fresh key of `kind` in `dir`: "rsa-pkcs1" (BEGIN RSA PRIVATE KEY), "rsa-pkcs8" or
/// "ed25519" (BEGIN PRIVATE KEY). Returns its file, and the `p=` of its DNS record worked out
/// by openssl (the DER public key; for Ed25519 its last 32 bytes, the raw key of RFC 8463).
fn new_key(dir: &Path, kind: &str) -> (PathBuf, String) {
    let file = dir.join(format!("{kind}.pem"));
    let out = file.to_str().unwrap();
    match kind {
        "rsa-pkcs1" => openssl(&["genrsa", "-traditional", "-out", out, "2048"]),
        "rsa-pkcs8" => openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            out,
        ]),
        "ed25519" => openssl(&["genpkey", "-algorithm", "ed25519", "-out", out]),
        _ => unreachable!(),
    };
    let text = std::fs::read_to_string(&file).unwrap();
    let header = if kind == "rsa-pkcs1" {
        "-----BEGIN RSA PRIVATE KEY-----"
    } else {
        "-----BEGIN PRIVATE KEY-----"
    };
    assert!(text.starts_with(header), "{text}");
    let der = openssl(&["pkey", "-in", out, "-pubout", "-outform", "DER"]);
    let public = if kind == "ed25519" {
        &der[der.len() - 32..]
    } else {
        &der[..]
    };
    use base64::Engine as _;
    let p = base64::engine::general_purpose::STANDARD.encode(public);
    (file, p)
}

/// `customer-area mail dkim-record` for this key: the record's name and value lines.
fn dkim_record(dir: &Path, key: &Path, algorithm: &str) -> (String, String) {
    let config = dir.join("record.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\npath = {:?}\n[mail.dkim]\ndomain = \"shop.example.com\"\n\
             selector = \"mail2026\"\nprivate_key_file = {key:?}\nalgorithm = \"{algorithm}\"\n",
            dir.join("record.db"),
        ),
    )
    .unwrap();
    let output = Binary::new()
        .config(&config)
        .args(["mail", "dkim-record"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {stdout}"))
            .trim()
            .to_owned()
    };
    let zone = line("zone:");
    assert!(
        zone.starts_with("mail2026._domainkey.shop.example.com. IN TXT \"v=DKIM1;"),
        "{zone}"
    );
    (line("name:"), line("value:"))
}

#[tokio::test]
async fn every_email_is_signed_and_dkimpy_verifies_it_for_both_algorithms() {
    let Some(python) = dkimpy_and_openssl() else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    for (kind, algorithm, transport) in [
        ("rsa-pkcs1", "rsa-sha256", MailTransport::Smtp),
        ("rsa-pkcs8", "rsa-sha256", MailTransport::File),
        ("ed25519", "ed25519-sha256", MailTransport::Smtp),
        ("ed25519", "ed25519-sha256", MailTransport::File),
    ] {
        let case = format!("{kind} over {transport:?}");
        let (key, public) = new_key(keys.path(), kind);
        let (name, value) = dkim_record(keys.path(), &key, algorithm);
        assert_eq!(name, "mail2026._domainkey.shop.example.com", "{case}");
        let k = if kind == "ed25519" { "ed25519" } else { "rsa" };
        assert_eq!(value, format!("v=DKIM1; k={k}; p={public}"), "{case}");

        let app = spawn_app_with(|c| {
            c.auth.allow_signup = true;
            c.mail.transport = transport;
            c.mail.dkim.domain = "shop.example.com".into();
            c.mail.dkim.selector = "mail2026".into();
            c.mail.dkim.private_key_file = key.clone();
            c.mail.dkim.algorithm = if kind == "ed25519" {
                DkimAlgorithm::Ed25519Sha256
            } else {
                DkimAlgorithm::RsaSha256
            };
        })
        .await;
        let (status, body) = app
            .post(
                "/customers/signup",
                json!({"email": "signed@example.com", "name": "Signed"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{case}: {body}");
        let email = app.wait_for_email("signed@example.com", "Activate").await;
        let raw = String::from_utf8_lossy(&email.raw).into_owned();
        // The first header, unfolded: the signature, with this algorithm, domain and selector.
        let signature = raw
            .split("\r\n")
            .enumerate()
            .take_while(|(i, line)| *i == 0 || line.starts_with([' ', '\t']))
            .map(|(_, line)| line.trim())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(signature.starts_with("DKIM-Signature:"), "{case}:\n{raw}");
        for tag in [
            format!("a={algorithm};"),
            "d=shop.example.com;".to_owned(),
            "s=mail2026;".to_owned(),
        ] {
            assert!(signature.contains(&tag), "{case}: no {tag} in {signature}");
        }
        let file = keys.path().join("message.eml");
        std::fs::write(&file, &email.raw).unwrap();
        let output = Command::new(&python)
            .args(["-c", VERIFY])
            .arg(&file)
            .args([&name, &value])
            .output()
            .unwrap();
        let verdict = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{case}: {verdict}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // As sent it verifies; a changed body or subject does not; dkimpy asked for the key
        // at the selector's name, so it really checked this signature.
        assert_eq!(
            verdict.trim(),
            "True False False asked=mail2026._domainkey.shop.example.com.",
            "{case}"
        );
    }
}

#[tokio::test]
async fn serve_refuses_a_bad_dkim_key_naming_the_file_and_the_key() {
    let Some(()) = openssl_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (rsa, _) = new_key(dir.path(), "rsa-pkcs8");
    let (ed25519, _) = new_key(dir.path(), "ed25519");
    let not_a_key = dir.path().join("not-a-key.pem");
    std::fs::write(&not_a_key, "hello\n").unwrap();
    let ec = dir.path().join("ec.pem");
    let ec_out = ec.to_str().unwrap();
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        ec_out,
    ]);
    let missing = dir.path().join("missing.pem");
    for (key, algorithm, problem) in [
        (&missing, "rsa-sha256", "cannot read"),
        (&dir.path().to_path_buf(), "rsa-sha256", "cannot read"),
        (&not_a_key, "rsa-sha256", "no private key"),
        (&ec, "rsa-sha256", "neither an RSA nor an Ed25519"),
        (&rsa, "ed25519-sha256", "holds an RSA key"),
        (&ed25519, "rsa-sha256", "holds an Ed25519 key"),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\npath = {:?}\n[mail.dkim]\ndomain = \"shop.example.com\"\n\
                 selector = \"s1\"\nprivate_key_file = {key:?}\nalgorithm = \"{algorithm}\"\n",
                dir.path().join("db.sqlite"),
            ),
        )
        .unwrap();
        let output = Binary::new()
            .config(&config)
            .arg("serve")
            .env("CUSTOMER_AREA_SERVER_BIND", "127.0.0.1:0")
            .output_async()
            .await
            .unwrap();
        assert!(!output.status.success(), "{key:?} {algorithm}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for named in ["mail.dkim.private_key_file", key.to_str().unwrap(), problem] {
            assert!(stderr.contains(named), "{named:?} not in {stderr}");
        }
    }
}

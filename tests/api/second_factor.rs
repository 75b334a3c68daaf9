//! The staff's second factor over real HTTP: enrollment, the session that may only enroll,
//! sign-in with a TOTP code and with a recovery code, each code accepted once. The codes are
//! computed here with an implementation of RFC 6238 of the test's own (HMAC-SHA-1), checked
//! against the RFC's published test vectors, never with the product's function.

use crate::common::staff::STAFF_PASSWORD;
use crate::common::{TestApp, spawn_app_with};
use customer_area::config::SecondFactorRule;
use customer_area::domain::Role;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha1::Sha1;

/// RFC 4226's HOTP truncated to `digits`, of the counter `counter`.
fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[hash.len() - 1] & 0x0f) as usize;
    let binary = (u32::from(hash[offset] & 0x7f) << 24)
        | (u32::from(hash[offset + 1]) << 16)
        | (u32::from(hash[offset + 2]) << 8)
        | u32::from(hash[offset + 3]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(digits),
        width = digits as usize
    )
}

/// RFC 6238's TOTP (30-second steps from the Unix epoch) at `unix` seconds.
pub fn totp(secret: &[u8], unix: u64, digits: u32) -> String {
    hotp(secret, unix / 30, digits)
}

/// RFC 4648 base32 (no padding), as authenticator apps read the secret.
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u64, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let index = ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())
            .unwrap_or_else(|| panic!("{c} is not base32"));
        value = (value << 5) | index as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
            value &= (1 << bits) - 1;
        }
    }
    out
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn the_test_implementation_gives_the_codes_of_rfc_6238() {
    // RFC 6238, appendix B, SHA-1 with the 20-byte ASCII seed, 8 digits.
    let seed = b"12345678901234567890";
    for (time, code) in [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(totp(seed, time, 8), code, "T = {time}");
    }
    assert_eq!(base32_decode("GEZDGNBVGY3TQOJQ"), b"1234567890");
}

async fn required_app() -> TestApp {
    spawn_app_with(|c| c.console.second_factor = SecondFactorRule::Required).await
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.call(method, path, Some(token), body).await
}

/// Enrolls the second factor of the session `token`; answers the secret and recovery codes.
pub(crate) async fn enroll(app: &TestApp, token: &str) -> (Vec<u8>, Vec<String>) {
    let (status, begun) = call(app, Method::POST, "/admin/staff/totp", token, None).await;
    assert_eq!(status, StatusCode::OK, "{begun}");
    let uri = begun["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let encoded = begun["secret"].as_str().unwrap();
    assert!(uri.contains(&format!("secret={encoded}")), "{uri}");
    let secret = base32_decode(encoded);
    assert!(secret.len() >= 16, "at least 128 bits");
    // The QR code is an SVG of plain paths: nothing the console's CSP would refuse.
    let qr = begun["qr_svg"].as_str().unwrap();
    assert!(qr.contains("<svg") && qr.contains("<path"), "{qr}");
    for refused in ["style", "<script", "href"] {
        assert!(!qr.contains(refused), "{refused} in {qr}");
    }

    let wrong = format!(
        "{:06}",
        (totp(&secret, now(), 6).parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    let (status, refused) = call(
        app,
        Method::POST,
        "/admin/staff/totp/confirm",
        token,
        Some(json!({"code": wrong})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"], "invalid_code");

    let code = totp(&secret, now(), 6);
    let (status, confirmed) = call(
        app,
        Method::POST,
        "/admin/staff/totp/confirm",
        token,
        Some(json!({"code": code})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let distinct: std::collections::BTreeSet<&String> = codes.iter().collect();
    assert_eq!((codes.len(), distinct.len()), (10, 10), "{codes:?}");
    (secret, codes)
}

/// Signs in with the password; answers the challenge of the 401 `second_factor_required`.
async fn challenge(app: &TestApp, email: &str) -> String {
    let (status, body) = app
        .post(
            "/admin/staff/login",
            json!({"email": email, "password": STAFF_PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "second_factor_required");
    assert!(body.get("token").is_none());
    body["challenge"].as_str().unwrap().to_owned()
}

async fn answer(app: &TestApp, challenge: &str, code: &str) -> (StatusCode, Value) {
    app.post(
        "/admin/staff/login/second_factor",
        json!({"challenge": challenge, "code": code}),
    )
    .await
}

#[tokio::test]
async fn without_a_second_factor_a_session_may_only_enroll_one_and_then_everything() {
    let app = required_app().await;
    let token = app.staff_token("owner@shop.example.com", Role::Owner).await;
    let (status, body) = call(&app, Method::GET, "/admin/customers", &token, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "second_factor_enrollment_required");
    let (status, body) = call(&app, Method::GET, "/admin/staff/self", &token, None).await;
    assert_eq!(status, StatusCode::OK, "who is signed in, while enrolling");
    assert_eq!(body["enrollment_only"], true, "{body}");

    enroll(&app, &token).await;
    let (status, body) = call(&app, Method::GET, "/admin/customers", &token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = call(&app, Method::GET, "/admin/staff/self", &token, None).await;
    assert_eq!(body["enrollment_only"], false, "{body}");
    // A confirmed second factor is replaced only through `staff reset`.
    let (status, _) = call(&app, Method::POST, "/admin/staff/totp", &token, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn signing_in_takes_a_totp_code_once_or_a_recovery_code_once() {
    let app = required_app().await;
    let email = "agent@shop.example.com";
    let token = app.staff_token(email, Role::Support).await;
    let (secret, recovery) = enroll(&app, &token).await;

    // The code of the step used to confirm is spent; the next step's is accepted (one step
    // of drift either way), once.
    let spent = totp(&secret, now(), 6);
    let pending = challenge(&app, email).await;
    let (status, body) = answer(&app, &pending, &spent).await;
    if status == StatusCode::OK {
        // The clock crossed into the next step between enrollment and now: this code is
        // that step's, accepted for the first time. It must not be accepted again.
        let again = challenge(&app, email).await;
        let (status, _) = answer(&app, &again, &spent).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a code works once"
        );
    } else {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            body["fields"]["code"],
            "is invalid, already used or expired"
        );
        let next = totp(&secret, now() + 30, 6);
        let (status, body) = answer(&app, &pending, &next).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let session = body["token"].as_str().unwrap().to_owned();
        let (status, _) = call(&app, Method::GET, "/admin/customers", &session, None).await;
        assert_eq!(status, StatusCode::OK);
        let again = challenge(&app, email).await;
        let (status, _) = answer(&app, &again, &next).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a code works once"
        );
    }

    // A recovery code opens a full session, once.
    let pending = challenge(&app, email).await;
    let (status, body) = answer(&app, &pending, &recovery[3]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = body["token"].as_str().unwrap();
    let (status, _) = call(&app, Method::GET, "/admin/customers", session, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = answer(&app, &pending, &recovery[4]).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a challenge is answered once: {body}"
    );
    assert_eq!(
        body["fields"]["challenge"],
        "is invalid, already used or expired"
    );
    let pending = challenge(&app, email).await;
    let (status, _) = answer(&app, &pending, &recovery[3]).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a recovery code works once"
    );

    // Stored as digests only.
    let stored: Vec<Vec<u8>> = app
        .db()
        .query_map(
            "SELECT code_hash FROM staff_recovery_codes",
            customer_area::store::sql::params![],
            |row| row.get("code_hash"),
        )
        .unwrap();
    assert_eq!(stored.len(), 9);
    assert!(
        stored
            .iter()
            .all(|h| h.len() == 32 && !recovery.iter().any(|c| c.as_bytes() == h.as_slice()))
    );
}

#[tokio::test]
async fn owner_rule_asks_a_second_factor_of_owners_only() {
    let app = spawn_app_with(|c| c.console.second_factor = SecondFactorRule::Owner).await;
    let support = app
        .staff_token("agent@shop.example.com", Role::Support)
        .await;
    let owner = app.staff_token("owner@shop.example.com", Role::Owner).await;
    let (status, _) = call(&app, Method::GET, "/admin/customers", &support, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&app, Method::GET, "/admin/customers", &owner, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "second_factor_enrollment_required");
}

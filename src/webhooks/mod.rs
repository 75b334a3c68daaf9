//! Where events leave for the shop: the Standard Webhooks signature, the endpoints of the
//! config, and the worker that delivers the webhook outbox (`worker`).

pub mod worker;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use url::Url;

use crate::config;

/// Every event type a customer change can announce, in the order docs/webhooks.md lists them.
pub const EVENT_TYPES: &[&str] = &[
    "customer.created",
    "customer.activated",
    "customer.updated",
    "customer.email_changed",
    "customer.deleted",
    "subscriptions.changed",
    "customer.email_undeliverable",
];

/// The type of the test event: sent at once by `webhooks test`, queued for every endpoint by
/// `POST /admin/webhooks/test`.
pub const PING: &str = "ping";

/// The HMAC key of an endpoint: the bytes behind `whsec_<base64>`.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// Parses `whsec_<base64 of 24 to 64 bytes>`.
    pub fn parse(secret: &str) -> Result<SigningKey, String> {
        let encoded = secret
            .strip_prefix("whsec_")
            .ok_or("must start with `whsec_`")?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| "the part after `whsec_` is not base64")?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "must hold 24 to 64 bytes after `whsec_`, not {}",
                key.len()
            ));
        }
        Ok(SigningKey(key))
    }

    /// `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, the `webhook-signature` value.
    pub fn sign(&self, webhook_id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(format!("{webhook_id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// One configured endpoint, parsed: where, with which key, for which events.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub url: Url,
    pub key: SigningKey,
    /// Empty: every event.
    pub events: Vec<String>,
}

impl Endpoint {
    /// Parses a `[[webhooks]]` entry; the error names the key (`url`, `secret`, `events`).
    pub fn parse(hook: &config::Webhook) -> Result<Endpoint, (&'static str, String)> {
        let url = Url::parse(&hook.url).map_err(|e| {
            (
                "url",
                format!("`{}` is not an absolute URL ({e})", hook.url),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err((
                "url",
                format!("`{}` must be an http or https URL with a host", hook.url),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err((
                "url",
                format!("`{}` must not carry credentials or a fragment", hook.url),
            ));
        }
        let key = SigningKey::parse(hook.secret.expose()).map_err(|p| ("secret", p))?;
        if let Some(unknown) = hook
            .events
            .iter()
            .find(|e| !EVENT_TYPES.contains(&e.as_str()))
        {
            return Err((
                "events",
                format!(
                    "`{unknown}` is not an event type (known: {})",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        Ok(Endpoint {
            url,
            key,
            events: hook.events.clone(),
        })
    }

    /// Whether this endpoint receives events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event_type)
    }

    /// The endpoint as stored with its events and shown in metrics: the URL without its query,
    /// which may carry a token of the shop's.
    pub fn label(&self) -> String {
        label_of(&self.url)
    }
}

/// The URL without query: how an endpoint is named in the outbox, the logs and the metrics.
pub fn label_of(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

/// A new `webhook-id`: `msg_` and 128 random bits in hex.
pub fn new_webhook_id() -> String {
    let mut bytes = [0u8; 16];
    crate::random::random_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(url: &str, secret: &str, events: &[&str]) -> config::Webhook {
        config::Webhook {
            url: url.into(),
            secret: config::Secret::new(secret),
            events: events.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification's reference libraries.
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_that_are_not_whsec_base64_of_24_to_64_bytes_are_refused() {
        assert!(SigningKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(SigningKey::parse("whsec_not base64!").is_err());
        assert!(SigningKey::parse(&format!("whsec_{}", STANDARD.encode([1u8; 16]))).is_err());
        assert!(SigningKey::parse(&format!("whsec_{}", STANDARD.encode([1u8; 65]))).is_err());
        assert!(SigningKey::parse(&format!("whsec_{}", STANDARD.encode([1u8; 32]))).is_ok());
    }

    #[test]
    fn bad_entries_name_the_key_at_fault() {
        let secret = format!("whsec_{}", STANDARD.encode([7u8; 32]));
        let key = |h: &config::Webhook| Endpoint::parse(h).unwrap_err().0;
        assert_eq!(key(&hook("ftp://shop.example", &secret, &[])), "url");
        assert_eq!(key(&hook("not a url", &secret, &[])), "url");
        assert_eq!(
            key(&hook("https://u:p@shop.example/h", &secret, &[])),
            "url"
        );
        assert_eq!(
            key(&hook("https://shop.example/h", "whsec_", &[])),
            "secret"
        );
        assert_eq!(
            key(&hook("https://shop.example/h", &secret, &["customer.born"])),
            "events"
        );
        let ok = Endpoint::parse(&hook(
            "https://shop.example/h?token=abc",
            &secret,
            &["customer.deleted"],
        ))
        .unwrap();
        assert!(ok.wants("customer.deleted") && !ok.wants("customer.created"));
        assert_eq!(ok.label(), "https://shop.example/h");
    }
}

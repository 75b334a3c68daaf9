//! A software passkey authenticator, as a browser and a platform authenticator together would
//! answer `navigator.credentials.create()` and `.get()`: a real P-256 key pair per
//! credential, "none" attestation written in CBOR, ECDSA signatures over the authenticator
//! data and the client data's hash, and a signature counter. Only the pieces a test needs to
//! misbehave with (which credential, which user handle, which counter) are exposed.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Authenticator data flags.
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const ATTESTED_CREDENTIAL: u8 = 0x40;

/// One discoverable credential the authenticator holds.
pub struct Credential {
    pub id: Vec<u8>,
    pub rp_id: String,
    pub user_handle: Vec<u8>,
    pub counter: u32,
    key: SigningKey,
}

/// A software authenticator in a browser on `origin`.
pub struct SoftAuthenticator {
    origin: String,
    pub credentials: Vec<Credential>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("not base64url: {text:?}: {e}"))
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

impl SoftAuthenticator {
    /// An authenticator holding no credential, used from pages on `origin`
    /// (e.g. `https://shop.example.com`).
    pub fn new(origin: &str) -> SoftAuthenticator {
        SoftAuthenticator {
            origin: origin.to_owned(),
            credentials: Vec::new(),
        }
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// Answers the `options` of `POST /customers/passkeys/register` with a new credential,
    /// kept for later sign-ins: the browser's `PublicKeyCredential` as JSON.
    pub fn create(&mut self, options: &Value) -> Value {
        let public_key = &options["publicKey"];
        let rp_id = public_key["rp"]["id"].as_str().expect("rp.id").to_owned();
        let challenge = public_key["challenge"].as_str().expect("challenge");
        let user_handle = unb64(public_key["user"]["id"].as_str().expect("user.id"));
        let key = loop {
            if let Ok(key) = SigningKey::from_bytes(&random::<32>().into()) {
                break key;
            }
        };
        let id = random::<32>().to_vec();
        let point = key.verifying_key().to_encoded_point(false);
        let cose_key = Cbor::Map(BTreeMap::from([
            (Cbor::Integer(1), Cbor::Integer(2)),
            (Cbor::Integer(3), Cbor::Integer(-7)),
            (Cbor::Integer(-1), Cbor::Integer(1)),
            (Cbor::Integer(-2), Cbor::Bytes(point.x().unwrap().to_vec())),
            (Cbor::Integer(-3), Cbor::Bytes(point.y().unwrap().to_vec())),
        ]));
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(USER_PRESENT | USER_VERIFIED | ATTESTED_CREDENTIAL);
        auth_data.extend(0u32.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID: none
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(&id);
        auth_data.extend(serde_cbor_2::to_vec(&cose_key).unwrap());
        let attestation = Cbor::Map(BTreeMap::from([
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(BTreeMap::new())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]));
        let client_data = self.client_data("webauthn.create", challenge);
        self.credentials.push(Credential {
            id: id.clone(),
            rp_id,
            user_handle,
            counter: 0,
            key,
        });
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&serde_cbor_2::to_vec(&attestation).unwrap()),
                "clientDataJSON": b64(&client_data),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
    }

    /// Answers the `options` of `POST /customers/passkey_login` with the newest credential
    /// of the options' relying party, as a discoverable sign-in does.
    pub fn get(&mut self, options: &Value) -> Value {
        let rp_id = options["publicKey"]["rpId"].as_str().expect("rpId");
        let index = self
            .credentials
            .iter()
            .rposition(|c| c.rp_id == rp_id)
            .expect("a credential for this relying party");
        let handle = self.credentials[index].user_handle.clone();
        self.assert(options, index, &handle)
    }

    /// An assertion by credential `index` that names `user_handle` as the account, its
    /// counter moved on by one.
    pub fn assert(&mut self, options: &Value, index: usize, user_handle: &[u8]) -> Value {
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .expect("challenge")
            .to_owned();
        let client_data = self.client_data("webauthn.get", &challenge);
        let credential = &mut self.credentials[index];
        credential.counter += 1;
        let mut auth_data = Sha256::digest(credential.rp_id.as_bytes()).to_vec();
        auth_data.push(USER_PRESENT | USER_VERIFIED);
        auth_data.extend(credential.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature: Signature = credential.key.sign(&signed);
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.to_der().as_bytes()),
                "userHandle": b64(user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}

/// The origin of the test config's retailer, where the test authenticator's pages live.
pub const SHOP_ORIGIN: &str = "https://shop.example.com";

/// Where one side's passkey endpoints are: customers' or staff members'.
#[derive(Clone, Copy, Debug)]
pub struct Side {
    /// `…/register` and `…/register/finish`.
    pub register: &'static str,
    /// `…/passkey_login` and `…/passkey_login/finish`.
    pub login: &'static str,
}

/// The customers' passkey endpoints.
pub const CUSTOMERS: Side = Side {
    register: "/customers/passkeys/register",
    login: "/customers/passkey_login",
};

/// The staff's passkey endpoints.
pub const STAFF: Side = Side {
    register: "/admin/staff/passkeys/register",
    login: "/admin/staff/passkey_login",
};

impl super::TestApp {
    /// Adds a passkey made by `authenticator` to the account of `token`; answers the
    /// finish's status and body.
    pub async fn add_passkey(
        &self,
        token: &str,
        authenticator: &mut SoftAuthenticator,
        name: Option<&str>,
    ) -> (reqwest::StatusCode, Value) {
        self.add_passkey_on(CUSTOMERS, token, authenticator, name)
            .await
    }

    /// Adds a passkey made by `authenticator` on `side` to the account or staff member of
    /// `token`; answers the finish's status and body.
    pub async fn add_passkey_on(
        &self,
        side: Side,
        token: &str,
        authenticator: &mut SoftAuthenticator,
        name: Option<&str>,
    ) -> (reqwest::StatusCode, Value) {
        let (status, begun) = self
            .call(reqwest::Method::POST, side.register, Some(token), None)
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{begun}");
        let credential = authenticator.create(&begun["options"]);
        let mut body = json!({ "challenge_id": begun["challenge_id"], "credential": credential });
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        self.call(
            reqwest::Method::POST,
            &format!("{}/finish", side.register),
            Some(token),
            Some(body),
        )
        .await
    }

    /// Begins a passkey sign-in: the challenge id and the options.
    pub async fn begin_passkey_login(&self) -> (String, Value) {
        self.begin_passkey_login_on(CUSTOMERS).await
    }

    /// Begins a passkey sign-in on `side`: the challenge id and the options.
    pub async fn begin_passkey_login_on(&self, side: Side) -> (String, Value) {
        let (status, begun) = self.post(side.login, json!({})).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{begun}");
        (
            begun["challenge_id"].as_str().unwrap().to_owned(),
            begun["options"].clone(),
        )
    }

    /// Finishes a passkey sign-in with `credential`; answers status and body.
    pub async fn finish_passkey_login(
        &self,
        challenge_id: &str,
        credential: &Value,
    ) -> (reqwest::StatusCode, Value) {
        self.finish_passkey_login_on(CUSTOMERS, challenge_id, credential)
            .await
    }

    /// Finishes a passkey sign-in on `side` with `credential`; answers status and body.
    pub async fn finish_passkey_login_on(
        &self,
        side: Side,
        challenge_id: &str,
        credential: &Value,
    ) -> (reqwest::StatusCode, Value) {
        self.post(
            &format!("{}/finish", side.login),
            json!({ "challenge_id": challenge_id, "credential": credential }),
        )
        .await
    }

    /// Signs in with the newest passkey `authenticator` holds; answers status and body.
    pub async fn passkey_login(
        &self,
        authenticator: &mut SoftAuthenticator,
    ) -> (reqwest::StatusCode, Value) {
        self.passkey_login_on(CUSTOMERS, authenticator).await
    }

    /// Signs in on `side` with the newest passkey `authenticator` holds; answers status and
    /// body.
    pub async fn passkey_login_on(
        &self,
        side: Side,
        authenticator: &mut SoftAuthenticator,
    ) -> (reqwest::StatusCode, Value) {
        let (challenge_id, options) = self.begin_passkey_login_on(side).await;
        let credential = authenticator.get(&options);
        self.finish_passkey_login_on(side, &challenge_id, &credential)
            .await
    }
}

//! NATS decentralized authentication for the chain tests: an operator, accounts and users
//! as NKeys from the `nkeys` crate, their JWTs signed here (the layout the NATS JWT v2
//! library writes), and the `.creds` file a station is given.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nkeys::KeyPair;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The JWT of `claims` (`iss` and `sub` are filled in) for `subject`, signed by `issuer`.
fn sign(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let mut claims = json!({
        "iat": 1_700_000_000,
        "iss": issuer.public_key(),
        "sub": subject,
        "name": name,
        "nats": nats,
    });
    // The server does not check the id; a hash of the claims makes it unique as NATS's does.
    let jti = hex::encode_upper(Sha256::digest(claims.to_string().as_bytes()));
    claims["jti"] = json!(jti);
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let signature = issuer.sign(signed.as_bytes()).expect("NKey signs");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The operator's self-signed JWT.
pub fn operator_jwt(operator: &KeyPair) -> String {
    sign(
        operator,
        &operator.public_key(),
        "hq-operator",
        json!({ "type": "operator", "version": 2 }),
    )
}

/// An account's JWT signed by `operator`; with `jetstream`, unlimited JetStream storage
/// (the server refuses JetStream on its system account).
pub fn account_jwt(operator: &KeyPair, account: &KeyPair, name: &str, jetstream: bool) -> String {
    let storage = if jetstream { -1 } else { 0 };
    sign(
        operator,
        &account.public_key(),
        name,
        json!({
            "type": "account",
            "version": 2,
            "limits": {
                "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                "wildcards": true, "conn": -1, "leaf": -1,
                "mem_storage": storage, "disk_storage": storage, "streams": -1, "consumer": -1,
            },
            "default_permissions": { "pub": {}, "sub": {} },
        }),
    )
}

/// A user's JWT signed by `account`, allowed everything.
pub fn user_jwt(account: &KeyPair, user: &KeyPair) -> String {
    sign(
        account,
        &user.public_key(),
        "station",
        json!({
            "type": "user", "version": 2,
            "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
        }),
    )
}

/// The text of a `.creds` file: the user's JWT and NKey seed as `nsc` writes them.
pub fn creds(account: &KeyPair, user: &KeyPair) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user_jwt(account, user),
        user.seed().expect("seed")
    )
}

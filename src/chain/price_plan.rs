//! Central price plans on the wire: what headquarters signs and a station verifies
//! (docs/chain.md "Central price plans").
//!
//! Owns the plan's layout ([`Plan`]), its signed form ([`SignedPlan`]) and the check of
//! both. A plan is signed as the exact bytes of its JSON text, carried as a string inside
//! the signed form, so no canonical re-encoding is needed to verify it. Signatures are
//! Ed25519 by an NKey (the key format NATS uses; public keys are self-checking text).
//! Pure: no I/O.

use std::collections::BTreeMap;
use std::str::FromStr;

use jiff::Timestamp;
use nkeys::KeyPair;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Layout version of a plan; a station refuses any other.
pub const PLAN_SCHEMA: u32 = 1;

/// The JetStream key-value bucket the plans are published in.
pub const BUCKET: &str = "PRICE_PLANS";

/// Longest plan id accepted.
const MAX_PLAN_ID: usize = 64;

/// Whom a plan is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One station, by its `[chain] store`.
    Store(String),
    /// Every station listing the group in `[chain] groups`.
    Group(String),
}

impl Target {
    /// The key-value key of the target's plan: `store.<store>` or `group.<group>`.
    pub fn key(&self) -> String {
        match self {
            Target::Store(s) => format!("store.{s}"),
            Target::Group(g) => format!("group.{g}"),
        }
    }

    /// The target named by a key, when it is one.
    pub fn from_key(key: &str) -> Option<Target> {
        let (kind, name) = key.split_once('.')?;
        if !crate::config::valid_token(name) {
            return None;
        }
        match kind {
            "store" => Some(Target::Store(name.to_owned())),
            "group" => Some(Target::Group(name.to_owned())),
            _ => None,
        }
    }
}

/// A price plan, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Unique id, chosen by headquarters (a UUIDv7 by `forecourtd hq-price-plan`).
    pub plan_id: String,
    /// Whom it is for.
    pub target: Target,
    /// When it takes effect; `None`: as soon as received.
    pub effective_at: Option<Timestamp>,
    /// Grade key (as in the station's `[grades]`) to unit price; never empty, all positive.
    pub prices: BTreeMap<String, Decimal>,
    /// When headquarters issued it; a station ignores a plan older than one it applied.
    pub issued_at: Timestamp,
}

/// A plan as JSON.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WirePlan {
    schema: u32,
    plan_id: String,
    target: String,
    #[serde(default)]
    effective_at: Option<String>,
    prices: BTreeMap<String, String>,
    issued_at: String,
}

/// The message in the bucket: a plan's JSON text, who signed it and the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedPlan {
    /// The signer's public NKey.
    pub signed_by: String,
    /// The plan's JSON text: the signed bytes.
    pub plan: String,
    /// Ed25519 signature of `plan`'s bytes, hex.
    pub signature: String,
}

/// Why a plan message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Not a signed plan, or a plan with missing, extra or unreadable fields.
    #[error("malformed price plan: {0}")]
    Malformed(String),
    /// A layout version this station does not know.
    #[error("price plan schema {0} is not supported (this station reads {PLAN_SCHEMA})")]
    Schema(u32),
    /// Signed by another key than headquarters' configured one.
    #[error("price plan signed by {0}, not by the configured headquarters key")]
    WrongSigner(String),
    /// The signature does not match the plan.
    #[error("price plan signature does not verify")]
    BadSignature,
    /// A price that is not a positive decimal.
    #[error("price of {grade} out of range: {price:?}")]
    Price {
        /// The grade key.
        grade: String,
        /// The price as given.
        price: String,
    },
    /// Signing failed.
    #[error("signing the price plan: {0}")]
    Signing(String),
}

fn malformed(reason: impl std::fmt::Display) -> PlanError {
    PlanError::Malformed(reason.to_string())
}

fn parse_time(field: &str, text: &str) -> Result<Timestamp, PlanError> {
    text.parse::<Timestamp>()
        .map_err(|_| malformed(format!("{field} {text:?} is not an RFC 3339 time")))
}

/// A positive decimal unit price.
pub fn parse_price(grade: &str, text: &str) -> Result<Decimal, PlanError> {
    match Decimal::from_str(text.trim()) {
        Ok(price) if price > Decimal::ZERO => Ok(price),
        _ => Err(PlanError::Price {
            grade: grade.to_owned(),
            price: text.to_owned(),
        }),
    }
}

impl Plan {
    fn from_wire(wire: WirePlan) -> Result<Plan, PlanError> {
        if wire.schema != PLAN_SCHEMA {
            return Err(PlanError::Schema(wire.schema));
        }
        if wire.plan_id.is_empty() || wire.plan_id.len() > MAX_PLAN_ID {
            return Err(malformed("plan_id must be 1 to 64 characters"));
        }
        let target = Target::from_key(&wire.target).ok_or_else(|| {
            malformed(format!(
                "target {:?} is neither store.<store> nor group.<group>",
                wire.target
            ))
        })?;
        if wire.prices.is_empty() {
            return Err(malformed("prices is empty"));
        }
        let prices = wire
            .prices
            .iter()
            .map(|(grade, price)| Ok((grade.clone(), parse_price(grade, price)?)))
            .collect::<Result<_, PlanError>>()?;
        Ok(Plan {
            plan_id: wire.plan_id,
            target,
            effective_at: wire
                .effective_at
                .map(|t| parse_time("effective_at", &t))
                .transpose()?,
            prices,
            issued_at: parse_time("issued_at", &wire.issued_at)?,
        })
    }

    fn to_wire(&self) -> WirePlan {
        WirePlan {
            schema: PLAN_SCHEMA,
            plan_id: self.plan_id.clone(),
            target: self.target.key(),
            effective_at: self.effective_at.map(|t| t.to_string()),
            prices: self
                .prices
                .iter()
                .map(|(g, p)| (g.clone(), p.to_string()))
                .collect(),
            issued_at: self.issued_at.to_string(),
        }
    }

    /// The signed message of this plan, as put in the bucket.
    pub fn sign(&self, key: &KeyPair) -> Result<Vec<u8>, PlanError> {
        let plan = serde_json::to_string(&self.to_wire()).map_err(malformed)?;
        let signature = key
            .sign(plan.as_bytes())
            .map_err(|e| PlanError::Signing(e.to_string()))?;
        serde_json::to_vec(&SignedPlan {
            signed_by: key.public_key(),
            plan,
            signature: hex::encode(signature),
        })
        .map_err(malformed)
    }
}

/// The plan of message `bytes`, once its signature by `hq` (headquarters' public key) and
/// its layout check out.
pub fn verify(bytes: &[u8], hq: &KeyPair) -> Result<Plan, PlanError> {
    let signed: SignedPlan = serde_json::from_slice(bytes).map_err(malformed)?;
    if signed.signed_by != hq.public_key() {
        return Err(PlanError::WrongSigner(signed.signed_by));
    }
    let signature =
        hex::decode(&signed.signature).map_err(|_| malformed("signature is not hex"))?;
    hq.verify(signed.plan.as_bytes(), &signature)
        .map_err(|_| PlanError::BadSignature)?;
    let wire: WirePlan = serde_json::from_str(&signed.plan).map_err(malformed)?;
    Plan::from_wire(wire)
}

/// What can be told of a message whose signature is not trusted: nothing but its
/// digest, SHA-256 hex (the station's once-only key for messages).
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            plan_id: "0193-plan".to_owned(),
            target: Target::Store("29".to_owned()),
            effective_at: None,
            prices: BTreeMap::from([("super".to_owned(), Decimal::new(150_000, 2))]),
            issued_at: "2026-12-03T12:00:00Z".parse().expect("time"),
        }
    }

    fn hq_public(key: &KeyPair) -> KeyPair {
        KeyPair::from_public_key(&key.public_key()).expect("public key")
    }

    #[test]
    fn a_signed_plan_verifies_with_the_public_key() {
        let key = KeyPair::new_account();
        let bytes = plan().sign(&key).expect("signs");
        assert_eq!(verify(&bytes, &hq_public(&key)), Ok(plan()));
    }

    #[test]
    fn a_plan_signed_by_another_key_is_refused() {
        let hq = KeyPair::new_account();
        let forger = KeyPair::new_account();
        let bytes = plan().sign(&forger).expect("signs");
        assert!(matches!(
            verify(&bytes, &hq_public(&hq)),
            Err(PlanError::WrongSigner(_))
        ));
        // Claiming headquarters' key does not help the forger.
        let mut signed: SignedPlan = serde_json::from_slice(&bytes).expect("json");
        signed.signed_by = hq.public_key();
        let bytes = serde_json::to_vec(&signed).expect("json");
        assert_eq!(
            verify(&bytes, &hq_public(&hq)),
            Err(PlanError::BadSignature)
        );
    }

    #[test]
    fn a_plan_changed_after_signing_is_refused() {
        let key = KeyPair::new_account();
        let bytes = plan().sign(&key).expect("signs");
        let mut signed: SignedPlan = serde_json::from_slice(&bytes).expect("json");
        signed.plan = signed.plan.replace("1500.00", "15.00");
        let bytes = serde_json::to_vec(&signed).expect("json");
        assert_eq!(
            verify(&bytes, &hq_public(&key)),
            Err(PlanError::BadSignature)
        );
    }

    fn signed_text(key: &KeyPair, text: &str) -> Vec<u8> {
        let signature = key.sign(text.as_bytes()).expect("signs");
        serde_json::to_vec(&SignedPlan {
            signed_by: key.public_key(),
            plan: text.to_owned(),
            signature: hex::encode(signature),
        })
        .expect("json")
    }

    #[test]
    fn malformed_plans_are_refused_even_when_signed() {
        let key = KeyPair::new_account();
        let public = hq_public(&key);
        assert!(matches!(
            verify(b"not json", &public),
            Err(PlanError::Malformed(_))
        ));
        let cases = [
            r#"{"schema":1,"plan_id":"p","target":"store.29","prices":{"super":"1"}}"#,
            r#"{"schema":1,"plan_id":"p","target":"shop.29","prices":{"super":"1"},"issued_at":"2026-12-03T12:00:00Z"}"#,
            r#"{"schema":1,"plan_id":"p","target":"store.29","prices":{},"issued_at":"2026-12-03T12:00:00Z"}"#,
            r#"{"schema":1,"plan_id":"p","target":"store.29","prices":{"super":"1"},"issued_at":"yesterday"}"#,
            r#"{"schema":1,"plan_id":"p","target":"store.29","prices":{"super":"1"},"issued_at":"2026-12-03T12:00:00Z","extra":1}"#,
        ];
        for text in cases {
            assert!(
                matches!(
                    verify(&signed_text(&key, text), &public),
                    Err(PlanError::Malformed(_))
                ),
                "{text}"
            );
        }
        let v2 = r#"{"schema":2,"plan_id":"p","target":"store.29","prices":{"super":"1"},"issued_at":"2026-12-03T12:00:00Z"}"#;
        assert_eq!(
            verify(&signed_text(&key, v2), &public),
            Err(PlanError::Schema(2))
        );
        for price in ["0", "-5", "abc"] {
            let text = format!(
                r#"{{"schema":1,"plan_id":"p","target":"group.north","prices":{{"super":"{price}"}},"issued_at":"2026-12-03T12:00:00Z"}}"#
            );
            assert!(
                matches!(
                    verify(&signed_text(&key, &text), &public),
                    Err(PlanError::Price { .. })
                ),
                "{price}"
            );
        }
    }

    #[test]
    fn targets_round_trip_through_their_keys() {
        for key in ["store.29", "group.north"] {
            assert_eq!(Target::from_key(key).map(|t| t.key()).as_deref(), Some(key));
        }
        assert_eq!(Target::from_key("store."), None);
        assert_eq!(Target::from_key("store.a.b"), None);
        assert_eq!(Target::from_key("region.x"), None);
    }
}

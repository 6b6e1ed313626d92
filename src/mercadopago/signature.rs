//! Webhook `x-signature` verification and signing (docs/mercadopago.md §7).
//!
//! Wire format, exactly as MP sends it:
//!
//! ```text
//! x-signature: ts=1742505638,v1=0e6b906d…6074
//! x-request-id: bb56a2f1-6aae-46ac-982e-9dcd3581d08e
//! manifest:    id:<data.id>;request-id:<x-request-id>;ts:<ts>;
//! v1:          lowercase hex of HMAC-SHA256(key = secret, message = manifest)
//! ```
//!
//! - The header is split on `,`, each part once on `=`, trimmed; keys are
//!   case-insensitive and unknown keys (a future `v2`) are ignored.
//! - `data.id` is taken from the **query string** and lowercased when alphanumeric.
//!   A part whose value is absent is dropped together with its `key:`.
//! - `ts` below 10^11 is in seconds, otherwise in milliseconds (U4: the docs say ms,
//!   every captured header is in seconds).
//!
//! This module owns the arithmetic only: it never reads a clock (`now` is passed in),
//! never logs and never decides policy (which deliveries must be signed is the
//! notification endpoint's business, docs/architecture.md U12).

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// `ts` values below this are seconds; from it on, milliseconds (docs/mercadopago.md U4).
pub const SECONDS_LIMIT: u64 = 100_000_000_000;

/// Why a signature was refused. Named as MP's SDKs name them, so logs line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `x-signature` header, or an empty one.
    #[error("MissingSignatureHeader")]
    MissingSignatureHeader,
    /// A part without `=`, or a `ts` that is not a number when freshness is checked.
    #[error("MalformedSignatureHeader")]
    MalformedSignatureHeader,
    /// No `ts` in the header.
    #[error("MissingTimestamp")]
    MissingTimestamp,
    /// No `v1` in the header.
    #[error("MissingHash")]
    MissingHash,
    /// The hash matches none of the secrets.
    #[error("SignatureMismatch")]
    SignatureMismatch,
    /// The signature is good but `ts` is too far from `now`.
    #[error("TimestampOutOfTolerance")]
    TimestampOutOfTolerance,
}

/// The `ts` and `v1` parts of an `x-signature` header, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParts<'a> {
    /// The `ts` value (seconds or milliseconds, still text).
    pub ts: &'a str,
    /// The `v1` value (hex).
    pub v1: &'a str,
}

/// Parses an `x-signature` header value.
pub fn parse_header(value: &str) -> Result<SignatureParts<'_>, SignatureError> {
    if value.trim().is_empty() {
        return Err(SignatureError::MissingSignatureHeader);
    }
    let mut ts = None;
    let mut v1 = None;
    for part in value.split(',') {
        if part.trim().is_empty() {
            // A stray comma carries nothing; refusing it would only break on formatting.
            continue;
        }
        let (key, val) = part
            .split_once('=')
            .ok_or(SignatureError::MalformedSignatureHeader)?;
        let (key, val) = (key.trim(), val.trim());
        if key.eq_ignore_ascii_case("ts") {
            ts = Some(val);
        } else if key.eq_ignore_ascii_case("v1") {
            v1 = Some(val);
        }
    }
    let ts = ts
        .filter(|t| !t.is_empty())
        .ok_or(SignatureError::MissingTimestamp)?;
    let v1 = v1
        .filter(|h| !h.is_empty())
        .ok_or(SignatureError::MissingHash)?;
    Ok(SignatureParts { ts, v1 })
}

/// The `data.id` as it enters the manifest: lowercased when it is alphanumeric.
pub fn normalize_data_id(data_id: &str) -> String {
    if !data_id.is_empty() && data_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        data_id.to_ascii_lowercase()
    } else {
        data_id.to_owned()
    }
}

/// Builds the signed manifest. Absent (or empty) values are dropped with their key.
pub fn manifest(data_id: Option<&str>, request_id: Option<&str>, ts: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(id) = data_id.filter(|s| !s.is_empty()) {
        out.push_str("id:");
        out.push_str(&normalize_data_id(id));
        out.push(';');
    }
    if let Some(rid) = request_id.filter(|s| !s.is_empty()) {
        out.push_str("request-id:");
        out.push_str(rid);
        out.push(';');
    }
    if let Some(ts) = ts.filter(|s| !s.is_empty()) {
        out.push_str("ts:");
        out.push_str(ts);
        out.push(';');
    }
    out
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    HmacSha256::new_from_slice(secret).expect("HMAC-SHA256 takes a key of any length")
}

/// Lowercase hex HMAC-SHA256 of `manifest` under `secret`.
pub fn compute_v1(secret: &[u8], manifest: &str) -> String {
    let mut m = mac(secret);
    m.update(manifest.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Produces an `x-signature` header value for a delivery (what MP sends; the sandbox uses it).
pub fn sign(secret: &[u8], data_id: Option<&str>, request_id: Option<&str>, ts: u64) -> String {
    let ts = ts.to_string();
    let v1 = compute_v1(secret, &manifest(data_id, request_id, Some(&ts)));
    format!("ts={ts},v1={v1}")
}

/// What a delivery carried that the signature covers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedRequest<'a> {
    /// The `x-signature` header, if any.
    pub x_signature: Option<&'a str>,
    /// The `x-request-id` header, if any.
    pub x_request_id: Option<&'a str>,
    /// `data.id` from the query string (not from the body), if any.
    pub data_id: Option<&'a str>,
}

/// How far `ts` may be from `now`, either way.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    /// The current time, passed in so this module never reads a clock.
    pub now: jiff::Timestamp,
    /// Accepted distance between `ts` and `now` (integrators use 15 minutes).
    pub tolerance: Duration,
}

/// A signature that verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Index in the secrets slice of the secret that matched (rotation telemetry).
    pub secret_index: usize,
    /// `ts` in milliseconds since the epoch, when it is a number.
    pub ts_millis: Option<u64>,
}

/// `ts` as milliseconds since the epoch; `None` if it is not a plain number.
pub fn ts_millis(ts: &str) -> Option<u64> {
    if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = ts.parse().ok()?;
    if n < SECONDS_LIMIT {
        // n < 10^11, so n * 1000 < 10^14: no overflow.
        Some(n * 1000)
    } else {
        Some(n)
    }
}

/// Verifies a delivery's signature against every secret (two during a rotation), then,
/// if asked, its freshness.
///
/// The hash is compared in constant time (`v1` may be upper- or lowercase hex).
pub fn verify<S: AsRef<[u8]>>(
    request: &SignedRequest<'_>,
    secrets: &[S],
    freshness: Option<Freshness>,
) -> Result<Verified, SignatureError> {
    let header = request
        .x_signature
        .ok_or(SignatureError::MissingSignatureHeader)?;
    let parts = parse_header(header)?;
    let millis = ts_millis(parts.ts);
    if freshness.is_some() && millis.is_none() {
        return Err(SignatureError::MalformedSignatureHeader);
    }
    let expected =
        hex::decode(parts.v1.as_bytes()).map_err(|_| SignatureError::SignatureMismatch)?;
    let manifest = manifest(request.data_id, request.x_request_id, Some(parts.ts));
    let secret_index = secrets
        .iter()
        .position(|secret| {
            let mut m = mac(secret.as_ref());
            m.update(manifest.as_bytes());
            m.verify_slice(&expected).is_ok()
        })
        .ok_or(SignatureError::SignatureMismatch)?;
    if let (Some(fresh), Some(ts)) = (freshness, millis) {
        let now = u64::try_from(fresh.now.as_millisecond()).unwrap_or(0);
        let distance = now.abs_diff(ts);
        let tolerance = u64::try_from(fresh.tolerance.as_millis()).unwrap_or(u64::MAX);
        if distance > tolerance {
            return Err(SignatureError::TimestampOutOfTolerance);
        }
    }
    Ok(Verified {
        secret_index,
        ts_millis: millis,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"forecourtd-test-secret";
    const RID1: &str = "bb56a2f1-6aae-46ac-982e-9dcd3581d08e";
    const RID2: &str = "0f0e0d0c-1111-2222-3333-444455556666";

    // docs/mercadopago.md §7 test vectors (computed with HMAC-SHA256, key forecourtd-test-secret).
    const V1_NUMERIC: &str = "0e6b906d0ec327f69e581ae814d83f74a1b182fccddc5282e5e99a81dc516074";
    const V1_ORDER: &str = "ad34ce6729102d6bbeb32462a03edd76a4228dd96849537ca401da415cf643c4";
    const V1_NO_ID: &str = "8d659f3116bf90d449509655ab4ce3109dc9108bba78de45a8efb25a956c8b44";

    fn at_secs(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).expect("test timestamps are in range")
    }

    #[test]
    fn manifests_match_the_contract_byte_for_byte() {
        assert_eq!(
            manifest(Some("123456789"), Some(RID1), Some("1742505638")),
            "id:123456789;request-id:bb56a2f1-6aae-46ac-982e-9dcd3581d08e;ts:1742505638;"
        );
        assert_eq!(
            manifest(
                Some("ORD01JQ4S4KY8HWQ6NA5PXB65B3D3"),
                Some(RID2),
                Some("1742505638")
            ),
            "id:ord01jq4s4ky8hwq6na5pxb65b3d3;request-id:0f0e0d0c-1111-2222-3333-444455556666;ts:1742505638;"
        );
        assert_eq!(
            manifest(None, Some(RID1), Some("1742505638")),
            "request-id:bb56a2f1-6aae-46ac-982e-9dcd3581d08e;ts:1742505638;"
        );
        assert_eq!(manifest(Some(""), None, Some("1")), "ts:1;");
    }

    #[test]
    fn test_vectors_of_the_contract() {
        let cases = [
            (Some("123456789"), RID1, V1_NUMERIC),
            (Some("ORD01JQ4S4KY8HWQ6NA5PXB65B3D3"), RID2, V1_ORDER),
            (None, RID1, V1_NO_ID),
        ];
        for (data_id, rid, v1) in cases {
            let m = manifest(data_id, Some(rid), Some("1742505638"));
            assert_eq!(compute_v1(SECRET, &m), v1, "manifest {m}");
            let header = format!("ts=1742505638,v1={v1}");
            assert_eq!(sign(SECRET, data_id, Some(rid), 1742505638), header);
            let req = SignedRequest {
                x_signature: Some(&header),
                x_request_id: Some(rid),
                data_id,
            };
            let ok = verify(&req, &[SECRET], None).expect("vector verifies");
            assert_eq!(ok.secret_index, 0);
            assert_eq!(ok.ts_millis, Some(1_742_505_638_000));
        }
    }

    #[test]
    fn header_parsing_is_tolerant_of_spacing_case_order_and_unknown_keys() {
        let header = format!(" V1 = {V1_NUMERIC} , v2=ffff,  TS=1742505638 ,");
        let parts = parse_header(&header).expect("parses");
        assert_eq!(parts.ts, "1742505638");
        assert_eq!(parts.v1, V1_NUMERIC);
        let req = SignedRequest {
            x_signature: Some(&header),
            x_request_id: Some(RID1),
            data_id: Some("123456789"),
        };
        assert!(verify(&req, &[SECRET], None).is_ok());
        // Uppercase hex is the same hash.
        let upper = format!("ts=1742505638,v1={}", V1_NUMERIC.to_uppercase());
        let req = SignedRequest {
            x_signature: Some(&upper),
            ..req
        };
        assert!(verify(&req, &[SECRET], None).is_ok());
    }

    #[test]
    fn malformed_headers_are_named_like_the_sdk() {
        use SignatureError::*;
        let cases: [(Option<&str>, SignatureError); 9] = [
            (None, MissingSignatureHeader),
            (Some(""), MissingSignatureHeader),
            (Some("   "), MissingSignatureHeader),
            (Some("ts=1742505638;v1=abc"), MissingHash),
            (Some("ts1742505638,v1=abc"), MalformedSignatureHeader),
            (Some("v1=abcd"), MissingTimestamp),
            (Some("ts=,v1=abcd"), MissingTimestamp),
            (Some("ts=1742505638"), MissingHash),
            (Some("ts=1742505638,v1="), MissingHash),
        ];
        for (header, want) in cases {
            let req = SignedRequest {
                x_signature: header,
                x_request_id: Some(RID1),
                data_id: Some("123456789"),
            };
            assert_eq!(
                verify(&req, &[SECRET], None),
                Err(want),
                "header {header:?}"
            );
        }
    }

    #[test]
    fn wrong_secret_id_or_request_id_is_a_mismatch() {
        use SignatureError::SignatureMismatch;
        let header = format!("ts=1742505638,v1={V1_NUMERIC}");
        let good = SignedRequest {
            x_signature: Some(&header),
            x_request_id: Some(RID1),
            data_id: Some("123456789"),
        };
        assert_eq!(verify(&good, &[b"other"], None), Err(SignatureMismatch));
        let no_secret: [&[u8]; 0] = [];
        assert_eq!(verify(&good, &no_secret, None), Err(SignatureMismatch));
        let other_id = SignedRequest {
            data_id: Some("123456780"),
            ..good
        };
        assert_eq!(verify(&other_id, &[SECRET], None), Err(SignatureMismatch));
        let other_rid = SignedRequest {
            x_request_id: Some(RID2),
            ..good
        };
        assert_eq!(verify(&other_rid, &[SECRET], None), Err(SignatureMismatch));
        let not_hex = "ts=1742505638,v1=zz6b";
        let bad = SignedRequest {
            x_signature: Some(not_hex),
            ..good
        };
        assert_eq!(verify(&bad, &[SECRET], None), Err(SignatureMismatch));
    }

    #[test]
    fn rotation_accepts_either_secret_and_reports_which() {
        let header = format!("ts=1742505638,v1={V1_NUMERIC}");
        let req = SignedRequest {
            x_signature: Some(&header),
            x_request_id: Some(RID1),
            data_id: Some("123456789"),
        };
        let secrets: [&[u8]; 2] = [b"the-new-secret", SECRET];
        assert_eq!(verify(&req, &secrets, None).map(|v| v.secret_index), Ok(1));
        let secrets: [&[u8]; 2] = [SECRET, b"the-new-secret"];
        assert_eq!(verify(&req, &secrets, None).map(|v| v.secret_index), Ok(0));
    }

    #[test]
    fn freshness_accepts_seconds_and_milliseconds() {
        let tolerance = Duration::from_secs(15 * 60);
        for ts in [1_742_505_638_u64, 1_742_505_638_250] {
            let header = sign(SECRET, Some("123456789"), Some(RID1), ts);
            let req = SignedRequest {
                x_signature: Some(&header),
                x_request_id: Some(RID1),
                data_id: Some("123456789"),
            };
            // 14 minutes later, and 14 minutes earlier (clock skew), both pass.
            for now in [1_742_505_638 + 14 * 60, 1_742_505_638 - 14 * 60] {
                let fresh = Freshness {
                    now: at_secs(now),
                    tolerance,
                };
                assert!(
                    verify(&req, &[SECRET], Some(fresh)).is_ok(),
                    "ts {ts} now {now}"
                );
            }
        }
    }

    #[test]
    fn stale_or_future_timestamps_are_refused() {
        let tolerance = Duration::from_secs(15 * 60);
        for ts in [1_742_505_638_u64, 1_742_505_638_000] {
            let header = sign(SECRET, Some("123456789"), Some(RID1), ts);
            let req = SignedRequest {
                x_signature: Some(&header),
                x_request_id: Some(RID1),
                data_id: Some("123456789"),
            };
            for now in [1_742_505_638 + 16 * 60, 1_742_505_638 - 16 * 60] {
                let fresh = Freshness {
                    now: at_secs(now),
                    tolerance,
                };
                assert_eq!(
                    verify(&req, &[SECRET], Some(fresh)),
                    Err(SignatureError::TimestampOutOfTolerance),
                    "ts {ts} now {now}"
                );
            }
            // Without a freshness check the same header verifies.
            assert!(verify(&req, &[SECRET], None).is_ok());
        }
    }

    #[test]
    fn a_stale_header_with_a_bad_hash_is_a_mismatch_first() {
        let header = sign(b"other", Some("1"), Some(RID1), 1_000_000_000);
        let req = SignedRequest {
            x_signature: Some(&header),
            x_request_id: Some(RID1),
            data_id: Some("1"),
        };
        let fresh = Freshness {
            now: at_secs(1_742_505_638),
            tolerance: Duration::from_secs(900),
        };
        assert_eq!(
            verify(&req, &[SECRET], Some(fresh)),
            Err(SignatureError::SignatureMismatch)
        );
    }

    #[test]
    fn a_non_numeric_ts_is_malformed_only_when_freshness_is_checked() {
        let v1 = compute_v1(SECRET, &manifest(Some("1"), Some(RID1), Some("abc")));
        let header = format!("ts=abc,v1={v1}");
        let req = SignedRequest {
            x_signature: Some(&header),
            x_request_id: Some(RID1),
            data_id: Some("1"),
        };
        assert!(verify(&req, &[SECRET], None).is_ok());
        let fresh = Freshness {
            now: at_secs(1_742_505_638),
            tolerance: Duration::from_secs(900),
        };
        assert_eq!(
            verify(&req, &[SECRET], Some(fresh)),
            Err(SignatureError::MalformedSignatureHeader)
        );
    }

    #[test]
    fn only_alphanumeric_ids_are_lowercased() {
        assert_eq!(normalize_data_id("ORD01ABC"), "ord01abc");
        assert_eq!(normalize_data_id("123"), "123");
        assert_eq!(normalize_data_id("Ab-C"), "Ab-C");
    }
}

//! MP's error body (docs/mercadopago.md §13), as its API answers a failed call.
//!
//! Shapes only, as the parent module says; it never maps an error to a retry or a status.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// MP's error body: `{"message","error","status","cause"|"causes"}` (docs/mercadopago.md §13).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// Human text.
    #[serde(default)]
    pub message: Option<String>,
    /// Machine code (`pos_obtainment_error`, `NAME_TOO_LONG`, …).
    #[serde(default)]
    pub error: Option<String>,
    /// HTTP status, repeated.
    #[serde(default)]
    pub status: Option<u16>,
    /// Causes, when MP uses the singular key (shape varies: list or object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Value>,
    /// Causes, when MP uses the plural key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causes: Option<Value>,
}

impl fmt::Display for ApiErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = self.error.as_deref().unwrap_or("-");
        let message = self.message.as_deref().unwrap_or("");
        write!(f, "{error}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_takes_cause_or_causes() {
        let e: ApiErrorBody = serde_json::from_str(
            r#"{"error":"pos_obtainment_error","message":"Point of sale not found","status":404,"causes":[]}"#,
        )
        .expect("decodes");
        assert_eq!(e.status, Some(404));
        assert_eq!(
            e.to_string(),
            "pos_obtainment_error: Point of sale not found"
        );
        let e: ApiErrorBody =
            serde_json::from_str(r#"{"message":"m","cause":{"code":1}}"#).expect("decodes");
        assert!(e.cause.is_some());
    }
}

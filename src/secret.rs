//! Secrets in memory: access tokens, webhook signing secrets, the order endpoint's URL
//! token. One wrapper for all of them, so no secret can reach a log line or an error
//! message by formatting.

use std::fmt;

/// A secret string whose `Debug` and `Display` print `***`.
///
/// The value is reachable only through [`expose`](Self::expose), so it cannot end up in a
/// log line or an error message by accident. There is no `PartialEq`: compare with
/// [`matches`](Self::matches), which does not stop at the first differing byte.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the one place that must send it (an HTTP header, a MAC key).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when `candidate` equals the secret, compared in time independent of where the
    /// first difference is (only the length can be learnt from timing).
    pub fn matches(&self, candidate: &str) -> bool {
        let a = self.0.as_bytes();
        let b = candidate.as_bytes();
        if a.len() != b.len() {
            return false;
        }
        let diff = a
            .iter()
            .zip(b)
            .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
        diff == 0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl AsRef<[u8]> for Secret {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("APP_USR-123-456");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(s)), "Some(***)");
    }

    #[test]
    fn matches_compares_whole_values() {
        let s = Secret::new("abcdef");
        assert!(s.matches("abcdef"));
        assert!(!s.matches("abcdeg"));
        assert!(!s.matches("abcde"));
        assert!(!s.matches(""));
    }
}

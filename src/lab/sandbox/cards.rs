//! Test-card holder names and the payment outcome each one selects (docs/mercadopago.md §15.1).
//!
//! MP's test cards decide the result from the card holder's name; the sandbox does the
//! same. This module is a table and nothing else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::mercadopago::types::PaymentStatus;

/// A test-card holder name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CardHolder {
    /// Approved.
    Apro,
    /// Rejected, general error.
    Othe,
    /// Rejected, call to authorize.
    Call,
    /// Pending (contingency).
    Cont,
    /// Rejected, insufficient amount.
    Fund,
    /// Rejected, bad security code.
    Secu,
    /// Rejected, expiry date problem.
    Expi,
    /// Rejected, form error.
    Form,
}

impl CardHolder {
    /// Every holder the sandbox knows, in the order of §15.1.
    pub const ALL: [CardHolder; 8] = [
        CardHolder::Apro,
        CardHolder::Othe,
        CardHolder::Call,
        CardHolder::Cont,
        CardHolder::Fund,
        CardHolder::Secu,
        CardHolder::Expi,
        CardHolder::Form,
    ];

    /// The name printed on the card.
    pub fn name(self) -> &'static str {
        match self {
            CardHolder::Apro => "APRO",
            CardHolder::Othe => "OTHE",
            CardHolder::Call => "CALL",
            CardHolder::Cont => "CONT",
            CardHolder::Fund => "FUND",
            CardHolder::Secu => "SECU",
            CardHolder::Expi => "EXPI",
            CardHolder::Form => "FORM",
        }
    }

    /// `status` / `status_detail` of the payment this card produces (§15.1; U13 for CONT).
    pub fn outcome(self) -> (PaymentStatus, &'static str) {
        match self {
            CardHolder::Apro => (PaymentStatus::Approved, "accredited"),
            CardHolder::Othe => (PaymentStatus::Rejected, "cc_rejected_other_reason"),
            CardHolder::Call => (PaymentStatus::Rejected, "cc_rejected_call_for_authorize"),
            CardHolder::Cont => (PaymentStatus::InProcess, "pending_contingency"),
            CardHolder::Fund => (PaymentStatus::Rejected, "cc_rejected_insufficient_amount"),
            CardHolder::Secu => (
                PaymentStatus::Rejected,
                "cc_rejected_bad_filled_security_code",
            ),
            CardHolder::Expi => (PaymentStatus::Rejected, "cc_rejected_bad_filled_date"),
            CardHolder::Form => (PaymentStatus::Rejected, "cc_rejected_bad_filled_other"),
        }
    }
}

/// A holder name the sandbox does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown test-card holder {0:?} (known: APRO OTHE CALL CONT FUND SECU EXPI FORM)")]
pub struct UnknownCardHolder(pub String);

impl FromStr for CardHolder {
    type Err = UnknownCardHolder;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        CardHolder::ALL
            .into_iter()
            .find(|h| h.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownCardHolder(s.to_owned()))
    }
}

impl TryFrom<String> for CardHolder {
    type Error = UnknownCardHolder;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<CardHolder> for String {
    fn from(h: CardHolder) -> Self {
        h.name().to_owned()
    }
}

impl fmt::Display for CardHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_case_insensitively() {
        for h in CardHolder::ALL {
            assert_eq!(h.name().parse::<CardHolder>(), Ok(h));
            assert_eq!(h.name().to_lowercase().parse::<CardHolder>(), Ok(h));
        }
        assert!("NOPE".parse::<CardHolder>().is_err());
    }

    #[test]
    fn only_apro_is_approved_and_cont_waits() {
        for h in CardHolder::ALL {
            let (status, _) = h.outcome();
            match h {
                CardHolder::Apro => assert_eq!(status, PaymentStatus::Approved),
                CardHolder::Cont => assert_eq!(status, PaymentStatus::InProcess),
                _ => assert_eq!(status, PaymentStatus::Rejected),
            }
        }
    }
}

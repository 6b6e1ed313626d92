//! Identity and access: who may use the admin API, and how that is proven.
//!
//! Owns the roles, the identities a request can carry, secret hashing ([`secrets`]),
//! service-token checking ([`tokens`]), browser sessions ([`sessions`]), sign-in
//! throttling ([`throttle`]) and the refusal counters ([`counters`]). It decides nothing
//! about HTTP headers or cookies (that is `http::guard`) and stores nothing itself (users,
//! tokens and the audit trail live in the journal).
//!
//! Identities: attendants sign in with their id and a short PIN, managers with a
//! username and a password, and integrations (a POS, a back office, the CLI on the box)
//! present a service token. Every secret is kept only as an argon2id hash.

pub mod counters;
pub mod secrets;
pub mod sessions;
pub mod throttle;
pub mod tokens;

use std::fmt;

/// What an identity may do. A manager may do everything an attendant may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Authorize, preset, stop, settle cash, see the forecourt and their own sales.
    Attendant,
    /// Everything an attendant can, plus refunds, voids, prices, users, shifts, reports,
    /// POS sync and the audit trail.
    Manager,
}

impl Role {
    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Attendant => "attendant",
            Role::Manager => "manager",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "attendant" => Some(Role::Attendant),
            "manager" => Some(Role::Manager),
            _ => None,
        }
    }

    /// True when this role includes `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// How an identity was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proof {
    /// A browser session cookie (CSRF checks apply).
    Session,
    /// A service token in `Authorization: Bearer`.
    Token,
}

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user or token name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// How it was proven.
    pub proof: Proof,
}

impl Identity {
    /// True for an attendant signed in as a person (whose view is limited to their own
    /// sales and who acts under their own id).
    pub fn is_attendant_person(&self) -> bool {
        self.role == Role::Attendant && self.proof == Proof::Session
    }
}

impl fmt::Display for Identity {
    /// `manager:ana`, `attendant:7`, `token:cli`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.proof {
            Proof::Token => write!(f, "token:{}", self.name),
            Proof::Session => write!(f, "{}:{}", self.role.as_str(), self.name),
        }
    }
}

/// True for a user or token name: 1 to 64 ASCII letters, digits, `-`, `_` or `.`-free
/// (a token's text separates its name from its secret with a dot).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a new PIN (attendant: 4 to 8 digits, typed on a pump-side keypad) or password
/// (manager: 10 to 128 characters); the message says what is wrong.
pub fn check_secret(role: Role, secret: &str) -> Result<(), String> {
    match role {
        Role::Attendant => {
            if (4..=8).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err("an attendant's pin is 4 to 8 digits".to_owned())
            }
        }
        Role::Manager => {
            if (10..=128).contains(&secret.chars().count()) {
                Ok(())
            } else {
                Err("a manager's password is 10 to 128 characters".to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manager_may_do_what_an_attendant_may() {
        assert!(Role::Manager.allows(Role::Attendant));
        assert!(Role::Manager.allows(Role::Manager));
        assert!(Role::Attendant.allows(Role::Attendant));
        assert!(!Role::Attendant.allows(Role::Manager));
    }

    #[test]
    fn names_are_plain() {
        assert!(valid_name("cli"));
        assert!(valid_name("pos-1_a"));
        for bad in ["", "a.b", "a b", "ñ", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}

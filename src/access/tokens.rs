//! Service tokens: for a POS, a back office, and the `forecourtd` CLI on the box.
//!
//! A token's text is `fct.<name>.<secret>`: the name finds the row, the 256-bit secret is
//! checked against the argon2id hash stored there. The text is shown once, when issued;
//! the journal keeps only the hash. A verified token is remembered in memory (by the
//! SHA-256 of its text) so the slow hash runs once per token, not per request; revoking
//! or replacing any token forgets them all.
//!
//! The CLI's token lives in a file next to the journal (`cli.token`, mode 0600, owned by
//! the daemon's user): created at the first start, reused while it still verifies, and
//! replaced when it does not. Whoever can read the journal can read it, so it grants no
//! more than the journal file itself does.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use super::secrets::{self, digest, random_hex};
use super::{valid_name, Identity, Proof, Role};
use crate::journal::{Journal, JournalError};

/// Name of the CLI's token.
pub const CLI_TOKEN_NAME: &str = "cli";

/// File name of the CLI's token, next to the journal.
pub const CLI_TOKEN_FILE: &str = "cli.token";

/// Verified tokens remembered at most; past that the memory starts over.
const CACHE: usize = 256;

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a valid token name.
    #[error("a token name is 1 to 64 letters, digits, '-' or '_'")]
    BadName,
    /// Hashing failed.
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    /// The journal refused.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The token file could not be written.
    #[error("cannot write {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Splits a token's text into its name and secret.
pub fn parse(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("fct.")?;
    let (name, secret) = rest.rsplit_once('.')?;
    (valid_name(name) && secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some((name, secret))
}

/// Creates (or with `replace`, replaces) the token `name` and returns its text, the only
/// time it is ever seen.
pub async fn issue(
    journal: &Journal,
    name: &str,
    role: Role,
    replace: bool,
) -> Result<String, TokenError> {
    if !valid_name(name) {
        return Err(TokenError::BadName);
    }
    let secret = random_hex();
    let hash = secrets::hash_blocking(secret.clone()).await?;
    journal.put_service_token(name, role, hash, replace).await?;
    Ok(format!("fct.{name}.{secret}"))
}

/// Checks presented tokens against the journal.
#[derive(Debug)]
pub struct TokenChecker {
    journal: Journal,
    verified: Mutex<HashMap<String, Identity>>,
}

impl TokenChecker {
    /// A checker over `journal`'s tokens.
    pub fn new(journal: Journal) -> Self {
        Self {
            journal,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The identity of a valid, unrevoked token; `None` otherwise.
    pub async fn check(&self, text: &str) -> Option<Identity> {
        let key = digest(text);
        if let Some(identity) = self.verified.lock().ok()?.get(&key) {
            return Some(identity.clone());
        }
        let (name, secret) = parse(text)?;
        let row = self.journal.service_token(name).await.ok()??;
        if row.revoked_at.is_some() {
            return None;
        }
        if !secrets::verify_blocking(secret.to_owned(), row.secret_hash).await {
            return None;
        }
        let identity = Identity {
            name: row.name,
            role: row.role,
            proof: Proof::Token,
        };
        self.remember(text, identity.clone());
        Some(identity)
    }

    /// Remembers `text` as a verified token of `identity`.
    fn remember(&self, text: &str, identity: Identity) {
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= CACHE {
                verified.clear();
            }
            verified.insert(digest(text), identity);
        }
    }

    /// Forgets every verified token (after a revocation or replacement).
    pub fn forget_all(&self) {
        if let Ok(mut verified) = self.verified.lock() {
            verified.clear();
        }
    }
}

/// Makes sure `path` holds a working manager token for the CLI: keeps a file whose token
/// still verifies, else issues a new `cli` token and writes it with mode 0600. Either way
/// `checker` remembers it, so the CLI's first call after a start is not slowed by a hash.
pub async fn ensure_cli_token(
    journal: &Journal,
    checker: &TokenChecker,
    path: &Path,
) -> Result<(), TokenError> {
    if let Ok(text) = std::fs::read_to_string(path) {
        if checker
            .check(text.trim())
            .await
            .is_some_and(|i| i.name == CLI_TOKEN_NAME && i.role == Role::Manager)
        {
            return Ok(());
        }
    }
    let text = issue(journal, CLI_TOKEN_NAME, Role::Manager, true).await?;
    checker.forget_all();
    checker.remember(
        &text,
        Identity {
            name: CLI_TOKEN_NAME.to_owned(),
            role: Role::Manager,
            proof: Proof::Token,
        },
    );
    write_private(path, &text).map_err(|source| TokenError::File {
        path: path.display().to_string(),
        source,
    })?;
    tracing::info!(path = %path.display(), "CLI token written");
    Ok(())
}

/// Writes `text` to `path` readable by the owner only, replacing it atomically.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(".{CLI_TOKEN_FILE}.{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_well_formed_tokens() {
        let secret = "a".repeat(64);
        assert_eq!(
            parse(&format!("fct.cli.{secret}")),
            Some(("cli", secret.as_str()))
        );
        for bad in [
            format!("cli.{secret}"),
            format!("fct.cli.{}", "a".repeat(63)),
            format!("fct.c i.{secret}"),
            format!("fct..{secret}"),
            "fct.cli".to_owned(),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
    }
}

//! Secrets read at load time: the Mercado Pago access token, webhook signing secrets and
//! the order endpoint's URL token.
//!
//! This module owns the two ways a secret reaches the daemon: a
//! file (a root-only file, or a systemd credential named `credential:NAME`, read from
//! `$CREDENTIALS_DIRECTORY/NAME` as `LoadCredential=` provides it) or an environment
//! variable. It never
//! accepts a secret written inline in the configuration, and nothing in it ever formats a
//! secret's value: `Debug` and `Display` print `***`, and every error message names the
//! source (path or variable), never the content.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use crate::secret::Secret;

/// A secret read from a file, plus a warning when the file is readable by every user.
pub(crate) struct FileSecret {
    pub(crate) secret: Secret,
    pub(crate) world_readable: bool,
}

/// Reads a secret from `path`, trimming the surrounding whitespace an editor or `echo`
/// leaves (a trailing newline would otherwise become part of a bearer token).
///
/// The error message names the file and the failure, never any of its content.
pub(crate) fn read_file(path: &Path) -> Result<FileSecret, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("{} does not contain UTF-8 text", path.display()))?;
    let secret = checked(text.trim()).map_err(|why| format!("{} {why}", path.display()))?;
    Ok(FileSecret {
        secret,
        world_readable: world_readable(path),
    })
}

/// The prefix of a secret file setting that names a systemd credential instead of a path.
pub(crate) const CREDENTIAL_PREFIX: &str = "credential:";

/// Where the systemd credential `name` is: `$CREDENTIALS_DIRECTORY/name`. Systemd sets
/// the variable for a unit with `LoadCredential=`; outside such a unit there is none.
pub(crate) fn credential_path(
    name: &str,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, String> {
    let valid = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(format!(
            "credential {name:?} is not a valid credential name (no slash, no whitespace)"
        ));
    }
    let dir = env("CREDENTIALS_DIRECTORY").ok_or_else(|| {
        format!(
            "credential {name:?}: CREDENTIALS_DIRECTORY is not set (run under systemd with \
             LoadCredential=, or give a file path)"
        )
    })?;
    Ok(PathBuf::from(dir).join(name))
}

/// Reads a secret from the environment variable `name` through `env`.
pub(crate) fn read_env(
    name: &str,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Secret, String> {
    if !is_env_name(name) {
        return Err(format!(
            "{name:?} is not a valid environment variable name (letters, digits and _, not starting with a digit)"
        ));
    }
    let value = env(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
    let text = value
        .into_string()
        .map_err(|_| format!("environment variable {name} is not UTF-8"))?;
    checked(text.trim()).map_err(|why| format!("environment variable {name} {why}"))
}

/// Refuses values that cannot be a token: empty, or with inner whitespace or control
/// characters (which would corrupt an HTTP header and usually mean the wrong file).
fn checked(value: &str) -> Result<Secret, &'static str> {
    if value.is_empty() {
        return Err("is empty");
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters");
    }
    Ok(Secret::new(value))
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(unix)]
fn world_readable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o004 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn world_readable(_path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found_in_the_credentials_directory() {
        let env = |name: &str| {
            (name == "CREDENTIALS_DIRECTORY").then(|| OsString::from("/run/credentials/x"))
        };
        assert_eq!(
            credential_path("mp_access_token", &env),
            Ok(PathBuf::from("/run/credentials/x/mp_access_token"))
        );
        assert!(credential_path("../etc/shadow", &env).is_err());
        assert!(credential_path("", &env).is_err());
        let unset = |_: &str| None;
        let err = credential_path("mp_access_token", &unset).expect_err("no directory");
        assert!(err.contains("CREDENTIALS_DIRECTORY is not set"), "{err}");
    }

    #[test]
    fn env_reading_checks_name_presence_and_content() {
        let env = |name: &str| match name {
            "SET" => Some(OsString::from("  tok-1\n")),
            "EMPTY" => Some(OsString::from("\n")),
            "SPACED" => Some(OsString::from("a b")),
            _ => None,
        };
        assert_eq!(
            read_env("SET", &env).map(|s| s.expose().to_owned()),
            Ok("tok-1".to_owned())
        );
        assert_eq!(
            read_env("UNSET", &env).map(|s| s.expose().to_owned()),
            Err("environment variable UNSET is not set".to_owned())
        );
        assert!(read_env("EMPTY", &env).is_err());
        assert!(read_env("SPACED", &env).is_err());
        assert!(read_env("1BAD", &env).is_err());
        assert!(read_env("", &env).is_err());
    }
}

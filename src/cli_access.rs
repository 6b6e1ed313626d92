//! The command line of access: users, service tokens, the audit trail, and the first
//! manager.
//!
//! Every command but `user add-manager` is an admin API call (made by `main` with the
//! CLI's token). `user add-manager` writes the journal directly, because the first
//! manager must exist before anyone can sign in: it runs on the box, as the user that owns
//! the journal (root or the daemon's user), which is the proof of authority. Secrets are
//! read from standard input, never from the command line (where `ps` would show them).

use std::io::BufRead as _;
use std::path::Path;

use serde_json::{json, Value};

use crate::access::{check_secret, secrets, valid_name, Role};
use crate::config::Config;
use crate::journal::{Journal, JournalSettings, NewUser, UserChange};

/// `forecourtd user …`.
#[derive(Debug, clap::Subcommand)]
pub enum UserAction {
    /// List users (admin API, manager).
    List,
    /// Add an attendant or a manager; the PIN or password is read from standard input
    /// (admin API, manager).
    Add {
        /// Login name: the attendant id, or the manager's username.
        name: String,
        /// `attendant` or `manager`.
        #[arg(long, default_value = "attendant")]
        role: String,
        /// Name shown to people.
        #[arg(long)]
        display_name: Option<String>,
        /// Loyalty document type (attendants), e.g. DNI.
        #[arg(long)]
        document_type: Option<String>,
        /// Loyalty document number (attendants).
        #[arg(long)]
        document_number: Option<String>,
    },
    /// Disable a user; their sessions end (admin API, manager).
    Disable {
        /// Login name.
        name: String,
    },
    /// Enable a disabled user (admin API, manager).
    Enable {
        /// Login name.
        name: String,
    },
    /// Set a new PIN or password, read from standard input (admin API, manager).
    Reset {
        /// Login name.
        name: String,
    },
    /// Create (or reset the password of) a manager by writing the journal directly; run on
    /// the box as the journal's owner. The password is read from standard input.
    AddManager {
        /// Username.
        name: String,
        /// The daemon's configuration (for the journal's path).
        #[arg(long, short)]
        config: std::path::PathBuf,
    },
}

/// `forecourtd token …`.
#[derive(Debug, clap::Subcommand)]
pub enum TokenAction {
    /// List service tokens (admin API, manager).
    List,
    /// Create a service token; its text is printed once (admin API, manager).
    Add {
        /// Token name (e.g. `pos-1`).
        name: String,
        /// `attendant` or `manager`.
        #[arg(long, default_value = "attendant")]
        role: String,
    },
    /// Revoke a service token (admin API, manager).
    Revoke {
        /// Token name.
        name: String,
    },
}

/// An admin API request a command stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    /// `GET` or `POST`.
    pub method: hyper::Method,
    /// Path and query.
    pub path: String,
    /// JSON body of a POST.
    pub body: Option<Value>,
}

/// A GET request.
pub(crate) fn get(path: String) -> ApiRequest {
    ApiRequest {
        method: hyper::Method::GET,
        path,
        body: None,
    }
}

/// A POST request with a JSON body.
pub(crate) fn post(path: String, body: Value) -> ApiRequest {
    ApiRequest {
        method: hyper::Method::POST,
        path,
        body: Some(body),
    }
}

/// Reads one line (a PIN or password) from standard input, without its line end.
pub fn read_secret() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn secret_field(role: Role, secret: String) -> Result<(&'static str, String), String> {
    check_secret(role, &secret)?;
    Ok((
        match role {
            Role::Attendant => "pin",
            Role::Manager => "password",
        },
        secret,
    ))
}

fn role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| format!("{text:?} is not attendant or manager"))
}

impl UserAction {
    /// The API request, reading a secret with `secret` where one is needed; `None` for
    /// `add-manager`, which is not an API call.
    pub fn request(
        &self,
        secret: impl FnOnce() -> Result<String, String>,
    ) -> Result<Option<ApiRequest>, String> {
        Ok(Some(match self {
            UserAction::List => get("/api/users".to_owned()),
            UserAction::Add {
                name,
                role: r,
                display_name,
                document_type,
                document_number,
            } => {
                let role = role(r)?;
                let (field, value) = secret_field(role, secret()?)?;
                let mut body = json!({
                    "name": name, "role": role.as_str(), "display_name": display_name,
                    "document_type": document_type, "document_number": document_number,
                });
                body[field] = json!(value);
                post("/api/users".to_owned(), body)
            }
            UserAction::Disable { name } => post(format!("/api/users/{name}/disable"), json!({})),
            UserAction::Enable { name } => post(format!("/api/users/{name}/enable"), json!({})),
            UserAction::Reset { name } => {
                // The daemon knows the role; send the secret under both names it accepts
                // for that role's rule to apply.
                let value = secret()?;
                post(
                    format!("/api/users/{name}/reset"),
                    json!({ "pin": value, "password": value }),
                )
            }
            UserAction::AddManager { .. } => return Ok(None),
        }))
    }
}

impl TokenAction {
    /// The API request.
    pub fn request(&self) -> Result<ApiRequest, String> {
        Ok(match self {
            TokenAction::List => get("/api/tokens".to_owned()),
            TokenAction::Add { name, role: r } => post(
                "/api/tokens".to_owned(),
                json!({ "name": name, "role": role(r)?.as_str() }),
            ),
            TokenAction::Revoke { name } => post(format!("/api/tokens/{name}/revoke"), json!({})),
        })
    }
}

/// `forecourtd user add-manager NAME --config FILE`: creates the manager, or sets a new
/// password for an existing one, in the journal the configuration names.
pub async fn add_manager(name: &str, config: &Path, password: String) -> Result<String, String> {
    if !valid_name(name) {
        return Err("a name is 1 to 64 letters, digits, '-' or '_'".to_owned());
    }
    check_secret(Role::Manager, &password)?;
    let config = Config::load(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let journal = Journal::open(
        &config.database().path,
        JournalSettings {
            store_id: config.station().store_id.clone(),
        },
    )
    .await
    .map_err(|e| format!("opening the journal: {e}"))?;
    let hash = secrets::hash_blocking(password)
        .await
        .map_err(|e| e.to_string())?;
    let result = match journal.user(name).await {
        Ok(Some(user)) if user.role == Role::Manager => journal
            .change_user(name, UserChange::Secret(hash))
            .await
            .map(|_| format!("manager {name}: password changed")),
        Ok(Some(_)) => {
            return Err(format!(
                "{name} exists and is not a manager; nothing changed"
            ))
        }
        Ok(None) => journal
            .add_user(NewUser {
                name: name.to_owned(),
                role: Role::Manager,
                display_name: name.to_owned(),
                secret_hash: Some(hash),
                document_type: None,
                document_number: None,
            })
            .await
            .map(|_| format!("manager {name} created")),
        Err(e) => Err(e),
    }
    .map_err(|e| e.to_string());
    if let Err(e) = journal.close().await {
        return Err(format!("closing the journal: {e}"));
    }
    result
}

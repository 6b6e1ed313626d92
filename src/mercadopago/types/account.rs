//! Account answers: the OAuth token (`POST /oauth/token`) and the test user
//! (`POST /users/test_user`).
//!
//! Shapes only, as the parent module says; it never asks for a token or logs one.

use serde::{Deserialize, Serialize};

/// `POST /oauth/token` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthToken {
    /// The access token.
    pub access_token: String,
    /// `bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Granted scope.
    #[serde(default)]
    pub scope: Option<String>,
    /// The user the token belongs to.
    #[serde(default)]
    pub user_id: Option<i64>,
    /// False for test credentials.
    #[serde(default)]
    pub live_mode: Option<bool>,
}

/// `POST /users/test_user` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestUser {
    /// User id.
    pub id: i64,
    /// Nickname.
    pub nickname: String,
    /// Password for the app.
    pub password: String,
    /// `active`.
    pub site_status: String,
    /// E-mail.
    pub email: String,
}

//! Accounts: who can sign in, with what role and scopes, and their passwords as bcrypt
//! hashes (go-micro v5's `auth.Account`, its password hash kept beside it as v5 keeps it in
//! the account's metadata).
//!
//! A password is only ever hashed or compared here; it is not stored, logged, or echoed in
//! any answer. Hashing runs at bcrypt's default cost (12), the figure go-micro uses; the
//! callers run it off the async workers (`spawn_blocking`).

use super::scope::ALL;
use serde::{Deserialize, Serialize};

/// What an account may administer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages accounts, tokens and rules; holds the scope `*`.
    Admin,
    /// Calls what its scopes allow; manages its own password and tokens.
    User,
}

impl Role {
    /// `admin` or `user`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    /// From `admin` or `user` (any case).
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "user" | "" => Some(Role::User),
            _ => None,
        }
    }
}

/// An account as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The sign-in name.
    pub id: String,
    /// Its role.
    pub role: Role,
    /// Its scopes (an admin's are `*`).
    pub scopes: Vec<String>,
    /// bcrypt hash of its password.
    pub password_hash: String,
    /// Bumped when the password changes: tokens issued before carry the old number and are
    /// refused from then on.
    #[serde(default)]
    pub generation: u32,
    /// Unix seconds.
    pub created: u64,
}

impl AccountRecord {
    /// What callers may see of the account.
    pub fn public(&self) -> Account {
        Account {
            id: self.id.clone(),
            role: self.role,
            scopes: self.scopes.clone(),
            token: None,
            created: self.created,
        }
    }
}

/// An authenticated caller, as the [`super::guard::Guard`] hands it to the gateway (no secret in it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The account's id (for an API token, the account that created it).
    pub id: String,
    /// Its role.
    pub role: Role,
    /// The scopes this call is made with: the account's, or the API token's.
    pub scopes: Vec<String>,
    /// The API token's name when the caller used one; `None` for a signed-in session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Unix seconds.
    pub created: u64,
}

impl Account {
    /// Whether the caller may administer accounts, tokens and rules (an admin's session;
    /// an API token only when it carries `*`).
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin && self.scopes.iter().any(|s| s == ALL)
    }
}

/// The scopes a new account of `role` gets when none are given.
pub fn default_scopes(role: Role) -> Vec<String> {
    match role {
        Role::Admin => vec![ALL.to_string()],
        Role::User => Vec::new(),
    }
}

/// Whether `id` is a usable account name: 1–64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

/// bcrypt's input limit: longer passwords would be cut silently, so they are refused.
pub const MAX_PASSWORD: usize = 72;

/// Why a password is refused, if it is.
pub fn password_problem(password: &str) -> Option<String> {
    if password.len() < MIN_PASSWORD {
        return Some(format!("the password is too short: at least {MIN_PASSWORD} characters"));
    }
    if password.len() > MAX_PASSWORD {
        return Some(format!("the password is too long: at most {MAX_PASSWORD} bytes (bcrypt's limit)"));
    }
    None
}

/// The bcrypt hash of `password` (blocking: call it off the async workers).
pub fn hash(password: &str) -> Result<String, bcrypt::BcryptError> {
    bcrypt::hash(password, bcrypt::DEFAULT_COST)
}

/// Whether `password` matches `hash` (blocking). An unreadable hash never matches.
pub fn verify(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// A hash no password was made for, compared against when the account does not exist, so
/// that a wrong name takes as long to refuse as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&random_secret()).unwrap_or_default())
}

/// A random password: 24 characters of URL-safe base64 (144 bits).
pub fn random_secret() -> String {
    use base64::Engine;
    use rsa::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 18];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify_and_the_hash_hides_them() {
        let h = hash("correct horse").expect("hash");
        assert!(h.starts_with("$2"));
        assert!(!h.contains("correct horse"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("x", "not a hash"));
    }

    #[test]
    fn ids_and_passwords_are_checked() {
        assert!(valid_id("alice@example.com"));
        assert!(!valid_id("a b"));
        assert!(!valid_id(""));
        assert!(password_problem("short").is_some());
        assert!(password_problem(&"x".repeat(73)).is_some());
        assert!(password_problem("long enough").is_none());
        assert_ne!(random_secret(), random_secret());
        assert_eq!(random_secret().len(), 24);
    }
}

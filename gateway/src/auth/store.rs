//! Where the auth layer keeps what must survive a restart: the signing key, accounts
//! (bcrypt hashes, never passwords), API tokens, the revocation list and the scope rules —
//! one JSON file, `auth.json`, in the auth directory.
//!
//! go-micro v5 keeps these in its default store (a file store under the home directory) and
//! its key pair in two PEM files beside it. One JSON file does the same with nothing to
//! install and nothing to compile (SQLite would bring a C build for a few kilobytes of
//! records), and stays readable to an operator. Every change writes the whole file to a
//! temporary file in the same directory, created with mode 0600, syncs it and renames it
//! over the old one, so a crash leaves the old file or the new one, never half of either.
//! The directory is created 0700. One process owns a directory at a time.

use super::account::AccountRecord;
use super::error::AuthError;
use super::scope::Rules;
use super::token;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The file's name in the auth directory.
pub const FILE: &str = "auth.json";

/// The format version written; a file of a later one is refused rather than misread.
const VERSION: u32 = 1;

/// An API token's record (the token itself is never kept: it is shown once, at creation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token's id (its JWT `jti`).
    pub id: String,
    /// What the token is for, as its creator named it.
    pub name: String,
    /// The scopes it carries.
    pub scopes: Vec<String>,
    /// The account that created it.
    pub created_by: String,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds.
    pub expires: u64,
}

/// Everything the file holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    #[serde(default)]
    pub version: u32,
    /// The RS256 private key, PKCS#1 PEM.
    #[serde(default)]
    pub key: String,
    /// Accounts by id.
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountRecord>,
    /// API tokens by id.
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenRecord>,
    /// Revoked token ids and when each would have expired (Unix seconds); an entry is
    /// dropped once its token has expired anyway, as an expired API token's record is.
    #[serde(default)]
    pub revoked: BTreeMap<String, u64>,
    /// Scopes required per service or endpoint.
    #[serde(default)]
    pub rules: Rules,
}

/// The file in `dir`.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Reads the state in `dir`; `None` when there is no file yet (first start).
pub fn load(dir: &Path) -> Result<Option<State>, AuthError> {
    let path = path_in(dir);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuthError::Io(format!("reading {}", path.display()), e)),
    };
    let state: State = serde_json::from_slice(&text)
        .map_err(|e| AuthError::Store(format!("{} is not an auth store: {e}", path.display())))?;
    if state.version > VERSION {
        return Err(AuthError::Store(format!(
            "{} is format {} and this micro reads up to {VERSION}",
            path.display(),
            state.version
        )));
    }
    Ok(Some(state))
}

/// Creates `dir` (0700) when missing.
pub fn ensure_dir(dir: &Path) -> Result<(), AuthError> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| AuthError::Io(format!("creating {}", dir.display()), e))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| AuthError::Io(format!("setting the mode of {}", dir.display()), e))?;
    }
    Ok(())
}

/// Writes `state` to `dir` atomically (see the module docs).
pub fn save(dir: &Path, state: &State) -> Result<(), AuthError> {
    let path = path_in(dir);
    let tmp = dir.join(format!(".{FILE}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut out = State { version: VERSION, ..state.clone() };
    let now = token::now();
    out.revoked.retain(|_, exp| *exp > now);
    out.tokens.retain(|_, t| t.expires > now);
    let bytes = serde_json::to_vec_pretty(&out).map_err(|e| AuthError::Store(format!("encoding the store: {e}")))?;
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        AuthError::Io(format!("writing {}", path.display()), e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_reads_back_with_mode_0600_without_expired_entries_or_a_temporary() {
        let dir = std::env::temp_dir().join(format!("micro-auth-store-{}", uuid::Uuid::new_v4().simple()));
        ensure_dir(&dir).expect("dir");
        assert!(load(&dir).expect("load").is_none());
        let mut s = State { key: "k".into(), ..State::default() };
        s.revoked.insert("old".into(), 1);
        s.revoked.insert("live".into(), u64::MAX);
        for (id, expires) in [("gone", 1), ("kept", u64::MAX)] {
            let t = TokenRecord {
                id: id.into(),
                name: id.into(),
                scopes: vec!["a".into()],
                created_by: "admin".into(),
                created: 0,
                expires,
            };
            s.tokens.insert(id.into(), t);
        }
        save(&dir, &s).expect("save");
        let back = load(&dir).expect("load").expect("some");
        assert_eq!(back.key, "k");
        assert_eq!(back.revoked.keys().collect::<Vec<_>>(), ["live"]);
        assert_eq!(back.tokens.keys().collect::<Vec<_>>(), ["kept"]);
        let mode = fs::metadata(path_in(&dir)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read_dir(&dir).expect("ls").count(), 1);
        let _ = fs::remove_dir_all(&dir);
    }
}

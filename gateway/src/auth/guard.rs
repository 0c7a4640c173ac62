//! The [`Guard`]: what the gateway asks before every call (who is calling, and may they call
//! this service and endpoint), and what the `/auth/` pages change (accounts, API tokens,
//! rules). It holds the store's state in memory behind one lock; every change is made on a
//! copy, written to the store, and only then made current.

use super::account::{self, Account, AccountRecord, Role};
use super::error::{bad_request, forbidden, internal, unauthorized, AuthError, AUTH_ID};
use super::scope::{self, Rule};
use super::store::{self, State, TokenRecord};
use super::token::{self, Claims, Keys};
use hyper::header::{HeaderMap, AUTHORIZATION, COOKIE};
use micro::Error;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The cookie a browser's session token is kept in (go-micro v5's name).
pub const COOKIE_NAME: &str = "micro_token";

/// The first admin account's id.
pub const ADMIN: &str = "admin";

/// The variable the first admin's password is read from at first start.
pub const ADMIN_PASSWORD_ENV: &str = "MICRO_ADMIN_PASSWORD";

/// The variable the auth directory is read from.
pub const DIR_ENV: &str = "MICRO_AUTH_DIR";

/// How long a signed-in session lasts by default (go-micro v5: 24 hours).
pub const SESSION_TTL: Duration = Duration::from_secs(24 * 3600);

/// How long an API token lasts when its creator names no expiry.
pub const TOKEN_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// How a [`Guard`] starts.
#[derive(Clone)]
pub struct GuardOptions {
    /// Where the store lives (`--auth_dir`, `MICRO_AUTH_DIR`; default [`default_dir`]).
    pub dir: PathBuf,
    /// The first admin's password, used only when the store has no admin yet
    /// (`MICRO_ADMIN_PASSWORD`); `None`: a random one, printed once.
    pub admin_password: Option<String>,
    /// How long a signed-in session's token lasts.
    pub session_ttl: Duration,
}

impl std::fmt::Debug for GuardOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardOptions")
            .field("dir", &self.dir)
            .field("admin_password", &self.admin_password.as_ref().map(|_| "<set>"))
            .field("session_ttl", &self.session_ttl)
            .finish()
    }
}

impl GuardOptions {
    /// Options for `dir`: no admin password given, the default session length.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        GuardOptions { dir: dir.into(), admin_password: None, session_ttl: SESSION_TTL }
    }

    /// `dir`, else `MICRO_AUTH_DIR`, else [`default_dir`]; the admin password from
    /// `MICRO_ADMIN_PASSWORD` when set and not empty.
    pub fn from_env(dir: Option<PathBuf>) -> Result<Self, AuthError> {
        let dir = dir
            .or_else(|| std::env::var_os(DIR_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
            .or_else(default_dir)
            .ok_or(AuthError::NoDir)?;
        let mut o = GuardOptions::new(dir);
        o.admin_password = std::env::var(ADMIN_PASSWORD_ENV).ok().filter(|p| !p.is_empty());
        Ok(o)
    }
}

/// `$XDG_CONFIG_HOME/micro/auth`, else `$HOME/.config/micro/auth`.
pub fn default_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".config"),
    };
    Some(base.join("micro").join("auth"))
}

/// A signed-in session: its token (shown to the caller once) and when it expires.
#[derive(Clone, serde::Serialize)]
pub struct Session {
    /// The JWT.
    pub token: String,
    /// Unix seconds.
    pub expires: u64,
    /// Who signed in.
    pub account: Account,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("account", &self.account.id).field("expires", &self.expires).finish()
    }
}

/// The auth layer: checks every call's token and scopes, and keeps accounts, tokens, rules.
/// One per process and directory; share it in an `Arc`.
pub struct Guard {
    dir: PathBuf,
    keys: Keys,
    state: Mutex<State>,
    session_ttl: Duration,
    /// bcrypt runs at most one per core at a time: a flood of sign-ins waits its turn
    /// instead of filling tokio's blocking pool (hundreds of threads) with hashing.
    hashing: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// The token a request carries: `Authorization: Bearer <token>`, else the `micro_token` cookie.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim().to_string()).filter(|t| !t.is_empty());
        }
    }
    cookie(headers, COOKIE_NAME)
}

/// The value of cookie `name`, if the request sends one that is not empty.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// Removes the gateway's own credentials from a request it passes on — a Bearer token in
/// `Authorization` and the `micro_token` cookie — so no backend receives a token it could
/// call the mesh with as the user. Other cookies stay.
pub fn strip_credentials(headers: &mut HeaderMap) {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().len() > 7 && v.trim()[..7].eq_ignore_ascii_case("bearer "));
    if bearer {
        headers.remove(AUTHORIZATION);
    }
    let cookies: Vec<String> =
        headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
    if !cookies.iter().any(|c| c.contains(COOKIE_NAME)) {
        return;
    }
    headers.remove(COOKIE);
    let kept: Vec<&str> = cookies
        .iter()
        .flat_map(|c| c.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && pair.split_once('=').map(|(k, _)| k.trim()) != Some(COOKIE_NAME))
        .collect();
    if let Ok(v) = hyper::header::HeaderValue::from_str(&kept.join("; ")) {
        if !kept.is_empty() {
            headers.insert(COOKIE, v);
        }
    }
}

/// Runs blocking work (bcrypt) off the async workers, at most `permits`' worth at a time.
async fn blocking<T: Send + 'static>(
    permits: &tokio::sync::Semaphore,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let _turn = permits.acquire().await.map_err(|e| internal(format!("password check: {e}")))?;
    tokio::task::spawn_blocking(f).await.map_err(|e| internal(format!("password check did not finish: {e}")))
}

impl Guard {
    /// Opens (or, at first start, creates) the store in `opts.dir`; a generated admin
    /// password is printed once, to stderr.
    pub fn open(opts: GuardOptions) -> Result<Guard, AuthError> {
        Guard::open_with_notice(opts, &mut std::io::stderr())
    }

    /// [`Guard::open`], the first start's notice written to `notice`.
    pub fn open_with_notice(opts: GuardOptions, notice: &mut dyn std::io::Write) -> Result<Guard, AuthError> {
        store::ensure_dir(&opts.dir)?;
        let (mut state, mut dirty) = match store::load(&opts.dir)? {
            Some(s) => (s, false),
            None => (State::default(), true),
        };
        let keys = if state.key.is_empty() {
            let (keys, pem) = Keys::generate().map_err(AuthError::Crypto)?;
            state.key = pem;
            dirty = true;
            keys
        } else {
            Keys::from_pem(&state.key).map_err(|e| AuthError::Store(format!("the stored key: {e}")))?
        };
        let mut generated = None;
        if !state.accounts.values().any(|a| a.role == Role::Admin) {
            let password = match &opts.admin_password {
                Some(p) => {
                    if let Some(why) = account::password_problem(p) {
                        return Err(AuthError::Store(format!("{ADMIN_PASSWORD_ENV}: {why}")));
                    }
                    p.clone()
                }
                None => {
                    let p = account::random_secret();
                    generated = Some(p.clone());
                    p
                }
            };
            let hash = account::hash(&password).map_err(|e| AuthError::Crypto(format!("hashing: {e}")))?;
            state.accounts.insert(
                ADMIN.to_string(),
                AccountRecord {
                    id: ADMIN.into(),
                    role: Role::Admin,
                    scopes: account::default_scopes(Role::Admin),
                    password_hash: hash,
                    generation: 0,
                    created: token::now(),
                },
            );
            dirty = true;
        }
        if dirty {
            store::save(&opts.dir, &state)?;
        }
        if let Some(p) = generated {
            // Written once, here; it is in no log line and not in the store.
            let _ = writeln!(
                notice,
                "micro auth: created account {ADMIN:?} with password {p}\nmicro auth: it is shown only this once; sign in at /auth/login and change it (or set {ADMIN_PASSWORD_ENV} before the first start)"
            );
            tracing::info!(target: "micro::auth", dir = %opts.dir.display(), "first start: admin account created with a generated password (printed to the terminal)");
        }
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Ok(Guard {
            dir: opts.dir,
            keys,
            state: Mutex::new(state),
            session_ttl: opts.session_ttl,
            hashing: tokio::sync::Semaphore::new(cores),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The public key tokens are checked with, PKCS#1 PEM.
    pub fn public_key_pem(&self) -> &str {
        self.keys.public_pem()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a state that was never saved half-way
        // (changes are made on a copy): the data is still whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `f` to a copy of the state, saves it, and only then makes it current.
    fn change<T>(&self, f: impl FnOnce(&mut State) -> Result<T, Error>) -> Result<T, Error> {
        let mut guard = self.state();
        let mut next = guard.clone();
        let out = f(&mut next)?;
        store::save(&self.dir, &next).map_err(|e| internal(format!("saving the auth store: {e}")))?;
        *guard = next;
        Ok(out)
    }

    /// The caller a request's token names: a 401 (id `go.micro.auth`) when there is no token
    /// or it is expired, forged, revoked or its account is gone.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Account, Error> {
        let token = token_of(headers)
            .ok_or_else(|| unauthorized("no token: sign in at /auth/login, or send Authorization: Bearer <token>"))?;
        self.account_of(&token).map(|(a, _)| a)
    }

    /// The caller `token` names, and its claims.
    pub fn account_of(&self, token: &str) -> Result<(Account, Claims), Error> {
        let claims = self.keys.verify(token).map_err(|e| unauthorized(e.to_string()))?;
        let state = self.state();
        if state.revoked.contains_key(&claims.jti) {
            return Err(unauthorized("token revoked"));
        }
        match claims.kind.as_str() {
            token::SESSION => {
                let Some(acc) = state.accounts.get(&claims.sub) else {
                    return Err(unauthorized(format!("token revoked: account {} no longer exists", claims.sub)));
                };
                if acc.generation != claims.gen {
                    return Err(unauthorized("token revoked: the account's password changed since it was issued"));
                }
                Ok((acc.public(), claims))
            }
            token::API => {
                let Some(rec) = state.tokens.get(&claims.jti) else {
                    return Err(unauthorized("token revoked"));
                };
                let Some(owner) = state.accounts.get(&rec.created_by) else {
                    return Err(unauthorized(format!("token revoked: account {} no longer exists", rec.created_by)));
                };
                let mut acc = owner.public();
                acc.scopes = rec.scopes.clone();
                acc.token = Some(rec.name.clone());
                Ok((acc, claims))
            }
            other => Err(unauthorized(format!("token is malformed: type {other:?}"))),
        }
    }

    /// Whether the request may call `service` at `endpoint`: the caller, a 401 as
    /// [`Guard::authenticate`], or a 403 (id `go.micro.auth`) naming the scopes it lacks.
    pub fn authorize(&self, headers: &HeaderMap, service: &str, endpoint: &str) -> Result<Account, Error> {
        let acc = self.authenticate(headers)?;
        self.permit(&acc, service, endpoint)?;
        Ok(acc)
    }

    /// Whether `acc` (authenticated already) may call `service` at `endpoint`: a 403 (id
    /// `go.micro.auth`) naming the rule and the scopes it lacks when not.
    pub fn permit(&self, acc: &Account, service: &str, endpoint: &str) -> Result<(), Error> {
        let rule = self.state().rules.governing(service, endpoint);
        match rule {
            Some(rule) if !scope::satisfies(&acc.scopes, &rule.scopes) => {
                let who = match &acc.token {
                    Some(name) => format!("token {name:?} of account {}", acc.id),
                    None => format!("account {}", acc.id),
                };
                tracing::info!(target: "micro::auth", caller = %acc.id, service, endpoint, rule = %rule.resource, "call refused: insufficient scopes");
                Err(forbidden(format!(
                    "insufficient scopes: {who} may not call {service} {endpoint}: rule {:?} needs one of [{}], and it has [{}]",
                    rule.resource,
                    rule.scopes.join(", "),
                    acc.scopes.join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    /// Signs in `id` with `password`: a new session, or a 401 that does not say which of the
    /// two was wrong.
    pub async fn login(&self, id: &str, password: &str) -> Result<Session, Error> {
        let found = self.state().accounts.get(id).cloned();
        let hash = found.as_ref().map(|a| a.password_hash.clone());
        let pw = password.to_string();
        let ok = blocking(&self.hashing, move || match hash {
            Some(h) => account::verify(&pw, &h),
            None => {
                let _ = account::verify(&pw, account::decoy_hash());
                false
            }
        })
        .await?;
        let acc = match (ok, found) {
            (true, Some(acc)) => acc,
            _ => {
                tracing::info!(target: "micro::auth", account = id, "sign-in refused");
                return Err(unauthorized("invalid credentials: wrong account or password"));
            }
        };
        let now = token::now();
        let claims = Claims {
            sub: acc.id.clone(),
            kind: token::SESSION.into(),
            scopes: acc.scopes.clone(),
            exp: now + self.session_ttl.as_secs(),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            iss: token::ISSUER.into(),
            gen: acc.generation,
        };
        let token = self.keys.sign(&claims).map_err(internal)?;
        tracing::info!(target: "micro::auth", account = %acc.id, "signed in");
        Ok(Session { token, expires: claims.exp, account: acc.public() })
    }

    /// Revokes `token` (a session's or an API token's) if it is one of ours and still valid.
    pub fn logout(&self, token: &str) -> Result<(), Error> {
        let (_, claims) = self.account_of(token)?;
        self.change(|s| {
            s.revoked.insert(claims.jti.clone(), claims.exp);
            // An API token signing itself out is revoked like any: off the tokens page too.
            s.tokens.remove(&claims.jti);
            Ok(())
        })
    }

    /// Every account, sorted by id.
    pub fn accounts(&self) -> Vec<Account> {
        self.state().accounts.values().map(AccountRecord::public).collect()
    }

    /// Creates an account (a 409 if `id` is taken, a 400 for a bad id or password).
    pub async fn create_account(
        &self,
        id: &str,
        password: &str,
        role: Role,
        scopes: Vec<String>,
    ) -> Result<Account, Error> {
        let id = id.trim().to_string();
        if !account::valid_id(&id) {
            return Err(bad_request("invalid account id: 1 to 64 letters, digits, '.', '_', '-' or '@'".to_string()));
        }
        if let Some(why) = account::password_problem(password) {
            return Err(bad_request(why));
        }
        if self.state().accounts.contains_key(&id) {
            return Err(Error::new(AUTH_ID, format!("account {id} exists already"), 409));
        }
        let pw = password.to_string();
        let hash = blocking(&self.hashing, move || account::hash(&pw))
            .await?
            .map_err(|e| internal(format!("hashing: {e}")))?;
        let mut scopes: Vec<String> =
            scopes.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if scopes.is_empty() || role == Role::Admin {
            scopes = account::default_scopes(role);
        }
        let rec =
            AccountRecord { id: id.clone(), role, scopes, password_hash: hash, generation: 0, created: token::now() };
        let public = rec.public();
        self.change(move |s| {
            if s.accounts.contains_key(&id) {
                return Err(Error::new(AUTH_ID, format!("account {id} exists already"), 409));
            }
            s.accounts.insert(id, rec);
            Ok(())
        })?;
        tracing::info!(target: "micro::auth", account = %public.id, role = public.role.name(), "account created");
        Ok(public)
    }

    /// Deletes an account and the API tokens it made; its sessions end. The last admin
    /// cannot be deleted (nobody could manage accounts after).
    pub fn delete_account(&self, id: &str) -> Result<(), Error> {
        self.change(|s| {
            let Some(acc) = s.accounts.get(id) else {
                return Err(Error::new(AUTH_ID, format!("no account {id}"), 404));
            };
            if acc.role == Role::Admin && s.accounts.values().filter(|a| a.role == Role::Admin).count() == 1 {
                return Err(bad_request(format!("account {id} is the last admin: create another admin first")));
            }
            s.accounts.remove(id);
            let gone: Vec<String> = s.tokens.values().filter(|t| t.created_by == id).map(|t| t.id.clone()).collect();
            for t in gone {
                if let Some(rec) = s.tokens.remove(&t) {
                    s.revoked.insert(rec.id, rec.expires);
                }
            }
            Ok(())
        })?;
        tracing::info!(target: "micro::auth", account = id, "account deleted");
        Ok(())
    }

    /// Sets an account's password; every session it had ends.
    pub async fn set_password(&self, id: &str, password: &str) -> Result<(), Error> {
        if let Some(why) = account::password_problem(password) {
            return Err(bad_request(why));
        }
        if !self.state().accounts.contains_key(id) {
            return Err(Error::new(AUTH_ID, format!("no account {id}"), 404));
        }
        let pw = password.to_string();
        let hash = blocking(&self.hashing, move || account::hash(&pw))
            .await?
            .map_err(|e| internal(format!("hashing: {e}")))?;
        self.change(|s| {
            let Some(acc) = s.accounts.get_mut(id) else {
                return Err(Error::new(AUTH_ID, format!("no account {id}"), 404));
            };
            acc.password_hash = hash;
            acc.generation = acc.generation.wrapping_add(1);
            Ok(())
        })?;
        tracing::info!(target: "micro::auth", account = id, "password changed");
        Ok(())
    }

    /// Creates an API token for a program: named, with `scopes` (which must be among the
    /// creator's unless the creator holds `*`), valid for `ttl` (default [`TOKEN_TTL`]).
    /// Returns its record and the token, which is not kept and cannot be shown again.
    pub fn create_token(
        &self,
        by: &Account,
        name: &str,
        scopes: Vec<String>,
        ttl: Option<Duration>,
    ) -> Result<(TokenRecord, String), Error> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(bad_request("a token needs a name (1 to 100 characters) saying what it is for"));
        }
        let scopes: Vec<String> = scopes.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if scopes.is_empty() {
            return Err(bad_request("a token needs at least one scope"));
        }
        if !by.scopes.iter().any(|s| s == scope::ALL) {
            if let Some(extra) = scopes.iter().find(|s| !by.scopes.contains(s)) {
                return Err(forbidden(format!(
                    "account {} may not create a token with scope {extra:?}: it holds only [{}]",
                    by.id,
                    by.scopes.join(", ")
                )));
            }
        }
        let now = token::now();
        let ttl = ttl.unwrap_or(TOKEN_TTL).as_secs().max(1);
        let rec = TokenRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            scopes: scopes.clone(),
            created_by: by.id.clone(),
            created: now,
            expires: now.saturating_add(ttl),
        };
        let claims = Claims {
            sub: by.id.clone(),
            kind: token::API.into(),
            scopes,
            exp: rec.expires,
            iat: now,
            jti: rec.id.clone(),
            iss: token::ISSUER.into(),
            gen: 0,
        };
        let jwt = self.keys.sign(&claims).map_err(internal)?;
        let stored = rec.clone();
        self.change(move |s| {
            s.tokens.insert(stored.id.clone(), stored);
            Ok(())
        })?;
        tracing::info!(target: "micro::auth", account = %by.id, token = %rec.name, "API token created");
        Ok((rec, jwt))
    }

    /// The API tokens `by` may see: all for an admin, its own otherwise (no token values).
    pub fn tokens(&self, by: &Account) -> Vec<TokenRecord> {
        let now = token::now();
        let mut v: Vec<TokenRecord> = self
            .state()
            .tokens
            .values()
            .filter(|t| t.expires > now && (by.is_admin() || t.created_by == by.id))
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
        v
    }

    /// Revokes an API token (an admin any, others their own).
    pub fn revoke_token(&self, by: &Account, id: &str) -> Result<(), Error> {
        self.change(|s| {
            match s.tokens.get(id) {
                Some(t) if by.is_admin() || t.created_by == by.id => {}
                _ => return Err(Error::new(AUTH_ID, format!("no token {id} of yours"), 404)),
            }
            if let Some(rec) = s.tokens.remove(id) {
                s.revoked.insert(rec.id, rec.expires);
            }
            Ok(())
        })?;
        tracing::info!(target: "micro::auth", account = %by.id, token = id, "API token revoked");
        Ok(())
    }

    /// The scope rules, sorted by resource.
    pub fn rules(&self) -> Vec<Rule> {
        self.state().rules.list()
    }

    /// Sets the scopes `resource` needs (`service`, `service.Endpoint`, `*` patterns); an
    /// empty list removes the rule.
    pub fn set_rule(&self, resource: &str, scopes: Vec<String>) -> Result<(), Error> {
        let resource = resource.trim();
        if resource.is_empty() || resource.len() > 200 || resource.chars().any(char::is_whitespace) {
            return Err(bad_request("a rule needs a resource: service, service.Endpoint, or a pattern with *"));
        }
        self.change(|s| {
            s.rules.set(resource, scopes);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn bearer_wins_over_the_cookie() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("a=1; micro_token=fromcookie; b=2"));
        assert_eq!(token_of(&h).as_deref(), Some("fromcookie"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer  fromheader "));
        assert_eq!(token_of(&h).as_deref(), Some("fromheader"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic eDp5"));
        assert_eq!(token_of(&h).as_deref(), Some("fromcookie"));
        assert_eq!(token_of(&HeaderMap::new()), None);
    }

    #[test]
    fn our_credentials_are_stripped_and_nothing_else() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("a=1; micro_token=t; b=2"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        strip_credentials(&mut h);
        assert_eq!(h.get(COOKIE).map(|v| v.to_str().ok()), Some(Some("a=1; b=2")));
        assert!(h.get(AUTHORIZATION).is_none());
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("micro_token=t"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic eDp5"));
        strip_credentials(&mut h);
        assert!(h.get(COOKIE).is_none());
        assert_eq!(h.get(AUTHORIZATION).map(|v| v.to_str().ok()), Some(Some("Basic eDp5")));
    }
}

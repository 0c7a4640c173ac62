//! Who may call what: go-micro v5's `micro server` auth — accounts with bcrypt-hashed
//! passwords, RS256 JWTs with expiry and revocation, API tokens with scopes for programs,
//! scope rules per service and endpoint — as one [`Guard`] the gateway asks before every
//! call ([`crate::Options::auth`]), and the `/auth/` pages and JSON that manage it
//! ([`pages`]).
//!
//! - [`store`]: the file that keeps accounts, tokens, revocations, rules and the key;
//! - [`account`]: accounts, roles, password hashing;
//! - [`token`]: signing and reading JWTs;
//! - [`scope`]: the rules and the scope check;
//! - [`pages`]: `/auth/login`, `/auth/logout`, `/auth/users`, `/auth/tokens`, `/auth/rules`,
//!   and [`pages::require_login`] for pages that need a signed-in browser.
//!
//! Where we differ from go-micro v5 on purpose: the first admin's password is the user's
//! (`MICRO_ADMIN_PASSWORD`) or random and printed once, never a fixed `admin`/`micro`; a
//! token's scopes are read from the store at each call, so a changed rule, account or token
//! acts at once; logging out, deleting an account, changing a password or revoking a token
//! ends the tokens concerned (v5 kept every token it issued in its store and dropped the
//! user's on delete only); the errors are go-micro's error JSON with id `go.micro.auth`.

pub mod account;
pub mod error;
pub mod guard;
pub mod pages;
pub mod scope;
pub mod store;
pub mod token;

pub use error::{forbidden, unauthorized, AuthError, AUTH_ID};
pub use guard::{
    cookie, default_dir, strip_credentials, token_of, Guard, GuardOptions, Session, ADMIN, ADMIN_PASSWORD_ENV,
    COOKIE_NAME, DIR_ENV, SESSION_TTL, TOKEN_TTL,
};

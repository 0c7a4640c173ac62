//! The auth layer's errors: why a [`super::guard::Guard`] could not start ([`AuthError`]), and the
//! go-micro errors (id `go.micro.auth`) every refusal is answered with.

use micro::Error;

/// The id of every error the auth layer answers with (go-micro's auth service's).
pub const AUTH_ID: &str = "go.micro.auth";

/// Why the auth layer could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A file or directory could not be read or written.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// The store's content is not usable.
    #[error("{0}")]
    Store(String),
    /// Keys or hashing failed.
    #[error("{0}")]
    Crypto(String),
    /// No directory given and no home to put one in.
    #[error("no auth directory: set --auth_dir (MICRO_AUTH_DIR), or HOME / XDG_CONFIG_HOME")]
    NoDir,
}

/// A 401 from the auth layer.
pub fn unauthorized(detail: impl Into<String>) -> Error {
    Error::new(AUTH_ID, detail, 401)
}

/// A 403 from the auth layer.
pub fn forbidden(detail: impl Into<String>) -> Error {
    Error::new(AUTH_ID, detail, 403)
}

pub(crate) fn bad_request(detail: impl Into<String>) -> Error {
    Error::new(AUTH_ID, detail, 400)
}

pub(crate) fn internal(detail: impl Into<String>) -> Error {
    Error::new(AUTH_ID, detail, 500)
}

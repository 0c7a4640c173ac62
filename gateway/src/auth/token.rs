//! JWT access tokens, signed RS256 as go-micro v5's `micro server` signs them (claims `sub`,
//! `type`, `scopes`, `exp`), with `iat`, `jti` (the id a revocation names), `iss` and `gen`
//! (the account's password generation) added.
//!
//! The key pair is made at first start (2048-bit RSA, the `rsa` crate) and kept in the store;
//! signing and verifying are `jsonwebtoken`'s (on ring). A token is read in two steps: its
//! header's `alg` must be `RS256` — anything else (`none`, `HS256` keyed with the public key)
//! is refused before any key is used — then the signature and `exp` are checked with no
//! leeway (the gateway issues and checks on the same clock). What a token's claims may then
//! do (revocation, the account still existing, its password unchanged) is the
//! [`super::Guard`]'s to check.

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::LineEnding;
use serde::{Deserialize, Serialize};

/// The issuer named in every token.
pub const ISSUER: &str = "micro";

/// `type` of a signed-in session's token.
pub const SESSION: &str = "session";

/// `type` of an API token's.
pub const API: &str = "token";

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// A token's claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account id.
    pub sub: String,
    /// [`SESSION`] or [`API`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The scopes at issue (informative: the guard checks the stored ones).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// The token's id.
    pub jti: String,
    /// [`ISSUER`].
    pub iss: String,
    /// The account's password generation at issue.
    #[serde(default)]
    pub gen: u32,
}

/// Why a token was refused before its claims were looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Past its `exp`.
    #[error("token expired")]
    Expired,
    /// Signed with another key, or altered after signing.
    #[error("token signature does not verify: it was not signed by this server's key, or was altered")]
    Signature,
    /// Not RS256.
    #[error("token algorithm {0:?} is not accepted: tokens are signed RS256")]
    Algorithm(String),
    /// Not a JWT at all, or claims missing.
    #[error("token is malformed: {0}")]
    Malformed(String),
}

/// The signing key and its public half.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_pem: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("alg", &"RS256").finish_non_exhaustive()
    }
}

impl Keys {
    /// A new 2048-bit key pair, and its private key as PKCS#1 PEM (to store).
    pub fn generate() -> Result<(Keys, String), String> {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(|e| format!("generating an RSA key: {e}"))?;
        let pem = private.to_pkcs1_pem(LineEnding::LF).map_err(|e| format!("encoding the RSA key: {e}"))?;
        let keys = Keys::from_pem(&pem)?;
        Ok((keys, pem.to_string()))
    }

    /// The keys of a stored PKCS#1 PEM private key.
    pub fn from_pem(pem: &str) -> Result<Keys, String> {
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| format!("reading the RSA key: {e}"))?;
        let public_pem = private
            .to_public_key()
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| format!("encoding the RSA public key: {e}"))?;
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| format!("RSA signing key: {e}"))?;
        let decoding =
            DecodingKey::from_rsa_pem(public_pem.as_bytes()).map_err(|e| format!("RSA verifying key: {e}"))?;
        Ok(Keys { encoding, decoding, public_pem })
    }

    /// The public key, PKCS#1 PEM: what another program needs to check our tokens.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// Signs `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, String> {
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &self.encoding)
            .map_err(|e| format!("signing: {e}"))
    }

    /// The claims of a token this key signed and that has not expired (see the module docs).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let alg = header_alg(token)?;
        if alg != "RS256" {
            return Err(TokenError::Algorithm(alg));
        }
        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = 0;
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "sub", "iss"]);
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &v) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::Signature,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TokenError::Algorithm(alg),
                _ => TokenError::Malformed(e.to_string()),
            }),
        }
    }
}

/// The `alg` of a JWT's header, read without trusting anything else in it.
fn header_alg(token: &str) -> Result<String, TokenError> {
    let head = token.split('.').next().unwrap_or_default();
    if token.split('.').count() != 3 {
        return Err(TokenError::Malformed("not three dot-separated parts".into()));
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head.trim_end_matches('='))
        .map_err(|e| TokenError::Malformed(format!("header is not base64url: {e}")))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| TokenError::Malformed(format!("header is not JSON: {e}")))?;
    Ok(v.get("alg").and_then(|a| a.as_str()).unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "alice".into(),
            kind: SESSION.into(),
            scopes: vec!["a".into()],
            exp,
            iat: now(),
            jti: "j1".into(),
            iss: ISSUER.into(),
            gen: 0,
        }
    }

    #[test]
    fn tokens_verify_with_their_key_only() {
        let (k1, pem) = Keys::generate().expect("keys");
        let (k2, _) = Keys::generate().expect("keys");
        let t = k1.sign(&claims(now() + 60)).expect("sign");
        assert_eq!(k1.verify(&t).expect("valid").sub, "alice");
        assert_eq!(Keys::from_pem(&pem).expect("reload").verify(&t).expect("valid").jti, "j1");
        assert_eq!(k2.verify(&t), Err(TokenError::Signature));
        let old = k1.sign(&claims(now() - 5)).expect("sign");
        assert_eq!(k1.verify(&old), Err(TokenError::Expired));
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let body = t.split('.').nth(1).expect("payload");
        let none = format!("{}.{body}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
        assert_eq!(k1.verify(&none), Err(TokenError::Algorithm("none".into())));
        assert!(matches!(k1.verify("garbage"), Err(TokenError::Malformed(_))));
    }
}

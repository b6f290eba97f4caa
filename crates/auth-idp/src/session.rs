//! Sessions: ids, refresh secrets (stored as SHA-256), the roles → permissions mapping, and
//! session JWT minting.

use super::Inner;
use super::error::IdpError;
use super::store::{NewSession, SessionRow, now};
use auth_types::SessionClaims;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// Roles → permissions: the ONE place where a role's permissions are defined. Permissions end up
/// in the `permissions` claim of every session token (and so in `AuthState::permissions`).
pub const ROLE_PERMISSIONS: &[(&str, &[&str])] = &[
    ("admin", &["users:read", "users:write", "admin:access"]),
    ("member", &["profile:read", "profile:write"]),
];

/// Roles given to every new account.
pub const DEFAULT_ROLES: &[&str] = &["member"];

/// The permissions granted by a set of roles (sorted, without duplicates; unknown roles grant
/// nothing).
pub fn permissions_for_roles(roles: &[String]) -> Vec<String> {
    let mut permissions: Vec<String> = roles
        .iter()
        .filter_map(|role| ROLE_PERMISSIONS.iter().find(|(r, _)| r == role))
        .flat_map(|(_, perms)| perms.iter().map(|p| (*p).to_owned()))
        .collect();
    permissions.sort();
    permissions.dedup();
    permissions
}

/// base64url without padding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` random bytes from the OS, base64url.
pub(crate) fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    b64(&bytes)
}

/// A new opaque id such as `user_…` or `sess_…` (128 random bits).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_token(16))
}

/// SHA-256 of a refresh secret, base64url: what the database stores.
pub(crate) fn hash_secret(secret: &str) -> String {
    b64(&Sha256::digest(secret.as_bytes()))
}

/// A freshly signed session token.
#[derive(Debug, Clone)]
pub(crate) struct Minted {
    pub token: String,
    pub claims: SessionClaims,
}

/// A new session: its id and the refresh secret to put in the cookie.
#[derive(Debug)]
pub(crate) struct IssuedSession {
    pub id: String,
    pub refresh_secret: String,
    pub refresh_hash: String,
    pub expires_at: i64,
}

impl IssuedSession {
    pub(crate) fn new(session_ttl_secs: u64) -> Self {
        let refresh_secret = random_token(32);
        Self {
            id: new_id("sess"),
            refresh_hash: hash_secret(&refresh_secret),
            refresh_secret,
            expires_at: now() + session_ttl_secs as i64,
        }
    }

    pub(crate) fn row<'a>(&'a self, user_agent: Option<&'a str>) -> NewSession<'a> {
        NewSession {
            id: &self.id,
            refresh_secret_hash: &self.refresh_hash,
            expires_at: self.expires_at,
            user_agent,
        }
    }
}

impl SessionRow {
    pub(crate) fn is_active(&self) -> bool {
        self.revoked_at.is_none() && self.expires_at > now()
    }
}

impl Inner {
    /// Signs a session token for a user's session.
    pub(crate) async fn mint(
        &self,
        user_id: &str,
        session_id: &str,
        roles: &[String],
    ) -> Result<Minted, IdpError> {
        let iat = now();
        let claims = SessionClaims {
            sub: user_id.to_owned(),
            sid: Some(session_id.to_owned()),
            iss: self.config.issuer.clone(),
            aud: Vec::new(),
            azp: None,
            iat: Some(iat),
            nbf: Some(iat),
            exp: iat + self.config.session_token_ttl.as_secs().max(1) as i64,
            roles: roles.to_vec(),
            permissions: permissions_for_roles(roles),
            extra: serde_json::Map::new(),
        };
        let token = self.keys.sign(&claims).await?;
        Ok(Minted { token, claims })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_mapping() {
        let p = permissions_for_roles(&["admin".into(), "member".into(), "ghost".into()]);
        assert_eq!(
            p,
            [
                "admin:access",
                "profile:read",
                "profile:write",
                "users:read",
                "users:write"
            ]
        );
        assert!(permissions_for_roles(&[]).is_empty());
    }

    #[test]
    fn secrets() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
        assert_eq!(hash_secret("x"), hash_secret("x"));
        assert_ne!(hash_secret("x"), hash_secret("y"));
        assert!(new_id("user").starts_with("user_"));
    }
}

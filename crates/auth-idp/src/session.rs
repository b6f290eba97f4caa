//! Sessions: ids, refresh secrets (stored as SHA-256), the roles → permissions mapping, and
//! session JWT minting.
//!
//! A refresh secret is `<family tag>.<random>`: the family tag (128 random bits) is drawn when
//! the session starts and kept by every rotation, the random part (256 bits) is new each time.
//! The store keeps the SHA-256 of the current secret, of the previous one, and of the family
//! tag, so a rotated-out secret of any generation still names its session (reuse detection).

use super::Inner;
use super::config::IdpConfig;
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

/// A refresh secret and the hashes the store keeps of it.
pub(crate) struct RefreshSecret {
    /// `<family tag>.<random>`: what the `__refresh` cookie carries.
    pub secret: String,
    /// SHA-256 of `secret`.
    pub hash: String,
    /// SHA-256 of the family tag.
    pub family_hash: String,
}

impl std::fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshSecret").finish_non_exhaustive()
    }
}

impl RefreshSecret {
    /// The next secret of the family `family` (a new family when `None`).
    pub(crate) fn next(family: Option<&str>) -> Self {
        let family = family.map_or_else(|| random_token(16), str::to_owned);
        let secret = format!("{family}.{}", random_token(32));
        Self {
            hash: hash_secret(&secret),
            family_hash: hash_secret(&family),
            secret,
        }
    }
}

/// The family tag of a presented refresh secret; `None` for a secret issued before rotation
/// existed (no tag) or a malformed one.
pub(crate) fn family_of(secret: &str) -> Option<&str> {
    secret
        .split_once('.')
        .map(|(family, _)| family)
        .filter(|f| !f.is_empty())
}

/// A new session: its id and the refresh secret to put in the cookie.
#[derive(Debug)]
pub(crate) struct IssuedSession {
    pub id: String,
    pub refresh: RefreshSecret,
    pub expires_at: i64,
}

impl IssuedSession {
    pub(crate) fn new(session_ttl_secs: u64) -> Self {
        Self {
            id: new_id("sess"),
            refresh: RefreshSecret::next(None),
            expires_at: now() + session_ttl_secs as i64,
        }
    }

    pub(crate) fn row<'a>(&'a self, user_agent: Option<&'a str>) -> NewSession<'a> {
        NewSession {
            id: &self.id,
            refresh_secret_hash: &self.refresh.hash,
            family_hash: &self.refresh.family_hash,
            expires_at: self.expires_at,
            user_agent,
        }
    }
}

impl SessionRow {
    /// When the session ends whatever its activity: its stored expiry, or its start plus the
    /// configured max age if that was lowered since.
    pub(crate) fn absolute_end(&self, config: &IdpConfig) -> i64 {
        let max_age = i64::try_from(config.session_ttl.as_secs()).unwrap_or(i64::MAX);
        self.expires_at.min(self.created_at.saturating_add(max_age))
    }

    /// Not revoked, not past its absolute end, not idle for longer than the idle timeout.
    pub(crate) fn is_active(&self, config: &IdpConfig) -> bool {
        let now = now();
        let idle = i64::try_from(config.session_idle_timeout.as_secs()).unwrap_or(i64::MAX);
        self.revoked_at.is_none()
            && now < self.absolute_end(config)
            && now < self.last_active_at.saturating_add(idle)
    }
}

/// The `Max-Age` of a refresh cookie set at `now` for a session ending at `absolute_end`: never
/// past that end, and no longer than the idle timeout (each refresh sets it again).
pub(crate) fn refresh_cookie_max_age(config: &IdpConfig, absolute_end: i64, now: i64) -> i64 {
    let idle = i64::try_from(config.session_idle_timeout.as_secs()).unwrap_or(i64::MAX);
    absolute_end.saturating_sub(now).min(idle).max(0)
}

impl Inner {
    /// Signs a session token for a user's session.
    pub(crate) async fn mint(
        &self,
        user_id: &str,
        session_id: &str,
        roles: &[String],
        email_verified: bool,
    ) -> Result<Minted, IdpError> {
        let iat = now();
        let claims = SessionClaims {
            email_verified: Some(email_verified),
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

    #[test]
    fn refresh_secret_families() {
        let first = RefreshSecret::next(None);
        let family = family_of(&first.secret).unwrap();
        assert_eq!(family.len(), 22);
        assert_eq!(first.secret.len(), 22 + 1 + 43);
        let second = RefreshSecret::next(Some(family));
        assert_eq!(family_of(&second.secret), Some(family));
        assert_eq!(second.family_hash, first.family_hash);
        assert_ne!(second.hash, first.hash);
        assert_ne!(RefreshSecret::next(None).family_hash, first.family_hash);
        assert_eq!(family_of("legacysecretwithoutdot"), None);
        assert_eq!(family_of(".x"), None);
        assert!(!format!("{first:?}").contains(&first.secret));
    }
}

use crate::{Check, SessionClaims, SessionId, UserId};
use serde::{Deserialize, Serialize};

/// Who is making the request: the result of verifying its session token, once.
///
/// JSON (stable): `{"status":"signed_out"}` or
/// `{"status":"signed_in","user_id":"…","session_id":"…","roles":[…],"permissions":[…],"expires_at":1700000000,"email_verified":false}`
/// (`session_id` is omitted when the issuer has no sessions).
///
/// ```
/// use auth_types::AuthState;
/// let json = serde_json::to_string(&AuthState::SignedOut).unwrap();
/// assert_eq!(json, r#"{"status":"signed_out"}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AuthState {
    /// No valid session token came with the request.
    #[default]
    SignedOut,
    /// A valid session token came with the request.
    SignedIn(SignedIn),
}

/// The signed-in half of [`AuthState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    /// The user (`sub`).
    pub user_id: UserId,
    /// The session (`sid`), when the issuer has sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    /// Roles from the token.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Permissions from the token.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// When the session token expires (Unix seconds).
    pub expires_at: i64,
    /// Whether the user's email address is verified (the token's `email_verified` claim).
    #[serde(default)]
    pub email_verified: bool,
}

impl AuthState {
    /// Whether a valid session came with the request.
    pub fn is_signed_in(&self) -> bool {
        matches!(self, Self::SignedIn(_))
    }

    /// The signed-in details, if any.
    pub fn signed_in(&self) -> Option<&SignedIn> {
        match self {
            Self::SignedIn(s) => Some(s),
            Self::SignedOut => None,
        }
    }

    /// The user id, when signed in.
    pub fn user_id(&self) -> Option<&UserId> {
        self.signed_in().map(|s| &s.user_id)
    }

    /// The session id, when signed in and the issuer has sessions.
    pub fn session_id(&self) -> Option<&SessionId> {
        self.signed_in().and_then(|s| s.session_id.as_ref())
    }

    /// Evaluates an authorization check. Always `false` when signed out (fails closed).
    ///
    /// ```
    /// use auth_types::{AuthState, Check, SignedIn, UserId};
    /// let state = AuthState::SignedIn(SignedIn { email_verified: false,
    ///     user_id: UserId::new("u"), session_id: None,
    ///     roles: vec![], permissions: vec!["posts:write".into()], expires_at: 0,
    /// });
    /// assert!(state.has(&Check::permission("posts:write")));
    /// assert!(!state.has(&Check::role("admin")));
    /// assert!(!state.has(&Check::all([])));
    /// ```
    pub fn has(&self, check: &Check) -> bool {
        match self {
            Self::SignedIn(s) => check.holds(s),
            Self::SignedOut => false,
        }
    }
}

impl From<&SessionClaims> for SignedIn {
    fn from(claims: &SessionClaims) -> Self {
        Self {
            user_id: UserId::new(claims.sub.clone()),
            session_id: claims.sid.clone().map(SessionId::new),
            roles: claims.roles.clone(),
            permissions: claims.permissions.clone(),
            expires_at: claims.exp,
            email_verified: claims.email_verified == Some(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_in(roles: &[&str], permissions: &[&str]) -> AuthState {
        AuthState::SignedIn(SignedIn {
            email_verified: false,
            user_id: UserId::new("user_1"),
            session_id: Some(SessionId::new("sess_1")),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            permissions: permissions.iter().map(|s| s.to_string()).collect(),
            expires_at: 1_900_000_000,
        })
    }

    #[test]
    fn email_verified_follows_the_claim() {
        let claims: SessionClaims = serde_json::from_str(
            r#"{"sub":"u","iss":"https://i","exp":2,"email_verified":true,"roles":"admin"}"#,
        )
        .unwrap();
        let verified = AuthState::SignedIn(SignedIn::from(&claims));
        assert!(verified.has(&Check::EmailVerified));
        assert!(verified.has(&Check::all([Check::EmailVerified, Check::role("admin")])));
        let unverified = signed_in(&["admin"], &[]);
        assert!(
            !unverified.has(&Check::EmailVerified),
            "absent claim: not verified"
        );
        assert!(!AuthState::SignedOut.has(&Check::EmailVerified));
        let json = serde_json::to_string(&Check::EmailVerified).unwrap();
        assert_eq!(json, r#""email_verified""#);
    }

    #[test]
    fn has_fails_closed() {
        let s = signed_in(&["admin", ""], &["posts:write"]);
        assert!(s.has(&Check::role("admin")));
        assert!(!s.has(&Check::role("")), "empty role never matches");
        assert!(!s.has(&Check::permission("")));
        assert!(!s.has(&Check::role("Admin")), "names are case-sensitive");
        assert!(!s.has(&Check::all([])));
        assert!(!s.has(&Check::any([])));
        assert!(s.has(&Check::all([
            Check::role("admin"),
            Check::permission("posts:write")
        ])));
        assert!(!s.has(&Check::all([
            Check::role("admin"),
            Check::permission("posts:delete")
        ])));
        assert!(s.has(&Check::any([
            Check::role("nope"),
            Check::permission("posts:write")
        ])));
        assert!(!AuthState::SignedOut.has(&Check::role("admin")));
    }

    #[test]
    fn json_is_stable() {
        let s = signed_in(&["admin"], &[]);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "status": "signed_in", "user_id": "user_1", "session_id": "sess_1",
                "roles": ["admin"], "permissions": [], "expires_at": 1_900_000_000,
                "email_verified": false
            })
        );
        let back: AuthState = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn from_claims() {
        let claims: SessionClaims = serde_json::from_value(serde_json::json!({
            "sub": "u", "iss": "i", "exp": 5, "permissions": ["a", "b"]
        }))
        .unwrap();
        let s = SignedIn::from(&claims);
        assert_eq!(s.user_id.as_str(), "u");
        assert_eq!(s.session_id, None);
        assert_eq!(s.permissions, vec!["a", "b"]);
        assert_eq!(s.expires_at, 5);
    }
}

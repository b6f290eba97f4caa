use crate::serde_util::one_or_many;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The claims of a session token (a JWT), as issued by the embedded identity provider or by any
/// OIDC issuer (Clerk, Auth0, Keycloak, …).
///
/// Registered claims are typed; every other claim (for example Clerk's `org_id`, `org_role`) is kept
/// in [`extra`](Self::extra). `aud`, `roles` and `permissions` accept a string or an array.
///
/// ```
/// let claims: auth_types::SessionClaims = serde_json::from_str(r#"{
///     "sub": "user_1", "sid": "sess_1", "iss": "https://issuer.example",
///     "aud": "my-api", "iat": 1, "exp": 2, "roles": "admin", "org_id": "org_9"
/// }"#).unwrap();
/// assert_eq!(claims.aud, vec!["my-api".to_string()]);
/// assert_eq!(claims.roles, vec!["admin".to_string()]);
/// assert_eq!(claims.extra["org_id"], "org_9");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// Subject: the user id.
    pub sub: String,
    /// Session id, when the issuer has sessions (Clerk, Keycloak, the embedded provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Issuer URL.
    pub iss: String,
    /// Audiences.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aud: Vec<String>,
    /// Authorized party (the origin or client the token was issued to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// Issued at (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expiry (Unix seconds). Always required.
    pub exp: i64,
    /// Roles granted to the user.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub roles: Vec<String>,
    /// Permissions granted to the user.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub permissions: Vec<String>,
    /// Whether the user's email address is verified (OpenID Connect's `email_verified`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Every other claim, unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

use crate::{UserId, serde_util::one_or_many};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The public view of a user: safe to render, hydrate and send to the browser.
///
/// There is deliberately no `private_metadata` field: server-only data lives in the server crate's
/// user record and cannot be serialised through this type.
///
/// JSON (stable): `{"id","email","name","image_url","created_at","public_metadata","roles","email_verified"}` with
/// `created_at` in Unix seconds and `image_url` nullable.
///
/// ```
/// use auth_types::{User, UserId};
/// let user = User { email_verified: false,
///     id: UserId::new("user_1"),
///     email: "ada@example.com".into(),
///     name: "Ada".into(),
///     image_url: None,
///     created_at: 1_700_000_000,
///     public_metadata: serde_json::json!({"plan": "pro"}),
///     roles: vec![],
/// };
/// assert_eq!(user.initials(), "A");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Primary email address (normalised).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Avatar image URL.
    #[serde(default)]
    pub image_url: Option<String>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Metadata the app chose to make public.
    #[serde(default)]
    pub public_metadata: Value,
    /// Roles granted to the user.
    #[serde(default, deserialize_with = "one_or_many")]
    pub roles: Vec<String>,
    /// Whether the primary address is verified (by a mailed code or link, or a provider).
    #[serde(default)]
    pub email_verified: bool,
}

impl User {
    /// Up to two initials from the name (or the email when the name is empty), for avatars.
    pub fn initials(&self) -> String {
        let source = if self.name.trim().is_empty() {
            &self.email
        } else {
            &self.name
        };
        source
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .flat_map(char::to_uppercase)
            .take(2)
            .collect()
    }
}

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier. Identifiers are opaque: no format is assumed.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A user's identifier: the `sub` claim of a session token. Serialises as a plain JSON string.
    ///
    /// ```
    /// let id = auth_types::UserId::new("user_2abc");
    /// assert_eq!(serde_json::to_string(&id).unwrap(), r#""user_2abc""#);
    /// ```
    UserId
);

id_type!(
    /// A session's identifier: the `sid` claim of a session token. Serialises as a plain JSON string.
    ///
    /// ```
    /// let id = auth_types::SessionId::new("sess_1");
    /// assert_eq!(id.as_str(), "sess_1");
    /// ```
    SessionId
);

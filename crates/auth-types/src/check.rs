use serde::{Deserialize, Serialize};

/// An authorization check for [`AuthState::has`](crate::AuthState::has): a role, a permission, or a
/// combination of checks.
///
/// Checks fail closed: an empty role or permission name, an empty [`Check::All`] or
/// [`Check::Any`], and any check against a signed-out state are all `false`.
///
/// ```
/// use auth_types::Check;
///
/// let can_publish = Check::any([Check::role("admin"), Check::permission("posts:publish")]);
/// let editor = Check::all([Check::role("editor"), Check::permission("posts:write")]);
/// # let _ = (can_publish, editor);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The user has this role (e.g. `"admin"`).
    Role(String),
    /// The user has this permission (e.g. `"posts:write"`).
    Permission(String),
    /// Every inner check holds (and there is at least one).
    All(Vec<Check>),
    /// At least one inner check holds.
    Any(Vec<Check>),
    /// The user's email address is verified (the `email_verified` claim is `true`).
    EmailVerified,
}

impl Check {
    /// A role check.
    pub fn role(name: impl Into<String>) -> Self {
        Self::Role(name.into())
    }

    /// A permission check.
    pub fn permission(name: impl Into<String>) -> Self {
        Self::Permission(name.into())
    }

    /// All of the given checks.
    pub fn all(checks: impl IntoIterator<Item = Check>) -> Self {
        Self::All(checks.into_iter().collect())
    }

    /// Any of the given checks.
    pub fn any(checks: impl IntoIterator<Item = Check>) -> Self {
        Self::Any(checks.into_iter().collect())
    }

    /// Evaluates the check against a signed-in state.
    pub(crate) fn holds(&self, signed_in: &crate::SignedIn) -> bool {
        let (roles, permissions) = (&signed_in.roles, &signed_in.permissions);
        match self {
            Self::EmailVerified => signed_in.email_verified,
            Self::Role(name) => !name.is_empty() && roles.iter().any(|r| r == name),
            Self::Permission(name) => !name.is_empty() && permissions.iter().any(|p| p == name),
            Self::All(checks) => !checks.is_empty() && checks.iter().all(|c| c.holds(signed_in)),
            Self::Any(checks) => checks.iter().any(|c| c.holds(signed_in)),
        }
    }
}

//! The users API (the twin of Clerk's `clerkClient.users`), usable from handlers, server
//! functions and server-side rendering.

use super::Inner;
use super::error::IdpError;
use super::validate::normalise_email;
use auth_types::{User, UserId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The server-side view of a user: the public [`User`] plus private metadata, which never leaves
/// the server (it is not part of `User`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The public part.
    pub user: User,
    /// Server-only metadata.
    pub private_metadata: serde_json::Value,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New avatar URL (`Some(None)` clears it).
    pub image_url: Option<Option<String>>,
    /// New public metadata (replaces the old value).
    pub public_metadata: Option<serde_json::Value>,
    /// New private metadata (replaces the old value).
    pub private_metadata: Option<serde_json::Value>,
}

/// One page of users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPage {
    /// The users on this page.
    pub users: Vec<User>,
    /// Total number of users.
    pub total: u64,
    /// This page (from 1).
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

fn is_http_url(raw: &str) -> bool {
    raw.len() <= 2048
        && url::Url::parse(raw)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// Largest page size of [`Users::list`].
pub const MAX_PER_PAGE: u32 = 100;

/// Handle to the users API (cheap to clone).
#[derive(Debug, Clone)]
pub struct Users {
    pub(crate) inner: Arc<Inner>,
}

impl Users {
    /// A user by id.
    pub async fn get(&self, id: &UserId) -> Result<Option<User>, IdpError> {
        Ok(self.get_record(id).await?.map(|r| r.user))
    }

    /// A user by id, with private metadata (server only).
    pub async fn get_record(&self, id: &UserId) -> Result<Option<UserRecord>, IdpError> {
        self.inner.store.user_by_id(id.as_str()).await
    }

    /// The provider accounts connected to a user (social sign-in), oldest first; empty for an
    /// unknown user.
    ///
    /// ```no_run
    /// # async fn run(users: auth_idp::Users, id: auth_types::UserId) -> Result<(), auth_idp::IdpError> {
    /// for identity in users.identities(&id).await? {
    ///     println!("{} ({:?})", identity.provider_name, identity.email);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn identities(
        &self,
        id: &UserId,
    ) -> Result<Vec<auth_types::contract::LinkedIdentity>, IdpError> {
        Ok(self.inner.connections(id.as_str()).await?.identities)
    }

    /// A user by email (normalised before the lookup).
    pub async fn get_by_email(&self, email: &str) -> Result<Option<User>, IdpError> {
        Ok(self
            .inner
            .store
            .user_by_email(&normalise_email(email))
            .await?
            .map(|r| r.user))
    }

    /// Users in creation order; `page` starts at 1, `per_page` is clamped to 1..=100.
    pub async fn list(&self, page: u32, per_page: u32) -> Result<UserPage, IdpError> {
        let page = page.max(1);
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let offset = i64::from(page - 1) * i64::from(per_page);
        let (records, total) = self
            .inner
            .store
            .list_users(offset, i64::from(per_page))
            .await?;
        Ok(UserPage {
            users: records.into_iter().map(|r| r.user).collect(),
            total: total.max(0) as u64,
            page,
            per_page,
        })
    }

    /// Applies an update; `Ok(None)` when the user does not exist.
    pub async fn update(
        &self,
        id: &UserId,
        update: UserUpdate,
    ) -> Result<Option<UserRecord>, IdpError> {
        let Some(current) = self.get_record(id).await? else {
            return Ok(None);
        };
        let name = update.name.unwrap_or(current.user.name);
        if name.chars().count() > super::validate::MAX_NAME_CHARS {
            return Err(IdpError::Invalid("Name must be at most 200 characters"));
        }
        // The same rule as sign-up: control characters (NUL, CR/LF, …) never enter a name, so
        // a profile update cannot store what sign-up refuses (PostgreSQL would also fail on NUL).
        if name.chars().any(char::is_control) {
            return Err(IdpError::Invalid(
                "Name must not contain control characters",
            ));
        }
        let image_url = update.image_url.unwrap_or(current.user.image_url);
        if let Some(url) = &image_url
            && !is_http_url(url)
        {
            return Err(IdpError::Invalid(
                "Image URL must be an http(s) URL of at most 2048 characters",
            ));
        }
        let public = update
            .public_metadata
            .unwrap_or(current.user.public_metadata);
        let private = update.private_metadata.unwrap_or(current.private_metadata);
        let found = self
            .inner
            .store
            .update_user(
                id.as_str(),
                &name,
                image_url.as_deref(),
                &public.to_string(),
                &private.to_string(),
            )
            .await?;
        if !found {
            return Ok(None);
        }
        self.get_record(id).await
    }

    /// Replaces the user's roles (sorted, deduplicated). Takes effect in session tokens at the
    /// next refresh (within one token TTL).
    pub async fn set_roles(
        &self,
        id: &UserId,
        roles: Vec<String>,
    ) -> Result<Option<User>, IdpError> {
        let mut roles: Vec<String> = roles
            .into_iter()
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        roles.sort();
        roles.dedup();
        if !self.inner.store.set_roles(id.as_str(), &roles).await? {
            return Ok(None);
        }
        self.get(id).await
    }

    /// Adds a role to the user with this email (for a `grant-role` CLI); `Ok(None)` when no such
    /// user exists.
    pub async fn grant_role_by_email(
        &self,
        email: &str,
        role: &str,
    ) -> Result<Option<User>, IdpError> {
        self.change_role_by_email(email, role, true).await
    }

    /// Removes `role` from the user with this email (no-op when absent); `Ok(None)` when there
    /// is no such user. Used by the `revoke-role` admin command.
    pub async fn revoke_role_by_email(
        &self,
        email: &str,
        role: &str,
    ) -> Result<Option<User>, IdpError> {
        self.change_role_by_email(email, role, false).await
    }

    async fn change_role_by_email(
        &self,
        email: &str,
        role: &str,
        grant: bool,
    ) -> Result<Option<User>, IdpError> {
        let Some(user) = self.get_by_email(email).await? else {
            return Ok(None);
        };
        let mut roles = user.roles;
        roles.retain(|r| r != role);
        if grant {
            roles.push(role.to_owned());
        }
        self.set_roles(&user.id, roles).await
    }

    /// Revokes every session of the user (they are signed out at their next refresh, within one
    /// token TTL). Returns how many sessions were revoked.
    pub async fn revoke_sessions(&self, id: &UserId) -> Result<u64, IdpError> {
        self.inner.store.revoke_user_sessions(id.as_str()).await
    }

    /// Deletes the user, their credential and their sessions. `Ok(false)` when not found.
    pub async fn delete(&self, id: &UserId) -> Result<bool, IdpError> {
        self.inner.store.delete_user(id.as_str()).await
    }
}

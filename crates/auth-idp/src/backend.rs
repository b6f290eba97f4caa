//! [`Idp`] as the auth layer's [`SessionBackend`]: the layer hands it the `__refresh` cookie's
//! value when a request's session token is missing or expired, and it mints a new token.

use crate::error::IdpError;
use crate::session::hash_secret;
use crate::users::UserUpdate;
use crate::{Idp, Inner};
use auth_server::{BackendError, BoxFuture, Renewed, SessionBackend};
use auth_types::{User, UserId};

/// Refresh secrets are 32 random bytes in base64url (43 characters); anything much longer is not
/// one of ours and is not hashed or looked up.
const MAX_REFRESH_SECRET_CHARS: usize = 128;

impl Inner {
    /// `Some` with a new token when `secret` belongs to a live session (its `last_active_at` is
    /// updated); `None` when it is unknown, revoked or expired.
    pub(crate) async fn renew(&self, secret: &str) -> Result<Option<Renewed>, IdpError> {
        if secret.len() > MAX_REFRESH_SECRET_CHARS {
            return Ok(None);
        }
        let Some(session) = self
            .store
            .session_by_refresh_hash(&hash_secret(secret))
            .await?
        else {
            return Ok(None);
        };
        if !session.is_active() {
            return Ok(None);
        }
        self.store.touch_session(&session.id).await?;
        let minted = self
            .mint(&session.user_id, &session.id, &session.roles)
            .await?;
        Ok(Some(Renewed {
            token: minted.token,
            claims: minted.claims,
        }))
    }
}

fn backend_error(e: IdpError) -> BackendError {
    BackendError::new(e)
}

impl SessionBackend for Idp {
    fn refresh<'a>(
        &'a self,
        secret: &'a str,
    ) -> BoxFuture<'a, Result<Option<Renewed>, BackendError>> {
        Box::pin(async move { self.inner.renew(secret).await.map_err(backend_error) })
    }

    fn user<'a>(&'a self, id: &'a UserId) -> BoxFuture<'a, Result<Option<User>, BackendError>> {
        Box::pin(async move { self.users().get(id).await.map_err(backend_error) })
    }

    fn set_name<'a>(
        &'a self,
        id: &'a UserId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<User>, BackendError>> {
        Box::pin(async move {
            let update = UserUpdate {
                name: Some(name.to_owned()),
                ..UserUpdate::default()
            };
            let record = self
                .users()
                .update(id, update)
                .await
                .map_err(backend_error)?;
            Ok(record.map(|r| r.user))
        })
    }
}

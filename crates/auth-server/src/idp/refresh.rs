//! The same-request refresh hook for the token-verification layer: when a request's session JWT
//! is missing or expired, the layer calls [`SessionRefresher::refresh`](crate::SessionRefresher::refresh) with the request headers.

use super::Inner;
use super::cookies::{self, REFRESH_COOKIE};
use super::error::IdpError;
use super::session::hash_secret;
use crate::Refreshed;
use http::HeaderMap;
use std::sync::Arc;

/// The refresh hook (cheap to clone). Get one from `Idp::refresher()`.
#[derive(Debug, Clone)]
pub struct IdpRefresher {
    pub(crate) inner: Arc<Inner>,
}

impl IdpRefresher {
    /// `Some(Session)` when the `__refresh` cookie belongs to a live session (a new JWT is minted
    /// and the session's `last_active_at` updated); `Some(SignedOut)` when a refresh cookie is
    /// present but invalid, revoked or expired; `None` when there is no refresh cookie, or when
    /// the database is unreachable (the cookies are then left alone and the request is treated
    /// as signed out).
    pub async fn refresh(&self, headers: &HeaderMap) -> Option<Refreshed> {
        match self.inner.refresh(headers).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(error = %e, "session refresh failed");
                None
            }
        }
    }
}

impl Inner {
    pub(crate) async fn refresh(&self, headers: &HeaderMap) -> Result<Option<Refreshed>, IdpError> {
        let Some(secret) = cookies::read_cookie(headers, REFRESH_COOKIE) else {
            return Ok(None);
        };
        let secure = self.config.secure_cookies();
        let signed_out = || Refreshed::SignedOut {
            set_cookies: cookies::clear_cookies(secure),
        };
        if secret.len() > 128 {
            return Ok(Some(signed_out()));
        }
        let Some(session) = self
            .store
            .session_by_refresh_hash(&hash_secret(&secret))
            .await?
        else {
            return Ok(Some(signed_out()));
        };
        if !session.is_active() {
            return Ok(Some(signed_out()));
        }
        self.store.touch_session(&session.id).await?;
        let minted = self
            .mint(&session.user_id, &session.id, &session.roles)
            .await?;
        Ok(Some(Refreshed::Session {
            set_cookies: vec![cookies::session_cookie(&minted.token, secure)],
            token: minted.token,
            claims: minted.claims,
        }))
    }
}

/// The embedded provider renews sessions inside [`AuthLayer`](crate::AuthLayer):
/// `AuthLayer::new(verifier).with_refresher(idp.refresher())`.
impl crate::SessionRefresher for IdpRefresher {
    fn refresh<'a>(&'a self, headers: &'a HeaderMap) -> crate::BoxFuture<'a, Option<Refreshed>> {
        Box::pin(IdpRefresher::refresh(self, headers))
    }
}

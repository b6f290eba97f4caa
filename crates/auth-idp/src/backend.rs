//! [`Idp`] as the auth layer's [`SessionBackend`]: the layer hands it the refresh cookie's value
//! when a request's session token is missing or expired, and it mints a new token.
//!
//! Every refresh **rotates** the refresh secret (OWASP ASVS 3.3 / RFC 9700 §4.14.2): the new
//! secret goes to the browser, the old one stays valid for the grace (`refresh_grace`, 30 s) so
//! that tabs refreshing with the same cookie at once all stay signed in, and is a **reuse**
//! afterwards: someone else holds a copy, so the whole session is revoked and a security event is
//! logged. A request inside the grace gets a token but no refresh cookie: the request that
//! rotated set the new secret, and anything else would overwrite it with a dead one.
//!
//! The rotation is one conditional `UPDATE … WHERE refresh_secret_hash = <old>`: of concurrent
//! refreshes (two tabs, two instances) exactly one rotates, the others find the secret rotated
//! a moment ago and take the grace path, so a session never forks into two live secrets.

use crate::accounts::EVENTS;
use crate::error::IdpError;
use crate::session::{RefreshSecret, family_of, hash_secret, refresh_cookie_max_age};
use crate::store::{Rotation, SessionRow, now};
use crate::users::UserUpdate;
use crate::{Idp, Inner};
use auth_server::{BackendError, BoxFuture, Renewed, SessionBackend};
use auth_types::contract::{ConnectionsResponse, SessionInfo, SocialProvider};
use auth_types::{User, UserId};

/// Refresh secrets are `<22 characters>.<43 characters>` (older ones 43 characters); anything
/// much longer is not one of ours and is not hashed or looked up.
const MAX_REFRESH_SECRET_CHARS: usize = 128;

/// What a presented secret is to the session it names.
#[derive(Debug, PartialEq, Eq)]
enum Presented {
    /// The current secret: rotate it.
    Current,
    /// Rotated out less than the grace ago: a token, no new secret.
    InGrace,
    /// Rotated out longer ago (or any older generation): someone else has a copy.
    Reused,
}

impl Inner {
    /// `Some` with a new token (and a new refresh secret when this call rotated it) when `secret`
    /// belongs to a live session; `None` when it is unknown, revoked, idle too long, past its
    /// absolute end, or reused (which revokes the session).
    pub(crate) async fn renew(&self, secret: &str) -> Result<Option<Renewed>, IdpError> {
        if secret.len() > MAX_REFRESH_SECRET_CHARS {
            return Ok(None);
        }
        let hash = hash_secret(secret);
        let family = family_of(secret);
        let found = match family {
            Some(family) => self.store.session_by_family(&hash_secret(family)).await?,
            None => self.store.session_by_secret_hash(&hash).await?,
        };
        let Some(mut session) = found else {
            return Ok(None);
        };
        // At most two rounds: a lost rotation race re-reads the row once, and then finds the
        // secret either in its grace (the usual case) or reused.
        for _ in 0..2 {
            let now = now();
            match self.presented(&session, &hash, now) {
                Presented::Reused => {
                    self.revoke_reused(&session).await?;
                    return Ok(None);
                }
                _ if !session.is_active(&self.config) => return Ok(None),
                Presented::InGrace => {
                    let minted = self
                        .mint(
                            &session.user_id,
                            &session.id,
                            &session.roles,
                            session.email_verified,
                        )
                        .await?;
                    return Ok(Some(Renewed::new(minted.token, minted.claims)));
                }
                Presented::Current => {
                    let next = RefreshSecret::next(family);
                    let rotated = self
                        .store
                        .rotate_session(&Rotation {
                            session_id: &session.id,
                            old_hash: &hash,
                            new_hash: &next.hash,
                            family_hash: &next.family_hash,
                            now,
                        })
                        .await?;
                    if rotated {
                        let minted = self
                            .mint(
                                &session.user_id,
                                &session.id,
                                &session.roles,
                                session.email_verified,
                            )
                            .await?;
                        let max_age = refresh_cookie_max_age(
                            &self.config,
                            session.absolute_end(&self.config),
                            now,
                        );
                        return Ok(Some(
                            Renewed::new(minted.token, minted.claims)
                                .with_refresh_secret(next.secret, max_age),
                        ));
                    }
                    // Another request rotated it (or revoked the session) in between.
                    let Some(fresh) = self.store.session_by_id(&session.id).await? else {
                        return Ok(None);
                    };
                    session = fresh;
                }
            }
        }
        Ok(None)
    }

    /// Classifies the secret whose hash is `hash` against the session it named.
    fn presented(&self, session: &SessionRow, hash: &str, now: i64) -> Presented {
        if session.refresh_secret_hash == hash {
            return Presented::Current;
        }
        let grace = i64::try_from(self.config.refresh_grace.as_secs()).unwrap_or(i64::MAX);
        match (&session.previous_secret_hash, session.rotated_at) {
            (Some(previous), Some(at)) if previous == hash && now < at.saturating_add(grace) => {
                Presented::InGrace
            }
            _ => Presented::Reused,
        }
    }

    /// Reuse detection: a rotated-out secret came back after its grace, so two parties hold the
    /// session's secrets. Which one is the thief is unknowable; both are signed out.
    async fn revoke_reused(&self, session: &SessionRow) -> Result<(), IdpError> {
        if session.revoked_at.is_some() {
            return Ok(());
        }
        self.store.revoke_session(&session.id).await?;
        tracing::warn!(
            target: EVENTS,
            event = "refresh_reuse",
            session_id = %session.id,
            user_id = %session.user_id,
            "a rotated-out refresh secret was presented after its grace: session revoked"
        );
        Ok(())
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

    fn sessions<'a>(
        &'a self,
        id: &'a UserId,
        current_session: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, BackendError>> {
        Box::pin(async move {
            self.inner
                .active_sessions(id.as_str(), current_session)
                .await
                .map_err(backend_error)
        })
    }

    fn social_providers(&self) -> Vec<SocialProvider> {
        self.inner.oauth.list()
    }

    fn connections<'a>(
        &'a self,
        id: &'a UserId,
    ) -> BoxFuture<'a, Result<ConnectionsResponse, BackendError>> {
        Box::pin(async move {
            self.inner
                .connections(id.as_str())
                .await
                .map_err(backend_error)
        })
    }
}

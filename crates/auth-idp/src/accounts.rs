//! The accounts service: what signing up, in and out does to the store, apart from HTTP. The
//! handlers in `routes.rs` parse the request, call one of these, and format the answer; the
//! caller's current session always comes from the auth layer (its verified claims), never from
//! a cookie read here.
//!
//! With `AUTH_EMAIL_VERIFICATION=optional` (the default) a new account gets a verification mail
//! and is signed in at once; with `required` sign-up creates the account but no session, and
//! answers "verification required" ([`ApiError::verification_required`]) whether the address was
//! new or taken (the owner of a taken address is mailed instead: no enumeration); a sign-in with
//! the right password on an unverified address mails a fresh code and answers the same. With
//! `off` no mail is sent.
//!
//! Each outcome an operator may need to see (sign-up, sign-in and its failures and lockouts,
//! sign-out) is logged as an event with the target [`EVENTS`] (`auth::events`), inside the
//! request's span (its request id). Events never carry a password, a token, a refresh secret or
//! an email address: an account is named by its user id, or by [`account_tag`] when there is none.

use crate::Inner;
use crate::body::{sign_in_key, validate_sign_up};
use crate::config::EmailVerification;
use crate::error::{ApiError, IdpError};
use crate::mail::Message;
use crate::rate_limit::Refused;
use crate::session::{DEFAULT_ROLES, IssuedSession, new_id, refresh_cookie_max_age};
use crate::store::NewAccount;
use auth_server::SessionCookies;
use auth_types::contract::{SignInRequest, SignUpRequest};
use auth_types::{SessionClaims, User};
use http::HeaderValue;
use sha2::{Digest, Sha256};

/// The `tracing` target of the security events (`RUST_LOG=auth::events=info` keeps just them).
pub(crate) const EVENTS: &str = "auth::events";

/// A short, stable tag for a normalised email in the logs: the first 16 hex digits of its SHA-256.
/// It correlates attempts on one account (a lockout, a credential-stuffing run) without writing
/// the address; whoever knows an address can compute its tag (`printf %s "$email" | sha256sum`),
/// so it is a pseudonym, not a secret.
pub(crate) fn account_tag(email: &str) -> String {
    Sha256::digest(email.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The 429 of a refused attempt (the event is logged by the caller).
fn rate_limited(refused: Refused) -> ApiError {
    ApiError::rate_limited(refused.retry_after_secs())
}

/// A new session: the user, the claims of its first token, and the cookies that carry it.
pub(crate) type Started = (User, SessionClaims, Vec<HeaderValue>);

/// Who is asking: what the handler knows of the request besides its body.
#[derive(Debug, Default)]
pub(crate) struct Caller<'a> {
    /// The client's address (per-address rate limits, see `client_ip.rs`), when it can be known.
    pub(crate) address: Option<std::net::IpAddr>,
    /// The `User-Agent`, stored with a new session.
    pub(crate) user_agent: Option<&'a str>,
    /// The session the request is signed in with (the auth layer's verified `sid`).
    pub(crate) session_id: Option<&'a str>,
}

impl Caller<'_> {
    /// The address for the logs (`-` when it cannot be known).
    fn address(&self) -> String {
        self.address
            .map_or_else(|| "-".to_owned(), |ip| ip.to_string())
    }
}

impl Inner {
    pub(crate) fn cookies(&self) -> SessionCookies {
        SessionCookies::new(self.config.secure_cookies())
    }

    /// `Set-Cookie` values removing the session cookies.
    pub(crate) fn clear_cookies(&self) -> Vec<HeaderValue> {
        self.cookies().clear()
    }

    /// Creates an account and its first session.
    pub(crate) async fn sign_up(
        &self,
        input: &SignUpRequest,
        caller: &Caller<'_>,
    ) -> Result<Started, ApiError> {
        // Only valid sign-ups are counted (the checks above the hash cost nothing); a taken
        // email is counted too, so the limit also slows down probing for accounts.
        let valid = validate_sign_up(input)?;
        let attempt = self
            .limits
            .sign_up(caller.address)
            .await
            .map_err(|refused| {
                tracing::warn!(
                    target: EVENTS,
                    event = "sign_up",
                    outcome = "rate_limited",
                    limit = refused.limit,
                    address = caller.address(),
                    retry_after_secs = refused.retry_after_secs(),
                    "sign-up refused: too many sign-ups"
                );
                rate_limited(refused)
            })?;
        let outcome = self.create_account(valid, caller).await;
        if outcome.as_ref().is_err_and(|e| e.status.is_server_error()) {
            // Ours (database down, hashing queue full): the client may retry at no cost.
            attempt.refund().await;
        }
        outcome
    }

    /// The account of a valid sign-up, counted by the limits.
    async fn create_account(
        &self,
        (email, name, password): (String, String, String),
        caller: &Caller<'_>,
    ) -> Result<Started, ApiError> {
        if self.config.email_verification == EmailVerification::Required {
            return self
                .create_unverified_account(email, name, password, caller)
                .await;
        }
        // Cheap pre-check so a taken email does not cost a hash; the unique constraint still decides.
        if self.store.user_by_email(&email).await?.is_some() {
            tracing::info!(
                target: EVENTS,
                event = "sign_up",
                outcome = "email_taken",
                account = %account_tag(&email),
                address = caller.address(),
                "sign-up refused: the email is taken"
            );
            return Err(ApiError::EMAIL_TAKEN);
        }
        if let Some(check) = &self.breach_check {
            check.refuse_breached(&password).await?;
        }
        let password_hash = self.passwords.hash(password).await?;
        let user_id = new_id("user");
        let roles: Vec<String> = DEFAULT_ROLES.iter().map(|r| (*r).to_owned()).collect();
        // The session the browser was in (another account's) is replaced, as on sign-in; before
        // the account exists, so a store failure here leaves no account behind a 503.
        if let Some(previous) = caller.session_id {
            self.store.revoke_session(previous).await?;
        }
        let issued = IssuedSession::new(self.config.session_ttl.as_secs());
        self.store
            .create_account(&NewAccount {
                user_id: &user_id,
                email: &email,
                name: &name,
                roles: &roles,
                password_hash: Some(&password_hash),
                session: Some(issued.row(caller.user_agent)),
                ..NewAccount::default()
            })
            .await?;
        let Some(record) = self.store.user_by_id(&user_id).await? else {
            // The store acknowledged the insert but cannot show the row: it is failing (seen with
            // a SQLite file that became read-only under the server). Not acknowledged: the client
            // retries, and finds the account either created or free.
            tracing::warn!("a new account is not readable right after its creation; answering 503");
            return Err(ApiError::UNAVAILABLE);
        };
        tracing::info!(
            target: EVENTS,
            event = "sign_up",
            outcome = "success",
            user_id = %user_id,
            session_id = %issued.id,
            replaced_session_id = caller.session_id.unwrap_or("-"),
            address = caller.address(),
            "signed up"
        );
        if self.config.email_verification == EmailVerification::Optional {
            self.send_verification(&user_id, &email).await;
        }
        Ok(self.start_session(record.user, &issued).await?)
    }

    /// Sign-up when verification is required: the account is created without a session, and
    /// the answer is "verification required" whether the address was free or taken. A taken
    /// address costs the same work (breach check, hash) so the time does not tell either; its
    /// owner is mailed: a "someone tried to sign up" notice when the address is verified, a
    /// fresh code when it is not (most often the owner, signing up again after losing the mail).
    async fn create_unverified_account(
        &self,
        email: String,
        name: String,
        password: String,
        caller: &Caller<'_>,
    ) -> Result<Started, ApiError> {
        let existing = self.store.user_by_email(&email).await?;
        if let Some(check) = &self.breach_check {
            check.refuse_breached(&password).await?;
        }
        let password_hash = self.passwords.hash(password).await?;
        let existing = match existing {
            Some(record) => Some(record.user),
            None => {
                let user_id = new_id("user");
                let roles: Vec<String> = DEFAULT_ROLES.iter().map(|r| (*r).to_owned()).collect();
                match self
                    .store
                    .create_account(&NewAccount {
                        user_id: &user_id,
                        email: &email,
                        name: &name,
                        roles: &roles,
                        password_hash: Some(&password_hash),
                        ..NewAccount::default()
                    })
                    .await
                {
                    Ok(()) => {
                        tracing::info!(
                            target: EVENTS,
                            event = "sign_up",
                            outcome = "verification_required",
                            user_id = %user_id,
                            address = caller.address(),
                            "signed up; the address must be verified before a session starts"
                        );
                        self.send_verification(&user_id, &email).await;
                        None
                    }
                    // Taken meanwhile (a concurrent sign-up): as for a taken address.
                    Err(IdpError::EmailTaken) => {
                        self.store.user_by_email(&email).await?.map(|r| r.user)
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        if let Some(user) = existing {
            tracing::info!(
                target: EVENTS,
                event = "sign_up",
                outcome = "email_taken",
                account = %account_tag(&email),
                address = caller.address(),
                "sign-up with a taken address: its owner is mailed, the answer does not tell"
            );
            // Within the per-address mail budget: sign-ups from many client addresses cannot
            // flood the owner's mailbox.
            if self
                .limits
                .mail("sign_up_taken", &email, None)
                .await
                .is_ok()
            {
                if user.email_verified {
                    self.mailer.send(&email, Message::SignUpAttempt);
                } else {
                    self.send_verification(user.id.as_str(), &email).await;
                }
            }
        }
        Err(ApiError::verification_required(&email))
    }

    /// Checks the credentials under the rate limits, then replaces the caller's session (if any)
    /// with a brand-new one (no session fixation).
    pub(crate) async fn sign_in(
        &self,
        input: &SignInRequest,
        caller: &Caller<'_>,
    ) -> Result<Started, ApiError> {
        let (email, plausible, password) = sign_in_key(input);
        // Every attempt is counted (per pair, account and address) before the (slow) password
        // check, so concurrent guesses cannot overshoot a budget; a success, or a failure that
        // is ours (store down), is given back.
        let attempt = self
            .limits
            .sign_in(&email, caller.address)
            .await
            .map_err(|refused| {
                tracing::warn!(
                    target: EVENTS,
                    event = "sign_in",
                    outcome = "rate_limited",
                    limit = refused.limit,
                    account = %account_tag(&email),
                    address = caller.address(),
                    retry_after_secs = refused.retry_after_secs(),
                    "sign-in refused: too many failed attempts"
                );
                rate_limited(refused)
            })?;
        let user = match self.check_credentials(&email, plausible, password).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                tracing::warn!(
                    target: EVENTS,
                    event = "sign_in",
                    outcome = "invalid_credentials",
                    account = %account_tag(&email),
                    address = caller.address(),
                    "sign-in failed: wrong email or password"
                );
                // Stays counted: a failure.
                drop(attempt);
                return Err(ApiError::INVALID_CREDENTIALS);
            }
            Err(e) => {
                attempt.refund().await;
                tracing::warn!(
                    target: EVENTS,
                    event = "sign_in",
                    outcome = "error",
                    status = e.status.as_u16(),
                    account = %account_tag(&email),
                    address = caller.address(),
                    "sign-in failed on the server's side"
                );
                return Err(e);
            }
        };
        attempt.succeeded().await;
        if self.config.email_verification == EmailVerification::Required && !user.email_verified {
            tracing::info!(
                target: EVENTS,
                event = "sign_in",
                outcome = "verification_required",
                user_id = %user.id,
                address = caller.address(),
                "sign-in held back: the address is not verified; a code is mailed"
            );
            // Within the mail budget a fresh code replaces the last one; past it the last one
            // still works.
            if self
                .limits
                .mail("verify_email", &user.email, None)
                .await
                .is_ok()
            {
                self.send_verification(user.id.as_str(), &user.email).await;
            }
            return Err(ApiError::verification_required(&user.email));
        }
        self.start_fresh_session(user, caller, "sign_in").await
    }

    /// Replaces the caller's session (if any) with a brand-new one for `user` (no session
    /// fixation): after a password sign-in, a verified address, a password reset or an email
    /// code. `event` names the flow in the security log.
    pub(crate) async fn start_fresh_session(
        &self,
        user: User,
        caller: &Caller<'_>,
        event: &'static str,
    ) -> Result<Started, ApiError> {
        // The session the request was in (if any) is replaced: revoke it rather than leave it
        // orphaned.
        if let Some(previous) = caller.session_id {
            self.store.revoke_session(previous).await?;
        }
        let issued = IssuedSession::new(self.config.session_ttl.as_secs());
        self.store
            .create_session(user.id.as_str(), &issued.row(caller.user_agent))
            .await?;
        tracing::info!(
            target: EVENTS,
            event,
            outcome = "success",
            user_id = %user.id,
            session_id = %issued.id,
            replaced_session_id = caller.session_id.unwrap_or("-"),
            address = caller.address(),
            "signed in"
        );
        Ok(self.start_session(user, &issued).await?)
    }

    /// Ends the caller's session, if it has one.
    pub(crate) async fn sign_out(&self, session_id: Option<&str>) -> Result<(), IdpError> {
        if let Some(id) = session_id {
            self.store.revoke_session(id).await?;
            tracing::info!(target: EVENTS, event = "sign_out", session_id = %id, "signed out");
        }
        Ok(())
    }

    /// Ends every session of the caller's user; `false` when the caller has no live session.
    pub(crate) async fn sign_out_all(&self, session_id: Option<&str>) -> Result<bool, IdpError> {
        let Some(id) = session_id else {
            return Ok(false);
        };
        match self.store.session_by_id(id).await? {
            Some(session) if session.is_active(&self.config) => {
                let ended = self.store.revoke_user_sessions(&session.user_id).await?;
                tracing::info!(
                    target: EVENTS,
                    event = "sign_out_all",
                    user_id = %session.user_id,
                    session_id = %id,
                    sessions = ended,
                    "signed out everywhere"
                );
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether the session behind verified claims is still live in the store (a token stays
    /// valid until it expires; revocation shows here first).
    pub(crate) async fn is_live(&self, claims: &SessionClaims) -> Result<bool, IdpError> {
        let Some(id) = claims.sid.as_deref() else {
            return Ok(false);
        };
        Ok(self
            .store
            .session_by_id(id)
            .await?
            .is_some_and(|s| s.is_active(&self.config)))
    }

    /// A new session's first token and its cookies.
    async fn start_session(&self, user: User, issued: &IssuedSession) -> Result<Started, IdpError> {
        let minted = self
            .mint(
                user.id.as_str(),
                &issued.id,
                &user.roles,
                user.email_verified,
            )
            .await?;
        let cookies = self.cookies();
        let set_cookies = vec![
            cookies.session(&minted.token),
            cookies.refresh(
                &issued.refresh.secret,
                refresh_cookie_max_age(&self.config, issued.expires_at, crate::store::now()),
            ),
        ];
        Ok((user, minted.claims, set_cookies))
    }

    /// The account behind an email and password, or `None` (unknown email and wrong password
    /// take the same time: unknown accounts are verified against a dummy hash).
    async fn check_credentials(
        &self,
        email: &str,
        plausible: bool,
        password: String,
    ) -> Result<Option<User>, ApiError> {
        let credential = if plausible {
            self.store.credential_by_email(email).await?
        } else {
            None
        };
        let (user_id, hash) = match credential {
            Some((id, hash)) => (Some(id), Some(hash)),
            None => (None, None),
        };
        let ok = self.passwords.verify(password, hash).await?;
        Ok(match (ok, user_id) {
            (true, Some(id)) => self.store.user_by_id(&id).await?.map(|r| r.user),
            _ => None,
        })
    }
}

//! The embedded identity provider of the auth template: accounts with email + password (argon2id),
//! sessions with short-lived ES256 session JWTs and long-lived refresh cookies, signing keys and a
//! JWKS endpoint, a users API and admin commands — on SQLite by default, PostgreSQL when
//! `DATABASE_URL` says so.
//!
//! It plugs into `auth-server` through one trait, [`auth_server::SessionBackend`], which [`Idp`]
//! implements: the auth layer reads the cookies, verifies the token and renews the session (at
//! most once per request); the provider's handlers take the layer's result through the
//! [`auth_server::Auth`] extractor and never parse a cookie or verify a token themselves.
//!
//! The whole public API:
//!
//! | item | what |
//! | --- | --- |
//! | [`stack_from_env`], [`SetupError`] | the app's whole auth stack from the environment (embedded, or `AUTH_PROVIDER=jwks`) |
//! | [`stack_and_idp_from_env`] | the same, with the provider it runs, for readiness checks ([`Idp::ready`]) and shutdown ([`Idp::close`]) |
//! | [`Idp`], [`IdpConfig`], [`PasswordParams`], [`RateLimitConfig`], [`TrustedProxies`], [`Backend`] | the provider, its settings and its database kind |
//! | [`Users`], [`UsersApi`], [`UserRecord`], [`UserUpdate`], [`UserPage`] | the users API (`clerkClient.users`) and its extractor |
//! | [`IdpError`] | errors of the Rust API |
//! | [`OAuthProvider`], [`OAuthEndpoints`] | social sign-in providers (`AUTH_OAUTH_PROVIDERS`) |
//! | [`KeyRotation`], [`KeyEncryptionKey`] | what [`Idp::rotate_keys`] did; the key that encrypts signing keys at rest |
//! | [`permissions_for_roles`], [`ROLE_PERMISSIONS`], [`DEFAULT_ROLES`] | roles → permissions |
//! | [`run_cli`] | admin commands of the server binary (`grant-role`, `revoke-role`, `rotate-keys`) |
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_server::RequireAuth;
//! use axum::{Router, routing::get};
//!
//! let auth = auth_idp::stack_from_env().await?;     // provider, keys, origin check, layer
//! let app: Router = auth.apply(
//!     Router::new().route("/api/me", get(|a: RequireAuth| async move { a.user_id().to_string() })),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! See `docs/identity-provider.md` for endpoints, cookies, settings and security choices.

mod accounts;
mod backend;
mod body;
mod cli;
mod client_ip;
mod config;
mod email_code;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod keys;
mod mail;
mod mail_request;
mod oauth;
mod one_time;
mod password;
mod password_policy;
mod rate_limit;
mod recovery;
mod redirect;
mod routes;
mod session;
mod settings;
mod stack;
mod store;
mod users;
mod validate;
mod verification;

pub use cli::run as run_cli;
pub use client_ip::TrustedProxies;
pub use config::{EmailVerification, IdpConfig, PasswordParams, RateLimitConfig};
pub use error::IdpError;
pub use keys::{KeyEncryptionKey, KeyRotation};
pub use mail::MailSettings;
pub use oauth::{OAuthEndpoints, OAuthProvider};
pub use session::{DEFAULT_ROLES, ROLE_PERMISSIONS, permissions_for_roles};
pub use stack::{SetupError, UsersApi, stack_from_env};
pub use store::Backend;
pub use users::{UserPage, UserRecord, UserUpdate, Users};

use jsonwebtoken::jwk::JwkSet;
use keys::KeyStore;
use password::Passwords;
use rate_limit::Limits;
use std::sync::Arc;
use store::Store;

/// The identity provider (cheap to clone; everything is shared).
#[derive(Debug, Clone)]
pub struct Idp {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: IdpConfig,
    pub(crate) store: Store,
    pub(crate) passwords: Passwords,
    pub(crate) keys: KeyStore,
    pub(crate) limits: Limits,
    /// The breached-password check (`AUTH_PWNED_PASSWORDS_URL`), when configured.
    pub(crate) breach_check: Option<password_policy::BreachCheck>,
    /// Sends the provider's mails off the request path.
    pub(crate) mailer: mail::Mailer,
    /// Social sign-in: the enabled providers and the HTTP client that speaks to them.
    pub(crate) oauth: oauth::SocialSignIn,
    /// The key stores of the verifiers built around this provider ([`Idp::stack`]): told of
    /// every key change this instance makes or reads, so its own verifier never refuses a token
    /// it just signed with a new key.
    pub(crate) verifiers: std::sync::Mutex<Vec<auth_server::KeyStore>>,
}

impl Idp {
    /// Connects to the database, runs migrations, loads (or creates) the signing keys.
    pub async fn connect(config: IdpConfig) -> Result<Self, IdpError> {
        let store = Store::connect(&config).await?;
        let passwords = Passwords::new(config.password, config.max_concurrent_hashes)
            .await?
            .with_max_queued(config.max_queued_hashes);
        let keys = KeyStore::load(store.clone(), &config).await?;
        let limits = Limits::new(&config.rate_limit, &store);
        let breach_check = config
            .pwned_passwords_url
            .as_ref()
            .map(|url| password_policy::BreachCheck::new(url, config.pwned_passwords_timeout))
            .transpose()?;
        password_policy::warm_up();
        let mailer = mail::Mailer::new(&config.mail, config.public_url.as_str())?;
        let oauth = oauth::SocialSignIn::new(&config.oauth_providers, &config.mail.app_name)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                passwords,
                keys,
                limits,
                breach_check,
                mailer,
                oauth,
                verifiers: std::sync::Mutex::default(),
            }),
        })
    }

    /// The auth stack around this provider: its keys verify tokens, it renews sessions, its
    /// routes (`/auth/*`, `/.well-known/*`) are merged into the app, and a background task
    /// re-reads rotated keys and purges old sessions. `config` carries the verification settings
    /// (leeway, algorithms); the issuer and public URL are the provider's.
    pub fn stack(
        &self,
        config: auth_server::AuthConfig,
    ) -> Result<auth_server::AuthStack, SetupError> {
        stack::embedded(self.clone(), config)
    }

    /// The users API.
    pub fn users(&self) -> Users {
        Users {
            inner: self.inner.clone(),
        }
    }

    /// The published public keys (JWK Set).
    pub fn jwks(&self) -> JwkSet {
        self.inner.keys.jwks()
    }

    /// Re-reads the keys from the database (picks up rotations made by other instances).
    pub async fn reload_keys(&self) -> Result<JwkSet, IdpError> {
        let jwks = self.inner.keys.refresh().await?;
        self.publish(&jwks);
        Ok(jwks)
    }

    /// Starts a key rotation: a new key is published at once (JWKS, this instance's verifiers;
    /// other instances at their next reload) and signs from
    /// [`KeyRotation::signs_from`], [`IdpConfig::key_activation_delay`] from now, when every
    /// instance and JWKS cache can have seen it. The previous key signs until then and stays
    /// published until tokens it signed have expired. A rotation already under way is returned
    /// as is (`already_pending`).
    pub async fn rotate_keys(&self) -> Result<KeyRotation, IdpError> {
        let rotation = self.inner.keys.rotate().await?;
        self.publish(&self.inner.keys.jwks());
        Ok(rotation)
    }

    /// Makes a new key current **at once** (after a suspected leak) and returns its id: the
    /// previous key, and a key waiting from [`rotate_keys`](Self::rotate_keys), are retired (still
    /// published until their tokens expire). Other instances' verifiers learn the key
    /// at their next reload, so Bearer-only calls to them can get 401 until then (cookie
    /// requests renew).
    pub async fn rotate_keys_now(&self) -> Result<String, IdpError> {
        let kid = self.inner.keys.rotate_now().await?;
        self.publish(&self.inner.keys.jwks());
        Ok(kid)
    }

    /// Hands the public keys to every verifier built around this provider.
    fn publish(&self, jwks: &JwkSet) {
        let verifiers = self
            .inner
            .verifiers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for store in verifiers.iter() {
            store.replace(jwks.clone());
        }
    }

    /// Deletes sessions that expired or were revoked more than `grace` ago (the stack's
    /// background task runs it hourly). Returns how many were deleted.
    pub async fn purge_sessions(&self, grace: std::time::Duration) -> Result<u64, IdpError> {
        let before = store::now() - grace.as_secs() as i64;
        // Abandoned provider sign-ins go too (their rows live 10 minutes).
        self.inner.store.purge_flows(store::now()).await?;
        // So do rate-limit windows whose counts have all expired (PostgreSQL keeps them).
        self.inner.store.purge_rate_limits().await?;
        self.inner.store.purge_sessions(before).await
    }

    /// The settings in use.
    pub fn config(&self) -> &IdpConfig {
        &self.inner.config
    }

    /// Which database the provider runs on.
    pub fn backend(&self) -> Backend {
        self.inner.store.backend()
    }

    /// Closes the database pool (graceful shutdown); later requests answer 503.
    pub async fn close(&self) {
        self.inner.store.close().await;
    }

    /// Whether the provider can serve, for a readiness probe: the database answers a trivial
    /// query (`SELECT 1` through the pool, so a connection can be had), and signing keys are
    /// loaded (the JWKS is not empty). Touches no table and writes nothing; it waits at most the
    /// pool's acquire timeout (5 s), so bound it with a shorter timeout of your own if a probe
    /// must answer sooner.
    ///
    /// Errors: [`IdpError::Database`] when the database does not answer (or the pool was
    /// [closed](Self::close)); [`IdpError::Key`] when no signing key is loaded. Their text may
    /// name the database's host: log it, do not send it to the client.
    ///
    /// ```no_run
    /// # async fn probe(idp: auth_idp::Idp) {
    /// let status = match idp.ready().await {
    ///     Ok(()) => "ready",
    ///     Err(auth_idp::IdpError::Key(_)) => "no signing keys",
    ///     Err(_) => "database down",
    /// };
    /// # let _ = status; }
    /// ```
    pub async fn ready(&self) -> Result<(), IdpError> {
        self.inner.store.ping().await?;
        if self.inner.keys.jwks().keys.is_empty() {
            return Err(IdpError::Key("no signing key is loaded".into()));
        }
        Ok(())
    }
}

/// [`stack_from_env`], also returning the embedded provider it built (`None` with
/// `AUTH_PROVIDER=jwks`): for what an app does with the provider besides serving requests — a
/// readiness probe ([`Idp::ready`]), closing the database pool at shutdown ([`Idp::close`]).
///
/// ```no_run
/// # async fn run() -> Result<(), auth_idp::SetupError> {
/// let (auth, idp) = auth_idp::stack_and_idp_from_env().await?;
/// let app: axum::Router = auth.apply(axum::Router::new());
/// // … serve `app` until a shutdown signal, then:
/// if let Some(idp) = idp {
///     idp.close().await;
/// }
/// # let _ = app; Ok(()) }
/// ```
pub async fn stack_and_idp_from_env() -> Result<(auth_server::AuthStack, Option<Idp>), SetupError> {
    let config = auth_server::AuthConfig::from_env()?;
    if config.key_source != auth_server::KeySource::Embedded {
        return Ok((auth_server::AuthStack::external(&config)?, None));
    }
    let idp_config = IdpConfig::from_settings(&config, |name| std::env::var(name).ok())?;
    let idp = Idp::connect(idp_config).await?;
    let stack = idp.stack(config)?;
    Ok((stack, Some(idp)))
}

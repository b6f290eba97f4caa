//! Settings of the identity provider: [`IdpConfig::from_env`] for the app, builder methods for tests.

use crate::client_ip::TrustedProxies;
use auth_server::{AuthConfig, ConfigError};
use std::time::Duration;
use url::Url;

/// Default database: a SQLite file next to the working directory (its folder is created on start).
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db?mode=rwc";

/// argon2id cost parameters (OWASP's recommended minimum by default: m=19456 KiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Parallelism (lanes).
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Rate limits (429 with `Retry-After` past any of them; see `rate_limit.rs`). Failed sign-ins
/// are counted per (account, client address) pair, per account and per client address; sign-ups
/// per client address and in total. Budgets are 1..=65535 per window. Build it with
/// `RateLimitConfig { max_failures: 5, ..RateLimitConfig::default() }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Failed sign-ins per (account, client address) pair within `window` (default 10): what a
    /// stranger's guesses use up, without locking the owner out from the owner's address.
    pub max_failures: u32,
    /// The sliding window of the pair and address budgets (default 15 min).
    pub window: Duration,
    /// Failed sign-ins per account from all addresses within `account_window` (default 100 per
    /// hour, the ceiling of ASVS 4.0.3 2.2.1).
    pub account_max_failures: u32,
    /// The per-account window (default 1 hour).
    pub account_window: Duration,
    /// Failed sign-ins per client address on all accounts within `window` (default 20: password
    /// spraying).
    pub address_max_failures: u32,
    /// `AUTH_SIGN_UP_LIMIT_PER_ADDRESS`: sign-ups per client address within `sign_up_window`
    /// (default 20).
    pub sign_up_per_address: u32,
    /// `AUTH_SIGN_UP_LIMIT_GLOBAL`: sign-ups from all addresses within `sign_up_window` (default
    /// 1000).
    pub sign_up_global: u32,
    /// `AUTH_SIGN_UP_WINDOW_SECS`: the sign-up window (default 1 hour).
    pub sign_up_window: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(15 * 60),
            account_max_failures: 100,
            account_window: Duration::from_secs(3600),
            address_max_failures: 20,
            sign_up_per_address: 20,
            sign_up_global: 1000,
            sign_up_window: Duration::from_secs(3600),
        }
    }
}

/// Settings of the embedded identity provider. `Debug` hides the database password.
#[derive(Clone)]
pub struct IdpConfig {
    /// `DATABASE_URL`: `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// `AUTH_PUBLIC_URL` (or `PUBLIC_URL`): where the app is reached. Its origin is the only origin
    /// allowed to post to the auth endpoints, and `https` makes every cookie `Secure`.
    pub public_url: Url,
    /// `AUTH_ISSUER`: the `iss` claim (default: the public URL without a trailing slash).
    pub issuer: String,
    /// `AUTH_SESSION_TOKEN_TTL_SECS`: lifetime of a session JWT (default 60 s).
    pub session_token_ttl: Duration,
    /// `AUTH_SESSION_MAX_AGE_SECS` (deprecated alias: `AUTH_SESSION_TTL_DAYS`): the absolute
    /// lifetime of a session, from sign-in, whatever its activity (default 30 days). No refresh
    /// cookie outlives it.
    pub session_ttl: Duration,
    /// `AUTH_SESSION_IDLE_TIMEOUT_SECS`: a session not refreshed for this long is over (default 7
    /// days, at most the max age). Activity is recorded at most once a minute.
    pub session_idle_timeout: Duration,
    /// `AUTH_SESSION_REFRESH_GRACE_SECS`: how long a rotated-out refresh secret is still accepted
    /// (default 30 s), so two tabs refreshing with the same secret both stay signed in. Presented
    /// later, it is a reuse: the whole session is revoked.
    pub refresh_grace: Duration,
    /// `AUTH_TRUSTED_IP_HEADER`: a single-valued header that the trusted reverse proxy overwrites
    /// with the client address, e.g. `x-real-ip` (not `x-forwarded-for`: see `trusted_proxies`).
    /// Used when it holds exactly one address (see `client_ip.rs`).
    pub trusted_ip_header: Option<http::HeaderName>,
    /// `AUTH_TRUSTED_PROXIES`: the reverse proxies in front of the app, as a hop count or their
    /// CIDRs; `X-Forwarded-For` is read from the right past them (default: none, the socket peer
    /// is the client).
    pub trusted_proxies: TrustedProxies,
    /// Password hashing cost.
    pub password: PasswordParams,
    /// `AUTH_MAX_CONCURRENT_HASHES`: how many password hashes may run at once (default: half the
    /// cores, at least one: the other half keeps serving requests during a burst of sign-ins).
    /// Each running hash holds its argon2 memory (19 MiB by default).
    pub max_concurrent_hashes: usize,
    /// `AUTH_MAX_QUEUED_HASHES`: how many password hashes may wait for a running one to finish
    /// (default 16 per concurrent hash, ~0.5 s of waiting); past it a sign-up or sign-in is
    /// answered 503 with `Retry-After` at once.
    pub max_queued_hashes: usize,
    /// Sign-in and sign-up rate limits.
    pub rate_limit: RateLimitConfig,
    /// Largest accepted request body (default 16 KiB).
    pub max_body_bytes: usize,
    /// Path of the sign-in page (form errors redirect there).
    pub sign_in_path: String,
    /// Path of the sign-up page (form errors redirect there).
    pub sign_up_path: String,
    /// Clock-skew allowance added to key publication after a rotation (default 60 s).
    pub leeway: Duration,
    /// Database pool size (default 10).
    pub max_connections: u32,
    /// How often each instance re-reads the signing keys into its verifier (default 10 s, at
    /// least 100 ms); part of [`key_activation_delay`](Self::key_activation_delay).
    pub key_reload_interval: Duration,
    /// `Cache-Control: max-age` of `/.well-known/jwks.json` (default 60 s): how long an external
    /// verifier may keep an old copy; part of [`key_activation_delay`](Self::key_activation_delay).
    pub jwks_max_age: Duration,
    /// `AUTH_KEY_ENCRYPTION_KEY`: when set, private signing keys are stored encrypted with it
    /// (AES-256-GCM). Default: unset, keys stored as PEM (a warning at start-up).
    pub key_encryption_key: Option<crate::keys::KeyEncryptionKey>,
    /// `AUTH_PWNED_PASSWORDS_URL`: a Pwned Passwords range API (e.g.
    /// `https://api.pwnedpasswords.com`) that sign-up asks whether a password is breached
    /// (default: unset, no check). Fails open; see `password_policy.rs`.
    pub pwned_passwords_url: Option<Url>,
    /// Bound on each Pwned Passwords request (default 2 s); past it the check fails open.
    pub pwned_passwords_timeout: Duration,
    /// `AUTH_EMAIL_VERIFICATION`: whether addresses are verified by a mailed code or link
    /// (default [`EmailVerification::Optional`]).
    pub email_verification: EmailVerification,
    /// `AUTH_EMAIL_CODE_SIGN_IN=on`: "Email me a code" sign-in (default off).
    pub email_code_sign_in: bool,
    /// How mail is sent (`AUTH_SMTP_URL`, `AUTH_EMAIL_FROM`, `AUTH_APP_NAME`).
    pub mail: crate::mail::MailSettings,
    /// The social sign-in providers (`AUTH_OAUTH_PROVIDERS`; none by default).
    pub oauth_providers: Vec<crate::OAuthProvider>,
}

/// `AUTH_EMAIL_VERIFICATION`: what an unverified address may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmailVerification {
    /// No verification mail is sent; `email_verified` stays false unless set by the users API.
    Off,
    /// A verification mail is sent at sign-up; unverified users are signed in
    /// (`Check::EmailVerified` guards what needs a verified address). The default.
    #[default]
    Optional,
    /// No session until the address is verified: sign-up and sign-in ask for the mailed code.
    Required,
}

impl std::str::FromStr for EmailVerification {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(Self::Off),
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            _ => Err("must be off, optional or required".into()),
        }
    }
}

impl IdpConfig {
    /// Settings with defaults for everything but the database and the public URL.
    pub fn new(database_url: impl Into<String>, public_url: &str) -> Result<Self, ConfigError> {
        let public_url = parse_public_url(public_url)?;
        let issuer = public_url.as_str().trim_end_matches('/').to_owned();
        Ok(Self {
            database_url: database_url.into(),
            public_url,
            issuer,
            session_token_ttl: Duration::from_secs(60),
            session_ttl: Duration::from_secs(DEFAULT_SESSION_MAX_AGE_SECS),
            session_idle_timeout: Duration::from_secs(DEFAULT_SESSION_IDLE_TIMEOUT_SECS),
            refresh_grace: Duration::from_secs(DEFAULT_REFRESH_GRACE_SECS),
            trusted_ip_header: None,
            password: PasswordParams::default(),
            max_concurrent_hashes: default_max_concurrent_hashes(),
            max_queued_hashes: QUEUED_HASHES_PER_PERMIT * default_max_concurrent_hashes(),
            trusted_proxies: TrustedProxies::None,
            rate_limit: RateLimitConfig::default(),
            max_body_bytes: 16 * 1024,
            sign_in_path: auth_types::contract::paths::SIGN_IN_PAGE.to_owned(),
            sign_up_path: auth_types::contract::paths::SIGN_UP_PAGE.to_owned(),
            leeway: Duration::from_secs(60),
            max_connections: 10,
            key_reload_interval: Duration::from_secs(10),
            jwks_max_age: Duration::from_secs(60),
            key_encryption_key: None,
            pwned_passwords_url: None,
            pwned_passwords_timeout: crate::password_policy::DEFAULT_PWNED_PASSWORDS_TIMEOUT,
            email_verification: EmailVerification::default(),
            email_code_sign_in: false,
            mail: crate::mail::MailSettings::default(),
            oauth_providers: Vec::new(),
        })
    }

    /// Reads the settings from the process environment (see [`IdpConfig::from_lookup`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&AuthConfig::from_env()?, |name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a variable name → its value): `DATABASE_URL`,
    /// `AUTH_PUBLIC_URL` / `PUBLIC_URL`, `AUTH_ISSUER`, `AUTH_SESSION_TOKEN_TTL_SECS`,
    /// `AUTH_SESSION_MAX_AGE_SECS` (or the deprecated `AUTH_SESSION_TTL_DAYS`),
    /// `AUTH_SESSION_IDLE_TIMEOUT_SECS`, `AUTH_SESSION_REFRESH_GRACE_SECS`, `AUTH_TRUSTED_IP_HEADER`, `AUTH_MAX_CONCURRENT_HASHES`. Empty
    /// values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_settings(&AuthConfig::from_lookup(&lookup)?, lookup)
    }

    /// The provider's own variables through `lookup`; the public URL and issuer come from the
    /// verification settings, read once by [`AuthConfig`]'s loader (one reader, one error shape).
    pub(crate) fn from_settings(
        auth: &AuthConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                var: "DATABASE_URL",
                reason: "must start with sqlite:, postgres:// or postgresql://".into(),
            });
        }
        let mut config = Self::new(database_url, &auth.public_url)?;
        if let Some(issuer) = &auth.issuer {
            config.issuer = issuer.clone();
        }
        if let Some(v) = get("AUTH_SESSION_TOKEN_TTL_SECS") {
            let secs = parse_positive(&v, "AUTH_SESSION_TOKEN_TTL_SECS", 24 * 3600)?;
            config.session_token_ttl = Duration::from_secs(secs);
        }
        config.read_session_lifetimes(&get)?;
        if let Some(v) = get("AUTH_TRUSTED_IP_HEADER") {
            let name = http::HeaderName::try_from(v.trim()).map_err(|_| ConfigError::Invalid {
                var: "AUTH_TRUSTED_IP_HEADER",
                reason: "not a valid header name".into(),
            })?;
            if !crate::client_ip::single_valued_header(&name) {
                return Err(ConfigError::Invalid {
                    var: "AUTH_TRUSTED_IP_HEADER",
                    reason:
                        "must be a single-valued header the proxy overwrites (e.g. x-real-ip); \
                             for X-Forwarded-For set AUTH_TRUSTED_PROXIES instead"
                            .into(),
                });
            }
            config.trusted_ip_header = Some(name);
        }
        if let Some(v) = get("AUTH_TRUSTED_PROXIES") {
            config.trusted_proxies = v.parse().map_err(|reason| ConfigError::Invalid {
                var: "AUTH_TRUSTED_PROXIES",
                reason,
            })?;
        }
        if let Some(v) = get(crate::keys::KEK_VAR) {
            let key = crate::keys::KeyEncryptionKey::from_base64(&v).map_err(|reason| {
                ConfigError::Invalid {
                    var: crate::keys::KEK_VAR,
                    reason,
                }
            })?;
            config.key_encryption_key = Some(key);
        }
        if let Some(v) = get("AUTH_MAX_CONCURRENT_HASHES") {
            let n = parse_positive(
                &v,
                "AUTH_MAX_CONCURRENT_HASHES",
                MAX_CONCURRENT_HASHES_LIMIT,
            )?;
            config.max_concurrent_hashes = usize::try_from(n).unwrap_or(1);
        }
        config.max_queued_hashes = match get("AUTH_MAX_QUEUED_HASHES") {
            Some(v) => {
                let n = parse_between(&v, "AUTH_MAX_QUEUED_HASHES", 0, MAX_QUEUED_HASHES_LIMIT)?;
                usize::try_from(n).unwrap_or(0)
            }
            None => QUEUED_HASHES_PER_PERMIT * config.max_concurrent_hashes,
        };
        let limits = &mut config.rate_limit;
        for (var, field) in [
            (
                "AUTH_SIGN_UP_LIMIT_PER_ADDRESS",
                &mut limits.sign_up_per_address,
            ),
            ("AUTH_SIGN_UP_LIMIT_GLOBAL", &mut limits.sign_up_global),
        ] {
            if let Some(v) = get(var) {
                *field = parse_positive(&v, var, u64::from(u16::MAX))? as u32;
            }
        }
        if let Some(v) = get("AUTH_SIGN_UP_WINDOW_SECS") {
            let secs = parse_positive(&v, "AUTH_SIGN_UP_WINDOW_SECS", 7 * 24 * 3600)?;
            limits.sign_up_window = Duration::from_secs(secs);
        }
        if let Some(v) = get("AUTH_PWNED_PASSWORDS_URL") {
            config.pwned_passwords_url = Some(crate::password_policy::parse_pwned_url(&v)?);
        }
        if let Some(v) = get("AUTH_EMAIL_VERIFICATION") {
            config.email_verification = v.parse().map_err(|reason| ConfigError::Invalid {
                var: "AUTH_EMAIL_VERIFICATION",
                reason,
            })?;
        }
        if let Some(v) = get("AUTH_EMAIL_CODE_SIGN_IN") {
            config.email_code_sign_in = match v.trim().to_ascii_lowercase().as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: "AUTH_EMAIL_CODE_SIGN_IN",
                        reason: "must be on or off".into(),
                    });
                }
            };
        }
        config.mail = crate::mail::MailSettings::from_lookup(&get)?;
        config.oauth_providers = crate::OAuthProvider::from_lookup(get)?;
        config.check_mail_is_possible(!cfg!(debug_assertions))?;
        if config.session_token_ttl >= config.session_ttl {
            return Err(ConfigError::Invalid {
                var: "AUTH_SESSION_TOKEN_TTL_SECS",
                reason: "must be shorter than AUTH_SESSION_MAX_AGE_SECS".into(),
            });
        }
        if config.session_token_ttl >= config.session_idle_timeout {
            return Err(ConfigError::Invalid {
                var: "AUTH_SESSION_TOKEN_TTL_SECS",
                reason: "must be shorter than AUTH_SESSION_IDLE_TIMEOUT_SECS".into(),
            });
        }
        Ok(config)
    }

    /// A release build has no dev mailbox: settings that cannot work without mail (verification
    /// `required`, email-code sign-in) need `AUTH_SMTP_URL`, or no one could ever sign in.
    fn check_mail_is_possible(&self, release: bool) -> Result<(), ConfigError> {
        if !release || self.mail.smtp_url.is_some() {
            return Ok(());
        }
        let needs = if self.email_verification == EmailVerification::Required {
            "AUTH_EMAIL_VERIFICATION=required"
        } else if self.email_code_sign_in {
            "AUTH_EMAIL_CODE_SIGN_IN=on"
        } else {
            return Ok(());
        };
        Err(ConfigError::Invalid {
            var: "AUTH_SMTP_URL",
            reason: format!(
                "must be set with {needs}: a release build cannot send the codes any other way"
            ),
        })
    }

    /// The session's absolute and idle lifetimes and the rotation grace. An unset idle timeout is
    /// the default capped at the max age (so `AUTH_SESSION_MAX_AGE_SECS=43200` alone is valid);
    /// a set one must not exceed it.
    fn read_session_lifetimes(
        &mut self,
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let max_age = match (
            get("AUTH_SESSION_MAX_AGE_SECS"),
            get("AUTH_SESSION_TTL_DAYS"),
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    var: "AUTH_SESSION_TTL_DAYS",
                    reason: "is a deprecated alias of AUTH_SESSION_MAX_AGE_SECS; set only \
                             AUTH_SESSION_MAX_AGE_SECS"
                        .into(),
                });
            }
            (Some(v), None) => Some(parse_between(
                &v,
                "AUTH_SESSION_MAX_AGE_SECS",
                MIN_SESSION_SECS,
                MAX_SESSION_SECS,
            )?),
            (None, Some(v)) => {
                tracing::warn!(
                    "AUTH_SESSION_TTL_DAYS is deprecated: set AUTH_SESSION_MAX_AGE_SECS (seconds)"
                );
                Some(parse_positive(&v, "AUTH_SESSION_TTL_DAYS", 3650)? * 24 * 3600)
            }
            (None, None) => None,
        };
        if let Some(secs) = max_age {
            self.session_ttl = Duration::from_secs(secs);
        }
        match get("AUTH_SESSION_IDLE_TIMEOUT_SECS") {
            Some(v) => {
                let secs = parse_between(
                    &v,
                    "AUTH_SESSION_IDLE_TIMEOUT_SECS",
                    MIN_SESSION_SECS,
                    MAX_SESSION_SECS,
                )?;
                if secs > self.session_ttl.as_secs() {
                    return Err(ConfigError::Invalid {
                        var: "AUTH_SESSION_IDLE_TIMEOUT_SECS",
                        reason: "must not exceed AUTH_SESSION_MAX_AGE_SECS".into(),
                    });
                }
                self.session_idle_timeout = Duration::from_secs(secs);
            }
            None => self.session_idle_timeout = self.session_idle_timeout.min(self.session_ttl),
        }
        if let Some(v) = get("AUTH_SESSION_REFRESH_GRACE_SECS") {
            let secs = parse_positive(
                &v,
                "AUTH_SESSION_REFRESH_GRACE_SECS",
                MAX_REFRESH_GRACE_SECS,
            )?;
            self.refresh_grace = Duration::from_secs(secs);
        }
        Ok(())
    }

    /// Sets the session token lifetime.
    pub fn with_session_token_ttl(mut self, ttl: Duration) -> Self {
        self.session_token_ttl = ttl;
        self
    }

    /// Sets the session's absolute lifetime (and caps the idle timeout at it).
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self.session_idle_timeout = self.session_idle_timeout.min(ttl);
        self
    }

    /// Sets the session's idle timeout.
    pub fn with_session_idle_timeout(mut self, timeout: Duration) -> Self {
        self.session_idle_timeout = timeout;
        self
    }

    /// Sets how long a rotated-out refresh secret is still accepted.
    pub fn with_refresh_grace(mut self, grace: Duration) -> Self {
        self.refresh_grace = grace;
        self
    }

    /// Sets the issuer.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Sets the password hashing cost (tests may lower it; production should not).
    pub fn with_password_params(mut self, params: PasswordParams) -> Self {
        self.password = params;
        self
    }

    /// Sets the sign-in throttling.
    pub fn with_rate_limit(mut self, rate_limit: RateLimitConfig) -> Self {
        self.rate_limit = rate_limit;
        self
    }

    /// Trusts the reverse proxies in front of the app (`X-Forwarded-For`, read from the right).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Bounds the hashes waiting for a running one (past it: 503 at once).
    pub fn with_max_queued_hashes(mut self, queued: usize) -> Self {
        self.max_queued_hashes = queued;
        self
    }

    /// Trusts a proxy-set header for the client address.
    pub fn with_trusted_ip_header(mut self, header: http::HeaderName) -> Self {
        self.trusted_ip_header = Some(header);
        self
    }

    /// Sets the largest accepted request body.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets how often instances re-read the signing keys and the JWKS `max-age`, the two parts
    /// of [`key_activation_delay`](Self::key_activation_delay) (tests shorten them).
    pub fn with_key_timing(mut self, reload_interval: Duration, jwks_max_age: Duration) -> Self {
        self.key_reload_interval = reload_interval;
        self.jwks_max_age = jwks_max_age;
        self
    }

    /// Encrypts the private signing keys at rest with `key` (see `AUTH_KEY_ENCRYPTION_KEY`).
    pub fn with_key_encryption_key(mut self, key: crate::keys::KeyEncryptionKey) -> Self {
        self.key_encryption_key = Some(key);
        self
    }

    /// The key reload interval in effect (at least 100 ms).
    pub fn effective_key_reload_interval(&self) -> Duration {
        self.key_reload_interval.max(MIN_KEY_RELOAD_INTERVAL)
    }

    /// How long after a rotation the new key starts signing: key reload interval + JWKS
    /// `max-age` (70 s by default). By then every instance has re-read the keys (its verifier
    /// knows the new key) and every JWKS cache that honours `max-age` has refetched, so no
    /// verifier refuses a token signed with it.
    pub fn key_activation_delay(&self) -> Duration {
        self.effective_key_reload_interval() + self.jwks_max_age
    }

    /// Turns on the breached-password check against the Pwned Passwords range API at `url`
    /// (validated like `AUTH_PWNED_PASSWORDS_URL`), each request bounded by `timeout`.
    pub fn with_pwned_passwords(
        mut self,
        url: &str,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        self.pwned_passwords_url = Some(crate::password_policy::parse_pwned_url(url)?);
        self.pwned_passwords_timeout = timeout;
        Ok(self)
    }

    /// Whether cookies get the `Secure` attribute.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The app's own origin, e.g. `https://app.example.com`.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    /// Absolute URL for a path under the public URL.
    pub(crate) fn public_url_for(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }
}

impl std::fmt::Debug for IdpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpConfig")
            .field("database_url", &redact_password(&self.database_url))
            .field("public_url", &self.public_url.as_str())
            .field("issuer", &self.issuer)
            .field("session_token_ttl", &self.session_token_ttl)
            .field("session_ttl", &self.session_ttl)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("refresh_grace", &self.refresh_grace)
            .field("trusted_ip_header", &self.trusted_ip_header)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("max_queued_hashes", &self.max_queued_hashes)
            .field("password", &self.password)
            .field("max_concurrent_hashes", &self.max_concurrent_hashes)
            .field("rate_limit", &self.rate_limit)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("sign_in_path", &self.sign_in_path)
            .field("sign_up_path", &self.sign_up_path)
            .field("leeway", &self.leeway)
            .field("max_connections", &self.max_connections)
            .field("key_reload_interval", &self.key_reload_interval)
            .field("jwks_max_age", &self.jwks_max_age)
            .field("key_encryption_key", &self.key_encryption_key)
            .field(
                "pwned_passwords_url",
                &self.pwned_passwords_url.as_ref().map(Url::as_str),
            )
            .field("pwned_passwords_timeout", &self.pwned_passwords_timeout)
            .field("email_verification", &self.email_verification)
            .field("email_code_sign_in", &self.email_code_sign_in)
            .field(
                "smtp_url",
                &self.mail.smtp_url.as_deref().map(redact_password),
            )
            .field("email_from", &self.mail.from)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_password(raw: &str) -> String {
    Url::parse(raw).map_or_else(|_| raw.to_owned(), |url| redact_url(&url))
}

/// `url` with its password (if any) replaced by `***`: for logs, `Debug` and error messages.
pub(crate) fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// Whether a settings URL points at this machine (`localhost` or a loopback address), where
/// plain http (or SMTP) is allowed. Hosts of non-special schemes (`smtp:`) are opaque strings
/// to the url crate, so an address written there is parsed here.
pub(crate) fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn parse_public_url(raw: &str) -> Result<Url, ConfigError> {
    let invalid = || ConfigError::Invalid {
        var: "AUTH_PUBLIC_URL",
        reason: "must be an http:// or https:// URL with a host".into(),
    };
    let url = Url::parse(raw.trim()).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid());
    }
    Ok(url)
}

/// Default `AUTH_MAX_QUEUED_HASHES` per concurrent hash: a waiting hash waits at most about this
/// many hash durations (~30 ms each at the default cost).
const QUEUED_HASHES_PER_PERMIT: usize = 16;

/// Largest accepted `AUTH_MAX_QUEUED_HASHES` (a waiting hash holds its request's body).
const MAX_QUEUED_HASHES_LIMIT: u64 = 65_536;

/// The shortest key reload interval used, whatever is configured (a zero interval would spin).
pub(crate) const MIN_KEY_RELOAD_INTERVAL: Duration = Duration::from_millis(100);

/// Largest accepted `AUTH_MAX_CONCURRENT_HASHES` (each one may hold its argon2 memory).
const MAX_CONCURRENT_HASHES_LIMIT: u64 = 256;

/// Default number of concurrent password hashes: half the cores, at least one.
///
/// A hash is ~30 ms of one core at the default cost. With a permit per core, a burst of sign-ins
/// takes every core and the requests of signed-in users wait behind it (protected-route p99 ×3.6
/// during 64 concurrent sign-ins on 2 cores); with half, the other half keeps serving requests,
/// at the price of half the peak sign-in throughput. Fewer permits also mean less memory during a
/// burst: each running hash holds one argon2 buffer. `AUTH_MAX_CONCURRENT_HASHES` overrides it (e.g. the core count on a
/// server that mostly signs people in).
fn default_max_concurrent_hashes() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

fn parse_positive(value: &str, name: &'static str, max: u64) -> Result<u64, ConfigError> {
    parse_between(value, name, 1, max)
}

fn parse_between(value: &str, name: &'static str, min: u64, max: u64) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(ConfigError::Invalid {
            var: name,
            reason: format!("must be a whole number from {min} to {max}"),
        }),
    }
}

/// Default absolute session lifetime: 30 days.
const DEFAULT_SESSION_MAX_AGE_SECS: u64 = 30 * 24 * 3600;
/// Default idle timeout: 7 days.
const DEFAULT_SESSION_IDLE_TIMEOUT_SECS: u64 = 7 * 24 * 3600;
/// Default rotation grace: long enough for tabs that refresh at the same moment, short enough
/// that a stolen, rotated-out secret is soon worthless.
const DEFAULT_REFRESH_GRACE_SECS: u64 = 30;
/// Longest accepted rotation grace (5 minutes).
const MAX_REFRESH_GRACE_SECS: u64 = 300;
/// Session lifetimes: at least a minute (activity is recorded once a minute), at most 10 years.
const MIN_SESSION_SECS: u64 = 60;
const MAX_SESSION_SECS: u64 = 3650 * 24 * 3600;

#[cfg(test)]
mod tests {
    use super::*;
    use auth_server::DEFAULT_PUBLIC_URL;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn mail_settings_that_need_smtp_refuse_a_release_without_it() {
        let mut config = IdpConfig::new("sqlite::memory:", "http://localhost:8080").unwrap();
        assert!(
            config.check_mail_is_possible(true).is_ok(),
            "optional needs no SMTP"
        );
        config.email_verification = EmailVerification::Required;
        let err = config.check_mail_is_possible(true).unwrap_err().to_string();
        assert!(
            err.contains("AUTH_SMTP_URL") && err.contains("required"),
            "{err}"
        );
        assert!(
            config.check_mail_is_possible(false).is_ok(),
            "debug builds have the mailbox"
        );
        config.email_verification = EmailVerification::Off;
        config.email_code_sign_in = true;
        let err = config.check_mail_is_possible(true).unwrap_err().to_string();
        assert!(err.contains("AUTH_EMAIL_CODE_SIGN_IN"), "{err}");
        config.mail.smtp_url = Some("smtp://127.0.0.1:2525".into());
        assert!(config.check_mail_is_possible(true).is_ok());
    }

    #[test]
    fn email_settings_are_validated() {
        let c = IdpConfig::from_lookup(lookup(&[
            ("AUTH_EMAIL_VERIFICATION", "Required"),
            ("AUTH_EMAIL_CODE_SIGN_IN", "on"),
        ]))
        .unwrap();
        assert_eq!(c.email_verification, EmailVerification::Required);
        assert!(c.email_code_sign_in);
        for (var, bad) in [
            ("AUTH_EMAIL_VERIFICATION", "sometimes"),
            ("AUTH_EMAIL_CODE_SIGN_IN", "maybe"),
        ] {
            let err = IdpConfig::from_lookup(lookup(&[(var, bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(var), "{err}");
        }
    }

    #[test]
    fn defaults() {
        let c = IdpConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.public_origin(), "http://127.0.0.1:8080");
        assert_eq!(c.session_token_ttl, Duration::from_secs(60));
        assert_eq!(c.session_ttl, Duration::from_secs(30 * 86400));
        assert!(!c.secure_cookies());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(c.max_concurrent_hashes, (cores / 2).max(1));
    }

    #[test]
    fn loopback_hosts_of_special_and_opaque_urls() {
        for url in [
            "http://localhost:1/",
            "http://127.0.0.1/",
            "http://[::1]/",
            "smtp://127.0.0.1:2525",
            "smtp://LOCALHOST:25",
            "smtp://[::1]:25",
        ] {
            assert!(is_loopback_host(&Url::parse(url).unwrap()), "{url}");
        }
        for url in [
            "https://example.com/",
            "smtp://10.0.0.1:25",
            "smtp://mail.example.com",
        ] {
            assert!(!is_loopback_host(&Url::parse(url).unwrap()), "{url}");
        }
    }

    #[test]
    fn debug_hides_the_smtp_password() {
        let mut config = IdpConfig::new("sqlite::memory:", "http://localhost:8080").unwrap();
        config.mail.smtp_url = Some("smtps://mailer:hunter2@smtp.example.com:465".into());
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("smtp.example.com"),
            "{shown}"
        );
    }

    #[test]
    fn debug_hides_database_password() {
        let c =
            IdpConfig::new("postgres://app:s3cret@db.internal/app", DEFAULT_PUBLIC_URL).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://app:***@db.internal/app"));
    }

    #[test]
    fn reads_and_validates() {
        let c = IdpConfig::from_lookup(lookup(&[
            ("PUBLIC_URL", "https://app.example.com/"),
            ("AUTH_SESSION_TOKEN_TTL_SECS", "120"),
            ("AUTH_SESSION_TTL_DAYS", "7"),
            ("AUTH_TRUSTED_IP_HEADER", "X-Real-IP"),
            ("AUTH_MAX_CONCURRENT_HASHES", "3"),
        ]))
        .unwrap();
        assert!(c.secure_cookies());
        assert_eq!(c.issuer, "https://app.example.com");
        assert_eq!(c.session_token_ttl, Duration::from_secs(120));
        assert_eq!(c.trusted_ip_header.unwrap(), "x-real-ip");
        assert_eq!(c.max_concurrent_hashes, 3);

        for bad in [
            ("AUTH_PUBLIC_URL", "not a url"),
            ("AUTH_PUBLIC_URL", "ftp://x"),
            ("AUTH_SESSION_TOKEN_TTL_SECS", "0"),
            ("AUTH_SESSION_TOKEN_TTL_SECS", "abc"),
            ("AUTH_SESSION_TTL_DAYS", "-1"),
            ("DATABASE_URL", "mysql://x"),
            ("AUTH_TRUSTED_IP_HEADER", "bad header"),
            ("AUTH_MAX_CONCURRENT_HASHES", "0"),
            ("AUTH_MAX_CONCURRENT_HASHES", "many"),
        ] {
            let err = IdpConfig::from_lookup(lookup(&[bad])).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { .. }), "{bad:?}");
            assert!(
                err.to_string().contains(bad.0) || bad.0 == "DATABASE_URL",
                "{err}"
            );
        }
    }

    #[test]
    fn session_lifetimes() {
        let c = IdpConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.session_idle_timeout, Duration::from_secs(7 * 86400));
        assert_eq!(c.refresh_grace, Duration::from_secs(30));
        // The ASVS L2 recipe: 30 min idle, 12 h absolute.
        let c = IdpConfig::from_lookup(lookup(&[
            ("AUTH_SESSION_IDLE_TIMEOUT_SECS", "1800"),
            ("AUTH_SESSION_MAX_AGE_SECS", "43200"),
            ("AUTH_SESSION_REFRESH_GRACE_SECS", "10"),
        ]))
        .unwrap();
        assert_eq!(c.session_idle_timeout, Duration::from_secs(1800));
        assert_eq!(c.session_ttl, Duration::from_secs(43200));
        assert_eq!(c.refresh_grace, Duration::from_secs(10));
        // A max age alone caps the default idle timeout.
        let c = IdpConfig::from_lookup(lookup(&[("AUTH_SESSION_MAX_AGE_SECS", "3600")])).unwrap();
        assert_eq!(c.session_idle_timeout, Duration::from_secs(3600));
        // The deprecated alias still works.
        let c = IdpConfig::from_lookup(lookup(&[("AUTH_SESSION_TTL_DAYS", "2")])).unwrap();
        assert_eq!(c.session_ttl, Duration::from_secs(2 * 86400));
        assert_eq!(c.session_idle_timeout, Duration::from_secs(2 * 86400));

        for (bad, var) in [
            (
                vec![
                    ("AUTH_SESSION_MAX_AGE_SECS", "59"),
                    ("AUTH_SESSION_TOKEN_TTL_SECS", "10"),
                ],
                "AUTH_SESSION_MAX_AGE_SECS",
            ),
            (
                vec![("AUTH_SESSION_MAX_AGE_SECS", "x")],
                "AUTH_SESSION_MAX_AGE_SECS",
            ),
            (
                vec![("AUTH_SESSION_MAX_AGE_SECS", "315360001")],
                "AUTH_SESSION_MAX_AGE_SECS",
            ),
            (
                vec![("AUTH_SESSION_IDLE_TIMEOUT_SECS", "0")],
                "AUTH_SESSION_IDLE_TIMEOUT_SECS",
            ),
            (
                vec![("AUTH_SESSION_IDLE_TIMEOUT_SECS", "-5")],
                "AUTH_SESSION_IDLE_TIMEOUT_SECS",
            ),
            (
                vec![
                    ("AUTH_SESSION_MAX_AGE_SECS", "3600"),
                    ("AUTH_SESSION_IDLE_TIMEOUT_SECS", "3601"),
                ],
                "AUTH_SESSION_IDLE_TIMEOUT_SECS",
            ),
            (
                vec![
                    ("AUTH_SESSION_MAX_AGE_SECS", "3600"),
                    ("AUTH_SESSION_TTL_DAYS", "1"),
                ],
                "AUTH_SESSION_TTL_DAYS",
            ),
            (
                vec![
                    ("AUTH_SESSION_IDLE_TIMEOUT_SECS", "120"),
                    ("AUTH_SESSION_TOKEN_TTL_SECS", "120"),
                ],
                "AUTH_SESSION_TOKEN_TTL_SECS",
            ),
            (
                vec![
                    ("AUTH_SESSION_MAX_AGE_SECS", "600"),
                    ("AUTH_SESSION_TOKEN_TTL_SECS", "600"),
                ],
                "AUTH_SESSION_TOKEN_TTL_SECS",
            ),
            (
                vec![("AUTH_SESSION_REFRESH_GRACE_SECS", "0")],
                "AUTH_SESSION_REFRESH_GRACE_SECS",
            ),
            (
                vec![("AUTH_SESSION_REFRESH_GRACE_SECS", "301")],
                "AUTH_SESSION_REFRESH_GRACE_SECS",
            ),
        ] {
            let err = IdpConfig::from_lookup(lookup(&bad)).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { var: named, .. } if named == var),
                "{bad:?}: {err}"
            );
            assert!(err.to_string().contains(var), "{bad:?}: {err}");
        }
    }

    #[test]
    fn limits_settings() {
        let c = IdpConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.trusted_proxies, TrustedProxies::None);
        assert_eq!(c.max_queued_hashes, 16 * c.max_concurrent_hashes);
        assert_eq!(c.rate_limit, RateLimitConfig::default());
        assert_eq!(c.rate_limit.account_max_failures, 100);
        assert_eq!(c.rate_limit.account_window, Duration::from_secs(3600));

        let c = IdpConfig::from_lookup(lookup(&[
            ("AUTH_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7"),
            ("AUTH_MAX_CONCURRENT_HASHES", "2"),
            ("AUTH_SIGN_UP_LIMIT_PER_ADDRESS", "5"),
            ("AUTH_SIGN_UP_LIMIT_GLOBAL", "50"),
            ("AUTH_SIGN_UP_WINDOW_SECS", "600"),
        ]))
        .unwrap();
        assert!(matches!(&c.trusted_proxies, TrustedProxies::Cidrs(n) if n.len() == 2));
        assert_eq!(c.max_queued_hashes, 32, "follows the permits");
        assert_eq!(c.rate_limit.sign_up_per_address, 5);
        assert_eq!(c.rate_limit.sign_up_global, 50);
        assert_eq!(c.rate_limit.sign_up_window, Duration::from_secs(600));
        let c = IdpConfig::from_lookup(lookup(&[
            ("AUTH_TRUSTED_PROXIES", "2"),
            ("AUTH_MAX_QUEUED_HASHES", "0"),
        ]))
        .unwrap();
        assert_eq!(c.trusted_proxies, TrustedProxies::Hops(2));
        assert_eq!(c.max_queued_hashes, 0);

        for bad in [
            ("AUTH_TRUSTED_PROXIES", "0"),
            ("AUTH_TRUSTED_PROXIES", "99"),
            ("AUTH_TRUSTED_PROXIES", "10.0.0.0/40"),
            ("AUTH_TRUSTED_PROXIES", "my-proxy"),
            ("AUTH_TRUSTED_IP_HEADER", "x-forwarded-for"),
            ("AUTH_TRUSTED_IP_HEADER", "Forwarded"),
            ("AUTH_MAX_QUEUED_HASHES", "-1"),
            ("AUTH_MAX_QUEUED_HASHES", "1000000"),
            ("AUTH_SIGN_UP_LIMIT_PER_ADDRESS", "0"),
            ("AUTH_SIGN_UP_LIMIT_PER_ADDRESS", "70000"),
            ("AUTH_SIGN_UP_LIMIT_GLOBAL", "lots"),
            ("AUTH_SIGN_UP_WINDOW_SECS", "0"),
        ] {
            let err = IdpConfig::from_lookup(lookup(&[bad])).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { .. }), "{bad:?}");
            assert!(err.to_string().contains(bad.0), "{err}");
        }
    }

    #[test]
    fn key_encryption_key_is_validated() {
        let good = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let c = IdpConfig::from_lookup(lookup(&[("AUTH_KEY_ENCRYPTION_KEY", good)])).unwrap();
        assert!(c.key_encryption_key.is_some());
        assert!(!format!("{c:?}").contains(good), "Debug hides the key");
        let unset = IdpConfig::from_lookup(lookup(&[])).unwrap();
        assert!(unset.key_encryption_key.is_none());
        let too_long = "A".repeat(75) + "="; // 56 bytes
        for bad in [
            "c2hvcnQ=", // 5 bytes
            too_long.as_str(),
            "not base64 at all!",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=!",
        ] {
            let err =
                IdpConfig::from_lookup(lookup(&[("AUTH_KEY_ENCRYPTION_KEY", bad)])).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { .. }), "{bad:?}");
            let text = err.to_string();
            assert!(text.contains("AUTH_KEY_ENCRYPTION_KEY"), "{text}");
            assert!(text.contains("openssl rand -base64 32"), "{text}");
            assert!(!text.contains(bad), "the value is not echoed: {text}");
        }
    }

    #[test]
    fn key_activation_delay_is_reload_interval_plus_jwks_max_age() {
        let c = IdpConfig::new("sqlite::memory:", DEFAULT_PUBLIC_URL).unwrap();
        assert_eq!(c.key_activation_delay(), Duration::from_secs(70));
        let c = c.with_key_timing(Duration::from_secs(2), Duration::from_secs(5));
        assert_eq!(c.key_activation_delay(), Duration::from_secs(7));
        let c = c.with_key_timing(Duration::ZERO, Duration::ZERO);
        assert_eq!(c.key_activation_delay(), MIN_KEY_RELOAD_INTERVAL);
    }
}

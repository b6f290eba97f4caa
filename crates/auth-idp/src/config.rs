//! Settings of the identity provider: [`IdpConfig::from_env`] for the app, builder methods for tests.

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

/// Sign-in throttling: at most `max_failures` failed sign-ins per account and per client address
/// within a sliding `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Failures allowed within the window; the next attempt is refused with 429.
    pub max_failures: u32,
    /// The sliding window.
    pub window: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(15 * 60),
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
    /// `AUTH_SESSION_TTL_DAYS`: lifetime of a session and of its refresh cookie (default 30 days).
    pub session_ttl: Duration,
    /// `AUTH_TRUSTED_IP_HEADER`: a header set by a trusted reverse proxy holding the client
    /// address (first comma-separated value is used), e.g. `x-forwarded-for`.
    pub trusted_ip_header: Option<http::HeaderName>,
    /// Password hashing cost.
    pub password: PasswordParams,
    /// `AUTH_MAX_CONCURRENT_HASHES`: how many password hashes may run at once (default: half the
    /// cores, at least one: the other half keeps serving requests during a burst of sign-ins).
    /// Each running hash holds its argon2 memory (19 MiB by default).
    pub max_concurrent_hashes: usize,
    /// Sign-in throttling.
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
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            trusted_ip_header: None,
            password: PasswordParams::default(),
            max_concurrent_hashes: default_max_concurrent_hashes(),
            rate_limit: RateLimitConfig::default(),
            max_body_bytes: 16 * 1024,
            sign_in_path: auth_types::contract::paths::SIGN_IN_PAGE.to_owned(),
            sign_up_path: auth_types::contract::paths::SIGN_UP_PAGE.to_owned(),
            leeway: Duration::from_secs(60),
            max_connections: 10,
        })
    }

    /// Reads the settings from the process environment (see [`IdpConfig::from_lookup`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&AuthConfig::from_env()?, |name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a variable name → its value): `DATABASE_URL`,
    /// `AUTH_PUBLIC_URL` / `PUBLIC_URL`, `AUTH_ISSUER`, `AUTH_SESSION_TOKEN_TTL_SECS`,
    /// `AUTH_SESSION_TTL_DAYS`, `AUTH_TRUSTED_IP_HEADER`, `AUTH_MAX_CONCURRENT_HASHES`. Empty
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
        if let Some(v) = get("AUTH_SESSION_TTL_DAYS") {
            let days = parse_positive(&v, "AUTH_SESSION_TTL_DAYS", 3650)?;
            config.session_ttl = Duration::from_secs(days * 24 * 3600);
        }
        if let Some(v) = get("AUTH_TRUSTED_IP_HEADER") {
            let name = http::HeaderName::try_from(v.trim()).map_err(|_| ConfigError::Invalid {
                var: "AUTH_TRUSTED_IP_HEADER",
                reason: "not a valid header name".into(),
            })?;
            config.trusted_ip_header = Some(name);
        }
        if let Some(v) = get("AUTH_MAX_CONCURRENT_HASHES") {
            let n = parse_positive(
                &v,
                "AUTH_MAX_CONCURRENT_HASHES",
                MAX_CONCURRENT_HASHES_LIMIT,
            )?;
            config.max_concurrent_hashes = usize::try_from(n).unwrap_or(1);
        }
        if config.session_token_ttl >= config.session_ttl {
            return Err(ConfigError::Invalid {
                var: "AUTH_SESSION_TOKEN_TTL_SECS",
                reason: "must be shorter than AUTH_SESSION_TTL_DAYS".into(),
            });
        }
        Ok(config)
    }

    /// Sets the session token lifetime.
    pub fn with_session_token_ttl(mut self, ttl: Duration) -> Self {
        self.session_token_ttl = ttl;
        self
    }

    /// Sets the session (refresh cookie) lifetime.
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
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
            .field("trusted_ip_header", &self.trusted_ip_header)
            .field("password", &self.password)
            .field("max_concurrent_hashes", &self.max_concurrent_hashes)
            .field("rate_limit", &self.rate_limit)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("sign_in_path", &self.sign_in_path)
            .field("sign_up_path", &self.sign_up_path)
            .field("leeway", &self.leeway)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_password(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_owned(),
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
    match value.trim().parse::<u64>() {
        Ok(n) if n >= 1 && n <= max => Ok(n),
        _ => Err(ConfigError::Invalid {
            var: name,
            reason: format!("must be a whole number from 1 to {max}"),
        }),
    }
}

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
            ("AUTH_TRUSTED_IP_HEADER", "X-Forwarded-For"),
            ("AUTH_MAX_CONCURRENT_HASHES", "3"),
        ]))
        .unwrap();
        assert!(c.secure_cookies());
        assert_eq!(c.issuer, "https://app.example.com");
        assert_eq!(c.session_token_ttl, Duration::from_secs(120));
        assert_eq!(c.trusted_ip_header.unwrap(), "x-forwarded-for");
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
}

//! Settings ([`AuthConfig`]): from the environment, validated at start-up, or built in code.

use crate::error::ConfigError;
use crate::keys::{CacheConfig, is_allowed_url};
use jsonwebtoken::Algorithm;
use std::str::FromStr;
use std::time::Duration;

/// Where the verification keys come from.
///
/// ```
/// use auth_server::KeySource;
/// let source = KeySource::JwksUrl("https://issuer.example/.well-known/jwks.json".into());
/// # let _ = source;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// `AUTH_PROVIDER=embedded`: the embedded identity provider hands its public keys over in code
    /// ([`KeyStore::static_set`](crate::KeyStore::static_set), [`KeyStore::replace`](crate::KeyStore::replace)).
    Embedded,
    /// A PEM public key (`AUTH_PUBLIC_KEY`): no network at all.
    PublicKeyPem(String),
    /// A JWKS URL (`AUTH_JWKS_URL`).
    JwksUrl(String),
    /// OpenID Connect discovery from the issuer, falling back to `{issuer}/.well-known/jwks.json`.
    Discovery,
}

/// The verification settings.
///
/// Read by [`AuthConfig::from_env`] from these variables (all optional unless noted):
///
/// | variable | meaning | default |
/// | --- | --- | --- |
/// | `AUTH_PROVIDER` | `embedded` (keys from the embedded identity provider) or `jwks` (an external OIDC issuer: Clerk, Auth0, Keycloak, …) | `embedded` |
/// | `AUTH_ISSUER` | the exact `iss` of the tokens (a trailing `/` is ignored); required for `jwks` | — |
/// | `AUTH_JWKS_URL` | where the issuer's public keys are | discovery (`{issuer}/.well-known/openid-configuration` → `jwks_uri`), falling back to `{issuer}/.well-known/jwks.json` |
/// | `AUTH_PUBLIC_KEY` | a PEM public key (RSA, P-256/P-384 or Ed25519) instead of a URL: networkless; `\n` escapes are accepted | — |
/// | `AUTH_AUDIENCE` | comma list; when set, `aud` must contain one of them. With `jwks`, this or `AUTH_AUTHORIZED_PARTIES` is required (RFC 8725 §3.9) | — |
/// | `AUTH_AUTHORIZED_PARTIES` | comma list; when set, an `azp` claim must be one of them | not checked |
/// | `AUTH_ALGORITHMS` | comma list, an allow-list among `ES256`, `ES384`, `EdDSA`, `RS256`, `RS384`, `RS512`, `PS256`, `PS384`, `PS512` | `ES256,EdDSA,RS256,RS384,RS512` |
/// | `AUTH_CLOCK_SKEW_SECS` | leeway for `exp`, `nbf` and `iat`, 0–300 | `5` |
/// | `AUTH_JWKS_CACHE_TTL_SECS` | keys older than this are refreshed in the background | `600` |
/// | `AUTH_JWKS_COOLDOWN_SECS` | at most one refetch per this many seconds for unknown key ids or failures | `30` |
/// | `AUTH_JWKS_MAX_STALE_SECS` | keep using fetched keys this long while the endpoint fails | `86400` |
/// | `AUTH_JWKS_TIMEOUT_SECS` | timeout of one fetch | `5` |
///
/// Build it from the environment with [`AuthConfig::from_env`], or in code:
///
/// ```
/// use auth_server::AuthConfig;
/// let config = AuthConfig::jwks("https://clerk.example.com")
///     .with_authorized_parties(["https://app.example.com"])
///     .with_leeway_secs(10);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Where the keys come from.
    pub key_source: KeySource,
    /// The expected `iss` (required to build a [`Verifier`](crate::Verifier)).
    pub issuer: Option<String>,
    /// When non-empty, `aud` is required and must contain one of these. An external issuer
    /// needs this or [`authorized_parties`](Self::authorized_parties).
    pub audiences: Vec<String>,
    /// When non-empty, an `azp` claim (if present) must be one of these.
    pub authorized_parties: Vec<String>,
    /// Allowed signature algorithms (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    /// Leeway for `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: u64,
    /// Remote key cache tuning.
    pub cache: CacheConfig,
    /// `AUTH_PUBLIC_URL` (or `PUBLIC_URL`): where the app is reached. Its origin is the only one
    /// allowed to make state-changing requests, and `https` makes the auth cookies `Secure`.
    pub public_url: String,
}

/// The app's URL when `AUTH_PUBLIC_URL` is not set: the address `dx serve` and the release server
/// listen on by default.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// `scheme://host[:port]` of an http(s) URL with a host, `None` for anything else.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
        .then(|| url.origin().ascii_serialization())
}

/// The default algorithm allow-list: ES256, EdDSA, RS256, RS384, RS512.
///
/// ```
/// assert!(auth_server::DEFAULT_ALGORITHMS.contains(&jsonwebtoken::Algorithm::EdDSA));
/// ```
pub const DEFAULT_ALGORITHMS: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
];

/// Largest accepted `AUTH_CLOCK_SKEW_SECS`.
const MAX_LEEWAY_SECS: u64 = 300;

impl AuthConfig {
    /// Settings for the embedded identity provider (no issuer yet: the provider sets it with
    /// [`with_issuer`](Self::with_issuer)).
    ///
    /// ```
    /// let config = auth_server::AuthConfig::embedded().with_issuer("http://localhost:8080");
    /// assert_eq!(config.issuer.as_deref(), Some("http://localhost:8080"));
    /// ```
    pub fn embedded() -> Self {
        Self {
            key_source: KeySource::Embedded,
            issuer: None,
            audiences: Vec::new(),
            authorized_parties: Vec::new(),
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            leeway_secs: 5,
            cache: CacheConfig::default(),
            public_url: DEFAULT_PUBLIC_URL.to_owned(),
        }
    }

    /// Sets the app's public URL (see [`public_url`](Self::public_url)).
    ///
    /// ```
    /// let config = auth_server::AuthConfig::jwks("https://clerk.example.com")
    ///     .with_public_url("https://app.example.com/");
    /// assert_eq!(config.public_origin(), "https://app.example.com");
    /// ```
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = url.into();
        self
    }

    /// The origin of [`public_url`](Self::public_url), e.g. `https://app.example.com`.
    pub fn public_origin(&self) -> String {
        origin_of(&self.public_url).unwrap_or_else(|| self.public_url.clone())
    }

    /// Settings for an external issuer, with keys found by OIDC discovery. Bind them to this app
    /// with [`with_audiences`](Self::with_audiences) or
    /// [`with_authorized_parties`](Self::with_authorized_parties): without either,
    /// [`validate`](Self::validate) (and so every verifier built from them) refuses them, because
    /// the issuer's tokens for its other apps would be accepted too (RFC 8725 §3.9).
    ///
    /// ```
    /// let unbound = auth_server::AuthConfig::jwks("https://dev-123.us.auth0.com/");
    /// assert!(unbound.validate().is_err());
    /// let config = auth_server::AuthConfig::jwks("https://dev-123.us.auth0.com/")
    ///     .with_audiences(["https://api.example.com"]);
    /// assert_eq!(config.key_source, auth_server::KeySource::Discovery);
    /// ```
    pub fn jwks(issuer: impl Into<String>) -> Self {
        Self {
            key_source: KeySource::Discovery,
            issuer: Some(issuer.into()),
            ..Self::embedded()
        }
    }

    /// Sets the expected issuer.
    ///
    /// ```
    /// let c = auth_server::AuthConfig::embedded().with_issuer("https://a.example");
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets the key source.
    ///
    /// ```
    /// use auth_server::{AuthConfig, KeySource};
    /// let c = AuthConfig::jwks("https://a.example")
    ///     .with_audiences(["api"])
    ///     .with_key_source(KeySource::JwksUrl("https://a.example/keys".into()));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn with_key_source(mut self, source: KeySource) -> Self {
        self.key_source = source;
        self
    }

    /// Requires `aud` to contain one of these.
    ///
    /// ```
    /// let c = auth_server::AuthConfig::jwks("https://a.example").with_audiences(["api"]);
    /// assert_eq!(c.audiences, ["api"]);
    /// ```
    pub fn with_audiences<I: IntoIterator<Item = S>, S: Into<String>>(mut self, aud: I) -> Self {
        self.audiences = aud.into_iter().map(Into::into).collect();
        self
    }

    /// Requires an `azp` claim, when present, to be one of these.
    ///
    /// ```
    /// let c = auth_server::AuthConfig::jwks("https://a.example")
    ///     .with_authorized_parties(["https://app.example"]);
    /// assert_eq!(c.authorized_parties.len(), 1);
    /// ```
    pub fn with_authorized_parties<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        parties: I,
    ) -> Self {
        self.authorized_parties = parties.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the algorithm allow-list.
    ///
    /// ```
    /// use jsonwebtoken::Algorithm;
    /// let c = auth_server::AuthConfig::jwks("https://a.example")
    ///     .with_audiences(["api"])
    ///     .with_algorithms([Algorithm::RS256]);
    /// assert!(c.validate().is_ok());
    /// let bad = c.with_algorithms([Algorithm::HS256]);
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn with_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Sets the leeway for `exp`, `nbf` and `iat`.
    ///
    /// ```
    /// let c = auth_server::AuthConfig::jwks("https://a.example").with_leeway_secs(0);
    /// assert_eq!(c.leeway_secs, 0);
    /// ```
    pub fn with_leeway_secs(mut self, secs: u64) -> Self {
        self.leeway_secs = secs;
        self
    }

    /// Sets the remote key cache tuning.
    ///
    /// ```
    /// let c = auth_server::AuthConfig::jwks("https://a.example")
    ///     .with_cache(auth_server::CacheConfig::default());
    /// # let _ = c;
    /// ```
    pub fn with_cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    /// Reads and validates the settings from the process environment (the variables are listed
    /// on [`AuthConfig`]).
    ///
    /// ```no_run
    /// let config = auth_server::AuthConfig::from_env().unwrap_or_else(|e| {
    ///     eprintln!("auth configuration: {e}");
    ///     std::process::exit(2);
    /// });
    /// # let _ = config;
    /// ```
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut non_unicode = None;
        let config = Self::from_lookup(|name| match std::env::var(name) {
            Ok(v) => Some(v),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                non_unicode.get_or_insert(name.to_owned());
                None
            }
        });
        if let Some(name) = non_unicode {
            return Err(ConfigError::Invalid {
                var: static_var(&name),
                reason: "not valid UTF-8".into(),
            });
        }
        config
    }

    /// Reads and validates the settings from any lookup function (a map in tests).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let env = HashMap::from([
    ///     ("AUTH_PROVIDER", "jwks"),
    ///     ("AUTH_ISSUER", "https://clerk.example.com"),
    ///     ("AUTH_AUDIENCE", "api, other"),
    /// ]);
    /// let config = auth_server::AuthConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
    /// assert_eq!(config.audiences, ["api", "other"]);
    /// ```
    pub fn from_lookup(lookup: impl FnMut(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut lookup = lookup;
        let mut get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let provider = get("AUTH_PROVIDER").map(|v| v.trim().to_ascii_lowercase());
        let jwks = match provider.as_deref() {
            None | Some("embedded") => false,
            Some("jwks") => true,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    var: "AUTH_PROVIDER",
                    reason: "expected `embedded` or `jwks`".into(),
                });
            }
        };

        let issuer = get("AUTH_ISSUER").map(|v| v.trim().to_owned());
        let jwks_url = get("AUTH_JWKS_URL").map(|v| v.trim().to_owned());
        let pem = get("AUTH_PUBLIC_KEY").map(|v| v.replace("\\n", "\n"));

        let mut config = if jwks {
            let issuer = issuer.ok_or(ConfigError::Missing {
                var: "AUTH_ISSUER",
                context: " when AUTH_PROVIDER=jwks (the exact `iss` of your issuer's tokens)",
            })?;
            let source = match (jwks_url, pem) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::Invalid {
                        var: "AUTH_PUBLIC_KEY",
                        reason: "set either AUTH_JWKS_URL or AUTH_PUBLIC_KEY, not both".into(),
                    });
                }
                (Some(url), None) => KeySource::JwksUrl(url),
                (None, Some(pem)) => KeySource::PublicKeyPem(pem),
                (None, None) => KeySource::Discovery,
            };
            Self::jwks(issuer).with_key_source(source)
        } else {
            for var in ["AUTH_JWKS_URL", "AUTH_PUBLIC_KEY"] {
                if get(var).is_some() {
                    return Err(ConfigError::Invalid {
                        var: static_var(var),
                        reason: "only used with AUTH_PROVIDER=jwks (AUTH_PROVIDER is `embedded`)"
                            .into(),
                    });
                }
            }
            let mut c = Self::embedded();
            c.issuer = issuer;
            c
        };

        if let Some(url) = get("AUTH_PUBLIC_URL").or_else(|| get("PUBLIC_URL")) {
            config.public_url = url.trim().to_owned();
        }
        config.audiences = list(get("AUTH_AUDIENCE"));
        config.authorized_parties = list(get("AUTH_AUTHORIZED_PARTIES"));
        if let Some(v) = get("AUTH_ALGORITHMS") {
            config.algorithms = list(Some(v))
                .iter()
                .map(|name| {
                    Algorithm::from_str(name).map_err(|_| ConfigError::Invalid {
                        var: "AUTH_ALGORITHMS",
                        reason: format!("unknown algorithm `{name}`"),
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = get("AUTH_CLOCK_SKEW_SECS") {
            config.leeway_secs = secs("AUTH_CLOCK_SKEW_SECS", &v)?;
        }
        let c = &mut config.cache;
        for (var, slot) in [
            ("AUTH_JWKS_CACHE_TTL_SECS", &mut c.ttl),
            ("AUTH_JWKS_COOLDOWN_SECS", &mut c.cooldown),
            ("AUTH_JWKS_MAX_STALE_SECS", &mut c.max_stale),
            ("AUTH_JWKS_TIMEOUT_SECS", &mut c.fetch_timeout),
        ] {
            if let Some(v) = get(var) {
                *slot = Duration::from_secs(secs(static_var(var), &v)?);
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings; every error names the variable to fix.
    ///
    /// ```
    /// let err = auth_server::AuthConfig::jwks("not a url").validate().unwrap_err();
    /// assert!(err.to_string().starts_with("AUTH_ISSUER is invalid"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(issuer) = &self.issuer {
            if issuer.trim().is_empty() {
                return Err(ConfigError::Missing {
                    var: "AUTH_ISSUER",
                    context: "",
                });
            }
            if self.key_source != KeySource::Embedded {
                check_url("AUTH_ISSUER", issuer)?;
            }
        } else if self.key_source != KeySource::Embedded {
            return Err(ConfigError::Missing {
                var: "AUTH_ISSUER",
                context: " when AUTH_PROVIDER=jwks (the exact `iss` of your issuer's tokens)",
            });
        }
        match &self.key_source {
            KeySource::JwksUrl(url) => check_url("AUTH_JWKS_URL", url)?,
            KeySource::PublicKeyPem(pem) => {
                if pem.contains("PRIVATE KEY") {
                    return Err(ConfigError::Invalid {
                        var: "AUTH_PUBLIC_KEY",
                        reason: "this is a private key; give the public key".into(),
                    });
                }
                // Parsed once, where the key store is built (`Verifier::from_config`).
                if !pem.contains("-----BEGIN") {
                    return Err(ConfigError::Invalid {
                        var: "AUTH_PUBLIC_KEY",
                        reason: "not a PEM public key (no -----BEGIN line)".into(),
                    });
                }
            }
            KeySource::Embedded | KeySource::Discovery => {}
        }
        if origin_of(&self.public_url).is_none() {
            return Err(ConfigError::Invalid {
                var: "AUTH_PUBLIC_URL",
                reason: "must be an http:// or https:// URL with a host".into(),
            });
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::Invalid {
                var: "AUTH_ALGORITHMS",
                reason: "the allow-list is empty".into(),
            });
        }
        if let Some(a) = self
            .algorithms
            .iter()
            .find(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(ConfigError::Invalid {
                var: "AUTH_ALGORITHMS",
                reason: format!(
                    "{a:?} is symmetric (HMAC); only public-key algorithms are allowed"
                ),
            });
        }
        if self.leeway_secs > MAX_LEEWAY_SECS {
            return Err(ConfigError::Invalid {
                var: "AUTH_CLOCK_SKEW_SECS",
                reason: format!("at most {MAX_LEEWAY_SECS} seconds"),
            });
        }
        if self.cache.fetch_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                var: "AUTH_JWKS_TIMEOUT_SECS",
                reason: "must be at least 1".into(),
            });
        }
        if self.cache.max_response_bytes == 0 {
            return Err(ConfigError::Invalid {
                var: "max_response_bytes",
                reason: "must be positive".into(),
            });
        }
        let bound = (self.audiences.iter())
            .chain(&self.authorized_parties)
            .any(|v| !v.trim().is_empty());
        if self.key_source != KeySource::Embedded && !bound {
            // RFC 8725 §3.9: an issuer signs tokens for all of its apps; without a binding to
            // this one, a token minted for another app of the same tenant would sign in here.
            return Err(ConfigError::Missing {
                var: "AUTH_AUDIENCE",
                context: " (or AUTH_AUTHORIZED_PARTIES) when AUTH_PROVIDER=jwks, so a token your \
                          issuer minted for another app is refused (RFC 8725 §3.9): Auth0 → \
                          AUTH_AUDIENCE=<API identifier>, Clerk → \
                          AUTH_AUTHORIZED_PARTIES=<your app's origins>",
            });
        }
        Ok(())
    }
}

/// Splits a comma list, trimming and dropping empty items.
fn list(v: Option<String>) -> Vec<String> {
    v.map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn secs(var: &'static str, v: &str) -> Result<u64, ConfigError> {
    v.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
        var,
        reason: "expected a whole number of seconds".into(),
    })
}

/// Fetched URLs must be `https`, except on loopback hosts (local development and tests).
pub(crate) fn check_url(var: &'static str, url: &str) -> Result<(), ConfigError> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| ConfigError::Invalid {
        var,
        reason: format!("not an absolute URL ({e})"),
    })?;
    if is_allowed_url(&parsed) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var,
            reason: "must be an https:// URL (http:// is only accepted for localhost)".into(),
        })
    }
}

fn static_var(name: &str) -> &'static str {
    const VARS: &[&str] = &[
        "AUTH_PROVIDER",
        "AUTH_PUBLIC_URL",
        "PUBLIC_URL",
        "AUTH_ISSUER",
        "AUTH_JWKS_URL",
        "AUTH_PUBLIC_KEY",
        "AUTH_AUDIENCE",
        "AUTH_AUTHORIZED_PARTIES",
        "AUTH_ALGORITHMS",
        "AUTH_CLOCK_SKEW_SECS",
        "AUTH_JWKS_CACHE_TTL_SECS",
        "AUTH_JWKS_COOLDOWN_SECS",
        "AUTH_JWKS_MAX_STALE_SECS",
        "AUTH_JWKS_TIMEOUT_SECS",
    ];
    VARS.iter()
        .find(|v| **v == name)
        .copied()
        .unwrap_or("AUTH_*")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<AuthConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AuthConfig::from_lookup(|k| map.get(k).cloned())
    }

    fn var_of(e: ConfigError) -> &'static str {
        match e {
            ConfigError::Missing { var, .. } | ConfigError::Invalid { var, .. } => var,
        }
    }

    #[test]
    fn defaults_to_embedded() {
        let c = from(&[]).unwrap();
        assert_eq!(c.key_source, KeySource::Embedded);
        assert_eq!(c.leeway_secs, 5);
        assert_eq!(c.cache, CacheConfig::default());
    }

    #[test]
    fn jwks_requires_issuer() {
        let e = from(&[("AUTH_PROVIDER", "jwks")]).unwrap_err();
        assert_eq!(var_of(e.clone()), "AUTH_ISSUER");
        assert!(e.to_string().contains("AUTH_PROVIDER=jwks"), "{e}");
    }

    /// RFC 8725 §3.9: an external issuer's tokens must be bound to this app, by `aud` or `azp`.
    #[test]
    fn jwks_requires_an_audience_or_authorized_parties() {
        let base = [
            ("AUTH_PROVIDER", "jwks"),
            ("AUTH_ISSUER", "https://i.example"),
        ];
        let e = from(&base).unwrap_err();
        assert_eq!(var_of(e.clone()), "AUTH_AUDIENCE");
        let text = e.to_string();
        assert!(
            text.contains("AUTH_AUDIENCE") && text.contains("AUTH_AUTHORIZED_PARTIES"),
            "{text}"
        );
        // Blank lists are no binding.
        let blank = [base.as_slice(), &[("AUTH_AUDIENCE", " , ")]].concat();
        assert_eq!(var_of(from(&blank).unwrap_err()), "AUTH_AUDIENCE");
        let aud = [base.as_slice(), &[("AUTH_AUDIENCE", "api")]].concat();
        assert_eq!(from(&aud).unwrap().audiences, ["api"]);
        let azp = [
            base.as_slice(),
            &[("AUTH_AUTHORIZED_PARTIES", "https://app.example")],
        ]
        .concat();
        assert_eq!(
            from(&azp).unwrap().authorized_parties,
            ["https://app.example"]
        );
        // The builder: no verifier without a binding; the embedded provider needs none (its
        // tokens are its own).
        let unbound = AuthConfig::jwks("https://i.example");
        assert_eq!(var_of(unbound.validate().unwrap_err()), "AUTH_AUDIENCE");
        assert!(crate::Verifier::from_config(&unbound).is_err());
        assert!(unbound.with_audiences(["api"]).validate().is_ok());
        assert!(
            AuthConfig::embedded()
                .with_issuer("https://i.example")
                .validate()
                .is_ok()
        );
        assert!(from(&[]).is_ok());
    }

    #[test]
    fn jwks_sources() {
        let c = from(&[
            ("AUTH_PROVIDER", "JWKS"),
            ("AUTH_ISSUER", "https://i.example"),
            ("AUTH_AUDIENCE", "api"),
        ])
        .unwrap();
        assert_eq!(c.key_source, KeySource::Discovery);
        let c = from(&[
            ("AUTH_PROVIDER", "jwks"),
            ("AUTH_ISSUER", "https://i.example"),
            ("AUTH_JWKS_URL", "https://i.example/keys"),
            (
                "AUTH_AUTHORIZED_PARTIES",
                "https://a.example,,https://b.example ",
            ),
            ("AUTH_CLOCK_SKEW_SECS", "30"),
            ("AUTH_JWKS_COOLDOWN_SECS", "2"),
        ])
        .unwrap();
        assert_eq!(
            c.key_source,
            KeySource::JwksUrl("https://i.example/keys".into())
        );
        assert_eq!(
            c.authorized_parties,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(c.leeway_secs, 30);
        assert_eq!(c.cache.cooldown, Duration::from_secs(2));
    }

    #[test]
    fn pem_source_is_parsed_and_escapes_accepted() {
        let pem = include_str!("../tests/fixtures/es256-a.pub.pem").replace('\n', "\\n");
        let c = from(&[
            ("AUTH_PROVIDER", "jwks"),
            ("AUTH_ISSUER", "https://i.example"),
            ("AUTH_PUBLIC_KEY", &pem),
            ("AUTH_AUDIENCE", "api"),
        ])
        .unwrap();
        assert!(matches!(c.key_source, KeySource::PublicKeyPem(_)));
    }

    #[test]
    fn errors_name_the_variable() {
        let base = [
            ("AUTH_PROVIDER", "jwks"),
            ("AUTH_ISSUER", "https://i.example"),
            ("AUTH_AUDIENCE", "api"),
        ];
        let cases: &[(&str, &str, &str)] = &[
            ("AUTH_PROVIDER", "ldap", "AUTH_PROVIDER"),
            ("AUTH_ISSUER", "ftp://x", "AUTH_ISSUER"),
            ("AUTH_ISSUER", "http://evil.example", "AUTH_ISSUER"),
            ("AUTH_JWKS_URL", "nope", "AUTH_JWKS_URL"),
            ("AUTH_PUBLIC_KEY", "not a pem", "AUTH_PUBLIC_KEY"),
            (
                "AUTH_PUBLIC_KEY",
                "-----BEGIN PRIVATE KEY-----",
                "AUTH_PUBLIC_KEY",
            ),
            ("AUTH_PUBLIC_URL", "ftp://app.example", "AUTH_PUBLIC_URL"),
            ("PUBLIC_URL", "not a url", "AUTH_PUBLIC_URL"),
            ("AUTH_ALGORITHMS", "HS256", "AUTH_ALGORITHMS"),
            ("AUTH_ALGORITHMS", "none", "AUTH_ALGORITHMS"),
            ("AUTH_CLOCK_SKEW_SECS", "-1", "AUTH_CLOCK_SKEW_SECS"),
            ("AUTH_CLOCK_SKEW_SECS", "3600", "AUTH_CLOCK_SKEW_SECS"),
            ("AUTH_JWKS_TIMEOUT_SECS", "0", "AUTH_JWKS_TIMEOUT_SECS"),
            (
                "AUTH_JWKS_CACHE_TTL_SECS",
                "ten",
                "AUTH_JWKS_CACHE_TTL_SECS",
            ),
        ];
        for (var, value, expected) in cases {
            let mut env: Vec<(&str, &str)> =
                base.iter().filter(|(k, _)| k != var).copied().collect();
            env.push((var, value));
            let e = from(&env).unwrap_err();
            assert!(e.to_string().contains(expected), "{var}={value}: {e}");
            assert_eq!(var_of(e), *expected);
        }
        // A PEM that looks like one but does not parse is refused where it is parsed (once):
        // building the verifier, which every start-up path does right after reading the settings.
        let mut env = base.to_vec();
        env.push(("AUTH_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----"));
        let config = from(&env).unwrap();
        let e = crate::Verifier::from_config(&config).unwrap_err();
        assert_eq!(var_of(e), "AUTH_PUBLIC_KEY");
        let e = from(&[
            ("AUTH_PROVIDER", "jwks"),
            ("AUTH_ISSUER", "https://i.example"),
            ("AUTH_JWKS_URL", "https://i.example/k"),
            ("AUTH_PUBLIC_KEY", "x"),
            ("AUTH_AUDIENCE", "api"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("not both"));
        let e = from(&[("AUTH_JWKS_URL", "https://i.example/k")]).unwrap_err();
        assert_eq!(var_of(e), "AUTH_JWKS_URL");
    }

    #[test]
    fn loopback_http_is_allowed() {
        assert!(check_url("X", "http://127.0.0.1:8080").is_ok());
        assert!(check_url("X", "http://localhost/").is_ok());
        assert!(check_url("X", "http://[::1]:1/").is_ok());
        assert!(check_url("X", "http://10.0.0.1/").is_err());
    }
}

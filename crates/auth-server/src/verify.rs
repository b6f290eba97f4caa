//! The [`Verifier`]: checks a session token and returns its claims.

use crate::config::{AuthConfig, KeySource};
use crate::error::{ConfigError, VerifyError};
use crate::extract::AuthContext;
use crate::keys::{KeyStore, VerifyingKey};
use crate::token::{MAX_TOKEN_BYTES, token_from_headers};
use auth_types::{AuthState, SessionClaims, SignedIn};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use jsonwebtoken::{Algorithm, Validation};
use lru::LruCache;
use serde_json::{Map, Value};
use std::num::NonZeroUsize;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

/// How many verified tokens are remembered. A signature check costs 50–400 µs; a hit costs a
/// map lookup. Bounded so a flood of distinct valid tokens only evicts, never grows memory
/// (at most a few MB with tokens near `MAX_TOKEN_BYTES`).
const VERIFIED_TOKENS: NonZeroUsize = NonZeroUsize::new(4096).unwrap();

/// Verifies session tokens: signature first (with an algorithm fixed by the configuration and by
/// the key's type), then `exp` (required), `nbf`, `iat`, `iss` (always), `aud` (when configured)
/// and `azp` (when configured). All cryptography and JWT parsing is `jsonwebtoken`'s.
///
/// Cheap to clone (an `Arc`).
///
/// * Tokens over [`MAX_TOKEN_BYTES`] are refused before decoding.
/// * `alg: none` and HMAC algorithms are never accepted (the allow-list cannot contain them, and a
///   public key never verifies them).
/// * `jku`, `x5u`, `jwk` and `x5c` headers are ignored: keys only come from the [`KeyStore`].
/// * `sub` must be a non-empty string; `azp`, when authorized parties are configured and the claim is
///   present, must be one of them (Clerk's rule: native apps may omit `azp`).
///
/// ```
/// use auth_server::{AuthConfig, KeyStore, Verifier};
/// use jsonwebtoken::jwk::JwkSet;
///
/// let config = AuthConfig::embedded().with_issuer("https://app.example");
/// let keys = KeyStore::static_set(JwkSet { keys: vec![] });
/// let verifier = Verifier::new(&config, keys).unwrap();
/// # let _ = verifier;
/// ```
#[derive(Clone, Debug)]
pub struct Verifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    keys: KeyStore,
    /// One prepared `Validation` per allowed algorithm.
    validations: Vec<(Algorithm, Validation)>,
    authorized_parties: Vec<String>,
    leeway: i64,
    /// Tokens that passed every check, keyed by the exact token string. Hashed with foldhash
    /// (randomly seeded), not SipHash: a lookup hashes a whole token on every request, and only
    /// tokens with a valid signature are ever inserted, so nobody can choose colliding keys.
    verified: Mutex<LruCache<String, Arc<Verified>, foldhash::fast::RandomState>>,
}

/// A remembered verification: valid while its key is still the store's key for that `kid`
/// (a rotation, removal or refetch forces a full check) and until `exp` (+ leeway).
struct Verified {
    /// Signed in, with the token's claims.
    context: AuthContext,
    kid: Option<String>,
    key: Arc<VerifyingKey>,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("sub", &self.context.claims().map(|c| &c.sub))
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The claims of a context built by [`Verifier::remember`] (always signed in).
fn owned_claims(context: AuthContext) -> Result<SessionClaims, VerifyError> {
    context
        .claims()
        .cloned()
        .ok_or(VerifyError::InvalidClaim("claims"))
}

#[derive(serde::Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

impl Verifier {
    /// A verifier with the given settings and keys. The settings must name the issuer.
    ///
    /// ```
    /// use auth_server::{AuthConfig, KeyStore, Verifier};
    /// let keys = KeyStore::static_set(jsonwebtoken::jwk::JwkSet { keys: vec![] });
    /// assert!(Verifier::new(&AuthConfig::embedded(), keys).is_err(), "no issuer");
    /// ```
    pub fn new(config: &AuthConfig, keys: KeyStore) -> Result<Self, ConfigError> {
        config.validate()?;
        let issuer = config.issuer.as_deref().ok_or(ConfigError::Missing {
            var: "AUTH_ISSUER",
            context: " (the issuer tokens are checked against)",
        })?;
        let trimmed = issuer.trim_end_matches('/');
        let issuers = [trimmed.to_owned(), format!("{trimmed}/")];
        let mut required = vec!["exp", "iss", "sub"];
        if !config.audiences.is_empty() {
            required.push("aud");
        }
        let validations = config
            .algorithms
            .iter()
            .map(|&alg| {
                let mut v = Validation::new(alg);
                v.leeway = config.leeway_secs;
                v.validate_exp = true;
                v.validate_nbf = true;
                v.set_issuer(&issuers);
                v.set_required_spec_claims(&required);
                if config.audiences.is_empty() {
                    v.validate_aud = false;
                } else {
                    v.set_audience(&config.audiences);
                }
                (alg, v)
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                keys,
                validations,
                authorized_parties: config.authorized_parties.clone(),
                leeway: i64::try_from(config.leeway_secs).unwrap_or(i64::MAX),
                verified: Mutex::new(LruCache::with_hasher(
                    VERIFIED_TOKENS,
                    foldhash::fast::RandomState::default(),
                )),
            }),
        })
    }

    /// A verifier whose keys come from the configuration: a PEM key, a JWKS URL or discovery.
    /// For `AUTH_PROVIDER=embedded` use [`Verifier::new`] with the identity provider's
    /// [`KeyStore::static_set`] instead (this returns an error naming `AUTH_PROVIDER`).
    ///
    /// ```
    /// let config = auth_server::AuthConfig::jwks("https://clerk.example.com")
    ///     .with_authorized_parties(["https://app.example.com"]);
    /// let verifier = auth_server::Verifier::from_config(&config).unwrap();
    /// # let _ = verifier;
    /// ```
    pub fn from_config(config: &AuthConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let keys = match &config.key_source {
            KeySource::Embedded => {
                return Err(ConfigError::Invalid {
                    var: "AUTH_PROVIDER",
                    reason: "`embedded`: the keys come from the embedded identity provider \
                             (Verifier::new with KeyStore::static_set)"
                        .into(),
                });
            }
            KeySource::PublicKeyPem(pem) => {
                KeyStore::from_pem(pem).map_err(|e| ConfigError::Invalid {
                    var: "AUTH_PUBLIC_KEY",
                    reason: e.to_string(),
                })?
            }
            KeySource::JwksUrl(url) => KeyStore::jwks_url(url.trim(), config.cache.clone()),
            KeySource::Discovery => KeyStore::discovery(
                config.issuer.clone().unwrap_or_default(),
                config.cache.clone(),
            ),
        };
        Self::new(config, keys)
    }

    /// The key store (to [`replace`](KeyStore::replace) keys or [`refresh`](KeyStore::refresh)).
    ///
    /// ```
    /// # let config = auth_server::AuthConfig::embedded().with_issuer("https://a.example");
    /// # let keys = auth_server::KeyStore::static_set(jsonwebtoken::jwk::JwkSet { keys: vec![] });
    /// let verifier = auth_server::Verifier::new(&config, keys).unwrap();
    /// assert!(verifier.key_store().is_empty());
    /// ```
    pub fn key_store(&self) -> &KeyStore {
        &self.inner.keys
    }

    /// Verifies a token. Fetches keys only when the `kid` is unknown (rate-limited and coalesced,
    /// see [`KeyStore`]); a known key never waits on the network.
    ///
    /// ```
    /// # async fn f(verifier: auth_server::Verifier) {
    /// match verifier.verify("eyJ...").await {
    ///     Ok(claims) => println!("user {}", claims.sub),
    ///     Err(reason) => tracing::debug!(%reason, "refused"),
    /// }
    /// # }
    /// ```
    pub async fn verify(&self, token: &str) -> Result<SessionClaims, VerifyError> {
        self.verify_context(token).await.and_then(owned_claims)
    }

    /// [`verify`](Self::verify) for the [`AuthLayer`](crate::AuthLayer): the signed-in
    /// [`AuthContext`] built once per distinct token, so a repeat token costs a cache lookup and
    /// an `Arc` clone, not a copy of its claims.
    pub(crate) async fn verify_context(&self, token: &str) -> Result<AuthContext, VerifyError> {
        // A repeat token still asks the key store for its key, so a stale JWKS is refreshed in the
        // background exactly as on a first sight.
        if let Some(hit) = self.recall(token) {
            let current = self.inner.keys.get(hit.kid.as_deref()).await;
            if let Some(context) = self.still_valid(token, &hit, current) {
                return Ok(context);
            }
        }
        let (header, alg) = self.precheck(token)?;
        let key = self.inner.keys.get(header.kid.as_deref()).await?;
        let claims = self.finish(token, alg, &key)?;
        Ok(self.remember(token, header.kid, key, claims))
    }

    /// Like [`verify`](Self::verify) but never touches the network: an unknown `kid` is
    /// [`VerifyError::UnknownKey`]. For synchronous contexts and benchmarks.
    ///
    /// ```
    /// # fn f(verifier: auth_server::Verifier) {
    /// assert!(verifier.verify_cached("not.a.token").is_err());
    /// # }
    /// ```
    pub fn verify_cached(&self, token: &str) -> Result<SessionClaims, VerifyError> {
        if let Some(hit) = self.recall(token) {
            let current = self.inner.keys.cached(hit.kid.as_deref());
            if let Some(context) = self.still_valid(token, &hit, current) {
                return owned_claims(context);
            }
        }
        let (header, alg) = self.precheck(token)?;
        let key = self.inner.keys.cached(header.kid.as_deref())?;
        let claims = self.finish(token, alg, &key)?;
        owned_claims(self.remember(token, header.kid, key, claims))
    }

    /// A token verified before.
    fn recall(&self, token: &str) -> Option<Arc<Verified>> {
        let mut cache = self
            .inner
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache.get(token).cloned()
    }

    /// A remembered verification holds while the store's current key for the `kid` is the very
    /// key that checked the token (the set is usable, nothing rotated or removed) and `exp` (plus
    /// leeway) has not passed. Otherwise the entry is dropped and the caller runs the full check.
    fn still_valid(
        &self,
        token: &str,
        hit: &Verified,
        current: Result<Arc<VerifyingKey>, VerifyError>,
    ) -> Option<AuthContext> {
        let key_current = current.is_ok_and(|key| Arc::ptr_eq(&key, &hit.key));
        let exp = hit.context.claims().map_or(i64::MIN, |c| c.exp);
        if key_current && unix_now() <= exp.saturating_add(self.inner.leeway) {
            return Some(hit.context.clone());
        }
        self.inner
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop(token);
        None
    }

    fn remember(
        &self,
        token: &str,
        kid: Option<String>,
        key: Arc<VerifyingKey>,
        claims: SessionClaims,
    ) -> AuthContext {
        let context = AuthContext::from_token(token, claims);
        let entry = Arc::new(Verified {
            context: context.clone(),
            kid,
            key,
        });
        self.inner
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(token.to_owned(), entry);
        context
    }

    /// Finds the request's token ([`token_from_headers`]) and verifies it.
    ///
    /// ```
    /// # async fn f(verifier: auth_server::Verifier, headers: http::HeaderMap) {
    /// let claims = verifier.authenticate(&headers).await;
    /// # }
    /// ```
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<SessionClaims, VerifyError> {
        let (token, _) = token_from_headers(headers).ok_or(VerifyError::MissingToken)?;
        self.verify(token).await
    }

    /// The request's [`AuthState`]: signed in with a valid token, otherwise signed out (the
    /// reason is logged at debug level). Prefer the [`AuthLayer`](crate::AuthLayer), which does
    /// this once per request.
    ///
    /// ```
    /// # async fn f(verifier: auth_server::Verifier) {
    /// let state = verifier.auth_state(&http::HeaderMap::new()).await;
    /// assert!(!state.is_signed_in());
    /// # }
    /// ```
    pub async fn auth_state(&self, headers: &HeaderMap) -> AuthState {
        match self.authenticate(headers).await {
            Ok(claims) => AuthState::SignedIn(SignedIn::from(&claims)),
            Err(reason) => {
                tracing::debug!(%reason, "request is signed out");
                AuthState::SignedOut
            }
        }
    }

    /// Size, shape, header and algorithm checks: everything before the key lookup.
    fn precheck(&self, token: &str) -> Result<(RawHeader, Algorithm), VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed);
        };
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| VerifyError::Malformed)?;
        let header: RawHeader =
            serde_json::from_slice(&header).map_err(|_| VerifyError::Malformed)?;
        let alg = Algorithm::from_str(&header.alg).map_err(|_| VerifyError::AlgorithmNotAllowed)?;
        if !self.inner.validations.iter().any(|(a, _)| *a == alg) {
            return Err(VerifyError::AlgorithmNotAllowed);
        }
        Ok((header, alg))
    }

    fn finish(
        &self,
        token: &str,
        alg: Algorithm,
        key: &VerifyingKey,
    ) -> Result<SessionClaims, VerifyError> {
        if !key.algorithms.contains(&alg) {
            return Err(VerifyError::AlgorithmNotAllowed);
        }
        let validation = self
            .inner
            .validations
            .iter()
            .find_map(|(a, v)| (*a == alg).then_some(v))
            .ok_or(VerifyError::AlgorithmNotAllowed)?;
        // Signature, then exp/nbf/iss/aud, all in jsonwebtoken.
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, validation)
            .map_err(|e| VerifyError::from_jwt(&e))?;
        let claims = data.claims;
        // `"sub": ""` names nobody: refused like a missing `sub`, never a user with an empty id.
        if claims
            .get("sub")
            .and_then(Value::as_str)
            .is_none_or(|sub| sub.trim().is_empty())
        {
            return Err(VerifyError::InvalidClaim("sub"));
        }
        reject_duplicate_claims(token)?;
        self.check_iat(&claims)?;
        self.check_azp(&claims)?;
        serde_json::from_value::<SessionClaims>(Value::Object(claims))
            .map_err(|_| VerifyError::InvalidClaim("claims"))
    }

    fn check_iat(&self, claims: &Map<String, Value>) -> Result<(), VerifyError> {
        let Some(iat) = claims.get("iat") else {
            return Ok(());
        };
        let iat = iat.as_i64().ok_or(VerifyError::InvalidClaim("iat"))?;
        let now = unix_now();
        if iat > now.saturating_add(self.inner.leeway) {
            return Err(VerifyError::IssuedInFuture);
        }
        Ok(())
    }

    fn check_azp(&self, claims: &Map<String, Value>) -> Result<(), VerifyError> {
        if self.inner.authorized_parties.is_empty() {
            return Ok(());
        }
        match claims.get("azp") {
            None => Ok(()),
            Some(Value::String(azp)) if self.inner.authorized_parties.contains(azp) => Ok(()),
            Some(_) => Err(VerifyError::WrongAuthorizedParty),
        }
    }
}

/// Refuses a payload that names a claim twice (`{"roles":["admin"],"roles":["member"]}`).
///
/// RFC 7519 §4 lets a parser either reject duplicates or keep the last one. jsonwebtoken refuses
/// duplicated registered claims it validates (`exp`, `sub`, …) but, parsing the rest into a map,
/// silently keeps the *last* `roles`, `sid` or custom claim — while another consumer of the same
/// token (a JS SDK, a proxy) may keep the first. Two parsers disagreeing about who the token
/// grants what is exactly the ambiguity an attacker looks for, so any duplicate top-level name
/// makes the token invalid. Runs only after the signature verified (the payload is then known to
/// be well-formed base64url JSON), and a verified token is remembered, so it costs one extra parse
/// per distinct token.
fn reject_duplicate_claims(token: &str) -> Result<(), VerifyError> {
    use serde::de::{Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};

    struct UniqueKeys;

    impl<'de> Visitor<'de> for UniqueKeys {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object with unique member names")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key) {
                    return Err(A::Error::custom("duplicate claim"));
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }

    let payload = token.split('.').nth(1).ok_or(VerifyError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| VerifyError::Malformed)?;
    serde_json::Deserializer::from_slice(&payload)
        .deserialize_map(UniqueKeys)
        .map_err(|_| VerifyError::InvalidClaim("duplicate claim"))
}

/// The clock jsonwebtoken checks `exp`/`nbf` against, so every time check here agrees with it.
pub(crate) fn unix_now() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[path = "../tests/common/keys.rs"]
mod test_keys;

#[cfg(test)]
mod tests {
    use super::test_keys::{ISSUER, TestKey, claims, claims_with, jwks};
    use super::*;

    /// The hot path clones an `Arc`: every request with a token seen before gets the context
    /// built at its first verification, and a different token gets its own.
    #[tokio::test]
    async fn a_repeat_token_shares_its_first_verification() {
        let key = TestKey::es256_a();
        let config = AuthConfig::embedded().with_issuer(ISSUER);
        let verifier = Verifier::new(&config, KeyStore::static_set(jwks(&[&key]))).unwrap();
        let token = key.sign(&claims());
        let first = verifier.verify_context(&token).await.unwrap();
        let again = verifier.verify_context(&token).await.unwrap();
        assert!(first.shares_session_with(&again));
        let other = key.sign(&claims_with(serde_json::json!({ "sid": "sess_other" })));
        let other = verifier.verify_context(&other).await.unwrap();
        assert!(!first.shares_session_with(&other));
        assert_eq!(
            verifier.verify(&token).await.unwrap().sub,
            other.claims().unwrap().sub
        );
    }
}

//! The key store ([`KeyStore`]): public keys parsed once into `DecodingKey`s, static or fetched.

use crate::error::{KeyError, VerifyError};
use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tuning of the remote key cache. The defaults suit every hosted issuer.
///
/// ```
/// use std::time::Duration;
/// let cache = auth_server::CacheConfig {
///     cooldown: Duration::from_secs(10),
///     ..Default::default()
/// };
/// assert_eq!(cache.ttl, Duration::from_secs(600));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Keys older than this are refreshed in the background; requests keep using the cached keys.
    pub ttl: Duration,
    /// At most one fetch starts per cool-down, whatever the number of unknown key ids or failures.
    pub cooldown: Duration,
    /// While the endpoint fails, fetched keys keep working for this long after their last
    /// successful fetch (stale-if-error); after that the store fails closed.
    pub max_stale: Duration,
    /// Timeout of one fetch, body included.
    pub fetch_timeout: Duration,
    /// Largest accepted JWKS or discovery response, enforced while streaming.
    pub max_response_bytes: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(600),
            cooldown: Duration::from_secs(30),
            max_stale: Duration::from_secs(24 * 3600),
            fetch_timeout: Duration::from_secs(5),
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// Fetched URLs must be `https`, except on loopback hosts (local development and tests).
pub(crate) fn is_allowed_url(url: &reqwest::Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => {
            let host = url.host_str().unwrap_or("");
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

/// Most keys kept from one JWKS: real issuers publish two or three.
const MAX_KEYS: usize = 64;

/// One verification key, parsed once.
pub(crate) struct VerifyingKey {
    pub(crate) key: DecodingKey,
    /// Algorithms this key may verify: fixed by its type (and its `alg`, when given).
    pub(crate) algorithms: Vec<Algorithm>,
}

/// What a key lookup found.
pub(crate) enum Lookup {
    Found(Arc<VerifyingKey>),
    Unknown,
    NoKid,
}

/// An immutable set of keys, swapped whole.
struct KeySet {
    by_kid: HashMap<String, Arc<VerifyingKey>>,
    /// Keys without a `kid` (a PEM key, or a JWK without `kid`).
    anonymous: Vec<Arc<VerifyingKey>>,
    /// When the set was loaded (fetched or replaced); `None` for the initial empty remote set.
    loaded_at: Option<Instant>,
}

impl KeySet {
    fn empty() -> Self {
        Self {
            by_kid: HashMap::new(),
            anonymous: Vec::new(),
            loaded_at: None,
        }
    }

    fn len(&self) -> usize {
        self.by_kid.len() + self.anonymous.len()
    }

    fn from_jwks<'a>(keys: impl IntoIterator<Item = &'a Jwk>) -> Self {
        let mut set = Self::empty();
        set.loaded_at = Some(Instant::now());
        for jwk in keys {
            if set.len() >= MAX_KEYS {
                tracing::warn!("key set has more than {MAX_KEYS} keys; the rest are ignored");
                break;
            }
            let Some(key) = parse_jwk(jwk) else {
                continue;
            };
            let key = Arc::new(key);
            match &jwk.common.key_id {
                Some(kid) => {
                    set.by_kid.insert(kid.clone(), key);
                }
                None => set.anonymous.push(key),
            }
        }
        set
    }

    /// Finds the key for a token's `kid`.
    ///
    /// With a `kid`: the key with that id, else the single anonymous key of a one-key set (a PEM
    /// key verifies tokens whatever their `kid`). Without a `kid`: the only key of a one-key set.
    fn find(&self, kid: Option<&str>) -> Lookup {
        let only = || {
            (self.len() == 1)
                .then(|| self.by_kid.values().chain(&self.anonymous).next().cloned())
                .flatten()
        };
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(k) => Lookup::Found(k.clone()),
                None if self.by_kid.is_empty() && self.anonymous.len() == 1 => {
                    Lookup::Found(self.anonymous[0].clone())
                }
                None => Lookup::Unknown,
            },
            None => match only() {
                Some(k) => Lookup::Found(k),
                None if self.len() == 0 => Lookup::Unknown,
                None => Lookup::NoKid,
            },
        }
    }
}

/// The algorithms an RSA key may verify.
const RSA_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// Parses one JWK, or `None` (logged at debug) when it is not a usable signature key.
/// Symmetric (`oct`) keys are never used: a public key set must not enable HMAC.
fn parse_jwk(jwk: &Jwk) -> Option<VerifyingKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let family: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA_ALGORITHMS,
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => return skip("unsupported curve"),
        },
        AlgorithmParameters::OctetKeyPair(p) => match p.curve {
            EllipticCurve::Ed25519 => &[Algorithm::EdDSA],
            _ => return skip("unsupported curve"),
        },
        AlgorithmParameters::OctetKey(_) => return skip("symmetric key"),
    };
    let algorithms = match jwk.common.key_algorithm {
        None => family.to_vec(),
        Some(alg) => match algorithm_of(alg) {
            Some(a) if family.contains(&a) => vec![a],
            _ => return skip("`alg` does not match the key type"),
        },
    };
    match DecodingKey::from_jwk(jwk) {
        Ok(key) => Some(VerifyingKey { key, algorithms }),
        Err(_) => skip("invalid key material"),
    }
}

fn skip(why: &str) -> Option<VerifyingKey> {
    tracing::debug!(reason = why, "skipping a JWK");
    None
}

fn algorithm_of(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The public keys tokens are verified with, each parsed once into a `DecodingKey`. Cheap to
/// clone (an `Arc`); clones share the keys.
///
/// Four sources: a static JWK set given in code (the embedded identity provider, replaceable at
/// run time), a PEM public key (networkless), a JWKS URL, and OpenID Connect discovery. Remote
/// sets are cached:
///
/// * the hot path reads the current set through an `ArcSwap` (no lock, no network) when the key
///   is known;
/// * keys older than the TTL are refreshed in the background while requests keep using them;
/// * an unknown `kid` triggers at most one fetch per cool-down, and concurrent refetches
///   coalesce into one request (callers that arrive during a fetch wait for its result);
/// * when the endpoint fails, fetched keys keep working up to `max_stale` (stale-if-error);
/// * a fetch has a timeout and a response size limit enforced while streaming.
///
/// ```
/// use auth_server::KeyStore;
/// use jsonwebtoken::jwk::JwkSet;
///
/// let keys = KeyStore::static_set(JwkSet { keys: vec![] });
/// assert!(keys.is_empty());
/// ```
#[derive(Clone)]
pub struct KeyStore {
    inner: Arc<Inner>,
}

struct Inner {
    set: ArcSwap<KeySet>,
    remote: Option<Remote>,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("keys", &self.len())
            .field("remote", &self.inner.remote.as_ref().map(|r| &r.target))
            .finish()
    }
}

impl KeyStore {
    fn new(set: KeySet, remote: Option<Remote>) -> Self {
        Self {
            inner: Arc::new(Inner {
                set: ArcSwap::from_pointee(set),
                remote,
            }),
        }
    }

    /// A fixed set of public keys given in code: how the embedded identity provider plugs in.
    /// Replace the set at run time (key rotation) with [`replace`](Self::replace).
    ///
    /// Unusable keys (symmetric `oct` keys, `use: "enc"`, unsupported curves, an `alg` that does
    /// not match the key type) are skipped.
    ///
    /// ```
    /// use auth_server::KeyStore;
    /// let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(r#"{"keys":[{
    ///     "kty":"OKP","crv":"Ed25519","kid":"k1","alg":"EdDSA",
    ///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#).unwrap();
    /// let keys = KeyStore::static_set(jwks);
    /// assert_eq!(keys.len(), 1);
    /// ```
    pub fn static_set(jwks: JwkSet) -> Self {
        Self::new(KeySet::from_jwks(&jwks.keys), None)
    }

    /// A single PEM public key (RSA, EC P-256/P-384, or Ed25519), used whatever the token's
    /// `kid`. No network.
    ///
    /// ```
    /// let pem = "-----BEGIN PUBLIC KEY-----
    /// MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
    /// -----END PUBLIC KEY-----";
    /// let keys = auth_server::KeyStore::from_pem(pem).unwrap();
    /// assert_eq!(keys.len(), 1);
    /// ```
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim().as_bytes();
        let (key, algorithms) = if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
            (k, RSA_ALGORITHMS.to_vec())
        } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
            (k, vec![Algorithm::ES256, Algorithm::ES384])
        } else if let Ok(k) = DecodingKey::from_ed_pem(pem) {
            (k, vec![Algorithm::EdDSA])
        } else {
            return Err(KeyError::InvalidPem);
        };
        let mut set = KeySet::empty();
        set.loaded_at = Some(Instant::now());
        set.anonymous
            .push(Arc::new(VerifyingKey { key, algorithms }));
        Ok(Self::new(set, None))
    }

    /// Keys fetched from a JWKS URL, cached as described on [`KeyStore`]. Nothing is
    /// fetched until the first verification (or [`refresh`](Self::refresh)).
    ///
    /// ```
    /// use auth_server::{CacheConfig, KeyStore};
    /// let keys = KeyStore::jwks_url("https://issuer.example/.well-known/jwks.json", CacheConfig::default());
    /// assert!(keys.is_empty());
    /// ```
    pub fn jwks_url(url: impl Into<String>, cache: CacheConfig) -> Self {
        Self::new(
            KeySet::empty(),
            Some(Remote::new(Target::JwksUrl(url.into()), cache)),
        )
    }

    /// Keys found by OpenID Connect discovery: `{issuer}/.well-known/openid-configuration` gives
    /// `jwks_uri` (its `issuer` must match); if discovery fails, `{issuer}/.well-known/jwks.json`
    /// is used. Cached like [`jwks_url`](Self::jwks_url).
    ///
    /// ```
    /// use auth_server::{CacheConfig, KeyStore};
    /// let keys = KeyStore::discovery("https://tenant.eu.auth0.com/", CacheConfig::default());
    /// # let _ = keys;
    /// ```
    pub fn discovery(issuer: impl Into<String>, cache: CacheConfig) -> Self {
        Self::new(
            KeySet::empty(),
            Some(Remote::new(
                Target::Discovery {
                    issuer: issuer.into(),
                },
                cache,
            )),
        )
    }

    /// Replaces every key at once (key rotation by the embedded identity provider). Readers see
    /// either the old or the new set, never a mix; requests in flight finish with the set they
    /// loaded. On a remote store the replacement lasts until the next fetch.
    ///
    /// ```
    /// use auth_server::KeyStore;
    /// use jsonwebtoken::jwk::JwkSet;
    /// let keys = KeyStore::static_set(JwkSet { keys: vec![] });
    /// let rotated: JwkSet = serde_json::from_str(r#"{"keys":[{
    ///     "kty":"OKP","crv":"Ed25519","kid":"k2",
    ///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#).unwrap();
    /// keys.replace(rotated);
    /// assert_eq!(keys.len(), 1);
    /// ```
    pub fn replace(&self, jwks: JwkSet) {
        self.inner
            .set
            .store(Arc::new(KeySet::from_jwks(&jwks.keys)));
    }

    /// How many usable keys the store holds now.
    ///
    /// ```
    /// let keys = auth_server::KeyStore::static_set(jsonwebtoken::jwk::JwkSet { keys: vec![] });
    /// assert_eq!(keys.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.set.load().len()
    }

    /// Whether the store holds no usable key.
    ///
    /// ```
    /// let keys = auth_server::KeyStore::static_set(jsonwebtoken::jwk::JwkSet { keys: vec![] });
    /// assert!(keys.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fetches a remote set now (for example at start-up, to fail fast); ignores the cool-down.
    /// Does nothing for static and PEM stores.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), auth_server::KeyError> {
    /// let keys = auth_server::KeyStore::jwks_url("https://issuer.example/jwks", Default::default());
    /// keys.refresh().await?;
    /// # Ok(()) }
    /// ```
    pub async fn refresh(&self) -> Result<(), KeyError> {
        let Some(remote) = &self.inner.remote else {
            return Ok(());
        };
        let _guard = remote.fetch_lock.lock().await;
        remote.fetch_into(&self.inner.set).await
    }

    /// The key for a token's `kid`, without any network access.
    pub(crate) fn cached(&self, kid: Option<&str>) -> Result<Arc<VerifyingKey>, VerifyError> {
        let set = self.inner.set.load();
        if let Some(remote) = &self.inner.remote
            && !remote.usable(&set, Instant::now())
        {
            return Err(VerifyError::KeysUnavailable);
        }
        lookup_result(set.find(kid))
    }

    /// The key for a token's `kid`; may fetch (coalesced, rate-limited) when the key is unknown or
    /// no usable set is cached. Never touches the network for a known key.
    pub(crate) async fn get(&self, kid: Option<&str>) -> Result<Arc<VerifyingKey>, VerifyError> {
        let Some(remote) = &self.inner.remote else {
            return lookup_result(self.inner.set.load().find(kid));
        };
        let now = Instant::now();
        let set = self.inner.set.load_full();
        if !remote.usable(&set, now) {
            remote.refetch(&self.inner.set).await;
            let set = self.inner.set.load();
            if !remote.usable(&set, Instant::now()) {
                return Err(VerifyError::KeysUnavailable);
            }
            return lookup_result(set.find(kid));
        }
        if set
            .loaded_at
            .is_some_and(|t| now.duration_since(t) > remote.cache.ttl)
        {
            self.spawn_background_refresh();
        }
        match set.find(kid) {
            Lookup::Unknown => {
                drop(set);
                remote.refetch(&self.inner.set).await;
                lookup_result(self.inner.set.load().find(kid))
            }
            other => lookup_result(other),
        }
    }

    fn spawn_background_refresh(&self) {
        let Some(remote) = &self.inner.remote else {
            return;
        };
        if remote.in_cooldown(Instant::now()) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if remote
            .background
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let store = self.clone();
        handle.spawn(async move {
            if let Some(remote) = &store.inner.remote {
                remote.refetch(&store.inner.set).await;
                remote.background.store(false, Ordering::Release);
            }
        });
    }
}

fn lookup_result(l: Lookup) -> Result<Arc<VerifyingKey>, VerifyError> {
    match l {
        Lookup::Found(k) => Ok(k),
        Lookup::Unknown => Err(VerifyError::UnknownKey),
        Lookup::NoKid => Err(VerifyError::MissingKeyId),
    }
}

#[derive(Debug)]
enum Target {
    JwksUrl(String),
    Discovery { issuer: String },
}

struct Remote {
    target: Target,
    cache: CacheConfig,
    client: reqwest::Client,
    /// `jwks_uri` found by discovery.
    discovered: Mutex<Option<String>>,
    /// Held during a fetch: concurrent refetches wait on it instead of fetching again.
    fetch_lock: tokio::sync::Mutex<()>,
    /// Incremented after every fetch attempt (success or failure).
    generation: AtomicU64,
    /// When the last fetch attempt started.
    last_attempt: Mutex<Option<Instant>>,
    /// A background refresh is scheduled or running.
    background: AtomicBool,
}

#[derive(serde::Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl Remote {
    fn new(target: Target, cache: CacheConfig) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // A redirect may not leave https (or loopback), like the configured URL itself.
                if attempt.previous().len() >= 3 {
                    attempt.error("too many redirects")
                } else if !is_allowed_url(attempt.url()) {
                    attempt.error("redirect to a URL that is not https")
                } else {
                    attempt.follow()
                }
            }))
            .connect_timeout(cache.fetch_timeout)
            .timeout(cache.fetch_timeout)
            .build()
            .unwrap_or_default();
        Self {
            target,
            cache,
            client,
            discovered: Mutex::new(None),
            fetch_lock: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            last_attempt: Mutex::new(None),
            background: AtomicBool::new(false),
        }
    }

    /// Whether a set can be used: fetched (or replaced) less than `max_stale` ago.
    fn usable(&self, set: &KeySet, now: Instant) -> bool {
        set.loaded_at
            .is_some_and(|t| now.duration_since(t) <= self.cache.max_stale)
    }

    fn in_cooldown(&self, now: Instant) -> bool {
        let last = *self.last_attempt.lock().unwrap_or_else(|e| e.into_inner());
        last.is_some_and(|t| now.duration_since(t) < self.cache.cooldown)
    }

    /// Fetches once for everybody: if a fetch is running, waits for it; else fetches unless one
    /// started less than a cool-down ago. Never fails: the caller looks the key up again.
    async fn refetch(&self, set: &ArcSwap<KeySet>) {
        let generation = self.generation.load(Ordering::Acquire);
        let _guard = match self.fetch_lock.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // A fetch is in flight: its result is ours too.
                drop(self.fetch_lock.lock().await);
                return;
            }
        };
        if self.generation.load(Ordering::Acquire) != generation || self.in_cooldown(Instant::now())
        {
            return;
        }
        if let Err(e) = self.fetch_into(set).await {
            tracing::warn!(error = %e, "could not refresh the signing keys; keeping the cached ones");
        }
    }

    /// One fetch attempt; the caller holds `fetch_lock`.
    async fn fetch_into(&self, set: &ArcSwap<KeySet>) -> Result<(), KeyError> {
        *self.last_attempt.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let result = self.fetch().await;
        if let Ok(new) = &result {
            tracing::debug!(keys = new.len(), "fetched the signing keys");
        }
        let result = result.map(|new| set.store(Arc::new(new)));
        self.generation.fetch_add(1, Ordering::AcqRel);
        result
    }

    async fn fetch(&self) -> Result<KeySet, KeyError> {
        const WHAT: &str = "JWKS";
        let url = self.jwks_url().await;
        let body = self.get_limited(&url, WHAT).await?;
        let raw: RawJwks = serde_json::from_slice(&body).map_err(|e| KeyError::Invalid {
            what: WHAT,
            reason: e.to_string(),
        })?;
        // Parse key by key: one key of an unknown type must not hide the others.
        let jwks: Vec<Jwk> = raw
            .keys
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect();
        let set = KeySet::from_jwks(&jwks);
        if set.len() == 0 {
            return Err(KeyError::Invalid {
                what: WHAT,
                reason: "no usable signature key".into(),
            });
        }
        Ok(set)
    }

    async fn jwks_url(&self) -> String {
        let issuer = match &self.target {
            Target::JwksUrl(url) => return url.clone(),
            Target::Discovery { issuer } => issuer,
        };
        if let Some(url) = self
            .discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return url;
        }
        let base = issuer.trim_end_matches('/');
        match self.discover(issuer, base).await {
            Ok(url) => {
                *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = Some(url.clone());
                url
            }
            Err(e) => {
                tracing::warn!(error = %e, "OpenID discovery failed; trying {{issuer}}/.well-known/jwks.json");
                format!("{base}/.well-known/jwks.json")
            }
        }
    }

    async fn discover(&self, issuer: &str, base: &str) -> Result<String, KeyError> {
        const WHAT: &str = "OpenID discovery document";
        let url = format!("{base}/.well-known/openid-configuration");
        let body = self.get_limited(&url, WHAT).await?;
        let invalid = |reason: String| KeyError::Invalid { what: WHAT, reason };
        let doc: Discovery = serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?;
        if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(invalid("its `issuer` is not AUTH_ISSUER".into()));
        }
        let jwks_uri = reqwest::Url::parse(&doc.jwks_uri).map_err(|e| invalid(e.to_string()))?;
        if !is_allowed_url(&jwks_uri) {
            return Err(invalid("`jwks_uri` is not https".into()));
        }
        Ok(doc.jwks_uri)
    }

    /// GET with the timeout and a size limit enforced while streaming.
    async fn get_limited(&self, url: &str, what: &'static str) -> Result<Vec<u8>, KeyError> {
        let limit = self.cache.max_response_bytes;
        let fetch_err = |e: reqwest::Error| KeyError::Fetch {
            what,
            reason: e.without_url().to_string(),
        };
        let mut res = self.client.get(url).send().await.map_err(fetch_err)?;
        if !res.status().is_success() {
            return Err(KeyError::Fetch {
                what,
                reason: format!("HTTP {}", res.status()),
            });
        }
        if res.content_length().is_some_and(|n| n > limit as u64) {
            return Err(KeyError::TooLarge { what, limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(fetch_err)? {
            if body.len() + chunk.len() > limit {
                return Err(KeyError::TooLarge { what, limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwks(v: serde_json::Value) -> JwkSet {
        serde_json::from_value(v).unwrap()
    }

    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn symmetric_and_encryption_keys_are_skipped() {
        let keys = KeyStore::static_set(jwks(json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "enc", "use": "enc"},
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "wrong-alg", "alg": "RS256"},
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "ok", "use": "sig"},
        ]})));
        assert_eq!(keys.len(), 1);
        assert!(keys.cached(Some("ok")).is_ok());
        assert!(matches!(
            keys.cached(Some("hmac")),
            Err(VerifyError::UnknownKey)
        ));
    }

    #[test]
    fn kid_rules() {
        let one = KeyStore::static_set(jwks(json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "a"},
        ]})));
        assert!(one.cached(None).is_ok(), "no kid, one key");
        assert!(matches!(
            one.cached(Some("b")),
            Err(VerifyError::UnknownKey)
        ));
        let two = KeyStore::static_set(jwks(json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "a"},
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "b"},
        ]})));
        assert!(matches!(two.cached(None), Err(VerifyError::MissingKeyId)));
        let pem = KeyStore::from_pem(include_str!("../tests/fixtures/rsa.pub.pem")).unwrap();
        assert!(
            pem.cached(Some("anything")).is_ok(),
            "a PEM key ignores kid"
        );
        let empty = KeyStore::static_set(JwkSet { keys: vec![] });
        assert!(matches!(empty.cached(None), Err(VerifyError::UnknownKey)));
    }

    #[test]
    fn pem_types() {
        for (f, alg) in [
            (
                include_str!("../tests/fixtures/rsa.pub.pem"),
                Algorithm::RS256,
            ),
            (
                include_str!("../tests/fixtures/es256-a.pub.pem"),
                Algorithm::ES256,
            ),
            (
                include_str!("../tests/fixtures/ed25519.pub.pem"),
                Algorithm::EdDSA,
            ),
        ] {
            let k = KeyStore::from_pem(f).unwrap().cached(None).ok().unwrap();
            assert!(k.algorithms.contains(&alg));
            assert_eq!(k.algorithms.len() == 1, alg == Algorithm::EdDSA);
        }
        assert!(KeyStore::from_pem("garbage").is_err());
    }
}

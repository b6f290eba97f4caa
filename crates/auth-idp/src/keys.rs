//! Signing keys: ES256 (P-256) keys generated with `p256` + the OS RNG, stored in the database as
//! PKCS#8 PEM next to their public JWK, shared by every instance using that database. Only
//! signing happens here: tokens are verified by `auth-server`'s verifier, fed with [`KeyStore::jwks`].
//!
//! Exactly one key is current (a UNIQUE column enforces it, so concurrent first starts cannot
//! create two). [`KeyStore::rotate`] makes a new current key and retires the old one; a retired key
//! stays published in the JWKS for `token TTL + leeway + cache refresh` so tokens it signed keep
//! verifying until they expire.

use super::error::IdpError;
use super::store::{Store, now};
use auth_types::SessionClaims;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use rand_core::OsRng;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long an instance signs with its cached current key before re-reading the database (so a
/// rotation made by another instance is picked up).
pub const KEY_CACHE_MAX_AGE: Duration = Duration::from_secs(30);
const ALG_ES256: &str = "ES256";

struct KeySet {
    current_kid: String,
    encoding: EncodingKey,
    jwks: JwkSet,
    loaded_at: Instant,
}

/// The signing keys of the identity provider (cached in memory).
pub(crate) struct KeyStore {
    store: Store,
    issuer: String,
    publish_retired_for: Duration,
    cache: RwLock<Arc<KeySet>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Loads the keys, generating the first one if the database has none.
    pub(crate) async fn load(
        store: Store,
        issuer: String,
        token_ttl: Duration,
        leeway: Duration,
    ) -> Result<Self, IdpError> {
        let publish_retired_for = token_ttl + leeway + KEY_CACHE_MAX_AGE;
        let set = read_keys(&store, publish_retired_for).await?;
        Ok(Self {
            store,
            issuer,
            publish_retired_for,
            cache: RwLock::new(Arc::new(set)),
        })
    }

    fn cached(&self) -> Arc<KeySet> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn reload(&self) -> Result<Arc<KeySet>, IdpError> {
        let set = Arc::new(read_keys(&self.store, self.publish_retired_for).await?);
        *self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = set.clone();
        Ok(set)
    }

    /// The public keys as a JWK Set.
    pub(crate) fn jwks(&self) -> JwkSet {
        self.cached().jwks.clone()
    }

    /// Re-reads the keys from the database.
    pub(crate) async fn refresh(&self) -> Result<JwkSet, IdpError> {
        Ok(self.reload().await?.jwks.clone())
    }

    /// Makes a new current key; the previous one is retired but stays published.
    pub(crate) async fn rotate(&self) -> Result<String, IdpError> {
        let (kid, pem, jwk) = generate()?;
        match self
            .store
            .insert_current_key(&kid, ALG_ES256, &pem, &jwk, true)
            .await
        {
            Ok(()) => {}
            // Another instance rotated at the same moment: its key is current now.
            Err(e) if e.is_unique_violation() => {}
            Err(e) => return Err(e),
        }
        Ok(self.reload().await?.current_kid.clone())
    }

    /// Signs claims with the current key (`kid` in the header).
    pub(crate) async fn sign(&self, claims: &SessionClaims) -> Result<String, IdpError> {
        let mut set = self.cached();
        if set.loaded_at.elapsed() > KEY_CACHE_MAX_AGE {
            match self.reload().await {
                Ok(fresh) => set = fresh,
                Err(e) => tracing::warn!(error = %e, "could not refresh signing keys"),
            }
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(set.current_kid.clone());
        jsonwebtoken::encode(&header, claims, &set.encoding)
            .map_err(|e| IdpError::Key(format!("signing failed: {e}")))
    }
}

/// A new P-256 key: (kid = RFC 7638 thumbprint, PKCS#8 PEM, public JWK JSON).
fn generate() -> Result<(String, String, String), IdpError> {
    let key = p256::ecdsa::SigningKey::random(&mut OsRng);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| IdpError::Key(format!("PKCS#8 encoding failed: {e}")))?;
    let encoding = EncodingKey::from_ec_pem(pem.as_bytes())
        .map_err(|e| IdpError::Key(format!("key import failed: {e}")))?;
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
        .map_err(|e| IdpError::Key(format!("JWK export failed: {e}")))?;
    let kid = jwk.thumbprint(ThumbprintHash::SHA256);
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let jwk = serde_json::to_string(&jwk).map_err(|e| IdpError::Key(e.to_string()))?;
    Ok((kid, pem.to_string(), jwk))
}

async fn read_keys(store: &Store, publish_retired_for: Duration) -> Result<KeySet, IdpError> {
    let retired_after = now() - publish_retired_for.as_secs() as i64;
    let mut rows = store.load_keys(retired_after).await?;
    if !rows.iter().any(|r| r.current) {
        let (kid, pem, jwk) = generate()?;
        match store
            .insert_current_key(&kid, ALG_ES256, &pem, &jwk, false)
            .await
        {
            Ok(()) => {}
            // Another instance created the first key concurrently: use theirs.
            Err(e) if e.is_unique_violation() => {}
            Err(e) => return Err(e),
        }
        rows = store.load_keys(retired_after).await?;
    }
    let mut current = None;
    let mut keys = Vec::new();
    for row in rows.into_iter().filter(|r| r.alg == ALG_ES256) {
        let jwk: Jwk = serde_json::from_str(&row.public_jwk)
            .map_err(|e| IdpError::Key(format!("stored JWK {} is invalid: {e}", row.kid)))?;
        // Checked here so an unusable stored key stops the start, not the first request.
        jsonwebtoken::DecodingKey::from_jwk(&jwk)
            .map_err(|e| IdpError::Key(format!("stored JWK {} is unusable: {e}", row.kid)))?;
        if row.current {
            let ek = EncodingKey::from_ec_pem(row.private_key_pem.as_bytes())
                .map_err(|e| IdpError::Key(format!("stored key {} is unusable: {e}", row.kid)))?;
            current = Some((row.kid.clone(), ek));
        }
        keys.push(jwk);
    }
    let (current_kid, encoding) =
        current.ok_or_else(|| IdpError::Key("no current signing key".into()))?;
    Ok(KeySet {
        current_kid,
        encoding,
        jwks: JwkSet { keys },
        loaded_at: Instant::now(),
    })
}

//! Signing keys: ES256 (P-256) keys generated with `p256` + the OS RNG, stored in the database as
//! PKCS#8 PEM (encrypted with AES-256-GCM when `AUTH_KEY_ENCRYPTION_KEY` is set) next to their
//! public JWK, shared by every instance using that database. Only signing happens here: tokens are
//! verified by `auth-server`'s verifier, fed with [`KeyStore::jwks`].
//!
//! A key goes through three stages:
//!
//! 1. **next**: published (in the JWKS and, at their next reload, in every instance's verifier) but
//!    not signing, until its `activates_at`, which [`KeyStore::rotate`] sets to now +
//!    [`IdpConfig::key_activation_delay`] (key reload interval + JWKS `max-age`): by then every
//!    instance and every external JWKS cache can have seen it, so no token it signs is refused.
//! 2. **current**: signing. Each instance switches at `activates_at` by its own clock; the first
//!    reload after it records the switch in the database.
//! 3. **retired**: published for `token TTL + leeway + signer cache age` after it stopped signing,
//!    so every token it signed verifies until it expires.
//!
//! At most one key is current and at most one is next: two UNIQUE marker columns enforce it, so
//! instances that start or rotate concurrently still end with exactly one of each.

use super::config::IdpConfig;
use super::error::IdpError;
use super::store::{KeyRow, Store, now};
use aes_gcm::aead::{Aead, AeadCore, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use auth_server::ConfigError;
use auth_types::SessionClaims;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use rand_core::OsRng;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long an instance signs with its cached keys before re-reading the database (so a key
/// rotated in by another instance or the CLI is picked up even without the stack's reload task).
pub const KEY_CACHE_MAX_AGE: Duration = Duration::from_secs(30);
const ALG_ES256: &str = "ES256";
/// The variable holding the key that encrypts signing keys at rest.
pub(crate) const KEK_VAR: &str = "AUTH_KEY_ENCRYPTION_KEY";
/// Prefix of an encrypted private key in `signing_keys.private_key_pem`; what follows is
/// base64(nonce ‖ ciphertext ‖ tag). A PEM starts with `-----BEGIN`, so the two never mix up.
const SEALED_PREFIX: &str = "aes256gcm:v1:";
const NONCE_LEN: usize = 12;

/// The 256-bit key that encrypts the signing keys at rest (`AUTH_KEY_ENCRYPTION_KEY`: 32 random
/// bytes in base64, e.g. `openssl rand -base64 32`). Its `Debug` output hides the bytes.
///
/// ```
/// use auth_idp::KeyEncryptionKey;
/// assert!(KeyEncryptionKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_ok());
/// assert!(KeyEncryptionKey::from_base64("c2hvcnQ=").is_err()); // 5 bytes
/// ```
#[derive(Clone)]
pub struct KeyEncryptionKey(Arc<[u8; 32]>);

impl KeyEncryptionKey {
    /// Parses 32 bytes in standard base64 (padding optional; surrounding spaces ignored). The
    /// error says what is wrong without echoing the value.
    pub fn from_base64(value: &str) -> Result<Self, String> {
        let value = value.trim();
        let bytes = BASE64
            .decode(value)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(value))
            .map_err(|_| {
                "must be 32 random bytes in base64 (openssl rand -base64 32): not valid base64"
                    .to_owned()
            })?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            format!(
                "must be 32 random bytes in base64 (openssl rand -base64 32), not {} bytes",
                bytes.len()
            )
        })?;
        Ok(Self(Arc::new(key)))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.as_ref().into())
    }

    /// Encrypts a private key; the `kid` is bound as associated data, so a ciphertext copied onto
    /// another key's row does not decrypt.
    fn seal(&self, kid: &str, pem: &str) -> Result<String, IdpError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: pem.as_bytes(),
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| IdpError::Key(format!("encrypting signing key {kid} failed")))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", BASE64.encode(out)))
    }

    fn open(&self, kid: &str, sealed: &str) -> Result<String, IdpError> {
        let wrong = || {
            IdpError::Config(ConfigError::Invalid {
                var: KEK_VAR,
                reason: format!(
                    "it does not decrypt signing key {kid} (another key encrypted it, or the \
                     stored key was altered); set the key the signing keys were encrypted with"
                ),
            })
        };
        let raw = BASE64.decode(sealed).map_err(|_| wrong())?;
        if raw.len() <= NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| wrong())?;
        let plain = self
            .cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| wrong())?;
        String::from_utf8(plain).map_err(|_| wrong())
    }
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(***)")
    }
}

/// The stored form of a private key: sealed with `kek` when there is one, PEM otherwise.
fn stored_form(kek: Option<&KeyEncryptionKey>, kid: &str, pem: &str) -> Result<String, IdpError> {
    match kek {
        Some(kek) => kek.seal(kid, pem),
        None => Ok(pem.to_owned()),
    }
}

/// The PEM of a stored private key (decrypting it when sealed).
fn private_pem(
    kek: Option<&KeyEncryptionKey>,
    kid: &str,
    stored: &str,
) -> Result<String, IdpError> {
    match (stored.strip_prefix(SEALED_PREFIX), kek) {
        (None, _) => Ok(stored.to_owned()),
        (Some(sealed), Some(kek)) => kek.open(kid, sealed),
        (Some(_), None) => Err(IdpError::Config(ConfigError::Invalid {
            var: KEK_VAR,
            reason: format!(
                "unset, but signing key {kid} is stored encrypted; set the key it was encrypted \
                 with"
            ),
        })),
    }
}

/// What [`Idp::rotate_keys`](crate::Idp::rotate_keys) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// The new key's id (`kid`), published from now on.
    pub kid: String,
    /// When every instance starts signing with it (until then the previous key signs).
    pub signs_from: SystemTime,
    /// `true` when a rotation was already under way (another instance or an earlier call): this
    /// is that rotation's key, and no other key was made.
    pub already_pending: bool,
}

/// A key that signs now or will.
struct Signer {
    kid: String,
    /// Unix milliseconds from which it signs.
    activates_at_ms: i64,
    encoding: EncodingKey,
}

struct KeySet {
    /// The current key, then the next one if any (ascending `activates_at`).
    signers: Vec<Signer>,
    jwks: JwkSet,
    loaded_at: Instant,
}

impl KeySet {
    /// The key that signs at `now_ms`: the latest one whose activation time has come (the current
    /// key when none has).
    fn signer(&self, now_ms: i64) -> Option<&Signer> {
        self.signers
            .iter()
            .rev()
            .find(|s| s.activates_at_ms <= now_ms)
            .or_else(|| self.signers.first())
    }
}

/// The signing keys of the identity provider (cached in memory).
pub(crate) struct KeyStore {
    store: Store,
    issuer: String,
    publish_retired_for: Duration,
    activation_delay: Duration,
    kek: Option<KeyEncryptionKey>,
    cache: RwLock<Arc<KeySet>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("issuer", &self.issuer)
            .field("activation_delay", &self.activation_delay)
            .field("encrypted", &self.kek.is_some())
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl KeyStore {
    /// Loads the keys, generating the first one if the database has none. With a key-encryption
    /// key, plaintext keys written before it was set are encrypted in place first; without one,
    /// logs (once per process) that keys are stored unencrypted.
    pub(crate) async fn load(store: Store, config: &IdpConfig) -> Result<Self, IdpError> {
        let kek = config.key_encryption_key.clone();
        match &kek {
            Some(kek) => encrypt_plaintext_keys(&store, kek).await?,
            None => {
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| {
                    tracing::warn!(
                        "{KEK_VAR} is not set: signing keys are stored unencrypted in the \
                         database (set it to 32 random bytes in base64: openssl rand -base64 32)"
                    );
                });
            }
        }
        let keys = Self {
            store,
            issuer: config.issuer.clone(),
            publish_retired_for: config.session_token_ttl + config.leeway + KEY_CACHE_MAX_AGE,
            activation_delay: config.key_activation_delay(),
            kek,
            cache: RwLock::new(Arc::new(KeySet {
                signers: Vec::new(),
                jwks: JwkSet { keys: Vec::new() },
                loaded_at: Instant::now(),
            })),
        };
        keys.reload().await?;
        Ok(keys)
    }

    fn cached(&self) -> Arc<KeySet> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn reload(&self) -> Result<Arc<KeySet>, IdpError> {
        let set = Arc::new(self.read_keys().await?);
        *self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = set.clone();
        Ok(set)
    }

    /// The public keys as a JWK Set: the next key (if a rotation is under way), the current one,
    /// and retired ones still within their publication window.
    pub(crate) fn jwks(&self) -> JwkSet {
        self.cached().jwks.clone()
    }

    /// Re-reads the keys from the database (recording a due activation first).
    pub(crate) async fn refresh(&self) -> Result<JwkSet, IdpError> {
        Ok(self.reload().await?.jwks.clone())
    }

    /// Publishes a new key that starts signing after the activation delay; the current key keeps
    /// signing until then. If a rotation is already under way, returns its key instead of making
    /// another one.
    pub(crate) async fn rotate(&self) -> Result<KeyRotation, IdpError> {
        // A next key whose time has come becomes current first, so it is not mistaken for a
        // rotation still under way.
        self.reload().await?;
        let (kid, pem, jwk) = generate()?;
        let stored = stored_form(self.kek.as_ref(), &kid, &pem)?;
        // Rounded up to whole seconds (the column's unit): never earlier than the delay allows.
        let activates_at_ms = u64::try_from(now_ms()).unwrap_or(0)
            + u64::try_from(self.activation_delay.as_millis()).unwrap_or(u64::MAX / 4);
        let activates_at = i64::try_from(activates_at_ms.div_ceil(1000)).unwrap_or(i64::MAX);
        let inserted = self
            .store
            .insert_next_key(&kid, ALG_ES256, &stored, &jwk, activates_at)
            .await;
        let already_pending = match inserted {
            Ok(()) => false,
            // Another rotation is under way (another instance, the CLI): its key is the next one.
            Err(e) if e.is_unique_violation() => true,
            Err(e) => return Err(e),
        };
        let set = self.reload().await?;
        let (kid, signs_from_ms) = match (set.signers.get(1), set.signers.first()) {
            (Some(next), _) => (next.kid.clone(), next.activates_at_ms),
            // The next key of a concurrent rotation became current in the meantime.
            (None, Some(current)) => (current.kid.clone(), now_ms()),
            (None, None) => return Err(IdpError::Key("no current signing key".into())),
        };
        Ok(KeyRotation {
            kid,
            signs_from: UNIX_EPOCH
                + Duration::from_millis(u64::try_from(signs_from_ms).unwrap_or(0)),
            already_pending,
        })
    }

    /// Makes a new key current at once (after a leak): the current key, and a next key waiting to
    /// sign, are retired (published for their tokens' lifetime). Other instances' verifiers
    /// learn the new key only at their next reload, so Bearer-only calls to them may get 401
    /// until then.
    pub(crate) async fn rotate_now(&self) -> Result<String, IdpError> {
        let (kid, pem, jwk) = generate()?;
        let stored = stored_form(self.kek.as_ref(), &kid, &pem)?;
        match self
            .store
            .insert_current_key(&kid, ALG_ES256, &stored, &jwk, true)
            .await
        {
            Ok(()) => {}
            // Another instance rotated at the same moment: its key is current now.
            Err(e) if e.is_unique_violation() => {}
            Err(e) => return Err(e),
        }
        let set = self.reload().await?;
        Ok(set
            .signer(now_ms())
            .map(|s| s.kid.clone())
            .unwrap_or_default())
    }

    /// Signs claims with the key that signs now (`kid` in the header).
    pub(crate) async fn sign(&self, claims: &SessionClaims) -> Result<String, IdpError> {
        let mut set = self.cached();
        if set.loaded_at.elapsed() > KEY_CACHE_MAX_AGE {
            match self.reload().await {
                Ok(fresh) => set = fresh,
                Err(e) => tracing::warn!(error = %e, "could not refresh signing keys"),
            }
        }
        let signer = set
            .signer(now_ms())
            .ok_or_else(|| IdpError::Key("no current signing key".into()))?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(signer.kid.clone());
        jsonwebtoken::encode(&header, claims, &signer.encoding)
            .map_err(|e| IdpError::Key(format!("signing failed: {e}")))
    }

    /// Reads the published keys, creating the first key when there is none and recording a
    /// next key whose activation time has come as current.
    async fn read_keys(&self) -> Result<KeySet, IdpError> {
        let retired_after = now() - self.publish_retired_for.as_secs() as i64;
        let mut rows = self.store.load_keys(retired_after).await?;
        if !rows.iter().any(|r| r.current) {
            let (kid, pem, jwk) = generate()?;
            let stored = stored_form(self.kek.as_ref(), &kid, &pem)?;
            match self
                .store
                .insert_current_key(&kid, ALG_ES256, &stored, &jwk, false)
                .await
            {
                Ok(()) => {}
                // Another instance created the first key concurrently: use theirs.
                Err(e) if e.is_unique_violation() => {}
                Err(e) => return Err(e),
            }
            rows = self.store.load_keys(retired_after).await?;
        }
        if let Some(due) = rows.iter().find(|r| r.next && r.activates_at <= now()) {
            // Idempotent: of instances doing this at once, one moves the markers, the others
            // find nothing left to move.
            self.store
                .activate_next_key(&due.kid, due.activates_at)
                .await?;
            rows = self.store.load_keys(retired_after).await?;
        }
        build_set(rows, self.kek.as_ref())
    }
}

fn build_set(rows: Vec<KeyRow>, kek: Option<&KeyEncryptionKey>) -> Result<KeySet, IdpError> {
    let mut signers = Vec::new();
    let mut keys = Vec::new();
    for row in rows.into_iter().filter(|r| r.alg == ALG_ES256) {
        let jwk: Jwk = serde_json::from_str(&row.public_jwk)
            .map_err(|e| IdpError::Key(format!("stored JWK {} is invalid: {e}", row.kid)))?;
        // Checked here so an unusable stored key stops the start, not the first request.
        jsonwebtoken::DecodingKey::from_jwk(&jwk)
            .map_err(|e| IdpError::Key(format!("stored JWK {} is unusable: {e}", row.kid)))?;
        if row.current || row.next {
            let pem = private_pem(kek, &row.kid, &row.private_key_pem)?;
            let encoding = EncodingKey::from_ec_pem(pem.as_bytes())
                .map_err(|e| IdpError::Key(format!("stored key {} is unusable: {e}", row.kid)))?;
            signers.push(Signer {
                kid: row.kid.clone(),
                // The current key signs whatever its recorded time; the next one from its own.
                activates_at_ms: if row.current {
                    i64::MIN
                } else {
                    row.activates_at.saturating_mul(1000)
                },
                encoding,
            });
        }
        keys.push(jwk);
    }
    signers.sort_by_key(|s| s.activates_at_ms);
    if signers
        .first()
        .is_none_or(|s| s.activates_at_ms != i64::MIN)
    {
        return Err(IdpError::Key("no current signing key".into()));
    }
    Ok(KeySet {
        signers,
        jwks: JwkSet { keys },
        loaded_at: Instant::now(),
    })
}

/// Encrypts, in place, private keys stored as plaintext PEM (written before the key-encryption
/// key was set). Each row is replaced only if it still holds the PEM that was read, so instances
/// starting at once do not overwrite each other's ciphertext.
async fn encrypt_plaintext_keys(store: &Store, kek: &KeyEncryptionKey) -> Result<(), IdpError> {
    let plaintext = store.plaintext_private_keys().await?;
    let count = plaintext.len();
    for (kid, pem) in plaintext {
        let sealed = kek.seal(&kid, &pem)?;
        store.replace_private_key(&kid, &pem, &sealed).await?;
    }
    if count > 0 {
        tracing::info!(
            keys = count,
            "encrypted signing keys stored before {KEK_VAR} was set"
        );
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> KeyEncryptionKey {
        KeyEncryptionKey::from_base64(&BASE64.encode([byte; 32])).unwrap()
    }

    #[test]
    fn sealed_keys_round_trip_and_hide_the_pem() {
        let (kid, pem, _) = generate().unwrap();
        let stored = stored_form(Some(&kek(1)), &kid, &pem).unwrap();
        assert!(stored.starts_with(SEALED_PREFIX));
        assert!(!stored.contains("BEGIN"));
        assert_ne!(
            stored,
            stored_form(Some(&kek(1)), &kid, &pem).unwrap(),
            "fresh nonce"
        );
        assert_eq!(private_pem(Some(&kek(1)), &kid, &stored).unwrap(), pem);
        // Plaintext rows (written before a key was set) still load, with or without one.
        assert_eq!(private_pem(Some(&kek(1)), &kid, &pem).unwrap(), pem);
        assert_eq!(private_pem(None, &kid, &pem).unwrap(), pem);
    }

    #[test]
    fn wrong_key_other_kid_or_no_key_is_a_config_error_naming_the_variable() {
        let (kid, pem, _) = generate().unwrap();
        let stored = stored_form(Some(&kek(1)), &kid, &pem).unwrap();
        let errors = [
            private_pem(Some(&kek(2)), &kid, &stored).unwrap_err(),
            // The kid is bound as associated data: a row copied onto another kid fails.
            private_pem(Some(&kek(1)), "another-kid", &stored).unwrap_err(),
            private_pem(None, &kid, &stored).unwrap_err(),
            private_pem(Some(&kek(1)), &kid, "aes256gcm:v1:AAAA").unwrap_err(),
            private_pem(Some(&kek(1)), &kid, "aes256gcm:v1:***").unwrap_err(),
        ];
        for e in errors {
            assert!(
                matches!(&e, IdpError::Config(ConfigError::Invalid { var, .. }) if *var == KEK_VAR),
                "{e}"
            );
            assert!(e.to_string().contains(KEK_VAR), "{e}");
        }
    }

    #[test]
    fn key_encryption_key_format() {
        assert!(KeyEncryptionKey::from_base64(&BASE64.encode([7u8; 32])).is_ok());
        assert!(
            KeyEncryptionKey::from_base64(" AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA ").is_ok()
        );
        for bad in [
            BASE64.encode([7u8; 31]),
            BASE64.encode([7u8; 33]),
            BASE64.encode([7u8; 16]),
            "not base64!".to_owned(),
            String::new(),
        ] {
            let err = KeyEncryptionKey::from_base64(&bad).unwrap_err();
            assert!(err.contains("32 random bytes"), "{bad}: {err}");
        }
        assert_eq!(format!("{:?}", kek(9)), "KeyEncryptionKey(***)");
    }

    #[test]
    fn the_next_key_signs_from_its_activation_time() {
        let signer = |kid: &str, at: i64| Signer {
            kid: kid.into(),
            activates_at_ms: at,
            encoding: EncodingKey::from_secret(b"unused"),
        };
        let set = KeySet {
            signers: vec![signer("current", i64::MIN), signer("next", 5_000)],
            jwks: JwkSet { keys: Vec::new() },
            loaded_at: Instant::now(),
        };
        assert_eq!(set.signer(4_999).unwrap().kid, "current");
        assert_eq!(set.signer(5_000).unwrap().kid, "next");
    }
}

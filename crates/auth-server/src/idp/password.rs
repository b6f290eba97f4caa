//! Password hashing with argon2id on tokio's blocking pool, behind a semaphore so a burst of
//! sign-ins cannot queue more memory-hard hashes than there are cores.

use super::config::PasswordParams;
use super::error::IdpError;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::OsRng;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Shortest accepted password (characters).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password (characters).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Hashes and verifies passwords.
#[derive(Debug, Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password: unknown emails are verified against it so that they take as
    /// long as a wrong password.
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// Prepares the hasher (computes the dummy hash once).
    pub async fn new(p: PasswordParams, max_concurrent: usize) -> Result<Self, IdpError> {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| IdpError::Config(format!("invalid argon2 parameters: {e}")))?;
        let mut this = Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash: Arc::from(""),
        };
        let mut random = [0u8; 24];
        rand_core::RngCore::fill_bytes(&mut OsRng, &mut random);
        let dummy = this.hash(super::session::b64(&random)).await?;
        this.dummy_hash = Arc::from(dummy);
        Ok(this)
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=…`).
    pub async fn hash(&self, password: String) -> Result<String, IdpError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| IdpError::Internal("hasher closed".into()))?;
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Self::argon2(params)
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| IdpError::Internal(format!("password hashing failed: {e}")))
        })
        .await
        .map_err(|e| IdpError::Internal(format!("hashing task failed: {e}")))?
    }

    /// Verifies a password against a stored hash; with `None` (unknown account) verifies against
    /// the dummy hash and returns `false`, taking the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, IdpError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| IdpError::Internal("hasher closed".into()))?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let params = self.params.clone();
        let ok = tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return false;
            };
            // Parameters come from the stored hash itself, so old hashes still verify.
            Self::argon2(params)
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .await
        .map_err(|e| IdpError::Internal(format!("verify task failed: {e}")))?;
        Ok(known && ok)
    }
}

/// Checks the password policy: 8..=256 characters and not the email itself.
pub fn password_acceptable(password: &str, normalised_email: &str) -> bool {
    let chars = password.chars().count();
    (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars)
        && password.trim().to_lowercase() != normalised_email
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(password_acceptable("correct horse", "a@b.co"));
        assert!(!password_acceptable("short", "a@b.co"));
        assert!(!password_acceptable(&"x".repeat(257), "a@b.co"));
        assert!(password_acceptable(&"é".repeat(256), "a@b.co"));
        assert!(!password_acceptable("Ada@Example.com", "ada@example.com"));
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let p = PasswordParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        let pw = Passwords::new(p, 2).await.unwrap();
        let h = pw.hash("hunter22hunter".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(
            pw.verify("hunter22hunter".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!pw.verify("wrong-password".into(), Some(h)).await.unwrap());
        assert!(!pw.verify("anything-at-all".into(), None).await.unwrap());
        assert!(!pw.verify("x".into(), Some("garbage".into())).await.unwrap());
    }
}

//! The password policy (OWASP ASVS 5.0 §6.2), applied wherever a password is chosen (sign-up)
//! or checked (sign-in):
//!
//! - **Normalisation.** A password is hashed and verified in its Unicode NFKC form
//!   ([`normalise`]), so the same password typed on another keyboard, OS or input method (the
//!   "ﬁ" ligature or "fi", a precomposed "é" or "e" + combining accent, full-width digits) is the
//!   same password. Normalising at most `MAX_PASSWORD_CHARS + 1` characters bounds the work
//!   whatever was sent.
//! - **Length.** `MIN_PASSWORD_CHARS` to `MAX_PASSWORD_CHARS` characters (8 to 128) of the
//!   normalised form: passphrases fit (ASVS asks for at least 64), and the answer above the limit
//!   says what the limit is.
//! - **Not the email**, compared case-insensitively.
//! - **Not common.** A list of the ~20,000 most common passwords is compiled into the binary
//!   (`wordlists/common-passwords.txt`, see the README there for its source and license) and
//!   looked up in a hash set, case-insensitively, on the NFKC form: no file or network at run
//!   time.
//! - **Not breached (optional).** With `AUTH_PWNED_PASSWORDS_URL`, sign-up asks a Pwned
//!   Passwords range API ([`BreachCheck`]): only the first 5 hex digits of the password's SHA-1
//!   leave the server (k-anonymity), with `Add-Padding: true` so the answer's size tells nothing
//!   either. The check **fails open**: when the service is down, slow (past the timeout) or
//!   answers nonsense, the password is accepted (it already passed the local rules) and a warning
//!   is logged, so an outage of a third party never stops sign-ups.
//!
//! A rejection is an [`ApiError`] with a stable [`FormError`] code: `invalid_password` (length or
//! email), `common_password`, `breached_password`.

use crate::accounts::EVENTS;
use crate::error::{ApiError, IdpError};
#[cfg(test)]
use crate::password::MIN_PASSWORD_CHARS;
use crate::password::{MAX_PASSWORD_CHARS, password_acceptable};
use auth_server::ConfigError;
use auth_types::contract::FormError;
use http::StatusCode;
use sha1::{Digest, Sha1};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::LazyLock;
use std::time::Duration;
use unicode_normalization::UnicodeNormalization;
use url::Url;

/// The common-password list, one per line (see `wordlists/README.md`).
const COMMON_PASSWORDS: &str = include_str!("../wordlists/common-passwords.txt");

/// The list in a hash set, folded like the passwords looked up in it; built on first use (or by
/// [`warm_up`]).
static COMMON: LazyLock<HashSet<String>> = LazyLock::new(|| {
    COMMON_PASSWORDS
        .lines()
        .filter(|line| !line.is_empty())
        .map(fold)
        .collect()
});

/// Default bound on a whole Pwned Passwords request (connect, answer and body).
pub const DEFAULT_PWNED_PASSWORDS_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest range answer read: a real one is ~40 KB (about 1,000 lines with padding).
const MAX_RANGE_BYTES: usize = 512 * 1024;

/// 422 for a password from the common-password list.
pub(crate) const COMMON_PASSWORD: ApiError = ApiError::new(
    StatusCode::UNPROCESSABLE_ENTITY,
    FormError::CommonPassword,
    FormError::CommonPassword.message(),
);

/// 422 for a password the breached-password service knows.
pub(crate) const BREACHED_PASSWORD: ApiError = ApiError::new(
    StatusCode::UNPROCESSABLE_ENTITY,
    FormError::BreachedPassword,
    FormError::BreachedPassword.message(),
);

/// The form a password is hashed and verified in: NFKC, cut after `MAX_PASSWORD_CHARS + 1`
/// characters (one more than allowed, so a too-long password is still recognised as one, while
/// the work stays bounded whatever was sent).
pub(crate) fn normalise(password: &str) -> String {
    password.nfkc().take(MAX_PASSWORD_CHARS + 1).collect()
}

/// Caseless form for the list lookups: NFKC, then lowercase.
fn fold(password: &str) -> String {
    password.nfkc().collect::<String>().to_lowercase()
}

/// Builds the common-password set now (19,640 entries, ~1.3 MB of heap, 72 ms in a debug build)
/// rather than in the first sign-up.
pub(crate) fn warm_up() {
    LazyLock::force(&COMMON);
}

/// Whether a password is on the compiled-in common-password list (case-insensitive).
pub fn is_common(password: &str) -> bool {
    COMMON.contains(&fold(password))
}

/// The local rules for a new password, given its [`normalise`]d form and the normalised email:
/// length, not the email, not common.
pub(crate) fn check(normalised: &str, normalised_email: &str) -> Result<(), ApiError> {
    if !password_acceptable(normalised, normalised_email) {
        return Err(ApiError::INVALID_PASSWORD);
    }
    if is_common(normalised) {
        return Err(COMMON_PASSWORD);
    }
    Ok(())
}

/// Validates `AUTH_PWNED_PASSWORDS_URL`: an `https` URL (plain `http` only on a loopback host),
/// without query or fragment; `/range/{prefix}` is appended to its path.
pub(crate) fn parse_pwned_url(raw: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        var: "AUTH_PWNED_PASSWORDS_URL",
        reason: reason.into(),
    };
    let url = Url::parse(raw.trim()).map_err(|_| invalid("not a URL"))?;
    if url.host().is_none() {
        return Err(invalid("must have a host"));
    }
    let loopback = crate::config::is_loopback_host(&url);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(invalid("must be https (http only on a loopback host)")),
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid("must not have credentials, a query or a fragment"));
    }
    Ok(url)
}

/// Why a breached-password check could not answer (the caller fails open).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BreachCheckError {
    /// Connecting, sending or reading failed, or the timeout passed.
    #[error("request failed: {0}")]
    Request(#[from] reqwest::Error),
    /// The service answered with an error status.
    #[error("the service answered {0}")]
    Status(StatusCode),
    /// The answer is larger than [`MAX_RANGE_BYTES`].
    #[error("the answer is larger than {MAX_RANGE_BYTES} bytes")]
    TooLarge,
    /// The answer is not a range (no `SUFFIX:COUNT` line).
    #[error("the answer is not a list of SUFFIX:COUNT lines")]
    Malformed,
}

/// Client of a Pwned Passwords range API (`GET {url}/range/{5 hex}` → `SUFFIX:COUNT` lines).
#[derive(Debug, Clone)]
pub(crate) struct BreachCheck {
    base: String,
    client: reqwest::Client,
}

impl BreachCheck {
    /// A client for the API at `url` ([`parse_pwned_url`]), each request bounded by `timeout`.
    pub(crate) fn new(url: &Url, timeout: Duration) -> Result<Self, IdpError> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            // The configured URL was checked; a redirect would leave that check behind.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("auth-idp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| IdpError::Startup(format!("breached-password client: {e}")))?;
        Ok(Self {
            base: url.as_str().trim_end_matches('/').to_owned(),
            client,
        })
    }

    /// Whether the service lists the password (a non-zero count for its SHA-1 suffix).
    pub(crate) async fn is_breached(&self, password: &str) -> Result<bool, BreachCheckError> {
        let digest = Sha1::digest(password.as_bytes());
        let hex = digest.iter().fold(String::with_capacity(40), |mut s, b| {
            let _ = write!(s, "{b:02X}");
            s
        });
        let (prefix, suffix) = hex.split_at(5);
        let mut response = self
            .client
            .get(format!("{}/range/{prefix}", self.base))
            .header("Add-Padding", "true")
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(BreachCheckError::Status(response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RANGE_BYTES as u64)
        {
            return Err(BreachCheckError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_RANGE_BYTES {
                return Err(BreachCheckError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        range_lists(&body, suffix)
    }

    /// The sign-up decision: `Err(BREACHED_PASSWORD)` when the service lists the password; `Ok`
    /// when it does not, or cannot answer (fail open, logged as a warning).
    pub(crate) async fn refuse_breached(&self, password: &str) -> Result<(), ApiError> {
        match self.is_breached(password).await {
            Ok(false) => Ok(()),
            Ok(true) => {
                tracing::info!(
                    target: EVENTS,
                    event = "sign_up",
                    outcome = "breached_password",
                    "sign-up refused: the password is in the breached-password service"
                );
                Err(BREACHED_PASSWORD)
            }
            Err(e) => {
                tracing::warn!(
                    target: EVENTS,
                    event = "breach_check",
                    outcome = "unavailable",
                    error = %e,
                    "breached-password check failed; the password was accepted without it"
                );
                Ok(())
            }
        }
    }
}

/// Whether a range answer lists `suffix` (35 hex digits) with a non-zero count. Padding lines
/// (count 0) do not count; an answer without a single `SUFFIX:COUNT` line is malformed.
fn range_lists(body: &[u8], suffix: &str) -> Result<bool, BreachCheckError> {
    let text = std::str::from_utf8(body).map_err(|_| BreachCheckError::Malformed)?;
    let mut entries = 0usize;
    let mut listed = false;
    for line in text.lines() {
        let Some((hash, count)) = line.trim().split_once(':') else {
            continue;
        };
        let Ok(count) = count.trim().parse::<u64>() else {
            continue;
        };
        entries += 1;
        listed |= count > 0 && hash.trim().eq_ignore_ascii_case(suffix);
    }
    if entries == 0 {
        return Err(BreachCheckError::Malformed);
    }
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_to_nfkc_and_bounds_the_work() {
        assert_eq!(normalise("\u{FB01}nancial"), "financial");
        assert_eq!(normalise("cafe\u{301}"), "caf\u{e9}");
        assert_eq!(normalise("\u{FF11}\u{FF12}\u{FF13}"), "123");
        // U+FDFA expands to 18 characters; the output is cut after MAX + 1 whatever the input.
        let huge = "\u{FDFA}".repeat(10_000);
        assert_eq!(normalise(&huge).chars().count(), MAX_PASSWORD_CHARS + 1);
        assert_eq!(
            normalise(&"x".repeat(100_000)).len(),
            MAX_PASSWORD_CHARS + 1
        );
    }

    #[test]
    fn length_counts_characters_of_the_normalised_form() {
        let email = "a@b.co";
        assert!(check(&normalise(&"é".repeat(MAX_PASSWORD_CHARS)), email).is_ok());
        assert!(check(&normalise(&"x7".repeat(32)), email).is_ok());
        let long = check(&normalise(&"x".repeat(MAX_PASSWORD_CHARS + 1)), email).unwrap_err();
        assert_eq!(long.code, FormError::InvalidPassword);
        // 128 decomposed "é" (256 code points) are 128 characters once normalised.
        assert!(check(&normalise(&"e\u{301}".repeat(MAX_PASSWORD_CHARS)), email).is_ok());
        // 43 "㎒" (U+3392) are 129 characters once normalised ("MHz").
        assert!(check(&normalise(&"\u{3392}".repeat(43)), email).is_err());
        assert!(check(&normalise("short"), email).is_err());
        assert!(check(&normalise("Ada@Example.com"), "ada@example.com").is_err());
    }

    #[test]
    fn the_message_states_the_limits() {
        let message = FormError::InvalidPassword.message();
        assert!(
            message.contains(&MIN_PASSWORD_CHARS.to_string()),
            "{message}"
        );
        assert!(
            message.contains(&MAX_PASSWORD_CHARS.to_string()),
            "{message}"
        );
        assert_eq!(COMMON_PASSWORD.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(COMMON_PASSWORD.message.contains("too common"));
        assert!(BREACHED_PASSWORD.message.contains("breach"));
    }

    #[test]
    fn common_passwords_are_refused_case_insensitively() {
        assert!(COMMON.len() >= 10_000, "{}", COMMON.len());
        for common in [
            "password",
            "Password1",
            "QWERTYUIOP",
            "iloveyou",
            "1q2w3e4r5t",
        ] {
            assert!(is_common(common), "{common}");
            let err = check(&normalise(common), "a@b.co").unwrap_err();
            assert_eq!(err.code, FormError::CommonPassword, "{common}");
        }
        // Full-width letters fold to the listed ASCII word.
        assert!(is_common(
            "\u{FF50}\u{FF41}\u{FF53}\u{FF53}\u{FF57}\u{FF4F}\u{FF52}\u{FF44}"
        ));
        for fine in [
            "correct horse battery staple",
            "unit-test-secret-42",
            "Tr0ub4dor&3x",
        ] {
            assert!(!is_common(fine), "{fine}");
            assert!(check(&normalise(fine), "a@b.co").is_ok(), "{fine}");
        }
    }

    #[test]
    fn the_url_must_be_https_or_loopback() {
        for ok in [
            "https://api.pwnedpasswords.com",
            "https://proxy.example/pwned/",
            "http://127.0.0.1:9000",
            "http://localhost:9000/base",
            "http://[::1]:9000",
        ] {
            assert!(parse_pwned_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "api.pwnedpasswords.com",
            "http://api.pwnedpasswords.com",
            "ftp://127.0.0.1",
            "https://api.pwnedpasswords.com/?x=1",
            "https://user:pw@api.pwnedpasswords.com",
            "not a url",
        ] {
            let err = parse_pwned_url(bad).unwrap_err();
            assert!(
                err.to_string().contains("AUTH_PWNED_PASSWORDS_URL"),
                "{err}"
            );
        }
    }

    #[test]
    fn range_answers() {
        // SHA-1("password") = 5BAA6 1E4C9B93F3F0682250B6CF8331B7EE68FD8.
        let suffix = "1E4C9B93F3F0682250B6CF8331B7EE68FD8";
        let listed = format!("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{suffix}:3861493\r\n");
        assert!(range_lists(listed.as_bytes(), suffix).unwrap());
        let lowercase = listed.to_lowercase();
        assert!(range_lists(lowercase.as_bytes(), suffix).unwrap());
        let padding = format!("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{suffix}:0\r\n");
        assert!(!range_lists(padding.as_bytes(), suffix).unwrap());
        let absent = "0018A45C4D1DEF81644B54AB7F969B88D65:1\n";
        assert!(!range_lists(absent.as_bytes(), suffix).unwrap());
        for bad in [&b"<html>nope</html>"[..], b"", b"\xff\xfe"] {
            assert!(matches!(
                range_lists(bad, suffix),
                Err(BreachCheckError::Malformed)
            ));
        }
    }
}

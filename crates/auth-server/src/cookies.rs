//! The auth cookies, read and written in one place with the `cookie` crate: `__session` (the
//! short-lived JWT) and `__refresh` (the identity provider's opaque refresh secret). Both are
//! `HttpOnly; SameSite=Lax; Path=/`, plus `Secure` when the app's public URL is https.
//!
//! Reading follows one rule for both names: an empty value is no cookie, and the same name sent
//! twice (one per path or domain, or a planted one) is ambiguous, so neither is used.

use auth_types::contract::cookies::{REFRESH, SESSION};
use cookie::{Cookie, SameSite};
use http::{HeaderMap, HeaderValue, header};

/// The value of the request cookie `name`, or `None` when it is missing, empty, sent more than
/// once, or not readable (non-UTF-8 header). Borrows from the headers: nothing is copied.
pub(crate) fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for cookie in Cookie::split_parse(value).flatten() {
            if cookie.name() != name {
                continue;
            }
            if found.is_some() {
                return None;
            }
            // `split_parse` borrows from `value`, so the raw value is a slice of the header.
            found = Some(cookie.value_raw().unwrap_or_default());
        }
    }
    found.filter(|v| !v.is_empty())
}

/// Builds the `Set-Cookie` values of a session: what the auth layer sends after a refresh and the
/// identity provider after a sign-in or sign-out.
///
/// ```
/// let cookies = auth_server::SessionCookies::new(true);
/// let set = cookies.session("header.payload.signature");
/// let text = set.to_str().unwrap();
/// assert!(text.starts_with("__session=header.payload.signature"));
/// assert!(text.contains("HttpOnly") && text.contains("Secure") && text.contains("SameSite=Lax"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCookies {
    secure: bool,
}

impl SessionCookies {
    /// `secure`: add the `Secure` attribute (the app is served over https).
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// For an app served at `public_url`: `Secure` when it is https.
    ///
    /// ```
    /// assert_eq!(
    ///     auth_server::SessionCookies::for_url("https://app.example.com"),
    ///     auth_server::SessionCookies::new(true)
    /// );
    /// ```
    pub fn for_url(public_url: &str) -> Self {
        Self::new(
            public_url
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://")),
        )
    }

    fn base(self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build((name, value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(self.secure)
            .build()
    }

    /// `Set-Cookie` for the session JWT. No `Max-Age`: the JWT carries its own expiry, and the
    /// refresh cookie brings a new one.
    pub fn session(self, token: &str) -> HeaderValue {
        header_value(&self.base(SESSION, token.to_owned()))
    }

    /// `Set-Cookie` for the refresh secret, kept by the browser for `max_age_secs`.
    ///
    /// ```
    /// let set = auth_server::SessionCookies::new(false).refresh("secret", 100);
    /// assert!(set.to_str().unwrap().contains("Max-Age=100"));
    /// ```
    pub fn refresh(self, secret: &str, max_age_secs: i64) -> HeaderValue {
        let mut c = self.base(REFRESH, secret.to_owned());
        c.set_max_age(cookie::time::Duration::seconds(max_age_secs.max(0)));
        header_value(&c)
    }

    /// `Set-Cookie` values removing both cookies.
    ///
    /// ```
    /// let cleared = auth_server::SessionCookies::new(false).clear();
    /// assert_eq!(cleared.len(), 2);
    /// assert!(cleared.iter().all(|c| c.to_str().unwrap().contains("Max-Age=0")));
    /// ```
    pub fn clear(self) -> Vec<HeaderValue> {
        [SESSION, REFRESH]
            .into_iter()
            .map(|name| {
                let mut c = self.base(name, String::new());
                c.make_removal();
                header_value(&c)
            })
            .collect()
    }
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    // Values are base64url secrets and JWTs: always valid header bytes.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The name of the cookie a `Set-Cookie` value sets.
pub(crate) fn set_cookie_name(value: &HeaderValue) -> Option<&str> {
    let (name, _) = value.to_str().ok()?.split_once('=')?;
    Some(name.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&'static [u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::COOKIE, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn one_rule_for_every_name() {
        for name in [SESSION, REFRESH] {
            let single = format!("a=1; {name}=v1");
            let h = headers(&[Box::leak(single.into_boxed_str()).as_bytes()]);
            assert_eq!(read(&h, name), Some("v1"));
            let twice = format!("{name}=v1; {name}=v2");
            let h = headers(&[Box::leak(twice.into_boxed_str()).as_bytes()]);
            assert_eq!(read(&h, name), None, "duplicate {name}");
            let empty = format!("{name}=");
            let h = headers(&[Box::leak(empty.into_boxed_str()).as_bytes()]);
            assert_eq!(read(&h, name), None, "empty {name}");
        }
        let h = headers(&[b"__session=a", b"__session=b"]);
        assert_eq!(read(&h, SESSION), None, "duplicate across headers");
        let h = headers(&[b"__refresh=r", b"__session=s"]);
        assert_eq!(read(&h, REFRESH), Some("r"));
        assert_eq!(read(&h, SESSION), Some("s"));
        assert_eq!(read(&headers(&[b"\xff__session=a"]), SESSION), None);
        assert_eq!(read(&headers(&[]), SESSION), None);
    }

    #[test]
    fn attributes() {
        let c = SessionCookies::new(false).session("abc");
        let s = c.to_str().unwrap();
        assert!(s.starts_with("__session=abc"));
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax") && s.contains("Path=/"));
        assert!(!s.contains("Secure"));
        assert_eq!(set_cookie_name(&c), Some("__session"));
        let r = SessionCookies::new(true).refresh("xyz", 100);
        let r = r.to_str().unwrap();
        assert!(r.contains("Secure") && r.contains("Max-Age=100"));
        assert!(SessionCookies::for_url("HTTPS://a.example").secure);
        assert!(!SessionCookies::for_url("http://a.example").secure);
    }
}

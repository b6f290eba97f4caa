//! The auth cookies, read and written in one place with the `cookie` crate: the session (the
//! short-lived JWT) and the refresh cookie (the identity provider's opaque refresh secret). Both
//! are `HttpOnly; SameSite=Lax; Path=/`.
//!
//! Names: over https (`Secure`) they are `__Host-session` and `__Host-refresh`, a prefix browsers
//! honour only for a `Secure`, `Path=/` cookie without `Domain`, so neither a sibling subdomain
//! nor a plain-http page can plant one. Over http (loopback development) they are `__session` and
//! `__refresh`, as before. Those older names are still **read** in both modes, so an upgrade to
//! the prefixed names signs no one out (and Clerk's browser SDK writes `__session`).
//!
//! Reading follows one rule for every name: an empty value is no cookie, and the same name sent
//! twice (one per path or domain, or a planted one) is ambiguous, so it is not used. When both
//! the prefixed and the plain name arrive, the prefixed one wins: it is the one this server
//! writes, and the only one a sibling subdomain cannot have set.

use auth_types::contract::cookies::{HOST_REFRESH, HOST_SESSION, REFRESH, SESSION};
use cookie::{Cookie, SameSite};
use http::{HeaderMap, HeaderValue, header};

/// The `__Host-` name that supersedes a plain one.
fn prefixed(name: &str) -> Option<&'static str> {
    match name {
        SESSION => Some(HOST_SESSION),
        REFRESH => Some(HOST_REFRESH),
        _ => None,
    }
}

/// What a request carries under one name.
#[derive(Clone, Copy)]
enum Found<'h> {
    Absent,
    One(&'h str),
    Ambiguous,
}

impl<'h> Found<'h> {
    fn add(&mut self, value: &'h str) {
        *self = match self {
            Found::Absent => Found::One(value),
            _ => Found::Ambiguous,
        };
    }
}

/// The value of the auth cookie `name` ([`SESSION`] or [`REFRESH`]; any other name is read as
/// itself), or `None` when it is missing, empty, sent more than once, or not readable (non-UTF-8
/// header). Its `__Host-` twin wins over it; a duplicated twin is ambiguous (`None`, no fallback
/// to the plain name: a browser never holds two). Borrows from the headers: nothing is copied.
pub(crate) fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let host = prefixed(name);
    let (mut plain, mut prefixed) = (Found::Absent, Found::Absent);
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for cookie in Cookie::split_parse(value).flatten() {
            let slot = if cookie.name() == name {
                &mut plain
            } else if Some(cookie.name()) == host {
                &mut prefixed
            } else {
                continue;
            };
            // `split_parse` borrows from `value`, so the raw value is a slice of the header.
            slot.add(cookie.value_raw().unwrap_or_default());
        }
    }
    match (prefixed, plain) {
        (Found::Ambiguous, _) => None,
        (Found::One(v), _) if !v.is_empty() => Some(v),
        (_, Found::One(v)) if !v.is_empty() => Some(v),
        _ => None,
    }
}

/// Whether a cookie name is one of the auth cookies (either spelling).
pub(crate) fn is_auth_cookie(name: &str) -> bool {
    [SESSION, REFRESH, HOST_SESSION, HOST_REFRESH].contains(&name)
}

/// Builds the `Set-Cookie` values of a session: what the auth layer sends after a refresh and the
/// identity provider after a sign-in or sign-out.
///
/// ```
/// let cookies = auth_server::SessionCookies::new(true);
/// let set = cookies.session("header.payload.signature");
/// let text = set.to_str().unwrap();
/// assert!(text.starts_with("__Host-session=header.payload.signature"));
/// assert!(text.contains("HttpOnly") && text.contains("Secure") && text.contains("SameSite=Lax"));
/// let local = auth_server::SessionCookies::new(false).session("t");
/// assert!(local.to_str().unwrap().starts_with("__session=t"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCookies {
    secure: bool,
}

impl SessionCookies {
    /// `secure`: the app is served over https — add the `Secure` attribute and use the `__Host-`
    /// names (`__Host-session`, `__Host-refresh`); otherwise `__session` and `__refresh`.
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// For an app served at `public_url`: `Secure` and `__Host-` names when it is https.
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

    /// The name of the session cookie written: `__Host-session` over https, else `__session`.
    ///
    /// ```
    /// assert_eq!(auth_server::SessionCookies::new(true).session_name(), "__Host-session");
    /// ```
    pub fn session_name(self) -> &'static str {
        if self.secure { HOST_SESSION } else { SESSION }
    }

    /// The name of the refresh cookie written: `__Host-refresh` over https, else `__refresh`.
    ///
    /// ```
    /// assert_eq!(auth_server::SessionCookies::new(false).refresh_name(), "__refresh");
    /// ```
    pub fn refresh_name(self) -> &'static str {
        if self.secure { HOST_REFRESH } else { REFRESH }
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
        header_value(&self.base(self.session_name(), token.to_owned()))
    }

    /// `Set-Cookie` for the refresh secret, kept by the browser for `max_age_secs`.
    ///
    /// ```
    /// let set = auth_server::SessionCookies::new(false).refresh("secret", 100);
    /// assert!(set.to_str().unwrap().contains("Max-Age=100"));
    /// ```
    pub fn refresh(self, secret: &str, max_age_secs: i64) -> HeaderValue {
        let mut c = self.base(self.refresh_name(), secret.to_owned());
        c.set_max_age(cookie::time::Duration::seconds(max_age_secs.max(0)));
        header_value(&c)
    }

    /// `Set-Cookie` values removing both cookies — over https under both spellings, so a browser
    /// that still holds the pre-`__Host-` cookies is signed out too.
    ///
    /// ```
    /// let cleared = auth_server::SessionCookies::new(false).clear();
    /// assert_eq!(cleared.len(), 2);
    /// assert!(cleared.iter().all(|c| c.to_str().unwrap().contains("Max-Age=0")));
    /// assert_eq!(auth_server::SessionCookies::new(true).clear().len(), 4);
    /// ```
    pub fn clear(self) -> Vec<HeaderValue> {
        let names: &[&'static str] = if self.secure {
            &[HOST_SESSION, HOST_REFRESH, SESSION, REFRESH]
        } else {
            &[SESSION, REFRESH]
        };
        names.iter().map(|name| self.removal(name)).collect()
    }

    fn removal(self, name: &'static str) -> HeaderValue {
        let mut c = self.base(name, String::new());
        c.make_removal();
        header_value(&c)
    }

    /// Removals of the plain-named cookies a request still carries, for a response that sets
    /// their `__Host-` successors: after it the browser holds one cookie of each kind, and the
    /// old one cannot come back into use once the new one is removed. (Plain cookies set with a
    /// `Domain` by someone else cannot be removed from here; the prefixed name wins over them.)
    pub(crate) fn superseded(request: &HeaderMap, response: &HeaderMap) -> Vec<HeaderValue> {
        let set: Vec<&str> = response
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(set_cookie_name)
            .collect();
        [(HOST_SESSION, SESSION), (HOST_REFRESH, REFRESH)]
            .into_iter()
            .filter(|(new, old)| set.contains(new) && !set.contains(old) && carries(request, old))
            .map(|(_, old)| Self::new(true).removal(old))
            .collect()
    }
}

/// Whether the request has a cookie of this exact name (any value).
fn carries(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| Cookie::split_parse(v).flatten().any(|c| c.name() == name))
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

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::COOKIE, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    fn one(value: &str) -> HeaderMap {
        headers(&[value.as_bytes()])
    }

    #[test]
    fn one_rule_for_every_name() {
        for name in [SESSION, REFRESH, HOST_SESSION, HOST_REFRESH] {
            let h = one(&format!("a=1; {name}=v1"));
            assert_eq!(read(&h, name), Some("v1"));
            let h = one(&format!("{name}=v1; {name}=v2"));
            assert_eq!(read(&h, name), None, "duplicate {name}");
            let h = one(&format!("{name}="));
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

    /// The `__Host-` names are read in every mode and win over the plain ones; the plain ones
    /// still sign in on their own (an upgrade signs no one out).
    #[test]
    fn prefixed_names_win_and_plain_names_still_work() {
        for (name, host) in [(SESSION, HOST_SESSION), (REFRESH, HOST_REFRESH)] {
            let both = one(&format!("{name}=old; {host}=new"));
            assert_eq!(read(&both, name), Some("new"), "{host} wins");
            let reversed = headers(&[
                format!("{host}=new").as_bytes(),
                format!("{name}=old").as_bytes(),
            ]);
            assert_eq!(read(&reversed, name), Some("new"), "order does not matter");
            assert_eq!(read(&one(&format!("{host}=new")), name), Some("new"));
            assert_eq!(read(&one(&format!("{name}=old")), name), Some("old"));
            // A duplicated prefixed cookie is ambiguous: no fallback to the plain one.
            let dup = one(&format!("{host}=a; {host}=b; {name}=old"));
            assert_eq!(read(&dup, name), None);
            // An empty prefixed cookie is no cookie.
            let empty = one(&format!("{host}=; {name}=old"));
            assert_eq!(read(&empty, name), Some("old"));
            // Near misses are other cookies (names are case-sensitive).
            let near = one(&format!("__host-{}=x", &name[2..]));
            assert_eq!(read(&near, name), None);
        }
        // The session and refresh pairs are independent.
        let mixed = one("__Host-session=s; __refresh=r");
        assert_eq!(read(&mixed, SESSION), Some("s"));
        assert_eq!(read(&mixed, REFRESH), Some("r"));
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

    /// `__Host-` cookies are only accepted by browsers with `Secure`, `Path=/` and no `Domain`.
    #[test]
    fn https_names_carry_the_host_prefix_rules() {
        let secure = SessionCookies::for_url("https://app.example.com");
        for value in [secure.session("t"), secure.refresh("r", 60)] {
            let text = value.to_str().unwrap();
            let parsed = Cookie::parse(text).unwrap();
            assert!(parsed.name().starts_with("__Host-"), "{text}");
            assert_eq!(parsed.secure(), Some(true), "{text}");
            assert_eq!(parsed.path(), Some("/"), "{text}");
            assert_eq!(parsed.domain(), None, "{text}");
            assert_eq!(parsed.http_only(), Some(true), "{text}");
        }
        let names: Vec<_> = secure
            .clear()
            .iter()
            .map(|c| set_cookie_name(c).unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            ["__Host-session", "__Host-refresh", "__session", "__refresh"]
        );
        assert!(is_auth_cookie("__Host-refresh") && is_auth_cookie("__session"));
        assert!(!is_auth_cookie("theme"));
    }

    #[test]
    fn superseded_plain_cookies_are_removed() {
        let secure = SessionCookies::new(true);
        let mut response = HeaderMap::new();
        response.append(header::SET_COOKIE, secure.session("new"));
        let carried = one("__session=old; __refresh=r");
        let removed = SessionCookies::superseded(&carried, &response);
        assert_eq!(removed.len(), 1);
        let text = removed[0].to_str().unwrap();
        assert!(
            text.starts_with("__session=;") && text.contains("Max-Age=0"),
            "{text}"
        );
        assert!(text.contains("Path=/") && text.contains("Secure"), "{text}");
        // Nothing carried, or nothing superseded: nothing removed.
        assert!(SessionCookies::superseded(&one("theme=dark"), &response).is_empty());
        assert!(SessionCookies::superseded(&carried, &HeaderMap::new()).is_empty());
        // A response that already removes it (sign-out) is left alone.
        let mut sign_out = HeaderMap::new();
        for c in secure.clear() {
            sign_out.append(header::SET_COOKIE, c);
        }
        assert!(SessionCookies::superseded(&carried, &sign_out).is_empty());
        // Both kinds at once (a sign-in over https).
        response.append(header::SET_COOKIE, secure.refresh("r2", 60));
        assert_eq!(SessionCookies::superseded(&carried, &response).len(), 2);
    }
}

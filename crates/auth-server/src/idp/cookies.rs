//! The two auth cookies, built with the `cookie` crate: `__session` (the short-lived JWT) and
//! `__refresh` (the opaque refresh secret). Both `HttpOnly; SameSite=Lax; Path=/`, plus `Secure`
//! when the public URL is https.

use cookie::{Cookie, SameSite};
use http::{HeaderMap, HeaderValue};

/// Name of the cookie holding the session JWT.
pub const SESSION_COOKIE: &str = "__session";
/// Name of the cookie holding the refresh secret.
pub const REFRESH_COOKIE: &str = "__refresh";

fn base(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(secure)
        .build()
}

fn header(cookie: &Cookie<'_>) -> HeaderValue {
    // Values are base64url / JWTs: always valid header bytes.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` for the session JWT. No `Max-Age`: the JWT carries its own expiry and the refresh
/// cookie brings a new one.
pub(crate) fn session_cookie(token: &str, secure: bool) -> HeaderValue {
    header(&base(SESSION_COOKIE, token.to_owned(), secure))
}

/// `Set-Cookie` for the refresh secret, living as long as the session.
pub(crate) fn refresh_cookie(secret: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let mut c = base(REFRESH_COOKIE, secret.to_owned(), secure);
    c.set_max_age(cookie::time::Duration::seconds(max_age_secs.max(0)));
    header(&c)
}

/// `Set-Cookie` headers removing both cookies.
pub(crate) fn clear_cookies(secure: bool) -> Vec<HeaderValue> {
    [SESSION_COOKIE, REFRESH_COOKIE]
        .into_iter()
        .map(|name| {
            let mut c = base(name, String::new(), secure);
            c.make_removal();
            header(&c)
        })
        .collect()
}

/// The value of a request cookie (the first one of that name).
pub(crate) fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes() {
        let c = session_cookie("abc", false);
        let s = c.to_str().unwrap();
        assert!(s.starts_with("__session=abc"));
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax") && s.contains("Path=/"));
        assert!(!s.contains("Secure"));
        let r = refresh_cookie("xyz", 100, true);
        let r = r.to_str().unwrap();
        assert!(r.contains("Secure") && r.contains("Max-Age=100"));
        let cleared = clear_cookies(false);
        assert_eq!(cleared.len(), 2);
        assert!(cleared[1].to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn reading() {
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; __refresh=r1"),
        );
        h.append(
            http::header::COOKIE,
            HeaderValue::from_static("__session=s1"),
        );
        assert_eq!(read_cookie(&h, REFRESH_COOKIE).as_deref(), Some("r1"));
        assert_eq!(read_cookie(&h, SESSION_COOKIE).as_deref(), Some("s1"));
        assert_eq!(read_cookie(&h, "nope"), None);
    }
}

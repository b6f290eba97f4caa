//! Finding the session token in a request (rules on [`token_from_headers`]).

use crate::cookies;
use auth_types::contract::cookies::REFRESH;
use http::{HeaderMap, header};

/// The cookie that carries the session token (the same name as Clerk's).
///
/// ```
/// assert_eq!(auth_server::SESSION_COOKIE, "__session");
/// ```
pub const SESSION_COOKIE: &str = auth_types::contract::cookies::SESSION;

/// Tokens longer than this (8 KiB) are refused before any decoding.
///
/// ```
/// assert_eq!(auth_server::MAX_TOKEN_BYTES, 8192);
/// ```
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Where a token was found.
///
/// ```
/// use auth_server::{TokenSource, token_from_headers};
/// let mut headers = http::HeaderMap::new();
/// headers.insert("cookie", "__session=abc".parse().unwrap());
/// assert_eq!(token_from_headers(&headers), Some(("abc", TokenSource::Cookie)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer …`.
    Bearer,
    /// The `__session` cookie.
    Cookie,
}

/// Finds the session token of a request. Returns `None` (signed out) for anything missing,
/// malformed or ambiguous; never panics.
///
/// Order: an `Authorization: Bearer <jwt>` header wins when present, then the `__session` cookie.
/// Extraction never fails with an error: anything odd means "no token", i.e. signed out.
///
/// The rules, chosen to be lenient on spelling and strict on ambiguity:
///
/// * The `Bearer` scheme is matched case-insensitively (RFC 7235) and surrounding or repeated
///   spaces are ignored: `bearer  abc ` yields `abc`.
/// * A `Bearer` header without a token, or whose token contains whitespace, yields no token and
///   does **not** fall back to the cookie (the client said which credential it meant).
/// * An `Authorization` header with another scheme (`Basic …`), an empty one, or a non-UTF-8 one
///   is ignored, and the cookie is used.
/// * Several `Authorization` headers are ambiguous: no token.
/// * Cookies are parsed with the `cookie` crate. An empty `__session` cookie is no token; several
///   `__session` cookies (for example one per path or domain) are ambiguous: no token. The
///   `__refresh` cookie follows the same rule.
/// * A request whose `Bearer` token is refused stays signed out: the
///   [`AuthLayer`](crate::AuthLayer) never falls back to the cookies nor refreshes a session for it.
///
/// ```
/// use auth_server::{TokenSource, token_from_headers};
/// let mut headers = http::HeaderMap::new();
/// headers.insert("authorization", "Bearer aaa.bbb.ccc".parse().unwrap());
/// headers.insert("cookie", "__session=xxx.yyy.zzz".parse().unwrap());
/// assert_eq!(token_from_headers(&headers), Some(("aaa.bbb.ccc", TokenSource::Bearer)));
/// ```
pub fn token_from_headers(headers: &HeaderMap) -> Option<(&str, TokenSource)> {
    match credentials(headers) {
        Credentials::Bearer(token) => token.map(|t| (t, TokenSource::Bearer)),
        Credentials::Cookies { session, .. } => session.map(|t| (t, TokenSource::Cookie)),
    }
}

/// What a request presents, by the rules of [`token_from_headers`]: what the
/// [`AuthLayer`](crate::AuthLayer) judges a request by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credentials<'h> {
    /// An `Authorization: Bearer` header (or several `Authorization` headers): judged by it alone,
    /// never by cookies and never refreshed (Clerk's rule). `None` when malformed or ambiguous.
    Bearer(Option<&'h str>),
    /// Browser cookies: the session JWT and the identity provider's refresh secret.
    Cookies {
        session: Option<&'h str>,
        refresh: Option<&'h str>,
    },
}

/// Reads the request's credentials once (see [`Credentials`]).
pub(crate) fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    match bearer(headers) {
        Bearer::Token(t) => Credentials::Bearer(Some(t)),
        Bearer::Invalid => Credentials::Bearer(None),
        Bearer::Absent => Credentials::Cookies {
            session: cookies::read(headers, SESSION_COOKIE),
            refresh: cookies::read(headers, REFRESH),
        },
    }
}

enum Bearer<'a> {
    Absent,
    Invalid,
    Token(&'a str),
}

fn bearer(headers: &HeaderMap) -> Bearer<'_> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Bearer::Absent;
    };
    if values.next().is_some() {
        return Bearer::Invalid;
    }
    // Byte-level: this runs on every request and a token is hundreds of bytes, so the token is
    // scanned once instead of by `to_str` and again for whitespace.
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let value = value.as_bytes().trim_ascii_start();
    let scheme_end = value.iter().position(blank).unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Bearer::Absent;
    }
    let rest = rest.trim_ascii();
    // The common case in one branch-free pass that the compiler vectorises: every byte visible
    // ASCII. Only otherwise tell inner blanks (ambiguous: invalid) from bytes that make the header
    // unreadable, like a non-UTF-8 one (ignored).
    let all_visible = rest
        .iter()
        .fold(0u8, |odd, &b| odd | u8::from(!b.is_ascii_graphic()))
        == 0;
    if !all_visible {
        return if rest.iter().all(|b| b.is_ascii_graphic() || blank(b)) {
            Bearer::Invalid
        } else {
            Bearer::Absent
        };
    }
    match std::str::from_utf8(rest) {
        Ok(token) if !token.is_empty() => Bearer::Token(token),
        _ => Bearer::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    fn tok(pairs: &[(&str, &[u8])]) -> Option<(String, TokenSource)> {
        token_from_headers(&headers(pairs)).map(|(t, s)| (t.to_owned(), s))
    }

    #[test]
    fn bearer_wins_over_cookie() {
        let t = tok(&[
            ("authorization", b"Bearer a.b.c"),
            ("cookie", b"__session=x.y.z"),
        ]);
        assert_eq!(t, Some(("a.b.c".into(), TokenSource::Bearer)));
    }

    #[test]
    fn bearer_spelling_is_lenient() {
        for h in [&b"bearer a.b.c"[..], b"BEARER  a.b.c ", b"  Bearer\ta.b.c"] {
            assert_eq!(
                tok(&[("authorization", h)]),
                Some(("a.b.c".into(), TokenSource::Bearer))
            );
        }
    }

    #[test]
    fn bearer_without_token_is_signed_out_without_fallback() {
        for h in [&b"Bearer"[..], b"Bearer   ", b"Bearer a b", b"Bearer\t"] {
            assert_eq!(
                tok(&[("authorization", h), ("cookie", b"__session=x")]),
                None
            );
        }
    }

    #[test]
    fn other_schemes_fall_back_to_cookie() {
        // Unreadable (non-ASCII) bytes anywhere, the token included, make the header ignored.
        let unreadable = [&b"\xff\xfe"[..], b"Bearer a.b\xffc", b"Bearer \xe9t\xe9 x"];
        for h in [&b"Basic dXNlcjpwYXNz"[..], b"", b"Bearerabc"]
            .into_iter()
            .chain(unreadable)
        {
            assert_eq!(
                tok(&[("authorization", h), ("cookie", b"__session=x.y.z")]),
                Some(("x.y.z".into(), TokenSource::Cookie)),
                "{h:?}"
            );
        }
    }

    #[test]
    fn several_authorization_headers_are_ambiguous() {
        let t = tok(&[
            ("authorization", b"Bearer a"),
            ("authorization", b"Bearer b"),
            ("cookie", b"__session=c"),
        ]);
        assert_eq!(t, None);
    }

    #[test]
    fn cookie_rules() {
        assert_eq!(
            tok(&[("cookie", b"a=1; __session=x.y.z; b=2")]),
            Some(("x.y.z".into(), TokenSource::Cookie))
        );
        assert_eq!(
            tok(&[("cookie", b"a=1"), ("cookie", b"__session=t")]),
            Some(("t".into(), TokenSource::Cookie))
        );
        assert_eq!(tok(&[("cookie", b"__session=")]), None, "empty");
        assert_eq!(
            tok(&[("cookie", b"__session=a; __session=b")]),
            None,
            "duplicate"
        );
        assert_eq!(
            tok(&[("cookie", b"__session=a"), ("cookie", b"__session=b")]),
            None,
            "duplicate across headers"
        );
        assert_eq!(tok(&[("cookie", b"__session_other=a")]), None);
        assert_eq!(tok(&[("cookie", b"\xff__session=a")]), None, "non-UTF-8");
        assert_eq!(tok(&[("cookie", b";;;=;__session")]), None);
        assert_eq!(tok(&[]), None);
    }
}

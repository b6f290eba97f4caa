//! Sign-up / sign-in / sign-out body parsing and validation on arbitrary bytes: what the
//! endpoints run on a request body before touching the database.
//!
//! The first byte picks the endpoint and the `Content-Type` (JSON, JSON with a charset, a
//! `+json` type, a form, `text/plain`, none, or one taken from the input up to the first `\n`);
//! the rest is the body.
//!
//! Invariants: nothing panics; a refusal is 400, 415 or 422 (never 5xx); an accepted sign-up
//! has a normalised, valid email, an 8–128 character (NFKC) password that is not the email, a
//! trimmed name of at most 200 characters without control characters; a sign-in never checks more
//! than 128 password characters and only looks up valid emails; every redirect target is a
//! same-origin path; and normalising again changes nothing.

#![no_main]

use auth_idp::fuzzing::{Endpoint, Parsed, parse};
use auth_idp::fuzzing::{is_valid_email, normalise_email};
use libfuzzer_sys::fuzz_target;

fn check_redirect(redirect: &str) {
    assert!(
        redirect.len() <= 2048
            && redirect.starts_with('/')
            && !redirect.starts_with("//")
            && redirect.bytes().all(|b| b.is_ascii_graphic() && b != b'\\'),
        "unsafe redirect {redirect:?}"
    );
}

fn check(endpoint: Endpoint, p: &Parsed) {
    check_redirect(&p.redirect);
    match endpoint {
        Endpoint::SignUp => {
            assert_eq!(normalise_email(&p.email), p.email, "email not normalised");
            assert!(
                is_valid_email(&p.email),
                "invalid email accepted {:?}",
                p.email
            );
            let chars = p.password.chars().count();
            assert!(
                (8..=128).contains(&chars),
                "password of {chars} chars accepted"
            );
            assert_ne!(
                p.password.trim().to_lowercase(),
                p.email,
                "password equal to email"
            );
            assert_eq!(p.name.trim(), p.name, "name not trimmed");
            assert!(p.name.chars().count() <= 200, "name too long");
            assert!(
                !p.name.chars().any(char::is_control),
                "control char in name"
            );
            // Feeding the accepted values back in is accepted unchanged.
            let again =
                serde_json::json!({"email": p.email, "password": p.password, "name": p.name});
            let again = parse(
                endpoint,
                Some("application/json"),
                again.to_string().as_bytes(),
            )
            .expect("accepted values are accepted again");
            assert_eq!(
                (&again.email, &again.name, &again.password),
                (&p.email, &p.name, &p.password),
                "normalising again changed something"
            );
        }
        Endpoint::SignIn => {
            assert!(p.password.chars().count() <= 128, "unbounded password");
            assert_eq!(normalise_email(&p.email), p.email, "email not normalised");
            if p.plausible {
                assert!(is_valid_email(&p.email), "looked up an invalid email");
            }
        }
        Endpoint::SignOut => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let endpoint = match selector % 3 {
        0 => Endpoint::SignUp,
        1 => Endpoint::SignIn,
        _ => Endpoint::SignOut,
    };
    let mut body = rest;
    let owned;
    let content_type = match (selector / 3) % 7 {
        0 => Some("application/json"),
        1 => Some("application/json; charset=utf-8"),
        2 => Some("application/x-www-form-urlencoded"),
        3 => Some("application/vnd.api+json"),
        4 => Some("text/plain"),
        5 => None,
        _ => {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            owned = String::from_utf8_lossy(&rest[..end]).into_owned();
            body = rest.get(end + 1..).unwrap_or_default();
            Some(owned.as_str())
        }
    };
    match parse(endpoint, content_type, body) {
        Ok(parsed) => check(endpoint, &parsed),
        Err(e) => assert!(
            matches!(e.status.as_u16(), 400 | 415 | 422),
            "refused with {}",
            e.status
        ),
    }
});

//! The `sign_in_up` fuzz target's invariants in the normal suite (stable Rust, every CI run), and
//! the place for regression cases: an input `cargo xtask fuzz` finds crashing goes into
//! `REGRESSIONS` with the fix.

use auth_idp::fuzzing::{Endpoint, Parsed, parse};
use auth_idp::fuzzing::{is_valid_email, normalise_email};
use proptest::prelude::*;

/// `(endpoint, content type, body)` inputs that once broke an invariant, and edge cases worth
/// pinning. None crashed so far; keep the list when one does.
const REGRESSIONS: &[(Endpoint, Option<&str>, &[u8])] = &[
    (Endpoint::SignUp, Some("application/json"), b""),
    (Endpoint::SignUp, Some("application/json"), b"null"),
    (Endpoint::SignUp, Some("application/json"), b"[]"),
    (
        Endpoint::SignUp,
        Some("application/json"),
        b"{\"email\":\"a@b.co\",\"email\":\"c@d.co\",\"password\":\"12345678\"}",
    ),
    (
        Endpoint::SignUp,
        Some("application/json"),
        b"{\"email\":\" A@B.CO \",\"password\":\" a@b.co \"}",
    ),
    (
        Endpoint::SignUp,
        Some("application/x-www-form-urlencoded"),
        b"email=a%40b.co&password=%00%00%00%00%00%00%00%00&name=%0A",
    ),
    (
        Endpoint::SignIn,
        Some("application/x-www-form-urlencoded"),
        b"email=a%40b.co&password=x&redirect_url=%2F%5Cevil.example",
    ),
    (Endpoint::SignIn, Some("APPLICATION/JSON;;;"), b"{}"),
    (
        Endpoint::SignIn,
        Some("application/+json"),
        b"{\"email\":1}",
    ),
    (Endpoint::SignOut, None, b""),
    (Endpoint::SignOut, Some("text/plain"), b""),
    (
        Endpoint::SignOut,
        Some("application/json"),
        b"{\"redirect_url\":\"//evil\"}",
    ),
];

/// The same checks as `fuzz/fuzz_targets/sign_in_up.rs`.
fn check(endpoint: Endpoint, content_type: Option<&str>, body: &[u8]) {
    let parsed: Parsed = match parse(endpoint, content_type, body) {
        Ok(p) => p,
        Err(e) => {
            assert!(
                matches!(e.status.as_u16(), 400 | 415 | 422),
                "refused with {} for {body:?}",
                e.status
            );
            return;
        }
    };
    let r = &parsed.redirect;
    assert!(
        r.starts_with('/')
            && !r.starts_with("//")
            && r.bytes().all(|b| b.is_ascii_graphic() && b != b'\\'),
        "unsafe redirect {r:?}"
    );
    match endpoint {
        Endpoint::SignUp => {
            assert_eq!(normalise_email(&parsed.email), parsed.email);
            assert!(is_valid_email(&parsed.email));
            assert!((8..=128).contains(&parsed.password.chars().count()));
            assert_ne!(parsed.password.trim().to_lowercase(), parsed.email);
            assert_eq!(parsed.name.trim(), parsed.name);
            assert!(parsed.name.chars().count() <= 200);
            assert!(!parsed.name.chars().any(char::is_control));
        }
        Endpoint::SignIn => {
            assert!(parsed.password.chars().count() <= 128);
            assert!(!parsed.plausible || is_valid_email(&parsed.email));
        }
        Endpoint::SignOut => {}
    }
}

#[test]
fn regression_inputs() {
    for (endpoint, content_type, body) in REGRESSIONS {
        check(*endpoint, *content_type, body);
    }
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    prop_oneof![
        Just(Endpoint::SignUp),
        Just(Endpoint::SignIn),
        Just(Endpoint::SignOut)
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(Some("application/json".to_owned())),
        Just(Some("application/x-www-form-urlencoded".to_owned())),
        Just(None),
        "\\PC{0,40}".prop_map(Some),
    ]
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        "\\{\"email\":\"\\PC{0,40}\",\"password\":\"\\PC{0,300}\",\"name\":\"\\PC{0,220}\"(,\"redirect_url\":\"\\PC{0,30}\")?\\}"
            .prop_map(String::into_bytes),
        "email=[a-zA-Z0-9%@.+]{0,40}&password=[a-zA-Z0-9%+]{0,40}(&name=[a-zA-Z0-9%+]{0,40})?"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn bodies_are_refused_cleanly_or_accepted_valid(
        endpoint in endpoint(),
        content_type in content_type(),
        bytes in body_bytes(),
    ) {
        check(endpoint, content_type.as_deref(), &bytes);
    }
}

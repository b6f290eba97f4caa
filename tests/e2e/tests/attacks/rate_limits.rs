//! Rate limits: brute force on one account, password spraying from one address, a parallel
//! burst of guesses.

use crate::{PASSWORD, assert_alive, attempt};
use e2e::AppServer;
use e2e::http::{CLIENT_ADDRESS_HEADER, post_form, post_json, set_cookies, sign_up};
use reqwest::{StatusCode, header};
use serde_json::json;

/// Password guessing on one account stops at the limit (10 failures): 429 with `Retry-After`,
/// also for the *right* password, for every spelling of the email, and for form posts.
#[tokio::test(flavor = "multi_thread")]
async fn brute_force_is_rate_limited() {
    let mut server = AppServer::start().await;
    sign_up(&server, "target@example.com", PASSWORD, "Target").await;
    let mut sent = 0;
    for i in 0..10 {
        let (status, ..) = attempt(&server, "target@example.com", &format!("guess {i:04}")).await;
        sent += 1;
        assert_eq!(status, 401, "guess {i} is an ordinary failure");
    }
    for (email, password) in [
        ("target@example.com", "guess 0010"),
        ("target@example.com", PASSWORD),
        ("TARGET@example.com", PASSWORD),
        ("  target@EXAMPLE.com ", PASSWORD),
    ] {
        let response = post_json(
            &server,
            "/auth/sign-in",
            &json!({ "email": email, "password": password }),
            None,
        )
        .await;
        sent += 1;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{email:?}"
        );
        let retry: u64 = response.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry > 0 && retry <= 15 * 60, "Retry-After {retry}");
        assert!(
            set_cookies(&response).is_empty(),
            "no session while limited"
        );
    }
    let response = post_form(
        &server,
        "/auth/sign-in",
        &[("email", "target@example.com"), ("password", PASSWORD)],
        None,
    )
    .await;
    sent += 1;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/sign-in?error=rate_limited&redirect_url=%2F"
    );
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert!(set_cookies(&response).is_empty());
    assert_alive(&mut server).await;
    eprintln!("brute_force_is_rate_limited: {sent} attack requests");
}

/// Password spraying: one address trying one password against many accounts. The release server
/// sees the peer address (`ConnectInfo`), so after the per-address budget (10 failures) every
/// further attempt from it is refused, whatever the account — with no proxy header configured.
#[tokio::test(flavor = "multi_thread")]
async fn password_spraying_from_one_address_is_rate_limited() {
    let server = AppServer::start().await;
    sign_up(&server, "sprayed@example.com", PASSWORD, "Sprayed").await;
    for i in 0..10 {
        let (status, ..) = attempt(&server, &format!("user{i}@example.com"), "Summer2026!").await;
        assert_eq!(status, 401, "attempt {i} is an ordinary failure");
    }
    // Another account, even with its right password: this address has used its budget.
    let (status, ..) = attempt(&server, "sprayed@example.com", PASSWORD).await;
    assert_eq!(status, 429, "the 11th attempt from one address is refused");
}

/// A burst of concurrent guesses against one account: each is counted before its (slow) password
/// check, so no more than the budget (10) get an answer other than 429.
#[tokio::test(flavor = "multi_thread")]
async fn a_parallel_burst_of_guesses_cannot_overshoot_the_limit() {
    // Each request poses as another address: only the per-account limit is under test here.
    let server =
        AppServer::start_with_env(&[("AUTH_TRUSTED_IP_HEADER", CLIENT_ADDRESS_HEADER)]).await;
    sign_up(&server, "burst@example.com", PASSWORD, "Burst").await;
    let guesses = (0..40).map(|i| {
        let server = &server;
        async move {
            attempt(server, "burst@example.com", &format!("parallel guess {i}"))
                .await
                .0
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + limited, statuses.len(), "{statuses:?}");
    assert!(
        checked <= 10,
        "{checked} guesses were checked: {statuses:?}"
    );
}

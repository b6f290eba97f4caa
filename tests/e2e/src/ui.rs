//! Page-level helpers for the browser tests: waiting for elements and hydration, typing,
//! clicking, and signing up through the prebuilt form.

use crate::AppServer;
use fantoccini::{Client, Locator};
use std::time::{Duration, Instant};

pub const NAME: &str = "Ada Lovelace";
pub const PASSWORD: &str = "correct horse battery";

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Waits until `css` matches an element.
pub async fn wait_for(client: &Client, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if client.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "timed out waiting for `{css}` on {:?}",
        client.current_url().await.map(|u| u.to_string())
    );
}

/// Waits until the wasm has hydrated the page (the layout's effect ran).
pub async fn wait_hydrated(client: &Client) {
    wait_for(client, r#"header[data-hydrated="true"]"#).await;
}

pub async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
        .click()
        .await
        .unwrap();
}

pub async fn type_into(client: &Client, css: &str, text: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// The browser's cookies for this site as a `Cookie` header (includes HttpOnly ones).
pub async fn cookie_header(client: &Client) -> String {
    client
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Signs up through the prebuilt form (after hydration, so it submits with fetch) and waits
/// for the redirect target.
pub async fn sign_up(server: &AppServer, client: &Client, email: &str) {
    client
        .goto(&server.url("/sign-up?redirect_url=%2Fdashboard"))
        .await
        .unwrap();
    wait_hydrated(client).await;
    type_into(client, "#sign-up-name", NAME).await;
    type_into(client, "#sign-up-email", email).await;
    type_into(client, "#sign-up-password", PASSWORD).await;
    click(client, "#sign-up-submit").await;
    let greeting = wait_greeting(client).await;
    assert_eq!(greeting, format!("Welcome, {NAME}!"));
    let url = client.current_url().await.unwrap();
    assert_eq!(url.path(), "/dashboard");
}

pub async fn wait_greeting(client: &Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(el) = client.find(Locator::Css("#dashboard-greeting")).await
            && let Ok(text) = el.text().await
            && text.contains(NAME)
        {
            return text;
        }
        if Instant::now() > deadline {
            let error = match client.find(Locator::Css(".auth-error")).await {
                Ok(el) => el.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!(
                "no dashboard greeting; url {:?}, form error {error:?}",
                client.current_url().await.map(|u| u.to_string())
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
        .text()
        .await
        .unwrap()
}

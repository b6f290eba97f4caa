//! The full-stack pipeline, proven once in a real browser: SSR with a value from the request,
//! hydration, and a server function call from a click.

use e2e::{AppServer, Browser};
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread")]
async fn server_html_carries_the_request_value_before_any_wasm() {
    let server = AppServer::start().await;
    let http = reqwest::Client::new();

    let without = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(without.status(), 200);
    let html = without.text().await.unwrap();
    assert!(
        html.contains("no __session cookie"),
        "signed-out HTML: {html}"
    );

    let with = http
        .get(server.url("/"))
        .header("cookie", "theme=dark; __session=abc")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        with.contains("a __session cookie"),
        "HTML with cookie: {with}"
    );
    assert!(!with.contains("no __session cookie"));
}

#[tokio::test(flavor = "multi_thread")]
async fn page_hydrates_and_calls_a_server_function() {
    let server = AppServer::start().await;
    let browser = Browser::start().await;
    let client = browser.client();

    client.goto(&server.url("/")).await.unwrap();
    browser.wait_for_text("#hydration", "Hydrated").await;
    let cookie_text = client
        .find(Locator::Css("#session-cookie"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(cookie_text, "no __session cookie");

    client
        .find(Locator::Css("#greet"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text("#greeting", "Hello from the server, a Chromium browser!")
        .await;

    browser.assert_clean_console().await;
}

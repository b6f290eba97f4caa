//! Not a check: `cargo xtask screenshot` runs this to take the README's picture of the app
//! (signed in, on the home page) in headless Chromium, into `$SCREENSHOT_PATH`.

use e2e::ui::{sign_up, wait_hydrated};
use e2e::{AppServer, Browser};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "run by `cargo xtask screenshot`, which writes docs/screenshot.png"]
async fn readme_screenshot() {
    let path = std::env::var("SCREENSHOT_PATH").expect("SCREENSHOT_PATH: where to write the PNG");
    let server = AppServer::start().await;
    let browser = Browser::start().await;
    let client = browser.client();
    client.set_window_size(1100, 760).await.unwrap();
    sign_up(&server, client, "ada@example.com").await;
    client.goto(&server.url("/")).await.unwrap();
    wait_hydrated(client).await;
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "chromedriver returned a PNG");
    std::fs::write(&path, png).unwrap();
}

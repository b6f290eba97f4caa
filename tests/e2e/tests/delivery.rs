//! What a browser downloads (issue 18): every wasm, JS and CSS file of the release bundle is
//! answered brotli-compressed to a client that accepts `br` (precompressed at bundle time:
//! `pre_compress` in `Dioxus.toml`), as it is to one that does not, and with
//! `Vary: Accept-Encoding` either way so a shared cache keeps the two apart. Prints the bytes of
//! a cold first visit of `/`.
//!
//! Run: `APP_BUNDLE_DIR=$(cargo xtask bundle) cargo test -p e2e --test delivery`.

use e2e::AppServer;
use e2e::http::client;
use reqwest::header;

/// The bundle's compressible assets: `(file name, size as is, size of its .br copy)`.
fn compressible_assets(bundle: &std::path::Path) -> Vec<(String, u64, Option<u64>)> {
    let dir = bundle.join("public/assets");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the bundle has public/assets") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let compressible = [".wasm", ".js", ".css"]
            .iter()
            .any(|ext| name.ends_with(ext));
        if !compressible {
            continue;
        }
        let size = std::fs::metadata(&path).unwrap().len();
        let br = std::fs::metadata(format!("{}.br", path.display()))
            .ok()
            .map(|m| m.len());
        found.push((name, size, br));
    }
    found.sort();
    found
}

fn has_vary_accept_encoding(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("accept-encoding"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_served_brotli_compressed_with_vary() {
    let server = AppServer::start().await;
    let assets = compressible_assets(&e2e::process::ServerProcess::bundle_dir());
    assert!(
        assets.iter().any(|(name, ..)| name.ends_with(".wasm")),
        "no wasm in the bundle: {assets:?}"
    );
    let http = client();
    let page = http
        .get(server.url("/"))
        .header(header::ACCEPT_ENCODING, "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    // What a first visit downloads: the page, the assets it names, and those its scripts name
    // (the JS glue names the wasm). A bundle folder may also hold older hashed files.
    let bundle = e2e::process::ServerProcess::bundle_dir();
    let mut used: Vec<&str> = assets
        .iter()
        .map(|(name, ..)| name.as_str())
        .filter(|name| html.contains(*name))
        .collect();
    let scripts: Vec<String> = used
        .iter()
        .filter(|name| name.ends_with(".js"))
        .map(|name| std::fs::read_to_string(bundle.join("public/assets").join(name)).unwrap())
        .collect();
    for (name, ..) in &assets {
        if !used.contains(&name.as_str()) && scripts.iter().any(|js| js.contains(name.as_str())) {
            used.push(name);
        }
    }
    assert!(
        used.iter().any(|name| name.ends_with(".wasm")),
        "the page's scripts name no wasm: {used:?}"
    );
    let mut first_visit = html.len() as u64;
    for (name, size, br) in &assets {
        let br = br.unwrap_or_else(|| panic!("{name}: no precompressed .br copy in the bundle"));
        assert!(
            br < *size,
            "{name}: brotli {br} B is not smaller than {size} B"
        );
        let url = server.url(&format!("/assets/{name}"));

        let compressed = http
            .get(&url)
            .header(header::ACCEPT_ENCODING, "br, gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(compressed.status(), 200, "{name}");
        assert_eq!(
            compressed
                .headers()
                .get(header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok()),
            Some("br"),
            "{name}: not brotli"
        );
        assert!(has_vary_accept_encoding(&compressed), "{name}: no Vary");
        let body = compressed.bytes().await.unwrap();
        assert_eq!(body.len() as u64, br, "{name}: body is not the .br copy");
        if used.contains(&name.as_str()) {
            first_visit += br;
        }

        // Control: a client that does not accept brotli gets the file as it is.
        let plain = http
            .get(&url)
            .header(header::ACCEPT_ENCODING, "identity")
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), 200, "{name}");
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert!(has_vary_accept_encoding(&plain), "{name}: no Vary (plain)");
        assert_eq!(plain.bytes().await.unwrap().len() as u64, *size, "{name}");
        eprintln!("{name}: {size} B as is, {br} B brotli");
    }
    eprintln!("cold first visit of / (the page, then {used:?} with br): {first_visit} B");
}

/// The release wasm carries no debug info: dx links it with `strip = false` and keeps debug
/// sections by default, which once shipped ~70 KB brotli of the standard library's DWARF to every
/// browser (the app's `build.rs` has the linker drop it). Custom sections are named in plain
/// text, so a `.debug_*` section shows as its name in the file's bytes.
#[test]
fn the_release_wasm_carries_no_debug_info() {
    let bundle = e2e::process::ServerProcess::bundle_dir();
    let assets = compressible_assets(&bundle);
    let wasms: Vec<&String> = assets
        .iter()
        .map(|(name, ..)| name)
        .filter(|name| name.ends_with(".wasm"))
        .collect();
    assert!(!wasms.is_empty(), "no wasm in the bundle: {assets:?}");
    for name in wasms {
        let bytes = std::fs::read(bundle.join("public/assets").join(name)).unwrap();
        for section in [&b".debug_info"[..], b".debug_line", b".debug_str"] {
            assert!(
                !bytes.windows(section.len()).any(|w| w == section),
                "{name} carries a {} section",
                String::from_utf8_lossy(section)
            );
        }
    }
}

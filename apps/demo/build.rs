//! Link options for the browser build; the server build is left as it is.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "wasm32");
    // The profile's `debug`: `false` in `wasm-release`, on in the dev profiles (`dx serve`).
    let no_debug_info = std::env::var("DEBUG").is_ok_and(|debug| debug == "false");
    if wasm && no_debug_info {
        // `dx bundle --release` links with `strip = false` and keeps debug sections by default
        // (`--debug-symbols`), so a release wasm still carried the standard library's DWARF:
        // ~270 KB raw, ~70 KB brotli of nothing the browser uses. The linker drops it.
        println!("cargo::rustc-link-arg-bins=--strip-debug");
    }
}

//! The "Source:" line every page ends with: a link to the file that implements the page, served
//! by the app itself (`GET /source/<path>`, see `api.rs`), so it works in any copy of the
//! template, online or not.

use dioxus::prelude::*;

/// Links to `/source/{path}`; pass `file!()` (the workspace-relative path of the caller).
#[component]
pub fn Source(path: &'static str) -> Element {
    rsx! {
        p { class: "source",
            "Source: "
            a { href: "/source/{path}", target: "_blank", "{path}" }
        }
    }
}

//! The app's display name (header, home page). A project generated from the template gets its own
//! name here (see `brand.rs.liquid`).

/// Shown in the header and as the home page's title.
pub const APP_NAME: &str = "Dioxus Auth Starter";

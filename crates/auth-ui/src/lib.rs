//! Dioxus hooks and components for the auth template.

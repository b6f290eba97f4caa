//! One module a page.

mod home;

pub use home::Home;

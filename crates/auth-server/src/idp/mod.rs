//! The embedded identity provider.

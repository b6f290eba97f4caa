//! Browser-test helpers.

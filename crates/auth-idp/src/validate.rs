//! Input normalisation and validation for sign-up and sign-in.

/// Longest accepted name (characters).
pub const MAX_NAME_CHARS: usize = 200;

/// Trims and lowercases an email address.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A sane (not RFC-complete) check of a normalised email: one `@`, a non-empty local part of at
/// most 64 bytes without spaces or control characters, and a domain of dot-separated labels of
/// letters, digits and hyphens (not starting or ending with a hyphen) with at least one dot.
pub fn is_valid_email(email: &str) -> bool {
    if email.len() > 254 {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(normalise_email("  Ada@Example.COM "), "ada@example.com");
        for ok in ["a@b.co", "first.last+tag@sub.example.org", "x_y-z@a-b.io"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a@@b.co", "a b@c.co", "a@b..co", "a@-b.co", ".a@b.co",
            "a@b.co\n", "a@b_c.co", "<a>@b.co",
        ] {
            assert!(!is_valid_email(bad), "{bad:?}");
        }
    }
}

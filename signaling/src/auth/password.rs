//! Password hashes: argon2id with the crate's default (OWASP) parameters,
//! stored as PHC strings (`$argon2id$v=19$m=...`), so parameters can be
//! raised later without invalidating existing hashes.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest password accepted for a professional account.
pub const MIN_LEN: usize = 12;
/// Longest: bounds the hashing work an attacker can ask for.
pub const MAX_LEN: usize = 256;

/// Hashes `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, crate::Error> {
    let n = password.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&n) {
        return Err(crate::Error::PasswordLength {
            min: MIN_LEN,
            max: MAX_LEN,
        });
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(crate::Error::PasswordHash)
}

/// Whether `password` matches the PHC string `hash` (constant-time compare
/// inside argon2). Over-long passwords never match.
pub fn verify(password: &str, hash: &str) -> bool {
    if password.len() > 4 * MAX_LEN {
        return false;
    }
    let Ok(parsed) = argon2::PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Does the work of one verification for nothing, for unknown logins.
pub fn burn(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let h = DUMMY.get_or_init(|| hash("not-a-real-password-0").unwrap_or_default());
    let _ = verify(password, h);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterx", &a));
        assert!(!verify("x", "not a hash"));
        assert!(hash("short").is_err());
    }
}

//! The second factor: TOTP (RFC 6238), SHA-1, 6 digits, 30-second steps,
//! one step of clock skew either way, as authenticator apps expect.

use session::Timestamp;
use totp_rs::{Algorithm, Builder, Totp};

/// Bytes of a new shared secret (160 bits, RFC 4226's recommendation).
pub const SECRET_LEN: usize = 20;
const ISSUER: &str = "teleconsult";

fn totp(secret: &[u8], account: &str) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_issuer(Some(ISSUER))
        .with_account_name(account.replace(':', "_"))
        .build()
        .ok()
}

/// A fresh random secret.
pub fn new_secret() -> Result<Vec<u8>, crate::Error> {
    let mut s = vec![0u8; SECRET_LEN];
    getrandom::fill(&mut s).map_err(crate::Error::Randomness)?;
    Ok(s)
}

/// The `otpauth://` provisioning URI an authenticator app scans.
pub fn provisioning_uri(secret: &[u8], login: &str) -> Result<String, crate::Error> {
    totp(secret, login)
        .and_then(|t| t.to_url().ok())
        .ok_or(crate::Error::TotpUri)
}

/// The secret in base32, for typing into an app by hand.
pub fn secret_base32(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret.to_vec()).to_base32()
}

/// The time step `code` is valid for at `now`, if any.
pub fn check(secret: &[u8], code: &str, now: Timestamp) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = u64::try_from(now.as_micros() / 1_000_000).ok()?;
    totp(secret, "check")?.check(code, secs)
}

/// The code for `now` (for tests and the command line's self-check).
pub fn code_at(secret: &[u8], now: Timestamp) -> Option<String> {
    let secs = u64::try_from(now.as_micros() / 1_000_000).ok()?;
    Some(totp(secret, "check")?.generate(secs).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (the 8-digit vectors, last 6 digits).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59i64, "287082"),
            (1111111109, "081804"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            let now = Timestamp::from_micros(t * 1_000_000);
            assert_eq!(code_at(secret, now).unwrap(), code, "t={t}");
            assert_eq!(check(secret, code, now), Some(t as u64 / 30));
        }
        let now = Timestamp::from_micros(59_000_000);
        assert_eq!(check(secret, "287083", now), None);
        assert_eq!(check(secret, "28708", now), None);
        // One step of skew either way, not two.
        let later = Timestamp::from_micros(89_000_000);
        assert!(check(secret, "287082", later).is_some());
        let much_later = Timestamp::from_micros(120_000_000);
        assert!(check(secret, "287082", much_later).is_none());
    }

    #[test]
    fn uri_names_issuer_and_account() {
        let uri = provisioning_uri(&[1; 20], "dr-fictif").unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains("issuer=teleconsult"), "{uri}");
        assert!(uri.contains("dr-fictif"), "{uri}");
    }
}

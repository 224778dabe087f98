//! Reading a verified identity's claims: the RPPS number (a configurable
//! claim, `SubjectNameID` = `8` + RPPS for Pro Santé Connect) and the name.
//! The claims come from the verified ID token, with the verified userinfo's
//! over them.

use serde_json::{Map, Value};
use session::Rpps;

/// Why no RPPS number came out of the claims (the audit names it; the
/// claims themselves are never logged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RppsClaimError {
    /// The claim is absent, or not a string.
    Missing,
    /// It does not start with the configured prefix.
    Prefix,
    /// What follows is not 11 digits with a right Luhn check digit.
    Invalid,
}

/// The RPPS number in `claims[claim]`, after `prefix`, checked with the
/// RPPS Luhn rule.
pub fn rpps_from(
    claims: &Map<String, Value>,
    claim: &str,
    prefix: &str,
) -> Result<Rpps, RppsClaimError> {
    let value = claims
        .get(claim)
        .and_then(Value::as_str)
        .ok_or(RppsClaimError::Missing)?
        .trim();
    let digits = value.strip_prefix(prefix).ok_or(RppsClaimError::Prefix)?;
    digits.parse::<Rpps>().map_err(|_| RppsClaimError::Invalid)
}

/// The name the claims give (`name_claims` joined with a space, the
/// absent ones left out), at most 200 characters; `None` if none is there.
pub fn name_from(claims: &Map<String, Value>, name_claims: &[String]) -> Option<String> {
    let parts: Vec<&str> = name_claims
        .iter()
        .filter_map(|c| claims.get(c).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let name: String = parts
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn the_rpps_follows_the_prefix_and_passes_luhn() {
        let c = claims(json!({"SubjectNameID": "810101010105", "other": "810000000009"}));
        assert_eq!(
            rpps_from(&c, "SubjectNameID", "8").unwrap().as_str(),
            "10101010105"
        );
        assert_eq!(rpps_from(&c, "other", "8").unwrap().as_str(), "10000000009");
        // Another claim name and no prefix.
        let c = claims(json!({"rpps": "10000000009"}));
        assert_eq!(rpps_from(&c, "rpps", "").unwrap().as_str(), "10000000009");
    }

    #[test]
    fn bad_rpps_claims_are_refused_with_their_reason() {
        let c = claims(json!({
            "no_prefix": "10101010105",
            "adeli": "012345678",
            "luhn": "810101010106",
            "short": "81010101010",
            "number": 810101010105u64,
            "letters": "8101010101a5",
        }));
        assert_eq!(
            rpps_from(&c, "SubjectNameID", "8"),
            Err(RppsClaimError::Missing)
        );
        assert_eq!(rpps_from(&c, "number", "8"), Err(RppsClaimError::Missing));
        assert_eq!(
            rpps_from(&c, "no_prefix", "8"),
            Err(RppsClaimError::Prefix),
            "the bare RPPS, without the 8"
        );
        assert_eq!(rpps_from(&c, "adeli", "8"), Err(RppsClaimError::Prefix));
        assert_eq!(rpps_from(&c, "luhn", "8"), Err(RppsClaimError::Invalid));
        assert_eq!(rpps_from(&c, "short", "8"), Err(RppsClaimError::Invalid));
        assert_eq!(rpps_from(&c, "letters", "8"), Err(RppsClaimError::Invalid));
    }

    #[test]
    fn the_name_joins_the_claims_present() {
        let names = ["given_name".to_string(), "family_name".to_string()];
        let c = claims(json!({"given_name": "Camille", "family_name": "Exemple"}));
        assert_eq!(name_from(&c, &names).as_deref(), Some("Camille Exemple"));
        let c = claims(json!({"family_name": " Exemple "}));
        assert_eq!(name_from(&c, &names).as_deref(), Some("Exemple"));
        assert_eq!(name_from(&claims(json!({})), &names), None);
    }
}

//! The `[oidc]` table of the settings file: which OpenID Connect provider
//! professionals may sign in with, and how its claims are read.
//!
//! ```toml
//! [oidc]
//! issuer = "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet"
//! client_id = "teleconsult-example"
//! client_secret = "..."
//! scopes = ["openid", "scope_all"]
//! acr_values = "eidas1"          # asked for, and the ID token's `acr` checked
//! rpps_claim = "SubjectNameID"   # the claim holding the RPPS number...
//! rpps_prefix = "8"              # ...after this prefix (8 = RPPS in the IDNPS)
//! name_claims = ["given_name", "family_name"]
//! userinfo = true                # also read the userinfo endpoint (signed or not)
//! create_accounts = false        # a first sign-in with an unknown RPPS makes an account
//! label = "Pro Santé Connect"    # the button on the sign-in page
//! id = "pro-sante-connect"       # the provider's name in sessions and the audit
//! ```

use openidconnect::url;
use serde::Deserialize;

/// The `[oidc]` table. See the module docs.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The provider's issuer URL; its discovery document is at
    /// `ISSUER/.well-known/openid-configuration`. https, except on
    /// loopback (tests).
    pub issuer: String,
    pub client_id: String,
    /// The confidential client's secret (client_secret_basic).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes asked for; `openid` is always asked.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// `acr_values` sent in the authorization request (space-separated);
    /// when set, the ID token's `acr` must be one of them.
    #[serde(default)]
    pub acr_values: Option<String>,
    /// The claim (ID token or userinfo) holding the RPPS number.
    #[serde(default = "default_rpps_claim")]
    pub rpps_claim: String,
    /// What comes before the 11 digits in that claim (`8` in Pro Santé
    /// Connect's `SubjectNameID`: the IDNPS of an RPPS number).
    #[serde(default = "default_rpps_prefix")]
    pub rpps_prefix: String,
    /// Claims joined (with a space) into the name of an account made on
    /// first sign-in.
    #[serde(default = "default_name_claims")]
    pub name_claims: Vec<String>,
    /// Whether to read the userinfo endpoint (its claims override the ID
    /// token's). Pro Santé Connect gives the RPPS there.
    #[serde(default = "yes")]
    pub userinfo: bool,
    /// Whether a first sign-in whose RPPS number no account holds makes a
    /// professional account (audited); otherwise it is refused.
    #[serde(default)]
    pub create_accounts: bool,
    /// The sign-in button's label.
    #[serde(default = "default_label")]
    pub label: String,
    /// The provider's name in sessions (`GET /api/session`'s `provider`)
    /// and the audit.
    #[serde(default = "default_id")]
    pub id: String,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into()]
}
fn default_rpps_claim() -> String {
    "SubjectNameID".into()
}
fn default_rpps_prefix() -> String {
    "8".into()
}
fn default_name_claims() -> Vec<String> {
    vec!["given_name".into(), "family_name".into()]
}
fn default_label() -> String {
    "Pro Santé Connect".into()
}
fn default_id() -> String {
    "pro-sante-connect".into()
}
fn yes() -> bool {
    true
}

/// Whether `host` (a URL's host) is a loopback name or address.
fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(a) => a.is_loopback(),
        url::Host::Ipv6(a) => a.is_loopback(),
    }
}

impl OidcSettings {
    /// Checks the table; the error names the key and what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let issuer =
            url::Url::parse(&self.issuer).map_err(|e| format!("oidc.issuer is not a URL ({e})"))?;
        let host = issuer
            .host()
            .ok_or_else(|| "oidc.issuer has no host".to_string())?;
        match issuer.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            _ => return Err("oidc.issuer must be an https:// URL (http only on loopback)".into()),
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err("oidc.issuer has no query or fragment".into());
        }
        if self.client_id.trim().is_empty() {
            return Err("oidc.client_id is empty".into());
        }
        if self.client_secret.as_deref().is_some_and(str::is_empty) {
            return Err("oidc.client_secret is empty; leave it out for a public client".into());
        }
        let bad_token =
            |s: &str| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control());
        if let Some(s) = self.scopes.iter().find(|s| bad_token(s)) {
            return Err(format!("oidc.scopes: {s:?} is not a scope (one word each)"));
        }
        if let Some(acr) = &self.acr_values
            && acr.split_whitespace().next().is_none()
        {
            return Err("oidc.acr_values is empty; leave it out to ask for none".into());
        }
        if bad_token(&self.rpps_claim) {
            return Err("oidc.rpps_claim must name one claim".into());
        }
        if self.rpps_prefix.len() > 16 || self.rpps_prefix.chars().any(|c| c.is_control()) {
            return Err("oidc.rpps_prefix has at most 16 characters".into());
        }
        if let Some(s) = self.name_claims.iter().find(|s| bad_token(s)) {
            return Err(format!("oidc.name_claims: {s:?} is not a claim name"));
        }
        if self.label.trim().is_empty() || self.label.chars().count() > 64 {
            return Err("oidc.label has 1 to 64 characters".into());
        }
        if self.id.is_empty()
            || self.id.len() > 32
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err("oidc.id has 1 to 32 characters among a-z, 0-9 and '-'".into());
        }
        if self.id == "local" {
            return Err("oidc.id cannot be \"local\" (the password sign-in's)".into());
        }
        Ok(())
    }

    /// The `acr` values asked for, if any.
    pub fn acr(&self) -> Vec<&str> {
        self.acr_values
            .as_deref()
            .map(|a| a.split_whitespace().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<OidcSettings, String> {
        let s: OidcSettings = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        s.check()?;
        Ok(s)
    }

    const PSC: &str = r#"
issuer = "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet"
client_id = "teleconsult-example"
client_secret = "fictitious"
scopes = ["openid", "scope_all"]
acr_values = "eidas1"
"#;

    #[test]
    fn pro_sante_connect_settings_take_the_defaults() {
        let s = parse(PSC).unwrap();
        assert_eq!(s.rpps_claim, "SubjectNameID");
        assert_eq!(s.rpps_prefix, "8");
        assert_eq!(s.acr(), ["eidas1"]);
        assert!(s.userinfo && !s.create_accounts);
        assert_eq!(s.id, "pro-sante-connect");
        assert!(
            !format!("{s:?}").contains("fictitious"),
            "the secret is not logged"
        );
    }

    #[test]
    fn bad_settings_name_the_key() {
        let cases = [
            (
                PSC.replace("https://auth", "http://auth"),
                "oidc.issuer must be an https",
            ),
            (
                PSC.replace("https://auth.esw.esante.gouv.fr", "not a url"),
                "oidc.issuer is not a URL",
            ),
            (PSC.replace("teleconsult-example", ""), "oidc.client_id"),
            (PSC.replace("\"fictitious\"", "\"\""), "oidc.client_secret"),
            (PSC.replace("\"scope_all\"", "\"two words\""), "oidc.scopes"),
            (PSC.replace("\"eidas1\"", "\" \""), "oidc.acr_values"),
            (format!("{PSC}rpps_claim = \"\"\n"), "oidc.rpps_claim"),
            (format!("{PSC}label = \"\"\n"), "oidc.label"),
            (format!("{PSC}id = \"Pro Santé\"\n"), "oidc.id"),
            (format!("{PSC}id = \"local\"\n"), "oidc.id"),
            (format!("{PSC}unknown_key = 1\n"), "unknown_key"),
            ("client_id = \"x\"\n".to_string(), "issuer"),
        ];
        for (text, expected) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(expected), "{expected:?} not in {e:?}");
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:9000",
            "http://localhost:9000/realm",
            "http://[::1]:1",
        ] {
            assert!(
                parse(&PSC.replace(
                    "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet",
                    ok
                ))
                .is_ok(),
                "{ok}"
            );
        }
        for bad in ["http://10.0.0.1", "http://example.org", "ftp://127.0.0.1"] {
            assert!(
                parse(&PSC.replace(
                    "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet",
                    bad
                ))
                .is_err(),
                "{bad}"
            );
        }
    }
}

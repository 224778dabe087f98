//! Professional sign-in: who is behind a request.
//!
//! - [`password`]: argon2id password hashes;
//! - [`totp`]: the RFC 6238 second factor;
//! - [`sessions`]: signed-in sessions behind an HttpOnly, Secure,
//!   SameSite=Strict cookie, and the login rate limiter.
//!
//! - [`oidc`]: sign-in over OpenID Connect (Pro Santé Connect).
//!
//! Its routes (`POST/GET/DELETE /api/session`) are in `api::sign_in`, and
//! OpenID Connect's (`/api/oidc/...`) in `api::oidc`.
//!
//! **The seam.** Everything past sign-in (sessions, roles, the access
//! policy, the audit) works on an [`Authenticated`] identity and does not
//! know how it was proven. [`IdentityProvider`] turns [`Credentials`] into
//! one. [`LocalAccounts`] checks a password and a TOTP code against the
//! accounts table; [`oidc::OidcSignIn`] takes the `AuthorizationCode`
//! variant (after its redirect route), checks the ID token, maps the RPPS
//! claim to an account, and returns the same `Authenticated`.

pub mod oidc;
pub mod password;
pub mod sessions;
pub mod totp;

use std::sync::Arc;

use session::Pii;
use session::Rpps;
use session::Timestamp;
use session::access::{AccessStore, AccountRole};

/// A proven identity: what a session is opened for.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub account: i64,
    pub login: String,
    pub role: AccountRole,
    /// The person's name as the account holds it (`None` when the
    /// provider gave none): shown back to them, never logged.
    pub name: Option<Pii<String>>,
    /// The RPPS number the account acts under; `None` for an administrator
    /// who is not a practising professional.
    pub rpps: Option<Pii<Rpps>>,
    /// Which provider proved it (`local`, or the OpenID Connect provider's
    /// configured id, `pro-sante-connect` by default).
    pub provider: &'static str,
}

/// What a person presents to sign in.
#[derive(Clone)]
pub enum Credentials {
    /// Password and TOTP code, checked against the local accounts.
    Password {
        login: String,
        password: String,
        totp: String,
    },
    /// An OpenID Connect authorization code and state, for a provider
    /// such as Pro Santé Connect, with the binding cookie of the browser
    /// bringing them back (the one that started must finish).
    AuthorizationCode {
        code: String,
        state: String,
        browser: Option<String>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl Credentials {
    /// The login named, if any (for rate limiting and the audit).
    pub fn login(&self) -> Option<&str> {
        match self {
            Credentials::Password { login, .. } => Some(login),
            Credentials::AuthorizationCode { .. } => None,
        }
    }
}

/// Why a sign-in failed. The client is told only "not valid"; the audit
/// log gets the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginFailure {
    UnknownLogin,
    BadPassword,
    BadSecondFactor,
    /// A TOTP code already used once.
    ReplayedSecondFactor,
    Disabled,
    /// This provider does not take these credentials.
    Unsupported,
    /// The account's row does not match what the signed access log proves
    /// (its role or state was edited outside the server): refused, and
    /// reported by `trace verify`. The client is told only "not valid",
    /// before any password check, so it learns nothing more.
    NotProven,
    /// The store failed; not the person's fault.
    Internal,
    // --- OpenID Connect (`auth::oidc`) ----------------------------------
    /// The state is unknown, expired, used already, or brought back by
    /// another browser than the one that started.
    OidcState,
    /// The provider sent the browser back with an error (the person
    /// cancelled, or was refused there).
    OidcDenied,
    /// The provider did not answer (in time), or answered no discovery.
    OidcUnreachable,
    /// The token endpoint refused the code.
    OidcTokenRefused,
    /// The ID token's (or signed userinfo's) signature does not verify.
    OidcSignature,
    /// It is meant for another client (`aud`).
    OidcAudience,
    /// It comes from another issuer (`iss`).
    OidcIssuer,
    /// Its nonce is not the one this sign-in sent.
    OidcNonce,
    /// It has expired (`exp`).
    OidcExpired,
    /// Its `acr` is not one of those asked for (e.g. not `eidas1`).
    OidcAcr,
    /// Anything else wrong in what the provider answered.
    OidcInvalid,
    /// The RPPS claim is missing, lacks its prefix, or fails the Luhn rule.
    OidcRpps,
    /// No account holds this RPPS number, and accounts are not made on
    /// first sign-in.
    OidcNoAccount,
    /// Several accounts hold this RPPS number.
    OidcAmbiguous,
    /// Too many sign-ins are under way.
    OidcBusy,
}

impl LoginFailure {
    /// The audit outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginFailure::UnknownLogin => "failed:unknown_login",
            LoginFailure::BadPassword => "failed:password",
            LoginFailure::BadSecondFactor => "failed:totp",
            LoginFailure::ReplayedSecondFactor => "failed:totp_replayed",
            LoginFailure::Disabled => "failed:disabled",
            LoginFailure::Unsupported => "failed:unsupported",
            LoginFailure::NotProven => "failed:account_not_proven",
            LoginFailure::Internal => "failed:internal",
            LoginFailure::OidcState => "failed:oidc_state",
            LoginFailure::OidcDenied => "failed:oidc_denied",
            LoginFailure::OidcUnreachable => "failed:oidc_unreachable",
            LoginFailure::OidcTokenRefused => "failed:oidc_token_refused",
            LoginFailure::OidcSignature => "failed:oidc_signature",
            LoginFailure::OidcAudience => "failed:oidc_audience",
            LoginFailure::OidcIssuer => "failed:oidc_issuer",
            LoginFailure::OidcNonce => "failed:oidc_nonce",
            LoginFailure::OidcExpired => "failed:oidc_expired",
            LoginFailure::OidcAcr => "failed:oidc_acr",
            LoginFailure::OidcInvalid => "failed:oidc_invalid",
            LoginFailure::OidcRpps => "failed:oidc_rpps",
            LoginFailure::OidcNoAccount => "failed:oidc_no_account",
            LoginFailure::OidcAmbiguous => "failed:oidc_ambiguous",
            LoginFailure::OidcBusy => "failed:oidc_busy",
        }
    }

    /// The code the sign-in page is sent back with
    /// (`/pro.html?signin_error=CODE`), which it translates. Nothing there
    /// tells apart a login from a password failure.
    pub fn page_code(self) -> &'static str {
        match self {
            LoginFailure::Disabled => "account_disabled",
            LoginFailure::Internal => "internal",
            LoginFailure::UnknownLogin
            | LoginFailure::BadPassword
            | LoginFailure::BadSecondFactor
            | LoginFailure::ReplayedSecondFactor
            | LoginFailure::Unsupported
            | LoginFailure::NotProven => "credentials_invalid",
            other => other.as_str().trim_start_matches("failed:"),
        }
    }
}

/// Turns credentials into a proven identity. See the module docs.
pub trait IdentityProvider: Send + Sync + std::fmt::Debug {
    /// Checks `credentials` at `now`. May block (password hashing is slow
    /// on purpose): call it off the async runtime.
    fn authenticate(
        &self,
        credentials: &Credentials,
        now: Timestamp,
    ) -> Result<(Authenticated, i64), (LoginFailure, Option<i64>)>;
}

/// Password + TOTP against the accounts table of the store.
#[derive(Debug)]
pub struct LocalAccounts {
    pub access: Arc<AccessStore>,
}

impl IdentityProvider for LocalAccounts {
    /// Returns the identity and its account id, or the failure and the
    /// account id when the login exists (for the audit).
    fn authenticate(
        &self,
        credentials: &Credentials,
        now: Timestamp,
    ) -> Result<(Authenticated, i64), (LoginFailure, Option<i64>)> {
        let Credentials::Password {
            login,
            password,
            totp,
        } = credentials
        else {
            return Err((LoginFailure::Unsupported, None));
        };
        let account = match self.access.account(login) {
            Ok(Some(a)) => a,
            Ok(None) => {
                // Spend the same time as a real check, so timing does not
                // tell which logins exist.
                password::burn(password);
                return Err((LoginFailure::UnknownLogin, None));
            }
            Err(session::Error::AccountNotProven(why)) => {
                tracing::error!(%why, "sign-in refused: the account does not match the signed log");
                password::burn(password);
                return Err((LoginFailure::NotProven, None));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the accounts");
                return Err((LoginFailure::Internal, None));
            }
        };
        let id = Some(account.id);
        if !password::verify(password, &account.password_hash) {
            return Err((LoginFailure::BadPassword, id));
        }
        let Some(step) = totp::check(account.secrets.totp_secret.expose(), totp, now) else {
            return Err((LoginFailure::BadSecondFactor, id));
        };
        if account.disabled_at.is_some() {
            return Err((LoginFailure::Disabled, id));
        }
        match self.access.use_totp_step(account.id, step) {
            Ok(true) => {}
            Ok(false) => return Err((LoginFailure::ReplayedSecondFactor, id)),
            Err(e) => {
                tracing::error!(error = %e, "cannot record the TOTP step");
                return Err((LoginFailure::Internal, id));
            }
        }
        Ok((
            Authenticated {
                account: account.id,
                login: account.login,
                role: account.role,
                name: Some(account.secrets.name),
                rpps: account.secrets.rpps,
                provider: "local",
            },
            account.id,
        ))
    }
}

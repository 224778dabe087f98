//! Sign-in over OpenID Connect, as Pro Santé Connect speaks it: the
//! authorization code flow with PKCE (S256), `acr_values` asked for and
//! the returned `acr` checked, the signed ID token verified (signature,
//! `iss`, `aud`, `exp`, `nonce`: the `openidconnect` crate does it), the
//! userinfo read when configured (a signed `application/jwt` answer is
//! verified by the crate, a plain JSON one accepted), and the RPPS number
//! taken from a configured claim and matched to the professional account
//! holding it (or, when allowed, an account made on first sign-in).
//!
//! - [`settings`]: the `[oidc]` table of the settings file;
//! - [`pending`]: sign-ins under way (state, nonce, PKCE verifier), bounded
//!   and expiring;
//! - [`claims`]: the RPPS number and the name from the verified claims;
//! - [`next`]: where a sign-in may lead afterwards.
//!
//! [`OidcSignIn`] is an [`IdentityProvider`] taking
//! [`Credentials::AuthorizationCode`]; its routes are in `api::oidc`.
//! Every exchange with the provider goes through one HTTP client that
//! follows no redirect and gives up after [`HTTP_TIMEOUT`]. The provider's
//! discovery document is fetched when first needed, not at start (a
//! provider down then does not stop the server), kept [`METADATA_TTL`],
//! and fetched again after a failure no sooner than [`RETRY_AFTER`].

pub mod claims;
pub mod next;
pub mod pending;
pub mod settings;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationContextClass, AuthorizationCode, ClaimsVerificationError,
    Client, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse, UserInfoError, reqwest, url,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use session::access::{AccessStore, AccountRole, AccountSecrets, NewAccount};
use session::{Pii, Timestamp};

use super::{Authenticated, Credentials, IdentityProvider, LoginFailure};
use pending::{Pending, PendingTable};
pub use settings::OidcSettings;

/// The most one request to the provider may take (connect, send, read).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the discovery document (and the provider's keys) is kept.
pub const METADATA_TTL: Duration = Duration::from_secs(3600);
/// After a failed discovery, how long sign-ins fail at once rather than
/// each waiting for the provider again.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);
/// The name of the cookie binding a sign-in under way to the browser that
/// started it (`SameSite=Lax`: the provider sends the browser back with a
/// cross-site top-level navigation).
pub const BINDING_COOKIE: &str = "__Host-teleconsult-oidc";

/// Every claim, whatever its name: the RPPS claim is configured.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AnyClaims {
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}
impl AdditionalClaims for AnyClaims {}

type IdFields = IdTokenFields<
    AnyClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<IdFields, CoreTokenType>;
/// The client as built from the provider's discovery document.
type OidcClient = Client<
    AnyClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The discovery document, when fetched, and the last failure.
#[derive(Debug, Default)]
struct Discovery {
    metadata: Option<(CoreProviderMetadata, Instant)>,
    failed_at: Option<Instant>,
}

/// What the provider proved, verified: every claim of the ID token with
/// the userinfo's over them. Never logged.
pub struct Verified {
    pub claims: Map<String, Value>,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verified(<redacted>)")
    }
}

/// Sign-in with one OpenID Connect provider. See the module docs.
pub struct OidcSignIn {
    settings: OidcSettings,
    /// `settings.id`, for [`Authenticated::provider`] (made once, at start).
    id: &'static str,
    redirect: RedirectUrl,
    http: reqwest::Client,
    discovery: tokio::sync::Mutex<Discovery>,
    pending: Mutex<PendingTable>,
    access: Arc<AccessStore>,
}

impl std::fmt::Debug for OidcSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSignIn")
            .field("settings", &self.settings)
            .field("redirect", &self.redirect.as_str())
            .finish_non_exhaustive()
    }
}

/// A sign-in started: where to send the browser, and the binding cookie's
/// value to set on it.
#[derive(Debug)]
pub struct Started {
    pub authorize: url::Url,
    pub browser: String,
}

/// Random bytes, base64url: a binding cookie's value.
fn random_token() -> Result<String, crate::Error> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(crate::Error::Randomness)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The failure an ID token (or signed userinfo) verification error is.
fn claims_failure(e: &ClaimsVerificationError) -> LoginFailure {
    match e {
        ClaimsVerificationError::SignatureVerification(_) => LoginFailure::OidcSignature,
        ClaimsVerificationError::InvalidAudience(_) => LoginFailure::OidcAudience,
        ClaimsVerificationError::InvalidIssuer(_) => LoginFailure::OidcIssuer,
        ClaimsVerificationError::InvalidNonce(_) => LoginFailure::OidcNonce,
        ClaimsVerificationError::Expired(_) => LoginFailure::OidcExpired,
        ClaimsVerificationError::InvalidAuthContext(_) => LoginFailure::OidcAcr,
        _ => LoginFailure::OidcInvalid,
    }
}

/// The claims of a verified token or userinfo, as one JSON object.
fn as_map(claims: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(claims) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

impl OidcSignIn {
    /// The provider of `settings` (checked), sending browsers back to
    /// `public_url` + `/api/oidc/callback`. Nothing is fetched yet.
    pub fn new(
        settings: OidcSettings,
        public_url: &str,
        access: Arc<AccessStore>,
    ) -> Result<OidcSignIn, crate::Error> {
        settings.check().map_err(crate::Error::OidcSettings)?;
        let redirect = RedirectUrl::new(format!(
            "{}/api/oidc/callback",
            public_url.trim_end_matches('/')
        ))
        .map_err(|e| crate::Error::OidcSettings(format!("public_url: {e}")))?;
        let http = reqwest::Client::builder()
            // Following redirects would let the provider's answers point
            // the server anywhere (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| crate::Error::OidcSettings(format!("HTTP client: {e}")))?;
        let id: &'static str = Box::leak(settings.id.clone().into_boxed_str());
        Ok(OidcSignIn {
            settings,
            id,
            redirect,
            http,
            discovery: tokio::sync::Mutex::default(),
            pending: Mutex::default(),
            access,
        })
    }

    /// The sign-in button's label.
    pub fn label(&self) -> &str {
        &self.settings.label
    }

    /// The provider's name in sessions and the audit.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The provider's discovery document: the one kept, or fetched now.
    async fn metadata(&self) -> Result<CoreProviderMetadata, LoginFailure> {
        let mut d = self.discovery.lock().await;
        if let Some((m, at)) = &d.metadata
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        if d.failed_at.is_some_and(|at| at.elapsed() < RETRY_AFTER) {
            return Err(LoginFailure::OidcUnreachable);
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|_| LoginFailure::OidcUnreachable)?;
        match CoreProviderMetadata::discover_async(issuer, &self.http).await {
            Ok(m) => {
                d.metadata = Some((m.clone(), Instant::now()));
                d.failed_at = None;
                Ok(m)
            }
            Err(e) => {
                tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "OpenID Connect discovery failed");
                d.failed_at = Some(Instant::now());
                // A kept document past its time still serves.
                match &d.metadata {
                    Some((m, _)) => Ok(m.clone()),
                    None => Err(LoginFailure::OidcUnreachable),
                }
            }
        }
    }

    /// Fetches the discovery document ahead of the first sign-in (at start,
    /// in the background: a failure is only logged and retried later).
    pub async fn warm_up(&self) {
        let _ = self.metadata().await;
    }

    /// Makes the next sign-in fetch the discovery document (and keys) again
    /// (after a signature that no known key verifies: keys may have rolled).
    async fn forget_metadata(&self) {
        self.discovery.lock().await.metadata = None;
    }

    fn client(&self, metadata: CoreProviderMetadata) -> OidcClient {
        OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Starts a sign-in leading to `next` (already checked): where to send
    /// the browser, with a new state, nonce and PKCE challenge kept here.
    pub async fn start(&self, next: &str, now: Timestamp) -> Result<Started, LoginFailure> {
        let client = self.client(self.metadata().await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        for acr in self.settings.acr() {
            request =
                request.add_auth_context_value(AuthenticationContextClass::new(acr.to_string()));
        }
        let (authorize, state, nonce) = request.url();
        let browser = random_token().map_err(|_| LoginFailure::Internal)?;
        let pending = Pending::new(
            verifier.secret().clone(),
            nonce.secret().clone(),
            next.to_string(),
            &browser,
            now,
        );
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(state.secret().clone(), pending, now)
            .map_err(|_| LoginFailure::OidcBusy)?;
        Ok(Started { authorize, browser })
    }

    /// Where the sign-in of `state` leads, while it is under way.
    pub fn next_of(&self, state: &str) -> Option<String> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next_of(state)
            .map(str::to_string)
    }

    /// Exchanges `code` for tokens, verifies the ID token against
    /// `pending` (and the `acr` asked for), and reads the userinfo when
    /// configured. The claims are never logged.
    pub async fn verify(&self, code: &str, pending: Pending) -> Result<Verified, LoginFailure> {
        let client = self.client(self.metadata().await?);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|_| LoginFailure::OidcInvalid)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                let failure = match &e {
                    RequestTokenError::Request(_) => LoginFailure::OidcUnreachable,
                    RequestTokenError::ServerResponse(_) => LoginFailure::OidcTokenRefused,
                    RequestTokenError::Parse(..) | RequestTokenError::Other(_) => LoginFailure::OidcInvalid,
                };
                tracing::warn!(error = %e, outcome = failure.as_str(), "OpenID Connect token request failed");
                failure
            })?;
        let id_token = tokens.id_token().ok_or(LoginFailure::OidcInvalid)?;
        let acr: Vec<String> = self
            .settings
            .acr()
            .into_iter()
            .map(str::to_string)
            .collect();
        let verifier = client
            .id_token_verifier()
            .set_auth_context_verifier_fn(move |got| {
                if acr.is_empty() || got.is_some_and(|g| acr.iter().any(|a| a == g.as_str())) {
                    Ok(())
                } else {
                    Err("acr is not one of those asked for".into())
                }
            });
        let nonce = Nonce::new(pending.nonce.clone());
        let id_claims = match id_token.claims(&verifier, &nonce) {
            Ok(c) => c,
            Err(e) => {
                let failure = claims_failure(&e);
                tracing::warn!(error = %e, outcome = failure.as_str(), "ID token refused");
                if failure == LoginFailure::OidcSignature {
                    self.forget_metadata().await;
                }
                return Err(failure);
            }
        };
        let subject = id_claims.subject().clone();
        let mut claims = as_map(id_claims);
        if self.settings.userinfo {
            let request = client
                .user_info(tokens.access_token().clone(), Some(subject))
                .map_err(|_| LoginFailure::OidcInvalid)?;
            let info = request
                .request_async::<AnyClaims, _, CoreGenderClaim>(&self.http)
                .await
                .map_err(|e| {
                    let failure = match &e {
                        UserInfoError::Request(_) => LoginFailure::OidcUnreachable,
                        UserInfoError::ClaimsVerification(c) => claims_failure(c),
                        _ => LoginFailure::OidcInvalid,
                    };
                    tracing::warn!(error = %e, outcome = failure.as_str(), "userinfo refused");
                    failure
                })?;
            claims.extend(as_map(&info));
        }
        Ok(Verified { claims })
    }

    /// The account the verified claims prove: the professional account
    /// holding their RPPS number, or one made now when the settings allow.
    /// The failure carries the account id when one is known (audit).
    pub fn account_for(
        &self,
        verified: &Verified,
        now: Timestamp,
    ) -> Result<(Authenticated, i64), (LoginFailure, Option<i64>)> {
        let s = &self.settings;
        let rpps = claims::rpps_from(&verified.claims, &s.rpps_claim, &s.rpps_prefix)
            .map_err(|_| (LoginFailure::OidcRpps, None))?;
        let internal = |e: session::Error| {
            tracing::error!(error = %e, "cannot read the accounts");
            (LoginFailure::Internal, None)
        };
        let logins = self.access.logins_with_rpps(&rpps).map_err(internal)?;
        let login = match logins.as_slice() {
            [one] => one.clone(),
            [] if s.create_accounts => return self.create_account(rpps, verified, now),
            [] => return Err((LoginFailure::OidcNoAccount, None)),
            _ => return Err((LoginFailure::OidcAmbiguous, None)),
        };
        let account = match self.access.account(&login) {
            Ok(Some(a)) => a,
            Ok(None) => return Err((LoginFailure::OidcNoAccount, None)),
            Err(session::Error::AccountNotProven(why)) => {
                tracing::error!(%why, "sign-in refused: the account does not match the signed log");
                return Err((LoginFailure::NotProven, None));
            }
            Err(e) => return Err(internal(e)),
        };
        if account.disabled_at.is_some() {
            return Err((LoginFailure::Disabled, Some(account.id)));
        }
        Ok((
            Authenticated {
                account: account.id,
                login: account.login,
                role: account.role,
                name: Some(account.secrets.name),
                rpps: account.secrets.rpps,
                provider: self.id,
            },
            account.id,
        ))
    }

    /// Makes the professional account of a first sign-in (no password: it
    /// signs in through the provider only), audited as `account_added` by
    /// `oidc:ID`.
    fn create_account(
        &self,
        rpps: session::Rpps,
        verified: &Verified,
        now: Timestamp,
    ) -> Result<(Authenticated, i64), (LoginFailure, Option<i64>)> {
        let internal = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "cannot make the account of a first sign-in");
            (LoginFailure::Internal, None)
        };
        let name = claims::name_from(&verified.claims, &self.settings.name_claims)
            .unwrap_or_else(|| format!("RPPS {}", rpps.as_str()));
        // The login names neither the person nor the number.
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).map_err(|e| internal(&e))?;
        let login = format!("{}-{}", self.id, hex::encode(tag));
        // Never used (this account signs in only through the provider),
        // but every account holds one.
        let totp = super::totp::new_secret().map_err(|e| internal(&e))?;
        let id = self
            .access
            .add_account(
                NewAccount {
                    login: login.clone(),
                    role: AccountRole::Professional,
                    // Not a PHC string: no password ever matches it.
                    password_hash: "!oidc".into(),
                    secrets: AccountSecrets {
                        name: Pii::new(name.clone()),
                        rpps: Some(Pii::new(rpps.clone())),
                        totp_secret: Pii::new(totp),
                    },
                },
                now,
            )
            .map_err(|e| internal(&e))?;
        self.access
            .record(
                &format!("oidc:{}", self.id),
                "account_added",
                None,
                &format!("account:{id}"),
                now,
            )
            .map_err(|e| internal(&e))?;
        Ok((
            Authenticated {
                account: id,
                login,
                role: AccountRole::Professional,
                name: Some(Pii::new(name)),
                rpps: Some(Pii::new(rpps)),
                provider: self.id,
            },
            id,
        ))
    }

    /// Drops the sign-in under way of `state` (the provider answered with
    /// an error instead of a code).
    pub fn abandon(&self, state: &str) {
        let _ = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(state, None, Timestamp::from_micros(0));
    }

    /// Takes the sign-in under way of `state`, for the browser holding the
    /// binding cookie `browser` (once).
    fn take(&self, state: &str, browser: Option<&str>, now: Timestamp) -> Option<Pending> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(state, browser, now)
    }
}

impl IdentityProvider for OidcSignIn {
    /// Finishes a sign-in: the state taken (once, by the browser that
    /// started it), the code exchanged and the tokens verified, the
    /// account found. Runs the provider's requests on the async runtime it
    /// is called from: call it with `spawn_blocking`, as every provider.
    fn authenticate(
        &self,
        credentials: &Credentials,
        now: Timestamp,
    ) -> Result<(Authenticated, i64), (LoginFailure, Option<i64>)> {
        let Credentials::AuthorizationCode {
            code,
            state,
            browser,
        } = credentials
        else {
            return Err((LoginFailure::Unsupported, None));
        };
        let pending = self
            .take(state, browser.as_deref(), now)
            .ok_or((LoginFailure::OidcState, None))?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| (LoginFailure::Internal, None))?;
        let verified = runtime
            .block_on(self.verify(code, pending))
            .map_err(|f| (f, None))?;
        self.account_for(&verified, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_token_problem_has_its_own_cause() {
        let cases = [
            (ClaimsVerificationError::Expired("x".into()), "oidc_expired"),
            (
                ClaimsVerificationError::InvalidAudience("x".into()),
                "oidc_audience",
            ),
            (
                ClaimsVerificationError::InvalidIssuer("x".into()),
                "oidc_issuer",
            ),
            (
                ClaimsVerificationError::InvalidNonce("x".into()),
                "oidc_nonce",
            ),
            (
                ClaimsVerificationError::InvalidAuthContext("x".into()),
                "oidc_acr",
            ),
            (
                ClaimsVerificationError::InvalidSubject("x".into()),
                "oidc_invalid",
            ),
        ];
        for (e, code) in cases {
            let f = claims_failure(&e);
            assert_eq!(f.page_code(), code);
            assert_eq!(f.as_str(), format!("failed:{code}"));
        }
        // The password sign-in's causes are not told apart on the page.
        for f in [
            LoginFailure::UnknownLogin,
            LoginFailure::BadPassword,
            LoginFailure::NotProven,
        ] {
            assert_eq!(f.page_code(), "credentials_invalid");
        }
    }

    #[test]
    fn claims_are_never_printed() {
        let mut claims = Map::new();
        claims.insert("SubjectNameID".into(), Value::from("810101010105"));
        let v = Verified { claims };
        assert!(!format!("{v:?}").contains("8101"));
    }
}

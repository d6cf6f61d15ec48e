//! Who is calling (ADR 0014). Every public route but health and `/openapi.json` needs a
//! bearer JWT of the registrar's identity provider (`[api.auth]`): signature checked against
//! the provider's JWKS with one allowed asymmetric algorithm per key, then issuer, audience,
//! expiry and not-before; its claims name one [`Caller`]. The account a booking or a
//! verification belongs to is the verified caller's, never a field of a request body.
//!
//! The alternative for system-to-system callers is a client certificate on the public
//! listener (mTLS, `api.auth.client_ca_file`): verified by rustls against the configured CA,
//! one whose DNS name is in `api.auth.registrar_clients` is the registrar, acting for the
//! account in its `Kezek-Account` header.
//!
//! Refusals: 401 with `WWW-Authenticate: Bearer` for a missing, malformed, forged or expired
//! token; 403 for a role the route does not serve. Someone else's booking or verification is
//! a 404, the same as one that does not exist.

mod caller;
pub mod dev;
mod keys;

pub use caller::{Caller, Claims};

use crate::config::AuthConfig;
use crate::problem::Problem;
use anyhow::Context;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use keys::{Keys, Source};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Largest clock skew an operator may allow on `exp` and `nbf`.
const MAX_LEEWAY_S: u64 = 300;

/// Verifies bearer tokens; built once from `[api.auth]`. Without that section it refuses
/// every token.
#[derive(Clone)]
pub struct Authenticator {
    verifier: Option<Arc<Verifier>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("configured", &self.verifier.is_some())
            .finish()
    }
}

struct Verifier {
    issuer: String,
    audience: String,
    allowed: Vec<Algorithm>,
    leeway_s: u64,
    keys: Keys,
    operators_on_admin: bool,
    registrar_clients: Vec<String>,
    require_applicant_iin: bool,
}

/// The end-entity certificate a client presented on the public listener, already verified
/// against `api.auth.client_ca_file` by the TLS handshake; put on each request of that
/// connection by the listener.
#[derive(Debug, Clone)]
pub struct ClientCertificate(pub rustls_pki_types::CertificateDer<'static>);

/// The header in which a registrar authenticated by its certificate names the account it
/// acts for.
pub const ACCOUNT_HEADER: &str = "kezek-account";

/// Why a token was not accepted: the 401's detail. Says what is wrong, never what the token
/// holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Expired,
    NotYetValid,
    Issuer,
    Audience,
    Claims(&'static str),
    NotConfigured,
}

impl Refusal {
    pub fn detail(&self) -> &'static str {
        match self {
            Self::Missing => "a bearer token is required (Authorization: Bearer <JWT>)",
            Self::Malformed => "the bearer token is not a well-formed JWT",
            Self::Algorithm => "the token's signature algorithm is not accepted",
            Self::UnknownKey => {
                "the token was signed with a key the identity provider does not publish"
            }
            Self::Signature => "the token's signature does not verify",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::Issuer => "the token was not issued by the trusted identity provider",
            Self::Audience => "the token is not meant for this gateway (audience)",
            Self::Claims(why) => why,
            Self::NotConfigured => "this gateway accepts no tokens: api.auth is not configured",
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = Problem::new(StatusCode::UNAUTHORIZED, self.detail()).into_response();
        // RFC 6750 §3: no error code when no credentials were sent.
        let challenge = match self {
            Self::Missing => r#"Bearer realm="kezek""#,
            _ => r#"Bearer realm="kezek", error="invalid_token""#,
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        response
    }
}

impl Authenticator {
    /// One that refuses every token.
    pub fn refusing() -> Self {
        Self { verifier: None }
    }

    /// From `[api.auth]`: the algorithms are checked and a JWKS file is read now, so a
    /// mistake stops the start; a JWKS URL is fetched on first use.
    pub async fn from_config(config: Option<&AuthConfig>) -> anyhow::Result<Self> {
        let Some(config) = config else {
            tracing::warn!("no [api.auth]: every public route but health answers 401");
            return Ok(Self::refusing());
        };
        let allowed = allowed_algorithms(&config.algorithms)?;
        if config.leeway_s > MAX_LEEWAY_S {
            anyhow::bail!("api.auth.leeway_s is at most {MAX_LEEWAY_S}");
        }
        if config.issuer.is_empty() || config.audience.is_empty() {
            anyhow::bail!("api.auth.issuer and api.auth.audience must not be empty");
        }
        let source = match (&config.jwks_file, &config.jwks_url) {
            (Some(file), None) => Source::File(file.clone()),
            (None, Some(url)) => Source::url(url, config.jwks_ca_file.as_deref())?,
            _ => anyhow::bail!("api.auth needs exactly one of jwks_file and jwks_url"),
        };
        let is_file = matches!(source, Source::File(_));
        let keys = Keys::new(
            source,
            allowed.clone(),
            Duration::from_secs(config.jwks_max_age_s),
            Duration::from_millis(config.jwks_min_refresh_ms),
        );
        if is_file {
            keys.load()
                .await
                .map_err(anyhow::Error::msg)
                .context("api.auth.jwks_file (for development: `kezek dev-token` writes it)")?;
        }
        Ok(Self {
            verifier: Some(Arc::new(Verifier {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                allowed,
                leeway_s: config.leeway_s,
                keys,
                operators_on_admin: config.operator_tokens_on_admin,
                registrar_clients: config.registrar_clients.clone(),
                require_applicant_iin: config.require_applicant_iin,
            })),
        })
    }

    /// The caller a bearer token proves, or why it proves none.
    pub async fn verify(&self, token: &str) -> Result<Caller, Refusal> {
        let verifier = self.verifier.as_ref().ok_or(Refusal::NotConfigured)?;
        // The header is read unverified only to pick the key; `none` and unknown algorithms
        // do not even parse.
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
        if !verifier.allowed.contains(&header.alg) {
            return Err(Refusal::Algorithm);
        }
        let key = verifier
            .keys
            .find(header.kid.as_deref())
            .await
            .ok_or(Refusal::UnknownKey)?;
        // The key's own algorithm, and only it: an RSA or EdDSA key never checks an HMAC.
        if key.alg != header.alg {
            return Err(Refusal::Algorithm);
        }
        let mut validation = Validation::new(key.alg);
        validation.set_issuer(&[&verifier.issuer]);
        validation.set_audience(&[&verifier.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = verifier.leeway_s;
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.key, &validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => Refusal::Expired,
                    ErrorKind::ImmatureSignature => Refusal::NotYetValid,
                    ErrorKind::InvalidIssuer => Refusal::Issuer,
                    ErrorKind::InvalidAudience => Refusal::Audience,
                    ErrorKind::InvalidSignature => Refusal::Signature,
                    ErrorKind::InvalidAlgorithm => Refusal::Algorithm,
                    ErrorKind::MissingRequiredClaim(_) => {
                        Refusal::Claims("the token lacks exp, iss, aud or sub")
                    }
                    _ => Refusal::Malformed,
                }
            })?;
        let caller = Caller::from_claims(data.claims).map_err(Refusal::Claims)?;
        if verifier.require_applicant_iin && matches!(caller, Caller::Applicant { iin: None, .. }) {
            return Err(Refusal::Claims(
                "an applicant token must carry the applicant's IIN/BIN (iin)",
            ));
        }
        Ok(caller)
    }

    /// The registrar a verified client certificate is, acting for the account in
    /// [`ACCOUNT_HEADER`]: a certificate for none of `registrar_clients` is refused.
    pub fn client(
        &self,
        certificate: &ClientCertificate,
        headers: &HeaderMap,
    ) -> Result<Caller, Refusal> {
        let verifier = self.verifier.as_ref().ok_or(Refusal::NotConfigured)?;
        let cert = webpki::EndEntityCert::try_from(&certificate.0)
            .map_err(|_| Refusal::Claims("the client certificate cannot be read"))?;
        let client = verifier
            .registrar_clients
            .iter()
            .find(|name| {
                rustls_pki_types::ServerName::try_from(name.as_str())
                    .is_ok_and(|name| cert.verify_is_valid_for_subject_name(&name).is_ok())
            })
            .ok_or(Refusal::Claims(
                "the client certificate is not a registrar's",
            ))?;
        let account = headers
            .get(ACCOUNT_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|a| caller::well_formed(a))
            .ok_or(Refusal::Claims(
                "a registrar names the account it acts for in Kezek-Account",
            ))?;
        Ok(Caller::Registrar {
            client: client.clone(),
            account: account.to_owned(),
        })
    }

    /// Whether the admin listener takes this request's bearer token as an operator's.
    pub(crate) async fn is_operator(&self, headers: &HeaderMap) -> bool {
        let Some(verifier) = &self.verifier else {
            return false;
        };
        if !verifier.operators_on_admin {
            return false;
        }
        match bearer(headers) {
            Some(token) => matches!(self.verify(token).await, Ok(Caller::Operator { .. })),
            None => false,
        }
    }
}

/// The configured algorithm names, asymmetric only.
fn allowed_algorithms(names: &[String]) -> anyhow::Result<Vec<Algorithm>> {
    if names.is_empty() {
        anyhow::bail!("api.auth.algorithms must name at least one algorithm");
    }
    names
        .iter()
        .map(|name| match Algorithm::from_str(name) {
            Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) | Err(_) => {
                anyhow::bail!(
                    "api.auth.algorithms: {name:?} is not an asymmetric signature algorithm \
                     (EdDSA, ES256, ES384, RS256, RS384, RS512, PS256, PS384, PS512)"
                )
            }
            Ok(alg) => Ok(alg),
        })
        .collect()
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The layer on every public route that needs a caller: verifies the bearer token and hands
/// the [`Caller`] to the handler. Operators belong on the admin listener.
pub(crate) async fn require_caller(
    State(auth): State<Authenticator>,
    mut req: Request,
    next: Next,
) -> Response {
    // A bearer token speaks for itself; without one, a verified client certificate may.
    let certificate = req.extensions().get::<ClientCertificate>();
    let verified = match (bearer(req.headers()), certificate) {
        (Some(token), _) => auth.verify(token).await,
        (None, Some(certificate)) => auth.client(certificate, req.headers()),
        (None, None) => Err(Refusal::Missing),
    };
    match verified {
        Ok(Caller::Operator { .. }) => Problem::new(
            StatusCode::FORBIDDEN,
            "operator tokens are for the admin listener",
        )
        .into_response(),
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(refusal) => {
            tracing::debug!(reason = refusal.detail(), "caller refused");
            refusal.into_response()
        }
    }
}

/// The verified caller, as [`require_caller`] left it. Without one (a route the layer does
/// not cover) the request is refused, never served anonymously.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Refusal::Missing.into_response())
    }
}

/// The account a verified applicant or registrar acts on; officers and operators have none
/// and are refused (403).
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub account: String,
    pub caller: Caller,
}

impl Account {
    /// Issue 11 item 2: the registries are asked only about the caller's own application
    /// (when its token says whose digital signature it is, see [`Caller::applies_for`]).
    pub fn may_apply_for(&self, application: &kezek_domain::Application) -> Result<(), Problem> {
        if self.caller.applies_for(application) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "an applicant verifies and books its own applications: the owner's or a driver's \
                 IIN/BIN must be the one in its token",
            ))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Account {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.account() {
            Some(account) => Ok(Self {
                account: account.to_owned(),
                caller: caller.clone(),
            }),
            None => Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!(
                    "an {} token cannot verify or book: those act for an account (an \
                     applicant's or the registrar's token)",
                    caller.role()
                ),
            )
            .into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_asymmetric_algorithms_can_be_configured() {
        for (names, ok) in [
            (vec!["EdDSA", "ES256", "RS256", "PS256"], true),
            (vec!["HS256"], false),
            (vec!["EdDSA", "HS512"], false),
            (vec!["none"], false),
            (vec![], false),
        ] {
            let names: Vec<String> = names.into_iter().map(String::from).collect();
            assert_eq!(allowed_algorithms(&names).is_ok(), ok, "{names:?}");
        }
    }

    #[test]
    fn the_bearer_scheme() {
        for (value, token) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("Bearer ", None),
            ("Basic abc", None),
            ("abc", None),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer(&headers), token, "{value}");
        }
    }
}

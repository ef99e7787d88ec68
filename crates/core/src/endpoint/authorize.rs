//! The authorization endpoint (RFC 6749 §3.1, §4.1.1–4.1.2, §4.2.1–4.2.2) and the resumption of
//! a request after login and consent.
//!
//! Order matters (RFC 6749 §4.1.2.1, RFC 9700 §4.1.3): the client and the redirect URI are
//! checked first, and any problem with them is shown to the user ([`AuthorizeOutcome::ShowError`]),
//! never redirected. Only once the redirect URI is verified do errors travel back to the client
//! as a redirect carrying `error`, `error_description`, `state` and `iss` (RFC 9207 §2), and,
//! except for `prompt=none`, only for a signed-in user (RFC 9700 §4.11.2): without a session a
//! broken request first shows the login page and the error is redirected after the login, so
//! the AS cannot be used to bounce strangers to a registered URI.
//!
//! Login and consent are data crossing the boundary: [`OAuthServer::authorize`] answers
//! [`AuthorizeOutcome::Interaction`], the application shows a page, then calls
//! [`OAuthServer::resume`] with the user's [`Authentication`] and, on the consent page, a
//! [`ConsentDecision`]. The pending request lives in the store, single use, so the steps may be
//! answered by different processes.

use crate::clock::UnixTime;
use crate::error::{ErrorCode, OAuthError};
use crate::grant::Issue;
use crate::model::authorization::{PendingAuthorization, PendingError, ResponseType};
use crate::model::client::Client;
use crate::model::consent::Consent;
use crate::model::scope::{ScopeDef, ScopeSet};
use crate::model::secret::{hash_token, random_id};
use crate::params::Params;
use crate::pkce::{self, CodeChallengeMethod};
use crate::server::{NewAuthorizationCode, OAuthServer};

/// Who the user is, as the application's login established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// The user (`sub`).
    pub subject: String,
    /// When the user authenticated.
    pub auth_time: UnixTime,
}

/// The user's answer on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentDecision {
    /// Approve the requested scopes (remembered for later requests).
    Approve,
    /// Deny: the client receives `access_denied`.
    Deny,
}

/// Which page the user must see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractionKind {
    /// The login page.
    Login,
    /// The consent page.
    Consent,
}

/// A request waiting for the user, with what the page needs to show.
#[derive(Debug, Clone)]
pub struct Interaction {
    /// The interaction id to carry through the page's form (not a secret on its own: the
    /// session and the CSRF token protect the form).
    pub id: String,
    /// Login or consent.
    pub kind: InteractionKind,
    /// The client asking.
    pub client: Client,
    /// Where the answer will go.
    pub redirect_uri: String,
    /// The requested scopes with their registered descriptions, in name order.
    pub scopes: Vec<ScopeDef>,
    /// OIDC `login_hint`.
    pub login_hint: Option<String>,
    /// Preferred languages: `ui_locales` first, then whatever the page adds.
    pub ui_locales: Vec<String>,
}

/// What to do with an authorization request.
#[derive(Debug, Clone)]
pub enum AuthorizeOutcome {
    /// Send the browser here (302/303): a code, a token, or an error for the client.
    Redirect(String),
    /// Show the login or consent page.
    Interaction(Box<Interaction>),
    /// Show an error page; never redirect (the client or redirect URI is not trustworthy).
    ShowError(OAuthError),
}

/// RFC 6749 §4.1.2 and §4.2.2 (and RFC 9207 §2): parameters appended to the redirect URI,
/// in the query (keeping a registered query, §3.1.2) or in the fragment.
fn redirect_with(redirect_uri: &str, fragment: bool, pairs: &[(&str, &str)]) -> String {
    let mut out = String::from(redirect_uri);
    let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    if fragment {
        out.push('#');
    } else {
        out.push(if redirect_uri.contains('?') { '&' } else { '?' });
    }
    out.push_str(&encoded);
    out
}

/// Where and how errors go once the redirect URI is verified.
struct Target<'a> {
    redirect_uri: &'a str,
    fragment: bool,
    state: Option<&'a str>,
    issuer: &'a str,
}

impl Target<'_> {
    fn error(&self, e: &OAuthError) -> AuthorizeOutcome {
        let mut pairs = vec![("error", e.code.as_str())];
        if let Some(d) = &e.description {
            pairs.push(("error_description", d));
        }
        if let Some(s) = self.state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", self.issuer));
        AuthorizeOutcome::Redirect(redirect_with(self.redirect_uri, self.fragment, &pairs))
    }
}

fn show(code: ErrorCode, description: &'static str) -> AuthorizeOutcome {
    AuthorizeOutcome::ShowError(OAuthError::with(code, description))
}

fn invalid(description: &'static str) -> OAuthError {
    OAuthError::invalid_request(description)
}

/// Prompt values (OIDC Core §3.1.2.1).
#[derive(Default)]
struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
}

fn parse_prompt(value: Option<&str>) -> Result<Prompt, OAuthError> {
    let mut p = Prompt::default();
    let Some(value) = value else { return Ok(p) };
    for v in value.split(' ') {
        match v {
            "none" => p.none = true,
            // `select_account` is treated as login: one account per session.
            "login" | "select_account" => p.login = true,
            "consent" => p.consent = true,
            _ => return Err(invalid("unsupported prompt value")),
        }
    }
    // OIDC Core §3.1.2.1: "If this parameter contains none with any other value, an error is
    // returned."
    if p.none && (p.login || p.consent) {
        return Err(invalid("prompt=none cannot be combined with other values"));
    }
    Ok(p)
}

impl OAuthServer {
    /// Handle an authorization request (`GET` query or `POST` form, already parsed; a parse
    /// failure such as a repeated parameter is shown as an error page by the caller).
    /// `session` is the user's current login, if any.
    pub async fn authorize(&self, params: &Params, session: Option<&Authentication>) -> AuthorizeOutcome {
        let now = self.now();
        match self.authorize_at(params, session, now).await {
            Ok(outcome) => outcome,
            Err(e) => self.failed(e),
        }
    }

    /// A store failure before anything could be verified: an error page (RFC 6749 §4.1.2.1
    /// allows a redirect only once the redirect URI is trusted).
    fn failed(&self, e: OAuthError) -> AuthorizeOutcome {
        tracing::error!(error = %e.code, cause = e.cause.as_deref().unwrap_or(""), "authorization request failed");
        AuthorizeOutcome::ShowError(e)
    }

    async fn authorize_at(
        &self,
        params: &Params,
        session: Option<&Authentication>,
        now: UnixTime,
    ) -> Result<AuthorizeOutcome, OAuthError> {
        // 1. Client and redirect URI: problems here are shown, never redirected.
        let Some(client_id) = params.get("client_id") else {
            return Ok(show(ErrorCode::InvalidRequest, "the request has no client_id"));
        };
        let Some(client) = self.store().get_client(client_id).await? else {
            return Ok(show(ErrorCode::InvalidRequest, "the client is unknown"));
        };
        let (redirect_uri, redirect_uri_given) = match params.get("redirect_uri") {
            Some(requested) => match client.registered_redirect_uri(requested) {
                Some(_) => (requested.to_owned(), true),
                None => {
                    return Ok(show(
                        ErrorCode::InvalidRequest,
                        "the redirect_uri is not registered for this client",
                    ))
                }
            },
            // OAuth 2.1 §2.3.2: with several registered URIs the request must name one.
            None => match client.redirect_uris.as_slice() {
                [only] => (only.clone(), false),
                [] => {
                    return Ok(show(ErrorCode::InvalidRequest, "the client has no registered redirect_uri"))
                }
                _ => return Ok(show(ErrorCode::InvalidRequest, "the request must include a redirect_uri")),
            },
        };
        let cfg = self.config();
        let response_type = params.get("response_type");
        let fragment = response_type == Some("token") && cfg.allow_implicit_grant;
        let state = params.get("state");
        let target = Target { redirect_uri: &redirect_uri, fragment, state, issuer: &cfg.issuer };

        // 2. Everything else is answered at the verified redirect URI.
        let pending = match self.validate(params, &client, &redirect_uri, redirect_uri_given, now).await {
            Ok(p) => p,
            Err(e) if matches!(e.code, ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable) => {
                tracing::error!(error = %e.code, cause = e.cause.as_deref().unwrap_or(""), "authorization request failed");
                return Ok(target.error(&e));
            }
            // RFC 9700 §4.11.2: "The authorization server MUST always authenticate the user
            // first and, with the exception of the silent authentication use case, prompt the
            // user for credentials when needed, before redirecting the user." Without a session
            // the error waits in a pending request behind the login page; else anyone could
            // bounce a user who is not signed in through the AS to a registered redirect URI.
            Err(e) if session.is_none() && params.get("prompt") != Some("none") => {
                let mut pending = PendingAuthorization {
                    id_hash: String::new(),
                    client_id: client.id.clone(),
                    redirect_uri: redirect_uri.clone(),
                    redirect_uri_given,
                    response_type: if fragment { ResponseType::Token } else { ResponseType::Code },
                    scopes: ScopeSet::empty(),
                    state: state.map(str::to_owned),
                    code_challenge: None,
                    code_challenge_method: None,
                    nonce: None,
                    prompt_login: false,
                    prompt_consent: false,
                    max_age: None,
                    login_hint: params.get("login_hint").map(str::to_owned),
                    ui_locales: params.get("ui_locales").map(str::to_owned),
                    error: Some(PendingError {
                        code: e.code.as_str().to_owned(),
                        description: e.description.as_deref().map(str::to_owned),
                    }),
                    created_at: now,
                    expires_at: now + cfg.interaction_lifetime,
                };
                return self.interact(&client, &mut pending, false, InteractionKind::Login).await;
            }
            Err(e) => return Ok(target.error(&e)),
        };
        let prompt_none = params.get("prompt") == Some("none");
        // prompt=login: the session the request arrived with never counts, even one started in
        // the same second (auth_time has a one-second resolution); only a login performed for
        // this request, which comes back through `resume`, does.
        let session = if pending.prompt_login { None } else { session };
        Ok(self.decide(&client, pending, false, prompt_none, session, None, now).await)
    }

    /// Validate everything after the redirect URI (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core
    /// §3.1.2.1) and build the pending request.
    async fn validate(
        &self,
        params: &Params,
        client: &Client,
        redirect_uri: &str,
        redirect_uri_given: bool,
        now: UnixTime,
    ) -> Result<PendingAuthorization, OAuthError> {
        let cfg = self.config();
        let response_type = match params.get("response_type") {
            None => return Err(invalid("the request has no response_type")),
            Some("code") => ResponseType::Code,
            Some("token") if cfg.allow_implicit_grant => ResponseType::Token,
            Some(_) => {
                return Err(OAuthError::with(
                    ErrorCode::UnsupportedResponseType,
                    "the response_type is not supported",
                ))
            }
        };
        let (grant, default_mode) = match response_type {
            ResponseType::Code => ("authorization_code", "query"),
            ResponseType::Token => ("implicit", "fragment"),
        };
        if !client.allows_grant(grant) {
            return Err(OAuthError::unauthorized_client("the client may not use this response_type"));
        }
        if params.get("response_mode").is_some_and(|m| m != default_mode) {
            return Err(invalid("the response_mode is not supported"));
        }
        let state = params.get("state");
        if state.is_none() && !cfg.allow_empty_state {
            return Err(invalid("the request has no state"));
        }
        let scopes = self.resolve_scopes(client, params.get("scope")).await?;
        let (code_challenge, code_challenge_method) = self.validate_pkce(params, client, response_type)?;
        let prompt = parse_prompt(params.get("prompt"))?;
        let max_age = match params.get("max_age") {
            None => None,
            Some(v) => Some(
                v.parse::<i64>()
                    .ok()
                    .filter(|v| *v >= 0)
                    .ok_or_else(|| invalid("max_age must be a non-negative integer"))?,
            ),
        };
        Ok(PendingAuthorization {
            id_hash: String::new(),
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            redirect_uri_given,
            response_type,
            scopes,
            state: state.map(str::to_owned),
            code_challenge,
            code_challenge_method,
            nonce: params.get("nonce").map(str::to_owned),
            prompt_login: prompt.login,
            prompt_consent: prompt.consent,
            max_age,
            login_hint: params.get("login_hint").map(str::to_owned),
            ui_locales: params.get("ui_locales").map(str::to_owned),
            error: None,
            created_at: now,
            expires_at: now + cfg.interaction_lifetime,
        })
    }

    fn validate_pkce(
        &self,
        params: &Params,
        client: &Client,
        response_type: ResponseType,
    ) -> Result<(Option<String>, Option<CodeChallengeMethod>), OAuthError> {
        let cfg = self.config();
        let challenge = params.get("code_challenge");
        let method = params.get("code_challenge_method");
        if response_type == ResponseType::Token {
            return Ok((None, None));
        }
        let Some(challenge) = challenge else {
            if method.is_some() {
                return Err(invalid("code_challenge_method without code_challenge"));
            }
            // RFC 9700 §2.1.1: public clients MUST use PKCE; a setting extends it to all.
            if client.is_public() || cfg.require_pkce {
                return Err(invalid("code_challenge is required (PKCE, RFC 7636)"));
            }
            return Ok((None, None));
        };
        // RFC 7636 §4.3: the method defaults to "plain" when absent.
        let method = match CodeChallengeMethod::parse(method.unwrap_or("plain")) {
            Some(CodeChallengeMethod::Plain) if !cfg.allow_plain_pkce => {
                return Err(invalid("code_challenge_method must be S256"));
            }
            Some(m) => m,
            None => return Err(invalid("the code_challenge_method is not supported")),
        };
        if !pkce::is_valid_syntax(challenge) {
            return Err(invalid("the code_challenge is malformed (RFC 7636 §4.2)"));
        }
        // RFC 7636 §4.2: an S256 challenge is BASE64URL(SHA256(verifier)), always 43
        // characters; any other length could never be matched (checklist 4.5).
        if method == CodeChallengeMethod::S256 && challenge.len() != 43 {
            return Err(invalid("an S256 code_challenge is 43 characters (RFC 7636 §4.2)"));
        }
        Ok((Some(challenge.to_owned()), Some(method)))
    }

    /// Decide what happens next for a validated request: login, consent, or the answer.
    #[allow(clippy::too_many_arguments)]
    async fn decide(
        &self,
        client: &Client,
        mut pending: PendingAuthorization,
        stored: bool,
        prompt_none: bool,
        auth: Option<&Authentication>,
        decision: Option<ConsentDecision>,
        now: UnixTime,
    ) -> AuthorizeOutcome {
        // Owned copies: `target` must not borrow `pending`, which the steps below change.
        let issuer = self.config().issuer.clone();
        let redirect_uri = pending.redirect_uri.clone();
        let state = pending.state.clone();
        let target = Target {
            redirect_uri: &redirect_uri,
            fragment: pending.response_type == ResponseType::Token,
            state: state.as_deref(),
            issuer: &issuer,
        };
        match self.decide_inner(client, &mut pending, stored, prompt_none, auth, decision, now).await {
            Ok(Step::Answer(outcome)) => outcome,
            Ok(Step::Fail(e)) => {
                if stored {
                    // The request is over: make sure it cannot be resumed.
                    let _ = self.store().take_pending(&pending.id_hash, now).await;
                }
                target.error(&e)
            }
            Err(e) => {
                tracing::error!(error = %e.code, cause = e.cause.as_deref().unwrap_or(""), "authorization failed");
                target.error(&e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn decide_inner(
        &self,
        client: &Client,
        pending: &mut PendingAuthorization,
        stored: bool,
        prompt_none: bool,
        auth: Option<&Authentication>,
        decision: Option<ConsentDecision>,
        now: UnixTime,
    ) -> Result<Step, OAuthError> {
        // Login: no session, a forced login older than the request, or an old one (max_age).
        let fresh_enough = |a: &Authentication| {
            (!pending.prompt_login || a.auth_time >= pending.created_at)
                && pending.max_age.is_none_or(|m| now - a.auth_time <= m)
        };
        let Some(auth) = auth.filter(|a| fresh_enough(a)) else {
            if prompt_none {
                return Ok(Step::Fail(OAuthError::with(
                    ErrorCode::LoginRequired,
                    "the user is not logged in",
                )));
            }
            return Ok(Step::Answer(self.interact(client, pending, stored, InteractionKind::Login).await?));
        };
        // A request that failed while the user was not signed in: now it may be redirected.
        if let Some(err) = &pending.error {
            let code = ErrorCode::parse(&err.code).unwrap_or(ErrorCode::InvalidRequest);
            let e = match &err.description {
                Some(d) => OAuthError::with(code, d.clone()),
                None => OAuthError::new(code),
            };
            return Ok(Step::Fail(e));
        }
        // Consent.
        let approved = match decision {
            Some(ConsentDecision::Deny) => {
                return Ok(Step::Fail(OAuthError::with(
                    ErrorCode::AccessDenied,
                    "the user denied the request",
                )));
            }
            Some(ConsentDecision::Approve) => {
                self.remember_consent(&auth.subject, &client.id, &pending.scopes, now).await?;
                true
            }
            None if client.trusted => true,
            None if pending.prompt_consent => false,
            None => self
                .store()
                .get_consent(&auth.subject, &client.id)
                .await?
                .is_some_and(|c| pending.scopes.is_subset(&c.scopes)),
        };
        if !approved {
            if prompt_none {
                return Ok(Step::Fail(OAuthError::with(
                    ErrorCode::ConsentRequired,
                    "the user has not consented",
                )));
            }
            return Ok(Step::Answer(self.interact(client, pending, stored, InteractionKind::Consent).await?));
        }
        // The answer. A stored request is consumed first, so it is answered exactly once.
        if stored && self.store().take_pending(&pending.id_hash, now).await?.is_none() {
            return Ok(Step::Answer(show(
                ErrorCode::InvalidRequest,
                "the authorization request expired or was already completed",
            )));
        }
        self.answer(client, pending, auth, now).await.map(Step::Answer)
    }

    async fn remember_consent(
        &self,
        subject: &str,
        client_id: &str,
        scopes: &ScopeSet,
        now: UnixTime,
    ) -> Result<(), OAuthError> {
        let previous = self.store().get_consent(subject, client_id).await?;
        let mut all = previous.as_ref().map(|c| c.scopes.clone()).unwrap_or_default();
        for s in scopes.iter() {
            all.insert(s);
        }
        let consent = Consent {
            subject: subject.to_owned(),
            client_id: client_id.to_owned(),
            scopes: all,
            granted_at: previous.map_or(now, |c| c.granted_at),
            updated_at: now,
        };
        self.store().save_consent(&consent).await?;
        Ok(())
    }

    /// Store the request (once) and describe the page to show.
    async fn interact(
        &self,
        client: &Client,
        pending: &mut PendingAuthorization,
        stored: bool,
        kind: InteractionKind,
    ) -> Result<AuthorizeOutcome, OAuthError> {
        let id = if stored {
            None
        } else {
            let id = random_id() + &random_id();
            pending.id_hash = hash_token(&id);
            self.store().create_pending(pending).await?;
            Some(id)
        };
        let mut interaction = self.describe(client, pending, kind).await?;
        if let Some(id) = id {
            interaction.id = id;
        }
        Ok(AuthorizeOutcome::Interaction(Box::new(interaction)))
    }

    async fn describe(
        &self,
        client: &Client,
        pending: &PendingAuthorization,
        kind: InteractionKind,
    ) -> Result<Interaction, OAuthError> {
        let registered = self.store().list_scopes().await?;
        let scopes = registered.into_iter().filter(|d| pending.scopes.contains(&d.name)).collect();
        Ok(Interaction {
            id: String::new(),
            kind,
            client: client.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            scopes,
            login_hint: pending.login_hint.clone(),
            ui_locales: pending
                .ui_locales
                .as_deref()
                .map(|l| l.split(' ').map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }

    /// RFC 6749 §4.1.2 / §4.2.2: the successful answer.
    async fn answer(
        &self,
        client: &Client,
        pending: &PendingAuthorization,
        auth: &Authentication,
        now: UnixTime,
    ) -> Result<AuthorizeOutcome, OAuthError> {
        let issuer = self.config().issuer.clone();
        let state = pending.state.as_deref();
        match pending.response_type {
            ResponseType::Code => {
                let code = self
                    .issue_authorization_code(NewAuthorizationCode {
                        client_id: client.id.clone(),
                        subject: auth.subject.clone(),
                        redirect_uri: pending.redirect_uri.clone(),
                        redirect_uri_given: pending.redirect_uri_given,
                        scopes: pending.scopes.clone(),
                        code_challenge: pending.code_challenge.clone().zip(pending.code_challenge_method),
                        nonce: pending.nonce.clone(),
                        auth_time: Some(auth.auth_time),
                    })
                    .await?;
                let mut pairs = vec![("code", code.expose())];
                if let Some(s) = state {
                    pairs.push(("state", s));
                }
                pairs.push(("iss", &issuer));
                Ok(AuthorizeOutcome::Redirect(redirect_with(&pending.redirect_uri, false, &pairs)))
            }
            ResponseType::Token => {
                let issue = Issue {
                    subject: Some(auth.subject.clone()),
                    scopes: pending.scopes.clone(),
                    auth_time: Some(auth.auth_time),
                    ..Issue::default()
                };
                let t = self.mint(client, issue, &[], now).await?;
                let expires_in = t.expires_in.to_string();
                let scope = t.scope.as_ref().map(ToString::to_string);
                let mut pairs = vec![
                    ("access_token", t.access_token.expose()),
                    ("token_type", "Bearer"),
                    ("expires_in", &expires_in),
                ];
                if let Some(s) = &scope {
                    pairs.push(("scope", s));
                }
                if let Some(s) = state {
                    pairs.push(("state", s));
                }
                pairs.push(("iss", &issuer));
                Ok(AuthorizeOutcome::Redirect(redirect_with(&pending.redirect_uri, true, &pairs)))
            }
        }
    }

    /// Continue a pending request after the login or consent page. `auth` is the user's
    /// session (after a successful login, the new one); `decision` is the consent page's answer.
    pub async fn resume(
        &self,
        interaction_id: &str,
        auth: Option<&Authentication>,
        decision: Option<ConsentDecision>,
    ) -> AuthorizeOutcome {
        let now = self.now();
        let pending = match self.store().get_pending(&hash_token(interaction_id), now).await {
            Ok(Some(p)) => p,
            Ok(None) => return expired(),
            Err(e) => return self.failed(e.into()),
        };
        let client = match self.store().get_client(&pending.client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return show(ErrorCode::InvalidRequest, "the client is unknown"),
            Err(e) => return self.failed(e.into()),
        };
        match self.decide(&client, pending, true, false, auth, decision, now).await {
            AuthorizeOutcome::Interaction(mut i) => {
                i.id = interaction_id.to_owned();
                AuthorizeOutcome::Interaction(i)
            }
            other => other,
        }
    }

    /// Describe a pending interaction for a page (e.g. re-showing the login form).
    pub async fn interaction(
        &self,
        interaction_id: &str,
        kind: InteractionKind,
    ) -> Result<Interaction, OAuthError> {
        let now = self.now();
        let pending = self
            .store()
            .get_pending(&hash_token(interaction_id), now)
            .await?
            .ok_or_else(|| invalid("the authorization request expired or was already completed"))?;
        let client = self
            .store()
            .get_client(&pending.client_id)
            .await?
            .ok_or_else(|| invalid("the client is unknown"))?;
        let mut i = self.describe(&client, &pending, kind).await?;
        i.id = interaction_id.to_owned();
        Ok(i)
    }
}

fn expired() -> AuthorizeOutcome {
    show(ErrorCode::InvalidRequest, "the authorization request expired or was already completed")
}

enum Step {
    Answer(AuthorizeOutcome),
    Fail(OAuthError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_keeps_registered_query_and_encodes() {
        assert_eq!(
            redirect_with("https://a/cb?x=1", false, &[("code", "c"), ("state", "a b&")]),
            "https://a/cb?x=1&code=c&state=a+b%26"
        );
        assert_eq!(
            redirect_with("https://a/cb", true, &[("access_token", "t")]),
            "https://a/cb#access_token=t"
        );
    }

    #[test]
    fn prompt_parsing() {
        assert!(parse_prompt(Some("none login")).is_err());
        assert!(parse_prompt(Some("bogus")).is_err());
        let p = parse_prompt(Some("login consent")).unwrap_or_default();
        assert!(p.login && p.consent && !p.none);
    }
}

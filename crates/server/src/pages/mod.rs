//! The interactive pages: the authorization endpoint, login and consent (RFC 6749 §3.1, §4.1).
//!
//! Thin handlers around [`OAuthServer::authorize`] and [`OAuthServer::resume`]: they read the
//! session cookie, check the CSRF token, render server-side templates (no JavaScript), and
//! turn outcomes into redirects or pages. Every page carries `X-Frame-Options: DENY`,
//! `Content-Security-Policy` (with `frame-ancestors 'none'`), `Referrer-Policy: no-referrer`
//! and `Cache-Control: no-store`.

mod throttle;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cookie::{Cookie, SameSite};
use minijinja::{context, Environment};
use portcullis_core::grant::password::{PasswordAuthenticator, StorePasswordAuthenticator};
use portcullis_core::model::secret::{hash_token, random_id};
use portcullis_core::{
    Authentication, AuthorizeOutcome, ConsentDecision, ErrorCode, Interaction, InteractionKind, OAuthError,
    OAuthServer, Params, Session,
};
use subtle::ConstantTimeEq;

pub use throttle::Throttle;

const SESSION_COOKIE: &str = "portcullis_session";
const CSRF_COOKIE: &str = "portcullis_csrf";

/// What the pages need besides the server.
#[derive(Debug, Clone)]
pub struct PageSettings {
    /// Shown in the header and titles.
    pub product_name: String,
    /// An image URL shown beside the product name (empty: none).
    pub logo_url: String,
    /// Login session lifetime, seconds.
    pub session_lifetime: i64,
    /// Failed logins per account or address before throttling.
    pub login_max_failures: u32,
    /// The throttling window, seconds.
    pub login_lockout: u64,
}

struct Pages {
    server: OAuthServer,
    settings: PageSettings,
    secure_cookies: bool,
    templates: Environment<'static>,
    throttle: Throttle,
    authenticator: Arc<dyn PasswordAuthenticator>,
}

/// Shared state of the page handlers.
#[derive(Clone)]
pub struct PagesState(Arc<Pages>);

impl PagesState {
    /// Build the pages for `server`.
    pub fn new(server: OAuthServer, settings: PageSettings) -> Result<Self, String> {
        let mut templates = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("login.html", include_str!("templates/login.html")),
            ("consent.html", include_str!("templates/consent.html")),
            ("error.html", include_str!("templates/error.html")),
        ] {
            templates.add_template(name, source).map_err(|e| format!("template {name}: {e}"))?;
        }
        let secure_cookies = server.config().issuer.starts_with("https://");
        let authenticator = Arc::new(StorePasswordAuthenticator::new(server.store_arc()));
        let throttle =
            Throttle::new(settings.login_max_failures, Duration::from_secs(settings.login_lockout));
        Ok(Self(Arc::new(Pages { server, settings, secure_cookies, templates, throttle, authenticator })))
    }
}

/// The page routes.
pub fn router(state: PagesState) -> Router {
    Router::new()
        .route("/authorize", get(authorize).post(authorize))
        .route("/login", get(login_page).post(login_submit))
        .route("/consent", get(consent_page).post(consent_submit))
        .layer(middleware::from_fn(page_headers))
        .route("/assets/portcullis.css", get(stylesheet))
        .with_state(state)
}

async fn page_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn stylesheet() -> Response {
    (
        [(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")],
        include_str!("templates/portcullis.css"),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// `GET|POST /authorize` (RFC 6749 §3.1: GET MUST be supported, POST MAY).
async fn authorize(State(p): State<PagesState>, req: Request) -> Response {
    let is_post = req.method() == Method::POST;
    let headers = req.headers().clone();
    let params = if is_post {
        match portcullis_axum::read_form(req).await {
            Ok(form) => Params::parse(&form.body),
            Err(e) => Err(e.error),
        }
    } else {
        Params::parse(req.uri().query().unwrap_or("").as_bytes())
    };
    let params = match params {
        Ok(params) => params,
        // A repeated or unreadable parameter: client_id and redirect_uri cannot be trusted.
        Err(e) => return p.error_page(&headers, &e),
    };
    let auth = p.session(&headers).await.map(|(auth, _)| auth);
    let outcome = p.0.server.authorize(&params, auth.as_ref()).await;
    p.respond(&headers, outcome, is_post)
}

/// `GET /login?interaction=…`
async fn login_page(State(p): State<PagesState>, headers: HeaderMap, req: Request) -> Response {
    let params = Params::parse(req.uri().query().unwrap_or("").as_bytes()).unwrap_or_default();
    let Some(id) = params.get("interaction") else {
        return p
            .error_page(&headers, &OAuthError::invalid_request("start from an application's sign-in link"));
    };
    match p.0.server.interaction(id, InteractionKind::Login).await {
        Ok(i) => {
            let username = i.login_hint.clone().unwrap_or_default();
            p.render_login(&headers, &i, &username, None, StatusCode::OK)
        }
        Err(e) => p.error_page(&headers, &e),
    }
}

/// `POST /login`: check the CSRF token, the throttle and the password; start a session; resume.
async fn login_submit(State(p): State<PagesState>, req: Request) -> Response {
    let headers = req.headers().clone();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let form = match read_page_form(req).await {
        Ok(f) => f,
        Err(e) => return p.error_page(&headers, &e),
    };
    if !p.csrf_ok(&headers, &form) {
        return p.error_page(&headers, &csrf_error());
    }
    let Some(id) = form.get("interaction") else {
        return p.error_page(&headers, &OAuthError::invalid_request("the form has no interaction"));
    };
    let interaction = match p.0.server.interaction(id, InteractionKind::Login).await {
        Ok(i) => i,
        Err(e) => return p.error_page(&headers, &e),
    };
    let username = form.get("username").unwrap_or("").to_owned();
    let password = form.get("password").unwrap_or("");
    let mut keys = vec![format!("user:{}", username.to_lowercase())];
    if let Some(ip) = &peer {
        keys.push(format!("ip:{ip}"));
    }
    let now = Instant::now();
    if !p.0.throttle.allowed(&keys, now) {
        tracing::warn!(client_id = %interaction.client.id, "login throttled");
        let msg = "Too many failed sign-in attempts. Wait a few minutes and try again.";
        return p.render_login(&headers, &interaction, &username, Some(msg), StatusCode::TOO_MANY_REQUESTS);
    }
    let subject = match p.0.authenticator.authenticate(&username, password).await {
        Ok(Some(subject)) => subject,
        Ok(None) => {
            p.0.throttle.fail(&keys, now);
            // One message whether the user exists or not: no enumeration.
            let msg = "The username or password is incorrect.";
            return p.render_login(&headers, &interaction, &username, Some(msg), StatusCode::OK);
        }
        Err(e) => return p.error_page(&headers, &e),
    };
    p.0.throttle.reset(&keys[0]);
    let (auth, cookie) = match p.start_session(&subject).await {
        Ok(s) => s,
        Err(e) => return p.error_page(&headers, &e),
    };
    let outcome = p.0.server.resume(id, Some(&auth), None).await;
    let mut res = p.respond(&headers, outcome, true);
    res.headers_mut().append(SET_COOKIE, cookie);
    res
}

/// `GET /consent?interaction=…`
async fn consent_page(State(p): State<PagesState>, headers: HeaderMap, req: Request) -> Response {
    let params = Params::parse(req.uri().query().unwrap_or("").as_bytes()).unwrap_or_default();
    let Some(id) = params.get("interaction") else {
        return p
            .error_page(&headers, &OAuthError::invalid_request("start from an application's sign-in link"));
    };
    let Some((_, session)) = p.session(&headers).await else {
        return redirect(&format!("/login?interaction={id}"), StatusCode::SEE_OTHER);
    };
    match p.0.server.interaction(id, InteractionKind::Consent).await {
        Ok(i) => p.render_consent(&headers, &i, &session.subject).await,
        Err(e) => p.error_page(&headers, &e),
    }
}

/// `POST /consent`: check the CSRF token and the session; resume with the decision.
async fn consent_submit(State(p): State<PagesState>, req: Request) -> Response {
    let headers = req.headers().clone();
    let form = match read_page_form(req).await {
        Ok(f) => f,
        Err(e) => return p.error_page(&headers, &e),
    };
    if !p.csrf_ok(&headers, &form) {
        return p.error_page(&headers, &csrf_error());
    }
    let Some(id) = form.get("interaction") else {
        return p.error_page(&headers, &OAuthError::invalid_request("the form has no interaction"));
    };
    let decision = match form.get("decision") {
        Some("approve") => ConsentDecision::Approve,
        Some("deny") => ConsentDecision::Deny,
        _ => return p.error_page(&headers, &OAuthError::invalid_request("the form has no decision")),
    };
    let auth = p.session(&headers).await.map(|(auth, _)| auth);
    // Without a session the core asks for a login first; the decision is not taken.
    let outcome = p.0.server.resume(id, auth.as_ref(), auth.as_ref().map(|_| decision)).await;
    p.respond(&headers, outcome, true)
}

// ---------------------------------------------------------------------------------------------
// Helpers

async fn read_page_form(req: Request) -> Result<Params, OAuthError> {
    let form = portcullis_axum::read_form(req).await.map_err(|e| e.error)?;
    Params::parse(&form.body)
}

fn csrf_error() -> OAuthError {
    OAuthError::invalid_request("the form expired or did not come from this site; go back and try again")
}

fn redirect(location: &str, status: StatusCode) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (status, [(LOCATION, v)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Preferred languages from `Accept-Language`, best first (RFC 9110 §12.5.4).
fn accept_languages(headers: &HeaderMap) -> Vec<String> {
    let raw = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut langs: Vec<(f32, usize, String)> = raw
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut it = part.trim().split(';');
            let tag = it.next()?.trim();
            if tag.is_empty() || tag == "*" {
                return None;
            }
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then(|| (q, i, tag.to_owned()))
        })
        .collect();
    langs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    langs.into_iter().map(|(_, _, t)| t).collect()
}

impl PagesState {
    /// The session named by the cookie, if it is live.
    async fn session(&self, headers: &HeaderMap) -> Option<(Authentication, Session)> {
        let id = cookie_value(headers, SESSION_COOKIE)?;
        let now = self.0.server.now();
        match self.0.server.store().get_session(&hash_token(&id), now).await {
            Ok(Some(s)) => Some((Authentication { subject: s.subject.clone(), auth_time: s.auth_time }, s)),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "session lookup failed");
                None
            }
        }
    }

    async fn start_session(&self, subject: &str) -> Result<(Authentication, HeaderValue), OAuthError> {
        let now = self.0.server.now();
        let id = random_id() + &random_id();
        let session = Session {
            id_hash: hash_token(&id),
            subject: subject.to_owned(),
            auth_time: now,
            expires_at: now + self.0.settings.session_lifetime,
        };
        self.0.server.store().create_session(&session).await?;
        let cookie = self.cookie(SESSION_COOKIE, &id, Some(self.0.settings.session_lifetime));
        Ok((Authentication { subject: subject.to_owned(), auth_time: now }, cookie))
    }

    fn cookie(&self, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut c = Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.0.secure_cookies);
        if let Some(secs) = max_age {
            c = c.max_age(cookie::time::Duration::seconds(secs));
        }
        HeaderValue::from_str(&c.build().to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The CSRF token: the form's hidden field must equal the cookie (double submit).
    fn csrf_ok(&self, headers: &HeaderMap, form: &Params) -> bool {
        match (cookie_value(headers, CSRF_COOKIE), form.get("csrf")) {
            (Some(c), Some(f)) if !c.is_empty() => c.as_bytes().ct_eq(f.as_bytes()).into(),
            _ => false,
        }
    }

    /// The CSRF token to put in a form, and the cookie to set when the browser has none.
    fn csrf(&self, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
        match cookie_value(headers, CSRF_COOKIE).filter(|v| v.len() >= 22) {
            Some(v) => (v, None),
            None => {
                let v = random_id() + &random_id();
                let cookie = self.cookie(CSRF_COOKIE, &v, None);
                (v, Some(cookie))
            }
        }
    }

    fn respond(&self, headers: &HeaderMap, outcome: AuthorizeOutcome, after_post: bool) -> Response {
        let status = if after_post { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
        match outcome {
            AuthorizeOutcome::Redirect(url) => redirect(&url, status),
            AuthorizeOutcome::Interaction(i) => {
                let page = match i.kind {
                    InteractionKind::Login => "/login",
                    InteractionKind::Consent => "/consent",
                };
                redirect(&format!("{page}?interaction={}", i.id), status)
            }
            AuthorizeOutcome::ShowError(e) => self.error_page(headers, &e),
        }
    }

    fn render(
        &self,
        name: &str,
        ctx: minijinja::Value,
        status: StatusCode,
        cookie: Option<HeaderValue>,
    ) -> Response {
        let html = self.0.templates.get_template(name).and_then(|t| t.render(ctx));
        match html {
            Ok(html) => {
                let mut res = (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
                if let Some(c) = cookie {
                    res.headers_mut().append(SET_COOKIE, c);
                }
                res
            }
            Err(e) => {
                tracing::error!(error = %e, template = name, "rendering failed");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }

    fn error_page(&self, _headers: &HeaderMap, e: &OAuthError) -> Response {
        let status = match e.code {
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let ctx = context! {
            product_name => &self.0.settings.product_name,
            logo_url => &self.0.settings.logo_url,
            code => e.code.as_str(),
            description => e.description.as_deref().unwrap_or("The request is invalid."),
        };
        self.render("error.html", ctx, status, None)
    }

    fn render_login(
        &self,
        headers: &HeaderMap,
        i: &Interaction,
        username: &str,
        error: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let (csrf, cookie) = self.csrf(headers);
        let ctx = context! {
            product_name => &self.0.settings.product_name,
            logo_url => &self.0.settings.logo_url,
            client_name => &i.client.name,
            interaction => &i.id,
            csrf => csrf,
            username => username,
            error => error,
        };
        self.render("login.html", ctx, status, cookie)
    }

    async fn render_consent(&self, headers: &HeaderMap, i: &Interaction, subject: &str) -> Response {
        let (csrf, cookie) = self.csrf(headers);
        let mut langs = i.ui_locales.clone();
        langs.extend(accept_languages(headers));
        let scopes: Vec<minijinja::Value> = i
            .scopes
            .iter()
            .map(|s| {
                let (lang, description) = s.describe_in(&langs);
                context! { name => &s.name, description => description, lang => lang }
            })
            .collect();
        let username = match self.0.server.store().get_account(subject).await {
            Ok(Some(a)) => a.username,
            _ => subject.to_owned(),
        };
        let redirect_host = i
            .redirect_uri
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or("").to_owned())
            .unwrap_or_default();
        let ctx = context! {
            product_name => &self.0.settings.product_name,
            logo_url => &self.0.settings.logo_url,
            client_name => &i.client.name,
            interaction => &i.id,
            csrf => csrf,
            username => username,
            scopes => scopes,
            redirect_host => redirect_host,
        };
        self.render("consent.html", ctx, StatusCode::OK, cookie)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_is_ordered_by_quality() {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_LANGUAGE, HeaderValue::from_static("fr;q=0.5, de-CH, en;q=0.8, *;q=0.1, xx;q=0"));
        assert_eq!(accept_languages(&h), vec!["de-CH", "en", "fr"]);
    }
}

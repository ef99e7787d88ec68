//! The authorization endpoint, login and consent pages end to end (issue #3): the real binary,
//! a real SQLite file, plain HTTP with a cookie-keeping user agent. Checklist numbers refer to
//! SECURITY-CHECKLIST.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{authorize_url, start_on, token, url_param, Browser, Page, Server};

const CB: &str = "https://notes.example/cb";
// RFC 7636 Appendix B.
const V: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const C: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const SESSION: &str = "portcullis_session";
const CSRF: &str = "portcullis_csrf";
const WRONG_PASSWORD: &str = "The username or password is incorrect.";

/// A server with scopes `openid` and `notes:read` (with a German translation), users alice and
/// bob, and a confidential client "Notes" with one redirect URI.
struct Setup {
    s: Server,
    id: String,
    secret: String,
}

impl Setup {
    fn new() -> Self {
        Self::on(Server::start())
    }

    fn on(s: Server) -> Self {
        s.cli(&["scope", "create", "openid", "--description", "Sign you in", "--json"]).json();
        s.cli(&[
            "scope",
            "create",
            "notes:read",
            "--description",
            "Read your notes",
            "--translation",
            "de=Deine Notizen lesen",
            "--json",
        ])
        .json();
        s.cli(&["scope", "create", "notes:write", "--description", "Change your notes", "--json"]).json();
        s.user("alice", "pw-alice-1", &[]);
        s.user("bob", "pw-bob-1", &[]);
        let (id, secret) =
            s.client(&["--name", "Notes", "--redirect-uri", CB, "--scope", "openid notes:read notes:write"]);
        Self { s, id, secret }
    }

    /// `AUTHZ(Notes, …)`: code + PKCE S256 + state st1 + scope `openid notes:read`, with
    /// `overrides` replacing (or, with an empty value, adding) parameters.
    fn url(&self, overrides: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &self.id),
            ("redirect_uri", CB),
            ("scope", "openid notes:read"),
            ("state", "st1"),
            ("code_challenge", C),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in overrides {
            match pairs.iter().position(|(n, _)| n == k) {
                Some(i) => pairs[i].1 = v,
                None => pairs.push((k, v)),
            }
        }
        authorize_url(&self.s, &pairs)
    }

    /// Follow a page-relative Location (`/login?…`, `/consent?…`) on this server.
    async fn follow(&self, b: &mut Browser, page: &Page) -> Page {
        let loc = page.location().unwrap_or_else(|| panic!("no Location ({}): {}", page.status, page.body));
        assert!(loc.starts_with('/'), "expected a page of the AS, got {loc}");
        b.get(&self.s.url(loc)).await
    }

    /// Submit the login form shown on `login`.
    async fn login(&self, b: &mut Browser, login: &Page, user: &str, password: &str) -> Page {
        login_on(&self.s, b, login, user, password).await
    }

    /// Submit the consent form shown on `consent`.
    async fn decide(&self, b: &mut Browser, consent: &Page, decision: &str) -> Page {
        decide_on(&self.s, b, consent, decision).await
    }

    /// Log alice in from scratch and approve: a browser with a session and remembered consent
    /// for `openid notes:read`.
    async fn alice(&self) -> Browser {
        let mut b = Browser::new();
        let page = b.get(&self.url(&[])).await;
        let login = self.follow(&mut b, &page).await;
        let consent_redirect = self.login(&mut b, &login, "alice", "pw-alice-1").await;
        let consent = self.follow(&mut b, &consent_redirect).await;
        let done = self.decide(&mut b, &consent, "approve").await;
        code_at(&done, CB);
        b
    }

    async fn redeem(&self, code: &str) -> (u16, serde_json::Value) {
        let (st, _, body) = token(
            &self.s,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CB),
                ("code_verifier", V),
            ],
            Some((&self.id, &self.secret)),
        )
        .await;
        (st, body)
    }
}

async fn login_on(s: &Server, b: &mut Browser, login: &Page, user: &str, password: &str) -> Page {
    assert_eq!(login.status, 200, "{}", login.body);
    let interaction = login.field("interaction").expect("interaction field");
    let csrf = login.field("csrf").expect("csrf field");
    b.post_form(
        &s.url("/login"),
        &[("interaction", &interaction), ("csrf", &csrf), ("username", user), ("password", password)],
    )
    .await
}

async fn decide_on(s: &Server, b: &mut Browser, consent: &Page, decision: &str) -> Page {
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("name=\"decision\""), "not the consent page: {}", consent.body);
    let interaction = consent.field("interaction").expect("interaction field");
    let csrf = consent.field("csrf").expect("csrf field");
    b.post_form(&s.url("/consent"), &[("interaction", &interaction), ("csrf", &csrf), ("decision", decision)])
        .await
}

/// Checklist 9.5, 9.7, 9.8: every page response carries the anti-framing, referrer and
/// caching headers.
fn assert_page_headers(p: &Page) {
    assert_eq!(p.header("x-frame-options"), Some("DENY"), "{}", p.body);
    let csp = p.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("frame-ancestors 'none'"), "CSP: {csp}");
    assert_eq!(p.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(p.header("cache-control"), Some("no-store"));
    // Checklist 9.10: never CORS here.
    assert!(p.header("access-control-allow-origin").is_none());
}

/// An HTML page of the AS (never a redirect), with the page headers.
fn assert_html(p: &Page, status: u16) {
    assert_eq!(p.status, status, "{}", p.body);
    assert!(p.is_html(), "{:?}", p.header("content-type"));
    assert!(p.location().is_none(), "no Location on a page: {:?}", p.location());
    assert_page_headers(p);
}

/// An error page: HTML 400, no Location, no code anywhere.
fn assert_error_page(p: &Page) {
    assert_html(p, 400);
    assert!(p.body.contains("This request cannot be completed"), "{}", p.body);
    assert!(!p.body.contains("pc_ac_"));
}

/// A redirect to the client (`base`) carrying a code, `state=st1` and `iss`; returns the code.
fn code_at(p: &Page, base: &str) -> String {
    assert!(matches!(p.status, 302 | 303), "{}: {}", p.status, p.body);
    assert_page_headers(p);
    let loc = p.location().unwrap();
    assert!(loc.starts_with(&format!("{base}?code=")), "{loc}");
    assert_eq!(url_param(loc, "state").as_deref(), Some("st1"), "{loc}");
    assert!(url_param(loc, "iss").is_some_and(|i| i.starts_with("http")), "{loc}");
    url_param(loc, "code").unwrap()
}

/// A redirect to `base` with `error`, a description, `state=st1` and `iss`, and no code.
fn error_at(p: &Page, base: &str, error: &str, iss: &str) {
    assert!(matches!(p.status, 302 | 303), "{}: {}", p.status, p.body);
    assert_page_headers(p);
    let loc = p.location().unwrap();
    assert!(loc.starts_with(&format!("{base}?")), "{loc}");
    assert_eq!(url_param(loc, "error").as_deref(), Some(error), "{loc}");
    assert!(url_param(loc, "error_description").is_some(), "{loc}");
    assert_eq!(url_param(loc, "state").as_deref(), Some("st1"), "{loc}");
    assert_eq!(url_param(loc, "iss").as_deref(), Some(iss), "{loc}");
    assert!(url_param(loc, "code").is_none(), "{loc}");
}

/// No token exists (checklist G8).
fn assert_no_tokens(s: &Server) {
    let tokens = s.cli(&["token", "list", "--json"]).json();
    assert_eq!(tokens.as_array().map(Vec::len), Some(0), "{tokens}");
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_full_code_flow_with_pkce_ends_with_a_token_at_the_token_endpoint() {
    let t = Setup::new();
    let mut b = Browser::new();
    let start = b.get(&t.url(&[])).await;
    // No session: the login page (RFC 6749 §3.1 GET).
    assert_eq!(start.status, 302);
    assert_page_headers(&start);
    assert!(start.location().unwrap().starts_with("/login?interaction="), "{:?}", start.location());

    let login = t.follow(&mut b, &start).await;
    assert_html(&login, 200);
    assert!(login.body.contains("Sign in") && login.body.contains("Notes"), "{}", login.body);
    assert!(login.body.contains("name=\"password\""));
    assert!(b.cookie(CSRF).is_some(), "the login page sets the CSRF cookie");

    let after_login = t.login(&mut b, &login, "alice", "pw-alice-1").await;
    // Checklist 9.6: 303 after a credential POST, never 307/308.
    assert_eq!(after_login.status, 303, "{}", after_login.body);
    assert_page_headers(&after_login);
    assert!(after_login.location().unwrap().starts_with("/consent?interaction="));
    assert!(b.cookie(SESSION).is_some(), "login starts a session");

    let consent = t.follow(&mut b, &after_login).await;
    assert_html(&consent, 200);
    for text in
        ["Notes", "alice", "Sign you in", "Read your notes", "notes:read", "Approve", "Deny", "notes.example"]
    {
        assert!(consent.body.contains(text), "consent page lacks {text:?}: {}", consent.body);
    }
    assert!(!consent.body.contains("Change your notes"), "only the requested scopes are shown");

    let done = t.decide(&mut b, &consent, "approve").await;
    assert_eq!(done.status, 303);
    let code = code_at(&done, CB);
    assert_eq!(url_param(done.location().unwrap(), "iss").unwrap(), t.s.base);

    let (st, body) = t.redeem(&code).await;
    assert_eq!(st, 200, "{body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("pc_at_"));
    assert_eq!(body["scope"], "notes:read openid");
    // G7: the log names no password, code or token.
    let logs = t.s.logs();
    for secret in ["pw-alice-1", code.as_str(), body["access_token"].as_str().unwrap()] {
        assert!(!logs.contains(secret), "{secret} in the log");
    }
    // Single use.
    let (st, body) = t.redeem(&code).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
    // A public client, the same way.
    let (public, _) = t.s.client(&[
        "--name",
        "Notes app",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--scope",
        "openid",
    ]);
    let page = b
        .get(&t.url(&[
            ("client_id", &public),
            ("redirect_uri", "http://127.0.0.1:43123/cb"),
            ("scope", "openid"),
        ]))
        .await;
    let consent = t.follow(&mut b, &page).await;
    let done = t.decide(&mut b, &consent, "approve").await;
    let code = code_at(&done, "http://127.0.0.1:43123/cb");
    let (st, _, body) = token(
        &t.s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &public),
            ("redirect_uri", "http://127.0.0.1:43123/cb"),
            ("code_verifier", V),
        ],
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
}

#[tokio::test]
async fn checklist_3_4_post_authorize_works_like_get() {
    let t = Setup::new();
    let mut b = t.alice().await;
    let query = t.url(&[]).split_once('?').unwrap().1.to_owned();
    let pairs = common::url_params(&format!("?{query}"));
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = b.post_form(&t.s.url("/authorize"), &pairs).await;
    let code = code_at(&done, CB);
    assert_eq!(t.redeem(&code).await.0, 200);
    // Without a session, POST leads to the login page too.
    let mut fresh = Browser::new();
    let page = fresh.post_form(&t.s.url("/authorize"), &pairs).await;
    assert!(page.location().unwrap().starts_with("/login?interaction="));
    // A broken POST is shown like a broken GET.
    let page = fresh
        .post_form(&t.s.url("/authorize"), &[("client_id", "nope"), ("redirect_uri", "https://evil.test/")])
        .await;
    assert_error_page(&page);
}

#[tokio::test]
async fn errors_go_to_the_right_place_page_or_redirect() {
    let t = Setup::new();
    let iss = t.s.base.clone();
    let mut b = t.alice().await;
    let mut anonymous = Browser::new();
    // Checklist 2.1, 2.2, 1.2, 1.6, 2.3, 3.1: an error page, 400, HTML, no Location.
    let evil = "https://evil.test/";
    for url in [
        t.url(&[("client_id", "nope"), ("redirect_uri", evil)]),
        t.url(&[("client_id", "")]),
        t.url(&[("redirect_uri", evil)]),
        t.url(&[("redirect_uri", "https://notes.example/cb/")]),
        t.url(&[("redirect_uri", "https://NOTES.example/cb")]),
        t.url(&[("redirect_uri", "https://notes.example/cb?x=1")]),
        t.url(&[("redirect_uri", "javascript:alert(1)")]),
        t.url(&[("redirect_uri", evil), ("response_type", "bogus")]),
        t.url(&[("redirect_uri", evil), ("scope", "nope")]),
        t.url(&[("redirect_uri", evil), ("code_challenge", "")]),
        format!("{}&state=again", t.url(&[("redirect_uri", evil)])),
        format!("{}&state=again", t.url(&[])),
        format!("{}&client_id=other", t.url(&[])),
        format!("{}&redirect_uri=https%3A%2F%2Fevil.test%2F", t.url(&[])),
        t.s.url("/authorize"),
    ] {
        for browser in [&mut b, &mut anonymous] {
            let page = browser.get(&url).await;
            assert_error_page(&page);
        }
    }
    // Several registered redirect URIs and none named (checklist 1.6).
    let (multi, _) = t.s.client(&[
        "--name",
        "Multi",
        "--redirect-uri",
        "https://m1.test/a",
        "--redirect-uri",
        "https://m1.test/b",
        "--scope",
        "openid",
    ]);
    let mut pairs =
        vec![("response_type", "code"), ("client_id", multi.as_str()), ("state", "st1"), ("scope", "openid")];
    pairs.extend([("code_challenge", C), ("code_challenge_method", "S256")]);
    assert_error_page(&b.get(&authorize_url(&t.s, &pairs)).await);

    // Checklist 2.4: after the redirect URI is verified (and the user is known), errors
    // redirect with error, error_description, state and iss.
    for (overrides, error) in [
        (vec![("response_type", "")], "invalid_request"),
        (vec![("response_type", "bogus")], "unsupported_response_type"),
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![("scope", "unknown_scope")], "invalid_scope"),
        (vec![("code_challenge_method", "S512")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge", "short")], "invalid_request"),
        (vec![("prompt", "bogus")], "invalid_request"),
    ] {
        let page = b.get(&t.url(&overrides)).await;
        assert_eq!(page.status, 302, "{overrides:?}: {}", page.body);
        error_at(&page, CB, error, &iss);
        // Checklist 2.6: without a session the same request is not redirected at once.
        let page = anonymous.get(&t.url(&overrides)).await;
        assert!(page.location().is_none_or(|l| l.starts_with('/')), "{overrides:?}: {:?}", page.location());
    }
    // A client without the authorization_code grant.
    let (m2m, _) = t.s.client(&[
        "--name",
        "M2M",
        "--grant-type",
        "client_credentials",
        "--redirect-uri",
        "https://m2m.test/cb",
    ]);
    let page = b.get(&t.url(&[("client_id", &m2m), ("redirect_uri", "https://m2m.test/cb")])).await;
    error_at(&page, "https://m2m.test/cb", "unauthorized_client", &iss);
    // Silent authentication without a session is the exception (checklist 2.6).
    let page = anonymous.get(&t.url(&[("prompt", "none")])).await;
    error_at(&page, CB, "login_required", &iss);
    // Without a remembered consent: consent_required.
    let page = b.get(&t.url(&[("scope", "notes:write"), ("prompt", "none")])).await;
    error_at(&page, CB, "consent_required", &iss);
    assert_no_tokens(&t.s);
}

#[tokio::test]
async fn checklist_9_5_every_page_sends_the_security_headers() {
    let t = Setup::new();
    let mut b = Browser::new();
    let start = b.get(&t.url(&[])).await;
    assert_page_headers(&start);
    let login = t.follow(&mut b, &start).await;
    assert_html(&login, 200);
    let failed = t.login(&mut b, &login, "alice", "wrong").await;
    assert_html(&failed, 200);
    let ok = t.login(&mut b, &failed, "alice", "pw-alice-1").await;
    assert_page_headers(&ok);
    let consent = t.follow(&mut b, &ok).await;
    assert_html(&consent, 200);
    let done = t.decide(&mut b, &consent, "deny").await;
    assert_page_headers(&done);
    for url in [
        t.s.url("/authorize?client_id=nope"),
        t.s.url("/login"),
        t.s.url("/login?interaction=nope"),
        t.s.url("/consent?interaction=nope"),
    ] {
        assert_error_page(&b.get(&url).await);
    }
    let csrf_rejected = b.post_form(&t.s.url("/login"), &[("interaction", "x"), ("username", "alice")]).await;
    assert_error_page(&csrf_rejected);
    // Checklist 9.7: no third-party content.
    let csp = login.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") || csp.contains("default-src 'self'"), "{csp}");
    // Checklist 3.8: no CORS at /authorize, even when asked.
    let page = b.get_with(&t.url(&[]), &[("origin", "https://evil.test")]).await;
    assert!(page.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn session_cookie_is_httponly_and_samesite_lax_and_not_secure_on_an_http_issuer() {
    let t = Setup::new();
    let mut b = Browser::new();
    let start = b.get(&t.url(&[])).await;
    let login = t.follow(&mut b, &start).await;
    let csrf_cookie = login.set_cookie(CSRF).expect("CSRF cookie");
    let done = t.login(&mut b, &login, "alice", "pw-alice-1").await;
    let session = done.set_cookie(SESSION).expect("session cookie");
    for c in [&session, &csrf_cookie] {
        let lower = c.to_ascii_lowercase();
        assert!(lower.contains("; httponly"), "{c}");
        assert!(lower.contains("; samesite=lax"), "{c}");
        assert!(!lower.contains("; secure"), "http issuer: {c}");
        assert!(lower.contains("; path=/"), "{c}");
    }
    assert!(session.to_ascii_lowercase().contains("max-age=86400"), "{session}");
    // A failed login sets no session.
    let mut other = Browser::new();
    let start = other.get(&t.url(&[])).await;
    let login = t.follow(&mut other, &start).await;
    let failed = t.login(&mut other, &login, "alice", "nope").await;
    assert!(failed.set_cookie(SESSION).is_none());
}

#[tokio::test]
async fn session_cookie_is_secure_with_an_https_issuer() {
    let t = Setup::on(Server::start_with(&["--issuer", "https://as.test"], &[]));
    let mut b = Browser::new();
    let start = b.get(&t.url(&[])).await;
    let login = t.follow(&mut b, &start).await;
    assert!(login.set_cookie(CSRF).unwrap().to_ascii_lowercase().contains("; secure"));
    let done = t.login(&mut b, &login, "alice", "pw-alice-1").await;
    let session = done.set_cookie(SESSION).expect("session cookie").to_ascii_lowercase();
    assert!(
        session.contains("; secure") && session.contains("; httponly") && session.contains("; samesite=lax"),
        "{session}"
    );
    // The issuer is the configured one (RFC 9207).
    let consent = t.follow(&mut b, &done).await;
    let denied = t.decide(&mut b, &consent, "deny").await;
    error_at(&denied, CB, "access_denied", "https://as.test");
}

#[tokio::test]
async fn checklist_9_1_9_2_csrf_is_checked_on_login_and_consent() {
    let t = Setup::new();
    let mut b = Browser::new();
    let start = b.get(&t.url(&[])).await;
    let login = t.follow(&mut b, &start).await;
    let id = login.field("interaction").unwrap();
    let csrf = login.field("csrf").unwrap();
    let forged = "x".repeat(43);
    // Missing, empty or wrong token with the browser's cookie; the right token without it.
    for (token, with_cookie) in
        [(None, true), (Some(""), true), (Some(forged.as_str()), true), (Some(csrf.as_str()), false)]
    {
        let mut form = vec![("interaction", id.as_str()), ("username", "alice"), ("password", "pw-alice-1")];
        if let Some(token) = token {
            form.push(("csrf", token));
        }
        let mut attacker = Browser::new();
        let browser = if with_cookie { &mut b } else { &mut attacker };
        let page = browser.post_form(&t.s.url("/login"), &form).await;
        assert_error_page(&page);
        assert!(page.set_cookie(SESSION).is_none(), "no session without a valid CSRF token");
    }
    assert!(b.cookie(SESSION).is_none());
    // A token from another browser does not fit this browser's cookie.
    let mut bob = Browser::new();
    let bob_start = bob.get(&t.url(&[])).await;
    let bob_login = t.follow(&mut bob, &bob_start).await;
    let bob_csrf = bob_login.field("csrf").unwrap();
    assert_ne!(bob_csrf, csrf);
    let page = b
        .post_form(
            &t.s.url("/login"),
            &[("interaction", &id), ("csrf", &bob_csrf), ("username", "alice"), ("password", "pw-alice-1")],
        )
        .await;
    assert_error_page(&page);

    // The real form still works: the rejected posts consumed nothing.
    let consent_redirect = t.login(&mut b, &login, "alice", "pw-alice-1").await;
    let consent = t.follow(&mut b, &consent_redirect).await;
    let cid = consent.field("interaction").unwrap();
    let ccsrf = consent.field("csrf").unwrap();
    for form in [
        vec![("interaction", cid.as_str()), ("decision", "approve")],
        vec![("interaction", cid.as_str()), ("decision", "approve"), ("csrf", "forged-forged-forged-forged")],
        vec![("interaction", cid.as_str()), ("decision", "approve"), ("csrf", bob_csrf.as_str())],
    ] {
        let page = b.post_form(&t.s.url("/consent"), &form).await;
        assert_error_page(&page);
    }
    // Without the CSRF cookie, even with the right token.
    let mut stripped = Browser::new();
    stripped.set_cookie(SESSION, b.cookie(SESSION).unwrap());
    let page = stripped
        .post_form(&t.s.url("/consent"), &[("interaction", &cid), ("decision", "approve"), ("csrf", &ccsrf)])
        .await;
    assert_error_page(&page);
    // Only a POST decides (checklist 9.1): a GET with a decision just shows the page.
    let page = b.get(&t.s.url(&format!("/consent?interaction={cid}&decision=approve&csrf={ccsrf}"))).await;
    assert_html(&page, 200);
    assert_eq!(t.s.cli(&["consent", "list", "--json"]).json().as_array().map(Vec::len), Some(0));
    assert_no_tokens(&t.s);
    // And the genuine approval issues exactly one code.
    let done = t.decide(&mut b, &consent, "approve").await;
    let code = code_at(&done, CB);
    assert_eq!(t.redeem(&code).await.0, 200);
    // Checklist 19.2.7: the same form again issues nothing.
    let again = t.decide(&mut b, &consent, "approve").await;
    assert_error_page(&again);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_page() {
    let t = Setup::new();
    let mut b = Browser::new();
    let start = b.get(&t.url(&[])).await;
    let login = t.follow(&mut b, &start).await;
    let wrong = t.login(&mut b, &login, "alice", "not-her-password").await;
    let unknown = t.login(&mut b, &login, "mallory", "pw-alice-1").await;
    for p in [&wrong, &unknown] {
        assert_html(p, 200);
        assert!(p.body.contains(WRONG_PASSWORD), "{}", p.body);
        assert!(p.set_cookie(SESSION).is_none());
    }
    // Identical apart from the username typed back into the form.
    assert_eq!(
        wrong.body.replace("value=\"alice\"", "value=\"USER\""),
        unknown.body.replace("value=\"mallory\"", "value=\"USER\"")
    );
    // An empty password, and an empty username, the same message.
    let empty = t.login(&mut b, &login, "alice", "").await;
    assert!(empty.body.contains(WRONG_PASSWORD), "{}", empty.body);
}

/// Log in as `user` on a fresh pending request from browser `b`.
async fn try_login(t: &Setup, b: &mut Browser, user: &str, password: &str) -> Page {
    let start = b.get(&t.url(&[])).await;
    let login = t.follow(b, &start).await;
    t.login(b, &login, user, password).await
}

fn throttled(p: &Page) {
    assert_html(p, 429);
    assert!(p.body.contains("Too many failed sign-in attempts"), "{}", p.body);
    assert!(p.set_cookie(SESSION).is_none());
}

#[tokio::test]
async fn login_is_throttled_per_account() {
    let env = [("PORTCULLIS_LOGIN_MAX_FAILURES", "3"), ("PORTCULLIS_LOGIN_LOCKOUT", "3")];
    let t = Setup::on(Server::start_with(&[], &env));
    let ip = |n: u8| std::net::IpAddr::from([127, 0, 0, n]);
    // Three failures for alice, each from another address (so no address reaches the limit).
    for n in 2..=4 {
        let page = try_login(&t, &mut Browser::from_address(ip(n)), "alice", "guess").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(WRONG_PASSWORD));
    }
    // Now alice is locked, even with her password and from a fresh address …
    throttled(&try_login(&t, &mut Browser::from_address(ip(5)), "alice", "pw-alice-1").await);
    throttled(&try_login(&t, &mut Browser::from_address(ip(6)), "ALICE", "pw-alice-1").await);
    // … while bob, from that address, is not.
    let page = try_login(&t, &mut Browser::from_address(ip(5)), "bob", "pw-bob-1").await;
    assert_eq!(page.status, 303, "{}", page.body);
    // After the lockout, alice's password works again.
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let page = try_login(&t, &mut Browser::from_address(ip(5)), "alice", "pw-alice-1").await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.set_cookie(SESSION).is_some());
}

#[tokio::test]
async fn login_is_throttled_per_address() {
    let env = [("PORTCULLIS_LOGIN_MAX_FAILURES", "3"), ("PORTCULLIS_LOGIN_LOCKOUT", "600")];
    let t = Setup::on(Server::start_with(&[], &env));
    let ip = |n: u8| std::net::IpAddr::from([127, 0, 0, n]);
    // Three failures from one address, each for another account.
    for user in ["carol", "dave", "erin"] {
        let page = try_login(&t, &mut Browser::from_address(ip(7)), user, "guess").await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
    // That address is locked, for alice's right password too.
    throttled(&try_login(&t, &mut Browser::from_address(ip(7)), "alice", "pw-alice-1").await);
    // Another address is not.
    let page = try_login(&t, &mut Browser::from_address(ip(8)), "alice", "pw-alice-1").await;
    assert_eq!(page.status, 303, "{}", page.body);
}

#[tokio::test]
async fn a_session_means_no_second_login_and_prompt_login_asks_again() {
    let t = Setup::new();
    let mut b = t.alice().await;
    // auth_time counts seconds: let the session be strictly older than what follows.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // Same browser, same request: no login, no consent, straight to the code.
    let page = b.get(&t.url(&[])).await;
    code_at(&page, CB);
    // New scopes: consent, but no login.
    let page = b.get(&t.url(&[("scope", "notes:write")])).await;
    assert!(page.location().unwrap().starts_with("/consent?"), "{:?}", page.location());
    // prompt=login: the login page, at once, however fresh the session.
    let page = b.get(&t.url(&[("prompt", "login")])).await;
    assert!(page.location().unwrap().starts_with("/login?"), "{:?}", page.location());
    let login = t.follow(&mut b, &page).await;
    let old_session = b.cookie(SESSION).unwrap().to_owned();
    // Going to the consent page with the old session instead of logging in does not help.
    let id = login.field("interaction").unwrap();
    let consent_page = b.get(&t.s.url(&format!("/consent?interaction={id}"))).await;
    let skipped = t.decide(&mut b, &consent_page, "approve").await;
    assert!(skipped.location().is_some_and(|l| l.starts_with("/login?")), "{:?}", skipped.location());
    let done = t.login(&mut b, &login, "alice", "pw-alice-1").await;
    // Checklist 9.4: the login starts a new session.
    assert_ne!(b.cookie(SESSION).unwrap(), old_session);
    code_at(&done, CB);
    // Without the session cookie, the login page again.
    b.remove_cookie(SESSION);
    let page = b.get(&t.url(&[])).await;
    assert!(page.location().unwrap().starts_with("/login?"));
    // A forged session cookie is no session.
    b.set_cookie(SESSION, "forged");
    let page = b.get(&t.url(&[])).await;
    assert!(page.location().unwrap().starts_with("/login?"));
}

#[tokio::test]
async fn remembered_consent_skips_the_page_and_new_scopes_ask_again() {
    let t = Setup::new();
    let mut b = t.alice().await;
    code_at(&b.get(&t.url(&[("scope", "notes:read")])).await, CB);
    let page = b.get(&t.url(&[("scope", "openid notes:write")])).await;
    let consent = t.follow(&mut b, &page).await;
    assert!(consent.body.contains("Change your notes") && consent.body.contains("Sign you in"));
    code_at(&t.decide(&mut b, &consent, "approve").await, CB);
    code_at(&b.get(&t.url(&[("scope", "openid notes:read notes:write")])).await, CB);
    // prompt=consent always asks.
    let page = b.get(&t.url(&[("prompt", "consent")])).await;
    assert!(page.location().unwrap().starts_with("/consent?"));
    // Consent is per user: bob is asked.
    let mut bob = Browser::new();
    let start = bob.get(&t.url(&[])).await;
    let login = t.follow(&mut bob, &start).await;
    let page = t.login(&mut bob, &login, "bob", "pw-bob-1").await;
    assert!(page.location().unwrap().starts_with("/consent?"));
}

#[tokio::test]
async fn a_trusted_client_goes_straight_to_the_code() {
    let t = Setup::new();
    let (trusted, secret) = t.s.client(&[
        "--name",
        "First party",
        "--trusted",
        "--redirect-uri",
        CB,
        "--scope",
        "openid notes:read",
    ]);
    let mut b = Browser::new();
    let start = b.get(&t.url(&[("client_id", &trusted)])).await;
    let login = t.follow(&mut b, &start).await;
    let done = t.login(&mut b, &login, "alice", "pw-alice-1").await;
    let code = code_at(&done, CB);
    let (st, _, body) = token(
        &t.s,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB), ("code_verifier", V)],
        Some((&trusted, &secret)),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    // With the session: no page at all.
    code_at(&b.get(&t.url(&[("client_id", &trusted)])).await, CB);
}

#[tokio::test]
async fn accept_language_picks_the_scope_translation() {
    let t = Setup::new();
    let mut b = Browser::new();
    let start = b.get(&t.url(&[])).await;
    let login = t.follow(&mut b, &start).await;
    let after = t.login(&mut b, &login, "alice", "pw-alice-1").await;
    let consent_url = t.s.url(after.location().unwrap());
    for (lang, want, not) in [
        (Some("de-DE,de;q=0.9,en;q=0.8"), "Deine Notizen lesen", "Read your notes"),
        (Some("fr-CH, fr;q=0.9, de;q=0.5"), "Deine Notizen lesen", "Read your notes"),
        (Some("en-US,en;q=0.9"), "Read your notes", "Deine Notizen lesen"),
        (Some("fr"), "Read your notes", "Deine Notizen lesen"),
        (Some("de;q=0, en"), "Read your notes", "Deine Notizen lesen"),
        (None, "Read your notes", "Deine Notizen lesen"),
    ] {
        b.accept_language = lang.map(str::to_owned);
        let page = b.get(&consent_url).await;
        assert_html(&page, 200);
        assert!(page.body.contains(want) && !page.body.contains(not), "{lang:?}: {}", page.body);
    }
    // ui_locales in the request comes first.
    b.accept_language = Some("en".into());
    let page = b.get(&t.url(&[("ui_locales", "de"), ("prompt", "consent")])).await;
    let consent = t.follow(&mut b, &page).await;
    assert!(consent.body.contains("Deine Notizen lesen"), "{}", consent.body);
}

#[tokio::test]
async fn deny_redirects_access_denied_with_state_and_iss() {
    let t = Setup::new();
    let mut b = Browser::new();
    let start = b.get(&t.url(&[])).await;
    let login = t.follow(&mut b, &start).await;
    let after = t.login(&mut b, &login, "alice", "pw-alice-1").await;
    let consent = t.follow(&mut b, &after).await;
    let denied = t.decide(&mut b, &consent, "deny").await;
    assert_eq!(denied.status, 303);
    error_at(&denied, CB, "access_denied", &t.s.base);
    assert_eq!(t.s.cli(&["consent", "list", "--json"]).json().as_array().map(Vec::len), Some(0));
    // The request is over.
    assert_error_page(&t.decide(&mut b, &consent, "approve").await);
    assert_no_tokens(&t.s);
}

#[tokio::test]
async fn checklist_1_8_tampered_consent_fields_are_ignored() {
    let t = Setup::new();
    let (other, _) =
        t.s.client(&["--name", "Other", "--redirect-uri", "https://other.test/cb", "--scope", "openid"]);
    let mut b = Browser::new();
    let start = b.get(&t.url(&[])).await;
    let login = t.follow(&mut b, &start).await;
    let after = t.login(&mut b, &login, "alice", "pw-alice-1").await;
    let consent = t.follow(&mut b, &after).await;
    let id = consent.field("interaction").unwrap();
    let csrf = consent.field("csrf").unwrap();
    let page = b
        .post_form(
            &t.s.url("/consent"),
            &[
                ("interaction", &id),
                ("csrf", &csrf),
                ("decision", "approve"),
                ("redirect_uri", "https://evil.test/cb"),
                ("client_id", &other),
                ("scope", "notes:write"),
                ("state", "evil"),
            ],
        )
        .await;
    let code = code_at(&page, CB);
    let (st, body) = t.redeem(&code).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["scope"], "notes:read openid");
}

#[tokio::test]
async fn checklist_2_7_reflected_input_is_never_rendered_unescaped() {
    let t = Setup::new();
    let xss_state = "<script>alert(1)</script>";
    let xss_uri = "\"><img src=x onerror=alert(1)>";
    // Escaped text is harmless; what must never appear is markup or a script URL.
    let hostile = ["<script", "<img", "\"><", "javascript:", "data:text"];
    let check = |p: &Page, what: &str| {
        for h in hostile {
            assert!(!p.body.to_ascii_lowercase().contains(h), "{what}: {h:?} unescaped in {}", p.body);
        }
        if p.is_html() {
            assert!(p.header("content-security-policy").is_some());
        }
    };
    let mut b = Browser::new();
    b.accept_language = Some("\"><script>alert(1)</script>".into());
    let pages = [
        (t.url(&[("state", xss_state), ("redirect_uri", xss_uri)]), "error page"),
        (t.url(&[("state", xss_state), ("client_id", xss_uri)]), "unknown client"),
        (t.url(&[("redirect_uri", "javascript:alert(1)")]), "javascript redirect"),
        (t.url(&[("redirect_uri", "data:text/html,<script>alert(1)</script>")]), "data redirect"),
        (
            format!(
                "{}&%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E=1&%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E=2",
                t.url(&[])
            ),
            "repeated hostile name",
        ),
    ];
    for (url, what) in pages {
        let page = b.get(&url).await;
        assert_error_page(&page);
        check(&page, what);
    }
    // The login and consent pages, with a hostile state, login_hint and ui_locales.
    let start =
        b.get(&t.url(&[("state", xss_state), ("login_hint", xss_uri), ("ui_locales", xss_uri)])).await;
    let login = t.follow(&mut b, &start).await;
    check(&login, "login page");
    assert!(login.body.contains("&quot;&gt;&lt;img"), "the hint is there, escaped: {}", login.body);
    let failed = t.login(&mut b, &login, xss_uri, "x").await;
    check(&failed, "failed login");
    let after = t.login(&mut b, &login, "alice", "pw-alice-1").await;
    let consent = t.follow(&mut b, &after).await;
    check(&consent, "consent page");
    // The state goes back to the client URL-encoded, byte for byte.
    let done = t.decide(&mut b, &consent, "approve").await;
    let loc = done.location().unwrap();
    assert!(!loc.contains('<') && !loc.contains('>') && !loc.contains('"'), "{loc}");
    assert_eq!(url_param(loc, "state").as_deref(), Some(xss_state));
}

#[tokio::test]
async fn checklist_3_7_state_comes_back_byte_for_byte() {
    let t = Setup::new();
    let mut b = t.alice().await;
    for state in ["a b+c&d;e", "\u{fc}ml\u{e4}ut \u{2603} \"q\" 'x' #h %25 ?q=1 \\ / =", "="] {
        let page = b.get(&t.url(&[("state", state)])).await;
        assert_eq!(url_param(page.location().unwrap(), "state").as_deref(), Some(state));
        let page = b.get(&t.url(&[("state", state), ("scope", "nope")])).await;
        let loc = page.location().unwrap();
        assert_eq!(url_param(loc, "error").as_deref(), Some("invalid_scope"));
        assert_eq!(url_param(loc, "state").as_deref(), Some(state));
    }
    // The wire form of checklist 3.7.
    let url = t.url(&[("state", "PLACEHOLDER")]).replace("PLACEHOLDER", "a%20b%2Bc%26d%3Be");
    let page = b.get(&url).await;
    assert_eq!(url_param(page.location().unwrap(), "state").as_deref(), Some("a b+c&d;e"));
}

#[tokio::test]
async fn the_pending_request_survives_a_change_of_server_process() {
    // Two `portcullis serve` processes on one SQLite file: the request starts on A, the login
    // is answered by B, the consent by A, the code is redeemed at B.
    let issuer = ["--issuer", "http://as.test"];
    let t = Setup::on(Server::start_with(&issuer, &[]));
    let b_node = start_on(&t.s.db_url, &issuer, &[]);
    let mut b = Browser::new();
    let start = b.get(&t.url(&[])).await;
    let login_path = start.location().unwrap().to_owned();
    let login = b.get(&b_node.url(&login_path)).await;
    assert_html(&login, 200);
    let after = login_on(&b_node, &mut b, &login, "alice", "pw-alice-1").await;
    assert_eq!(after.status, 303, "{}", after.body);
    let consent = t.follow(&mut b, &after).await;
    let done = decide_on(&t.s, &mut b, &consent, "approve").await;
    let code = code_at(&done, CB);
    let (st, _, body) = token(
        &b_node,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB), ("code_verifier", V)],
        Some((&t.id, &t.secret)),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    // The session started on B counts on A; the finished request is gone on both.
    code_at(&b.get(&t.url(&[])).await, CB);
    assert_error_page(&decide_on(&b_node, &mut b, &consent, "approve").await);
    assert_error_page(&decide_on(&t.s, &mut b, &consent, "approve").await);
}

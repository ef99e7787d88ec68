//! The authorization endpoint (issue #3) through `OAuthServer::authorize` / `resume` with a
//! MemoryStore and a FixedClock: where each error goes (page vs redirect, RFC 6749 §4.1.2.1,
//! RFC 9700 §4.1.3), PKCE (RFC 7636, RFC 9700 §4.8.2), state, scopes, prompt values, login and
//! consent, the pending request, storage faults, and the code's way to /token. Checklist
//! numbers refer to SECURITY-CHECKLIST.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use portcullis_core::model::secret::hash_token;
use portcullis_core::store::{AuthorizationStore, ConsentStore};
use portcullis_core::{
    Authentication, AuthorizeOutcome, Config, Consent, ConsentDecision, ErrorCode, Interaction,
    InteractionKind, OAuthError, Params, ScopeSet, Take,
};
use portcullis_testkit::fixtures::{error_code, json_body};
use portcullis_testkit::{ClientSpec, Fixture};

const ISS: &str = "https://as.test";
const CB: &str = "https://c1.test/cb";
// RFC 7636 Appendix B.
const V: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const C: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn config() -> Config {
    Config { issuer: ISS.into(), ..Config::default() }
}

/// A redirect taken apart: the part before `?`/`#`, which of the two, and the parameters.
#[derive(Debug)]
struct Redirect {
    url: String,
    base: String,
    fragment: bool,
    params: Vec<(String, String)>,
}

impl Redirect {
    fn parse(url: &str) -> Self {
        let cut = url.find(['?', '#']).unwrap_or(url.len());
        let (base, rest) = url.split_at(cut);
        let fragment = rest.starts_with('#') || (rest.starts_with('?') && rest.contains('#'));
        let raw = rest.trim_start_matches(['?', '#']).replace('#', "&");
        let params = form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
        Self { url: url.to_owned(), base: base.to_owned(), fragment, params }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.params.iter().filter(|(k, _)| k == name).count()
    }
}

fn redirect(o: AuthorizeOutcome) -> Redirect {
    match o {
        AuthorizeOutcome::Redirect(url) => Redirect::parse(&url),
        other => panic!("expected a redirect, got {other:?}"),
    }
}

fn page(o: AuthorizeOutcome) -> OAuthError {
    match o {
        AuthorizeOutcome::ShowError(e) => e,
        other => panic!("expected an error page, never a redirect; got {other:?}"),
    }
}

fn interaction(o: AuthorizeOutcome, kind: InteractionKind) -> Interaction {
    match o {
        AuthorizeOutcome::Interaction(i) if i.kind == kind => *i,
        other => panic!("expected the {kind:?} page, got {other:?}"),
    }
}

/// G6: `error` and `error_description` use only %x20-21 / %x23-5B / %x5D-7E.
fn g6(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// REDIR(e) of the checklist: at `base`, with `error=e`, a description, the state, `iss`, and
/// no code or token.
fn assert_error_redirect(r: &Redirect, base: &str, error: &str, state: Option<&str>) {
    assert_eq!(r.base, base, "{}", r.url);
    assert_eq!(r.get("error"), Some(error), "{}", r.url);
    let description = r.get("error_description").unwrap_or_else(|| panic!("no error_description: {}", r.url));
    assert!(g6(error) && g6(description), "G6: {}", r.url);
    assert_eq!(r.get("state"), state, "{}", r.url);
    assert_eq!(r.get("iss"), Some(ISS), "RFC 9207: {}", r.url);
    assert!(r.get("code").is_none() && r.get("access_token").is_none(), "{}", r.url);
    for name in ["error", "error_description", "state", "iss"] {
        assert!(r.count(name) <= 1, "{name} twice: {}", r.url);
    }
}

/// Parameters to replace, add, or (with `None`) remove.
type Overrides<'a> = Vec<(&'a str, Option<&'a str>)>;

/// Build request parameters from `base` with `overrides` applied (`None` removes a parameter).
fn params(base: &[(&str, &str)], overrides: &[(&str, Option<&str>)]) -> Params {
    let mut pairs: Vec<(&str, &str)> = base.to_vec();
    for (name, value) in overrides {
        match (pairs.iter().position(|(n, _)| n == name), value) {
            (Some(i), Some(v)) => pairs[i].1 = v,
            (Some(i), None) => {
                pairs.remove(i);
            }
            (None, Some(v)) => pairs.push((name, v)),
            (None, None) => {}
        }
    }
    Params::from_pairs(pairs).unwrap()
}

/// A fixture with scopes `openid profile email` (`profile` default), client `c1` (confidential,
/// code + refresh, one redirect URI) and alice, logged in 10 seconds ago.
struct T {
    f: Fixture,
    secret: String,
    alice: Authentication,
}

impl T {
    async fn new() -> Self {
        Self::with_config(config()).await
    }

    async fn with_config(config: Config) -> Self {
        let f = Fixture::with_config(config);
        f.add_scope("openid", false).await;
        f.add_scope("profile", true).await;
        f.add_scope("email", false).await;
        f.add_scope("admin", false).await;
        let (_, secret) = f
            .add_client(
                ClientSpec::confidential(&["authorization_code", "refresh_token"])
                    .id("c1")
                    .redirect_uris(&[CB])
                    .scopes("openid profile email"),
            )
            .await;
        let alice = Authentication { subject: "alice-sub".into(), auth_time: f.now() - 10 };
        Self { f, secret, alice }
    }

    /// `AUTHZ(c1, …)` of the checklist.
    fn authz(&self, overrides: &[(&str, Option<&str>)]) -> Params {
        params(
            &[
                ("response_type", "code"),
                ("client_id", "c1"),
                ("redirect_uri", CB),
                ("scope", "openid"),
                ("state", "st1"),
                ("code_challenge", C),
                ("code_challenge_method", "S256"),
            ],
            overrides,
        )
    }

    /// Alice has approved `scopes` for `client_id` before.
    async fn consented(&self, client_id: &str, scopes: &str) {
        let now = self.f.now();
        let consent = Consent {
            subject: self.alice.subject.clone(),
            client_id: client_id.into(),
            scopes: ScopeSet::parse(scopes).unwrap(),
            granted_at: now,
            updated_at: now,
        };
        self.f.store.save_consent(&consent).await.unwrap();
    }

    /// `AUTHZ` sent with alice's session and consent already given (the checklist's default).
    async fn authorize(&self, overrides: &[(&str, Option<&str>)]) -> AuthorizeOutcome {
        self.consented("c1", "openid profile email").await;
        self.f.server.authorize(&self.authz(overrides), Some(&self.alice)).await
    }

    /// `AUTHZ(c1, scope=…)` with alice's session, consent as it stands.
    async fn ask(&self, scope: &str) -> AuthorizeOutcome {
        self.f.server.authorize(&self.authz(&[("scope", Some(scope))]), Some(&self.alice)).await
    }

    async fn consent_of(&self, client_id: &str) -> Option<ScopeSet> {
        self.f.store.get_consent(&self.alice.subject, client_id).await.unwrap().map(|c| c.scopes)
    }

    /// G8: nothing was issued.
    fn assert_nothing_issued(&self) {
        assert_eq!(self.f.store.code_count(), 0, "G8: no code");
        assert_eq!(self.f.store.token_count(), 0, "G8: no token");
    }

    /// Exchange a code as c1 (Basic) with extra parameters.
    async fn exchange(&self, code: &str, extra: &[(&str, &str)]) -> http::Response<String> {
        let mut pairs = vec![("grant_type", "authorization_code"), ("code", code)];
        pairs.extend_from_slice(extra);
        self.f.token(&pairs, Some(("c1", &self.secret))).await
    }

    /// The stored code record (consumes it).
    async fn take_code(&self, code: &str) -> portcullis_core::AuthorizationCode {
        match self.f.store.take_code(&hash_token(code), self.f.now()).await.unwrap() {
            Take::Fresh(rec) => rec,
            _ => panic!("the code is not in the store"),
        }
    }
}

/// A successful answer: `code`, `state`, `iss` at `base`; returns the code.
fn code_of(r: &Redirect, base: &str, state: Option<&str>) -> String {
    assert_eq!(r.base, base, "{}", r.url);
    assert!(!r.fragment, "{}", r.url);
    assert_eq!(r.get("state"), state, "{}", r.url);
    assert_eq!(r.get("iss"), Some(ISS), "RFC 9207: {}", r.url);
    assert!(r.get("error").is_none(), "{}", r.url);
    r.get("code").unwrap_or_else(|| panic!("no code: {}", r.url)).to_owned()
}

// ---------------------------------------------------------------------------------------------
// Client and redirect URI: problems are shown, never redirected (RFC 6749 §4.1.2.1)

#[tokio::test]
async fn checklist_2_1_unknown_client_shows_an_error_page() {
    let t = T::new().await;
    let p = params(
        &[
            ("response_type", "code"),
            ("client_id", "nope"),
            ("redirect_uri", "https://evil.test/"),
            ("state", "x"),
        ],
        &[],
    );
    let e = page(t.f.server.authorize(&p, Some(&t.alice)).await);
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    t.assert_nothing_issued();
}

#[tokio::test]
async fn checklist_2_2_missing_client_id_shows_an_error_page() {
    let t = T::new().await;
    page(t.authorize(&[("client_id", None)]).await);
    // An empty value counts as absent (checklist 3.3).
    page(t.authorize(&[("client_id", Some(""))]).await);
    t.assert_nothing_issued();
}

#[tokio::test]
async fn checklist_1_1_exact_redirect_uri_gets_a_code() {
    let t = T::new().await;
    let r = redirect(t.authorize(&[]).await);
    assert!(r.url.starts_with("https://c1.test/cb?"), "{}", r.url);
    code_of(&r, CB, Some("st1"));
    assert_eq!(t.f.store.code_count(), 1);
}

#[tokio::test]
async fn checklist_1_2_near_miss_redirect_uris_show_an_error_page() {
    let t = T::new().await;
    let vectors = [
        "https://c1.test/cb/",
        "https://c1.test/CB",
        "https://C1.test/cb",
        "HTTPS://c1.test/cb",
        "https://c1.test/cb?x=1",
        "https://c1.test/cb#f",
        "https://c1.test:443/cb",
        "https://c1.test:8443/cb",
        "https://c1.test/%63b",
        "https://c1.test/cb/../cb",
        "https://c1.test/cb/%2E%2E/",
        "https://c1.test/cb%2F%2E%2E%2F",
        "https://c1.test/cb/%252E%252E/",
        "https://c1.test%2Fcb@evil.test/",
        "https://c1.test/cb@evil.test",
        "https://c1.test:443@evil.test/cb",
        "https://c1.test.evil.test/cb",
        "https://evil.test/https://c1.test/cb",
        "https://c1.test/cb\0",
        "https://c1.test/cb%00",
        "https://c1.test/cb\r\nSet-Cookie:x=y",
        "https://c1.test/cb%0d%0aSet-Cookie:x=y",
        " https://c1.test/cb",
        "https://c1.test/cb ",
        "https://c1.test/cb\t",
        "https://c1.test/cb%09",
        "http://c1.test/cb",
        "//evil.test/cb",
        "//c1.test/cb",
        "/cb",
        "https:evil.test",
        "https:c1.test/cb",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "\tjavascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "https://c1.t\u{435}st/cb",
        "https://xn--c1-test/cb",
        "https://c1.test/cb\u{200b}",
    ];
    for v in vectors {
        // Also break the rest of the request: the redirect URI is judged first (checklist 2.3).
        for overrides in [
            vec![("redirect_uri", Some(v))],
            vec![("redirect_uri", Some(v)), ("response_type", Some("bogus"))],
            vec![("redirect_uri", Some(v)), ("prompt", Some("none"))],
        ] {
            let o = t.authorize(&overrides).await;
            assert!(matches!(o, AuthorizeOutcome::ShowError(_)), "{v:?} must show an error page, got {o:?}");
        }
    }
    t.assert_nothing_issued();
}

#[tokio::test]
async fn checklist_2_3_redirect_uri_is_verified_before_any_redirectable_error() {
    let t = T::new().await;
    let evil = Some("https://evil.test/");
    for broken in [
        vec![("response_type", Some("bogus"))],
        vec![("response_type", None)],
        vec![("scope", Some("nope"))],
        vec![("code_challenge", None), ("code_challenge_method", None)],
        vec![("code_challenge_method", Some("S512"))],
        vec![("state", None)],
        vec![("prompt", Some("none"))],
    ] {
        let mut overrides = broken.clone();
        overrides.push(("redirect_uri", evil));
        page(t.authorize(&overrides).await);
        // Without a session, and with an unknown client, the same.
        page(t.f.server.authorize(&t.authz(&overrides), None).await);
        overrides.push(("client_id", Some("nope")));
        page(t.authorize(&overrides).await);
    }
    t.assert_nothing_issued();
}

#[tokio::test]
async fn checklist_3_1_repeated_parameters_are_refused_at_the_edge() {
    // A repeated parameter never reaches `authorize`: Params refuses it, and the page layer
    // shows an error page (client_id and redirect_uri cannot be trusted then).
    for name in ["state", "response_type", "scope", "code_challenge", "client_id", "redirect_uri"] {
        let q = format!("client_id=c1&{name}=a&{name}=b");
        let e = Params::parse(q.as_bytes()).err().unwrap_or_else(|| panic!("{name} twice accepted"));
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }
}

#[tokio::test]
async fn checklist_1_3_registered_query_is_kept_and_must_match_exactly() {
    let t = T::new().await;
    let q1 = "https://q1.test/cb?x=1";
    t.f.add_client(
        ClientSpec::confidential(&["authorization_code"]).id("q1").redirect_uris(&[q1]).scopes("openid"),
    )
    .await;
    t.consented("q1", "openid").await;
    let base = [
        ("response_type", "code"),
        ("client_id", "q1"),
        ("scope", "openid"),
        ("state", "st1"),
        ("code_challenge", C),
        ("code_challenge_method", "S256"),
    ];
    let r =
        redirect(t.f.server.authorize(&params(&base, &[("redirect_uri", Some(q1))]), Some(&t.alice)).await);
    assert!(r.url.starts_with("https://q1.test/cb?x=1&code="), "RFC 6749 §3.1.2 keeps the query: {}", r.url);
    assert_eq!(r.get("x"), Some("1"));
    code_of(&r, "https://q1.test/cb", Some("st1"));
    // Errors keep it too.
    let r = redirect(
        t.f.server
            .authorize(&params(&base, &[("redirect_uri", Some(q1)), ("scope", Some("nope"))]), Some(&t.alice))
            .await,
    );
    assert!(r.url.starts_with("https://q1.test/cb?x=1&error=invalid_scope"), "{}", r.url);
    for v in [
        "https://q1.test/cb?x=2",
        "https://q1.test/cb?x=1&y=2",
        "https://q1.test/cb?y=2&x=1",
        "https://q1.test/cb?x=1&x=1",
        "https://q1.test/cb",
        "https://q1.test/cb?",
        "https://q1.test/cb?x=1#",
    ] {
        page(t.f.server.authorize(&params(&base, &[("redirect_uri", Some(v))]), Some(&t.alice)).await);
    }
    assert_eq!(t.f.store.code_count(), 1);
}

#[tokio::test]
async fn checklist_1_4_loopback_redirect_uris_accept_any_port() {
    let t = T::new().await;
    t.f.add_client(
        ClientSpec::public(&["authorization_code"])
            .id("p1")
            .redirect_uris(&["https://p1.test/cb", "http://127.0.0.1/cb", "http://[::1]/cb"])
            .scopes("openid"),
    )
    .await;
    t.consented("p1", "openid").await;
    let base = [
        ("response_type", "code"),
        ("client_id", "p1"),
        ("scope", "openid"),
        ("state", "st1"),
        ("code_challenge", C),
        ("code_challenge_method", "S256"),
    ];
    for ok in ["http://127.0.0.1:51004/cb", "http://[::1]:61023/cb", "http://127.0.0.1/cb"] {
        let r = redirect(
            t.f.server.authorize(&params(&base, &[("redirect_uri", Some(ok))]), Some(&t.alice)).await,
        );
        // The code goes to the port the request named.
        let code = code_of(&r, ok, Some("st1"));
        let res =
            t.f.token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("client_id", "p1"),
                    ("redirect_uri", ok),
                    ("code_verifier", V),
                ],
                None,
            )
            .await;
        assert_eq!(res.status(), 200, "{ok}: {}", res.body());
    }
    for bad in [
        "http://127.0.0.1:51004/cb2",
        "http://127.0.0.2:1/cb",
        "http://127.0.0.1.evil.test:1/cb",
        "http://localhost:51004/cb",
        "https://127.0.0.1:1/cb",
        "http://127.0.0.1:1@evil.test/cb",
        "http://127.0.0.1:99999999/cb",
        "http://[::1]:1/cb/",
    ] {
        page(t.f.server.authorize(&params(&base, &[("redirect_uri", Some(bad))]), Some(&t.alice)).await);
    }
}

#[tokio::test]
async fn checklist_1_6_several_registered_redirect_uris_need_an_explicit_one() {
    let t = T::new().await;
    t.f.add_client(
        ClientSpec::confidential(&["authorization_code"])
            .id("m1")
            .redirect_uris(&["https://m1.test/a", "https://m1.test/b"])
            .scopes("openid"),
    )
    .await;
    t.consented("m1", "openid").await;
    let base = [
        ("response_type", "code"),
        ("client_id", "m1"),
        ("scope", "openid"),
        ("state", "st1"),
        ("code_challenge", C),
        ("code_challenge_method", "S256"),
    ];
    page(t.f.server.authorize(&params(&base, &[]), Some(&t.alice)).await);
    page(t.f.server.authorize(&params(&base, &[("redirect_uri", Some(""))]), Some(&t.alice)).await);
    // Even a broken request is not redirected anywhere when the target is ambiguous.
    page(t.f.server.authorize(&params(&base, &[("scope", Some("nope"))]), Some(&t.alice)).await);
    t.assert_nothing_issued();
    let r = redirect(
        t.f.server
            .authorize(&params(&base, &[("redirect_uri", Some("https://m1.test/b"))]), Some(&t.alice))
            .await,
    );
    code_of(&r, "https://m1.test/b", Some("st1"));
}

#[tokio::test]
async fn checklist_1_6_a_single_registered_redirect_uri_may_be_omitted() {
    let t = T::new().await;
    let r = redirect(t.authorize(&[("redirect_uri", None)]).await);
    let code = code_of(&r, CB, Some("st1"));
    // Omitted in the request, so the token request need not repeat it (RFC 6749 §4.1.3).
    let res = t.exchange(&code, &[("code_verifier", V)]).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    // Checklist 3.3: `redirect_uri=` counts as absent, so the default applies.
    let r = redirect(t.authorize(&[("redirect_uri", Some(""))]).await);
    code_of(&r, CB, Some("st1"));
    // Errors go to the default too.
    let r = redirect(t.authorize(&[("redirect_uri", None), ("scope", Some("nope"))]).await);
    assert_error_redirect(&r, CB, "invalid_scope", Some("st1"));
}

#[tokio::test]
async fn a_client_without_redirect_uris_shows_an_error_page() {
    let t = T::new().await;
    t.f.add_client(ClientSpec::confidential(&["authorization_code"]).id("n1").redirect_uris(&[])).await;
    let p = params(&[("response_type", "code"), ("client_id", "n1"), ("state", "st1")], &[]);
    page(t.f.server.authorize(&p, Some(&t.alice)).await);
    let p = params(&[("client_id", "n1"), ("redirect_uri", "https://c1.test/cb")], &[]);
    page(t.f.server.authorize(&p, Some(&t.alice)).await);
}

// ---------------------------------------------------------------------------------------------
// Errors after the redirect URI is verified (RFC 6749 §4.1.2.1, RFC 9207)

#[tokio::test]
async fn checklist_2_4_errors_after_verification_redirect_with_description_state_and_iss() {
    let t = T::new().await;
    t.f.add_client(
        ClientSpec::confidential(&["client_credentials"]).id("cc").redirect_uris(&["https://cc.test/cb"]),
    )
    .await;
    let cases: Vec<(Overrides, &str)> = vec![
        (vec![("response_type", None)], "invalid_request"),
        (vec![("response_type", Some("bogus"))], "unsupported_response_type"),
        (vec![("response_type", Some("token"))], "unsupported_response_type"),
        (vec![("response_type", Some("code token"))], "unsupported_response_type"),
        (vec![("response_type", Some("CODE"))], "unsupported_response_type"),
        (vec![("scope", Some("unknown_scope"))], "invalid_scope"),
        (vec![("scope", Some("admin"))], "invalid_scope"),
        (vec![("scope", Some("openid  profile"))], "invalid_scope"),
        (vec![("code_challenge_method", Some("S512"))], "invalid_request"),
        (vec![("prompt", Some("bogus"))], "invalid_request"),
        (vec![("prompt", Some("none login"))], "invalid_request"),
        (vec![("max_age", Some("-1"))], "invalid_request"),
        (vec![("max_age", Some("soon"))], "invalid_request"),
        (vec![("response_mode", Some("fragment"))], "invalid_request"),
        (
            vec![("client_id", Some("cc")), ("redirect_uri", Some("https://cc.test/cb"))],
            "unauthorized_client",
        ),
    ];
    for (overrides, error) in cases {
        let r = redirect(t.authorize(&overrides).await);
        let base = if error == "unauthorized_client" { "https://cc.test/cb" } else { CB };
        assert_error_redirect(&r, base, error, Some("st1"));
        assert!(!r.fragment, "{overrides:?}: {}", r.url);
    }
    t.assert_nothing_issued();
}

#[tokio::test]
async fn checklist_2_6_without_a_session_a_broken_request_is_not_redirected_at_once() {
    // RFC 9700 §4.11.2: "The authorization server MUST always authenticate the user first and,
    // with the exception of the silent authentication use case, prompt the user for
    // credentials when needed, before redirecting the user." A broken request from a
    // registered redirect URI must not turn the AS into a redirector for a user who is not
    // signed in: an error page (or the login page), not a redirect.
    let t = T::new().await;
    for broken in [
        vec![("scope", Some("unknown_scope"))],
        vec![("response_type", Some("bogus"))],
        vec![("code_challenge_method", Some("S512"))],
        vec![("state", None)],
    ] {
        let o = t.f.server.authorize(&t.authz(&broken), None).await;
        let AuthorizeOutcome::Interaction(i) = o else {
            panic!("{broken:?}: the login page first, not a redirect, got {o:?}");
        };
        assert_eq!(i.kind, InteractionKind::Login);
        // After the login the error goes to the client, with state (when sent) and iss.
        let r = redirect(t.f.server.resume(&i.id, Some(&t.alice), None).await);
        let state = if broken[0].0 == "state" { None } else { Some("st1") };
        assert!(r.get("error").is_some(), "{broken:?}: {}", r.url);
        assert_eq!(r.get("state"), state);
        assert!(r.get("iss").is_some());
        assert!(r.get("code").is_none());
    }
    // Silent authentication is the allowed exception.
    let r = redirect(t.f.server.authorize(&t.authz(&[("prompt", Some("none"))]), None).await);
    assert_error_redirect(&r, CB, "login_required", Some("st1"));
    t.assert_nothing_issued();
}

#[tokio::test]
async fn checklist_3_7_state_is_echoed_byte_for_byte() {
    let t = T::new().await;
    for state in [
        "a b+c&d;e",
        "<script>alert(1)</script>",
        "\u{fc}ml\u{e4}ut \u{2603} \"quoted\" 'single' #hash %25 %zz ?q=1&r=2 \\ / =",
        "=",
        &"s".repeat(512),
    ] {
        // Success …
        let r = redirect(t.authorize(&[("state", Some(state))]).await);
        assert_eq!(r.get("state"), Some(state));
        code_of(&r, CB, Some(state));
        // … and error.
        let r = redirect(t.authorize(&[("state", Some(state)), ("scope", Some("nope"))]).await);
        assert_error_redirect(&r, CB, "invalid_scope", Some(state));
    }
    // The wire form of checklist 3.7 decodes to the same.
    let p = Params::parse(
        format!("response_type=code&client_id=c1&scope=openid&code_challenge={C}&code_challenge_method=S256&state=a%20b%2Bc%26d%3Be")
            .as_bytes(),
    )
    .unwrap();
    let r = redirect(t.f.server.authorize(&p, Some(&t.alice)).await);
    assert_eq!(r.get("state"), Some("a b+c&d;e"));
}

#[tokio::test]
async fn state_is_required_unless_allow_empty_state() {
    let t = T::new().await;
    for missing in [None, Some("")] {
        let r = redirect(t.authorize(&[("state", missing)]).await);
        assert_error_redirect(&r, CB, "invalid_request", None);
    }
    t.assert_nothing_issued();

    let t = T::with_config(Config { allow_empty_state: true, ..config() }).await;
    for missing in [None, Some("")] {
        let r = redirect(t.authorize(&[("state", missing)]).await);
        // Checklist 3.3: an empty state is absent, and the response carries none.
        assert_eq!(r.count("state"), 0, "{}", r.url);
        code_of(&r, CB, None);
    }
}

#[tokio::test]
async fn checklist_3_2_and_3_5_unknown_parameters_are_ignored_and_order_does_not_matter() {
    let t = T::new().await;
    let r = redirect(t.authorize(&[("extra", Some("foobar")), ("scope", Some("profile openid"))]).await);
    let code = code_of(&r, CB, Some("st1"));
    assert_eq!(t.take_code(&code).await.scopes.to_string(), "openid profile");
}

// ---------------------------------------------------------------------------------------------
// response_type, scope, unauthorized_client

#[tokio::test]
async fn implicit_grant_is_off_by_default_and_uses_the_fragment_when_enabled() {
    // Off: checklist 2.4 (RFC 9700 §2.1.2).
    let t = T::new().await;
    t.f.add_client(
        ClientSpec::public(&["implicit"]).id("i1").redirect_uris(&["https://i1.test/cb"]).scopes("openid"),
    )
    .await;
    let base = [("response_type", "token"), ("client_id", "i1"), ("scope", "openid"), ("state", "st1")];
    t.consented("i1", "openid").await;
    let r = redirect(t.f.server.authorize(&params(&base, &[]), Some(&t.alice)).await);
    assert_error_redirect(&r, "https://i1.test/cb", "unsupported_response_type", Some("st1"));
    t.assert_nothing_issued();

    // On.
    let t = T::with_config(Config { allow_implicit_grant: true, ..config() }).await;
    t.f.add_client(
        ClientSpec::public(&["implicit"]).id("i1").redirect_uris(&["https://i1.test/cb"]).scopes("openid"),
    )
    .await;
    t.consented("i1", "openid").await;
    let r = redirect(t.f.server.authorize(&params(&base, &[]), Some(&t.alice)).await);
    assert!(r.url.starts_with("https://i1.test/cb#access_token=pc_at_"), "RFC 6749 §4.2.2: {}", r.url);
    assert!(r.fragment);
    assert_eq!(r.get("token_type"), Some("Bearer"));
    assert_eq!(r.get("expires_in"), Some("3600"));
    assert_eq!(r.get("scope"), Some("openid"));
    assert_eq!(r.get("state"), Some("st1"));
    assert_eq!(r.get("iss"), Some(ISS));
    assert!(r.get("code").is_none());
    // RFC 6749 §4.2.2: "The authorization server MUST NOT issue a refresh token."
    assert!(r.get("refresh_token").is_none());
    assert!(t.f.store.refresh_tokens().is_empty());
    assert_eq!(t.f.store.access_tokens().len(), 1);
    assert_eq!(t.f.store.access_tokens()[0].subject.as_deref(), Some("alice-sub"));
    assert_eq!(t.f.store.code_count(), 0);

    // Errors of an implicit request go in the fragment too (RFC 6749 §4.2.2.1).
    let r = redirect(t.f.server.authorize(&params(&base, &[("scope", Some("nope"))]), Some(&t.alice)).await);
    assert!(r.url.starts_with("https://i1.test/cb#error=invalid_scope"), "{}", r.url);
    assert_error_redirect(&r, "https://i1.test/cb", "invalid_scope", Some("st1"));
    // A client without the implicit grant is unauthorized for it, even when it is on.
    let r = redirect(t.authorize(&[("response_type", Some("token"))]).await);
    assert!(r.fragment, "{}", r.url);
    assert_error_redirect(&r, CB, "unauthorized_client", Some("st1"));
    assert_eq!(t.f.store.token_count(), 1);
}

#[tokio::test]
async fn unauthorized_client_when_the_client_lacks_the_authorization_code_grant() {
    let t = T::new().await;
    t.f.add_client(
        ClientSpec::confidential(&["client_credentials", "refresh_token"])
            .id("m2m")
            .redirect_uris(&["https://m2m.test/cb"])
            .scopes("openid"),
    )
    .await;
    t.consented("m2m", "openid").await;
    let o =
        t.f.server
            .authorize(
                &t.authz(&[("client_id", Some("m2m")), ("redirect_uri", Some("https://m2m.test/cb"))]),
                Some(&t.alice),
            )
            .await;
    assert_error_redirect(&redirect(o), "https://m2m.test/cb", "unauthorized_client", Some("st1"));
    t.assert_nothing_issued();
}

#[tokio::test]
async fn invalid_scope_for_unknown_and_unallowed_scopes() {
    let t = T::new().await;
    for scope in ["unknown_scope", "admin", "openid admin", "openid\"x", "caf\u{e9}"] {
        let r = redirect(t.authorize(&[("scope", Some(scope))]).await);
        assert_error_redirect(&r, CB, "invalid_scope", Some("st1"));
    }
    t.assert_nothing_issued();
}

#[tokio::test]
async fn default_scopes_apply_when_scope_is_omitted() {
    let t = T::new().await;
    // `profile` is the registered default and c1 may have it; `admin` is not default.
    let r = redirect(t.authorize(&[("scope", None)]).await);
    let code = code_of(&r, CB, Some("st1"));
    assert_eq!(t.take_code(&code).await.scopes.to_string(), "profile");

    // A default the client may not have is not granted.
    t.f.add_client(
        ClientSpec::confidential(&["authorization_code"])
            .id("c9")
            .redirect_uris(&["https://c9.test/cb"])
            .scopes("email"),
    )
    .await;
    t.consented("c9", "email").await;
    let o =
        t.f.server
            .authorize(
                &t.authz(&[
                    ("client_id", Some("c9")),
                    ("redirect_uri", Some("https://c9.test/cb")),
                    ("scope", None),
                ]),
                Some(&t.alice),
            )
            .await;
    let code = code_of(&redirect(o), "https://c9.test/cb", Some("st1"));
    assert!(t.take_code(&code).await.scopes.is_empty());
}

// ---------------------------------------------------------------------------------------------
// PKCE (RFC 7636, RFC 9700 §2.1.1, §4.8.2)

#[tokio::test]
async fn checklist_4_2_public_clients_must_send_a_code_challenge() {
    let t = T::new().await;
    t.f.add_client(
        ClientSpec::public(&["authorization_code"])
            .id("p1")
            .redirect_uris(&["https://p1.test/cb"])
            .scopes("openid"),
    )
    .await;
    t.consented("p1", "openid").await;
    for missing in [None, Some("")] {
        let o =
            t.f.server
                .authorize(
                    &t.authz(&[
                        ("client_id", Some("p1")),
                        ("redirect_uri", Some("https://p1.test/cb")),
                        ("code_challenge", missing),
                        ("code_challenge_method", None),
                    ]),
                    Some(&t.alice),
                )
                .await;
        let r = redirect(o);
        assert_error_redirect(&r, "https://p1.test/cb", "invalid_request", Some("st1"));
        assert!(r.get("error_description").unwrap().contains("code_challenge"), "{}", r.url);
    }
    t.assert_nothing_issued();
}

#[tokio::test]
async fn checklist_4_3_require_pkce_extends_pkce_to_confidential_clients() {
    let no_pkce = [("code_challenge", None), ("code_challenge_method", None)];
    // Default: a confidential client may go without (the setting is off).
    let t = T::new().await;
    let code = code_of(&redirect(t.authorize(&no_pkce).await), CB, Some("st1"));
    let res = t.exchange(&code, &[("redirect_uri", CB)]).await;
    assert_eq!(res.status(), 200, "{}", res.body());

    let t = T::with_config(Config { require_pkce: true, ..config() }).await;
    assert_error_redirect(&redirect(t.authorize(&no_pkce).await), CB, "invalid_request", Some("st1"));
    t.assert_nothing_issued();
    code_of(&redirect(t.authorize(&[]).await), CB, Some("st1"));
}

#[tokio::test]
async fn checklist_4_4_plain_and_the_default_method_are_refused_unless_allowed() {
    let t = T::new().await;
    // RFC 7636 §4.3: a missing method means "plain", so it is refused like plain itself.
    for method in [Some("plain"), None, Some("")] {
        let r =
            redirect(t.authorize(&[("code_challenge", Some(V)), ("code_challenge_method", method)]).await);
        assert_error_redirect(&r, CB, "invalid_request", Some("st1"));
    }
    t.assert_nothing_issued();

    let t = T::with_config(Config { allow_plain_pkce: true, ..config() }).await;
    for method in [Some("plain"), None] {
        let r =
            redirect(t.authorize(&[("code_challenge", Some(V)), ("code_challenge_method", method)]).await);
        let code = code_of(&r, CB, Some("st1"));
        // plain: the verifier is the challenge.
        let res = t.exchange(&code, &[("redirect_uri", CB), ("code_verifier", C)]).await;
        assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"), "{method:?}: {}", res.body());
        let r =
            redirect(t.authorize(&[("code_challenge", Some(V)), ("code_challenge_method", method)]).await);
        let code = code_of(&r, CB, Some("st1"));
        let res = t.exchange(&code, &[("redirect_uri", CB), ("code_verifier", V)]).await;
        assert_eq!(res.status(), 200, "{method:?}: {}", res.body());
    }
}

#[tokio::test]
async fn checklist_2_4_unsupported_code_challenge_methods_are_invalid_request() {
    let t = T::new().await;
    for method in ["S512", "s256", "S256 ", "sha256"] {
        let r = redirect(t.authorize(&[("code_challenge_method", Some(method))]).await);
        assert_error_redirect(&r, CB, "invalid_request", Some("st1"));
    }
    // A method without a challenge is refused too.
    let r = redirect(t.authorize(&[("code_challenge", None)]).await);
    assert_error_redirect(&r, CB, "invalid_request", Some("st1"));
    t.assert_nothing_issued();
}

#[tokio::test]
async fn checklist_4_5_malformed_code_challenges_are_invalid_request() {
    let t = T::new().await;
    let a42 = "a".repeat(42);
    let a129 = "a".repeat(129);
    let a44 = "a".repeat(44);
    let plus = format!("{}+", &C[..42]);
    let slash = format!("{}/", &C[..42]);
    let eq = format!("{C}=");
    let space = format!("{} ", &C[..42]);
    let non_ascii = format!("{}\u{e9}", &C[..41]);
    for challenge in [&a42, &a129, &plus, &slash, &eq, &space, &non_ascii, &a44] {
        // [P] An S256 challenge is BASE64URL(SHA-256): exactly 43 characters.
        let r = redirect(t.authorize(&[("code_challenge", Some(challenge))]).await);
        assert_error_redirect(&r, CB, "invalid_request", Some("st1"));
    }
    t.assert_nothing_issued();
}

#[tokio::test]
async fn checklist_4_6_to_4_8_a_code_issued_with_a_challenge_needs_its_verifier() {
    let t = T::new().await;
    let code = code_of(&redirect(t.authorize(&[]).await), CB, Some("st1"));
    let res = t.exchange(&code, &[("redirect_uri", CB)]).await;
    assert_eq!((res.status().as_u16(), error_code(&res).as_deref()), (400, Some("invalid_grant")), "4.7");
    assert_eq!(t.f.store.token_count(), 0);

    let code = code_of(&redirect(t.authorize(&[]).await), CB, Some("st1"));
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX";
    let res = t.exchange(&code, &[("redirect_uri", CB), ("code_verifier", wrong)]).await;
    assert_eq!((res.status().as_u16(), error_code(&res).as_deref()), (400, Some("invalid_grant")), "4.8");

    let code = code_of(&redirect(t.authorize(&[]).await), CB, Some("st1"));
    let res = t.exchange(&code, &[("redirect_uri", CB), ("code_verifier", V)]).await;
    assert_eq!(res.status(), 200, "4.6: {}", res.body());
}

#[tokio::test]
async fn checklist_4_10_a_code_issued_without_a_challenge_refuses_a_verifier() {
    // RFC 9700 §4.8.2: the PKCE downgrade.
    let t = T::new().await;
    let r = redirect(t.authorize(&[("code_challenge", None), ("code_challenge_method", None)]).await);
    let code = code_of(&r, CB, Some("st1"));
    let res = t.exchange(&code, &[("redirect_uri", CB), ("code_verifier", V)]).await;
    assert_eq!(res.status(), 400, "{}", res.body());
    // The checklist prefers invalid_request; the token endpoint answers invalid_grant (both
    // are in use by trusted servers, checklist 4.10).
    assert!(
        matches!(error_code(&res).as_deref(), Some("invalid_request" | "invalid_grant")),
        "{}",
        res.body()
    );
    assert_eq!(t.f.store.token_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Login: sessions, prompt, max_age (OIDC Core §3.1.2.1)

#[tokio::test]
async fn without_a_session_the_user_logs_in_then_consents_then_gets_a_code() {
    let t = T::new().await;
    let i = interaction(t.f.server.authorize(&t.authz(&[]), None).await, InteractionKind::Login);
    assert_eq!(i.client.id, "c1");
    assert_eq!(i.redirect_uri, CB);
    assert_eq!(i.scopes.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["openid"]);
    assert_eq!(i.scopes[0].description, "the openid scope");
    assert!(i.id.len() >= 22, "the interaction id is unguessable");
    t.assert_nothing_issued();
    // The page can describe it again.
    let again = t.f.server.interaction(&i.id, InteractionKind::Login).await.unwrap();
    assert_eq!(again.client.id, "c1");

    let login = Authentication { subject: "alice-sub".into(), auth_time: t.f.now() };
    let c = interaction(t.f.server.resume(&i.id, Some(&login), None).await, InteractionKind::Consent);
    assert_eq!(c.id, i.id, "the same pending request continues");
    // The consent page shown without an answer changes nothing.
    let c = interaction(t.f.server.resume(&i.id, Some(&login), None).await, InteractionKind::Consent);
    t.assert_nothing_issued();
    let r = redirect(t.f.server.resume(&c.id, Some(&login), Some(ConsentDecision::Approve)).await);
    code_of(&r, CB, Some("st1"));
    assert_eq!(t.f.store.code_count(), 1);
    assert_eq!(t.consent_of("c1").await.unwrap().to_string(), "openid");
}

#[tokio::test]
async fn login_hint_and_ui_locales_reach_the_page() {
    let t = T::new().await;
    let o =
        t.f.server
            .authorize(&t.authz(&[("login_hint", Some("alice")), ("ui_locales", Some("de fr"))]), None)
            .await;
    let i = interaction(o, InteractionKind::Login);
    assert_eq!(i.login_hint.as_deref(), Some("alice"));
    assert_eq!(i.ui_locales, ["de", "fr"]);
}

#[tokio::test]
async fn checklist_2_6_prompt_none_without_a_session_redirects_login_required() {
    let t = T::new().await;
    let r = redirect(t.f.server.authorize(&t.authz(&[("prompt", Some("none"))]), None).await);
    assert_error_redirect(&r, CB, "login_required", Some("st1"));
    // With a session that max_age finds too old, the same.
    t.consented("c1", "openid").await;
    let r = redirect(
        t.f.server
            .authorize(&t.authz(&[("prompt", Some("none")), ("max_age", Some("5"))]), Some(&t.alice))
            .await,
    );
    assert_error_redirect(&r, CB, "login_required", Some("st1"));
    t.assert_nothing_issued();
}

#[tokio::test]
async fn prompt_none_without_consent_redirects_consent_required() {
    let t = T::new().await;
    let r = redirect(t.f.server.authorize(&t.authz(&[("prompt", Some("none"))]), Some(&t.alice)).await);
    assert_error_redirect(&r, CB, "consent_required", Some("st1"));
    t.assert_nothing_issued();
    // With the consent remembered, prompt=none answers silently.
    let r = redirect(t.authorize(&[("prompt", Some("none"))]).await);
    code_of(&r, CB, Some("st1"));
}

#[tokio::test]
async fn prompt_login_forces_a_new_login() {
    let t = T::new().await;
    t.consented("c1", "openid").await;
    // An old session is not enough …
    let o = t.f.server.authorize(&t.authz(&[("prompt", Some("login"))]), Some(&t.alice)).await;
    let i = interaction(o, InteractionKind::Login);
    // … not even after the page, when the old session comes back instead of a new login.
    interaction(t.f.server.resume(&i.id, Some(&t.alice), None).await, InteractionKind::Login);
    t.assert_nothing_issued();
    // A login after the request is.
    t.f.clock.advance(3);
    let fresh = Authentication { subject: "alice-sub".into(), auth_time: t.f.now() };
    let r = redirect(t.f.server.resume(&i.id, Some(&fresh), None).await);
    let code = code_of(&r, CB, Some("st1"));
    assert_eq!(t.take_code(&code).await.auth_time, Some(fresh.auth_time));
}

#[tokio::test]
async fn prompt_login_is_not_satisfied_by_a_session_from_the_same_second() {
    // auth_time has a resolution of one second: a session started in the same second as the
    // request is still a session that existed before it, and prompt=login must ask again.
    let t = T::new().await;
    t.consented("c1", "openid").await;
    let same_second = Authentication { subject: "alice-sub".into(), auth_time: t.f.now() };
    let o = t.f.server.authorize(&t.authz(&[("prompt", Some("login"))]), Some(&same_second)).await;
    let i = interaction(o, InteractionKind::Login);
    // The login the page then performs, in that same second, is accepted.
    let login = Authentication { subject: "alice-sub".into(), auth_time: t.f.now() };
    code_of(&redirect(t.f.server.resume(&i.id, Some(&login), None).await), CB, Some("st1"));
    // select_account is treated as login.
    let o = t.f.server.authorize(&t.authz(&[("prompt", Some("select_account"))]), Some(&same_second)).await;
    interaction(o, InteractionKind::Login);
}

#[tokio::test]
async fn max_age_requires_a_recent_enough_login() {
    let t = T::new().await;
    t.consented("c1", "openid").await;
    // alice logged in 10 seconds ago.
    for (max_age, fresh_enough) in [("60", true), ("10", true), ("9", false), ("0", false)] {
        let o = t.f.server.authorize(&t.authz(&[("max_age", Some(max_age))]), Some(&t.alice)).await;
        if fresh_enough {
            code_of(&redirect(o), CB, Some("st1"));
        } else {
            let i = interaction(o, InteractionKind::Login);
            let login = Authentication { subject: "alice-sub".into(), auth_time: t.f.now() };
            code_of(&redirect(t.f.server.resume(&i.id, Some(&login), None).await), CB, Some("st1"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Consent: remembered, prompt=consent, trusted clients, deny

#[tokio::test]
async fn remembered_consent_skips_the_page_for_the_same_or_fewer_scopes_and_asks_for_new_ones() {
    let t = T::new().await;
    let c = interaction(t.ask("openid profile").await, InteractionKind::Consent);
    code_of(
        &redirect(t.f.server.resume(&c.id, Some(&t.alice), Some(ConsentDecision::Approve)).await),
        CB,
        Some("st1"),
    );
    // Same, fewer: no page.
    code_of(&redirect(t.ask("openid profile").await), CB, Some("st1"));
    code_of(&redirect(t.ask("profile").await), CB, Some("st1"));
    // New: the page again, showing every requested scope.
    let c = interaction(t.ask("openid email").await, InteractionKind::Consent);
    assert_eq!(c.scopes.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["email", "openid"]);
    code_of(
        &redirect(t.f.server.resume(&c.id, Some(&t.alice), Some(ConsentDecision::Approve)).await),
        CB,
        Some("st1"),
    );
    // Approvals add up.
    assert_eq!(t.consent_of("c1").await.unwrap().to_string(), "email openid profile");
    code_of(&redirect(t.ask("openid profile email").await), CB, Some("st1"));
    // Consent is per user: bob is asked.
    let bob = Authentication { subject: "bob-sub".into(), auth_time: t.f.now() };
    interaction(t.f.server.authorize(&t.authz(&[]), Some(&bob)).await, InteractionKind::Consent);
    // And per client.
    t.f.add_client(
        ClientSpec::confidential(&["authorization_code"])
            .id("c2")
            .redirect_uris(&["https://c2.test/cb"])
            .scopes("openid"),
    )
    .await;
    let o =
        t.f.server
            .authorize(
                &t.authz(&[("client_id", Some("c2")), ("redirect_uri", Some("https://c2.test/cb"))]),
                Some(&t.alice),
            )
            .await;
    interaction(o, InteractionKind::Consent);
}

#[tokio::test]
async fn prompt_consent_always_asks() {
    let t = T::new().await;
    let o = t.authorize(&[("prompt", Some("consent"))]).await;
    let c = interaction(o, InteractionKind::Consent);
    code_of(
        &redirect(t.f.server.resume(&c.id, Some(&t.alice), Some(ConsentDecision::Approve)).await),
        CB,
        Some("st1"),
    );
    interaction(t.authorize(&[("prompt", Some("consent"))]).await, InteractionKind::Consent);
    interaction(t.authorize(&[("prompt", Some("login consent"))]).await, InteractionKind::Login);
}

#[tokio::test]
async fn a_trusted_client_skips_consent() {
    let t = T::new().await;
    t.f.add_client(
        ClientSpec::confidential(&["authorization_code"])
            .id("tr")
            .redirect_uris(&["https://tr.test/cb"])
            .scopes("openid email")
            .trusted(),
    )
    .await;
    let p = t.authz(&[
        ("client_id", Some("tr")),
        ("redirect_uri", Some("https://tr.test/cb")),
        ("scope", Some("openid email")),
    ]);
    code_of(&redirect(t.f.server.authorize(&p, Some(&t.alice)).await), "https://tr.test/cb", Some("st1"));
    // It still needs a login.
    let i = interaction(t.f.server.authorize(&p, None).await, InteractionKind::Login);
    code_of(
        &redirect(t.f.server.resume(&i.id, Some(&t.alice), None).await),
        "https://tr.test/cb",
        Some("st1"),
    );
    // Nothing is recorded as the user's consent.
    assert!(t.consent_of("tr").await.is_none());
}

#[tokio::test]
async fn checklist_2_4_deny_redirects_access_denied_and_remembers_nothing() {
    let t = T::new().await;
    let c = interaction(t.f.server.authorize(&t.authz(&[]), Some(&t.alice)).await, InteractionKind::Consent);
    let r = redirect(t.f.server.resume(&c.id, Some(&t.alice), Some(ConsentDecision::Deny)).await);
    assert_error_redirect(&r, CB, "access_denied", Some("st1"));
    t.assert_nothing_issued();
    assert!(t.consent_of("c1").await.is_none());
    // The request is over: it cannot be approved afterwards.
    page(t.f.server.resume(&c.id, Some(&t.alice), Some(ConsentDecision::Approve)).await);
    t.assert_nothing_issued();
}

// ---------------------------------------------------------------------------------------------
// The pending request: single use, short-lived

#[tokio::test]
async fn the_pending_request_is_single_use() {
    let t = T::new().await;
    let c = interaction(t.f.server.authorize(&t.authz(&[]), Some(&t.alice)).await, InteractionKind::Consent);
    code_of(
        &redirect(t.f.server.resume(&c.id, Some(&t.alice), Some(ConsentDecision::Approve)).await),
        CB,
        Some("st1"),
    );
    // Checklist 19.2.7: a second submission issues nothing.
    for decision in [Some(ConsentDecision::Approve), Some(ConsentDecision::Deny), None] {
        page(t.f.server.resume(&c.id, Some(&t.alice), decision).await);
    }
    assert!(t.f.server.interaction(&c.id, InteractionKind::Consent).await.is_err());
    assert_eq!(t.f.store.code_count(), 1);
    // An unknown id is the same.
    page(t.f.server.resume("not-an-interaction", Some(&t.alice), Some(ConsentDecision::Approve)).await);
    page(t.f.server.resume("", Some(&t.alice), Some(ConsentDecision::Approve)).await);
    assert_eq!(t.f.store.code_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checklist_19_2_7_concurrent_approvals_issue_exactly_one_code() {
    let t = T::new().await;
    for _ in 0..5 {
        let c = interaction(
            t.f.server.authorize(&t.authz(&[("prompt", Some("consent"))]), Some(&t.alice)).await,
            InteractionKind::Consent,
        );
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let before = t.f.store.code_count();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (server, id, alice, barrier) =
                    (t.f.server.clone(), c.id.clone(), t.alice.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    server.resume(&id, Some(&alice), Some(ConsentDecision::Approve)).await
                })
            })
            .collect();
        let mut codes = 0;
        for task in tasks {
            match task.await.unwrap() {
                AuthorizeOutcome::Redirect(url) => {
                    code_of(&Redirect::parse(&url), CB, Some("st1"));
                    codes += 1;
                }
                AuthorizeOutcome::ShowError(_) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(codes, 1, "exactly one approval wins");
        assert_eq!(t.f.store.code_count(), before + 1);
    }
}

#[tokio::test]
async fn an_expired_interaction_shows_an_error_page() {
    let t = T::new().await;
    let lifetime = config().interaction_lifetime;
    let i = interaction(t.f.server.authorize(&t.authz(&[]), None).await, InteractionKind::Login);
    let c = interaction(t.f.server.authorize(&t.authz(&[]), Some(&t.alice)).await, InteractionKind::Consent);
    t.f.clock.advance(lifetime - 1);
    assert!(
        t.f.server.interaction(&i.id, InteractionKind::Login).await.is_ok(),
        "alive until its lifetime ends"
    );
    t.f.clock.advance(1);
    assert!(t.f.server.interaction(&i.id, InteractionKind::Login).await.is_err());
    let login = Authentication { subject: "alice-sub".into(), auth_time: t.f.now() };
    page(t.f.server.resume(&i.id, Some(&login), None).await);
    page(t.f.server.resume(&c.id, Some(&login), Some(ConsentDecision::Approve)).await);
    t.assert_nothing_issued();
}

#[tokio::test]
async fn a_changed_interaction_lifetime_is_honoured() {
    let t = T::with_config(Config { interaction_lifetime: 30, ..config() }).await;
    let c = interaction(t.f.server.authorize(&t.authz(&[]), Some(&t.alice)).await, InteractionKind::Consent);
    t.f.clock.advance(31);
    page(t.f.server.resume(&c.id, Some(&t.alice), Some(ConsentDecision::Approve)).await);
    t.assert_nothing_issued();
}

// ---------------------------------------------------------------------------------------------
// Storage faults (checklist 2.5, 19.1.2)

#[tokio::test]
async fn checklist_19_1_2_a_store_outage_before_verification_shows_an_error_page() {
    let t = T::new().await;
    t.consented("c1", "openid").await;
    t.f.store.set_unavailable(true);
    let e = page(t.f.server.authorize(&t.authz(&[]), Some(&t.alice)).await);
    assert!(matches!(e.code, ErrorCode::TemporarilyUnavailable | ErrorCode::ServerError), "{e:?}");
    t.f.store.set_unavailable(false);
    // The pending request cannot be read: an error page too.
    let c = interaction(
        t.f.server.authorize(&t.authz(&[("prompt", Some("consent"))]), Some(&t.alice)).await,
        InteractionKind::Consent,
    );
    t.f.store.set_unavailable(true);
    page(t.f.server.resume(&c.id, Some(&t.alice), Some(ConsentDecision::Approve)).await);
    t.f.store.set_unavailable(false);
    // Once the store is back, the request still completes, once.
    code_of(
        &redirect(t.f.server.resume(&c.id, Some(&t.alice), Some(ConsentDecision::Approve)).await),
        CB,
        Some("st1"),
    );
    assert_eq!(t.f.store.code_count(), 1);
}

#[tokio::test]
async fn checklist_2_5_a_store_outage_after_verification_redirects_with_temporarily_unavailable() {
    let t = T::new().await;
    t.consented("c1", "openid").await;
    // Every call after the client lookup fails.
    t.f.store.fail_after(1);
    let r = redirect(t.f.server.authorize(&t.authz(&[]), Some(&t.alice)).await);
    assert_error_redirect(&r, CB, "temporarily_unavailable", Some("st1"));
    t.f.store.set_unavailable(false);
    t.assert_nothing_issued();

    // Failing at each later step of the answer: consent lookup, code creation.
    for ok_calls in 2..=4 {
        t.f.store.fail_after(ok_calls);
        let o = t.f.server.authorize(&t.authz(&[]), Some(&t.alice)).await;
        t.f.store.set_unavailable(false);
        let r = redirect(o);
        assert_error_redirect(&r, CB, "temporarily_unavailable", Some("st1"));
    }
    t.assert_nothing_issued();

    // During resume, after the pending request and its client were read.
    let c = interaction(
        t.f.server.authorize(&t.authz(&[("prompt", Some("consent"))]), Some(&t.alice)).await,
        InteractionKind::Consent,
    );
    t.f.store.fail_after(2);
    let r = redirect(t.f.server.resume(&c.id, Some(&t.alice), Some(ConsentDecision::Approve)).await);
    t.f.store.set_unavailable(false);
    assert_error_redirect(&r, CB, "temporarily_unavailable", Some("st1"));
    t.assert_nothing_issued();
}

// ---------------------------------------------------------------------------------------------
// The whole flow

#[tokio::test]
async fn the_full_code_flow_ends_with_tokens_and_the_code_carries_nonce_and_auth_time() {
    let t = T::new().await;
    let p = t.authz(&[("scope", Some("openid profile")), ("nonce", Some("n-0S6_WzA2Mj"))]);
    let i = interaction(t.f.server.authorize(&p, None).await, InteractionKind::Login);
    t.f.clock.advance(7);
    let login = Authentication { subject: "alice-sub".into(), auth_time: t.f.now() };
    let c = interaction(t.f.server.resume(&i.id, Some(&login), None).await, InteractionKind::Consent);
    t.f.clock.advance(4);
    let r = redirect(t.f.server.resume(&c.id, Some(&login), Some(ConsentDecision::Approve)).await);
    let code = code_of(&r, CB, Some("st1"));
    assert!(code.starts_with("pc_ac_"));

    let res = t.exchange(&code, &[("redirect_uri", CB), ("code_verifier", V)]).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let body = json_body(&res);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid profile");
    assert!(body["access_token"].as_str().unwrap().starts_with("pc_at_"));
    // OIDC Core §11 (issue #5): with openid, a refresh token only comes with offline_access.
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(t.f.store.access_tokens()[0].subject.as_deref(), Some("alice-sub"));
    // The ID token carries the request's nonce and the login's auth_time (OIDC Core §3.1.3.6).
    let claims =
        t.f.server
            .verify_id_token(body["id_token"].as_str().unwrap(), "c1", Some("n-0S6_WzA2Mj"))
            .await
            .unwrap();
    assert_eq!(claims["auth_time"], login.auth_time);
    // Checklist 5.1: single use.
    let res = t.exchange(&code, &[("redirect_uri", CB), ("code_verifier", V)]).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));

    // What a code records.
    let r =
        redirect(t.authorize(&[("scope", Some("openid profile")), ("nonce", Some("n-0S6_WzA2Mj"))]).await);
    let rec = t.take_code(&code_of(&r, CB, Some("st1"))).await;
    assert_eq!(rec.client_id, "c1");
    assert_eq!(rec.subject, "alice-sub");
    assert_eq!(rec.redirect_uri, CB);
    assert!(rec.redirect_uri_given);
    assert_eq!(rec.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
    assert_eq!(rec.auth_time, Some(t.alice.auth_time));
    assert_eq!(rec.code_challenge.as_deref(), Some(C));
    assert_eq!(rec.scopes.to_string(), "openid profile");
    assert_eq!(rec.expires_at - rec.issued_at, config().authorization_code_lifetime);
    // Checklist 4.13: the challenge is not recoverable from the code.
    assert!(!r.get("code").unwrap().contains(C));
}

#[tokio::test]
async fn checklist_1_7_the_token_request_must_repeat_the_redirect_uri_exactly() {
    let t = T::new().await;
    let code = code_of(&redirect(t.authorize(&[]).await), CB, Some("st1"));
    let res = t.exchange(&code, &[("redirect_uri", "https://c1.test/cb/"), ("code_verifier", V)]).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
    let code = code_of(&redirect(t.authorize(&[]).await), CB, Some("st1"));
    let res = t.exchange(&code, &[("code_verifier", V)]).await;
    assert_eq!(res.status(), 400);
    assert!(matches!(error_code(&res).as_deref(), Some("invalid_request" | "invalid_grant")));
}

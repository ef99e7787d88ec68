//! Authorization code grant, token half (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6). Codes are
//! created through `OAuthServer::issue_authorization_code`, as the authorization endpoint will.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_core::model::secret::{generate, hash_token, TokenKind};
use portcullis_core::pkce::CodeChallengeMethod;
use portcullis_core::store::{AuthorizationStore, TokenStore};
use portcullis_core::{NewAuthorizationCode, ScopeSet};
use portcullis_testkit::fixtures::{error_code, field, json_body};
use portcullis_testkit::{ClientSpec, Fixture};

// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const CB: &str = "https://app.example/cb";

struct Setup {
    f: Fixture,
    id: String,
    secret: String,
}

fn new_code(client_id: &str, challenge: Option<(&str, CodeChallengeMethod)>) -> NewAuthorizationCode {
    NewAuthorizationCode {
        client_id: client_id.to_owned(),
        subject: "alice-sub".into(),
        redirect_uri: CB.into(),
        redirect_uri_given: true,
        // OIDC Core §11: with openid, a refresh token only comes with offline_access.
        scopes: ScopeSet::parse("openid offline_access profile").unwrap(),
        code_challenge: challenge.map(|(c, m)| (c.to_owned(), m)),
        nonce: None,
        auth_time: Some(1_699_999_000),
    }
}

impl Setup {
    async fn new(spec: ClientSpec) -> Self {
        let f = Fixture::new();
        let (id, secret) = f.add_client(spec).await;
        Self { f, id, secret }
    }

    async fn standard() -> Self {
        Self::new(ClientSpec::confidential(&["authorization_code", "refresh_token"])).await
    }

    async fn code(&self, challenge: Option<(&str, CodeChallengeMethod)>) -> String {
        self.code_with(new_code(&self.id, challenge)).await
    }

    async fn code_with(&self, req: NewAuthorizationCode) -> String {
        self.f.server.issue_authorization_code(req).await.unwrap().expose().to_owned()
    }

    /// Exchange `code` as this (confidential) client with extra parameters.
    async fn exchange(&self, code: &str, extra: &[(&str, &str)]) -> http::Response<String> {
        let mut pairs = vec![("grant_type", "authorization_code"), ("code", code)];
        pairs.extend_from_slice(extra);
        self.f.token(&pairs, Some((&self.id, &self.secret))).await
    }

    async fn access_revoked(&self, at: &str) -> bool {
        self.f.store.get_access(&hash_token(at)).await.unwrap().unwrap().revoked
    }
}

#[tokio::test]
async fn code_exchange_issues_tokens_for_the_subject_and_scopes_of_the_code() {
    let s = Setup::standard().await;
    let code = s.code(None).await;
    assert!(code.starts_with("pc_ac_"));
    assert_eq!(s.f.store.code_count(), 1);
    let res = s.exchange(&code, &[("redirect_uri", CB)]).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let body = json_body(&res);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "offline_access openid profile");
    assert!(body["refresh_token"].as_str().unwrap().starts_with("pc_rt_"));
    let at = &s.f.store.access_tokens()[0];
    assert_eq!(at.subject.as_deref(), Some("alice-sub"));
    assert_eq!(at.client_id, s.id);
    assert_eq!(s.f.store.refresh_tokens()[0].auth_time, Some(1_699_999_000));
}

#[tokio::test]
async fn no_refresh_token_unless_the_client_may_refresh() {
    let s = Setup::new(ClientSpec::confidential(&["authorization_code"])).await;
    let code = s.code(None).await;
    let res = s.exchange(&code, &[("redirect_uri", CB)]).await;
    assert_eq!(res.status(), 200);
    assert!(json_body(&res).get("refresh_token").is_none());
}

/// An access token issued alone is a family of its own, except when a code hands its family
/// down: a replay of the code must still revoke it (RFC 6749 §4.1.2).
#[tokio::test]
async fn replay_revokes_an_access_token_issued_without_refresh_token() {
    let s = Setup::new(ClientSpec::confidential(&["authorization_code"])).await;
    let code = s.code(None).await;
    let res = s.exchange(&code, &[("redirect_uri", CB)]).await;
    let at = field(&res, "access_token").unwrap();
    let rec = s.f.store.get_access(&hash_token(&at)).await.unwrap().unwrap();
    assert!(!rec.is_lone(), "it is in the code's family");
    assert_eq!(s.exchange(&code, &[("redirect_uri", CB)]).await.status(), 400);
    assert!(s.access_revoked(&at).await);
}

#[tokio::test]
async fn code_is_single_use_and_replay_revokes_tokens() {
    let s = Setup::standard().await;
    let code = s.code(None).await;
    let res = s.exchange(&code, &[("redirect_uri", CB)]).await;
    let (at1, rt1) = (field(&res, "access_token").unwrap(), field(&res, "refresh_token").unwrap());
    // Tokens descended from the code by refreshing belong to the same family.
    let res =
        s.f.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt1)], Some((&s.id, &s.secret)))
            .await;
    let (at2, rt2) = (field(&res, "access_token").unwrap(), field(&res, "refresh_token").unwrap());
    let before = s.f.store.token_count();

    let res = s.exchange(&code, &[("redirect_uri", CB)]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
    // Nothing new was issued, and everything issued from the code is revoked.
    assert_eq!(s.f.store.token_count(), before);
    assert!(s.access_revoked(&at1).await);
    assert!(s.access_revoked(&at2).await);
    assert!(s.f.store.get_refresh(&hash_token(&rt2), s.f.now()).await.unwrap().is_none());
    let res =
        s.f.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt2)], Some((&s.id, &s.secret)))
            .await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn code_bound_to_client_and_redirect_uri() {
    let s = Setup::standard().await;
    let (other, other_secret) = s.f.add_client(ClientSpec::confidential(&["authorization_code"])).await;

    // Another client cannot redeem it.
    let code = s.code(None).await;
    let res =
        s.f.token(
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)],
            Some((&other, &other_secret)),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));

    // A different redirect_uri is refused, even by prefix or case.
    for uri in ["https://evil.example/cb", "https://app.example/cb/x", "https://APP.example/cb"] {
        let code = s.code(None).await;
        let res = s.exchange(&code, &[("redirect_uri", uri)]).await;
        assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"), "{uri}");
    }

    // It was in the authorization request, so it is required here.
    let code = s.code(None).await;
    let res = s.exchange(&code, &[]).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_request"));
    assert_eq!(s.f.store.token_count(), 0);
}

#[tokio::test]
async fn redirect_uri_may_be_omitted_when_the_authorization_request_omitted_it() {
    let s = Setup::standard().await;
    let code = s.code_with(NewAuthorizationCode { redirect_uri_given: false, ..new_code(&s.id, None) }).await;
    assert_eq!(s.exchange(&code, &[]).await.status(), 200);
    // If sent anyway it must still match.
    let code = s.code_with(NewAuthorizationCode { redirect_uri_given: false, ..new_code(&s.id, None) }).await;
    let res = s.exchange(&code, &[("redirect_uri", "https://evil.example/cb")]).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn pkce_s256_verified() {
    let s = Setup::standard().await;
    let code = s.code(Some((CHALLENGE, CodeChallengeMethod::S256))).await;
    let res = s.exchange(&code, &[("redirect_uri", CB), ("code_verifier", VERIFIER)]).await;
    assert_eq!(res.status(), 200, "{}", res.body());

    // A wrong verifier (well-formed or not) is invalid_grant.
    let wrong = VERIFIER.replace('d', "e");
    for v in [wrong.as_str(), "short", CHALLENGE] {
        let code = s.code(Some((CHALLENGE, CodeChallengeMethod::S256))).await;
        let res = s.exchange(&code, &[("redirect_uri", CB), ("code_verifier", v)]).await;
        assert_eq!(res.status(), 400, "{v}");
        assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"), "{v}");
    }

    // A missing verifier is invalid_grant.
    let code = s.code(Some((CHALLENGE, CodeChallengeMethod::S256))).await;
    let res = s.exchange(&code, &[("redirect_uri", CB)]).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
    assert_eq!(s.f.store.access_tokens().len(), 1);
}

#[tokio::test]
async fn pkce_plain_compares_the_verifier_itself() {
    let s = Setup::standard().await;
    let code = s.code(Some((VERIFIER, CodeChallengeMethod::Plain))).await;
    let res = s.exchange(&code, &[("redirect_uri", CB), ("code_verifier", VERIFIER)]).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let code = s.code(Some((VERIFIER, CodeChallengeMethod::Plain))).await;
    let res = s.exchange(&code, &[("redirect_uri", CB), ("code_verifier", CHALLENGE)]).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn failed_pkce_burns_the_code() {
    let s = Setup::standard().await;
    let code = s.code(Some((CHALLENGE, CodeChallengeMethod::S256))).await;
    let res =
        s.exchange(&code, &[("redirect_uri", CB), ("code_verifier", &VERIFIER.replace('d', "e"))]).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
    // The right verifier cannot be tried afterwards.
    let res = s.exchange(&code, &[("redirect_uri", CB), ("code_verifier", VERIFIER)]).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
    assert_eq!(s.f.store.token_count(), 0);
}

#[tokio::test]
async fn pkce_downgrade_rejected() {
    // RFC 9700 §4.8.2: a code_verifier for a code issued without a code_challenge.
    let s = Setup::standard().await;
    let code = s.code(None).await;
    let res = s.exchange(&code, &[("redirect_uri", CB), ("code_verifier", VERIFIER)]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
    assert_eq!(s.f.store.token_count(), 0);
}

#[tokio::test]
async fn public_client_redeems_its_code_with_client_id_and_pkce() {
    let s = Setup::new(ClientSpec::public(&["authorization_code", "refresh_token"])).await;
    let code = s.code(Some((CHALLENGE, CodeChallengeMethod::S256))).await;
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("client_id", s.id.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let res = s.f.token(&pairs, None).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    // The code was issued to this client_id, not another public client.
    let (other, _) = s.f.add_client(ClientSpec::public(&["authorization_code"])).await;
    let code = s.code(Some((CHALLENGE, CodeChallengeMethod::S256))).await;
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("client_id", other.as_str()),
        ("code_verifier", VERIFIER),
    ];
    assert_eq!(error_code(&s.f.token(&pairs, None).await).as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn expired_code_is_invalid_grant() {
    let s = Setup::standard().await;
    let (fresh, stale) = (s.code(None).await, s.code(None).await);
    // Default lifetime 300 s: usable at 299, expired at 300.
    s.f.clock.advance(299);
    assert_eq!(s.exchange(&fresh, &[("redirect_uri", CB)]).await.status(), 200);
    s.f.clock.advance(1);
    let res = s.exchange(&stale, &[("redirect_uri", CB)]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn per_client_code_lifetime() {
    let s =
        Setup::new(ClientSpec::confidential(&["authorization_code"]).authorization_code_lifetime(30)).await;
    let code = s.code(None).await;
    s.f.clock.advance(30);
    assert_eq!(
        error_code(&s.exchange(&code, &[("redirect_uri", CB)]).await).as_deref(),
        Some("invalid_grant")
    );
}

#[tokio::test]
async fn missing_unknown_or_malformed_code() {
    let s = Setup::standard().await;
    let res = s.f.token(&[("grant_type", "authorization_code")], Some((&s.id, &s.secret))).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_request"));
    let unknown = generate(TokenKind::AuthorizationCode);
    let tampered = s.code(None).await.replace("pc_ac_", "pc_rt_");
    for code in ["garbage", unknown.expose(), tampered.as_str()] {
        let res = s.exchange(code, &[("redirect_uri", CB)]).await;
        assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"), "{code}");
    }
}

#[tokio::test]
async fn code_for_unknown_client_is_refused() {
    let s = Setup::standard().await;
    let err = s.f.server.issue_authorization_code(new_code("no-such-client", None)).await.err();
    assert!(err.is_some());
    assert_eq!(s.f.store.code_count(), 0);
}

#[tokio::test]
async fn code_with_a_challenge_but_no_method_fails_closed() {
    use portcullis_core::store::AuthorizationStore;
    use portcullis_core::AuthorizationCode;
    // A store row whose method was lost or unreadable must not skip PKCE.
    let s = Setup::standard().await;
    let code = generate(TokenKind::AuthorizationCode);
    let now = s.f.now();
    let rec = AuthorizationCode {
        hash: hash_token(code.expose()),
        family: "fam".into(),
        client_id: s.id.clone(),
        subject: "alice-sub".into(),
        redirect_uri: CB.into(),
        redirect_uri_given: true,
        scopes: ScopeSet::empty(),
        code_challenge: Some(CHALLENGE.into()),
        code_challenge_method: None,
        nonce: None,
        auth_time: None,
        issued_at: now,
        expires_at: now + 300,
    };
    s.f.store.create_code(&rec).await.unwrap();
    let res = s.exchange(code.expose(), &[("redirect_uri", CB), ("code_verifier", &"x".repeat(43))]).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
    assert_eq!(s.f.store.token_count(), 0);
}

/// An exchange the store cannot complete changes nothing: whichever store call fails, the
/// client gets 503 and can redeem the same code again, because one transaction consumes the
/// code and stores its tokens (`Store::redeem_code`).
#[tokio::test]
async fn an_exchange_the_store_fails_leaves_the_code_redeemable() {
    let s = Setup::standard().await;
    let exchange = [("redirect_uri", CB), ("code_verifier", VERIFIER)];
    // A first exchange creates the signing key, so each request below makes the same calls.
    let first = s.code(Some((CHALLENGE, CodeChallengeMethod::S256))).await;
    assert_eq!(s.exchange(&first, &exchange).await.status(), 200);
    let before = s.f.store.token_count();
    let code = s.code(Some((CHALLENGE, CodeChallengeMethod::S256))).await;
    let mut failures = 0;
    for calls in 0..20 {
        s.f.store.fail_after(calls);
        let res = s.exchange(&code, &exchange).await;
        s.f.store.set_unavailable(false);
        if res.status() == 200 {
            assert!(field(&res, "access_token").is_some());
            break;
        }
        assert_eq!(res.status(), 503, "store call {calls} failing: {}", res.body());
        assert_eq!(error_code(&res).as_deref(), Some("temporarily_unavailable"));
        assert_eq!(s.f.store.token_count(), before, "store call {calls} failing must store nothing");
        let still = s.f.store.get_code(&hash_token(&code), s.f.now()).await.unwrap();
        assert!(still.is_some(), "store call {calls} failing must leave the code unconsumed");
        failures += 1;
    }
    assert!(failures >= 2, "the exchange reads, then writes: each call was made to fail in turn");
    let res = s.exchange(&code, &exchange).await;
    assert_eq!(
        error_code(&res).as_deref(),
        Some("invalid_grant"),
        "the exchange that went through consumed it"
    );
}

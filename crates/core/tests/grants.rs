//! Scope rules (RFC 6749 §3.3) and the client credentials (§4.4) and password (§4.3) grants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_testkit::fixtures::{error_code, field, json_body};
use portcullis_testkit::{ClientSpec, Fixture};

const CC: (&str, &str) = ("grant_type", "client_credentials");

/// Scopes: `a` (default), `b`, `c` (default); the client may have `a` and `b`.
async fn scoped() -> (Fixture, String, String) {
    let f = Fixture::new();
    f.add_scope("a", true).await;
    f.add_scope("b", false).await;
    f.add_scope("c", true).await;
    let (id, secret) = f.add_client(ClientSpec::confidential(&["client_credentials"]).scopes("a b")).await;
    (f, id, secret)
}

// ---- scope (RFC 6749 §3.3) -------------------------------------------------------------

#[tokio::test]
async fn default_scope_applies_when_scope_omitted() {
    let (f, id, secret) = scoped().await;
    let res = f.token(&[CC], Some((&id, &secret))).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    // `c` is a default too, but this client may not have it.
    assert_eq!(field(&res, "scope").as_deref(), Some("a"));
    assert_eq!(f.store.access_tokens()[0].scopes.to_string(), "a");
    // An empty scope parameter counts as omitted.
    let res = f.token(&[CC, ("scope", "")], Some((&id, &secret))).await;
    assert_eq!(field(&res, "scope").as_deref(), Some("a"));
}

#[tokio::test]
async fn several_default_scopes_apply_together() {
    let (f, _, _) = scoped().await;
    let (id, secret) = f.add_client(ClientSpec::confidential(&["client_credentials"]).scopes("a b c")).await;
    let res = f.token(&[CC], Some((&id, &secret))).await;
    assert_eq!(field(&res, "scope").as_deref(), Some("a c"));
}

#[tokio::test]
async fn no_scope_and_no_default_issues_a_token_without_scope() {
    let f = Fixture::new();
    f.add_scope("a", false).await;
    let (id, secret) = f.add_client(ClientSpec::confidential(&["client_credentials"]).scopes("a")).await;
    let res = f.token(&[CC], Some((&id, &secret))).await;
    assert_eq!(res.status(), 200);
    assert!(json_body(&res).get("scope").is_none());
}

#[tokio::test]
async fn requested_scope_is_granted_and_present_in_the_response() {
    let (f, id, secret) = scoped().await;
    let res = f.token(&[CC, ("scope", "b a")], Some((&id, &secret))).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    assert_eq!(field(&res, "scope").as_deref(), Some("a b"));
    let res = f.token(&[CC, ("scope", "b")], Some((&id, &secret))).await;
    assert_eq!(field(&res, "scope").as_deref(), Some("b"));
}

#[tokio::test]
async fn disallowed_scope_is_invalid_scope() {
    let (f, id, secret) = scoped().await;
    // `c` is registered (and a default) but not allowed for this client.
    let res = f.token(&[CC, ("scope", "a c")], Some((&id, &secret))).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_scope"));
    assert_eq!(f.store.token_count(), 0);
}

#[tokio::test]
async fn unknown_scope_is_invalid_scope() {
    let (f, id, secret) = scoped().await;
    let res = f.token(&[CC, ("scope", "a zzz")], Some((&id, &secret))).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_scope"));
}

#[tokio::test]
async fn scope_allowed_for_client_but_unregistered_is_invalid_scope() {
    let f = Fixture::new();
    let (id, secret) = f.add_client(ClientSpec::confidential(&["client_credentials"]).scopes("ghost")).await;
    let res = f.token(&[CC, ("scope", "ghost")], Some((&id, &secret))).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_scope"));
}

#[tokio::test]
async fn malformed_scope_is_invalid_scope() {
    let (f, id, secret) = scoped().await;
    for s in ["a  b", " a", "a\"b", "caf\u{e9}"] {
        let res = f.token(&[CC, ("scope", s)], Some((&id, &secret))).await;
        assert_eq!(error_code(&res).as_deref(), Some("invalid_scope"), "{s:?}");
    }
}

// ---- client credentials (RFC 6749 §4.4) ------------------------------------------------

#[tokio::test]
async fn client_credentials_token_has_no_subject_and_no_refresh_token() {
    let f = Fixture::new();
    let (id, secret) = f.add_client(ClientSpec::confidential(&["client_credentials", "refresh_token"])).await;
    let res = f.token(&[CC], Some((&id, &secret))).await;
    assert_eq!(res.status(), 200);
    assert!(json_body(&res).get("refresh_token").is_none());
    let rows = f.store.access_tokens();
    assert_eq!(rows[0].subject, None);
    assert_eq!(rows[0].client_id, id);
    assert!(f.store.refresh_tokens().is_empty());
    // Issued alone, it is a family of its own, named by its own hash.
    assert!(rows[0].is_lone(), "family {} vs hash {}", rows[0].family, rows[0].hash);
}

// ---- password (RFC 6749 §4.3) ----------------------------------------------------------

async fn password_fixture(grants: &[&str]) -> (Fixture, String, String, String) {
    let f = Fixture::new();
    f.add_scope("profile", true).await;
    f.add_scope("admin", false).await;
    let sub = f.add_user("alice", "correct horse").await;
    let (id, secret) = f.add_client(ClientSpec::confidential(grants).scopes("profile")).await;
    (f, id, secret, sub)
}

fn pw<'a>(username: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("grant_type", "password"), ("username", username), ("password", password)]
}

#[tokio::test]
async fn password_grant_issues_tokens_for_the_resource_owner() {
    let (f, id, secret, sub) = password_fixture(&["password", "refresh_token"]).await;
    let res = f.token(&pw("alice", "correct horse"), Some((&id, &secret))).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let body = json_body(&res);
    assert!(body["refresh_token"].as_str().unwrap().starts_with("pc_rt_"));
    assert_eq!(body["scope"], "profile");
    assert_eq!(f.store.access_tokens()[0].subject.as_deref(), Some(sub.as_str()));
    let rt = &f.store.refresh_tokens()[0];
    assert_eq!(rt.subject.as_deref(), Some(sub.as_str()));
    assert_eq!(rt.auth_time, Some(f.now()));
    assert_eq!(rt.family, f.store.access_tokens()[0].family);
    assert!(!f.store.access_tokens()[0].is_lone(), "issued with a refresh token: a shared family");
}

#[tokio::test]
async fn password_grant_without_refresh_grant_issues_no_refresh_token() {
    let (f, id, secret, _) = password_fixture(&["password"]).await;
    let res = f.token(&pw("alice", "correct horse"), Some((&id, &secret))).await;
    assert_eq!(res.status(), 200);
    assert!(json_body(&res).get("refresh_token").is_none());
    assert!(f.store.access_tokens()[0].is_lone(), "issued alone: a family of its own");
}

#[tokio::test]
async fn wrong_resource_owner_credentials_are_invalid_grant() {
    let (f, id, secret, _) = password_fixture(&["password"]).await;
    for (u, p) in [("alice", "wrong"), ("bob", "correct horse"), ("ALICE", "correct horse")] {
        let res = f.token(&pw(u, p), Some((&id, &secret))).await;
        assert_eq!(res.status(), 400, "{u}");
        assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"), "{u}");
    }
    assert_eq!(f.store.token_count(), 0);
}

#[tokio::test]
async fn password_grant_requires_username_and_password() {
    let (f, id, secret, _) = password_fixture(&["password"]).await;
    for pairs in [
        vec![("grant_type", "password"), ("username", "alice")],
        vec![("grant_type", "password"), ("password", "correct horse")],
    ] {
        let res = f.token(&pairs, Some((&id, &secret))).await;
        assert_eq!(error_code(&res).as_deref(), Some("invalid_request"), "{pairs:?}");
    }
}

#[tokio::test]
async fn password_grant_checks_scope() {
    let (f, id, secret, _) = password_fixture(&["password"]).await;
    let mut pairs = pw("alice", "correct horse");
    pairs.push(("scope", "admin"));
    let res = f.token(&pairs, Some((&id, &secret))).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_scope"));
}

#[tokio::test]
async fn public_client_may_use_a_grant_it_is_allowed() {
    let (f, _, _, _) = password_fixture(&["password"]).await;
    let (id, _) = f.add_client(ClientSpec::public(&["password"]).scopes("profile")).await;
    let mut pairs = pw("alice", "correct horse");
    pairs.push(("client_id", &id));
    let res = f.token(&pairs, None).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let (other, _) = f.add_client(ClientSpec::public(&["authorization_code"])).await;
    let mut pairs = pw("alice", "correct horse");
    pairs.push(("client_id", &other));
    let res = f.token(&pairs, None).await;
    assert_eq!(error_code(&res).as_deref(), Some("unauthorized_client"));
}

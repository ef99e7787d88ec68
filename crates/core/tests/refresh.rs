//! Refresh token grant (RFC 6749 §6): rotation, reuse detection (RFC 9700 §4.14.2), scope
//! narrowing, lifetimes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_core::model::secret::hash_token;
use portcullis_core::store::TokenStore;
use portcullis_core::Config;
use portcullis_testkit::fixtures::{error_code, field, json_body};
use portcullis_testkit::{ClientSpec, Fixture};

struct Setup {
    f: Fixture,
    id: String,
    secret: String,
}

impl Setup {
    async fn new(config: Config, spec: fn(ClientSpec) -> ClientSpec) -> Self {
        let f = Fixture::with_config(config);
        f.add_scope("a", false).await;
        f.add_scope("b", false).await;
        f.add_scope("c", false).await;
        f.add_user("alice", "correct horse").await;
        let (id, secret) = f
            .add_client(spec(ClientSpec::confidential(&["password", "refresh_token"]).scopes("a b c")))
            .await;
        Self { f, id, secret }
    }

    async fn standard() -> Self {
        Self::new(Config::default(), |s| s).await
    }

    /// Password grant for scope `a b`; returns (access_token, refresh_token).
    async fn login(&self) -> (String, String) {
        let res = self
            .f
            .token(
                &[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", "correct horse"),
                    ("scope", "a b"),
                ],
                Some((&self.id, &self.secret)),
            )
            .await;
        assert_eq!(res.status(), 200, "{}", res.body());
        (field(&res, "access_token").unwrap(), field(&res, "refresh_token").unwrap())
    }

    async fn refresh(&self, rt: &str, scope: Option<&str>) -> http::Response<String> {
        let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
        if let Some(s) = scope {
            pairs.push(("scope", s));
        }
        self.f.token(&pairs, Some((&self.id, &self.secret))).await
    }

    async fn access_revoked(&self, at: &str) -> bool {
        self.f.store.get_access(&hash_token(at)).await.unwrap().unwrap().revoked
    }

    async fn refresh_active(&self, rt: &str) -> bool {
        self.f.store.get_refresh(&hash_token(rt), self.f.now()).await.unwrap().is_some()
    }
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_by_default() {
    let s = Setup::standard().await;
    let (at1, rt1) = s.login().await;
    let res = s.refresh(&rt1, None).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let body = json_body(&res);
    let rt2 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt2, rt1);
    assert_ne!(body["access_token"].as_str().unwrap(), at1);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "a b");
    // The used refresh token is gone; the new one is live and in the same family.
    assert!(!s.refresh_active(&rt1).await);
    assert!(s.refresh_active(&rt2).await);
    let rows = s.f.store.refresh_tokens();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].family, rows[1].family);
    assert_eq!(rows[0].subject, rows[1].subject);
    assert_eq!(rows[0].auth_time, rows[1].auth_time);
}

#[tokio::test]
async fn reused_refresh_token_revokes_the_family() {
    let s = Setup::standard().await;
    let (at1, rt1) = s.login().await;
    let res = s.refresh(&rt1, None).await;
    let (at2, rt2) = (field(&res, "access_token").unwrap(), field(&res, "refresh_token").unwrap());
    // An attacker (or the client) replays the rotated-out token.
    let res = s.refresh(&rt1, None).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
    // Neither party keeps access: every token of the family is revoked.
    assert!(s.access_revoked(&at1).await);
    assert!(s.access_revoked(&at2).await);
    assert!(!s.refresh_active(&rt2).await);
    let res = s.refresh(&rt2, None).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn reuse_revokes_only_its_own_family() {
    let s = Setup::standard().await;
    let (_, rt1) = s.login().await;
    let (other_at, other_rt) = s.login().await;
    s.refresh(&rt1, None).await;
    s.refresh(&rt1, None).await;
    assert!(!s.access_revoked(&other_at).await);
    assert_eq!(s.refresh(&other_rt, None).await.status(), 200);
}

#[tokio::test]
async fn refresh_may_narrow_scope_never_widen() {
    let s = Setup::standard().await;
    let (_, rt1) = s.login().await;
    // Widening (c was never granted, though the client may have it) fails...
    let res = s.refresh(&rt1, Some("a b c")).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_scope"));
    // ...and does not burn the refresh token.
    assert!(s.refresh_active(&rt1).await);
    // Narrowing works.
    let res = s.refresh(&rt1, Some("a")).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    assert_eq!(field(&res, "scope").as_deref(), Some("a"));
    let rt2 = field(&res, "refresh_token").unwrap();
    // The new refresh token keeps the original grant: omitting scope gives it all back.
    let res = s.refresh(&rt2, None).await;
    assert_eq!(field(&res, "scope").as_deref(), Some("a b"));
}

#[tokio::test]
async fn widening_is_refused_without_rotation_too() {
    let config = Config { always_issue_new_refresh_token: false, ..Config::default() };
    let s = Setup::new(config, |c| c).await;
    let (_, rt) = s.login().await;
    let res = s.refresh(&rt, Some("c")).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_scope"));
    let res = s.refresh(&rt, Some("b")).await;
    assert_eq!(field(&res, "scope").as_deref(), Some("b"));
}

#[tokio::test]
async fn malformed_scope_on_refresh_changes_nothing() {
    let s = Setup::standard().await;
    let (_, rt) = s.login().await;
    let res = s.refresh(&rt, Some("a  b")).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_scope"));
    assert!(s.refresh_active(&rt).await);
}

#[tokio::test]
async fn rotation_off_keeps_refresh_token() {
    let config = Config { always_issue_new_refresh_token: false, ..Config::default() };
    let s = Setup::new(config, |c| c).await;
    let (at1, rt) = s.login().await;
    for _ in 0..2 {
        let res = s.refresh(&rt, None).await;
        assert_eq!(res.status(), 200, "{}", res.body());
        assert!(json_body(&res).get("refresh_token").is_none());
        assert_eq!(field(&res, "scope").as_deref(), Some("a b"));
    }
    assert!(s.refresh_active(&rt).await);
    assert!(!s.access_revoked(&at1).await);
    assert_eq!(s.f.store.refresh_tokens().len(), 1);
    assert_eq!(s.f.store.access_tokens().len(), 3);
}

#[tokio::test]
async fn refresh_token_is_bound_to_its_client() {
    let s = Setup::standard().await;
    let (_, rt) = s.login().await;
    let (other, other_secret) =
        s.f.add_client(ClientSpec::confidential(&["refresh_token"]).scopes("a b c")).await;
    let res =
        s.f.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt)], Some((&other, &other_secret)))
            .await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
    assert_eq!(s.f.store.access_tokens().iter().filter(|t| t.client_id == other).count(), 0);
}

#[tokio::test]
async fn expired_refresh_token_is_invalid_grant() {
    let s = Setup::standard().await;
    let (_, rt1) = s.login().await;
    let (_, rt2) = s.login().await;
    // Default lifetime 1209600 s: valid one second before, invalid at expiry.
    s.f.clock.advance(1_209_599);
    assert_eq!(s.refresh(&rt1, None).await.status(), 200);
    s.f.clock.advance(1);
    let res = s.refresh(&rt2, None).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn per_client_refresh_token_lifetime() {
    let s = Setup::new(Config::default(), |c| c.refresh_token_lifetime(100).access_token_lifetime(10)).await;
    let (_, rt) = s.login().await;
    assert_eq!(s.f.store.refresh_tokens()[0].expires_at, s.f.now() + 100);
    let res = s.refresh(&rt, None).await;
    assert_eq!(json_body(&res)["expires_in"], 10);
    let rt2 = field(&res, "refresh_token").unwrap();
    s.f.clock.advance(100);
    assert_eq!(error_code(&s.refresh(&rt2, None).await).as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn server_wide_refresh_token_lifetime() {
    let config = Config { refresh_token_lifetime: 50, ..Config::default() };
    let s = Setup::new(config, |c| c).await;
    let (_, rt) = s.login().await;
    s.f.clock.advance(50);
    assert_eq!(error_code(&s.refresh(&rt, None).await).as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn missing_or_malformed_refresh_token() {
    let s = Setup::standard().await;
    let res = s.f.token(&[("grant_type", "refresh_token")], Some((&s.id, &s.secret))).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_request"));
    for rt in ["garbage", "pc_rt_", "pc_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        assert_eq!(error_code(&s.refresh(rt, None).await).as_deref(), Some("invalid_grant"), "{rt}");
    }
}

#[tokio::test]
async fn revoked_refresh_token_is_invalid_grant() {
    let s = Setup::standard().await;
    let (at, rt) = s.login().await;
    assert!(s.f.store.revoke_refresh(&hash_token(&rt)).await.unwrap());
    assert!(s.access_revoked(&at).await);
    assert_eq!(error_code(&s.refresh(&rt, None).await).as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn refresh_needs_the_refresh_token_grant() {
    let f = Fixture::new();
    f.add_user("alice", "correct horse").await;
    let (id, secret) = f.add_client(ClientSpec::confidential(&["password"])).await;
    let res = f
        .token(
            &[("grant_type", "password"), ("username", "alice"), ("password", "correct horse")],
            Some((&id, &secret)),
        )
        .await;
    assert!(json_body(&res).get("refresh_token").is_none());
    let res = f.token(&[("grant_type", "refresh_token"), ("refresh_token", "x")], Some((&id, &secret))).await;
    assert_eq!(error_code(&res).as_deref(), Some("unauthorized_client"));
}

/// A rotation the store cannot complete changes nothing: whichever store call of the request
/// fails, the client gets 503 and its refresh token still works, because one transaction
/// consumes the old token and stores its successors (`TokenStore::rotate_refresh`). Taking
/// and saving apart, a failure between them cost the client its grant.
#[tokio::test]
async fn a_rotation_the_store_fails_leaves_the_refresh_token_usable() {
    let s = Setup::standard().await;
    let (_, rt) = s.login().await;
    let before = s.f.store.token_count();
    let mut failures = 0;
    for calls in 0..20 {
        s.f.store.fail_after(calls);
        let res = s.refresh(&rt, None).await;
        s.f.store.set_unavailable(false);
        if res.status() == 200 {
            break;
        }
        assert_eq!(res.status(), 503, "store call {calls} failing: {}", res.body());
        assert_eq!(error_code(&res).as_deref(), Some("temporarily_unavailable"));
        assert!(
            s.refresh_active(&rt).await,
            "store call {calls} failing must leave the refresh token active"
        );
        assert_eq!(s.f.store.token_count(), before, "store call {calls} failing must store nothing");
        failures += 1;
    }
    assert!(failures >= 2, "the refresh request reads, then writes: each call was made to fail in turn");
    assert!(!s.refresh_active(&rt).await, "the rotation that went through consumed the old token");
}

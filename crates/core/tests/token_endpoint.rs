//! Token endpoint rules (RFC 6749 §2.3, §3.2, §5) through `OAuthServer` with a MemoryStore and
//! a FixedClock: framing, client authentication, grant dispatch, responses, extension grants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis_core::wire::ClientIdentity;
use portcullis_core::{BuildError, Builder, Config, GrantContext, Issue, OAuthError, ScopeSet, TokenGrant};
use portcullis_testkit::fixtures::{error_code, field, json_body};
use portcullis_testkit::{basic_header, ClientSpec, Fixture, MemoryStore};

const CC: (&str, &str) = ("grant_type", "client_credentials");

/// A server with one scope and one `client_secret_basic` client for client_credentials.
async fn cc_fixture() -> (Fixture, String, String) {
    cc_fixture_with(Config::default()).await
}

async fn cc_fixture_with(config: Config) -> (Fixture, String, String) {
    let f = Fixture::with_config(config);
    f.add_scope("invoices:read", false).await;
    let (id, secret) =
        f.add_client(ClientSpec::confidential(&["client_credentials"]).scopes("invoices:read")).await;
    (f, id, secret)
}

fn header<'a>(res: &'a http::Response<String>, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

// ---- responses -------------------------------------------------------------------------

#[tokio::test]
async fn success_has_bearer_expires_in_scope_and_no_refresh_for_client_credentials() {
    let (f, id, secret) = cc_fixture().await;
    let res = f.token(&[CC, ("scope", "invoices:read")], Some((&id, &secret))).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let body = json_body(&res);
    assert!(body["access_token"].as_str().unwrap().starts_with("pc_at_"));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "invoices:read");
    // RFC 6749 §4.4.3: a refresh token SHOULD NOT be included.
    assert!(body.get("refresh_token").is_none());
    assert_eq!(header(&res, "content-type"), Some("application/json"));
}

#[tokio::test]
async fn responses_carry_cache_control_no_store_and_pragma_no_cache() {
    let (f, id, secret) = cc_fixture().await;
    let ok = f.token(&[CC], Some((&id, &secret))).await;
    let err = f.token(&[CC], Some((&id, "wrong"))).await;
    for res in [&ok, &err] {
        assert_eq!(header(res, "cache-control"), Some("no-store"));
        assert_eq!(header(res, "pragma"), Some("no-cache"));
    }
}

#[tokio::test]
async fn only_hashes_are_stored() {
    let (f, id, secret) = cc_fixture().await;
    let res = f.token(&[CC], Some((&id, &secret))).await;
    let at = field(&res, "access_token").unwrap();
    let rows = f.store.access_tokens();
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].hash, at);
    assert_eq!(rows[0].hash, portcullis_core::model::secret::hash_token(&at));
    assert_eq!(rows[0].issued_at, f.now());
    assert_eq!(rows[0].expires_at, f.now() + 3600);
}

#[tokio::test]
async fn error_body_is_rfc6749_json() {
    let (f, id, secret) = cc_fixture().await;
    let res = f.token(&[("grant_type", "nope")], Some((&id, &secret))).await;
    assert_eq!(res.status(), 400);
    let body = json_body(&res);
    assert_eq!(body["error"], "unsupported_grant_type");
    assert!(body["error_description"].is_string());
    assert!(body.get("access_token").is_none());
}

#[tokio::test]
async fn reply_names_the_authenticated_client_for_the_log() {
    let (f, id, secret) = cc_fixture().await;
    let res = f.token(&[CC], Some((&id, &secret))).await;
    assert_eq!(res.extensions().get::<ClientIdentity>(), Some(&ClientIdentity(id.clone())));
    let res = f.token(&[CC], Some((&id, "wrong"))).await;
    assert_eq!(res.extensions().get::<ClientIdentity>(), None);
}

// ---- framing ---------------------------------------------------------------------------

#[tokio::test]
async fn missing_grant_type_is_invalid_request() {
    let (f, id, secret) = cc_fixture().await;
    let res = f.token(&[("scope", "invoices:read")], Some((&id, &secret))).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_request"));
    // An empty value counts as absent (RFC 6749 §3.1).
    let res = f.token(&[("grant_type", "")], Some((&id, &secret))).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn empty_body_is_invalid_request() {
    let (f, id, secret) = cc_fixture().await;
    for auth in [None, Some(basic_header(&id, &secret))] {
        let res = f.token_raw(b"", auth.as_deref()).await;
        assert_eq!(res.status(), 400);
        assert_eq!(error_code(&res).as_deref(), Some("invalid_request"));
    }
}

#[tokio::test]
async fn malformed_body_is_invalid_request_never_500() {
    let (f, id, secret) = cc_fixture().await;
    let auth = basic_header(&id, &secret);
    for body in [&b"%%%&&=="[..], b"\xff\xfe\x00", b"{\"grant_type\":\"client_credentials\"}", b"&&&"] {
        let res = f.token_raw(body, Some(&auth)).await;
        assert_eq!(res.status(), 400, "{body:?}");
        assert_eq!(error_code(&res).as_deref(), Some("invalid_request"), "{body:?}");
    }
}

#[tokio::test]
async fn repeated_parameter_is_invalid_request() {
    let (f, id, secret) = cc_fixture().await;
    let auth = basic_header(&id, &secret);
    for body in [
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=client_credentials&scope=invoices%3Aread&scope=invoices%3Aread",
    ] {
        let res = f.token_raw(body.as_bytes(), Some(&auth)).await;
        assert_eq!(res.status(), 400, "{body}");
        assert_eq!(error_code(&res).as_deref(), Some("invalid_request"), "{body}");
    }
    assert_eq!(f.store.token_count(), 0);
}

// ---- grant dispatch --------------------------------------------------------------------

#[tokio::test]
async fn unknown_grant_type_is_unsupported_grant_type() {
    let (f, id, secret) = cc_fixture().await;
    let res = f.token(&[("grant_type", "implicit")], Some((&id, &secret))).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("unsupported_grant_type"));
}

#[tokio::test]
async fn grant_type_is_matched_exactly() {
    let (f, id, secret) = cc_fixture().await;
    for gt in ["Client_Credentials", "client_credentials ", "urn:client_credentials"] {
        let res = f.token(&[("grant_type", gt)], Some((&id, &secret))).await;
        assert_eq!(error_code(&res).as_deref(), Some("unsupported_grant_type"), "{gt:?}");
    }
}

#[tokio::test]
async fn grant_not_registered_for_client_is_unauthorized_client() {
    let f = Fixture::new();
    let (id, secret) = f.add_client(ClientSpec::confidential(&["password"])).await;
    let res = f.token(&[CC], Some((&id, &secret))).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("unauthorized_client"));
}

#[tokio::test]
async fn supported_grant_types_are_listed() {
    let f = Fixture::with_builder(Config::default(), |b| b.grant(Arc::new(TestGrant::new())));
    assert_eq!(
        f.server.grant_types(),
        ["authorization_code", "client_credentials", "password", "refresh_token", TEST_GRANT]
    );
}

// ---- client authentication (RFC 6749 §2.3) ---------------------------------------------

#[tokio::test]
async fn client_secret_post_authenticates_with_body_credentials() {
    let f = Fixture::new();
    let (id, secret) = f.add_client(ClientSpec::confidential(&["client_credentials"]).post()).await;
    let res = f.token(&[CC, ("client_id", &id), ("client_secret", &secret)], None).await;
    assert_eq!(res.status(), 200, "{}", res.body());
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_rfc6749_2_3_1() {
    let f = Fixture::new();
    let (id, secret) =
        f.add_client(ClientSpec::confidential(&["client_credentials"]).id("billing: app+1 %")).await;
    let res = f.token(&[CC], Some((&id, &secret))).await;
    assert_eq!(res.status(), 200, "{}", res.body());
}

#[tokio::test]
async fn two_client_auth_methods_is_invalid_request() {
    let (f, id, secret) = cc_fixture().await;
    let res = f.token(&[CC, ("client_id", &id), ("client_secret", &secret)], Some((&id, &secret))).await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_request"));
    assert_eq!(f.store.token_count(), 0);
}

#[tokio::test]
async fn client_id_in_body_must_match_basic() {
    let (f, id, secret) = cc_fixture().await;
    let res = f.token(&[CC, ("client_id", "someone-else")], Some((&id, &secret))).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_request"));
    let res = f.token(&[CC, ("client_id", &id)], Some((&id, &secret))).await;
    assert_eq!(res.status(), 200, "{}", res.body());
}

#[tokio::test]
async fn basic_failure_is_401_with_www_authenticate() {
    let (f, id, secret) = cc_fixture().await;
    for (who, pw) in [(id.as_str(), "wrong"), ("no-such-client", secret.as_str()), (id.as_str(), "")] {
        let res = f.token(&[CC], Some((who, pw))).await;
        assert_eq!(res.status(), 401, "{who}:{pw}");
        assert_eq!(error_code(&res).as_deref(), Some("invalid_client"));
        assert!(header(&res, "www-authenticate").is_some_and(|h| h.starts_with("Basic")), "{who}:{pw}");
    }
}

#[tokio::test]
async fn post_failure_is_401_without_www_authenticate() {
    let f = Fixture::new();
    let (id, _) = f.add_client(ClientSpec::confidential(&["client_credentials"]).post()).await;
    let res = f.token(&[CC, ("client_id", &id), ("client_secret", "wrong")], None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_client"));
    assert_eq!(header(&res, "www-authenticate"), None);
}

#[tokio::test]
async fn missing_client_authentication_is_invalid_client() {
    let (f, id, _) = cc_fixture().await;
    // No credentials at all.
    let res = f.token(&[CC], None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_client"));
    // A confidential client naming itself without its secret.
    let res = f.token(&[CC, ("client_id", &id)], None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_client"));
}

#[tokio::test]
async fn registered_auth_method_is_enforced() {
    let f = Fixture::new();
    let (basic_id, basic_secret) = f.add_client(ClientSpec::confidential(&["client_credentials"])).await;
    let (post_id, post_secret) = f.add_client(ClientSpec::confidential(&["client_credentials"]).post()).await;
    let res = f.token(&[CC, ("client_id", &basic_id), ("client_secret", &basic_secret)], None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_client"));
    let res = f.token(&[CC], Some((&post_id, &post_secret))).await;
    assert_eq!(res.status(), 401);
    assert!(header(&res, "www-authenticate").is_some());
}

#[tokio::test]
async fn malformed_basic_header_is_invalid_request() {
    let (f, _, _) = cc_fixture().await;
    for h in ["Basic", "Basic !!!", "Basic Zm9v"] {
        let res = f.token_raw(b"grant_type=client_credentials", Some(h)).await;
        assert_eq!(res.status(), 400, "{h}");
        assert_eq!(error_code(&res).as_deref(), Some("invalid_request"), "{h}");
    }
}

#[tokio::test]
async fn other_authorization_scheme_is_invalid_client_with_basic_challenge() {
    let (f, _, _) = cc_fixture().await;
    let res = f.token_raw(b"grant_type=client_credentials", Some("Bearer abc")).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_client"));
    assert!(header(&res, "www-authenticate").is_some_and(|h| h.starts_with("Basic")));
}

#[tokio::test]
async fn public_client_cannot_use_client_credentials() {
    let f = Fixture::new();
    // Even when its registration lists the grant (RFC 6749 §4.4: confidential clients only).
    let (listed, _) = f.add_client(ClientSpec::public(&["client_credentials"])).await;
    let (unlisted, _) = f.add_client(ClientSpec::public(&["authorization_code"])).await;
    for id in [&listed, &unlisted] {
        let res = f.token(&[CC, ("client_id", id)], None).await;
        assert_eq!(res.status(), 400);
        assert_eq!(error_code(&res).as_deref(), Some("unauthorized_client"));
    }
    assert_eq!(f.store.token_count(), 0);
}

#[tokio::test]
async fn public_client_presenting_a_secret_is_invalid_client() {
    let f = Fixture::new();
    let (id, _) = f.add_client(ClientSpec::public(&["password"])).await;
    let res = f.token(&[("grant_type", "password"), ("client_id", &id), ("client_secret", "x")], None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_client"));
}

#[tokio::test]
async fn require_client_authentication_false_allows_id_only() {
    let config = Config {
        require_client_authentication: BTreeMap::from([("password".to_owned(), false)]),
        ..Config::default()
    };
    let f = Fixture::with_config(config);
    f.add_user("alice", "correct horse").await;
    let (id, secret) = f.add_client(ClientSpec::confidential(&["password"]).post()).await;
    let pw = [("grant_type", "password"), ("username", "alice"), ("password", "correct horse")];
    let res = f.token(&[pw[0], pw[1], pw[2], ("client_id", &id)], None).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    // A secret, when presented, is still checked.
    let res = f.token(&[pw[0], pw[1], pw[2], ("client_id", &id), ("client_secret", "wrong")], None).await;
    assert_eq!(res.status(), 401);
    let res = f.token(&[pw[0], pw[1], pw[2], ("client_id", &id), ("client_secret", &secret)], None).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn client_authentication_is_required_by_default_for_every_grant() {
    let f = Fixture::new();
    f.add_user("alice", "correct horse").await;
    let (id, _) = f.add_client(ClientSpec::confidential(&["password"]).post()).await;
    let res = f
        .token(
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "correct horse"),
                ("client_id", &id),
            ],
            None,
        )
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_client"));
}

#[tokio::test]
async fn client_credentials_always_requires_authentication() {
    let config = Config {
        require_client_authentication: BTreeMap::from([("client_credentials".to_owned(), false)]),
        ..Config::default()
    };
    let (f, id, _) = cc_fixture_with(config).await;
    let res = f.token(&[CC, ("client_id", &id)], None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(&res).as_deref(), Some("invalid_client"));
}

// ---- errors change nothing -------------------------------------------------------------

#[tokio::test]
async fn an_error_issues_nothing() {
    let (f, id, secret) = cc_fixture().await;
    type Case<'a> = (Vec<(&'a str, &'a str)>, Option<(&'a str, &'a str)>);
    let bad: Vec<Case> = vec![
        (vec![CC], Some((&id, "wrong"))),
        (vec![CC], None),
        (vec![("grant_type", "nope")], Some((&id, &secret))),
        (vec![CC, ("scope", "unknown")], Some((&id, &secret))),
        (vec![CC, ("scope", "a  b")], Some((&id, &secret))),
        (vec![("grant_type", "password")], Some((&id, &secret))),
        (vec![CC, ("client_secret", &secret)], Some((&id, &secret))),
    ];
    for (pairs, auth) in bad {
        let res = f.token(&pairs, auth).await;
        assert!(res.status().is_client_error(), "{pairs:?}");
        assert!(json_body(&res).get("access_token").is_none());
        assert_eq!(f.store.token_count(), 0, "{pairs:?}");
    }
}

#[tokio::test]
async fn store_outage_is_503_temporarily_unavailable() {
    let (f, id, secret) = cc_fixture().await;
    f.store.set_unavailable(true);
    let res = f.token(&[CC], Some((&id, &secret))).await;
    assert_eq!(res.status(), 503);
    assert_eq!(error_code(&res).as_deref(), Some("temporarily_unavailable"));
}

// ---- lifetimes -------------------------------------------------------------------------

#[tokio::test]
async fn server_wide_access_token_lifetime_applies() {
    let (f, id, secret) = cc_fixture_with(Config { access_token_lifetime: 60, ..Config::default() }).await;
    let res = f.token(&[CC], Some((&id, &secret))).await;
    assert_eq!(json_body(&res)["expires_in"], 60);
    assert_eq!(f.store.access_tokens()[0].expires_at, f.now() + 60);
}

#[tokio::test]
async fn per_client_access_token_lifetime_overrides_the_server() {
    let f = Fixture::with_config(Config { access_token_lifetime: 60, ..Config::default() });
    let (id, secret) =
        f.add_client(ClientSpec::confidential(&["client_credentials"]).access_token_lifetime(42)).await;
    let res = f.token(&[CC], Some((&id, &secret))).await;
    assert_eq!(json_body(&res)["expires_in"], 42);
    assert_eq!(f.store.access_tokens()[0].expires_at, f.now() + 42);
}

#[test]
fn non_positive_lifetimes_are_refused_at_build() {
    let config = Config { refresh_token_lifetime: 0, ..Config::default() };
    let built = Builder::new(config).store(Arc::new(MemoryStore::new())).build();
    assert!(matches!(built, Err(BuildError::InvalidConfig(_))));
}

// ---- extension grants (RFC 6749 §4.5) --------------------------------------------------

const TEST_GRANT: &str = "urn:example:params:oauth:grant-type:test";

/// Issues a token for `subject` and adds an extended attribute, plus two that try to
/// override standard fields.
struct TestGrant {
    name: &'static str,
    requires_auth: bool,
}

impl TestGrant {
    fn new() -> Self {
        Self { name: TEST_GRANT, requires_auth: true }
    }
}

#[async_trait::async_trait]
impl TokenGrant for TestGrant {
    fn grant_type(&self) -> &str {
        self.name
    }

    fn requires_client_authentication(&self) -> bool {
        self.requires_auth
    }

    async fn exchange(&self, ctx: &GrantContext<'_>) -> Result<Issue, OAuthError> {
        let subject = ctx.params.require("subject")?;
        let mut extra = serde_json::Map::new();
        extra.insert("issued_token_type".into(), "urn:ietf:params:oauth:token-type:access_token".into());
        extra.insert("access_token".into(), "forged".into());
        extra.insert("token_type".into(), "N_A".into());
        Ok(Issue {
            subject: Some(subject.to_owned()),
            scopes: ScopeSet::parse("ext")?,
            extra,
            ..Issue::default()
        })
    }
}

async fn ext_fixture(config: Config, grant: TestGrant) -> (Fixture, String, String) {
    let f = Fixture::with_builder(config, |b| b.grant(Arc::new(grant)));
    let (id, secret) = f.add_client(ClientSpec::confidential(&[TEST_GRANT])).await;
    (f, id, secret)
}

#[tokio::test]
async fn extension_grant_by_exact_uri() {
    let (f, id, secret) = ext_fixture(Config::default(), TestGrant::new()).await;
    let res = f.token(&[("grant_type", TEST_GRANT), ("subject", "alice")], Some((&id, &secret))).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let body = json_body(&res);
    assert_eq!(body["scope"], "ext");
    // allow_extended_token_attributes is off by default: the grant's fields are dropped.
    assert!(body.get("issued_token_type").is_none());
    assert_eq!(f.store.access_tokens()[0].subject.as_deref(), Some("alice"));
    // Exact match only.
    let res =
        f.token(&[("grant_type", "urn:example:params:oauth:grant-type:TEST")], Some((&id, &secret))).await;
    assert_eq!(error_code(&res).as_deref(), Some("unsupported_grant_type"));
    // Errors from the grant reach the client.
    let res = f.token(&[("grant_type", TEST_GRANT)], Some((&id, &secret))).await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn allow_extended_token_attributes_adds_fields_but_never_overrides_standard_ones() {
    let config = Config { allow_extended_token_attributes: true, ..Config::default() };
    let (f, id, secret) = ext_fixture(config, TestGrant::new()).await;
    let res = f.token(&[("grant_type", TEST_GRANT), ("subject", "alice")], Some((&id, &secret))).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let body = json_body(&res);
    assert_eq!(body["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].as_str().unwrap().starts_with("pc_at_"));
}

#[tokio::test]
async fn extension_grant_may_waive_client_authentication_and_config_overrides_it() {
    let waived = TestGrant { name: TEST_GRANT, requires_auth: false };
    let (f, id, _) = ext_fixture(Config::default(), waived).await;
    let pairs = [("grant_type", TEST_GRANT), ("subject", "alice"), ("client_id", id.as_str())];
    assert_eq!(f.token(&pairs, None).await.status(), 200);

    let config = Config {
        require_client_authentication: BTreeMap::from([(TEST_GRANT.to_owned(), true)]),
        ..Config::default()
    };
    let waived = TestGrant { name: TEST_GRANT, requires_auth: false };
    let (f, id, _) = ext_fixture(config, waived).await;
    let pairs = [("grant_type", TEST_GRANT), ("subject", "alice"), ("client_id", id.as_str())];
    assert_eq!(f.token(&pairs, None).await.status(), 401);
}

#[test]
fn extension_grant_type_must_be_a_unique_absolute_uri() {
    for name in ["my_grant", ":nothing", "urn:", "password"] {
        let built = Builder::new(Config::default())
            .store(Arc::new(MemoryStore::new()))
            .grant(Arc::new(TestGrant { name, requires_auth: true }))
            .build();
        assert_eq!(built.err(), Some(BuildError::InvalidGrantType(name.to_owned())), "{name}");
    }
    let built = Builder::new(Config::default())
        .store(Arc::new(MemoryStore::new()))
        .grant(Arc::new(TestGrant::new()))
        .grant(Arc::new(TestGrant::new()))
        .build();
    assert_eq!(built.err(), Some(BuildError::InvalidGrantType(TEST_GRANT.to_owned())));
}

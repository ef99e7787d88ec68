//! Wire tests for issue #4: BearerLayer (RFC 6750), `/introspect` (RFC 7662) and `/revoke`
//! (RFC 7009), through the axum router with `oneshot`, a MemoryStore and a FixedClock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use http::{Request, StatusCode};
use portcullis_axum::{Authenticated, BearerLayer};
use portcullis_testkit::fixtures::field;
use portcullis_testkit::{basic_header, ClientSpec, Fixture};
use serde_json::Value;
use tower::ServiceExt;

struct Res {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Res {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn call(app: Router, req: Request<Body>) -> Res {
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    Res { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

async fn whoami(Authenticated(t): Authenticated) -> String {
    format!("{}|{}", t.client_id, t.scopes)
}

fn api(f: &Fixture, allow_query: bool) -> Router {
    let layer =
        BearerLayer::local(f.server.clone()).realm("notes").allow_bearer_tokens_in_query_string(allow_query);
    Router::new()
        .route("/read", get(whoami).layer(layer.clone().scopes("notes:read")))
        .route("/write", get(whoami).layer(layer.clone().scopes("notes:read notes:write")))
        .route("/form", post(whoami).layer(layer))
}

async fn setup() -> (Fixture, String, String, String) {
    let f = Fixture::new();
    f.add_scope("notes:read", false).await;
    f.add_scope("notes:write", false).await;
    let (id, secret) = f
        .add_client(ClientSpec::confidential(&["client_credentials"]).scopes("notes:read notes:write"))
        .await;
    let res =
        f.token(&[("grant_type", "client_credentials"), ("scope", "notes:read")], Some((&id, &secret))).await;
    let token = field(&res, "access_token").expect("token");
    (f, id, secret, token)
}

fn get_with(uri: &str, auth: Option<&str>) -> Request<Body> {
    let mut b = Request::get(uri);
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn valid_token_reaches_the_handler_with_scope_headers() {
    let (f, id, _, token) = setup().await;
    let r = call(api(&f, false), get_with("/read", Some(&format!("Bearer {token}")))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, format!("{id}|notes:read"));
    assert_eq!(r.header("x-accepted-oauth-scopes"), Some("notes:read"));
    assert_eq!(r.header("x-oauth-scopes"), Some("notes:read"));
    // The scheme is case-insensitive (RFC 7235 §2.1).
    let r = call(api(&f, false), get_with("/read", Some(&format!("bearer {token}")))).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn missing_token_is_401_with_realm_and_no_error_code() {
    let (f, ..) = setup().await;
    let r = call(api(&f, false), get_with("/read", None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"notes\""));
    // Another scheme carries no bearer token.
    let r = call(api(&f, false), get_with("/read", Some("Basic YTpi"))).await;
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"notes\""));
}

#[tokio::test]
async fn invalid_expired_and_revoked_tokens_are_invalid_token() {
    let (f, id, secret, token) = setup().await;
    for bad in ["pc_at_nonsense", "something-else"] {
        let r = call(api(&f, false), get_with("/read", Some(&format!("Bearer {bad}")))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.header("www-authenticate").unwrap().contains("error=\"invalid_token\""), "{bad}");
    }
    // Revoked through /revoke.
    let app = portcullis_axum::router(f.server.clone());
    let r =
        call(app, form_post("/revoke", &format!("token={token}"), Some(&basic_header(&id, &secret)))).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(api(&f, false), get_with("/read", Some(&format!("Bearer {token}")))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").unwrap().contains("invalid_token"));
    // Expired: a fresh token, then move the clock past its lifetime.
    let res =
        f.token(&[("grant_type", "client_credentials"), ("scope", "notes:read")], Some((&id, &secret))).await;
    let fresh = field(&res, "access_token").unwrap();
    f.clock.advance(3600);
    let r = call(api(&f, false), get_with("/read", Some(&format!("Bearer {fresh}")))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
}

#[tokio::test]
async fn missing_scope_is_403_insufficient_scope_with_scope_attribute() {
    let (f, _, _, token) = setup().await;
    let r = call(api(&f, false), get_with("/write", Some(&format!("Bearer {token}")))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("Bearer realm=\"notes\""), "{challenge}");
    assert!(challenge.contains("error=\"insufficient_scope\""));
    assert!(challenge.contains("scope=\"notes:read notes:write\""));
    assert_eq!(r.header("x-accepted-oauth-scopes"), Some("notes:read, notes:write"));
    assert_eq!(r.header("x-oauth-scopes"), Some("notes:read"));
}

#[tokio::test]
async fn malformed_authorization_is_400_invalid_request() {
    let (f, _, _, token) = setup().await;
    for h in ["Bearer", "Bearer ", "Bearer a b", "Bearer \"x\""] {
        let r = call(api(&f, false), get_with("/read", Some(h))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{h}");
        assert!(r.header("www-authenticate").unwrap().contains("error=\"invalid_request\""));
    }
    let two = Request::get("/read")
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(api(&f, false), two).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn query_and_form_tokens_only_when_allowed() {
    let (f, _, _, token) = setup().await;
    let uri = format!("/read?access_token={token}");
    let r = call(api(&f, false), get_with(&uri, None)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "query tokens are off by default");
    let r = call(api(&f, true), get_with(&uri, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    // Two methods at once.
    let r = call(api(&f, true), get_with(&uri, Some(&format!("Bearer {token}")))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Form body (RFC 6750 §2.2), and the handler still gets the body.
    let r = call(api(&f, true), form_post("/form", &format!("access_token={token}&x=1"), None)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = call(api(&f, false), form_post("/form", &format!("access_token={token}"), None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "form tokens are off by default");
}

fn form_post(uri: &str, body: &str, auth: Option<&str>) -> Request<Body> {
    let mut b = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn introspection_reports_active_tokens_with_rfc7662_fields() {
    let (f, id, secret, token) = setup().await;
    let (rs_id, rs_secret) = f.add_client(ClientSpec::confidential(&["client_credentials"])).await;
    let app = portcullis_axum::router(f.server.clone());
    let r = call(
        app.clone(),
        form_post("/introspect", &format!("token={token}"), Some(&basic_header(&rs_id, &rs_secret))),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["active"], true);
    assert_eq!(v["scope"], "notes:read");
    assert_eq!(v["client_id"], id.as_str());
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["sub"], id.as_str());
    assert_eq!(v["iss"], f.server.config().issuer.as_str());
    for k in ["exp", "iat", "nbf"] {
        assert!(v[k].is_i64(), "{k}");
    }
    assert!(v["jti"].is_string());
    // A wrong hint is not trusted.
    let r = call(
        app.clone(),
        form_post(
            "/introspect",
            &format!("token={token}&token_type_hint=refresh_token"),
            Some(&basic_header(&id, &secret)),
        ),
    )
    .await;
    assert_eq!(r.json()["active"], true);
}

#[tokio::test]
async fn introspection_of_unknown_expired_revoked_is_only_active_false() {
    let (f, id, secret, token) = setup().await;
    let app = portcullis_axum::router(f.server.clone());
    let auth = basic_header(&id, &secret);
    let inactive = |r: Res| {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json(), serde_json::json!({"active": false}));
    };
    inactive(call(app.clone(), form_post("/introspect", "token=pc_at_unknown", Some(&auth))).await);
    inactive(call(app.clone(), form_post("/introspect", "token=garbage", Some(&auth))).await);
    f.clock.advance(3600);
    inactive(call(app.clone(), form_post("/introspect", &format!("token={token}"), Some(&auth))).await);
    f.clock.advance(-3600);
    call(app.clone(), form_post("/revoke", &format!("token={token}"), Some(&auth))).await;
    inactive(call(app.clone(), form_post("/introspect", &format!("token={token}"), Some(&auth))).await);
}

#[tokio::test]
async fn introspection_requires_client_authentication_and_a_token() {
    let (f, id, secret, token) = setup().await;
    let app = portcullis_axum::router(f.server.clone());
    let r = call(app.clone(), form_post("/introspect", &format!("token={token}"), None)).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let r = call(
        app.clone(),
        form_post("/introspect", &format!("token={token}"), Some(&basic_header(&id, "wrong"))),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").is_some());
    let r = call(app.clone(), form_post("/introspect", "x=1", Some(&basic_header(&id, &secret)))).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    let r = call(app.clone(), get_with("/introspect", Some(&basic_header(&id, &secret)))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let (pub_id, _) = f.add_client(ClientSpec::public(&["authorization_code"])).await;
    let r = call(app, form_post("/introspect", &format!("token={token}&client_id={pub_id}"), None)).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_access_tokens() {
    let f = Fixture::new();
    let (id, secret) = f.add_client(ClientSpec::confidential(&["password", "refresh_token"])).await;
    f.add_user("alice", "pw").await;
    let res = f
        .token(&[("grant_type", "password"), ("username", "alice"), ("password", "pw")], Some((&id, &secret)))
        .await;
    let (at, rt) = (field(&res, "access_token").unwrap(), field(&res, "refresh_token").unwrap());
    let app = portcullis_axum::router(f.server.clone());
    let auth = basic_header(&id, &secret);
    let r = call(app.clone(), form_post("/introspect", &format!("token={rt}"), Some(&auth))).await;
    assert_eq!(r.json()["active"], true);
    assert_eq!(r.json()["username"], "alice");
    let r = call(
        app.clone(),
        form_post("/revoke", &format!("token={rt}&token_type_hint=refresh_token"), Some(&auth)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    for t in [&at, &rt] {
        let r = call(app.clone(), form_post("/introspect", &format!("token={t}"), Some(&auth))).await;
        assert_eq!(r.json()["active"], false);
    }
    let res = f.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt)], Some((&id, &secret))).await;
    assert_eq!(field(&res, "error").as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn revoking_unknown_or_foreign_tokens_answers_200_and_changes_nothing() {
    let (f, _, _, token) = setup().await;
    let (other, other_secret) = f.add_client(ClientSpec::confidential(&["client_credentials"])).await;
    let app = portcullis_axum::router(f.server.clone());
    let auth = basic_header(&other, &other_secret);
    for t in [token.as_str(), "pc_at_unknown", "whatever"] {
        let r = call(app.clone(), form_post("/revoke", &format!("token={t}"), Some(&auth))).await;
        assert_eq!(r.status, StatusCode::OK, "{t}");
    }
    let r = call(api(&f, false), get_with("/read", Some(&format!("Bearer {token}")))).await;
    assert_eq!(r.status, StatusCode::OK, "another client's revocation must not touch the token");
    // Errors: no client authentication, no token.
    let r = call(app.clone(), form_post("/revoke", &format!("token={token}"), None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = call(app, form_post("/revoke", "token_type_hint=access_token", Some(&auth))).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
}

//! Wire tests for issue #5: `/jwks.json`, the two metadata documents and `/userinfo`
//! (statuses, headers, JSON shapes) via `oneshot`; `JwksVerifier` against a JWKS served over
//! real HTTP on a loopback port.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use portcullis_axum::{Authenticated, BearerLayer, JwksVerifier};
use portcullis_core::{Config, SigningAlg};
use portcullis_testkit::fixtures::field;
use portcullis_testkit::{ClientSpec, Fixture};
use serde_json::{json, Value};
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

async fn call(f: &Fixture, req: Request<Body>) -> Res {
    let res = portcullis_axum::router(f.server.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    Res { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn es256(issuer: &str) -> Config {
    Config { issuer: issuer.into(), signing_alg: SigningAlg::ES256, ..Config::default() }
}

#[tokio::test]
async fn jwks_publishes_public_keys_only_and_may_be_cached() {
    let f = Fixture::with_config(es256("https://as.test"));
    f.server.ensure_signing_key().await.unwrap();
    f.server.rotate_signing_key(0).await.unwrap();
    let r = call(&f, get_req("/jwks.json")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let keys = r.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2);
    let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    kids.dedup();
    assert_eq!(kids.len(), 2, "kids are unique");
    for k in &keys {
        assert_eq!(
            (k["use"].as_str(), k["alg"].as_str(), k["kty"].as_str()),
            (Some("sig"), Some("ES256"), Some("EC"))
        );
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(k.get(private).is_none(), "private member {private} published");
        }
    }
    let r = call(&f, Request::post("/jwks.json").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn both_metadata_documents_name_the_configured_issuer() {
    let f = Fixture::with_config(es256("https://auth.example.com"));
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let r = call(&f, get_req(path)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
        let m = r.json();
        assert_eq!(m["issuer"], "https://auth.example.com");
        assert_eq!(m["jwks_uri"], "https://auth.example.com/jwks.json");
        assert_eq!(m["token_endpoint"], "https://auth.example.com/token");
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
        assert_eq!(m["id_token_signing_alg_values_supported"], json!(["ES256"]));
    }
}

#[tokio::test]
async fn store_failure_makes_metadata_a_5xx_not_a_lie() {
    let f = Fixture::with_config(es256("https://as.test"));
    f.store.set_unavailable(true);
    let r = call(&f, get_req("/jwks.json")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}

async fn userinfo_setup() -> (Fixture, String, String) {
    let f = Fixture::with_config(es256("https://as.test"));
    f.add_scope("openid", false).await;
    f.add_scope("email", false).await;
    let (id, secret) = f.add_client(ClientSpec::confidential(&["password"]).scopes("openid email")).await;
    f.add_user("alice", "pw").await;
    let token = |scope: &'static str| {
        let f = &f;
        let (id, secret) = (id.clone(), secret.clone());
        async move {
            let res = f
                .token(
                    &[
                        ("grant_type", "password"),
                        ("username", "alice"),
                        ("password", "pw"),
                        ("scope", scope),
                    ],
                    Some((&id, &secret)),
                )
                .await;
            field(&res, "access_token").unwrap()
        }
    };
    let with_openid = token("openid email").await;
    let without = token("email").await;
    (f, with_openid, without)
}

#[tokio::test]
async fn userinfo_answers_get_and_post_and_refuses_per_rfc6750() {
    let (f, at, no_openid) = userinfo_setup().await;
    let bearer = format!("Bearer {at}");
    let r = call(&f, Request::get("/userinfo").header("authorization", &bearer).body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.json()["sub"].is_string());
    // POST with the header, POST with the token in the form body (RFC 6750 §2.2), scheme case.
    let r = call(
        &f,
        Request::post("/userinfo")
            .header("authorization", format!("bearer {at}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let form = |body: String| {
        Request::post("/userinfo")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    assert_eq!(call(&f, form(format!("access_token={at}"))).await.status, StatusCode::OK);

    // No token: 401 with a realm and no error code (RFC 6750 §3.1).
    let r = call(&f, get_req("/userinfo")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("Bearer realm=") && !challenge.contains("error="), "{challenge}");
    // A bad token: invalid_token.
    let r = call(
        &f,
        Request::get("/userinfo").header("authorization", "Bearer pc_at_nope").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
    // No openid scope: insufficient_scope.
    let r = call(
        &f,
        Request::get("/userinfo")
            .header("authorization", format!("Bearer {no_openid}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"openid\""),
        "{challenge}"
    );
    // In the query, or in two places: invalid_request.
    let r = call(&f, get_req(&format!("/userinfo?access_token={at}"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(
        &f,
        Request::post("/userinfo")
            .header("authorization", &bearer)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("access_token={at}")))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for bad in ["Bearer", "Bearer a b", &format!("Bearer {}", "a\"b")] {
        let r = call(&f, Request::get("/userinfo").header("authorization", bad).body(Body::empty()).unwrap())
            .await;
        assert!(
            r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::UNAUTHORIZED,
            "{bad}: {}",
            r.status
        );
    }
}

/// Serve `router` on a loopback port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

async fn whoami(Authenticated(t): Authenticated) -> String {
    format!("{}|{}|{}", t.client_id, t.scopes, t.audience.join(","))
}

#[tokio::test]
async fn jwks_verifier_accepts_jwt_access_tokens_for_its_audience_and_follows_rotation() {
    // The authorization server (with the system clock, as a remote verifier uses real time).
    let f = Fixture::with_builder(es256("https://as.test"), |b| {
        b.clock(std::sync::Arc::new(portcullis_core::SystemClock))
    });
    f.add_scope("notes:read", false).await;
    let (id, secret) =
        f.add_client(ClientSpec::confidential(&["client_credentials"]).scopes("notes:read")).await;
    let as_url = serve(portcullis_axum::router(f.server.clone())).await;
    let verifier = JwksVerifier::new(format!("{as_url}/jwks.json"), "https://as.test", "https://notes.test")
        .min_refetch(Duration::ZERO);
    let api = Router::new().route("/me", get(whoami).layer(BearerLayer::jwks(verifier).scopes("notes:read")));
    let token = |resource: &'static str| {
        let (f, id, secret) = (&f, id.clone(), secret.clone());
        async move {
            let res = f
                .token(
                    &[("grant_type", "client_credentials"), ("scope", "notes:read"), ("resource", resource)],
                    Some((&id, &secret)),
                )
                .await;
            field(&res, "access_token").unwrap()
        }
    };
    let ask = |t: String| {
        let api = api.clone();
        async move {
            let res = api
                .oneshot(
                    Request::get("/me")
                        .header("authorization", format!("Bearer {t}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let (status, body) = ask(token("https://notes.test").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, format!("{id}|notes:read|https://notes.test"));
    // Another audience, an opaque token, garbage: refused.
    assert_eq!(ask(token("https://other.test").await).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(ask("pc_at_x".into()).await.0, StatusCode::UNAUTHORIZED);
    // After a rotation the new kid is unknown to the cache: fetched again, accepted.
    f.server.rotate_signing_key(0).await.unwrap();
    assert_eq!(ask(token("https://notes.test").await).await.0, StatusCode::OK);
}

#[tokio::test]
async fn local_layer_with_an_audience_admits_only_tokens_for_it() {
    let f = Fixture::with_config(es256("https://as.test"));
    f.add_scope("notes:read", false).await;
    let (id, secret) =
        f.add_client(ClientSpec::confidential(&["client_credentials"]).scopes("notes:read")).await;
    let api = Router::new().route(
        "/me",
        get(whoami)
            .layer(BearerLayer::local(f.server.clone()).audience("https://notes.test").scopes("notes:read")),
    );
    let mut statuses = Vec::new();
    for resource in [Some("https://notes.test"), Some("https://other.test"), None] {
        let mut form = vec![("grant_type", "client_credentials"), ("scope", "notes:read")];
        if let Some(r) = resource {
            form.push(("resource", r));
        }
        let t = field(&f.token(&form, Some((&id, &secret))).await, "access_token").unwrap();
        let res = api
            .clone()
            .oneshot(
                Request::get("/me")
                    .header("authorization", format!("Bearer {t}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        statuses.push(res.status());
    }
    assert_eq!(statuses, vec![StatusCode::OK, StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED]);
}

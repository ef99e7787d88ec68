//! Wire tests: the axum router's statuses, headers and JSON shapes, via `oneshot`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use http::{Request, StatusCode};
use portcullis_testkit::{basic_header, ClientSpec, Fixture};
use serde_json::Value;
use tower::ServiceExt;

async fn send(f: &Fixture, req: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let res = portcullis_axum::router(f.server.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, headers, serde_json::from_slice(&bytes).unwrap())
}

fn post(body: &str, auth: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/token").header("content-type", "application/x-www-form-urlencoded");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn token_success_has_rfc6749_5_1_shape_and_headers() {
    let f = Fixture::new();
    let (id, secret) = f.add_client(ClientSpec::confidential(&["client_credentials"])).await;
    let (st, h, body) =
        send(&f, post("grant_type=client_credentials", Some(&basic_header(&id, &secret)))).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["pragma"], "no-cache");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].is_i64());
    assert!(body["access_token"].is_string());
}

#[tokio::test]
async fn method_content_type_and_body_problems_are_invalid_request() {
    let f = Fixture::new();
    let (id, secret) = f.add_client(ClientSpec::confidential(&["client_credentials"])).await;
    let auth = basic_header(&id, &secret);
    let reqs = vec![
        Request::get("/token").body(Body::empty()).unwrap(),
        Request::delete("/token").body(Body::empty()).unwrap(),
        Request::post("/token")
            .header("content-type", "text/plain")
            .body(Body::from("grant_type=x"))
            .unwrap(),
        Request::post("/token")
            .header("content-type", "multipart/form-data; boundary=x")
            .body(Body::from("--x--"))
            .unwrap(),
        Request::post("/token").body(Body::from("grant_type=client_credentials")).unwrap(),
        post("", Some(&auth)),
        post(&format!("grant_type=client_credentials&pad={}", "a".repeat(70_000)), Some(&auth)),
        Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("content-length", "10000000")
            .body(Body::from("grant_type=client_credentials"))
            .unwrap(),
        Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", &auth)
            .header("authorization", &auth)
            .body(Body::from("grant_type=client_credentials"))
            .unwrap(),
    ];
    for (i, r) in reqs.into_iter().enumerate() {
        let (st, h, body) = send(&f, r).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "case {i}: {body}"
        );
        assert_eq!(h["cache-control"], "no-store", "case {i}");
    }
}

#[tokio::test]
async fn invalid_client_with_basic_carries_www_authenticate() {
    let f = Fixture::new();
    let (id, _) = f.add_client(ClientSpec::confidential(&["client_credentials"])).await;
    let (st, h, body) =
        send(&f, post("grant_type=client_credentials", Some(&basic_header(&id, "wrong")))).await;
    assert_eq!((st, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    assert!(h["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    // Without the header there is nothing to challenge.
    let (st, h, _) =
        send(&f, post(&format!("grant_type=client_credentials&client_id={id}&client_secret=wrong"), None))
            .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(h.get("www-authenticate").is_none());
}

#[tokio::test]
async fn error_descriptions_stay_within_rfc6749_characters() {
    let f = Fixture::new();
    let (_, _, body) = send(&f, post("%22%5C%C3%A9%0A=1&%22%5C%C3%A9%0A=2&grant_type=a", None)).await;
    let d = body["error_description"].as_str().unwrap();
    assert!(d.chars().all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')), "{d}");
}

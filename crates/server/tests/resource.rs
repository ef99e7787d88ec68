//! Issue #4 end to end: a token from the real server's `/token` opens the example notes API
//! (a separate HTTP service verifying tokens through the real `/introspect`), and stops
//! opening it after `/revoke`, after expiry, or without the scope.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[allow(dead_code, clippy::all)]
#[path = "../../axum/examples/notes.rs"]
mod notes;

use std::time::Duration;

use common::{basic_header, http, token, Server};
use portcullis_axum::{BearerLayer, IntrospectionClient};
use serde_json::Value;

/// Start the example API on an ephemeral port, verifying at `server`'s introspection endpoint
/// with the given cache lifetime.
async fn notes_api(server: &Server, id: &str, secret: &str, ttl: Duration) -> String {
    let client = IntrospectionClient::new(server.url("/introspect"), id, secret).cache_ttl(ttl);
    let app = notes::app(BearerLayer::remote(client).realm("notes"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn introspect(s: &Server, auth: (&str, &str), t: &str) -> Value {
    http()
        .post(s.url("/introspect"))
        .header("authorization", basic_header(auth.0, auth.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={t}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn token_opens_the_example_api_until_revoked() {
    let s = Server::start();
    s.cli(&["scope", "create", "notes:read", "--description", "Read notes", "--json"]).json();
    s.cli(&["scope", "create", "notes:write", "--description", "Write notes", "--json"]).json();
    let (api_id, api_secret) = s.client(&["--name", "notes-api", "--grant-type", "client_credentials"]);
    let (id, secret) = s.client(&[
        "--name",
        "app",
        "--grant-type",
        "client_credentials",
        "--scope",
        "notes:read notes:write",
    ]);
    let api = notes_api(&s, &api_id, &api_secret, Duration::ZERO).await;

    let (_, _, body) = token(
        &s,
        &[("grant_type", "client_credentials"), ("scope", "notes:read notes:write")],
        Some((&id, &secret)),
    )
    .await;
    let at = body["access_token"].as_str().unwrap().to_owned();
    let c = http();
    let res = c
        .post(format!("{api}/notes"))
        .bearer_auth(&at)
        .json(&serde_json::json!({"text": "buy milk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let res = c.get(format!("{api}/notes")).bearer_auth(&at).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["x-oauth-scopes"], "notes:read, notes:write");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["notes"], serde_json::json!(["buy milk"]));

    // Revoke at the server: both the API and /introspect refuse the token at once.
    let res = c
        .post(s.url("/revoke"))
        .header("authorization", basic_header(&id, &secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={at}&token_type_hint=access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let res = c.get(format!("{api}/notes")).bearer_auth(&at).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    assert_eq!(introspect(&s, (&api_id, &api_secret), &at).await, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn scope_missing_is_403_and_no_token_is_401() {
    let s = Server::start();
    s.cli(&["scope", "create", "notes:read", "--json"]).json();
    s.cli(&["scope", "create", "notes:write", "--json"]).json();
    let (api_id, api_secret) = s.client(&["--name", "notes-api", "--grant-type", "client_credentials"]);
    let (id, secret) =
        s.client(&["--name", "reader", "--grant-type", "client_credentials", "--scope", "notes:read"]);
    let api = notes_api(&s, &api_id, &api_secret, Duration::from_secs(30)).await;
    let (_, _, body) =
        token(&s, &[("grant_type", "client_credentials"), ("scope", "notes:read")], Some((&id, &secret)))
            .await;
    let at = body["access_token"].as_str().unwrap().to_owned();
    let c = http();
    let res = c
        .post(format!("{api}/notes"))
        .bearer_auth(&at)
        .json(&serde_json::json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"notes:write\""),
        "{challenge}"
    );
    assert_eq!(res.headers()["x-accepted-oauth-scopes"], "notes:write");
    let res = c.get(format!("{api}/notes")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"notes\"");
    let res = c.get(format!("{api}/me")).bearer_auth(&at).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn expired_token_is_refused_by_api_and_introspection() {
    let s = Server::start();
    let (api_id, api_secret) = s.client(&["--name", "notes-api", "--grant-type", "client_credentials"]);
    let (id, secret) =
        s.client(&["--name", "short", "--grant-type", "client_credentials", "--access-token-lifetime", "1"]);
    let api = notes_api(&s, &api_id, &api_secret, Duration::from_secs(30)).await;
    let (_, _, body) = token(&s, &[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    let at = body["access_token"].as_str().unwrap().to_owned();
    let c = http();
    assert_eq!(c.get(format!("{api}/me")).bearer_auth(&at).send().await.unwrap().status().as_u16(), 200);
    // Lifetimes are whole seconds; wait out this one (the cache entry cannot outlive the token).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let res = c.get(format!("{api}/me")).bearer_auth(&at).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(introspect(&s, (&api_id, &api_secret), &at).await, serde_json::json!({"active": false}));
}

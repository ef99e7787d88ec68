//! The token endpoint over real HTTP against the real binary and a real SQLite file
//! (issue #2): every grant and every error code of RFC 6749 §5.2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{basic_header, form_encode, http, token, Server};
use serde_json::Value;

fn assert_no_store(h: &reqwest::header::HeaderMap) {
    assert_eq!(h.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    assert_eq!(h.get("pragma").and_then(|v| v.to_str().ok()), Some("no-cache"));
    assert!(h
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json")));
}

fn assert_error(status: u16, body: &Value, want_status: u16, want: &str) {
    assert_eq!((status, body["error"].as_str()), (want_status, Some(want)), "body: {body}");
}

#[tokio::test]
async fn client_credentials_with_basic_and_post() {
    let s = Server::start();
    let (id, secret) =
        s.client(&["--name", "billing", "--grant-type", "client_credentials", "--scope", "invoices:read"]);
    let (st, h, body) =
        token(&s, &[("grant_type", "client_credentials"), ("scope", "invoices:read")], Some((&id, &secret)))
            .await;
    assert_eq!(st, 200, "{body}");
    assert_no_store(&h);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "invoices:read");
    assert!(body["access_token"].as_str().is_some_and(|t| t.starts_with("pc_at_")));
    // RFC 6749 §4.4.3: no refresh token for client credentials.
    assert!(body.get("refresh_token").is_none());

    let (_, post_secret) = s.client(&[
        "--name",
        "poster",
        "--grant-type",
        "client_credentials",
        "--auth-method",
        "client_secret_post",
    ]);
    let post_id = s
        .cli(&["client", "list", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "poster")
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .unwrap();
    let (st, _, body) = token(
        &s,
        &[("grant_type", "client_credentials"), ("client_id", &post_id), ("client_secret", &post_secret)],
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    // A client registered for client_secret_post may not switch to Basic.
    let (st, h, body) =
        token(&s, &[("grant_type", "client_credentials")], Some((&post_id, &post_secret))).await;
    assert_error(st, &body, 401, "invalid_client");
    assert!(h.get("www-authenticate").is_some());
}

#[tokio::test]
async fn password_grant_and_refresh_rotation_with_reuse_detection() {
    let s = Server::start();
    s.cli(&["scope", "create", "notes:read", "--description", "Read notes", "--json"]).json();
    s.cli(&["scope", "create", "notes:write", "--description", "Write notes", "--json"]).json();
    s.user("alice", "correct horse battery staple", &["--email", "alice@example.com"]);
    let (id, secret) = s.client(&[
        "--name",
        "app",
        "--grant-type",
        "password",
        "--grant-type",
        "refresh_token",
        "--scope",
        "notes:read notes:write",
    ]);
    let auth = Some((id.as_str(), secret.as_str()));

    // Wrong password: invalid_grant, and nothing about which part was wrong.
    let (st, _, body) =
        token(&s, &[("grant_type", "password"), ("username", "alice"), ("password", "wrong")], auth).await;
    assert_error(st, &body, 400, "invalid_grant");
    let (st, _, body2) =
        token(&s, &[("grant_type", "password"), ("username", "nobody"), ("password", "wrong")], auth).await;
    assert_error(st, &body2, 400, "invalid_grant");
    assert_eq!(body["error_description"], body2["error_description"]);

    let (st, _, t1) = token(
        &s,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "correct horse battery staple"),
            ("scope", "notes:read notes:write"),
        ],
        auth,
    )
    .await;
    assert_eq!(st, 200, "{t1}");
    let rt1 = t1["refresh_token"].as_str().expect("refresh token").to_owned();
    assert!(rt1.starts_with("pc_rt_"));

    // Narrowing is allowed; widening is not.
    let (st, _, body) = token(
        &s,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1), ("scope", "notes:read openid")],
        auth,
    )
    .await;
    assert_error(st, &body, 400, "invalid_scope");
    let (st, _, t2) =
        token(&s, &[("grant_type", "refresh_token"), ("refresh_token", &rt1), ("scope", "notes:read")], auth)
            .await;
    assert_eq!(st, 200, "{t2}");
    assert_eq!(t2["scope"], "notes:read");
    let rt2 = t2["refresh_token"].as_str().expect("rotated refresh token").to_owned();
    assert_ne!(rt1, rt2);

    // The rotated-out token is refused, and its reuse revokes the whole family.
    let (st, _, body) = token(&s, &[("grant_type", "refresh_token"), ("refresh_token", &rt1)], auth).await;
    assert_error(st, &body, 400, "invalid_grant");
    let (st, _, body) = token(&s, &[("grant_type", "refresh_token"), ("refresh_token", &rt2)], auth).await;
    assert_error(st, &body, 400, "invalid_grant");

    // Logs never carry secrets, tokens or passwords (checklist G7).
    let logs = s.logs();
    for secret_value in
        [secret.as_str(), &rt1, &rt2, t1["access_token"].as_str().unwrap(), "correct horse battery staple"]
    {
        assert!(!logs.contains(secret_value), "a secret reached the log");
    }
    assert!(logs.contains("path=/token"), "request log line missing: {logs}");
    assert!(logs.contains(&format!("client_id={id}")), "client_id missing from the request log");
}

#[tokio::test]
async fn refresh_without_rotation_keeps_the_token() {
    let s = Server::start_with(&[], &[("PORTCULLIS_ALWAYS_ISSUE_NEW_REFRESH_TOKEN", "false")]);
    s.user("bob", "pw-bob-123", &[]);
    let (id, secret) =
        s.client(&["--name", "app", "--grant-type", "password", "--grant-type", "refresh_token"]);
    let auth = Some((id.as_str(), secret.as_str()));
    let (_, _, t1) =
        token(&s, &[("grant_type", "password"), ("username", "bob"), ("password", "pw-bob-123")], auth).await;
    let rt = t1["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let (st, _, t) = token(&s, &[("grant_type", "refresh_token"), ("refresh_token", &rt)], auth).await;
        assert_eq!(st, 200, "{t}");
        assert!(t.get("refresh_token").is_none());
    }
}

#[tokio::test]
async fn default_scope_applies_and_unknown_or_disallowed_scope_is_invalid_scope() {
    let s = Server::start();
    s.cli(&["scope", "create", "basic", "--default", "--description", "Basic access", "--json"]).json();
    s.cli(&["scope", "create", "admin", "--description", "Administration", "--json"]).json();
    let (id, secret) = s.client(&["--name", "svc", "--grant-type", "client_credentials", "--scope", "basic"]);
    let auth = Some((id.as_str(), secret.as_str()));
    let (st, _, body) = token(&s, &[("grant_type", "client_credentials")], auth).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["scope"], "basic");
    let (st, _, body) = token(&s, &[("grant_type", "client_credentials"), ("scope", "admin")], auth).await;
    assert_error(st, &body, 400, "invalid_scope");
    let (st, _, body) =
        token(&s, &[("grant_type", "client_credentials"), ("scope", "nonexistent")], auth).await;
    assert_error(st, &body, 400, "invalid_scope");
    let (st, _, body) = token(&s, &[("grant_type", "client_credentials"), ("scope", "basic\"x")], auth).await;
    assert_error(st, &body, 400, "invalid_scope");
}

#[tokio::test]
async fn every_token_error_code_over_http() {
    let s = Server::start();
    let (id, secret) = s.client(&["--name", "svc", "--grant-type", "client_credentials"]);
    let (pub_id, _) = s.client(&["--name", "spa", "--public", "--redirect-uri", "https://spa.example/cb"]);
    let auth = Some((id.as_str(), secret.as_str()));

    // invalid_request: missing grant_type, repeated parameter.
    let (st, h, body) = token(&s, &[("scope", "x")], auth).await;
    assert_error(st, &body, 400, "invalid_request");
    assert_no_store(&h);
    let (st, _, body) =
        token(&s, &[("grant_type", "client_credentials"), ("grant_type", "client_credentials")], auth).await;
    assert_error(st, &body, 400, "invalid_request");

    // invalid_client: wrong secret, with WWW-Authenticate because Basic was used.
    let (st, h, body) = token(&s, &[("grant_type", "client_credentials")], Some((&id, "wrong"))).await;
    assert_error(st, &body, 401, "invalid_client");
    assert!(h.get("www-authenticate").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Basic")));
    // invalid_client: unknown client in the body, no header so no challenge needed.
    let (st, _, body) = token(
        &s,
        &[("grant_type", "client_credentials"), ("client_id", "nope"), ("client_secret", "x")],
        None,
    )
    .await;
    assert_error(st, &body, 401, "invalid_client");
    // invalid_request: two authentication methods at once (RFC 6749 §2.3).
    let (st, _, body) =
        token(&s, &[("grant_type", "client_credentials"), ("client_secret", &secret)], auth).await;
    assert_error(st, &body, 400, "invalid_request");

    // unsupported_grant_type.
    let (st, _, body) = token(&s, &[("grant_type", "urn:example:unknown")], auth).await;
    assert_error(st, &body, 400, "unsupported_grant_type");
    let (st, _, body) = token(&s, &[("grant_type", "CLIENT_CREDENTIALS")], auth).await;
    assert_error(st, &body, 400, "unsupported_grant_type");

    // unauthorized_client: the client is not allowed this grant.
    let (st, _, body) =
        token(&s, &[("grant_type", "password"), ("username", "a"), ("password", "b")], auth).await;
    assert_error(st, &body, 400, "unauthorized_client");

    // invalid_grant: a bogus refresh token / code.
    let (rid, rsecret) = s.client(&[
        "--name",
        "r",
        "--grant-type",
        "refresh_token",
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        "https://r.example/cb",
    ]);
    let rauth = Some((rid.as_str(), rsecret.as_str()));
    let (st, _, body) =
        token(&s, &[("grant_type", "refresh_token"), ("refresh_token", "pc_rt_bogus")], rauth).await;
    assert_error(st, &body, 400, "invalid_grant");
    let (st, _, body) = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", "pc_ac_bogus"),
            ("redirect_uri", "https://r.example/cb"),
        ],
        rauth,
    )
    .await;
    assert_error(st, &body, 400, "invalid_grant");

    // A public client cannot use client_credentials, and needs no secret to be identified.
    let (st, _, body) =
        token(&s, &[("grant_type", "client_credentials"), ("client_id", &pub_id)], None).await;
    assert_error(st, &body, 400, "unauthorized_client");
    // No credentials at all.
    let (st, _, body) = token(&s, &[("grant_type", "client_credentials")], None).await;
    assert_error(st, &body, 401, "invalid_client");
}

#[tokio::test]
async fn framing_errors_are_invalid_request_never_415_or_422() {
    let s = Server::start();
    let (id, secret) = s.client(&["--name", "svc", "--grant-type", "client_credentials"]);
    let c = http();
    let auth = basic_header(&id, &secret);
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("GET", c.get(s.url("/token?grant_type=client_credentials")).header("authorization", &auth)),
        (
            "PUT",
            c.put(s.url("/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials"),
        ),
        (
            "json body",
            c.post(s.url("/token"))
                .header("content-type", "application/json")
                .body("{\"grant_type\":\"client_credentials\"}"),
        ),
        (
            "no content type",
            c.post(s.url("/token")).header("authorization", &auth).body("grant_type=client_credentials"),
        ),
        (
            "empty body",
            c.post(s.url("/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", &auth),
        ),
        (
            "latin-1",
            c.post(s.url("/token"))
                .header("content-type", "application/x-www-form-urlencoded; charset=iso-8859-1")
                .header("authorization", &auth)
                .body("grant_type=client_credentials"),
        ),
        (
            "too large",
            c.post(s.url("/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", &auth)
                .body(format!("grant_type=client_credentials&x={}", "a".repeat(100_000))),
        ),
        (
            "two authorization headers",
            c.post(s.url("/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", &auth)
                .header("authorization", &auth)
                .body("grant_type=client_credentials"),
        ),
        (
            "malformed basic",
            c.post(s.url("/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", "Basic !!!")
                .body("grant_type=client_credentials"),
        ),
    ];
    for (name, req) in cases {
        let res = req.send().await.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let status = res.status().as_u16();
        let cache = res.headers().get("cache-control").cloned();
        let body: Value = res.json().await.unwrap_or_else(|_| panic!("{name}: not JSON"));
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{name}: {body}");
        assert_eq!(cache.as_ref().and_then(|v| v.to_str().ok()), Some("no-store"), "{name}");
    }
    // A valid charset parameter in odd case is fine.
    let res = c
        .post(s.url("/token"))
        .header("content-type", "Application/X-WWW-Form-Urlencoded; Charset=UTF-8")
        .header("authorization", &auth)
        .body(form_encode(&[("grant_type", "client_credentials")]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn settings_precedence_and_per_client_lifetimes() {
    // Environment sets 120, the flag overrides it with 60.
    let s = Server::start_with(
        &["--access-token-lifetime", "60"],
        &[("PORTCULLIS_ACCESS_TOKEN_LIFETIME", "120"), ("PORTCULLIS_REFRESH_TOKEN_LIFETIME", "999")],
    );
    let (id, secret) = s.client(&["--name", "svc", "--grant-type", "client_credentials"]);
    let (_, _, body) = token(&s, &[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    assert_eq!(body["expires_in"], 60);
    let (id2, secret2) =
        s.client(&["--name", "short", "--grant-type", "client_credentials", "--access-token-lifetime", "30"]);
    let (_, _, body) = token(&s, &[("grant_type", "client_credentials")], Some((&id2, &secret2))).await;
    assert_eq!(body["expires_in"], 30);
}

#[tokio::test]
async fn cli_changes_are_seen_by_the_running_server_at_once() {
    let s = Server::start();
    let (id, secret) = s.client(&["--name", "svc", "--grant-type", "client_credentials"]);
    let auth = Some((id.as_str(), secret.as_str()));
    let (st, _, _) = token(&s, &[("grant_type", "client_credentials")], auth).await;
    assert_eq!(st, 200);
    let new = s.cli(&["client", "rotate-secret", &id, "--json"]).json();
    let new_secret = new["client_secret"].as_str().unwrap().to_owned();
    let (st, _, _) = token(&s, &[("grant_type", "client_credentials")], auth).await;
    assert_eq!(st, 401, "old secret must stop working at once");
    let (st, _, _) = token(&s, &[("grant_type", "client_credentials")], Some((&id, &new_secret))).await;
    assert_eq!(st, 200);
    assert_eq!(s.cli(&["client", "delete", &id, "--json"]).status, 0);
    let (st, _, body) = token(&s, &[("grant_type", "client_credentials")], Some((&id, &new_secret))).await;
    assert_error(st, &body, 401, "invalid_client");
}

#[tokio::test]
async fn imported_client_secret_is_verified_with_argon2() {
    let s = Server::start();
    s.client(&[
        "--name",
        "legacy",
        "--id",
        "legacy-app",
        "--secret",
        "s3cret-from-old-system",
        "--grant-type",
        "client_credentials",
    ]);
    let (st, _, body) =
        token(&s, &[("grant_type", "client_credentials")], Some(("legacy-app", "s3cret-from-old-system")))
            .await;
    assert_eq!(st, 200, "{body}");
    let (st, _, _) = token(&s, &[("grant_type", "client_credentials")], Some(("legacy-app", "wrong"))).await;
    assert_eq!(st, 401);
}

#[tokio::test]
async fn health_endpoints_and_clean_shutdown() {
    let mut s = Server::start();
    let c = http();
    let alive = c.get(s.url("/health/alive")).send().await.unwrap();
    assert_eq!(alive.status().as_u16(), 200);
    let ready = c.get(s.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(s.terminate(), Some(0), "SIGTERM must stop the server cleanly");
    assert!(s.logs().contains("portcullis stopped"));
}

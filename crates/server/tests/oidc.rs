//! Issue #5 end to end with the real binary: discovery and JWKS over HTTP, `keys rotate` and
//! `keys retire`, UserInfo with a password-grant token, JWT access tokens accepted by the
//! example notes API through the JWKS alone, and signing keys sealed with key_encryption_key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[allow(dead_code, clippy::all)]
#[path = "../../axum/examples/notes.rs"]
mod notes;

use common::{basic_header, http, token, Server};
use portcullis_axum::{BearerLayer, JwksVerifier};
use serde_json::{json, Value};

async fn get_json(url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let res = http().get(url).send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.json().await.unwrap())
}

async fn kids(s: &Server) -> Vec<String> {
    let (_, _, jwks) = get_json(&s.url("/jwks.json")).await;
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn discovery_and_jwks_over_http_name_the_configured_issuer() {
    // Behind a TLS-terminating proxy: the issuer setting, not the bound address, names URLs.
    let s = Server::start_with(&["--issuer", "https://auth.example.com"], &[]);
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let (status, headers, m) = get_json(&s.url(path)).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["cache-control"], "public, max-age=300");
        assert_eq!(m["issuer"], "https://auth.example.com");
        assert_eq!(m["authorization_endpoint"], "https://auth.example.com/authorize");
        assert_eq!(m["jwks_uri"], "https://auth.example.com/jwks.json");
        assert_eq!(m["userinfo_endpoint"], "https://auth.example.com/userinfo");
        assert_eq!(m["id_token_signing_alg_values_supported"], json!(["RS256"]));
        assert!(m["scopes_supported"].as_array().unwrap().contains(&json!("openid")));
    }
    let (status, headers, jwks) = get_json(&s.url("/jwks.json")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["access-control-allow-origin"], "*");
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "a key is generated on first start");
    assert_eq!(
        (keys[0]["kty"].as_str(), keys[0]["alg"].as_str(), keys[0]["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert!(keys[0].get("d").is_none());
}

#[tokio::test]
async fn keys_rotate_publishes_both_and_retire_now_removes_one() {
    let s = Server::start();
    let before = kids(&s).await;
    let rotated = s.cli(&["keys", "rotate", "--json"]).json();
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated["status"], "active");
    assert!(rotated.get("private_key").is_none() && rotated["public_jwk"].get("d").is_none());
    // The running server sees the change at once.
    assert_eq!(kids(&s).await, vec![before[0].clone(), new_kid.clone()]);
    let list = s.cli(&["keys", "list", "--json"]).json();
    let statuses: Vec<&str> =
        list.as_array().unwrap().iter().map(|k| k["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["retired", "active"]);
    // The old key is published until its tokens expire: 3600 s + 60 s after the rotation.
    let old = &list[0];
    assert_eq!(old["expires_at"].as_i64().unwrap() - old["retire_at"].as_i64().unwrap(), 3660);
    let text = s.cli(&["keys", "list"]);
    assert!(text.stdout.contains("retired") && text.stdout.contains(&new_kid), "{}", text.stdout);

    let retired = s.cli(&["keys", "retire", &before[0], "--now", "--json"]).json();
    assert_eq!(retired["retired"]["status"], "expired");
    assert_eq!(kids(&s).await, vec![new_kid]);
    let r = s.cli(&["keys", "retire", "no-such-kid"]);
    assert_ne!(r.status, 0);
}

#[tokio::test]
async fn userinfo_answers_a_password_grant_token_with_openid() {
    let s = Server::start();
    s.user(
        "alice",
        "correct horse",
        &[
            "--email",
            "alice@example.com",
            "--email-verified",
            "--name",
            "Alice Liddell",
            "--phone-number",
            "+1 555 0100",
            "--address",
            r#"{"locality":"Oxford","country":"UK"}"#,
        ],
    );
    let (id, secret) = s.client(&[
        "--name",
        "app",
        "--grant-type",
        "password",
        "--scope",
        "openid profile email phone address",
    ]);
    let (status, _, body) = token(
        &s,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "correct horse"),
            ("scope", "openid email address"),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string(), "openid gives an ID token: {body}");
    let at = body["access_token"].as_str().unwrap();
    for post in [false, true] {
        let req = if post { http().post(s.url("/userinfo")) } else { http().get(s.url("/userinfo")) };
        let res = req.bearer_auth(at).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let claims: Value = res.json().await.unwrap();
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["email_verified"], true);
        assert_eq!(claims["address"], json!({"locality": "Oxford", "country": "UK"}));
        assert!(
            claims["sub"].is_string() && claims.get("name").is_none() && claims.get("phone_number").is_none()
        );
    }
    let res = http().get(s.url("/userinfo")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer realm="));
    // Bad --address is refused by the CLI.
    let bad =
        s.cli_stdin(&["user", "create", "--username", "bob", "--password-stdin", "--address", "[1]"], "pw\n");
    assert_ne!(bad.status, 0);
}

#[tokio::test]
async fn jwt_access_token_opens_the_example_api_through_the_jwks_alone() {
    let s = Server::start();
    s.cli(&["scope", "create", "notes:read", "--json"]).json();
    let (id, secret) = s.client(&[
        "--name",
        "app",
        "--grant-type",
        "client_credentials",
        "--scope",
        "notes:read",
        "--access-token-format",
        "jwt",
    ]);
    let shown = s.cli(&["client", "show", &id, "--json"]).json();
    assert_eq!(shown["access_token_format"], "jwt");
    // The notes example in its JWKS mode: no credentials, no call to /introspect per request.
    let verifier = JwksVerifier::new(s.url("/jwks.json"), s.base.clone(), "http://notes.test");
    let app = notes::app(BearerLayer::jwks(verifier).realm("notes"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (_, _, body) = token(
        &s,
        &[("grant_type", "client_credentials"), ("scope", "notes:read"), ("resource", "http://notes.test")],
        Some((&id, &secret)),
    )
    .await;
    let at = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(at.matches('.').count(), 2, "a JWT: {at}");
    let res = http().get(format!("{api}/notes")).bearer_auth(&at).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["owner"], format!("client:{id}"));
    // A JWT for the issuer's own audience (no resource) is not for this API.
    let (_, _, body) =
        token(&s, &[("grant_type", "client_credentials"), ("scope", "notes:read")], Some((&id, &secret)))
            .await;
    let other = body["access_token"].as_str().unwrap();
    let res = http().get(format!("{api}/notes")).bearer_auth(other).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    // The server itself verifies it locally, and revocation by jti is seen by /introspect.
    let introspect = |t: String| {
        let (id, secret) = (id.clone(), secret.clone());
        let url = s.url("/introspect");
        async move {
            http()
                .post(url)
                .header("authorization", basic_header(&id, &secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={t}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let i = introspect(at.clone()).await;
    assert_eq!((i["active"].as_bool(), i["aud"].as_str()), (Some(true), Some("http://notes.test")));
    let res = http()
        .post(s.url("/revoke"))
        .header("authorization", basic_header(&id, &secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(introspect(at).await, json!({"active": false}));
    // Never a token in the log.
    assert!(!s.logs().contains(other));
}

#[tokio::test]
async fn signing_keys_are_sealed_with_the_key_encryption_key() {
    let kek = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let s = Server::start_with(
        &[],
        &[("PORTCULLIS_KEY_ENCRYPTION_KEY", kek), ("PORTCULLIS_SIGNING_ALG", "ES256")],
    );
    let (_, _, jwks) = get_json(&s.url("/jwks.json")).await;
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    // Without the key, a management command cannot add a key in the clear.
    let r = s.cli(&["keys", "rotate"]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("key_encryption_key"), "{}", r.stderr);
    // The database holds no PKCS#8 in the clear.
    assert!(s.db.contains("aes256gcm:") && !s.db.contains("pkcs8:"));
    // `config show` never prints the key.
    let out = std::process::Command::new(common::BIN)
        .args(["config", "show"])
        .env("PORTCULLIS_KEY_ENCRYPTION_KEY", kek)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("key_encryption_key") && !out.contains(kek), "{out}");
}

#[tokio::test]
async fn the_code_flow_over_the_pages_returns_an_id_token_that_verifies_with_the_published_jwks() {
    const CB: &str = "https://notes.example/cb";
    // RFC 7636 Appendix B.
    const V: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const C: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let s = Server::start();
    for scope in ["openid", "offline_access", "email"] {
        s.cli(&["scope", "create", scope, "--description", scope, "--json"]).json();
    }
    let alice = s.user("alice", "pw-alice-1", &["--email", "alice@example.com"]);
    let (id, secret) =
        s.client(&["--name", "Notes", "--redirect-uri", CB, "--scope", "openid offline_access email"]);
    let mut b = common::Browser::new();
    let url = common::authorize_url(
        &s,
        &[
            ("response_type", "code"),
            ("client_id", &id),
            ("redirect_uri", CB),
            ("scope", "openid offline_access email"),
            ("state", "st1"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", C),
            ("code_challenge_method", "S256"),
        ],
    );
    let start = b.get(&url).await;
    let login = b.get(&s.url(start.location().unwrap())).await;
    let form = |p: &common::Page, n: &str| p.field(n).unwrap_or_else(|| panic!("no {n}: {}", p.body));
    let after_login = b
        .post_form(
            &s.url("/login"),
            &[
                ("interaction", &form(&login, "interaction")),
                ("csrf", &form(&login, "csrf")),
                ("username", "alice"),
                ("password", "pw-alice-1"),
            ],
        )
        .await;
    let consent = b.get(&s.url(after_login.location().unwrap())).await;
    let done = b
        .post_form(
            &s.url("/consent"),
            &[
                ("interaction", &form(&consent, "interaction")),
                ("csrf", &form(&consent, "csrf")),
                ("decision", "approve"),
            ],
        )
        .await;
    let code = common::url_param(done.location().unwrap(), "code").unwrap();
    let (status, _, body) = token(
        &s,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB), ("code_verifier", V)],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].is_string(), "offline_access was granted: {body}");
    // Verify the ID token the way a relying party does: keys from the published JWKS only.
    let (_, _, jwks) = get_json(&s.url("/jwks.json")).await;
    let keys: Vec<serde_json::Map<String, Value>> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k.as_object().unwrap().clone()).collect();
    use portcullis_core::Clock;
    let check = portcullis_core::signing::JwtCheck {
        typ: "JWT",
        issuer: &s.base,
        audience: Some(&id),
        now: portcullis_core::SystemClock.now(),
        leeway: 60,
    };
    let claims =
        portcullis_core::signing::verify_jwt(body["id_token"].as_str().unwrap(), &keys, &check).unwrap();
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["sub"], alice["id"]);
    assert!(claims["auth_time"].is_i64());
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(
        claims["at_hash"],
        portcullis_core::id_token::at_hash(portcullis_core::SigningAlg::RS256, at).as_str()
    );
    let userinfo: Value =
        http().get(s.url("/userinfo")).bearer_auth(at).send().await.unwrap().json().await.unwrap();
    assert_eq!(userinfo, json!({"sub": alice["id"], "email": "alice@example.com"}));
}

#[tokio::test]
async fn scheduled_rotation_publishes_the_next_key_before_it_signs() {
    // Every second, for the test: the next key is published, then signs a second later.
    let s = Server::start_with(
        &[],
        &[("PORTCULLIS_KEY_ROTATION_INTERVAL", "1"), ("PORTCULLIS_SIGNING_ALG", "EdDSA")],
    );
    let first = kids(&s).await;
    assert_eq!(first.len(), 1);
    let mut seen = first.clone();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        seen = kids(&s).await;
        if seen.len() > 1 {
            break;
        }
    }
    assert!(seen.len() > 1 && seen[0] == first[0], "a new key joins the published one: {seen:?}");
    let list = s.cli(&["keys", "list", "--json"]).json();
    assert!(list.as_array().unwrap().iter().all(|k| k["alg"] == "EdDSA"));
}

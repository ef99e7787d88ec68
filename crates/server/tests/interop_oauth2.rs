//! Interoperability with the `oauth2` crate, a spec-strict client library written by others:
//! what it rejects, users' applications reject. Every grant against the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/flow.rs"]
mod flow;

use common::Server;
use flow::{query_param, Agent};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    RefreshToken, ResourceOwnerPassword, ResourceOwnerUsername, Scope, TokenResponse, TokenUrl,
};

fn http_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn setup() -> Server {
    let s = Server::start();
    s.cli(&["scope", "create", "notes:read", "--description", "Read your notes", "--json"]).json();
    s.cli(&["scope", "create", "notes:write", "--description", "Write notes", "--json"]).json();
    s.user("alice", "pw-alice-1", &[]);
    s
}

#[tokio::test]
async fn authorization_code_with_pkce_then_refresh() {
    let s = setup();
    let (id, secret) = s.client(&[
        "--name",
        "Notes",
        "--redirect-uri",
        "http://127.0.0.1/callback",
        "--scope",
        "notes:read notes:write",
    ]);
    let client = BasicClient::new(ClientId::new(id))
        .set_client_secret(ClientSecret::new(secret))
        .set_auth_uri(AuthUrl::new(s.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap())
        // RFC 8252 §7.3: a loopback redirect may use any port.
        .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:43117/callback".into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("notes:read".into()))
        .add_scope(Scope::new("notes:write".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = Agent::default().authorize(&s, url.as_str(), "alice", "pw-alice-1", true).await;
    assert!(back.starts_with("http://127.0.0.1:43117/callback?"), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(query_param(&back, "iss").as_deref(), Some(s.base.as_str()), "RFC 9207 iss");
    let code = query_param(&back, "code").unwrap();

    let http = http_client();
    let token = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("oauth2 crate refused our token response: {e:?}"));
    assert!(token.access_token().secret().starts_with("pc_at_"));
    let scopes: Vec<String> = token.scopes().unwrap().iter().map(|s| s.to_string()).collect();
    assert_eq!(scopes, ["notes:read", "notes:write"]);
    let refresh = token.refresh_token().expect("refresh token").clone();

    let narrowed = client
        .exchange_refresh_token(&refresh)
        .add_scope(Scope::new("notes:read".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(narrowed.scopes().unwrap().len(), 1);
    let rotated = narrowed.refresh_token().unwrap().clone();
    assert_ne!(rotated.secret(), refresh.secret(), "rotation");

    // The code is single use: the library surfaces invalid_grant, and the replay revokes
    // everything the code led to, rotated refresh tokens included (RFC 6749 §4.1.2).
    let again = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeChallenge::new_random_sha256().1)
        .request_async(&http)
        .await;
    let err = format!("{:?}", again.unwrap_err());
    assert!(err.contains("invalid_grant"), "{err}");
    let after = client
        .exchange_refresh_token(&RefreshToken::new(rotated.secret().clone()))
        .request_async(&http)
        .await;
    assert!(format!("{:?}", after.unwrap_err()).contains("invalid_grant"));
}

#[tokio::test]
async fn client_credentials_and_password_grants() {
    let s = setup();
    let (id, secret) = s.client(&[
        "--name",
        "svc",
        "--grant-type",
        "client_credentials",
        "--grant-type",
        "password",
        "--grant-type",
        "refresh_token",
        "--scope",
        "notes:read",
    ]);
    let client = BasicClient::new(ClientId::new(id))
        .set_client_secret(ClientSecret::new(secret))
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap());
    let http = http_client();
    let cc = client
        .exchange_client_credentials()
        .add_scope(Scope::new("notes:read".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert!(cc.refresh_token().is_none());
    assert_eq!(cc.expires_in().map(|d| d.as_secs()), Some(3600));
    let pw = client
        .exchange_password(
            &ResourceOwnerUsername::new("alice".into()),
            &ResourceOwnerPassword::new("pw-alice-1".into()),
        )
        .request_async(&http)
        .await
        .unwrap();
    assert!(pw.refresh_token().is_some());
    let bad = client
        .exchange_password(
            &ResourceOwnerUsername::new("alice".into()),
            &ResourceOwnerPassword::new("nope".into()),
        )
        .request_async(&http)
        .await;
    assert!(format!("{:?}", bad.unwrap_err()).contains("invalid_grant"));
    let bad_scope =
        client.exchange_client_credentials().add_scope(Scope::new("admin".into())).request_async(&http).await;
    assert!(format!("{:?}", bad_scope.unwrap_err()).contains("invalid_scope"));
}

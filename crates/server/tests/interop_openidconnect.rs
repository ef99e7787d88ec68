//! Interoperability with the `openidconnect` crate, a spec-strict OpenID Connect client written
//! by others (issue #5): it discovers the issuer, runs the code flow with PKCE and a nonce over
//! the real login and consent pages, validates the ID token's signature (keys from our JWKS)
//! and claims, checks `at_hash`, and calls userinfo. What it rejects, users' applications
//! reject.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/flow.rs"]
mod flow;

use common::Server;
use flow::{query_param, Agent};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

fn http_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn discovery_code_flow_id_token_and_userinfo() {
    let s = Server::start();
    s.cli(&["scope", "create", "notes:read", "--description", "Read your notes", "--json"]).json();
    s.user("alice", "pw-alice-1", &["--email", "alice@example.com", "--name", "Alice Liddell"]);
    let (id, secret) = s.client(&[
        "--name",
        "OIDC App",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--scope",
        "openid profile email offline_access notes:read",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
    ]);
    let http = http_client();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(s.base.clone()).unwrap(), &http)
        .await
        .unwrap_or_else(|e| panic!("openidconnect refused our discovery document or JWKS: {e:?}"));
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:45678/cb".into()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = Agent::default().authorize(&s, url.as_str(), "alice", "pw-alice-1", true).await;
    assert_eq!(query_param(&back, "state").as_deref(), Some(csrf.secret().as_str()), "{back}");
    let code = query_param(&back, "code").unwrap_or_else(|| panic!("no code: {back}"));

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("openidconnect refused our token response: {e:?}"));
    assert!(tokens.refresh_token().is_some(), "offline_access was granted");
    let id_token = tokens.id_token().expect("an ID token for scope openid");
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .unwrap_or_else(|e| panic!("openidconnect refused our ID token: {e:?}"));
    assert_eq!(claims.issuer().as_str(), s.base);
    assert_eq!(claims.audiences().iter().map(|a| a.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    assert!(claims.auth_time().is_some());
    // at_hash binds the access token to the ID token (OIDC Core §3.1.3.6).
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected);

    // Negative: a wrong nonce, or a verifier for another client (wrong aud), is refused.
    assert!(id_token.claims(&id_verifier, &Nonce::new("not-the-nonce".into())).is_err(), "nonce mismatch");
    let other = CoreClient::from_provider_metadata(
        CoreProviderMetadata::discover_async(IssuerUrl::new(s.base.clone()).unwrap(), &http).await.unwrap(),
        ClientId::new("someone-else".into()),
        None,
    );
    assert!(id_token.claims(&other.id_token_verifier(), &nonce).is_err(), "wrong aud");

    // userinfo with the access token: claims by scope, sub equal to the ID token's.
    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().to_owned(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("openidconnect refused our userinfo response: {e:?}"));
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));
    assert_eq!(info.name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some("Alice Liddell"));
}

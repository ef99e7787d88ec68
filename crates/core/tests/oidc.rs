//! OpenID Connect through the core API (issue #5): ID tokens on the code exchange (OIDC Core
//! §3.1.3.6), `offline_access` (§11), refreshes (§12.2), UserInfo (§5.3), JWT access tokens
//! (RFC 9068) with resource indicators (RFC 8707), signing key rotation with a FixedClock, and
//! the verifier's refusals (RFC 8725).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_core::id_token::at_hash;
use portcullis_core::model::secret::hash_token;
use portcullis_core::signing::generate_key;
use portcullis_core::store::{AccountStore, KeyStore, TokenStore};
use portcullis_core::{
    Builder, Config, ErrorCode, KeyEncryptionKey, NewAuthorizationCode, OAuthServer, Params, ScopeSet,
    SigningAlg, Store, TokenRequest,
};
use portcullis_testkit::fixtures::{error_code, field, json_body, START};
use portcullis_testkit::{ClientSpec, Fixture};
use serde_json::{json, Map, Value};

const CB: &str = "https://app.example/cb";
const ISS: &str = "https://as.test";

fn config() -> Config {
    Config { issuer: ISS.into(), ..Config::default() }
}

fn es256() -> Config {
    Config { signing_alg: SigningAlg::ES256, ..config() }
}

struct Op {
    f: Fixture,
    id: String,
    secret: String,
    alice: String,
}

async fn op_with(config: Config, spec: ClientSpec) -> Op {
    let f = Fixture::with_config(config);
    for s in ["openid", "profile", "email", "phone", "address", "offline_access", "notes:read"] {
        f.add_scope(s, false).await;
    }
    let (id, secret) =
        f.add_client(spec.scopes("openid profile email phone address offline_access notes:read")).await;
    let alice = f.add_user("alice", "correct horse").await;
    let mut account = f.store.get_account(&alice).await.unwrap().unwrap();
    let claims = json!({
        "email": "alice@example.com",
        "email_verified": true,
        "name": "Alice Liddell",
        "phone_number": "+1 555 0100",
        "address": {"locality": "Oxford", "country": "UK"},
        "favourite_colour": "blue",
    });
    account.claims = claims.as_object().cloned().unwrap();
    f.store.update_account(&account).await.unwrap();
    Op { f, id, secret, alice }
}

async fn op(config: Config) -> Op {
    op_with(
        config,
        ClientSpec::confidential(&["authorization_code", "refresh_token", "password", "client_credentials"]),
    )
    .await
}

impl Op {
    async fn code(&self, scope: &str, nonce: Option<&str>) -> String {
        let req = NewAuthorizationCode {
            client_id: self.id.clone(),
            subject: self.alice.clone(),
            redirect_uri: CB.into(),
            redirect_uri_given: true,
            scopes: ScopeSet::parse(scope).unwrap(),
            code_challenge: None,
            nonce: nonce.map(str::to_owned),
            auth_time: Some(START - 30),
        };
        self.f.server.issue_authorization_code(req).await.unwrap().expose().to_owned()
    }

    async fn token(&self, pairs: &[(&str, &str)]) -> Value {
        let res = self.f.token(pairs, Some((&self.id, &self.secret))).await;
        assert_eq!(res.status(), 200, "{}", res.body());
        json_body(&res)
    }

    async fn exchange(&self, scope: &str, nonce: Option<&str>) -> Value {
        let code = self.code(scope, nonce).await;
        self.token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]).await
    }

    fn server(&self) -> &OAuthServer {
        &self.f.server
    }
}

/// The decoded (unverified) header and claims of a compact JWS.
fn parts(jwt: &str) -> (Value, Value) {
    let p: Vec<&str> = jwt.split('.').collect();
    assert_eq!(p.len(), 3, "not a JWS: {jwt}");
    let dec = |s: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap();
    (dec(p[0]), dec(p[1]))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

async fn kids(server: &OAuthServer) -> Vec<String> {
    let jwks = server.jwks().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// ID tokens

#[tokio::test]
async fn code_exchange_with_openid_returns_an_rs256_id_token_with_the_core_claims() {
    let o = op(config()).await;
    let body = o.exchange("openid profile", Some("n-0S6_WzA2Mj")).await;
    let id_token = s(&body["id_token"]);
    let (header, claims) = parts(id_token);
    assert_eq!(header["alg"], "RS256", "RS256 is the default (OIDC Core §15.1)");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(kids(o.server()).await, vec![s(&header["kid"]).to_owned()], "signed by the published key");
    assert_eq!(claims["iss"], ISS);
    assert_eq!(claims["sub"], o.alice.as_str(), "sub is the stable account id");
    assert_eq!(claims["aud"], o.id.as_str());
    assert_eq!(claims["iat"], START);
    assert_eq!(claims["exp"], START + 3600);
    assert_eq!(claims["auth_time"], START - 30);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert!(claims.get("azp").is_none(), "a single audience needs no azp");
    assert_eq!(claims["at_hash"], at_hash(SigningAlg::RS256, s(&body["access_token"])).as_str());
    // Profile claims go to UserInfo, not the ID token (OIDC Core §5.4).
    assert!(claims.get("name").is_none() && claims.get("email").is_none());
    let verified = o.server().verify_id_token(id_token, &o.id, Some("n-0S6_WzA2Mj")).await.unwrap();
    assert_eq!(Value::Object(verified), claims);
}

#[tokio::test]
async fn nonce_is_echoed_only_when_the_request_had_one_and_no_openid_means_no_id_token() {
    let o = op(es256()).await;
    let body = o.exchange("openid", None).await;
    let (header, claims) = parts(s(&body["id_token"]));
    assert_eq!(header["alg"], "ES256");
    assert!(claims.get("nonce").is_none());
    let body = o.exchange("profile", Some("n1")).await;
    assert!(body.get("id_token").is_none(), "no openid scope, plain OAuth: {body}");
}

#[tokio::test]
async fn offline_access_decides_refresh_tokens_for_openid_requests_only() {
    let o = op(es256()).await;
    let body = o.exchange("openid profile", None).await;
    assert!(body.get("refresh_token").is_none(), "openid without offline_access: {body}");
    let body = o.exchange("openid offline_access", None).await;
    assert!(body["refresh_token"].is_string(), "offline_access granted: {body}");
    let body = o.exchange("profile", None).await;
    assert!(body["refresh_token"].is_string(), "non-OIDC requests keep OAuth behaviour: {body}");
    let body = o
        .token(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "correct horse"),
            ("scope", "openid"),
        ])
        .await;
    assert!(body.get("refresh_token").is_none() && body["id_token"].is_string(), "{body}");
}

#[tokio::test]
async fn refresh_with_openid_returns_a_new_id_token_without_nonce_and_with_the_original_auth_time() {
    let o = op(es256()).await;
    let first = o.exchange("openid offline_access", Some("n1")).await;
    o.f.clock.advance(100);
    let body =
        o.token(&[("grant_type", "refresh_token"), ("refresh_token", s(&first["refresh_token"]))]).await;
    let (_, claims) = parts(s(&body["id_token"]));
    let (_, original) = parts(s(&first["id_token"]));
    assert_eq!(
        (&claims["iss"], &claims["sub"], &claims["aud"]),
        (&original["iss"], &original["sub"], &original["aud"])
    );
    assert_eq!(claims["auth_time"], START - 30, "OIDC Core §12.2: the time of the original authentication");
    assert_eq!(claims["iat"], START + 100);
    assert!(claims.get("nonce").is_none());
    assert_eq!(claims["at_hash"], at_hash(SigningAlg::ES256, s(&body["access_token"])).as_str());
}

// ---------------------------------------------------------------------------------------------
// The verifier refuses (RFC 8725)

/// A JWS signed with `key` (a generated record with its PKCS#8 in the clear) but claiming `kid`.
fn forge(key: &portcullis_core::SigningKeyRecord, kid: &str, typ: &str, claims: &Value) -> String {
    let pkcs8 = URL_SAFE_NO_PAD.decode(key.private_key.expose().strip_prefix("pkcs8:").unwrap()).unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.kid = Some(kid.into());
    h.typ = Some(typ.into());
    jsonwebtoken::encode(&h, claims, &jsonwebtoken::EncodingKey::from_ec_der(&pkcs8)).unwrap()
}

fn unsigned(header: &Value, claims: &Value) -> String {
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", enc(header), enc(claims))
}

#[tokio::test]
async fn the_verifier_refuses_wrong_nonce_wrong_aud_alg_none_hmac_and_foreign_keys() {
    let o = op(es256()).await;
    let body = o.exchange("openid", Some("n1")).await;
    let good = s(&body["id_token"]).to_owned();
    let (header, claims) = parts(&good);
    let kid = s(&header["kid"]).to_owned();
    let srv = o.server();
    assert!(srv.verify_id_token(&good, &o.id, Some("n1")).await.is_ok());
    let refused = |r: Result<Map<String, Value>, portcullis_core::OAuthError>| {
        r.err().map(|e| e.code) == Some(ErrorCode::InvalidToken)
    };
    assert!(refused(srv.verify_id_token(&good, &o.id, Some("other")).await), "nonce mismatch");
    assert!(refused(srv.verify_id_token(&good, "another-client", None).await), "wrong aud");
    // alg none, with and without a signature part.
    let none = unsigned(&json!({"alg": "none", "typ": "JWT", "kid": kid}), &claims);
    assert!(refused(srv.verify_id_token(&none, &o.id, None).await), "alg none");
    assert!(refused(srv.verify_id_token(&format!("{none}c2ln"), &o.id, None).await), "alg none + sig");
    // HS256 keyed with our published public key (algorithm confusion).
    let jwks = srv.jwks().await.unwrap();
    for secret in [jwks["keys"][0].to_string(), jwks.to_string(), s(&jwks["keys"][0]["x"]).to_owned()] {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some(kid.clone());
        h.typ = Some("JWT".into());
        let t = jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()))
            .unwrap();
        assert!(refused(srv.verify_id_token(&t, &o.id, None).await), "HS256 with the public key");
    }
    // A key from outside the JWKS: under our kid, and under its own.
    let stranger = generate_key(SigningAlg::ES256, None, START, START).unwrap();
    assert!(refused(srv.verify_id_token(&forge(&stranger, &kid, "JWT", &claims), &o.id, None).await));
    assert!(refused(
        srv.verify_id_token(&forge(&stranger, &stranger.kid, "JWT", &claims), &o.id, None).await
    ));
    // An access token is not an ID token, and an ID token is not an access token (RFC 8725 §3.11).
    assert!(refused(srv.verify_own_jwt(&good, "at+jwt", None).await));
    assert_eq!(srv.verify_bearer(&good).await.err().map(|e| e.code), Some(ErrorCode::InvalidToken));
    assert_eq!(srv.userinfo(&good).await.err().map(|e| e.code), Some(ErrorCode::InvalidToken));
    // Expired.
    o.f.clock.advance(3600);
    assert!(refused(srv.verify_id_token(&good, &o.id, None).await), "expired");
}

// ---------------------------------------------------------------------------------------------
// JWT access tokens (RFC 9068) and resource indicators (RFC 8707)

async fn introspect(o: &Op, token: &str) -> Value {
    let req = TokenRequest {
        params: Params::from_pairs([("token", token)]).unwrap(),
        authorization: Some(portcullis_testkit::basic_header(&o.id, &o.secret)),
    };
    o.server().introspect(req).await.result.unwrap().0
}

async fn revoke(o: &Op, token: &str) {
    let req = TokenRequest {
        params: Params::from_pairs([("token", token)]).unwrap(),
        authorization: Some(portcullis_testkit::basic_header(&o.id, &o.secret)),
    };
    o.server().revoke(req).await.result.unwrap();
}

#[tokio::test]
async fn jwt_client_gets_rfc9068_access_tokens_that_verify_introspect_and_revoke() {
    let spec = ClientSpec::confidential(&["client_credentials", "password"]).jwt();
    let o = op_with(es256(), spec).await;
    let body = o
        .token(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "correct horse"),
            ("scope", "notes:read"),
        ])
        .await;
    let at = s(&body["access_token"]).to_owned();
    let (header, claims) = parts(&at);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], ISS);
    assert_eq!(claims["sub"], o.alice.as_str());
    assert_eq!(claims["aud"], ISS, "no resource: the audience is the issuer itself");
    assert_eq!(claims["client_id"], o.id.as_str());
    assert_eq!(claims["scope"], "notes:read");
    assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(START), Some(START + 3600)));
    let jti = s(&claims["jti"]).to_owned();
    assert!(jti.len() >= 43, "256-bit jti");
    // Stored by the hash of the jti, never the token.
    assert!(o.f.store.get_access(&hash_token(&jti)).await.unwrap().is_some());
    assert!(o.f.store.get_access(&hash_token(&at)).await.unwrap().is_none());

    let info = o.server().verify_bearer(&at).await.unwrap();
    assert_eq!((info.subject.as_deref(), info.jti.as_str()), (Some(o.alice.as_str()), jti.as_str()));
    assert_eq!(info.audience, vec![ISS.to_owned()]);
    let i = introspect(&o, &at).await;
    assert_eq!(
        (i["active"].as_bool(), i["aud"].as_str(), i["jti"].as_str()),
        (Some(true), Some(ISS), Some(jti.as_str()))
    );
    assert_eq!(i["username"], "alice");

    revoke(&o, &at).await;
    assert_eq!(o.server().verify_bearer(&at).await.err().map(|e| e.code), Some(ErrorCode::InvalidToken));
    assert_eq!(introspect(&o, &at).await, json!({"active": false}));

    // Client credentials: sub is the client (RFC 9068 §2.2), subject stays None.
    let body = o.token(&[("grant_type", "client_credentials"), ("scope", "notes:read")]).await;
    let (_, claims) = parts(s(&body["access_token"]));
    assert_eq!(claims["sub"], o.id.as_str());
    assert_eq!(o.server().verify_bearer(s(&body["access_token"])).await.unwrap().subject, None);
    o.f.clock.advance(3600);
    assert_eq!(
        o.server().verify_bearer(s(&body["access_token"])).await.err().map(|e| e.code),
        Some(ErrorCode::InvalidToken)
    );
}

#[tokio::test]
async fn resource_indicator_gives_a_jwt_for_that_audience_and_bad_ones_are_invalid_target() {
    let o = op(es256()).await;
    let body = o
        .token(&[
            ("grant_type", "client_credentials"),
            ("scope", "notes:read"),
            ("resource", "https://rs1.test/api"),
        ])
        .await;
    let at = s(&body["access_token"]).to_owned();
    let (_, claims) = parts(&at);
    assert_eq!(
        claims["aud"], "https://rs1.test/api",
        "even an opaque-format client gets a JWT for a resource"
    );
    assert_eq!(introspect(&o, &at).await["aud"], "https://rs1.test/api");
    let two = o
        .token(&[
            ("grant_type", "client_credentials"),
            ("resource", "https://a.test/"),
            ("resource", "https://b.test/"),
        ])
        .await;
    assert_eq!(parts(s(&two["access_token"])).1["aud"], json!(["https://a.test/", "https://b.test/"]));
    // A token for another resource is not accepted at UserInfo.
    let body = o
        .token(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "correct horse"),
            ("scope", "openid"),
            ("resource", "https://rs1.test/api"),
        ])
        .await;
    assert_eq!(
        o.server().userinfo(s(&body["access_token"])).await.err().map(|e| e.code),
        Some(ErrorCode::InvalidToken)
    );

    let before = o.f.store.token_count();
    for bad in ["/relative", "https://rs1.test/#frag", "not a uri"] {
        let res =
            o.f.token(&[("grant_type", "client_credentials"), ("resource", bad)], Some((&o.id, &o.secret)))
                .await;
        assert_eq!(
            (res.status().as_u16(), error_code(&res).as_deref()),
            (400, Some("invalid_target")),
            "{bad}"
        );
    }
    // The code is not burnt by a bad resource: it is checked before the grant runs.
    let code = o.code("openid", None).await;
    let res =
        o.f.token(
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB), ("resource", "x")],
            Some((&o.id, &o.secret)),
        )
        .await;
    assert_eq!(error_code(&res).as_deref(), Some("invalid_target"));
    assert_eq!(o.f.store.token_count(), before, "nothing issued");
    let res =
        o.f.token(
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)],
            Some((&o.id, &o.secret)),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.body());
}

// ---------------------------------------------------------------------------------------------
// UserInfo

#[tokio::test]
async fn userinfo_returns_sub_and_the_claims_the_scopes_allow() {
    let o = op(es256()).await;
    let password = |scope: &'static str| {
        [("grant_type", "password"), ("username", "alice"), ("password", "correct horse"), ("scope", scope)]
    };
    let at = field_of(&o.token(&password("openid")).await, "access_token");
    assert_eq!(Value::Object(o.server().userinfo(&at).await.unwrap()), json!({"sub": o.alice}));
    let at = field_of(&o.token(&password("openid email phone address")).await, "access_token");
    let claims = Value::Object(o.server().userinfo(&at).await.unwrap());
    assert_eq!(
        claims,
        json!({
            "sub": o.alice,
            "email": "alice@example.com",
            "email_verified": true,
            "phone_number": "+1 555 0100",
            "address": {"locality": "Oxford", "country": "UK"},
        })
    );
    let at = field_of(&o.token(&password("openid profile")).await, "access_token");
    let claims = o.server().userinfo(&at).await.unwrap();
    assert_eq!(
        (claims["name"].as_str(), claims["preferred_username"].as_str()),
        (Some("Alice Liddell"), Some("alice"))
    );
    assert!(!claims.contains_key("favourite_colour") && !claims.contains_key("email"));

    let at = field_of(&o.token(&password("profile")).await, "access_token");
    assert_eq!(o.server().userinfo(&at).await.err().map(|e| e.code), Some(ErrorCode::InsufficientScope));
    let at = field_of(
        &o.token(&[("grant_type", "client_credentials"), ("scope", "openid")]).await,
        "access_token",
    );
    assert_eq!(
        o.server().userinfo(&at).await.err().map(|e| e.code),
        Some(ErrorCode::InvalidToken),
        "no user"
    );
    assert_eq!(
        o.server().userinfo("pc_at_garbage").await.err().map(|e| e.code),
        Some(ErrorCode::InvalidToken)
    );
}

fn field_of(v: &Value, name: &str) -> String {
    s(&v[name]).to_owned()
}

// ---------------------------------------------------------------------------------------------
// Keys: rotation, retention, retirement, encryption at rest

#[tokio::test]
async fn rotated_key_stays_published_until_what_it_signed_has_expired() {
    let o =
        op_with(es256(), ClientSpec::confidential(&["authorization_code", "client_credentials"]).jwt()).await;
    let old_body = o.exchange("openid", None).await;
    let (old_at, old_id) = (field_of(&old_body, "access_token"), field_of(&old_body, "id_token"));
    let old_kid = s(&parts(&old_at).0["kid"]).to_owned();
    assert_eq!(kids(o.server()).await, vec![old_kid.clone()]);

    o.f.clock.advance(600);
    let new = o.server().rotate_signing_key(0).await.unwrap();
    assert_eq!(kids(o.server()).await, vec![old_kid.clone(), new.kid.clone()], "both published");
    let body = o.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!(parts(s(&body["access_token"])).0["kid"], new.kid.as_str(), "new tokens use the new key");

    // Tokens signed before the rotation still verify.
    assert!(o.server().verify_bearer(&old_at).await.is_ok());
    assert!(o.server().verify_id_token(&old_id, &o.id, None).await.is_ok());
    // Retention: max(access 3600, id token 3600, per-client) + 60 s skew, from the rotation.
    let retention = o.server().key_retention().await.unwrap();
    assert_eq!(retention, 3660);
    o.f.clock.set(START + 600 + retention - 1);
    assert_eq!(kids(o.server()).await.len(), 2, "still published one second before the end");
    o.f.clock.set(START + 600 + retention);
    assert_eq!(kids(o.server()).await, vec![new.kid.clone()], "the old key left the JWKS");
    assert!(o.server().store().purge_expired(o.f.now(), 100).await.unwrap() > 0);
    assert_eq!(o.f.store.list_keys().await.unwrap().len(), 1, "and is purged");
}

#[tokio::test]
async fn retention_covers_the_longest_per_client_access_token_lifetime() {
    let o =
        op_with(es256(), ClientSpec::confidential(&["client_credentials"]).jwt().access_token_lifetime(7200))
            .await;
    assert_eq!(o.server().key_retention().await.unwrap(), 7260);
}

#[tokio::test]
async fn a_key_published_ahead_signs_only_from_its_not_before() {
    let o = op_with(es256(), ClientSpec::confidential(&["client_credentials"]).jwt()).await;
    o.server().ensure_signing_key().await.unwrap();
    let old = kids(o.server()).await.remove(0);
    let next = o.server().rotate_signing_key(300).await.unwrap();
    assert_eq!(kids(o.server()).await.len(), 2, "published before use");
    let kid_now = |b: Value| s(&parts(s(&b["access_token"])).0["kid"]).to_owned();
    assert_eq!(kid_now(o.token(&[("grant_type", "client_credentials")]).await), old);
    o.f.clock.advance(300);
    assert_eq!(kid_now(o.token(&[("grant_type", "client_credentials")]).await), next.kid);
    let statuses: Vec<&str> = o
        .server()
        .signing_keys()
        .await
        .unwrap()
        .iter()
        .map(|k| k.status(o.f.now()))
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    assert_eq!(statuses, vec!["retired", "active"]);
}

#[tokio::test]
async fn retiring_the_signing_key_now_revokes_what_it_signed_and_replaces_it() {
    let o = op_with(es256(), ClientSpec::confidential(&["client_credentials"]).jwt()).await;
    let at = field_of(&o.token(&[("grant_type", "client_credentials")]).await, "access_token");
    let kid = s(&parts(&at).0["kid"]).to_owned();
    let done = o.server().retire_signing_key(&kid, true).await.unwrap().unwrap();
    let replacement = done.replacement.expect("the signing key was replaced");
    assert_eq!(kids(o.server()).await, vec![replacement.kid.clone()], "a compromised key leaves at once");
    assert_eq!(o.server().verify_bearer(&at).await.err().map(|e| e.code), Some(ErrorCode::InvalidToken));
    let at = field_of(&o.token(&[("grant_type", "client_credentials")]).await, "access_token");
    assert!(o.server().verify_bearer(&at).await.is_ok());
    assert!(o.server().retire_signing_key("unknown", false).await.unwrap().is_none());
    // A gentle retirement keeps the key published for the retention.
    let done = o.server().retire_signing_key(&replacement.kid, false).await.unwrap().unwrap();
    assert_eq!(done.key.expires_at, Some(o.f.now() + 3660));
    assert!(done.replacement.is_some());
    assert!(o.server().verify_bearer(&at).await.is_ok());
    // Retiring the signing key while a successor waits: something still signs now.
    let current = kids(o.server()).await.pop().unwrap();
    o.server().rotate_signing_key(300).await.unwrap();
    let done = o.server().retire_signing_key(&current, false).await.unwrap().unwrap();
    assert!(done.replacement.is_some());
    let res = o.f.token(&[("grant_type", "client_credentials")], Some((&o.id, &o.secret))).await;
    assert_eq!(res.status(), 200, "{}", res.body());
}

#[tokio::test]
async fn the_key_list_is_cached_but_this_servers_own_key_changes_apply_to_the_next_token() {
    let o = op_with(es256(), ClientSpec::confidential(&["client_credentials"]).jwt()).await;
    // An hour: only what this server does itself can make it read the keys again.
    o.server().set_key_list_max_age(Duration::from_secs(3600));
    let kid_now = || async {
        let body = o.token(&[("grant_type", "client_credentials")]).await;
        s(&parts(s(&body["access_token"])).0["kid"]).to_owned()
    };
    let first = kid_now().await;
    // Another server on the same store (another node, the CLI) rotates. This one keeps
    // signing from its cached list, with the previous key, which stays published.
    let elsewhere = Builder::new(es256())
        .store(o.f.store.clone() as Arc<dyn Store>)
        .clock(Arc::new(o.f.clock.clone()))
        .build()
        .unwrap();
    let theirs = elsewhere.rotate_signing_key(0).await.unwrap();
    assert_eq!(kid_now().await, first, "the list is cached");
    assert_eq!(kids(o.server()).await, vec![first.clone(), theirs.kid.clone()], "both verify meanwhile");
    // With no reuse, every token reads the store.
    o.server().set_key_list_max_age(Duration::ZERO);
    assert_eq!(kid_now().await, theirs.kid);
    o.server().set_key_list_max_age(Duration::from_secs(3600));
    assert_eq!(kid_now().await, theirs.kid, "setting the bound never brings an older list back");

    // This server's own rotation: the very next token is signed with the new key.
    let mine = o.server().rotate_signing_key(0).await.unwrap();
    assert_eq!(kid_now().await, mine.kid);
    // Its own retirement for compromise: the key never signs again; the replacement does.
    let done = o.server().retire_signing_key(&mine.kid, true).await.unwrap().unwrap();
    let replacement = done.replacement.expect("it was signing");
    for _ in 0..3 {
        assert_eq!(kid_now().await, replacement.kid);
    }
    // A key published ahead takes over at its `not_before`, decided per token from the
    // cached list: scheduled changes need no store read.
    let next = o.server().rotate_signing_key(300).await.unwrap();
    assert_eq!(kid_now().await, replacement.kid, "published ahead, not signing yet");
    o.f.clock.advance(300);
    assert_eq!(kid_now().await, next.kid);
    // A key retired elsewhere for compromise: with the default bound (1 s) this server signs
    // with it for at most that long; with no reuse, not once.
    o.server().set_key_list_max_age(Duration::ZERO);
    elsewhere.retire_signing_key(&next.kid, true).await.unwrap().unwrap();
    assert_ne!(kid_now().await, next.kid);
}

#[tokio::test]
async fn private_keys_are_encrypted_at_rest_and_useless_without_the_kek() {
    let kek = KeyEncryptionKey::parse("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
    let f = Fixture::with_builder(es256(), |b| b.key_encryption_key(kek));
    f.add_scope("openid", false).await;
    let (id, secret) = f.add_client(ClientSpec::confidential(&["client_credentials"]).jwt()).await;
    let res = f.token(&[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let keys = f.store.list_keys().await.unwrap();
    assert!(keys[0].private_key.expose().starts_with("aes256gcm:"), "sealed at rest");
    // Another server on the same store without the key: publishes, verifies, cannot sign.
    let other = Builder::new(es256())
        .store(f.store.clone() as Arc<dyn Store>)
        .clock(Arc::new(f.clock.clone()))
        .build()
        .unwrap();
    assert_eq!(other.jwks().await.unwrap()["keys"].as_array().map(Vec::len), Some(1));
    assert!(other.verify_bearer(&field(&res, "access_token").unwrap()).await.is_ok());
    let req = TokenRequest {
        params: Params::from_pairs([("grant_type", "client_credentials")]).unwrap(),
        authorization: Some(portcullis_testkit::basic_header(&id, &secret)),
    };
    assert_eq!(other.token(req).await.result.err().map(|e| e.code), Some(ErrorCode::ServerError));
    // Nor does it add a key in the clear next to the sealed one.
    assert!(other.rotate_signing_key(0).await.is_err());
    assert_eq!(f.store.list_keys().await.unwrap().len(), 1);
}

#[tokio::test]
async fn changing_signing_alg_rotates_to_a_key_of_the_new_algorithm() {
    let f = Fixture::with_config(es256());
    f.server.ensure_signing_key().await.unwrap();
    let ed = Builder::new(Config { signing_alg: SigningAlg::EdDSA, ..config() })
        .store(f.store.clone() as Arc<dyn Store>)
        .clock(Arc::new(f.clock.clone()))
        .build()
        .unwrap();
    let created = ed.ensure_signing_key().await.unwrap();
    assert!(created.is_some());
    let keys = f.store.list_keys().await.unwrap();
    assert_eq!(keys.iter().map(|k| k.alg).collect::<Vec<_>>(), vec![SigningAlg::ES256, SigningAlg::EdDSA]);
    assert_eq!(ed.ensure_signing_key().await.unwrap(), None, "idempotent");
    assert_eq!(ed.metadata().await.unwrap()["id_token_signing_alg_values_supported"], json!(["EdDSA"]));
}

// ---------------------------------------------------------------------------------------------
// Metadata

#[tokio::test]
async fn metadata_is_generated_from_the_issuer_and_what_is_enabled() {
    let f = Fixture::with_config(Config {
        issuer: "https://login.example.com/tenant".into(),
        ..Config::default()
    });
    f.add_scope("notes:read", false).await;
    let m = f.server.metadata().await.unwrap();
    let base = "https://login.example.com/tenant";
    assert_eq!(m["issuer"], base);
    for (k, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("jwks_uri", "/jwks.json"),
        ("userinfo_endpoint", "/userinfo"),
        ("introspection_endpoint", "/introspect"),
        ("revocation_endpoint", "/revoke"),
    ] {
        assert_eq!(m[k], format!("{base}{path}"), "{k}");
    }
    assert_eq!(
        m["grant_types_supported"],
        json!(["authorization_code", "client_credentials", "password", "refresh_token"])
    );
    assert_eq!(m["response_types_supported"], json!(["code"]));
    assert_eq!(m["subject_types_supported"], json!(["public"]));
    assert_eq!(m["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(m["scopes_supported"], json!(["openid", "notes:read"]), "openid always; registered scopes");
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert!(m["claims_supported"].as_array().unwrap().contains(&json!("email")));
    assert_eq!(m["request_uri_parameter_supported"], false);

    let f = Fixture::with_config(Config { allow_plain_pkce: true, allow_implicit_grant: true, ..config() });
    let m = f.server.metadata().await.unwrap();
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256", "plain"]));
    assert_eq!(m["response_types_supported"], json!(["code", "token"]));
    assert_eq!(m["response_modes_supported"], json!(["query", "fragment"]));
}

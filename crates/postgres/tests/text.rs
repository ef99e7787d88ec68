//! PostgreSQL text cannot hold NUL. A lookup by a value carrying one (a client_id or username
//! straight from a request) finds nothing, as on SQLite, instead of failing; JSON columns keep
//! NUL escaped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_core::model::secret::hash_token;
use portcullis_core::store::{
    AccountStore, AuthorizationStore, ClientStore, ConsentStore, ScopeStore, TokenFilter, TokenStore,
};
use portcullis_core::{PendingAuthorization, ResponseType, ScopeSet};
use portcullis_postgres::testing::{admin_url, TestDatabase};

#[tokio::test]
async fn nul_in_a_lookup_finds_nothing_and_json_keeps_it() {
    let Some(admin) = admin_url("nul_in_a_lookup_finds_nothing_and_json_keeps_it") else { return };
    let db = TestDatabase::create(&admin).await;
    let store = db.store().await;
    let nul = "a\0b";
    assert_eq!(store.get_client(nul).await.unwrap(), None);
    assert!(!store.delete_client(nul).await.unwrap());
    assert_eq!(store.get_account(nul).await.unwrap(), None);
    assert_eq!(store.find_account_by_username(nul).await.unwrap(), None);
    assert_eq!(store.get_scope(nul).await.unwrap(), None);
    assert_eq!(store.get_consent(nul, "c").await.unwrap(), None);
    assert_eq!(store.list_consents(Some(nul), None).await.unwrap(), vec![]);
    let filter = TokenFilter { client_id: Some(nul.into()), subject: None };
    assert_eq!(store.list_tokens(&filter, 0).await.unwrap(), vec![]);
    assert_eq!(store.revoke_tokens(&filter).await.unwrap(), 0);

    let pending = PendingAuthorization {
        id_hash: hash_token("interaction"),
        client_id: "app".into(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_given: true,
        response_type: ResponseType::Code,
        scopes: ScopeSet::from_stored("openid"),
        state: Some("st\0ate".into()),
        code_challenge: None,
        code_challenge_method: None,
        nonce: None,
        prompt_login: false,
        prompt_consent: false,
        max_age: None,
        login_hint: None,
        ui_locales: None,
        error: None,
        created_at: 100,
        expires_at: 200,
    };
    store.create_pending(&pending).await.unwrap();
    assert_eq!(store.take_pending(&pending.id_hash, 150).await.unwrap(), Some(pending));
}

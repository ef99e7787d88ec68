//! The store conformance suite (DESIGN.md "store conformance"): the rules every
//! [`Store`] backend must keep, proved the same way on each of them.
//!
//! Each check is an async function named for the rule it proves. It takes a fresh, empty store
//! and panics with a message naming the broken rule. A store crate runs them all with
//! [`store_conformance_tests!`](crate::store_conformance_tests), which generates one
//! `#[tokio::test]` per check (the calling crate needs `tokio` as a dev-dependency):
//!
//! ```ignore
//! use std::sync::Arc;
//! use portcullis_core::Store;
//!
//! portcullis_testkit::store_conformance_tests!(async {
//!     Arc::new(portcullis_testkit::MemoryStore::new()) as Arc<dyn Store>
//! });
//! ```
//!
//! `$make` may also produce `(store, guard)`, where `guard` (say a `tempfile::TempDir`) must
//! stay alive while the store is used; see [`StoreUnderTest`]. A backend that needs a server
//! (PostgreSQL) may produce an `Option` of either: `None` skips the check (the store crate
//! prints why), so the suite still passes on a machine without that server.

// Checks fail by panicking, like assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::any::Any;
use std::sync::Arc;

use portcullis_core::model::secret::{generate, hash_token, SecretHash, SecretString, TokenKind};
use portcullis_core::pkce::CodeChallengeMethod;
use portcullis_core::store::{StoreError, TokenFilter, TokenSummary};
use portcullis_core::{
    AccessTokenFormat, AccessTokenRecord, Account, AuthMethod, AuthorizationCode, Client, Consent,
    PendingAuthorization, RefreshTokenRecord, ResponseType, ScopeDef, ScopeSet, Session, SigningAlg,
    SigningKeyRecord, Store, Take, UnixTime,
};

/// What a store crate's `$make` expression may produce: a store, alone or with a guard that
/// must outlive it (a temporary directory holding the database file).
pub trait StoreUnderTest: Send + 'static {
    /// The store, and whatever must stay alive while it is used.
    fn into_parts(self) -> (Arc<dyn Store>, Box<dyn Any + Send>);
}

impl StoreUnderTest for Arc<dyn Store> {
    fn into_parts(self) -> (Arc<dyn Store>, Box<dyn Any + Send>) {
        (self, Box::new(()))
    }
}

impl<S: Store> StoreUnderTest for Arc<S> {
    fn into_parts(self) -> (Arc<dyn Store>, Box<dyn Any + Send>) {
        (self, Box::new(()))
    }
}

impl<G: Send + 'static> StoreUnderTest for (Arc<dyn Store>, G) {
    fn into_parts(self) -> (Arc<dyn Store>, Box<dyn Any + Send>) {
        (self.0, Box::new(self.1))
    }
}

impl<S: Store, G: Send + 'static> StoreUnderTest for (Arc<S>, G) {
    fn into_parts(self) -> (Arc<dyn Store>, Box<dyn Any + Send>) {
        (self.0, Box::new(self.1))
    }
}

/// What `$make` may produce: a [`StoreUnderTest`], or an `Option` of one where `None` means
/// "this backend is not available here: skip".
pub trait MaybeStoreUnderTest: Send + 'static {
    /// The store and its guard, or `None` to skip.
    fn into_parts_or_skip(self) -> Option<(Arc<dyn Store>, Box<dyn Any + Send>)>;
}

impl<T: StoreUnderTest> MaybeStoreUnderTest for T {
    fn into_parts_or_skip(self) -> Option<(Arc<dyn Store>, Box<dyn Any + Send>)> {
        Some(self.into_parts())
    }
}

impl<T: StoreUnderTest> MaybeStoreUnderTest for Option<T> {
    fn into_parts_or_skip(self) -> Option<(Arc<dyn Store>, Box<dyn Any + Send>)> {
        self.map(StoreUnderTest::into_parts)
    }
}

/// Generate one `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` per conformance
/// check. `$make` is an async expression (evaluated once per test) producing a fresh, empty
/// store as a [`StoreUnderTest`](crate::conformance::StoreUnderTest): `Arc<dyn Store>`,
/// `Arc<S>`, or either paired with a guard to keep alive; or an `Option` of one, where `None`
/// skips the check.
#[macro_export]
macro_rules! store_conformance_tests {
    (@each ($make:expr) $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some((store, _keep_alive)) =
                    $crate::conformance::MaybeStoreUnderTest::into_parts_or_skip($make.await)
                else {
                    return;
                };
                $crate::conformance::$check(store).await;
            }
        )*
    };
    ($make:expr) => {
        $crate::store_conformance_tests!(@each ($make)
            ping_answers,
            take_code_is_single_use,
            concurrent_take_code_gives_exactly_one_fresh,
            replayed_code_reports_family,
            expired_code_is_unknown,
            save_tokens_is_atomic,
            take_refresh_rotation_and_replay,
            concurrent_take_refresh_exactly_one,
            get_refresh_ignores_consumed_revoked_expired,
            get_code_reads_without_consuming,
            redeem_code_consumes_and_saves_together,
            rotate_refresh_consumes_and_saves_together,
            a_redemption_that_cannot_save_consumes_nothing,
            concurrent_rotations_save_exactly_one_set,
            revoke_family_revokes_access_and_refresh,
            a_lone_access_token_is_its_own_family,
            tokens_saved_into_a_revoked_family_are_revoked,
            revoke_refresh_revokes_its_access_tokens,
            list_and_revoke_tokens_by_filter,
            purge_removes_only_expired_and_is_bounded,
            client_crud,
            secret_hash_round_trips,
            scope_crud,
            account_crud,
            pending_is_taken_once_and_expires,
            concurrent_take_pending_exactly_one,
            consent_crud_and_cascades,
            session_lifecycle_and_cascades,
            first_key_is_created_once,
            key_round_trips_with_its_private_key,
            rotate_key_schedules_the_old_keys,
            concurrent_rotations_keep_one_chain,
            retire_key_never_extends,
            purge_removes_expired_keys,
        );
    };
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// The suite's "now".
const NOW: UnixTime = 1_700_000_000;
/// How many takes race in the concurrency checks.
const RACERS: usize = 16;

/// A realistic stored hash for a label.
fn h(label: &str) -> String {
    hash_token(label)
}

fn scopes(s: &str) -> ScopeSet {
    ScopeSet::from_stored(s)
}

fn client(id: &str, created_at: UnixTime) -> Client {
    Client {
        id: id.to_owned(),
        name: format!("Client {id}"),
        secret: Some(SecretHash::for_generated(&generate(TokenKind::ClientSecret))),
        redirect_uris: vec![format!("https://{id}.example/cb"), format!("https://{id}.example/cb2?x=1")],
        grant_types: vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
        scopes: scopes("openid profile invoices:read"),
        auth_method: AuthMethod::ClientSecretBasic,
        trusted: false,
        access_token_lifetime: Some(600),
        refresh_token_lifetime: None,
        authorization_code_lifetime: Some(30),
        access_token_format: AccessTokenFormat::Jwt,
        created_at,
        updated_at: created_at,
    }
}

fn public_client(id: &str, created_at: UnixTime) -> Client {
    Client {
        secret: None,
        auth_method: AuthMethod::None,
        trusted: true,
        access_token_lifetime: None,
        authorization_code_lifetime: None,
        access_token_format: AccessTokenFormat::Opaque,
        ..client(id, created_at)
    }
}

fn account(id: &str, username: &str) -> Account {
    let mut claims = serde_json::Map::new();
    claims.insert("email".into(), serde_json::json!(format!("{username}@example.com")));
    claims.insert("email_verified".into(), serde_json::json!(true));
    claims.insert("name".into(), serde_json::json!(format!("Ünïcode {username}")));
    Account {
        id: id.to_owned(),
        username: username.to_owned(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into()),
        claims,
        created_at: NOW - 100,
        updated_at: NOW - 50,
    }
}

/// A code with every optional field set.
fn code(label: &str, family: &str, expires_at: UnixTime) -> AuthorizationCode {
    AuthorizationCode {
        hash: h(label),
        family: family.to_owned(),
        client_id: "app".to_owned(),
        subject: "alice".to_owned(),
        redirect_uri: "https://app.example/cb".to_owned(),
        redirect_uri_given: true,
        scopes: scopes("openid profile"),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        code_challenge_method: Some(CodeChallengeMethod::S256),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        auth_time: Some(NOW - 5),
        issued_at: NOW - 1,
        expires_at,
    }
}

/// A code with every optional field empty.
fn bare_code(label: &str, family: &str) -> AuthorizationCode {
    AuthorizationCode {
        redirect_uri_given: false,
        scopes: ScopeSet::empty(),
        code_challenge: None,
        code_challenge_method: None,
        nonce: None,
        auth_time: None,
        ..code(label, family, NOW + 60)
    }
}

fn access(label: &str, family: &str, refresh_label: Option<&str>) -> AccessTokenRecord {
    AccessTokenRecord {
        hash: h(label),
        family: family.to_owned(),
        client_id: "app".to_owned(),
        subject: Some("alice".to_owned()),
        scopes: scopes("openid profile"),
        issued_at: NOW,
        expires_at: NOW + 3600,
        revoked: false,
        refresh_hash: refresh_label.map(h),
    }
}

fn refresh(label: &str, family: &str) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: h(label),
        family: family.to_owned(),
        client_id: "app".to_owned(),
        subject: Some("alice".to_owned()),
        scopes: scopes("openid profile offline_access"),
        auth_time: Some(NOW - 5),
        issued_at: NOW,
        expires_at: NOW + 86_400,
    }
}

/// Save an access token and the refresh token issued with it, both labelled from `n`.
async fn save_pair(store: &dyn Store, n: &str, family: &str) -> (AccessTokenRecord, RefreshTokenRecord) {
    let r = refresh(&format!("rt-{n}"), family);
    let a = access(&format!("at-{n}"), family, Some(&format!("rt-{n}")));
    store.save_tokens(&a, Some(&r)).await.expect("save_tokens with a refresh token");
    (a, r)
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

async fn access_is_revoked_or_gone(store: &dyn Store, hash: &str) -> bool {
    store.get_access(hash).await.expect("get_access").is_none_or(|a| a.revoked)
}

// ---------------------------------------------------------------------------------------------
// Checks

/// `ping` answers on a healthy store.
pub async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.expect("ping must answer Ok on a healthy store");
}

/// A code is `Fresh` exactly once, with every field as stored; every later take is `Replayed`.
/// Creating a code with a hash that exists is a `Conflict`.
pub async fn take_code_is_single_use(store: Arc<dyn Store>) {
    let full = code("code-full", "fam-1", NOW + 60);
    let bare = bare_code("code-bare", "fam-2");
    for c in [&full, &bare] {
        store.create_code(c).await.expect("create_code");
        match store.take_code(&c.hash, NOW).await.expect("take_code") {
            Take::Fresh(got) => {
                assert_eq!(&got, c, "take_code must return the stored code with every field intact")
            }
            other => panic!("the first take of a fresh code must be Fresh, got {other:?}"),
        }
        for attempt in 2..=3 {
            assert_eq!(
                store.take_code(&c.hash, NOW).await.expect("take_code"),
                Take::Replayed { family: c.family.clone() },
                "take #{attempt} of a code must be Replayed with the code's family"
            );
        }
    }
    assert!(
        is_conflict(&store.create_code(&full).await),
        "create_code with an existing hash must be Conflict"
    );
}

/// Of many concurrent takes of one code, exactly one is `Fresh` and all others `Replayed`.
pub async fn concurrent_take_code_gives_exactly_one_fresh(store: Arc<dyn Store>) {
    for round in 0..3 {
        let c = code(&format!("race-code-{round}"), &format!("race-fam-{round}"), NOW + 60);
        store.create_code(&c).await.expect("create_code");
        let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
        let mut tasks = Vec::new();
        for _ in 0..RACERS {
            let (store, barrier, hash) = (Arc::clone(&store), Arc::clone(&barrier), c.hash.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.take_code(&hash, NOW).await
            }));
        }
        let (mut fresh, mut replayed) = (0, 0);
        for t in tasks {
            match t.await.expect("take_code task panicked").expect("a concurrent take_code failed") {
                Take::Fresh(got) => {
                    assert_eq!(got, c, "the Fresh take must return the stored code");
                    fresh += 1;
                }
                Take::Replayed { family } => {
                    assert_eq!(family, c.family, "a Replayed take must name the code's family");
                    replayed += 1;
                }
                Take::Unknown => panic!("a concurrent take of an existing code must not be Unknown"),
            }
        }
        assert_eq!(fresh, 1, "exactly one of {RACERS} concurrent take_code calls must be Fresh");
        assert_eq!(replayed, RACERS - 1, "every other concurrent take_code must be Replayed");
    }
}

/// A replayed code names its own family (so the caller revokes exactly what it issued); a
/// code never issued is `Unknown`.
pub async fn replayed_code_reports_family(store: Arc<dyn Store>) {
    let one = code("replay-1", "family-one", NOW + 60);
    let two = code("replay-2", "family-two", NOW + 60);
    for c in [&one, &two] {
        store.create_code(c).await.expect("create_code");
        assert!(matches!(store.take_code(&c.hash, NOW).await.expect("take_code"), Take::Fresh(_)));
    }
    assert_eq!(
        store.take_code(&two.hash, NOW + 1).await.expect("take_code"),
        Take::Replayed { family: "family-two".into() },
        "a replayed code must report its own family"
    );
    assert_eq!(
        store.take_code(&one.hash, NOW + 1).await.expect("take_code"),
        Take::Replayed { family: "family-one".into() },
        "a replayed code must report its own family"
    );
    assert_eq!(
        store.take_code(&h("never-issued"), NOW).await.expect("take_code"),
        Take::Unknown,
        "a code never issued must be Unknown"
    );
}

/// A code is valid while `now < expires_at`. An expired code is `Unknown` and taking it
/// consumes nothing; a consumed code that has since expired is `Unknown` too.
pub async fn expired_code_is_unknown(store: Arc<dyn Store>) {
    let c = code("expiring", "fam-exp", NOW + 60);
    store.create_code(&c).await.expect("create_code");
    for at in [NOW + 60, NOW + 61, NOW + 10_000] {
        assert_eq!(
            store.take_code(&c.hash, at).await.expect("take_code"),
            Take::Unknown,
            "a code taken at or after expires_at must be Unknown (now = expires_at {:+})",
            at - c.expires_at
        );
    }
    // The expired takes consumed nothing: just before expiry the code is still fresh.
    assert!(
        matches!(store.take_code(&c.hash, NOW + 59).await.expect("take_code"), Take::Fresh(_)),
        "a take that answered Unknown for expiry must not consume the code"
    );
    assert_eq!(
        store.take_code(&c.hash, NOW + 60).await.expect("take_code"),
        Take::Unknown,
        "a consumed code past its expiry must be Unknown"
    );
}

/// `save_tokens` stores the access token and its refresh token in one transaction: when the
/// refresh token cannot be stored, the access token is not stored either.
pub async fn save_tokens_is_atomic(store: Arc<dyn Store>) {
    let (a, r) = save_pair(&*store, "1", "fam").await;
    assert_eq!(store.get_access(&a.hash).await.expect("get_access"), Some(a.clone()), "access round trip");
    assert_eq!(
        store.get_refresh(&r.hash, NOW).await.expect("get_refresh"),
        Some(r.clone()),
        "refresh round trip"
    );

    let lone = AccessTokenRecord { subject: None, refresh_hash: None, ..access("at-lone", "fam-cc", None) };
    store.save_tokens(&lone, None).await.expect("save_tokens without a refresh token");
    assert_eq!(store.get_access(&lone.hash).await.expect("get_access"), Some(lone), "access without refresh");

    // A second pair whose refresh hash collides with the first: all or nothing.
    let a2 = access("at-2", "fam", Some("rt-1"));
    let result = store.save_tokens(&a2, Some(&r)).await;
    assert!(result.is_err(), "save_tokens with a duplicate refresh hash must fail, got {result:?}");
    assert_eq!(
        store.get_access(&a2.hash).await.expect("get_access"),
        None,
        "a failed save_tokens must not leave its access token behind"
    );
    assert!(
        is_conflict(&store.save_tokens(&a, None).await),
        "save_tokens with an existing access hash must be Conflict"
    );
}

/// A refresh token is `Fresh` once; after rotation it is `Replayed` with its family, and so is
/// a revoked one; an unknown or expired one is `Unknown`.
pub async fn take_refresh_rotation_and_replay(store: Arc<dyn Store>) {
    let (_, r1) = save_pair(&*store, "1", "fam-F").await;
    assert_eq!(store.get_refresh(&r1.hash, NOW).await.expect("get_refresh"), Some(r1.clone()));
    match store.take_refresh(&r1.hash, NOW).await.expect("take_refresh") {
        Take::Fresh(got) => assert_eq!(got, r1, "take_refresh must return the stored record intact"),
        other => panic!("the first take of a live refresh token must be Fresh, got {other:?}"),
    }
    assert_eq!(
        store.get_refresh(&r1.hash, NOW).await.expect("get_refresh"),
        None,
        "a rotated-out refresh token is no longer active"
    );
    assert_eq!(
        store.take_refresh(&r1.hash, NOW).await.expect("take_refresh"),
        Take::Replayed { family: "fam-F".into() },
        "a rotated-out refresh token taken again must be Replayed with its family"
    );

    // The rotation's successor is independent and fresh.
    let (_, r2) = save_pair(&*store, "2", "fam-F").await;
    assert!(matches!(store.take_refresh(&r2.hash, NOW + 1).await.expect("take_refresh"), Take::Fresh(_)));
    assert_eq!(
        store.take_refresh(&r1.hash, NOW + 1).await.expect("take_refresh"),
        Take::Replayed { family: "fam-F".into() },
        "an old refresh token stays Replayed after later rotations"
    );

    // Revoked: a replay too.
    let (_, r3) = save_pair(&*store, "3", "fam-G").await;
    assert!(store.revoke_refresh(&r3.hash).await.expect("revoke_refresh"));
    assert_eq!(
        store.take_refresh(&r3.hash, NOW).await.expect("take_refresh"),
        Take::Replayed { family: "fam-G".into() },
        "a revoked refresh token must be Replayed"
    );

    // Expired (valid while now < expires_at) and unknown.
    let r4 = RefreshTokenRecord { expires_at: NOW + 10, ..refresh("rt-4", "fam-H") };
    store.save_tokens(&access("at-4", "fam-H", Some("rt-4")), Some(&r4)).await.expect("save_tokens");
    assert_eq!(
        store.take_refresh(&r4.hash, NOW + 10).await.expect("take_refresh"),
        Take::Unknown,
        "an expired refresh token must be Unknown"
    );
    assert!(
        matches!(store.take_refresh(&r4.hash, NOW + 9).await.expect("take_refresh"), Take::Fresh(_)),
        "a take that answered Unknown for expiry must not consume the token"
    );
    assert_eq!(
        store.take_refresh(&h("rt-never"), NOW).await.expect("take_refresh"),
        Take::Unknown,
        "a refresh token never issued must be Unknown"
    );
}

/// Of many concurrent rotations of one refresh token, exactly one is `Fresh`.
pub async fn concurrent_take_refresh_exactly_one(store: Arc<dyn Store>) {
    for round in 0..3 {
        let family = format!("race-fam-{round}");
        let (_, r) = save_pair(&*store, &format!("race-{round}"), &family).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
        let mut tasks = Vec::new();
        for _ in 0..RACERS {
            let (store, barrier, hash) = (Arc::clone(&store), Arc::clone(&barrier), r.hash.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.take_refresh(&hash, NOW).await
            }));
        }
        let (mut fresh, mut replayed) = (0, 0);
        for t in tasks {
            match t.await.expect("take_refresh task panicked").expect("a concurrent take_refresh failed") {
                Take::Fresh(got) => {
                    assert_eq!(got, r, "the Fresh take must return the stored record");
                    fresh += 1;
                }
                Take::Replayed { family: f } => {
                    assert_eq!(f, family, "a Replayed take must name the token's family");
                    replayed += 1;
                }
                Take::Unknown => panic!("a concurrent take of a live refresh token must not be Unknown"),
            }
        }
        assert_eq!(fresh, 1, "exactly one of {RACERS} concurrent take_refresh calls must be Fresh");
        assert_eq!(replayed, RACERS - 1, "every other concurrent take_refresh must be Replayed");
    }
}

/// `get_code` returns only a redeemable code (unconsumed, `now < expires_at`), with every
/// field intact, and does not consume it.
pub async fn get_code_reads_without_consuming(store: Arc<dyn Store>) {
    for c in [code("peek-full", "fam-p1", NOW + 60), bare_code("peek-bare", "fam-p2")] {
        store.create_code(&c).await.expect("create_code");
        for _ in 0..2 {
            assert_eq!(
                store.get_code(&c.hash, NOW).await.expect("get_code"),
                Some(c.clone()),
                "get_code must return the stored code intact, and again: it consumes nothing"
            );
        }
        assert!(matches!(store.take_code(&c.hash, NOW).await.expect("take_code"), Take::Fresh(_)));
        assert_eq!(
            store.get_code(&c.hash, NOW).await.expect("get_code"),
            None,
            "a consumed code is not redeemable"
        );
    }
    let c = code("peek-expiring", "fam-p3", NOW + 10);
    store.create_code(&c).await.expect("create_code");
    assert!(store.get_code(&c.hash, NOW + 9).await.expect("get_code").is_some());
    assert_eq!(store.get_code(&c.hash, NOW + 10).await.expect("get_code"), None, "expired at expires_at");
    assert_eq!(store.get_code(&h("never-issued"), NOW).await.expect("get_code"), None);
}

/// `redeem_code` consumes the code and stores its tokens in one step: `Fresh` once, with the
/// tokens stored; a second redemption is `Replayed` with the family and stores nothing; an
/// unknown or expired code is `Unknown` and stores nothing.
pub async fn redeem_code_consumes_and_saves_together(store: Arc<dyn Store>) {
    let c = code("redeem", "fam-R", NOW + 60);
    store.create_code(&c).await.expect("create_code");
    let (a1, r1) = (access("at-redeem-1", "fam-R", Some("rt-redeem-1")), refresh("rt-redeem-1", "fam-R"));
    assert_eq!(store.redeem_code(&c.hash, NOW, &a1, Some(&r1)).await.expect("redeem_code"), Take::Fresh(()));
    assert_eq!(store.get_code(&c.hash, NOW).await.expect("get_code"), None, "a redeemed code is consumed");
    assert_eq!(
        store.get_access(&a1.hash).await.expect("get_access"),
        Some(a1.clone()),
        "its access token is stored"
    );
    assert_eq!(
        store.get_refresh(&r1.hash, NOW).await.expect("get_refresh"),
        Some(r1),
        "its refresh token too"
    );

    let a2 = access("at-redeem-2", "fam-R", None);
    assert_eq!(
        store.redeem_code(&c.hash, NOW, &a2, None).await.expect("redeem_code"),
        Take::Replayed { family: "fam-R".into() },
        "a second redemption is a replay naming the family"
    );
    assert_eq!(store.get_access(&a2.hash).await.expect("get_access"), None, "a replay stores nothing");
    assert_eq!(
        store.take_code(&c.hash, NOW).await.expect("take_code"),
        Take::Replayed { family: "fam-R".into() },
        "redeem_code and take_code consume the same way"
    );

    let expiring = code("redeem-late", "fam-S", NOW + 10);
    store.create_code(&expiring).await.expect("create_code");
    let a3 = access("at-redeem-3", "fam-S", None);
    assert_eq!(
        store.redeem_code(&expiring.hash, NOW + 10, &a3, None).await.expect("redeem_code"),
        Take::Unknown
    );
    assert_eq!(
        store.redeem_code(&h("never-issued"), NOW, &a3, None).await.expect("redeem_code"),
        Take::Unknown
    );
    assert_eq!(store.get_access(&a3.hash).await.expect("get_access"), None, "an unknown code stores nothing");
}

/// `rotate_refresh` consumes the old refresh token and stores its successors in one step,
/// exactly like `take_refresh` followed by `save_tokens`, but only when the take is `Fresh`.
pub async fn rotate_refresh_consumes_and_saves_together(store: Arc<dyn Store>) {
    let (_, old) = save_pair(&*store, "rot-0", "fam-T").await;
    let (a1, r1) = (access("at-rot-1", "fam-T", Some("rt-rot-1")), refresh("rt-rot-1", "fam-T"));
    assert_eq!(
        store.rotate_refresh(&old.hash, NOW, &a1, Some(&r1)).await.expect("rotate_refresh"),
        Take::Fresh(())
    );
    assert_eq!(
        store.get_refresh(&old.hash, NOW).await.expect("get_refresh"),
        None,
        "the old token is rotated out"
    );
    assert_eq!(
        store.get_access(&a1.hash).await.expect("get_access"),
        Some(a1),
        "the new access token is stored"
    );
    assert_eq!(
        store.get_refresh(&r1.hash, NOW).await.expect("get_refresh"),
        Some(r1.clone()),
        "and the new refresh token"
    );

    let (a2, r2) = (access("at-rot-2", "fam-T", Some("rt-rot-2")), refresh("rt-rot-2", "fam-T"));
    assert_eq!(
        store.rotate_refresh(&old.hash, NOW, &a2, Some(&r2)).await.expect("rotate_refresh"),
        Take::Replayed { family: "fam-T".into() },
        "rotating a rotated-out token again is a replay naming the family"
    );
    assert_eq!(store.get_access(&a2.hash).await.expect("get_access"), None, "a replay stores nothing");
    assert_eq!(store.get_refresh(&r2.hash, NOW).await.expect("get_refresh"), None, "a replay stores nothing");
    assert!(
        store.get_refresh(&r1.hash, NOW).await.expect("get_refresh").is_some(),
        "the successor stays active"
    );

    let a3 = access("at-rot-3", "fam-U", None);
    assert_eq!(
        store.rotate_refresh(&h("never-issued"), NOW, &a3, None).await.expect("rotate_refresh"),
        Take::Unknown
    );
    assert_eq!(
        store.get_access(&a3.hash).await.expect("get_access"),
        None,
        "an unknown token stores nothing"
    );
}

/// A redemption whose tokens cannot be stored (a hash already taken) fails with `Conflict`
/// and consumes nothing: the code or refresh token can still be redeemed. (Two transactions,
/// take then save, would lose the credential here.)
pub async fn a_redemption_that_cannot_save_consumes_nothing(store: Arc<dyn Store>) {
    let (taken, _) = save_pair(&*store, "occupied", "fam-V").await;
    let c = code("redeem-conflict", "fam-W", NOW + 60);
    store.create_code(&c).await.expect("create_code");
    let clash = AccessTokenRecord { family: "fam-W".into(), ..taken.clone() };
    assert!(is_conflict(&store.redeem_code(&c.hash, NOW, &clash, None).await), "a clashing save is Conflict");
    assert_eq!(
        store.get_code(&c.hash, NOW).await.expect("get_code"),
        Some(c.clone()),
        "and the code is not consumed"
    );
    let ok = access("at-after-clash", "fam-W", None);
    assert_eq!(store.redeem_code(&c.hash, NOW, &ok, None).await.expect("redeem_code"), Take::Fresh(()));

    let (_, old) = save_pair(&*store, "rot-conflict", "fam-X").await;
    let fresh_access = access("at-rot-clash", "fam-X", Some("rt-occupied"));
    let clash_refresh = refresh("rt-occupied", "fam-X");
    assert!(
        is_conflict(&store.rotate_refresh(&old.hash, NOW, &fresh_access, Some(&clash_refresh)).await),
        "a rotation whose new refresh token clashes is Conflict"
    );
    assert_eq!(
        store.get_access(&fresh_access.hash).await.expect("get_access"),
        None,
        "nothing of it is stored"
    );
    assert_eq!(
        store.get_refresh(&old.hash, NOW).await.expect("get_refresh"),
        Some(old.clone()),
        "and the old refresh token is still active"
    );
    let (a, r) = (access("at-rot-ok", "fam-X", Some("rt-rot-ok")), refresh("rt-rot-ok", "fam-X"));
    assert_eq!(
        store.rotate_refresh(&old.hash, NOW, &a, Some(&r)).await.expect("rotate_refresh"),
        Take::Fresh(())
    );
}

/// Of many concurrent rotations of one refresh token, each with its own successors, exactly
/// one is `Fresh` and exactly its tokens are stored.
pub async fn concurrent_rotations_save_exactly_one_set(store: Arc<dyn Store>) {
    for round in 0..3 {
        let family = format!("rot-race-fam-{round}");
        let (_, old) = save_pair(&*store, &format!("rot-race-{round}"), &family).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
        let mut tasks = Vec::new();
        for i in 0..RACERS {
            let (store, barrier, hash) = (Arc::clone(&store), Arc::clone(&barrier), old.hash.clone());
            let label = format!("{round}-{i}");
            let a = access(&format!("at-rot-race-{label}"), &family, Some(&format!("rt-rot-race-{label}")));
            let r = refresh(&format!("rt-rot-race-{label}"), &family);
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                (store.rotate_refresh(&hash, NOW, &a, Some(&r)).await, a, r)
            }));
        }
        let mut fresh = 0;
        for t in tasks {
            let (outcome, a, r) = t.await.expect("rotate_refresh task panicked");
            let stored = store.get_access(&a.hash).await.expect("get_access").is_some();
            match outcome.expect("a concurrent rotate_refresh failed") {
                Take::Fresh(()) => {
                    fresh += 1;
                    assert!(stored, "the Fresh rotation's access token is stored");
                    assert!(store.get_refresh(&r.hash, NOW).await.expect("get_refresh").is_some());
                }
                Take::Replayed { family: f } => {
                    assert_eq!(f, family, "a Replayed rotation names the token's family");
                    assert!(!stored, "a Replayed rotation stores nothing");
                }
                Take::Unknown => panic!("a concurrent rotation of a live refresh token must not be Unknown"),
            }
        }
        assert_eq!(fresh, 1, "exactly one of {RACERS} concurrent rotations must be Fresh");
    }
}

/// `get_refresh` returns only active tokens (not consumed, not revoked, `now < expires_at`),
/// and does not consume them.
pub async fn get_refresh_ignores_consumed_revoked_expired(store: Arc<dyn Store>) {
    let (_, live) = save_pair(&*store, "live", "f1").await;
    let (_, consumed) = save_pair(&*store, "consumed", "f2").await;
    let (_, revoked) = save_pair(&*store, "revoked", "f3").await;
    let expiring = RefreshTokenRecord { expires_at: NOW + 10, ..refresh("rt-expiring", "f4") };
    store
        .save_tokens(&access("at-expiring", "f4", Some("rt-expiring")), Some(&expiring))
        .await
        .expect("save");
    assert!(matches!(store.take_refresh(&consumed.hash, NOW).await.expect("take_refresh"), Take::Fresh(_)));
    assert!(store.revoke_refresh(&revoked.hash).await.expect("revoke_refresh"));

    assert_eq!(store.get_refresh(&live.hash, NOW).await.expect("get_refresh"), Some(live.clone()));
    assert_eq!(store.get_refresh(&consumed.hash, NOW).await.expect("get_refresh"), None, "consumed");
    assert_eq!(store.get_refresh(&revoked.hash, NOW).await.expect("get_refresh"), None, "revoked");
    assert_eq!(
        store.get_refresh(&expiring.hash, NOW + 9).await.expect("get_refresh"),
        Some(expiring.clone()),
        "a refresh token is active until expires_at"
    );
    assert_eq!(store.get_refresh(&expiring.hash, NOW + 10).await.expect("get_refresh"), None, "expired");
    assert_eq!(store.get_refresh(&h("rt-unknown"), NOW).await.expect("get_refresh"), None, "unknown");
    assert!(
        matches!(store.take_refresh(&live.hash, NOW).await.expect("take_refresh"), Take::Fresh(_)),
        "get_refresh must not consume the token"
    );
}

/// `revoke_family` revokes every access and refresh token of the family, touches no other
/// family, and returns how many were active.
pub async fn revoke_family_revokes_access_and_refresh(store: Arc<dyn Store>) {
    let (a1, r1) = save_pair(&*store, "1", "fam-F").await;
    assert!(matches!(store.take_refresh(&r1.hash, NOW).await.expect("take_refresh"), Take::Fresh(_)));
    let (a2, r2) = save_pair(&*store, "2", "fam-F").await;
    let (a3, r3) = save_pair(&*store, "3", "fam-G").await;

    // Active in F: a1, a2 (access tokens are not revoked by rotation) and r2 (r1 is consumed).
    assert_eq!(store.revoke_family("fam-F").await.expect("revoke_family"), 3, "active tokens revoked");
    for a in [&a1, &a2] {
        let got =
            store.get_access(&a.hash).await.expect("get_access").expect("revoked tokens remain readable");
        assert!(got.revoked, "revoke_family must revoke every access token of the family");
    }
    assert_eq!(store.get_refresh(&r2.hash, NOW).await.expect("get_refresh"), None);
    assert_eq!(
        store.take_refresh(&r2.hash, NOW).await.expect("take_refresh"),
        Take::Replayed { family: "fam-F".into() },
        "a refresh token of a revoked family must be Replayed"
    );
    assert_eq!(
        store.take_refresh(&r1.hash, NOW).await.expect("take_refresh"),
        Take::Replayed { family: "fam-F".into() }
    );

    let other = store.get_access(&a3.hash).await.expect("get_access").expect("a3 exists");
    assert!(!other.revoked, "revoke_family must not touch another family");
    assert_eq!(store.get_refresh(&r3.hash, NOW).await.expect("get_refresh"), Some(r3));

    assert_eq!(store.revoke_family("fam-F").await.expect("revoke_family"), 0, "nothing left active");
    assert_eq!(store.revoke_family("no-such-family").await.expect("revoke_family"), 0);
}

/// An access token issued alone (client credentials) is a family of its own, named by its own
/// hash (`AccessTokenRecord::is_lone`); stores may keep such tokens out of their family index.
/// Revoking that family still revokes exactly that token, and a family that shares its name
/// with no token is not confused with one.
pub async fn a_lone_access_token_is_its_own_family(store: Arc<dyn Store>) {
    let lone = |label: &str| {
        let mut a = access(label, "", None);
        a.family = a.hash.clone();
        a.subject = None;
        a
    };
    let (a1, a2) = (lone("cc-1"), lone("cc-2"));
    assert!(a1.is_lone());
    for a in [&a1, &a2] {
        store.save_tokens(a, None).await.expect("save a lone access token");
    }
    let (shared, _) = save_pair(&*store, "S", "fam-S").await;
    assert_eq!(store.revoke_family(&a1.family).await.expect("revoke_family"), 1, "the lone token");
    assert!(access_is_revoked_or_gone(&*store, &a1.hash).await, "revoking its family revokes it");
    for other in [&a2, &shared] {
        let got = store.get_access(&other.hash).await.expect("get_access").expect("still there");
        assert!(!got.revoked, "revoke_family of a lone token touches no other token");
    }
    assert_eq!(store.revoke_family(&a1.family).await.expect("revoke_family"), 0, "nothing left active");
    // The name of a shared family is never a token's hash: revoking it finds no lone token.
    assert_eq!(store.revoke_family("fam-S").await.expect("revoke_family"), 2);
    assert!(!store.get_access(&a2.hash).await.expect("get_access").expect("a2").revoked);
}

/// A revoked family stays revoked: tokens saved into it afterwards are stored revoked. This is
/// the race of two redemptions of one code or refresh token (two nodes, one database): the
/// loser sees `Replayed` and revokes the family, possibly before the winner has saved what it
/// was issued; that must end up revoked too. Other families are untouched, and the mark is
/// purged once the family's rows have expired.
pub async fn tokens_saved_into_a_revoked_family_are_revoked(store: Arc<dyn Store>) {
    // Refresh rotation: the winner takes r1, the loser finds it taken and revokes the family,
    // then the winner's new pair arrives.
    let (a1, r1) = save_pair(&*store, "1", "fam-R").await;
    assert!(matches!(store.take_refresh(&r1.hash, NOW).await.expect("take_refresh"), Take::Fresh(_)));
    assert_eq!(
        store.take_refresh(&r1.hash, NOW).await.expect("take_refresh"),
        Take::Replayed { family: "fam-R".into() }
    );
    assert_eq!(store.revoke_family("fam-R").await.expect("revoke_family"), 1, "a1 was active");
    let (a2, r2) = save_pair(&*store, "2", "fam-R").await;
    for a in [&a1, &a2] {
        let got = store.get_access(&a.hash).await.expect("get_access").expect("saved");
        assert!(got.revoked, "an access token saved into a revoked family must be stored revoked");
    }
    assert_eq!(
        store.get_refresh(&r2.hash, NOW).await.expect("get_refresh"),
        None,
        "a refresh token saved into a revoked family must not be active"
    );
    assert_eq!(
        store.take_refresh(&r2.hash, NOW).await.expect("take_refresh"),
        Take::Replayed { family: "fam-R".into() },
        "a refresh token saved into a revoked family is a replay when presented"
    );

    // Code exchange: the family has no tokens yet when the replay revokes it.
    let c = code("sticky-code", "fam-C", NOW + 60);
    store.create_code(&c).await.expect("create_code");
    assert!(matches!(store.take_code(&c.hash, NOW).await.expect("take_code"), Take::Fresh(_)));
    assert_eq!(
        store.take_code(&c.hash, NOW).await.expect("take_code"),
        Take::Replayed { family: "fam-C".into() }
    );
    assert_eq!(store.revoke_family("fam-C").await.expect("revoke_family"), 0, "nothing issued yet");
    let lone = access("at-code", "fam-C", None);
    store.save_tokens(&lone, None).await.expect("save_tokens");
    assert!(
        store.get_access(&lone.hash).await.expect("get_access").expect("saved").revoked,
        "the late winner of a code race must get revoked tokens"
    );

    // Other families are untouched.
    let (a3, r3) = save_pair(&*store, "3", "fam-other").await;
    assert!(!store.get_access(&a3.hash).await.expect("get_access").expect("a3").revoked);
    assert_eq!(store.get_refresh(&r3.hash, NOW).await.expect("get_refresh"), Some(r3));

    // Once everything of the family has expired, the purge forgets the mark too (tables stay
    // bounded): a family id reused later is not revoked.
    let later = NOW + 10 * 86_400;
    while store.purge_expired(later, 1000).await.expect("purge_expired") > 0 {}
    let reused =
        AccessTokenRecord { issued_at: later, expires_at: later + 60, ..access("at-reused", "fam-R", None) };
    store.save_tokens(&reused, None).await.expect("save_tokens");
    assert!(
        !store.get_access(&reused.hash).await.expect("get_access").expect("saved").revoked,
        "the mark of a revoked family must be purged once the family's rows expired"
    );
}

/// Revoking a refresh token revokes the access tokens issued with it (RFC 7009 §2.1) and no
/// others; revoking an unknown token answers `false`.
pub async fn revoke_refresh_revokes_its_access_tokens(store: Arc<dyn Store>) {
    let (a1, r1) = save_pair(&*store, "1", "fam").await;
    let (a2, r2) = save_pair(&*store, "2", "fam").await;
    let lone = access("at-lone", "fam", None);
    store.save_tokens(&lone, None).await.expect("save_tokens");

    assert!(store.revoke_refresh(&r1.hash).await.expect("revoke_refresh"), "known token: true");
    assert!(store.get_access(&a1.hash).await.expect("get_access").expect("a1").revoked, "its access token");
    assert!(!store.get_access(&a2.hash).await.expect("get_access").expect("a2").revoked, "another pair's");
    assert!(!store.get_access(&lone.hash).await.expect("get_access").expect("lone").revoked);
    assert_eq!(store.get_refresh(&r1.hash, NOW).await.expect("get_refresh"), None);
    assert_eq!(store.get_refresh(&r2.hash, NOW).await.expect("get_refresh"), Some(r2));
    assert!(!store.revoke_refresh(&h("rt-unknown")).await.expect("revoke_refresh"), "unknown: false");

    assert!(store.revoke_access(&lone.hash).await.expect("revoke_access"), "known access token: true");
    assert!(store.get_access(&lone.hash).await.expect("get_access").expect("lone").revoked);
    assert!(!store.revoke_access(&h("at-unknown")).await.expect("revoke_access"), "unknown: false");
}

/// `list_tokens` shows live tokens (unexpired, unrevoked, unconsumed) matching the filter,
/// newest first, never the token itself; `revoke_tokens` revokes the live ones matching and
/// returns how many.
pub async fn list_and_revoke_tokens_by_filter(store: Arc<dyn Store>) {
    let at = |label: &str, client: &str, subject: Option<&str>, issued_at: UnixTime| AccessTokenRecord {
        client_id: client.to_owned(),
        subject: subject.map(str::to_owned),
        issued_at,
        ..access(label, &format!("fam-{label}"), None)
    };
    // alice @ app: a pair (live), an older consumed refresh, a revoked access token.
    let a1 = AccessTokenRecord { refresh_hash: Some(h("r1")), ..at("a1", "app", Some("alice"), NOW - 30) };
    let r1 = RefreshTokenRecord { issued_at: NOW - 31, ..refresh("r1", "fam-a1") };
    store.save_tokens(&a1, Some(&r1)).await.expect("save_tokens");
    let r_used = RefreshTokenRecord { issued_at: NOW - 40, ..refresh("r-used", "fam-used") };
    store.save_tokens(&at("a-used", "app", Some("alice"), NOW - 41), Some(&r_used)).await.expect("save");
    store.revoke_access(&h("a-used")).await.expect("revoke_access");
    assert!(matches!(store.take_refresh(&r_used.hash, NOW).await.expect("take_refresh"), Take::Fresh(_)));
    let a_revoked = AccessTokenRecord { revoked: true, ..at("a-rev", "app", Some("alice"), NOW - 5) };
    store.save_tokens(&a_revoked, None).await.expect("save_tokens");
    // bob @ app, a client-credentials token @ svc, and an expired token of carol @ app.
    let a2 = at("a2", "app", Some("bob"), NOW - 20);
    store.save_tokens(&a2, None).await.expect("save_tokens");
    let a3 = at("a3", "svc", None, NOW - 10);
    store.save_tokens(&a3, None).await.expect("save_tokens");
    let expired = AccessTokenRecord { expires_at: NOW, ..at("a-exp", "app", Some("carol"), NOW - 3600) };
    store.save_tokens(&expired, None).await.expect("save_tokens");

    let list = |client: Option<&str>, subject: Option<&str>| {
        let filter =
            TokenFilter { client_id: client.map(str::to_owned), subject: subject.map(str::to_owned) };
        let store = Arc::clone(&store);
        async move { store.list_tokens(&filter, NOW).await.expect("list_tokens") }
    };
    let prefixes = |v: &[TokenSummary]| v.iter().map(|t| (t.kind, t.hash_prefix.clone())).collect::<Vec<_>>();
    let p = |kind: &'static str, label: &str| (kind, h(label)[..12].to_owned());

    let all = list(None, None).await;
    assert_eq!(
        prefixes(&all),
        vec![
            p("access_token", "a3"),
            p("access_token", "a2"),
            p("access_token", "a1"),
            p("refresh_token", "r1")
        ],
        "list_tokens must show exactly the live tokens, newest first"
    );
    assert_eq!(
        all[3],
        TokenSummary {
            kind: "refresh_token",
            hash_prefix: h("r1")[..12].to_owned(),
            family: r1.family.clone(),
            client_id: "app".into(),
            subject: Some("alice".into()),
            scopes: r1.scopes.clone(),
            issued_at: r1.issued_at,
            expires_at: r1.expires_at,
        },
        "a summary carries the record's fields and only a 12-character hash prefix"
    );
    assert_eq!(all[0].subject, None, "a client-credentials token has no subject");
    assert_eq!(
        prefixes(&list(Some("app"), None).await),
        vec![p("access_token", "a2"), p("access_token", "a1"), p("refresh_token", "r1")],
        "filter by client"
    );
    assert_eq!(
        prefixes(&list(None, Some("alice")).await),
        vec![p("access_token", "a1"), p("refresh_token", "r1")],
        "filter by subject"
    );
    assert_eq!(
        prefixes(&list(Some("app"), Some("bob")).await),
        vec![p("access_token", "a2")],
        "both filters"
    );
    assert_eq!(prefixes(&list(Some("svc"), Some("bob")).await), vec![], "no match");
    assert!(
        prefixes(&store.list_tokens(&TokenFilter::default(), NOW - 3000).await.expect("list_tokens"))
            .contains(&p("access_token", "a-exp")),
        "a token is live while now < expires_at"
    );

    let alice = TokenFilter { client_id: None, subject: Some("alice".into()) };
    assert_eq!(store.revoke_tokens(&alice).await.expect("revoke_tokens"), 2, "alice's live a1 and r1");
    assert!(store.get_access(&a1.hash).await.expect("get_access").expect("a1").revoked);
    assert_eq!(store.get_refresh(&r1.hash, NOW).await.expect("get_refresh"), None);
    assert_eq!(list(None, Some("alice")).await, vec![], "nothing of alice's is live any more");
    assert_eq!(store.revoke_tokens(&alice).await.expect("revoke_tokens"), 0, "nothing left to revoke");
    assert!(!store.get_access(&a2.hash).await.expect("get_access").expect("a2").revoked, "bob untouched");
    let svc = TokenFilter { client_id: Some("svc".into()), subject: None };
    assert_eq!(store.revoke_tokens(&svc).await.expect("revoke_tokens"), 1);
    assert_eq!(prefixes(&list(None, None).await), vec![p("access_token", "a2")]);
}

/// `purge_expired` deletes only rows with `expires_at <= now`, at most `limit` per table per
/// call, and reports how many it deleted.
pub async fn purge_removes_only_expired_and_is_bounded(store: Arc<dyn Store>) {
    // Three expired rows per table (one expiring exactly now), one live row per table.
    for (i, expires_at) in [NOW - 100, NOW - 1, NOW].into_iter().enumerate() {
        store.create_code(&code(&format!("old-code-{i}"), "f", expires_at)).await.expect("create_code");
        let a = AccessTokenRecord { expires_at, ..access(&format!("old-at-{i}"), "f", None) };
        let r = RefreshTokenRecord { expires_at, ..refresh(&format!("old-rt-{i}"), "f") };
        store.save_tokens(&a, Some(&r)).await.expect("save_tokens");
    }
    assert!(matches!(store.take_code(&h("old-code-0"), NOW - 200).await.expect("take"), Take::Fresh(_)));
    let live_code = code("live-code", "g", NOW + 1);
    store.create_code(&live_code).await.expect("create_code");
    let (live_at, live_rt) = save_pair(&*store, "live", "g").await;

    assert_eq!(store.purge_expired(NOW, 0).await.expect("purge_expired"), 0, "limit 0 deletes nothing");
    let limit = 2;
    let mut total = 0;
    for _ in 0..10 {
        let n = store.purge_expired(NOW, limit).await.expect("purge_expired");
        assert!(n <= 3 * u64::from(limit), "purge_expired deleted {n} rows, more than {limit} per table");
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(total, 9, "every expired code, access and refresh token must be purged");
    assert_eq!(store.purge_expired(NOW, limit).await.expect("purge_expired"), 0, "nothing left to purge");

    for i in 0..3 {
        assert_eq!(store.get_access(&h(&format!("old-at-{i}"))).await.expect("get_access"), None);
        assert_eq!(
            store.take_code(&h(&format!("old-code-{i}")), NOW - 300).await.expect("take_code"),
            Take::Unknown,
            "a purged code is gone"
        );
        assert_eq!(
            store.take_refresh(&h(&format!("old-rt-{i}")), NOW - 300).await.expect("take_refresh"),
            Take::Unknown,
            "a purged refresh token is gone"
        );
    }
    assert_eq!(store.get_access(&live_at.hash).await.expect("get_access"), Some(live_at), "live access kept");
    assert_eq!(
        store.get_refresh(&live_rt.hash, NOW).await.expect("get_refresh"),
        Some(live_rt),
        "live refresh kept"
    );
    assert_eq!(
        store.take_code(&live_code.hash, NOW).await.expect("take_code"),
        Take::Fresh(live_code),
        "a live code survives the purge"
    );
}

/// Clients: create (`Conflict` on a taken id), get, update (`NotFound` when missing), list in
/// creation order, delete (removing the client's codes and tokens, and nobody else's).
pub async fn client_crud(store: Arc<dyn Store>) {
    let c1 = client("app", NOW - 200);
    let c2 = public_client("spa", NOW - 100);
    store.create_client(&c1).await.expect("create_client");
    store.create_client(&c2).await.expect("create_client");
    assert!(is_conflict(&store.create_client(&c1).await), "a taken client_id must be Conflict");
    assert_eq!(store.get_client("app").await.expect("get_client"), Some(c1.clone()), "round trip");
    assert_eq!(store.get_client("spa").await.expect("get_client"), Some(c2.clone()), "public round trip");
    assert_eq!(store.get_client("nobody").await.expect("get_client"), None);
    assert_eq!(
        store.list_clients().await.expect("list_clients"),
        vec![c1.clone(), c2.clone()],
        "creation order"
    );

    let changed = Client {
        name: "Renamed".into(),
        redirect_uris: vec!["https://new.example/cb".into()],
        grant_types: vec!["client_credentials".into()],
        scopes: scopes("invoices:write"),
        auth_method: AuthMethod::ClientSecretPost,
        trusted: true,
        access_token_lifetime: None,
        refresh_token_lifetime: Some(7200),
        secret: Some(SecretHash::for_generated(&generate(TokenKind::ClientSecret))),
        updated_at: NOW,
        ..c1.clone()
    };
    store.update_client(&changed).await.expect("update_client");
    assert_eq!(store.get_client("app").await.expect("get_client"), Some(changed.clone()), "update replaces");
    assert_eq!(
        store.update_client(&client("nobody", NOW)).await,
        Err(StoreError::NotFound),
        "updating a missing client must be NotFound"
    );
    assert_eq!(store.get_client("nobody").await.expect("get_client"), None, "update must not create");

    // Codes and tokens of both clients; deleting one removes only its own.
    store.create_code(&code("app-code", "f1", NOW + 60)).await.expect("create_code");
    let (app_at, app_rt) = save_pair(&*store, "app", "f1").await;
    let spa_code = AuthorizationCode { client_id: "spa".into(), ..code("spa-code", "f2", NOW + 60) };
    store.create_code(&spa_code).await.expect("create_code");
    let spa_at = AccessTokenRecord { client_id: "spa".into(), ..access("at-spa", "f2", Some("rt-spa")) };
    let spa_rt = RefreshTokenRecord { client_id: "spa".into(), ..refresh("rt-spa", "f2") };
    store.save_tokens(&spa_at, Some(&spa_rt)).await.expect("save_tokens");

    assert!(store.delete_client("app").await.expect("delete_client"), "deleting an existing client: true");
    assert_eq!(store.get_client("app").await.expect("get_client"), None);
    assert_eq!(store.take_code(&h("app-code"), NOW).await.expect("take_code"), Take::Unknown, "its codes go");
    assert!(access_is_revoked_or_gone(&*store, &app_at.hash).await, "its access tokens go");
    assert_eq!(
        store.get_refresh(&app_rt.hash, NOW).await.expect("get_refresh"),
        None,
        "its refresh tokens go"
    );
    assert!(
        !matches!(store.take_refresh(&app_rt.hash, NOW).await.expect("take_refresh"), Take::Fresh(_)),
        "a deleted client's refresh token must not be Fresh"
    );
    assert!(!store.delete_client("app").await.expect("delete_client"), "deleting a missing client: false");

    assert_eq!(store.list_clients().await.expect("list_clients"), vec![c2]);
    assert_eq!(
        store.get_access(&spa_at.hash).await.expect("get_access"),
        Some(spa_at),
        "others' tokens stay"
    );
    assert_eq!(store.get_refresh(&spa_rt.hash, NOW).await.expect("get_refresh"), Some(spa_rt));
    assert_eq!(store.take_code(&spa_code.hash, NOW).await.expect("take_code"), Take::Fresh(spa_code));
}

/// Client secret hashes come back exactly as stored and still verify: generated (SHA-256),
/// imported (Argon2id) and none (public client).
pub async fn secret_hash_round_trips(store: Arc<dyn Store>) {
    let generated = generate(TokenKind::ClientSecret);
    let imported = SecretString::new("correct horse battery staple");
    let argon = SecretHash::for_imported(&imported).expect("argon2 hashing");
    let cases = [
        Client { secret: Some(SecretHash::for_generated(&generated)), ..client("gen", NOW - 3) },
        Client { secret: Some(argon), auth_method: AuthMethod::ClientSecretPost, ..client("imp", NOW - 2) },
        public_client("pub", NOW - 1),
    ];
    for c in &cases {
        store.create_client(c).await.expect("create_client");
    }
    for c in &cases {
        let got = store.get_client(&c.id).await.expect("get_client").expect("client exists");
        assert_eq!(got.secret, c.secret, "the secret hash of {} must round trip", c.id);
    }
    let stored = |id: &str| {
        let store = Arc::clone(&store);
        let id = id.to_owned();
        async move { store.get_client(&id).await.expect("get_client").and_then(|c| c.secret).expect("secret") }
    };
    assert!(stored("gen").await.verify(generated.expose()), "a generated secret verifies after storage");
    assert!(!stored("gen").await.verify("pc_cs_wrong"), "a wrong secret does not verify");
    assert!(stored("imp").await.verify(imported.expose()), "an imported secret verifies after storage");
    assert!(!stored("imp").await.verify("correct horse"), "a wrong secret does not verify");
    let listed = store.list_clients().await.expect("list_clients");
    assert_eq!(listed.iter().map(|c| c.secret.clone()).collect::<Vec<_>>(), cases.map(|c| c.secret).to_vec());
}

/// Scopes: create (`Conflict` on a taken name), get, list by name, update (`NotFound` when
/// missing), delete.
pub async fn scope_crud(store: Arc<dyn Store>) {
    let def = |name: &str, is_default: bool| ScopeDef {
        name: name.to_owned(),
        description: format!("Access to {name} — ünïcode"),
        is_default,
        translations: [("de".to_owned(), format!("Zugriff auf {name}"))].into_iter().collect(),
    };
    for s in [def("profile", true), def("invoices:read", false), def("openid", true)] {
        store.create_scope(&s).await.expect("create_scope");
    }
    assert!(is_conflict(&store.create_scope(&def("openid", false)).await), "a taken name must be Conflict");
    assert_eq!(store.get_scope("openid").await.expect("get_scope"), Some(def("openid", true)));
    assert_eq!(store.get_scope("nope").await.expect("get_scope"), None);
    let names = |v: Vec<ScopeDef>| v.into_iter().map(|s| s.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_scopes().await.expect("list_scopes")),
        vec!["invoices:read", "openid", "profile"],
        "list_scopes is ordered by name"
    );

    let changed = ScopeDef { description: "Your profile".into(), is_default: false, ..def("profile", true) };
    store.update_scope(&changed).await.expect("update_scope");
    assert_eq!(store.get_scope("profile").await.expect("get_scope"), Some(changed));
    assert_eq!(store.update_scope(&def("nope", false)).await, Err(StoreError::NotFound), "update missing");
    assert_eq!(store.get_scope("nope").await.expect("get_scope"), None, "update must not create");

    assert!(store.delete_scope("openid").await.expect("delete_scope"), "deleting an existing scope: true");
    assert!(!store.delete_scope("openid").await.expect("delete_scope"), "deleting a missing scope: false");
    assert_eq!(names(store.list_scopes().await.expect("list_scopes")), vec!["invoices:read", "profile"]);
}

/// Accounts: create (`Conflict` on a taken id or username), get, find by username, update
/// (`NotFound` when missing, `Conflict` on a taken username), list by username, delete (which
/// revokes the account's tokens and codes, and nobody else's).
pub async fn account_crud(store: Arc<dyn Store>) {
    let alice = account("alice", "alice");
    let bob = Account { password_hash: None, claims: serde_json::Map::new(), ..account("bob", "bob") };
    store.create_account(&alice).await.expect("create_account");
    store.create_account(&bob).await.expect("create_account");
    assert!(
        is_conflict(&store.create_account(&account("alice", "alice2")).await),
        "a taken id must be Conflict"
    );
    assert!(
        is_conflict(&store.create_account(&account("carol", "alice")).await),
        "a taken username must be Conflict"
    );
    assert_eq!(
        store.get_account("carol").await.expect("get_account"),
        None,
        "a failed create stores nothing"
    );
    assert_eq!(store.get_account("alice").await.expect("get_account"), Some(alice.clone()), "round trip");
    assert_eq!(
        store.get_account("bob").await.expect("get_account"),
        Some(bob.clone()),
        "round trip, no password"
    );
    assert_eq!(store.get_account("nobody").await.expect("get_account"), None);
    assert_eq!(store.find_account_by_username("bob").await.expect("find"), Some(bob.clone()));
    assert_eq!(store.find_account_by_username("nobody").await.expect("find"), None);

    // Rename alice to "zed": the list follows usernames, the old name is free.
    let renamed = Account { username: "zed".into(), updated_at: NOW, ..alice.clone() };
    store.update_account(&renamed).await.expect("update_account");
    assert_eq!(store.get_account("alice").await.expect("get_account"), Some(renamed.clone()));
    assert_eq!(store.find_account_by_username("alice").await.expect("find"), None, "old username is free");
    assert_eq!(store.find_account_by_username("zed").await.expect("find"), Some(renamed.clone()));
    assert_eq!(
        store.list_accounts().await.expect("list_accounts"),
        vec![bob.clone(), renamed.clone()],
        "list_accounts is ordered by username"
    );
    let taken = Account { username: "bob".into(), ..renamed.clone() };
    assert!(
        is_conflict(&store.update_account(&taken).await),
        "renaming to a taken username must be Conflict"
    );
    assert_eq!(
        store.get_account("alice").await.expect("get_account"),
        Some(renamed),
        "unchanged by a conflict"
    );
    assert_eq!(
        store.update_account(&account("nobody", "nobody")).await,
        Err(StoreError::NotFound),
        "updating a missing account must be NotFound"
    );

    // Tokens and a code for alice (the subject is the account id) and bob.
    let (a_at, a_rt) = save_pair(&*store, "alice", "fa").await;
    store.create_code(&code("alice-code", "fa2", NOW + 60)).await.expect("create_code");
    let b_at = AccessTokenRecord { subject: Some("bob".into()), ..access("at-bob", "fb", Some("rt-bob")) };
    let b_rt = RefreshTokenRecord { subject: Some("bob".into()), ..refresh("rt-bob", "fb") };
    store.save_tokens(&b_at, Some(&b_rt)).await.expect("save_tokens");

    assert!(
        store.delete_account("alice").await.expect("delete_account"),
        "deleting an existing account: true"
    );
    assert_eq!(store.get_account("alice").await.expect("get_account"), None);
    assert_eq!(store.find_account_by_username("zed").await.expect("find"), None);
    assert!(access_is_revoked_or_gone(&*store, &a_at.hash).await, "its access tokens are revoked");
    assert_eq!(
        store.get_refresh(&a_rt.hash, NOW).await.expect("get_refresh"),
        None,
        "its refresh tokens too"
    );
    assert!(
        !matches!(store.take_refresh(&a_rt.hash, NOW).await.expect("take_refresh"), Take::Fresh(_)),
        "a deleted account's refresh token must not be Fresh"
    );
    assert!(
        !matches!(store.take_code(&h("alice-code"), NOW).await.expect("take_code"), Take::Fresh(_)),
        "a deleted account's code must not be Fresh"
    );
    assert!(
        !store.delete_account("alice").await.expect("delete_account"),
        "deleting a missing account: false"
    );

    assert_eq!(store.list_accounts().await.expect("list_accounts"), vec![bob]);
    assert_eq!(store.get_access(&b_at.hash).await.expect("get_access"), Some(b_at), "others' tokens stay");
    assert_eq!(store.get_refresh(&b_rt.hash, NOW).await.expect("get_refresh"), Some(b_rt));
}

// ---------------------------------------------------------------------------------------------
// Interaction: pending authorizations, consents, sessions

fn pending(label: &str, client_id: &str, expires_at: UnixTime) -> PendingAuthorization {
    PendingAuthorization {
        id_hash: h(label),
        client_id: client_id.to_owned(),
        redirect_uri: "https://app.example/cb?x=1".to_owned(),
        redirect_uri_given: true,
        response_type: ResponseType::Code,
        scopes: scopes("openid profile"),
        state: Some("st \u{e9}<\"&>".to_owned()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        code_challenge_method: Some(CodeChallengeMethod::S256),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        prompt_login: true,
        prompt_consent: false,
        max_age: Some(600),
        login_hint: Some("alice".to_owned()),
        ui_locales: Some("de en".to_owned()),
        error: Some(portcullis_core::model::authorization::PendingError {
            code: "invalid_scope".to_owned(),
            description: Some("unknown scope".to_owned()),
        }),
        created_at: NOW - 10,
        expires_at,
    }
}

/// Pending requests: stored whole, read without being consumed, taken exactly once, and
/// invisible once expired.
pub async fn pending_is_taken_once_and_expires(store: Arc<dyn Store>) {
    let p = pending("p1", "c1", NOW + 600);
    store.create_pending(&p).await.expect("create_pending");
    assert!(is_conflict(&store.create_pending(&p).await), "a taken id must be Conflict");
    assert_eq!(store.get_pending(&h("p1"), NOW).await.expect("get_pending"), Some(p.clone()));
    assert_eq!(
        store.get_pending(&h("p1"), NOW).await.expect("get_pending"),
        Some(p.clone()),
        "get does not consume"
    );
    assert_eq!(store.take_pending(&h("p1"), NOW).await.expect("take_pending"), Some(p.clone()));
    assert_eq!(store.take_pending(&h("p1"), NOW).await.expect("take_pending"), None, "taken once");
    assert_eq!(store.get_pending(&h("p1"), NOW).await.expect("get_pending"), None);
    let old = pending("p2", "c1", NOW);
    store.create_pending(&old).await.expect("create_pending");
    assert_eq!(store.get_pending(&h("p2"), NOW).await.expect("get_pending"), None, "expired at expires_at");
    assert_eq!(
        store.take_pending(&h("p2"), NOW).await.expect("take_pending"),
        None,
        "expired cannot be taken"
    );
    assert_eq!(store.take_pending(&h("nope"), NOW).await.expect("take_pending"), None);
    assert!(store.purge_expired(NOW, 100).await.expect("purge") >= 1, "expired pending rows are purged");
}

/// Two browsers approving the same request at once: exactly one takes it.
pub async fn concurrent_take_pending_exactly_one(store: Arc<dyn Store>) {
    store.create_pending(&pending("race", "c1", NOW + 600)).await.expect("create_pending");
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take_pending(&h("race"), NOW).await })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        if t.await.expect("join").expect("take_pending").is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one concurrent take_pending succeeds");
}

/// Consents: upsert per (subject, client), list with filters, revoke; deleting the client or
/// the account removes them.
pub async fn consent_crud_and_cascades(store: Arc<dyn Store>) {
    store.create_client(&client("c1", NOW)).await.expect("create_client");
    store.create_client(&client("c2", NOW)).await.expect("create_client");
    store.create_account(&account("u1", "alice")).await.expect("create_account");
    let consent = |sub: &str, cid: &str, sc: &str, t: UnixTime| Consent {
        subject: sub.to_owned(),
        client_id: cid.to_owned(),
        scopes: scopes(sc),
        granted_at: t,
        updated_at: t,
    };
    assert_eq!(store.get_consent("u1", "c1").await.expect("get_consent"), None);
    store.save_consent(&consent("u1", "c1", "openid", NOW)).await.expect("save_consent");
    let widened = Consent { granted_at: NOW, ..consent("u1", "c1", "openid profile", NOW + 5) };
    store.save_consent(&widened).await.expect("save_consent replaces");
    assert_eq!(store.get_consent("u1", "c1").await.expect("get_consent"), Some(widened.clone()));
    store.save_consent(&consent("u1", "c2", "openid", NOW + 1)).await.expect("save_consent");
    store.save_consent(&consent("u2", "c1", "openid", NOW + 2)).await.expect("save_consent");
    let pairs = |v: Vec<Consent>| v.into_iter().map(|c| (c.subject, c.client_id)).collect::<Vec<_>>();
    let all = pairs(store.list_consents(None, None).await.expect("list_consents"));
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], ("u1".to_owned(), "c1".to_owned()), "newest first");
    assert_eq!(pairs(store.list_consents(Some("u1"), None).await.expect("list")).len(), 2);
    assert_eq!(pairs(store.list_consents(None, Some("c1")).await.expect("list")).len(), 2);
    assert_eq!(pairs(store.list_consents(Some("u1"), Some("c2")).await.expect("list")).len(), 1);
    assert!(store.revoke_consent("u2", "c1").await.expect("revoke_consent"));
    assert!(!store.revoke_consent("u2", "c1").await.expect("revoke_consent"), "second revoke: false");
    assert!(store.delete_client("c2").await.expect("delete_client"));
    assert_eq!(store.get_consent("u1", "c2").await.expect("get_consent"), None, "client delete cascades");
    assert!(store.delete_account("u1").await.expect("delete_account"));
    assert_eq!(store.get_consent("u1", "c1").await.expect("get_consent"), None, "account delete cascades");
}

/// Sessions: found by id hash while unexpired, deleted once; deleting the account ends them.
pub async fn session_lifecycle_and_cascades(store: Arc<dyn Store>) {
    store.create_account(&account("u1", "alice")).await.expect("create_account");
    let session = |label: &str, expires_at: UnixTime| Session {
        id_hash: h(label),
        subject: "u1".to_owned(),
        auth_time: NOW - 5,
        expires_at,
    };
    store.create_session(&session("s1", NOW + 60)).await.expect("create_session");
    assert!(is_conflict(&store.create_session(&session("s1", NOW + 60)).await));
    assert_eq!(store.get_session(&h("s1"), NOW).await.expect("get_session"), Some(session("s1", NOW + 60)));
    assert_eq!(
        store.get_session(&h("s1"), NOW + 60).await.expect("get_session"),
        None,
        "expired at expires_at"
    );
    assert!(store.delete_session(&h("s1")).await.expect("delete_session"));
    assert!(!store.delete_session(&h("s1")).await.expect("delete_session"));
    store.create_session(&session("s2", NOW + 60)).await.expect("create_session");
    store.create_session(&session("s3", NOW - 1)).await.expect("create_session");
    assert!(store.purge_expired(NOW, 100).await.expect("purge") >= 1);
    assert!(store.delete_account("u1").await.expect("delete_account"));
    assert_eq!(store.get_session(&h("s2"), NOW).await.expect("get_session"), None, "account delete cascades");
}

// ---------------------------------------------------------------------------------------------
// Signing keys

fn signing_key(kid: &str, not_before: UnixTime) -> SigningKeyRecord {
    let mut jwk = serde_json::Map::new();
    jwk.insert("kty".into(), "EC".into());
    jwk.insert("crv".into(), "P-256".into());
    jwk.insert("x".into(), format!("x-{kid}").into());
    jwk.insert("y".into(), "ÿ-ünïcode".into());
    jwk.insert("kid".into(), kid.into());
    jwk.insert("alg".into(), "ES256".into());
    jwk.insert("use".into(), "sig".into());
    SigningKeyRecord {
        kid: kid.to_owned(),
        alg: SigningAlg::ES256,
        private_key: SecretString::new(format!("aes256gcm:sealed-{kid}")),
        public_jwk: jwk,
        created_at: not_before - 10,
        not_before,
        retire_at: None,
        expires_at: None,
    }
}

fn kids(keys: &[SigningKeyRecord]) -> Vec<&str> {
    keys.iter().map(|k| k.kid.as_str()).collect()
}

/// `create_first_key` stores a key only while no live key exists, also when racing.
pub async fn first_key_is_created_once(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.create_first_key(&signing_key(&format!("k{i}"), NOW), NOW).await.expect("create_first_key")
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += usize::from(t.await.expect("task"));
    }
    assert_eq!(created, 1, "exactly one racing create_first_key may store its key");
    assert_eq!(store.list_keys().await.expect("list_keys").len(), 1);
    // Once every key has expired, a first key may be created again.
    let only = store.list_keys().await.expect("list_keys").remove(0);
    store.retire_key(&only.kid, NOW, NOW + 5).await.expect("retire_key");
    assert!(!store.create_first_key(&signing_key("later", NOW + 4), NOW + 4).await.expect("create"));
    assert!(store.create_first_key(&signing_key("later", NOW + 5), NOW + 5).await.expect("create"));
}

/// A key comes back exactly as stored: algorithm, private key, public JWK, times.
pub async fn key_round_trips_with_its_private_key(store: Arc<dyn Store>) {
    let k = signing_key("k1", NOW);
    assert!(store.create_first_key(&k, NOW).await.expect("create_first_key"));
    assert_eq!(store.list_keys().await.expect("list_keys"), vec![k]);
}

/// Rotations racing (scheduled rotation runs on every node) each retire the keys before them:
/// afterwards exactly one key has no `retire_at`, so one key signs and every other ends.
pub async fn concurrent_rotations_keep_one_chain(store: Arc<dyn Store>) {
    assert!(store.create_first_key(&signing_key("k0", NOW), NOW).await.expect("create_first_key"));
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.rotate_key(&signing_key(&format!("r{i}"), NOW + 10), 3600).await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("a concurrent rotate_key failed");
    }
    let keys = store.list_keys().await.expect("list_keys");
    assert_eq!(keys.len(), RACERS + 1);
    let unretired: Vec<&str> =
        keys.iter().filter(|k| k.retire_at.is_none()).map(|k| k.kid.as_str()).collect();
    assert_eq!(unretired.len(), 1, "exactly one key may be left without a successor: {unretired:?}");
}

/// `rotate_key` adds the new key and gives every key without `retire_at` its end: it stops
/// signing when the new key starts and expires `retention` later. Keys already retired keep
/// their (earlier) times. Keys list in `not_before` order.
pub async fn rotate_key_schedules_the_old_keys(store: Arc<dyn Store>) {
    let k1 = signing_key("k1", NOW - 100);
    assert!(store.create_first_key(&k1, NOW - 100).await.expect("create_first_key"));
    let k2 = signing_key("k2", NOW + 30);
    store.rotate_key(&k2, 3600).await.expect("rotate_key");
    let keys = store.list_keys().await.expect("list_keys");
    assert_eq!(kids(&keys), vec!["k1", "k2"]);
    assert_eq!((keys[0].retire_at, keys[0].expires_at), (Some(NOW + 30), Some(NOW + 3630)));
    assert_eq!((keys[1].retire_at, keys[1].expires_at), (None, None), "the new key is untouched");
    assert!(keys[0].signs_at(NOW) && !keys[0].signs_at(NOW + 30) && keys[0].verifies_at(NOW + 3629));

    let k3 = signing_key("k3", NOW + 60);
    store.rotate_key(&k3, 10).await.expect("rotate_key");
    let keys = store.list_keys().await.expect("list_keys");
    assert_eq!(kids(&keys), vec!["k1", "k2", "k3"]);
    assert_eq!(keys[0].expires_at, Some(NOW + 3630), "an already retired key keeps its times");
    assert_eq!((keys[1].retire_at, keys[1].expires_at), (Some(NOW + 60), Some(NOW + 70)));
    assert!(matches!(store.rotate_key(&k3, 10).await, Err(StoreError::Conflict(_))), "kid is unique");
}

/// `retire_key` sets the times, never later than they already are; unknown kid is `false`.
pub async fn retire_key_never_extends(store: Arc<dyn Store>) {
    assert!(store.create_first_key(&signing_key("k1", NOW), NOW).await.expect("create_first_key"));
    assert!(store.retire_key("k1", NOW + 10, NOW + 100).await.expect("retire_key"));
    assert!(store.retire_key("k1", NOW + 20, NOW + 200).await.expect("retire_key"));
    let k = store.list_keys().await.expect("list_keys").remove(0);
    assert_eq!((k.retire_at, k.expires_at), (Some(NOW + 10), Some(NOW + 100)), "never extended");
    assert!(store.retire_key("k1", NOW + 10, NOW + 10).await.expect("retire_key"));
    let k = store.list_keys().await.expect("list_keys").remove(0);
    assert_eq!(k.expires_at, Some(NOW + 10), "an immediate retirement shortens it");
    assert!(!store.retire_key("nope", NOW, NOW).await.expect("retire_key"));
}

/// `purge_expired` deletes keys whose `expires_at <= now`, and no others.
pub async fn purge_removes_expired_keys(store: Arc<dyn Store>) {
    assert!(store.create_first_key(&signing_key("old", NOW - 100), NOW - 100).await.expect("create"));
    store.rotate_key(&signing_key("new", NOW - 50), 50).await.expect("rotate_key");
    assert_eq!(store.list_keys().await.expect("list_keys")[0].expires_at, Some(NOW));
    assert_eq!(store.purge_expired(NOW - 1, 10).await.expect("purge"), 0);
    assert_eq!(store.purge_expired(NOW, 10).await.expect("purge"), 1);
    assert_eq!(kids(&store.list_keys().await.expect("list_keys")), vec!["new"]);
}

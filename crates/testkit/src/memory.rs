//! An in-memory [`Store`] with exactly the semantics the `portcullis_core::store` trait docs
//! give. One mutex around the whole state makes every method one atomic operation.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use portcullis_core::model::account::Account;
use portcullis_core::model::authorization::{AuthorizationCode, PendingAuthorization};
use portcullis_core::model::client::Client;
use portcullis_core::model::consent::Consent;
use portcullis_core::model::key::SigningKeyRecord;
use portcullis_core::model::scope::ScopeDef;
use portcullis_core::model::session::Session;
use portcullis_core::model::token::{AccessTokenRecord, RefreshTokenRecord, Take};
use portcullis_core::store::{
    AccountStore, AuthorizationStore, ClientStore, ConsentStore, KeyStore, ScopeStore, SessionStore, Store,
    StoreError, StoreResult, TokenFilter, TokenStore, TokenSummary,
};
use portcullis_core::UnixTime;

/// A store kept in memory. Clones share the same data.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    unavailable: bool,
    /// Store calls left before `unavailable` switches on (fault injection).
    calls_before_failure: Option<u64>,
    seq: u64,
    clients: Vec<Client>,
    scopes: BTreeMap<String, ScopeDef>,
    codes: HashMap<String, CodeRow>,
    access: HashMap<String, AccessRow>,
    refresh: HashMap<String, RefreshRow>,
    accounts: HashMap<String, Account>,
    pending: HashMap<String, PendingAuthorization>,
    consents: BTreeMap<(String, String), Consent>,
    sessions: HashMap<String, Session>,
    /// Families revoked by `revoke_family`, with the time the mark may be purged.
    revoked_families: HashMap<String, UnixTime>,
    keys: Vec<SigningKeyRecord>,
}

#[derive(Debug)]
struct CodeRow {
    code: AuthorizationCode,
    used: bool,
}

#[derive(Debug)]
struct AccessRow {
    seq: u64,
    rec: AccessTokenRecord,
}

#[derive(Debug)]
struct RefreshRow {
    seq: u64,
    rec: RefreshTokenRecord,
    /// Rotated out by `take_refresh`.
    consumed: bool,
    revoked: bool,
}

impl RefreshRow {
    fn active(&self) -> bool {
        !self.consumed && !self.revoked
    }
}

fn matches(filter: &TokenFilter, client_id: &str, subject: Option<&str>) -> bool {
    filter.client_id.as_deref().is_none_or(|c| c == client_id)
        && filter.subject.as_deref().is_none_or(|s| Some(s) == subject)
}

impl State {
    fn take_code(&mut self, hash: &str, now: UnixTime) -> Take<AuthorizationCode> {
        let Some(row) = self.codes.get_mut(hash) else { return Take::Unknown };
        if row.code.expires_at <= now {
            return Take::Unknown;
        }
        if row.used {
            return Take::Replayed { family: row.code.family.clone() };
        }
        row.used = true;
        Take::Fresh(row.code.clone())
    }

    fn take_refresh(&mut self, hash: &str, now: UnixTime) -> Take<RefreshTokenRecord> {
        let Some(row) = self.refresh.get_mut(hash) else { return Take::Unknown };
        if row.rec.expires_at <= now {
            return Take::Unknown;
        }
        if !row.active() {
            return Take::Replayed { family: row.rec.family.clone() };
        }
        row.consumed = true;
        Take::Fresh(row.rec.clone())
    }

    /// `redeem_code` and `rotate_refresh`: under one lock, `take` and, when it is `Fresh`, the
    /// save are one step. A conflict is found before the take, so a failed save consumes nothing.
    fn redeem(
        &mut self,
        take: impl FnOnce(&mut State) -> Take<()>,
        access: &AccessTokenRecord,
        refresh: Option<&RefreshTokenRecord>,
    ) -> StoreResult<Take<()>> {
        self.check_new_tokens(access, refresh)?;
        let taken = take(self);
        if taken == Take::Fresh(()) {
            self.insert_tokens(access, refresh);
        }
        Ok(taken)
    }

    /// What would make [`State::insert_tokens`] fail: a token with the same hash.
    fn check_new_tokens(
        &self,
        access: &AccessTokenRecord,
        refresh: Option<&RefreshTokenRecord>,
    ) -> StoreResult<()> {
        if self.access.contains_key(&access.hash)
            || refresh.is_some_and(|r| self.refresh.contains_key(&r.hash))
        {
            return Err(StoreError::Conflict("token".into()));
        }
        Ok(())
    }

    /// Store tokens already checked by [`State::check_new_tokens`].
    fn insert_tokens(&mut self, access: &AccessTokenRecord, refresh: Option<&RefreshTokenRecord>) {
        // Saved into a revoked family: born revoked (see `revoke_family`).
        let family_revoked = self.revoked_families.contains_key(&access.family);
        if let Some(r) = refresh {
            let seq = self.next_seq();
            let revoked = self.revoked_families.contains_key(&r.family);
            self.refresh.insert(r.hash.clone(), RefreshRow { seq, rec: r.clone(), consumed: false, revoked });
        }
        let seq = self.next_seq();
        let mut rec = access.clone();
        rec.revoked |= family_revoked;
        self.access.insert(access.hash.clone(), AccessRow { seq, rec });
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not wedge the other tests: recover the data.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn state(&self) -> StoreResult<MutexGuard<'_, State>> {
        let mut s = self.lock();
        match s.calls_before_failure {
            Some(0) => {
                s.calls_before_failure = None;
                s.unavailable = true;
            }
            Some(n) => s.calls_before_failure = Some(n - 1),
            None => {}
        }
        if s.unavailable {
            return Err(StoreError::Unavailable("MemoryStore set unavailable".into()));
        }
        Ok(s)
    }

    /// Make every store call fail with [`StoreError::Unavailable`] (or work again).
    pub fn set_unavailable(&self, unavailable: bool) {
        let mut s = self.lock();
        s.unavailable = unavailable;
        s.calls_before_failure = None;
    }

    /// Let the next `calls` store calls succeed, then make every call fail with
    /// [`StoreError::Unavailable`] until [`MemoryStore::set_unavailable`]`(false)`: a failure in
    /// the middle of a request ("fail the N-th call"). The inspection helpers below do not count.
    pub fn fail_after(&self, calls: u64) {
        self.lock().calls_before_failure = Some(calls);
    }

    /// Every access token row, revoked or expired included, oldest first.
    pub fn access_tokens(&self) -> Vec<AccessTokenRecord> {
        let s = self.lock();
        let mut rows: Vec<&AccessRow> = s.access.values().collect();
        rows.sort_by_key(|r| r.seq);
        rows.into_iter().map(|r| r.rec.clone()).collect()
    }

    /// Every refresh token row, consumed, revoked or expired included, oldest first.
    pub fn refresh_tokens(&self) -> Vec<RefreshTokenRecord> {
        let s = self.lock();
        let mut rows: Vec<&RefreshRow> = s.refresh.values().collect();
        rows.sort_by_key(|r| r.seq);
        rows.into_iter().map(|r| r.rec.clone()).collect()
    }

    /// How many token rows (access + refresh) exist, whatever their state.
    pub fn token_count(&self) -> usize {
        let s = self.lock();
        s.access.len() + s.refresh.len()
    }

    /// How many authorization code rows exist, used or not.
    pub fn code_count(&self) -> usize {
        self.lock().codes.len()
    }

    /// Whether the refresh token with this hash was revoked (`None` if unknown).
    pub fn refresh_revoked(&self, hash: &str) -> Option<bool> {
        self.lock().refresh.get(hash).map(|r| r.revoked)
    }
}

#[async_trait::async_trait]
impl ClientStore for MemoryStore {
    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        Ok(self.state()?.clients.iter().find(|c| c.id == id).cloned())
    }

    async fn create_client(&self, client: &Client) -> StoreResult<()> {
        let mut s = self.state()?;
        if s.clients.iter().any(|c| c.id == client.id) {
            return Err(StoreError::Conflict(format!("client {}", client.id)));
        }
        s.clients.push(client.clone());
        Ok(())
    }

    async fn update_client(&self, client: &Client) -> StoreResult<()> {
        let mut s = self.state()?;
        let row = s.clients.iter_mut().find(|c| c.id == client.id).ok_or(StoreError::NotFound)?;
        *row = client.clone();
        Ok(())
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let mut s = self.state()?;
        let before = s.clients.len();
        s.clients.retain(|c| c.id != id);
        if s.clients.len() == before {
            return Ok(false);
        }
        s.codes.retain(|_, r| r.code.client_id != id);
        s.access.retain(|_, r| r.rec.client_id != id);
        s.refresh.retain(|_, r| r.rec.client_id != id);
        s.consents.retain(|(_, c), _| c != id);
        s.pending.retain(|_, p| p.client_id != id);
        Ok(true)
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let mut v = self.state()?.clients.clone();
        // Stable: clients created in the same second keep their insertion order.
        v.sort_by_key(|c| c.created_at);
        Ok(v)
    }
}

#[async_trait::async_trait]
impl ScopeStore for MemoryStore {
    async fn get_scope(&self, name: &str) -> StoreResult<Option<ScopeDef>> {
        Ok(self.state()?.scopes.get(name).cloned())
    }

    async fn list_scopes(&self) -> StoreResult<Vec<ScopeDef>> {
        Ok(self.state()?.scopes.values().cloned().collect())
    }

    async fn create_scope(&self, scope: &ScopeDef) -> StoreResult<()> {
        let mut s = self.state()?;
        if s.scopes.contains_key(&scope.name) {
            return Err(StoreError::Conflict(format!("scope {}", scope.name)));
        }
        s.scopes.insert(scope.name.clone(), scope.clone());
        Ok(())
    }

    async fn update_scope(&self, scope: &ScopeDef) -> StoreResult<()> {
        let mut s = self.state()?;
        let row = s.scopes.get_mut(&scope.name).ok_or(StoreError::NotFound)?;
        *row = scope.clone();
        Ok(())
    }

    async fn delete_scope(&self, name: &str) -> StoreResult<bool> {
        Ok(self.state()?.scopes.remove(name).is_some())
    }
}

#[async_trait::async_trait]
impl AuthorizationStore for MemoryStore {
    async fn create_code(&self, code: &AuthorizationCode) -> StoreResult<()> {
        let mut s = self.state()?;
        if s.codes.contains_key(&code.hash) {
            return Err(StoreError::Conflict("authorization code".into()));
        }
        s.codes.insert(code.hash.clone(), CodeRow { code: code.clone(), used: false });
        Ok(())
    }

    async fn take_code(&self, hash: &str, now: UnixTime) -> StoreResult<Take<AuthorizationCode>> {
        Ok(self.state()?.take_code(hash, now))
    }

    async fn get_code(&self, hash: &str, now: UnixTime) -> StoreResult<Option<AuthorizationCode>> {
        let s = self.state()?;
        Ok(s.codes.get(hash).filter(|r| !r.used && r.code.expires_at > now).map(|r| r.code.clone()))
    }

    async fn create_pending(&self, pending: &PendingAuthorization) -> StoreResult<()> {
        let mut s = self.state()?;
        if s.pending.contains_key(&pending.id_hash) {
            return Err(StoreError::Conflict("pending authorization".into()));
        }
        s.pending.insert(pending.id_hash.clone(), pending.clone());
        Ok(())
    }

    async fn get_pending(&self, id_hash: &str, now: UnixTime) -> StoreResult<Option<PendingAuthorization>> {
        Ok(self.state()?.pending.get(id_hash).filter(|p| p.expires_at > now).cloned())
    }

    async fn take_pending(&self, id_hash: &str, now: UnixTime) -> StoreResult<Option<PendingAuthorization>> {
        let mut s = self.state()?;
        match s.pending.get(id_hash) {
            Some(p) if p.expires_at > now => Ok(s.pending.remove(id_hash)),
            _ => Ok(None),
        }
    }
}

#[async_trait::async_trait]
impl ConsentStore for MemoryStore {
    async fn get_consent(&self, subject: &str, client_id: &str) -> StoreResult<Option<Consent>> {
        Ok(self.state()?.consents.get(&(subject.to_owned(), client_id.to_owned())).cloned())
    }

    async fn save_consent(&self, consent: &Consent) -> StoreResult<()> {
        let mut s = self.state()?;
        let key = (consent.subject.clone(), consent.client_id.clone());
        let granted_at = s.consents.get(&key).map_or(consent.granted_at, |c| c.granted_at);
        s.consents.insert(key, Consent { granted_at, ..consent.clone() });
        Ok(())
    }

    async fn list_consents(
        &self,
        subject: Option<&str>,
        client_id: Option<&str>,
    ) -> StoreResult<Vec<Consent>> {
        let mut v: Vec<Consent> = self
            .state()?
            .consents
            .values()
            .filter(|c| {
                subject.is_none_or(|s| s == c.subject) && client_id.is_none_or(|id| id == c.client_id)
            })
            .cloned()
            .collect();
        v.sort_by_key(|c| std::cmp::Reverse(c.updated_at));
        Ok(v)
    }

    async fn revoke_consent(&self, subject: &str, client_id: &str) -> StoreResult<bool> {
        Ok(self.state()?.consents.remove(&(subject.to_owned(), client_id.to_owned())).is_some())
    }
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let mut s = self.state()?;
        if s.sessions.contains_key(&session.id_hash) {
            return Err(StoreError::Conflict("session".into()));
        }
        s.sessions.insert(session.id_hash.clone(), session.clone());
        Ok(())
    }

    async fn get_session(&self, id_hash: &str, now: UnixTime) -> StoreResult<Option<Session>> {
        Ok(self.state()?.sessions.get(id_hash).filter(|x| x.expires_at > now).cloned())
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool> {
        Ok(self.state()?.sessions.remove(id_hash).is_some())
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryStore {
    async fn save_tokens(
        &self,
        access: &AccessTokenRecord,
        refresh: Option<&RefreshTokenRecord>,
    ) -> StoreResult<()> {
        let mut s = self.state()?;
        s.check_new_tokens(access, refresh)?;
        s.insert_tokens(access, refresh);
        Ok(())
    }

    async fn get_access(&self, hash: &str) -> StoreResult<Option<AccessTokenRecord>> {
        Ok(self.state()?.access.get(hash).map(|r| r.rec.clone()))
    }

    async fn get_refresh(&self, hash: &str, now: UnixTime) -> StoreResult<Option<RefreshTokenRecord>> {
        let s = self.state()?;
        Ok(s.refresh.get(hash).filter(|r| r.active() && r.rec.expires_at > now).map(|r| r.rec.clone()))
    }

    async fn take_refresh(&self, hash: &str, now: UnixTime) -> StoreResult<Take<RefreshTokenRecord>> {
        Ok(self.state()?.take_refresh(hash, now))
    }

    async fn rotate_refresh(
        &self,
        hash: &str,
        now: UnixTime,
        access: &AccessTokenRecord,
        refresh: Option<&RefreshTokenRecord>,
    ) -> StoreResult<Take<()>> {
        self.state()?.redeem(|s| s.take_refresh(hash, now).map(|_| ()), access, refresh)
    }

    async fn revoke_family(&self, family: &str) -> StoreResult<u64> {
        let mut s = self.state()?;
        // The mark lasts as long as the family's rows do now.
        let until = (s.codes.values().filter(|r| r.code.family == family).map(|r| r.code.expires_at))
            .chain(s.access.values().filter(|r| r.rec.family == family).map(|r| r.rec.expires_at))
            .chain(s.refresh.values().filter(|r| r.rec.family == family).map(|r| r.rec.expires_at))
            .max();
        if let Some(until) = until {
            let mark = s.revoked_families.entry(family.to_owned()).or_insert(until);
            *mark = (*mark).max(until);
        }
        let mut n = 0;
        for r in s.access.values_mut().filter(|r| r.rec.family == family) {
            if !r.rec.revoked {
                r.rec.revoked = true;
                n += 1;
            }
        }
        for r in s.refresh.values_mut().filter(|r| r.rec.family == family) {
            if r.active() {
                n += 1;
            }
            r.revoked = true;
        }
        Ok(n)
    }

    async fn revoke_access(&self, hash: &str) -> StoreResult<bool> {
        let mut s = self.state()?;
        let Some(r) = s.access.get_mut(hash) else { return Ok(false) };
        r.rec.revoked = true;
        Ok(true)
    }

    async fn revoke_refresh(&self, hash: &str) -> StoreResult<bool> {
        let mut s = self.state()?;
        let Some(r) = s.refresh.get_mut(hash) else { return Ok(false) };
        r.revoked = true;
        // RFC 7009 §2.1: the access tokens issued with it go too.
        for a in s.access.values_mut().filter(|a| a.rec.refresh_hash.as_deref() == Some(hash)) {
            a.rec.revoked = true;
        }
        Ok(true)
    }

    async fn list_tokens(&self, filter: &TokenFilter, now: UnixTime) -> StoreResult<Vec<TokenSummary>> {
        let s = self.state()?;
        let summary = |kind: &'static str, r: &AccessTokenRecord| TokenSummary {
            kind,
            hash_prefix: r.hash.chars().take(12).collect(),
            family: r.family.clone(),
            client_id: r.client_id.clone(),
            subject: r.subject.clone(),
            scopes: r.scopes.clone(),
            issued_at: r.issued_at,
            expires_at: r.expires_at,
        };
        let mut rows: Vec<(u64, TokenSummary)> = s
            .access
            .values()
            .filter(|r| !r.rec.revoked && r.rec.expires_at > now)
            .filter(|r| matches(filter, &r.rec.client_id, r.rec.subject.as_deref()))
            .map(|r| (r.seq, summary("access_token", &r.rec)))
            .collect();
        rows.extend(
            s.refresh
                .values()
                .filter(|r| r.active() && r.rec.expires_at > now)
                .filter(|r| matches(filter, &r.rec.client_id, r.rec.subject.as_deref()))
                .map(|r| {
                    (
                        r.seq,
                        TokenSummary {
                            kind: "refresh_token",
                            hash_prefix: r.rec.hash.chars().take(12).collect(),
                            family: r.rec.family.clone(),
                            client_id: r.rec.client_id.clone(),
                            subject: r.rec.subject.clone(),
                            scopes: r.rec.scopes.clone(),
                            issued_at: r.rec.issued_at,
                            expires_at: r.rec.expires_at,
                        },
                    )
                }),
        );
        // Newest first.
        rows.sort_by(|(sa, a), (sb, b)| b.issued_at.cmp(&a.issued_at).then(sb.cmp(sa)));
        Ok(rows.into_iter().map(|(_, t)| t).collect())
    }

    async fn revoke_tokens(&self, filter: &TokenFilter) -> StoreResult<u64> {
        let mut s = self.state()?;
        let mut n = 0;
        for r in s.access.values_mut() {
            if !r.rec.revoked && matches(filter, &r.rec.client_id, r.rec.subject.as_deref()) {
                r.rec.revoked = true;
                n += 1;
            }
        }
        for r in s.refresh.values_mut() {
            if r.active() && matches(filter, &r.rec.client_id, r.rec.subject.as_deref()) {
                r.revoked = true;
                n += 1;
            }
        }
        Ok(n)
    }
}

#[async_trait::async_trait]
impl AccountStore for MemoryStore {
    async fn get_account(&self, id: &str) -> StoreResult<Option<Account>> {
        Ok(self.state()?.accounts.get(id).cloned())
    }

    async fn find_account_by_username(&self, username: &str) -> StoreResult<Option<Account>> {
        Ok(self.state()?.accounts.values().find(|a| a.username == username).cloned())
    }

    async fn create_account(&self, account: &Account) -> StoreResult<()> {
        let mut s = self.state()?;
        if s.accounts.contains_key(&account.id) {
            return Err(StoreError::Conflict(format!("account {}", account.id)));
        }
        if s.accounts.values().any(|a| a.username == account.username) {
            return Err(StoreError::Conflict(format!("username {}", account.username)));
        }
        s.accounts.insert(account.id.clone(), account.clone());
        Ok(())
    }

    async fn update_account(&self, account: &Account) -> StoreResult<()> {
        let mut s = self.state()?;
        if !s.accounts.contains_key(&account.id) {
            return Err(StoreError::NotFound);
        }
        if s.accounts.values().any(|a| a.id != account.id && a.username == account.username) {
            return Err(StoreError::Conflict(format!("username {}", account.username)));
        }
        s.accounts.insert(account.id.clone(), account.clone());
        Ok(())
    }

    async fn delete_account(&self, id: &str) -> StoreResult<bool> {
        let mut s = self.state()?;
        if s.accounts.remove(id).is_none() {
            return Ok(false);
        }
        let subject = Some(id);
        s.codes.retain(|_, r| r.code.subject != id);
        for r in s.access.values_mut().filter(|r| r.rec.subject.as_deref() == subject) {
            r.rec.revoked = true;
        }
        for r in s.refresh.values_mut().filter(|r| r.rec.subject.as_deref() == subject) {
            r.revoked = true;
        }
        s.consents.retain(|(sub, _), _| sub != id);
        s.sessions.retain(|_, x| x.subject != id);
        Ok(true)
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        let mut v: Vec<Account> = self.state()?.accounts.values().cloned().collect();
        v.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(v)
    }
}

#[async_trait::async_trait]
impl KeyStore for MemoryStore {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let mut v = self.state()?.keys.clone();
        v.sort_by_key(|k| (k.not_before, k.created_at));
        Ok(v)
    }

    async fn create_first_key(&self, key: &SigningKeyRecord, now: UnixTime) -> StoreResult<bool> {
        let mut s = self.state()?;
        if s.keys.iter().any(|k| k.verifies_at(now)) {
            return Ok(false);
        }
        if s.keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Conflict(format!("key {}", key.kid)));
        }
        s.keys.push(key.clone());
        Ok(true)
    }

    async fn rotate_key(&self, key: &SigningKeyRecord, retention: i64) -> StoreResult<()> {
        let mut s = self.state()?;
        if s.keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Conflict(format!("key {}", key.kid)));
        }
        for k in s.keys.iter_mut().filter(|k| k.retire_at.is_none()) {
            k.retire_at = Some(key.not_before);
            k.expires_at =
                Some(k.expires_at.map_or(key.not_before + retention, |e| e.min(key.not_before + retention)));
        }
        s.keys.push(key.clone());
        Ok(())
    }

    async fn retire_key(&self, kid: &str, retire_at: UnixTime, expires_at: UnixTime) -> StoreResult<bool> {
        let mut s = self.state()?;
        let Some(k) = s.keys.iter_mut().find(|k| k.kid == kid) else { return Ok(false) };
        k.retire_at = Some(k.retire_at.map_or(retire_at, |r| r.min(retire_at)));
        k.expires_at = Some(k.expires_at.map_or(expires_at, |e| e.min(expires_at)));
        Ok(true)
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        self.state().map(|_| ())
    }

    async fn redeem_code(
        &self,
        hash: &str,
        now: UnixTime,
        access: &AccessTokenRecord,
        refresh: Option<&RefreshTokenRecord>,
    ) -> StoreResult<Take<()>> {
        self.state()?.redeem(|s| s.take_code(hash, now).map(|_| ()), access, refresh)
    }

    async fn purge_expired(&self, now: UnixTime, limit: u32) -> StoreResult<u64> {
        fn purge<T>(rows: &mut HashMap<String, T>, expired: impl Fn(&T) -> bool, limit: usize) -> u64 {
            let doomed: Vec<String> =
                rows.iter().filter(|(_, r)| expired(r)).map(|(k, _)| k.clone()).take(limit).collect();
            for k in &doomed {
                rows.remove(k);
            }
            doomed.len() as u64
        }
        let mut s = self.state()?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut n = purge(&mut s.codes, |r| r.code.expires_at <= now, limit);
        n += purge(&mut s.access, |r| r.rec.expires_at <= now, limit);
        n += purge(&mut s.refresh, |r| r.rec.expires_at <= now, limit);
        n += purge(&mut s.pending, |p| p.expires_at <= now, limit);
        n += purge(&mut s.sessions, |x| x.expires_at <= now, limit);
        n += purge(&mut s.revoked_families, |until| *until <= now, limit);
        let expired: Vec<String> = s
            .keys
            .iter()
            .filter(|k| k.expires_at.is_some_and(|e| e <= now))
            .map(|k| k.kid.clone())
            .take(limit)
            .collect();
        s.keys.retain(|k| !expired.contains(&k.kid));
        Ok(n + expired.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::model::scope::ScopeSet;

    fn code(hash: &str, expires_at: UnixTime) -> AuthorizationCode {
        AuthorizationCode {
            hash: hash.into(),
            family: "fam".into(),
            client_id: "c".into(),
            subject: "u".into(),
            redirect_uri: "https://app/cb".into(),
            redirect_uri_given: true,
            scopes: ScopeSet::empty(),
            code_challenge: None,
            code_challenge_method: None,
            nonce: None,
            auth_time: None,
            issued_at: 0,
            expires_at,
        }
    }

    fn refresh(hash: &str, family: &str, expires_at: UnixTime) -> RefreshTokenRecord {
        RefreshTokenRecord {
            hash: hash.into(),
            family: family.into(),
            client_id: "c".into(),
            subject: Some("u".into()),
            scopes: ScopeSet::empty(),
            auth_time: None,
            issued_at: 0,
            expires_at,
        }
    }

    fn access(hash: &str, family: &str, refresh_hash: Option<&str>) -> AccessTokenRecord {
        AccessTokenRecord {
            hash: hash.into(),
            family: family.into(),
            client_id: "c".into(),
            subject: Some("u".into()),
            scopes: ScopeSet::empty(),
            issued_at: 0,
            expires_at: 100,
            revoked: false,
            refresh_hash: refresh_hash.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn take_code_is_fresh_once_then_replayed_then_unknown_when_expired() {
        let s = MemoryStore::new();
        s.create_code(&code("h", 100)).await.unwrap();
        assert!(matches!(s.take_code("h", 10).await.unwrap(), Take::Fresh(_)));
        assert_eq!(s.take_code("h", 10).await.unwrap(), Take::Replayed { family: "fam".into() });
        assert_eq!(s.take_code("h", 100).await.unwrap(), Take::Unknown);
        assert_eq!(s.take_code("nope", 10).await.unwrap(), Take::Unknown);
    }

    #[tokio::test]
    async fn take_refresh_and_revoke_family() {
        let s = MemoryStore::new();
        s.save_tokens(&access("a", "f", Some("r")), Some(&refresh("r", "f", 100))).await.unwrap();
        assert!(s.get_refresh("r", 10).await.unwrap().is_some());
        assert!(matches!(s.take_refresh("r", 10).await.unwrap(), Take::Fresh(_)));
        assert!(s.get_refresh("r", 10).await.unwrap().is_none());
        assert_eq!(s.take_refresh("r", 10).await.unwrap(), Take::Replayed { family: "f".into() });
        assert_eq!(s.revoke_family("f").await.unwrap(), 1);
        assert!(s.get_access("a").await.unwrap().unwrap().revoked);
        assert_eq!(s.take_refresh("r", 100).await.unwrap(), Take::Unknown);
    }

    #[tokio::test]
    async fn revoke_refresh_revokes_its_access_tokens() {
        let s = MemoryStore::new();
        s.save_tokens(&access("a", "f", Some("r")), Some(&refresh("r", "f", 100))).await.unwrap();
        s.save_tokens(&access("b", "f", None), None).await.unwrap();
        assert!(s.revoke_refresh("r").await.unwrap());
        assert!(!s.revoke_refresh("x").await.unwrap());
        assert!(s.get_access("a").await.unwrap().unwrap().revoked);
        assert!(!s.get_access("b").await.unwrap().unwrap().revoked);
        assert_eq!(s.take_refresh("r", 10).await.unwrap(), Take::Replayed { family: "f".into() });
    }

    #[tokio::test]
    async fn purge_is_bounded_by_limit() {
        let s = MemoryStore::new();
        for i in 0..3 {
            s.create_code(&code(&format!("h{i}"), 5)).await.unwrap();
        }
        s.create_code(&code("live", 50)).await.unwrap();
        assert_eq!(s.purge_expired(10, 2).await.unwrap(), 2);
        assert_eq!(s.purge_expired(10, 2).await.unwrap(), 1);
        assert_eq!(s.code_count(), 1);
    }

    #[tokio::test]
    async fn unavailable_store_fails_every_call() {
        let s = MemoryStore::new();
        s.set_unavailable(true);
        assert!(matches!(s.ping().await, Err(StoreError::Unavailable(_))));
        s.set_unavailable(false);
        assert!(s.ping().await.is_ok());
    }
}

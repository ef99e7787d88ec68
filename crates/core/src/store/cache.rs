//! A read cache for stores, kept correct across processes by change versions.
//!
//! Clients, registered scopes and issued access tokens are read on every request but change
//! rarely. A store may keep them in a [`ReadCache`], on one condition: before it trusts the
//! cache it learns the current [`Versions`] from the database and passes them to
//! [`ReadCache::observe`]. Each version is a counter that every change to its aggregate bumps
//! in the same transaction, whichever process makes it (SQLite: triggers on the tables; a
//! PostgreSQL store can do the same and learn of bumps through `LISTEN/NOTIFY`). A request
//! that starts after a change committed therefore never sees the old value: this is how the
//! management CLI's changes reach a running server at once.
//!
//! Fills are stamped: a value read from the database is kept only if no change was observed
//! since the versions the reader observed before it read ([`ReadCache::put_client`] and
//! friends take that ticket), so a slow reader cannot put back what a change just dropped.
//! Only positive answers are kept; entries are never served past a newer version.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::model::client::Client;
use crate::model::scope::ScopeDef;
use crate::model::token::AccessTokenRecord;

/// Change counters of the cached aggregates. Each only ever grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Versions {
    /// Bumped by every insert, update or delete of a client.
    pub clients: i64,
    /// Bumped by every insert, update or delete of a registered scope.
    pub scopes: i64,
    /// Bumped by every update (revocation) or delete of an access token. Inserts need no
    /// bump: a new token was never cached.
    pub access_tokens: i64,
}

/// Bounds, so a flood of distinct tokens or client ids cannot grow memory without limit.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// Most clients kept.
    pub clients: usize,
    /// Most access tokens kept.
    pub access_tokens: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self { clients: 1024, access_tokens: 16 * 1024 }
    }
}

#[derive(Default)]
struct State {
    seen: Option<Versions>,
    clients: HashMap<String, Arc<Client>>,
    scopes: Option<Arc<Vec<ScopeDef>>>,
    access: HashMap<String, Arc<AccessTokenRecord>>,
}

/// The cache itself; see the module documentation for the rules a store must follow.
#[derive(Default)]
pub struct ReadCache {
    limits: CacheLimits,
    state: RwLock<State>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache").field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// What [`ReadCache::observe`] returns: the versions a fill must present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(Versions);

impl ReadCache {
    /// An empty cache with these bounds.
    pub fn new(limits: CacheLimits) -> Self {
        Self { limits, state: RwLock::default() }
    }

    /// Record versions just read from the database, dropping every aggregate whose version
    /// grew. An observation older than one already recorded changes nothing (two requests may
    /// report theirs out of order). Returns the ticket for fills that follow this observation.
    pub fn observe(&self, now: Versions) -> Ticket {
        let fresh = self.read().seen == Some(now);
        if !fresh {
            let mut s = self.write();
            match s.seen {
                None => {
                    s.clients.clear();
                    s.scopes = None;
                    s.access.clear();
                    s.seen = Some(now);
                }
                Some(seen) => {
                    let mut next = seen;
                    if now.clients > seen.clients {
                        s.clients.clear();
                        next.clients = now.clients;
                    }
                    if now.scopes > seen.scopes {
                        s.scopes = None;
                        next.scopes = now.scopes;
                    }
                    if now.access_tokens > seen.access_tokens {
                        s.access.clear();
                        next.access_tokens = now.access_tokens;
                    }
                    s.seen = Some(next);
                }
            }
        }
        Ticket(now)
    }

    /// The ticket for the versions last observed (`None` before the first observation): for a
    /// store that knows nothing changed since, without reading the versions again.
    pub fn ticket(&self) -> Option<Ticket> {
        self.read().seen.map(Ticket)
    }

    /// A cached client.
    pub fn client(&self, id: &str) -> Option<Client> {
        self.read().clients.get(id).map(|c| Client::clone(c))
    }

    /// [`ReadCache::client`] without copying it.
    pub fn client_shared(&self, id: &str) -> Option<Arc<Client>> {
        self.read().clients.get(id).cloned()
    }

    /// Keep a client read from the database after `ticket` was observed.
    pub fn put_client(&self, ticket: Ticket, client: &Client) {
        let mut s = self.write();
        if s.seen.is_some_and(|seen| seen.clients == ticket.0.clients) {
            if s.clients.len() >= self.limits.clients {
                s.clients.clear();
            }
            s.clients.insert(client.id.clone(), Arc::new(client.clone()));
        }
    }

    /// The cached list of registered scopes.
    pub fn scopes(&self) -> Option<Vec<ScopeDef>> {
        self.read().scopes.as_deref().cloned()
    }

    /// [`ReadCache::scopes`] without copying them.
    pub fn scopes_shared(&self) -> Option<Arc<Vec<ScopeDef>>> {
        self.read().scopes.clone()
    }

    /// Keep the list of registered scopes read after `ticket` was observed.
    pub fn put_scopes(&self, ticket: Ticket, scopes: &[ScopeDef]) {
        let mut s = self.write();
        if s.seen.is_some_and(|seen| seen.scopes == ticket.0.scopes) {
            s.scopes = Some(Arc::new(scopes.to_vec()));
        }
    }

    /// A cached access token, by hash.
    pub fn access(&self, hash: &str) -> Option<AccessTokenRecord> {
        self.read().access.get(hash).map(|r| AccessTokenRecord::clone(r))
    }

    /// Keep an access token read after `ticket` was observed.
    pub fn put_access(&self, ticket: Ticket, rec: &AccessTokenRecord) {
        let mut s = self.write();
        if s.seen.is_some_and(|seen| seen.access_tokens == ticket.0.access_tokens) {
            if s.access.len() >= self.limits.access_tokens {
                s.access.clear();
            }
            s.access.insert(rec.hash.clone(), Arc::new(rec.clone()));
        }
    }

    /// Drop everything (for a store that cannot tell what changed).
    pub fn clear(&self) {
        let mut s = self.write();
        *s = State::default();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent (every update is a
        // single insert or clear), so a poisoned lock is still usable.
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::client::AuthMethod;
    use crate::model::scope::ScopeSet;

    fn client(id: &str, name: &str) -> Client {
        Client {
            id: id.into(),
            name: name.into(),
            secret: None,
            redirect_uris: vec![],
            grant_types: vec![],
            scopes: ScopeSet::empty(),
            auth_method: AuthMethod::None,
            trusted: false,
            access_token_lifetime: None,
            refresh_token_lifetime: None,
            authorization_code_lifetime: None,
            access_token_format: Default::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn v(clients: i64, scopes: i64, access_tokens: i64) -> Versions {
        Versions { clients, scopes, access_tokens }
    }

    #[test]
    fn a_newer_version_drops_only_its_aggregate() {
        let cache = ReadCache::default();
        let t = cache.observe(v(1, 1, 1));
        cache.put_client(t, &client("a", "old"));
        cache.put_scopes(t, &[]);
        assert!(cache.client("a").is_some());
        cache.observe(v(2, 1, 1));
        assert!(cache.client("a").is_none(), "a client change drops cached clients");
        assert!(cache.scopes().is_some(), "scopes are untouched by a client change");
    }

    #[test]
    fn a_fill_stamped_before_a_change_is_not_kept() {
        let cache = ReadCache::default();
        let slow = cache.observe(v(1, 0, 0));
        // Another request observes the change before the slow reader's fill arrives.
        cache.observe(v(2, 0, 0));
        cache.put_client(slow, &client("a", "stale"));
        assert!(cache.client("a").is_none());
        let fresh = cache.observe(v(2, 0, 0));
        cache.put_client(fresh, &client("a", "new"));
        assert_eq!(cache.client("a").map(|c| c.name), Some("new".into()));
    }

    #[test]
    fn an_older_observation_arriving_late_changes_nothing() {
        let cache = ReadCache::default();
        let t = cache.observe(v(2, 0, 0));
        cache.put_client(t, &client("a", "new"));
        let late = cache.observe(v(1, 0, 0));
        assert_eq!(cache.client("a").map(|c| c.name), Some("new".into()));
        cache.put_client(late, &client("b", "stale"));
        assert!(cache.client("b").is_none(), "a fill under an old ticket is refused");
    }

    #[test]
    fn bounded() {
        let cache = ReadCache::new(CacheLimits { clients: 2, access_tokens: 2 });
        let t = cache.observe(v(0, 0, 0));
        for id in ["a", "b", "c"] {
            cache.put_client(t, &client(id, id));
        }
        assert!(cache.client("c").is_some());
        assert!(cache.client("a").is_none());
    }
}

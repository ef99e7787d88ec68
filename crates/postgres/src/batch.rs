//! Group commit: jobs that arrive while a batch is on its way to the database are stored
//! together by the next one, one round trip and one transaction for all of them (token saves
//! and redemptions, `token.rs`; migrations 0005 and 0006).
//!
//! A job is queued; the first job to find no drain task running spawns one, a task of its
//! own, so that a request that goes away never cancels the batch of others. The task takes
//! what has queued, up to [`MAX_BATCH`] jobs, stores it (see [`Job`]), answers each job, and goes on until
//! the queue is empty. At one request at a time this costs a task hand-off per job; under
//! load, batches grow with the time a round trip takes. One drain task per queue and store
//! (node): a node uses one database backend for each kind of job.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use portcullis_core::store::{StoreError, StoreResult};
use sqlx::PgPool;
use tokio::sync::oneshot;

use crate::db_err;

/// The most jobs one batch stores.
pub(crate) const MAX_BATCH: usize = 64;

/// A kind of job, and how it is stored: a batch of several at once, or one alone.
pub(crate) trait Job: Send + Sync + Sized + 'static {
    /// What the job's request is answered.
    type Answer: Send + 'static;

    /// Store several jobs in one transaction: an answer for each, in order. A database error
    /// means the transaction failed as a whole (one job's row may be the cause): the jobs are
    /// then stored one by one, each answered for itself. Any other error (the database was
    /// not reached, the connection broke) is every job's answer.
    fn store_batch<'a>(
        pool: &'a PgPool,
        jobs: &'a [Self],
    ) -> impl Future<Output = Result<Vec<StoreResult<Self::Answer>>, sqlx::Error>> + Send + 'a;

    /// Store one job alone.
    fn store_one<'a>(
        pool: &'a PgPool,
        job: &'a Self,
    ) -> impl Future<Output = StoreResult<Self::Answer>> + Send + 'a;
}

type Answer<J> = oneshot::Sender<StoreResult<<J as Job>::Answer>>;

/// The jobs of one kind waiting for a batch.
pub(crate) struct Queue<J: Job> {
    state: Mutex<State<J>>,
}

struct State<J: Job> {
    jobs: Vec<(J, Answer<J>)>,
    /// A drain task is running (or spawned): new jobs wait for it.
    draining: bool,
}

impl<J: Job> Default for Queue<J> {
    fn default() -> Self {
        Queue { state: Mutex::new(State { jobs: Vec::new(), draining: false }) }
    }
}

impl<J: Job> std::fmt::Debug for Queue<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        f.debug_struct("Queue").field("queued", &state.jobs.len()).field("draining", &state.draining).finish()
    }
}

impl<J: Job> Queue<J> {
    fn state(&self) -> MutexGuard<'_, State<J>> {
        // Nothing panics while holding the lock; a poisoned queue is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue `job` and wait for its answer.
    pub(crate) async fn submit(self: &Arc<Self>, pool: &PgPool, job: J) -> StoreResult<J::Answer> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut state = self.state();
            state.jobs.push((job, answer));
            !std::mem::replace(&mut state.draining, true)
        };
        if start {
            let guard = Draining { queue: Arc::clone(self), finished: false };
            tokio::spawn(drain(pool.clone(), guard));
        }
        answered.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the database writer stopped".into())))
    }
}

/// Owned by a drain task. If the task ends without emptying the queue (it panicked, or the
/// runtime shut down before or while it ran), the jobs still queued are dropped, so their
/// requests are answered (`Unavailable`) instead of waiting forever, and the next job starts
/// a new task.
struct Draining<J: Job> {
    queue: Arc<Queue<J>>,
    finished: bool,
}

impl<J: Job> Drop for Draining<J> {
    fn drop(&mut self) {
        if !self.finished {
            let mut state = self.queue.state();
            state.jobs.clear();
            state.draining = false;
        }
    }
}

/// Store queued jobs, a batch at a time, until the queue is empty.
async fn drain<J: Job>(pool: PgPool, mut guard: Draining<J>) {
    loop {
        let (jobs, answers): (Vec<J>, Vec<Answer<J>>) = {
            let mut state = guard.queue.state();
            if state.jobs.is_empty() {
                state.draining = false;
                guard.finished = true;
                return;
            }
            let n = state.jobs.len().min(MAX_BATCH);
            state.jobs.drain(..n).unzip()
        };
        store(&pool, jobs, answers).await;
    }
}

/// Store a batch and answer each job (whose request may have gone away: then nobody hears).
async fn store<J: Job>(pool: &PgPool, jobs: Vec<J>, answers: Vec<Answer<J>>) {
    if jobs.len() > 1 {
        let failed = match J::store_batch(pool, &jobs).await {
            Ok(results) if results.len() == jobs.len() => {
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(result);
                }
                return;
            }
            Ok(results) => {
                Some(StoreError::Backend(format!("a batch of {} answered {}", jobs.len(), results.len())))
            }
            // Stored one by one below.
            Err(sqlx::Error::Database(_)) => None,
            Err(e) => Some(db_err(e)),
        };
        if let Some(err) = failed {
            for answer in answers {
                let _ = answer.send(Err(err.clone()));
            }
            return;
        }
    }
    for (job, answer) in jobs.iter().zip(answers) {
        let _ = answer.send(J::store_one(pool, job).await);
    }
}

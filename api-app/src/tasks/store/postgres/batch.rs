//! Creates that arrive together commit together. A plain create joins a queue; a batcher hands the
//! queue to PostgreSQL as one statement per batch (`shards::create_together`): one shard counts the
//! whole batch, one commit (one WAL flush) makes it durable, and every waiting request gets its own
//! task after that commit, never before. A create that finds a lane free goes alone, through the
//! single create's statement, so a quiet server answers exactly as without batching; batches form
//! only while [`LANES`] statements are in flight already. bench/STORE.md has the measurements.
//!
//! The cap stays exact: a batch is counted in one shard whose budget covers all of it, or, when no
//! shard's does, its creates go one by one through the single create (which shares out budgets
//! under the ledger's lock). A batch that fails fails every create in it, and none of them was
//! answered 201: nothing acknowledged is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use futures_util::future::{FutureExt as _, join_all};
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

use super::db::Db;
use super::rows::{count, task};
use crate::tasks::model::{NewTask, Task};
use crate::tasks::store::port::StoreError;
use crate::tasks::store::shards;

/// Statements of creates in flight at once. While every lane is busy, arrivals wait and go
/// together in the next batch. With two, one batch executes while the other waits for its commit;
/// four measured no better (bench/STORE.md).
const LANES: usize = 2;
/// Most creates in one statement.
const MAX_BATCH: usize = 64;
/// Most creates waiting for a lane; a request past it waits to join the queue, under its deadline.
const QUEUE: usize = 1024;

/// A create waiting for its batch.
struct Pending {
    id: Uuid,
    new: NewTask,
    reply: oneshot::Sender<Result<Task, StoreError>>,
    /// Whether a batch took it or its requester gave up first ([`Claim`]): never both.
    claim: Arc<AtomicU8>,
}

/// Where a queued create stands; it moves from `QUEUED` to exactly one of the other two.
struct Claim;

impl Claim {
    const QUEUED: u8 = 0;
    /// A batch took it: the requester waits for that batch, which `Db::run` bounds.
    const TAKEN: u8 = 1;
    /// Its requester stopped waiting for a lane: no batch will take it.
    const ABANDONED: u8 = 2;

    /// Moves `claim` from queued to `to`; false if the other side got there first.
    fn settle(claim: &AtomicU8, to: u8) -> bool {
        claim
            .compare_exchange(Self::QUEUED, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// The queue plain creates join.
#[derive(Debug)]
pub(super) struct CreateQueue {
    sender: mpsc::Sender<Pending>,
    /// The longest a create waits in the queue for a lane.
    within: Duration,
}

impl CreateQueue {
    /// Starts the batcher on the current runtime, taking from `db` under `max` tasks. A create
    /// waits at most `within` for a lane, the bound of one operation (a connection, then its
    /// statement); its batch is then bounded like any operation.
    pub(super) fn start(db: Db, max: i64, within: Duration) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(batch_creates(receiver, db, max));
        Self { sender, within }
    }

    /// Creates task `id` from `new`; returns once its batch has committed (or failed), or with
    /// [`StoreError::Timeout`] if no batch took it within the queue's bound. With the database hung,
    /// each batch holds its lane for a whole operation bound, so a create queued behind a few
    /// batches would otherwise wait for each in turn, past every bound the API states. Giving up is
    /// settled against the batcher ([`Claim`]): a create either gives up before any batch took it,
    /// and is never created, or was taken and waits for its batch's answer, so a slow but healthy
    /// database never turns a create it commits into a 503.
    pub(super) async fn create(&self, id: Uuid, new: NewTask) -> Result<Task, StoreError> {
        let (reply, mut answer) = oneshot::channel();
        let claim = Arc::new(AtomicU8::new(Claim::QUEUED));
        let pending = Pending {
            id,
            new,
            reply,
            claim: Arc::clone(&claim),
        };
        let waited = tokio::time::timeout(self.within, async {
            self.sender
                .send(pending)
                .await
                .map_err(|_| StoreError::Unavailable)?;
            Ok((&mut answer).await)
        })
        .await;
        let answered = match waited {
            Ok(Err(e)) => return Err(e),
            Ok(Ok(answered)) => answered,
            Err(_) if Claim::settle(&claim, Claim::ABANDONED) => {
                tracing::warn!(
                    timeout_ms = self.within.as_millis(),
                    "no lane for a create within the operation bound"
                );
                return Err(StoreError::Timeout);
            }
            // A batch took it meanwhile: its answer comes within that batch's own bound.
            Err(_) => answer.await,
        };
        // A batch that ended without answering (it panicked) dropped the sender.
        answered.unwrap_or(Err(StoreError::Other))
    }
}

/// Takes creates off the queue: as soon as a lane is free, the creates waiting then (up to
/// [`MAX_BATCH`]) go as one batch in a task of their own, so a request that gives up once its
/// statement is sent never cancels a statement other creates share. One that gave up before is
/// left out.
async fn batch_creates(mut queue: mpsc::Receiver<Pending>, db: Db, max: i64) {
    let lanes = Arc::new(Semaphore::new(LANES));
    loop {
        let Ok(lane) = Arc::clone(&lanes).acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut batch = Vec::with_capacity(queue.len().min(MAX_BATCH) + 1);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            let Ok(next) = queue.try_recv() else { break };
            batch.push(next);
        }
        // A request that gave up while it waited (the queue's bound, its deadline, a client gone)
        // was answered without a task: none is created for it. The rest are this batch's now.
        batch.retain(|pending| {
            !pending.reply.is_closed() && Claim::settle(&pending.claim, Claim::TAKEN)
        });
        if batch.is_empty() {
            continue;
        }
        let db = db.clone();
        tokio::spawn(async move {
            run_batch(&db, batch, max).await;
            drop(lane);
        });
    }
}

/// Creates `batch` and answers each of its requests.
async fn run_batch(db: &Db, batch: Vec<Pending>, max: i64) {
    db.metrics.observe_create_batch(batch.len());
    if batch.len() > 1 {
        match create_together(db, &batch, max).await {
            Ok(Some(mut tasks)) => {
                for pending in batch {
                    // RETURNING promises no order: each request takes the task with its id.
                    let task = tasks
                        .iter()
                        .position(|task| task.id == pending.id)
                        .map(|at| tasks.swap_remove(at));
                    answer(db, pending.reply, task.ok_or(StoreError::Other));
                }
                return;
            }
            Err(e) => {
                for pending in batch {
                    answer(db, pending.reply, Err(e.clone()));
                }
                return;
            }
            // No shard has budget for all of them: one at a time, below.
            Ok(None) => {}
        }
    }
    let creates = batch
        .into_iter()
        .map(|Pending { id, new, reply, .. }| async move {
            let created = create_one(db, id, new, max).await;
            answer(db, reply, created);
        });
    join_all(creates).await;
}

/// Sends a create its outcome; a requester that stopped waiting no longer listens.
fn answer(
    db: &Db,
    reply: oneshot::Sender<Result<Task, StoreError>>,
    outcome: Result<Task, StoreError>,
) {
    if outcome.is_ok() {
        db.metrics.task_created();
    }
    let _ = reply.send(outcome);
}

/// One create, counted in a shard in the insert's own transaction (`shards::create`).
async fn create_one(db: &Db, id: Uuid, new: NewTask, max: i64) -> Result<Task, StoreError> {
    db.run(move |c| {
        async move {
            let title: &str = new.title.as_ref();
            let row = shards::create(c, id, title, new.completed, max)
                .await?
                .ok_or(StoreError::Full { max: count(max) })?;
            task(&row)
        }
        .boxed()
    })
    .await
}

/// The whole batch in one statement; its tasks, in no particular order, or `None` when no shard
/// has budget for all of them.
async fn create_together(
    db: &Db,
    batch: &[Pending],
    max: i64,
) -> Result<Option<Vec<Task>>, StoreError> {
    let ids: Vec<Uuid> = batch.iter().map(|p| p.id).collect();
    let titles: Vec<String> = batch
        .iter()
        .map(|p| p.new.title.as_ref().to_owned())
        .collect();
    let completed: Vec<bool> = batch.iter().map(|p| p.new.completed).collect();
    db.run(move |c| {
        async move {
            let rows = shards::create_together(c, &ids, &titles, &completed, max).await?;
            if rows.is_empty() {
                return Ok(None);
            }
            let tasks = rows.iter().map(task).collect::<Result<Vec<_>, _>>()?;
            Ok(Some(tasks))
        }
        .boxed()
    })
    .await
}

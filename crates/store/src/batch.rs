//! Group commit: many callers' rows written by one statement, each caller still waiting for
//! its own row to be committed.
//!
//! A caller queues its item and waits. If nobody is writing, a writer task starts and writes
//! everything queued, in one statement and one commit; items queued meanwhile go in the next
//! statement, and so on until the queue is empty. There is no timer: a lone item is written at
//! once, and under load a batch holds whatever arrived during the previous write. The writer
//! is a task of its own, so a caller that gives up waiting does not stop the write for others.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use diesel::QueryableByName;
use diesel::sql_types::Text;
use tokio::sync::oneshot;

use crate::StoreError;

/// Most items in one statement; the rest wait for the next.
const MAX_BATCH: usize = 512;

/// Writes a batch; on success, one answer per item, in order.
pub(crate) type Flush<T, R> = Arc<
    dyn Fn(Vec<T>) -> Pin<Box<dyn Future<Output = Result<Vec<R>, StoreError>> + Send>>
        + Send
        + Sync,
>;

/// A row of `UPDATE … RETURNING integration, key`: one (integration, key) the batch found.
#[derive(QueryableByName)]
pub(crate) struct Found {
    #[diesel(sql_type = Text)]
    integration: String,
    #[diesel(sql_type = Text)]
    key: String,
}

/// Per item of a batch, whether `found` holds its (integration, key) as given by `id`.
pub(crate) fn found_each<T>(
    items: &[T],
    found: &[Found],
    id: impl Fn(&T) -> (&str, &str),
) -> Vec<bool> {
    items
        .iter()
        .map(|item| {
            let (integration, key) = id(item);
            found
                .iter()
                .any(|f| f.integration == integration && f.key == key)
        })
        .collect()
}

/// Items waiting to be written, and whether a writer is running.
struct Queue<T, R> {
    waiting: Vec<(T, oneshot::Sender<Result<R, StoreError>>)>,
    writing: bool,
}

/// A group-commit queue for items of type `T`, each answered with an `R`.
pub(crate) struct Batcher<T, R> {
    /// What the batch is of, for errors (`delivery-log rows`).
    what: &'static str,
    queue: Arc<Mutex<Queue<T, R>>>,
    flush: Flush<T, R>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Self {
            what: self.what,
            queue: self.queue.clone(),
            flush: self.flush.clone(),
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    pub(crate) fn new(what: &'static str, flush: Flush<T, R>) -> Self {
        Self {
            what,
            queue: Arc::new(Mutex::new(Queue {
                waiting: Vec::new(),
                writing: false,
            })),
            flush,
        }
    }

    /// Queues `item` and waits until the statement holding it has committed.
    pub(crate) async fn submit(&self, item: T) -> Result<R, StoreError> {
        let (done, answer) = oneshot::channel();
        let start = {
            let mut queue = lock(&self.queue);
            queue.waiting.push((item, done));
            !std::mem::replace(&mut queue.writing, true)
        };
        if start {
            let guard = WritingGuard {
                queue: self.queue.clone(),
                finished: false,
            };
            tokio::spawn(self.clone().write_all(guard));
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Batch {
                what: self.what,
                reason: "the writer stopped before answering".into(),
            })
        })
    }

    /// Writes batches until the queue is empty.
    async fn write_all(self, mut guard: WritingGuard<T, R>) {
        loop {
            let batch: Vec<_> = {
                let mut queue = lock(&self.queue);
                if queue.waiting.is_empty() {
                    queue.writing = false;
                    guard.finished = true;
                    return;
                }
                let take = queue.waiting.len().min(MAX_BATCH);
                queue.waiting.drain(..take).collect()
            };
            let (items, waiters): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
            let rows = items.len();
            match (self.flush)(items).await {
                Ok(answers) if answers.len() == rows => {
                    for (waiter, answer) in waiters.into_iter().zip(answers) {
                        let _ = waiter.send(Ok(answer));
                    }
                }
                Ok(answers) => {
                    let reason = format!("{} answers for {rows} items", answers.len());
                    self.fail_all(waiters, &reason);
                }
                Err(error) => self.fail_all(waiters, &error.to_string()),
            }
        }
    }

    fn fail_all(&self, waiters: Vec<oneshot::Sender<Result<R, StoreError>>>, reason: &str) {
        for waiter in waiters {
            let _ = waiter.send(Err(StoreError::Batch {
                what: self.what,
                reason: reason.to_owned(),
            }));
        }
    }
}

/// Clears the writing flag if the writer ends without emptying the queue (it panicked, or its
/// runtime shut down), so the next item starts a new writer instead of waiting forever.
struct WritingGuard<T, R> {
    queue: Arc<Mutex<Queue<T, R>>>,
    finished: bool,
}

impl<T, R> Drop for WritingGuard<T, R> {
    fn drop(&mut self) {
        if !self.finished {
            lock(&self.queue).writing = false;
        }
    }
}

fn lock<T, R>(queue: &Mutex<Queue<T, R>>) -> MutexGuard<'_, Queue<T, R>> {
    // The lock is only held to push or take items; a panic cannot leave them half-changed.
    queue.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn batcher(batches: Arc<Mutex<Vec<Vec<u32>>>>) -> Batcher<u32, u32> {
        Batcher::new(
            "numbers",
            Arc::new(move |items: Vec<u32>| {
                let batches = batches.clone();
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if items.contains(&13) {
                        return Err(StoreError::Invalid("unlucky".into()));
                    }
                    batches.lock().unwrap().push(items.clone());
                    Ok(items.into_iter().map(|i| i * 2).collect())
                })
            }),
        )
    }

    #[tokio::test]
    async fn a_lone_item_is_written_at_once_and_answered() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let b = batcher(batches.clone());
        assert_eq!(b.submit(4).await.unwrap(), 8);
        assert_eq!(*batches.lock().unwrap(), vec![vec![4]]);
    }

    #[tokio::test]
    async fn items_arriving_during_a_write_share_the_next_statement() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let b = batcher(batches.clone());
        let answered = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..10u32 {
            let (b, answered) = (b.clone(), answered.clone());
            tasks.spawn(async move {
                assert_eq!(b.submit(i).await.unwrap(), i * 2);
                answered.fetch_add(1, Ordering::Relaxed);
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert_eq!(answered.load(Ordering::Relaxed), 10);
        let batches = batches.lock().unwrap();
        assert!(batches.len() < 10, "batched: {batches:?}");
        let mut written: Vec<u32> = batches.iter().flatten().copied().collect();
        written.sort_unstable();
        assert_eq!(written, (0..10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_failed_batch_fails_every_item_in_it_and_the_next_one_still_runs() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let b = batcher(batches.clone());
        let err = b.submit(13).await.unwrap_err();
        assert!(matches!(err, StoreError::Batch { .. }), "{err:?}");
        assert!(err.to_string().contains("unlucky"), "{err}");
        assert_eq!(b.submit(1).await.unwrap(), 2);
    }
}

//! A bounded queue of jobs drained in the background with bounded concurrency: what webhooks
//! hand their work to (write-back, export), so they can answer at once. Jobs are queued all or
//! none; shutdown waits for the queue to drain.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};

/// The queue has no room for all the jobs offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    pub free: usize,
    pub wanted: usize,
}

/// A bounded queue of `J`s, worked off by a background task.
#[derive(Debug)]
pub struct Queue<J> {
    tx: mpsc::Sender<J>,
    /// Jobs accepted and not finished yet, queued or in progress.
    pending: Arc<AtomicUsize>,
}

impl<J> Clone for Queue<J> {
    fn clone(&self) -> Self {
        Queue {
            tx: self.tx.clone(),
            pending: self.pending.clone(),
        }
    }
}

impl<J: Send + 'static> Queue<J> {
    /// Starts the worker on the current runtime: `work` runs on each job, `concurrency` at a
    /// time; `on_take` is told the number of jobs still waiting each time one is taken.
    pub fn spawn<F, Fut>(
        capacity: usize,
        concurrency: usize,
        on_take: impl Fn(usize) + Send + 'static,
        work: F,
    ) -> Queue<J>
    where
        F: Fn(J) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<J>(capacity.max(1));
        let queue = Queue {
            tx,
            pending: Arc::new(AtomicUsize::new(0)),
        };
        let waiting = queue.clone();
        tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(concurrency.max(1)));
            while let Some(job) = rx.recv().await {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                on_take(waiting.len());
                let (done, pending) = (work(job), waiting.pending.clone());
                tokio::spawn(async move {
                    done.await;
                    pending.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                });
            }
        });
        queue
    }

    /// Jobs waiting.
    pub fn len(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Jobs accepted and not yet done: queued, or in progress.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Waits until every job is done, or `timeout` passes; answers how many were left (0 when
    /// drained).
    pub async fn drain(&self, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = self.pending();
            if left == 0 || tokio::time::Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Queues all of `jobs`, or none when they don't all fit.
    pub fn push_all(&self, jobs: Vec<J>) -> Result<usize, Full> {
        let wanted = jobs.len();
        // Every slot at once, so a concurrent webhook cannot leave this batch half queued.
        let permits = self.tx.try_reserve_many(wanted).map_err(|_| Full {
            free: self.tx.capacity(),
            wanted,
        })?;
        self.pending.fetch_add(wanted, Ordering::SeqCst);
        for (permit, job) in permits.zip(jobs) {
            permit.send(job);
        }
        Ok(wanted)
    }
}

//! The scheduler of the jobs `serve` runs by itself (the `[[import]]` tables, the reconcile loop):
//! each job runs at once and then every interval until the service stops; at shutdown a run in
//! progress is told to stop (the flag it is handed) and given time to finish.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Jobs running on intervals.
#[derive(Debug, Default)]
pub struct Periodic {
    stop: Arc<AtomicBool>,
    wake: Arc<Notify>,
    runs: JoinSet<()>,
}

impl Periodic {
    /// Runs `job` now and then every `interval`. Each run is handed the stop flag, set at
    /// shutdown, to check between its steps.
    pub fn every<F, Fut>(&mut self, interval: Duration, mut job: F)
    where
        F: FnMut(Arc<AtomicBool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, wake) = (self.stop.clone(), self.wake.clone());
        self.runs.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                job(stop.clone()).await;
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    () = wake.notified() => {}
                }
            }
        });
    }

    /// Whether no job was started.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Stops every job: runs in progress end at their next check of the flag, within `timeout`;
    /// what is left then is aborted (the next start does it again).
    pub async fn stop(mut self, timeout: Duration) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_waiters();
        if tokio::time::timeout(timeout, async { while self.runs.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            log::warn!(
                "background jobs (scheduled imports, reconcile) did not stop in time; the next start continues them"
            );
            self.runs.abort_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn runs_at_once_then_every_interval_until_stopped() {
        let mut jobs = Periodic::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        jobs.every(Duration::from_secs(60), move |_| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        jobs.stop(Duration::from_secs(5)).await;
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }
}

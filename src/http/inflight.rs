//! Requests in flight, from arrival until their response body is done (or dropped).
//!
//! Shutdown needs it over HTTP/2: actix-web stops gracefully by waiting for connections to
//! close, and browsers keep idle HTTP/2 connections open for minutes, so without this a
//! SIGTERM would wait out the whole shutdown timeout. Over HTTP/1.1 actix-web closes idle
//! keep-alive connections itself; the count is kept only when the service serves TLS.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    changed: Notify,
}

/// One request, counted until dropped.
#[derive(Debug)]
pub struct Guard(Arc<InFlight>);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.changed.notify_waiters();
        }
    }
}

impl InFlight {
    pub fn enter(self: &Arc<Self>) -> Guard {
        self.count.fetch_add(1, Ordering::AcqRel);
        Guard(self.clone())
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Returns once no request has been in flight for `settle` (time for the last response's
    /// bytes to leave the connection's buffers).
    pub async fn settled(&self, settle: Duration) {
        loop {
            // Created before the count is read, so no drop to zero after that read is missed.
            let changed = self.changed.notified();
            if self.count() > 0 {
                changed.await;
                continue;
            }
            // A request that starts and ends within `settle` restarts the wait.
            tokio::select! {
                () = tokio::time::sleep(settle) => if self.count() == 0 { return },
                () = changed => {}
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that holds its request's guard, if any, until the dispatcher drops it.
    pub struct Tracked<B> {
        #[pin]
        body: B,
        guard: Option<Guard>,
    }
}

impl<B> Tracked<B> {
    pub fn new(body: B, guard: Option<Guard>) -> Self {
        Tracked { body, guard }
    }
}

impl<B: MessageBody> MessageBody for Tracked<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.project().body.poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn settles_only_after_the_last_guard_and_a_quiet_period() {
        let f = Arc::new(InFlight::default());
        let (a, b) = (f.enter(), f.enter());
        let waiter = tokio::spawn({
            let f = f.clone();
            async move { f.settled(Duration::from_secs(1)).await }
        });
        drop(a);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiter.is_finished());
        drop(b);
        // A request arriving during the quiet period restarts the wait.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let c = f.enter();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiter.is_finished());
        drop(c);
        waiter.await.unwrap();
        assert_eq!(f.count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_starts_and_ends_in_the_quiet_period_restarts_it() {
        let f = Arc::new(InFlight::default());
        let waiter = tokio::spawn({
            let f = f.clone();
            async move { f.settled(Duration::from_secs(1)).await }
        });
        tokio::time::sleep(Duration::from_millis(600)).await;
        drop(f.enter());
        // 1 s after the start, but only 400 ms after that request: still waiting.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!waiter.is_finished());
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(waiter.is_finished());
    }
}

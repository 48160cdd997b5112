//! Write-back to Label Studio: the webhook queue, how many tasks are written at once (by the
//! queue and by `sync`), and how long shutdown waits for the queue.

use std::time::Duration;

use super::env::Env;
use super::error::{ConfigError, Problems};

/// How tasks are written back to Label Studio.
#[derive(Debug, Clone)]
pub struct WritebackConfig {
    /// Tasks waiting for write-back, at most.
    pub queue_capacity: usize,
    /// Tasks written back to Label Studio at the same time (webhooks and `sync`).
    pub concurrency: usize,
    /// How long shutdown waits for the write-back queue to drain.
    pub drain_timeout: Duration,
}

impl WritebackConfig {
    pub(super) fn load(env: &Env<'_>) -> Result<WritebackConfig, ConfigError> {
        let mut problems = Problems::default();
        let queue_capacity = problems.take(env.parse("LS_PRESIGN_QUEUE_CAPACITY"));
        let concurrency = problems.take(env.parse::<usize>("LS_PRESIGN_WRITEBACK_CONCURRENCY"));
        let drain_timeout = problems.take(env.parse("LS_PRESIGN_DRAIN_TIMEOUT"));
        match (queue_capacity, concurrency, drain_timeout) {
            (Some(queue_capacity), Some(concurrency), Some(drain_timeout)) => Ok(WritebackConfig {
                queue_capacity: queue_capacity.unwrap_or(50_000),
                concurrency: concurrency.unwrap_or(4).max(1),
                drain_timeout: Duration::from_secs(drain_timeout.unwrap_or(30)),
            }),
            _ => Err(problems.into_error("writeback")),
        }
    }
}

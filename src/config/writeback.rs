//! Write-back to Label Studio: the webhook queue, how many tasks are written at once (by the
//! queue and by `sync`), and how long shutdown waits for the queue.

use std::time::Duration;

use super::env::Env;
use super::error::ConfigError;

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
        Ok(WritebackConfig {
            queue_capacity: env.parse("LS_PRESIGN_QUEUE_CAPACITY")?.unwrap_or(50_000),
            concurrency: env
                .parse::<usize>("LS_PRESIGN_WRITEBACK_CONCURRENCY")?
                .unwrap_or(4)
                .max(1),
            drain_timeout: Duration::from_secs(env.parse("LS_PRESIGN_DRAIN_TIMEOUT")?.unwrap_or(30)),
        })
    }
}

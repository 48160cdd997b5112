//! Write-back to Label Studio: the webhook queue, how many tasks are written at once (by the
//! queue and by `sync`), how long shutdown waits for the queue, and the reconcile loop that
//! catches up with missed webhooks.

use std::time::Duration;

use super::env::Env;
use super::error::{ConfigError, Problems, err};

/// How tasks are written back to Label Studio.
#[derive(Debug, Clone)]
pub struct WritebackConfig {
    /// Tasks waiting for write-back, at most.
    pub queue_capacity: usize,
    /// Tasks written back to Label Studio at the same time (webhooks and `sync`).
    pub concurrency: usize,
    /// How long shutdown waits for the write-back queue to drain.
    pub drain_timeout: Duration,
    /// How often `serve` looks for tasks a missed webhook left with raw references; `None`: never.
    pub reconcile_interval: Option<Duration>,
    /// Projects reconciled besides those webhooks came from.
    pub reconcile_projects: Vec<u64>,
}

impl WritebackConfig {
    pub(super) fn load(env: &Env<'_>) -> Result<WritebackConfig, ConfigError> {
        let mut problems = Problems::default();
        let queue_capacity = problems.take(env.parse("LS_PRESIGN_QUEUE_CAPACITY"));
        let concurrency = problems.take(env.parse::<usize>("LS_PRESIGN_WRITEBACK_CONCURRENCY"));
        let drain_timeout = problems.take(env.parse("LS_PRESIGN_DRAIN_TIMEOUT"));
        let reconcile_interval = problems.take(env.parse::<u64>("LS_PRESIGN_RECONCILE_INTERVAL"));
        let reconcile_projects = problems.take(projects(env.get("LS_PRESIGN_RECONCILE_PROJECTS")));
        match (
            queue_capacity,
            concurrency,
            drain_timeout,
            reconcile_interval,
            reconcile_projects,
        ) {
            (
                Some(queue_capacity),
                Some(concurrency),
                Some(drain_timeout),
                Some(reconcile_interval),
                Some(reconcile_projects),
            ) => Ok(WritebackConfig {
                queue_capacity: queue_capacity.unwrap_or(50_000),
                concurrency: concurrency.unwrap_or(4).max(1),
                drain_timeout: Duration::from_secs(drain_timeout.unwrap_or(30)),
                reconcile_interval: match reconcile_interval.unwrap_or(300) {
                    0 => None,
                    secs => Some(Duration::from_secs(secs)),
                },
                reconcile_projects,
            }),
            _ => Err(problems.into_error("writeback")),
        }
    }
}

/// `LS_PRESIGN_RECONCILE_PROJECTS`: project ids, comma-separated.
fn projects(value: Option<String>) -> Result<Vec<u64>, ConfigError> {
    let Some(value) = value else { return Ok(Vec::new()) };
    value
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| {
            id.parse().map_err(|_| {
                err(
                    "LS_PRESIGN_RECONCILE_PROJECTS",
                    format!("{id:?} is not a project id: expected ids separated by commas, such as 3,7"),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<WritebackConfig, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        WritebackConfig::load(&Env::map(&map))
    }

    #[test]
    fn reconcile_is_on_every_five_minutes_unless_told_otherwise() {
        let c = load(&[]).unwrap();
        assert_eq!(c.reconcile_interval, Some(Duration::from_secs(300)));
        assert!(c.reconcile_projects.is_empty());
        assert_eq!(
            load(&[("LS_PRESIGN_RECONCILE_INTERVAL", "0")])
                .unwrap()
                .reconcile_interval,
            None
        );
        let c = load(&[("LS_PRESIGN_RECONCILE_PROJECTS", " 3, 7,")]).unwrap();
        assert_eq!(c.reconcile_projects, [3, 7]);
        let e = load(&[("LS_PRESIGN_RECONCILE_PROJECTS", "3;7")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LS_PRESIGN_RECONCILE_PROJECTS: \"3;7\" is not a project id: expected ids separated by commas, such as 3,7"
        );
    }
}

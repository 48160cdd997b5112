//! The import lease: at most one importer per project and bucket at a time, whichever replica or
//! command line runs it, so two never import the same object.
//!
//! A lease is a series of small objects in the bucket,
//! `.ls-presign/leases/project-<N>/<generation>.json`, each naming a holder and when its hold
//! ends. Taking or renewing the lease writes the next generation with a create-only write (OSS
//! `x-oss-forbid-overwrite`, S3 `If-None-Match: *`): the store lets exactly one writer create
//! it, so of two importers racing one wins and the other is told who holds it. A holder checks
//! its hold before every batch it sends to Label Studio and stops when it has lost it; a hold
//! not renewed (a crashed importer) ends by itself after [`TTL`] seconds.

use std::fmt;

use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::source::OWN_FOLDER;
use crate::storage::{StorageError, Storages, Written};
use crate::uri::StorageUri;

/// How long a hold lasts unless renewed, seconds. Renewed when half of it is left.
pub const TTL: i64 = 60;

/// What one generation of the lease says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Hold {
    holder: String,
    expires_at: i64,
    #[serde(default)]
    released: bool,
}

/// Why the lease could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("another import of this project is running ({holder}, holding it until {until}); try again later")]
    Busy { holder: String, until: String },
    #[error("the import lost its lease to {0} (paused for longer than {TTL} s?): stopped")]
    Lost(String),
    #[error(
        "the import lease could not be written in the bucket ({0}); give the credentials write access to {OWN_FOLDER} \
         or, when no other import of this project can run, pass --no-lease"
    )]
    Storage(#[from] StorageError),
}

/// A lease held.
pub struct Lease<'a> {
    storages: &'a Storages,
    folder: StorageUri,
    holder: String,
    generation: u64,
    expires_at: i64,
}

impl fmt::Debug for Lease<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lease({}, generation {})", self.folder, self.generation)
    }
}

/// A name for this importer: host, process and a random part (two in one process differ).
pub fn holder_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}/pid-{}/{:08x}", std::process::id(), rand::random::<u32>())
}

impl<'a> Lease<'a> {
    /// Takes the lease of `project` in `bucket`'s storage for `holder`.
    pub async fn acquire(
        storages: &'a Storages,
        bucket: &StorageUri,
        project: u64,
        holder: String,
    ) -> Result<Lease<'a>, LeaseError> {
        let folder = StorageUri::new(
            bucket.scheme,
            bucket.bucket.clone(),
            format!("{OWN_FOLDER}leases/project-{project}/"),
        );
        let mut lease = Lease {
            storages,
            folder,
            holder,
            generation: 0,
            expires_at: 0,
        };
        let (latest, hold) = lease.latest().await?;
        if let Some(hold) = hold
            && !hold.released
            && hold.expires_at > crate::time::now()
        {
            return Err(busy(&hold));
        }
        lease.generation = latest;
        lease.take_next().await?;
        Ok(lease)
    }

    /// Renews the hold when half of it is gone; fails when it was lost or ran out.
    pub async fn keep(&mut self) -> Result<(), LeaseError> {
        let now = crate::time::now();
        if now >= self.expires_at {
            return Err(LeaseError::Lost("nobody yet: its hold ran out".into()));
        }
        if self.expires_at - now > TTL / 2 {
            return Ok(());
        }
        self.take_next().await
    }

    /// Gives the lease up (a released generation), so the next importer need not wait.
    pub async fn release(mut self) {
        if let Err(e) = self.write_next(true).await {
            log::warn!("import: giving up the lease in {}: {e}", self.folder);
        }
    }

    /// Writes the next generation as ours, or learns who got there first.
    async fn take_next(&mut self) -> Result<(), LeaseError> {
        self.write_next(false).await?;
        // Earlier generations are history; a failed delete only leaves them for the next one.
        for old in self.generation.saturating_sub(3)..self.generation {
            let _ = self.storages.delete(&self.object(old)).await;
        }
        Ok(())
    }

    async fn write_next(&mut self, released: bool) -> Result<(), LeaseError> {
        let next = self.generation + 1;
        let hold = Hold {
            holder: self.holder.clone(),
            expires_at: crate::time::now() + TTL,
            released,
        };
        let body = serde_json::to_vec(&hold).map_err(|e| LeaseError::Lost(e.to_string()))?;
        match self
            .storages
            .write(&self.object(next), body.into(), "application/json", true)
            .await?
        {
            Written::Created => {
                self.generation = next;
                self.expires_at = hold.expires_at;
                Ok(())
            }
            Written::AlreadyThere => {
                let other = self.read(next).await?;
                Err(match (self.expires_at, other) {
                    (0, Some(h)) => busy(&h),
                    (_, h) => LeaseError::Lost(h.map_or_else(|| "another importer".into(), |h| h.holder)),
                })
            }
        }
    }

    /// The latest generation and what it says.
    async fn latest(&self) -> Result<(u64, Option<Hold>), StorageError> {
        let listed: Vec<_> = self.storages.list(&self.folder, false).await?.try_collect().await?;
        let latest = listed
            .iter()
            .filter_map(|l| l.uri.key.rsplit('/').next()?.strip_suffix(".json")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        let hold = if latest == 0 { None } else { self.read(latest).await? };
        Ok((latest, hold))
    }

    async fn read(&self, generation: u64) -> Result<Option<Hold>, StorageError> {
        let bytes = self.storages.read_small(&self.object(generation), 4096).await?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    fn object(&self, generation: u64) -> StorageUri {
        StorageUri::new(
            self.folder.scheme,
            self.folder.bucket.clone(),
            format!("{}{generation:020}.json", self.folder.key),
        )
    }
}

fn busy(hold: &Hold) -> LeaseError {
    LeaseError::Busy {
        holder: hold.holder.clone(),
        until: crate::time::rfc3339(hold.expires_at),
    }
}

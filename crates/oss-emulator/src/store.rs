//! The objects, per bucket in key order (listing walks them), and the counters behind [`Stats`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dashmap::DashMap;
use md5::{Digest, Md5};

use super::Stats;

pub(super) struct Object {
    pub body: Bytes,
    pub content_type: String,
    pub md5: [u8; 16],
    /// Whole seconds, since HTTP dates can't say more.
    pub last_modified: SystemTime,
}

impl Object {
    fn new(body: Bytes, content_type: &str) -> Arc<Object> {
        Arc::new(Object {
            md5: Md5::digest(&body).into(),
            body,
            content_type: content_type.to_string(),
            last_modified: UNIX_EPOCH + Duration::from_secs(unix_now()),
        })
    }

    pub fn etag(&self) -> String {
        format!("\"{}\"", hex::encode_upper(self.md5))
    }
}

/// One bucket's objects; `String`'s order is the byte order of the UTF-8 keys, as OSS lists them.
pub(super) type Objects = BTreeMap<String, Arc<Object>>;

#[derive(Default)]
pub(super) struct Store {
    buckets: RwLock<HashMap<String, Objects>>,
    gets: DashMap<(String, String), u64>,
    objects_served: AtomicU64,
    bytes_served: AtomicU64,
    pub forbidden: AtomicU64,
    pub not_modified: AtomicU64,
    pub received: AtomicU64,
    requests: AtomicU64,
    /// Requests still to refuse with 503 ([`crate::Emulator::refuse_next`]).
    pub refusals: AtomicU64,
}

impl Store {
    pub fn put(&self, bucket: &str, key: &str, body: Bytes, content_type: &str) -> Arc<Object> {
        let object = Object::new(body, content_type);
        let mut buckets = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        buckets
            .entry(bucket.to_string())
            .or_default()
            .insert(key.to_string(), object.clone());
        object
    }

    /// [`Store::put`] only when no object has the key (checked and written under one lock).
    pub fn put_new(&self, bucket: &str, key: &str, body: Bytes, content_type: &str) -> Option<Arc<Object>> {
        let mut buckets = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        match buckets.entry(bucket.to_string()).or_default().entry(key.to_string()) {
            std::collections::btree_map::Entry::Occupied(_) => None,
            std::collections::btree_map::Entry::Vacant(slot) => {
                Some(slot.insert(Object::new(body, content_type)).clone())
            }
        }
    }

    pub fn get(&self, bucket: &str, key: &str) -> Option<Arc<Object>> {
        let buckets = self.buckets.read().unwrap_or_else(PoisonError::into_inner);
        buckets.get(bucket)?.get(key).cloned()
    }

    /// Removes the object if it is there (deleting a missing key is no error in OSS).
    pub fn delete(&self, bucket: &str, key: &str) {
        let mut buckets = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(objects) = buckets.get_mut(bucket) {
            objects.remove(key);
        }
    }

    /// Runs `f` over the bucket's objects, holding them still meanwhile.
    pub fn read<R>(&self, bucket: &str, f: impl FnOnce(&Objects) -> R) -> R {
        let buckets = self.buckets.read().unwrap_or_else(PoisonError::into_inner);
        match buckets.get(bucket) {
            Some(objects) => f(objects),
            None => f(&Objects::new()),
        }
    }

    pub fn stats(&self) -> Stats {
        Stats {
            received: self.received.load(Ordering::Relaxed),
            objects_served: self.objects_served.load(Ordering::Relaxed),
            bytes_served: self.bytes_served.load(Ordering::Relaxed),
            forbidden: self.forbidden.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
        }
    }

    pub fn gets_of(&self, bucket: &str, key: &str) -> u64 {
        self.gets
            .get(&(bucket.to_string(), key.to_string()))
            .map(|n| *n)
            .unwrap_or(0)
    }

    pub fn record_served(&self, bucket: &str, key: &str, bytes: usize) {
        self.objects_served.fetch_add(1, Ordering::Relaxed);
        self.bytes_served.fetch_add(bytes as u64, Ordering::Relaxed);
        *self.gets.entry((bucket.to_string(), key.to_string())).or_insert(0) += 1;
    }

    /// 24 uppercase hex digits, like OSS request ids.
    pub fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        format!("{:016X}{:08X}", unix_now(), n & 0xFFFF_FFFF)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

//! `LS_PRESIGN_LINK_POLICY=login`: is the browser following a link signed in to Label Studio?
//!
//! Label Studio 1.23 keeps sessions in Django signed cookies (`sessionid`). Label Studio itself
//! answers whether one is live (`GET /api/current-user/whoami` with the cookie alone), and that
//! answer is kept for [`TTL`], keyed by the cookie's SHA-256, so a page of images costs one round
//! trip: concurrent requests with the same cookie wait for the one lookup in flight. At most
//! [`CAPACITY`] sessions are remembered. docs/SECURITY.md says what this can and cannot know.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::labelstudio::{LabelStudio, LsError, SESSION_COOKIE};
use crate::metrics::Metrics;

/// How long Label Studio's answer for one session is trusted.
pub const TTL: Duration = Duration::from_secs(60);
/// Most sessions remembered at once.
pub const CAPACITY: usize = 10_000;
/// Longest a browser waits for Label Studio's answer.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Label Studio's answer for one cookie, once it has come.
#[derive(Debug)]
struct Slot {
    asked: Instant,
    valid: OnceCell<bool>,
}

/// The sessions Label Studio vouched for (or refused) recently.
#[derive(Debug)]
pub struct Sessions {
    ls: Arc<LabelStudio>,
    metrics: Arc<Metrics>,
    known: DashMap<[u8; 32], Arc<Slot>>,
}

/// Whether a request may follow a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    SignedIn,
    /// No Label Studio session cookie in the request.
    NoCookie,
    /// A cookie Label Studio does not accept (expired, logged out elsewhere, forged).
    Refused,
}

impl Sessions {
    pub fn new(ls: Arc<LabelStudio>, metrics: Arc<Metrics>) -> Sessions {
        Sessions {
            ls,
            metrics,
            known: DashMap::new(),
        }
    }

    /// The verdict for a request with these `Cookie` header values; `Err` when Label Studio
    /// could not say.
    pub async fn check<'a>(&self, cookies: impl Iterator<Item = &'a [u8]>) -> Result<Verdict, LsError> {
        let Some(cookie) = session_cookie(cookies) else {
            return Ok(Verdict::NoCookie);
        };
        let key: [u8; 32] = Sha256::digest(cookie.as_bytes()).into();
        let slot = self.slot(key);
        let valid = slot
            .valid
            .get_or_try_init(|| async {
                let answer = self.ls.session_valid(cookie, LOOKUP_TIMEOUT).await;
                let outcome = match &answer {
                    Ok(true) => "valid",
                    Ok(false) => "invalid",
                    Err(_) => "failed",
                };
                self.metrics.count("session_lookups_total", outcome, 1);
                answer
            })
            .await?;
        Ok(if *valid { Verdict::SignedIn } else { Verdict::Refused })
    }

    /// The slot of `key`: the one remembered, or a new one when there is none or it is stale.
    fn slot(&self, key: [u8; 32]) -> Arc<Slot> {
        let fresh = |s: &Slot| s.asked.elapsed() < TTL;
        if let Some(s) = self.known.get(&key).filter(|s| fresh(s)) {
            return s.clone();
        }
        if self.known.len() >= CAPACITY {
            self.known.retain(|_, s| fresh(s));
            if self.known.len() >= CAPACITY {
                // Every one fresh: a flood of cookies. Forget them all rather than grow.
                self.known.clear();
            }
        }
        let new = || {
            Arc::new(Slot {
                asked: Instant::now(),
                valid: OnceCell::new(),
            })
        };
        let mut entry = self.known.entry(key).or_insert_with(new);
        if !fresh(&entry) {
            *entry = new();
        }
        entry.clone()
    }
}

/// The value of the `sessionid` cookie, from every `Cookie` header of a request.
fn session_cookie<'a>(headers: impl Iterator<Item = &'a [u8]>) -> Option<&'a str> {
    headers
        .filter_map(|h| std::str::from_utf8(h).ok())
        .flat_map(|h| h.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name.trim() == SESSION_COOKIE).then(|| value.trim().trim_matches('"'))
        })
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let find = |hs: &[&str]| session_cookie(hs.iter().map(|h| h.as_bytes())).map(str::to_owned);
        assert_eq!(find(&["csrftoken=a; sessionid=.eJx:1:abc"]), Some(".eJx:1:abc".into()));
        assert_eq!(find(&["csrftoken=a", "sessionid=s2"]), Some("s2".into()));
        assert_eq!(find(&["xsessionid=1; sessionid_x=2"]), None);
        assert_eq!(find(&["sessionid="]), None);
        assert_eq!(find(&[]), None);
        assert_eq!(find(&["sessionid=\"q\""]), Some("q".into()));
    }
}

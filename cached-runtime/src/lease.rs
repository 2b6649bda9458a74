//! The lease protocol: how a caller that runs the body may store its value without writing
//! an old value back over an invalidation.
//!
//! A caller that missed *claims* the key: for an absent key it plants a lease (a unique marker
//! with the lease timeout as its TTL); for an entry it saw (stale or undecodable) it remembers
//! those exact bytes. It then *stores* with a compare-and-set: only over its own lease, or only
//! over the bytes it saw. An invalidation in between deletes the lease or the entry, so the
//! compare-and-set is refused and the possibly older value is not written. A caller that stores
//! nothing *releases* its lease at once, so that others need not sit out its timeout; one that
//! is dropped mid-call releases it from a background task ([`Held`]). With `lock = true`, a
//! caller that finds another process's lease *waits* (bounded) for its value.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Bytes, Kept};
use crate::codec::{self, Entry};
use crate::tier::{Read, Store, Tier};

/// What a caller that is about to run the body saw at its key.
pub(crate) enum Seen {
    Absent,
    /// A stale or undecodable entry.
    Entry(Bytes),
    WrongType,
    /// Another caller's lease.
    Lease,
    Unavailable,
}

/// How the body's value may be stored.
pub(crate) enum Permit {
    /// Over our own lease, if it is still there.
    Lease(Arc<[u8]>),
    /// Over the exact bytes we saw, if they are still there.
    Replace(Bytes),
    /// Someone else holds the lease; do not write.
    Taken,
    /// The store is unavailable; do not write (the caller would wait a second time).
    Nothing,
}

impl Permit {
    /// Whether `store` could write anything under this permit.
    pub(crate) fn may_store(&self) -> bool {
        matches!(self, Permit::Lease(_) | Permit::Replace(_))
    }
}

/// What came of a store.
pub(crate) enum Stored {
    Written,
    /// A compare-and-set was refused: the key changed (an invalidation, an expired lease)
    /// while the body ran.
    Refused,
    /// Nothing was attempted (no permit, or the store failed).
    NotAttempted,
}

/// The end of a wait for another process's lease.
pub(crate) enum Waited {
    /// Bytes appeared (normally the holder's value).
    Found(Bytes),
    /// The lease went away; here is our own claim.
    Free(Permit),
    /// The lock wait ran out.
    GaveUp,
}

/// Decides how the caller may store its value, given what it saw at `key`. For an absent key,
/// or one of another Redis type, this plants a lease that lives `lease_timeout`.
pub(crate) async fn claim(store: &Store, key: &str, seen: Seen, lease_timeout: Duration) -> Permit {
    let lease: Arc<[u8]> = match seen {
        Seen::Absent | Seen::WrongType => codec::new_lease().into(),
        Seen::Entry(bytes) => return Permit::Replace(bytes),
        Seen::Lease => return Permit::Taken,
        Seen::Unavailable => return Permit::Nothing,
    };
    let planted = match seen {
        // Replaced only while it is still of another type: a plain `SET` could write over a
        // value stored after an invalidation deleted the foreign key.
        Seen::WrongType => store.take_over(key, &lease, lease_timeout).await,
        _ => store.set_if_absent(key, &lease, lease_timeout).await,
    };
    match planted {
        Ok(true) => Permit::Lease(lease),
        Ok(false) => Permit::Taken,
        Err(_) => {
            // It may have been planted all the same (a timeout after Redis ran it): left
            // there, it would keep the key from being cached for the whole lease timeout.
            store.delete_if_soon(key, lease);
            Permit::Nothing
        }
    }
}

/// Stores `bytes` at `key` as far as `permit` allows: over our own lease, or over the exact
/// bytes we saw.
pub(crate) async fn store(
    store: &Store,
    key: &str,
    permit: Permit,
    bytes: Arc<[u8]>,
    kept: impl FnOnce() -> Option<Kept>,
    ttl: Duration,
) -> Stored {
    let written = match permit {
        Permit::Taken | Permit::Nothing => return Stored::NotAttempted,
        Permit::Lease(lease) => store.replace_if(key, &lease, bytes, kept, ttl).await,
        Permit::Replace(seen) => store.replace_if(key, &seen, bytes, kept, ttl).await,
    };
    match written {
        Ok(true) => Stored::Written,
        Ok(false) => Stored::Refused,
        Err(_) => Stored::NotAttempted,
    }
}

/// Gives up a claim without storing anything: our lease, if any, is released at once.
pub(crate) async fn release(store: &Store, key: &str, permit: Permit) {
    if let Permit::Lease(lease) = permit {
        store.delete_if(key, &lease).await;
    }
}

/// Adds `key` to each of its tags before the body runs, so that a tag invalidation from then
/// on finds the key (and its lease), and returns each tag's version, to be stored with the
/// value: if a tag is invalidated later, even while the body runs, the value is no longer
/// valid. `None` if any tag could not be recorded: the value must then not be stored.
pub(crate) async fn record_tags(
    store: &Store,
    key: &str,
    tags: &[String],
    entry_lifetime: Duration,
    lease_timeout: Duration,
) -> Option<Vec<u64>> {
    // The tag should outlive the lease (the body may run up to the lease timeout) and then
    // the entry written after it. (If it does not, the entry is merely invalid: its version
    // is gone.)
    let lifetime = entry_lifetime.saturating_add(lease_timeout);
    let mut versions = Vec::with_capacity(tags.len());
    for tag in tags {
        versions.push(store.tag(tag, key, lifetime).await.ok()?);
    }
    Some(versions)
}

/// With `lock = true`, when another caller (in another process) holds the lease: waits,
/// bounded by `lock_wait`, for its value to appear or its lease to go.
pub(crate) async fn wait_for_holder(
    store: &Store,
    key: &str,
    lock_wait: Duration,
    lease_timeout: Duration,
) -> Waited {
    let deadline = tokio::time::Instant::now() + lock_wait;
    let mut pause = Duration::from_millis(5);
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Waited::GaveUp;
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(Duration::from_millis(50));
        match store.get(key).await {
            Read::Found(bytes) if codec::parse(&bytes).is_ok_and(|e| e == Entry::Lease) => {}
            Read::Found(bytes) => return Waited::Found(bytes),
            Read::Absent => match claim(store, key, Seen::Absent, lease_timeout).await {
                Permit::Taken => {}
                permit => return Waited::Free(permit),
            },
            Read::WrongType => {
                return Waited::Free(claim(store, key, Seen::WrongType, lease_timeout).await);
            }
            Read::Unavailable => return Waited::Free(Permit::Nothing),
        }
    }
}

/// A permit held while the body runs. If the call is dropped (cancelled) or panics while it
/// still holds a lease, the lease is released in the background; otherwise no caller could
/// cache the key until the lease timed out.
pub(crate) struct Held<'a> {
    store: &'a Store,
    key: &'a str,
    permit: Option<Permit>,
}

impl<'a> Held<'a> {
    pub(crate) fn new(store: &'a Store, key: &'a str, permit: Permit) -> Self {
        Held {
            store,
            key,
            permit: Some(permit),
        }
    }

    pub(crate) fn permit(&self) -> &Permit {
        self.permit.as_ref().unwrap_or(&Permit::Nothing)
    }

    pub(crate) fn replace(&mut self, permit: Permit) {
        self.permit = Some(permit);
    }

    /// Takes the permit out, to store or release it; the drop guard then has nothing to do.
    pub(crate) fn take(&mut self) -> Permit {
        self.permit.take().unwrap_or(Permit::Nothing)
    }

    /// Gives the lease back without waiting for the store.
    pub(crate) fn release_in_background(&mut self) {
        if let Permit::Lease(lease) = self.take() {
            self.store.delete_if_soon(self.key, lease);
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.release_in_background();
    }
}

//! Single-flight: concurrent misses on one key in one process run the body once.
//!
//! The first caller (the leader) runs the body; the others (followers) wait for what it
//! lands: the encoded bytes of the value, which each follower decodes into its own copy, so
//! the value type needs no `Clone`. When the output is not cacheable (`Err`, `None`), there is
//! nothing to share and each follower runs its own body. A leader whose future is dropped
//! lands nothing: its followers see the flight end and elect a new leader among themselves.
//! Different keys never wait for each other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// What a leader hands its followers.
#[derive(Clone, Debug)]
pub(crate) enum Landed {
    /// The stored bytes of the value.
    Value(Arc<[u8]>),
    /// The output was not cacheable: followers run their own bodies.
    Nothing,
}

type Slot = watch::Sender<Option<Landed>>;

#[derive(Debug, Default)]
pub(crate) struct Flights {
    /// Each flight with the generation it started in.
    in_flight: Mutex<HashMap<String, (u64, Arc<Slot>), foldhash::fast::RandomState>>,
    /// Bumped by every invalidation: a caller that starts after one must not be handed a value
    /// computed from data read before it.
    generation: AtomicU64,
}

pub(crate) enum Role<'a> {
    Leader(Leader<'a>),
    Follower(Follower),
}

impl Flights {
    /// Becomes the leader for `key`, or follows the flight already under way.
    pub(crate) fn join(&self, key: &str) -> Role<'_> {
        let generation = self.generation.load(Ordering::Acquire);
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((started, slot)) = in_flight.get(key) {
            if *started == generation {
                return Role::Follower(Follower(slot.subscribe()));
            }
        }
        // No flight, or one from before an invalidation: lead a new one. (The older leader
        // still serves its own followers; its `end` leaves this flight alone.)
        let slot = Arc::new(watch::Sender::new(None));
        in_flight.insert(key.to_owned(), (generation, slot.clone()));
        Role::Leader(Leader {
            flights: self,
            key: key.to_owned(),
            slot,
        })
    }

    /// Starts a new generation: flights under way can no longer be joined.
    pub(crate) fn invalidated(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn end(&self, key: &str, slot: &Arc<Slot>) {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if in_flight
            .get(key)
            .is_some_and(|(_, current)| Arc::ptr_eq(current, slot))
        {
            in_flight.remove(key);
        }
    }
}

/// The caller that runs the body. Dropping it ends the flight (empty-handed if it never
/// landed).
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: String,
    slot: Arc<Slot>,
}

impl Leader<'_> {
    /// Whether anyone is waiting for what this leader lands.
    pub(crate) fn has_followers(&self) -> bool {
        self.slot.receiver_count() > 0
    }

    /// Hands `landed` to the followers, and to anyone who joins until the leader is dropped
    /// (keep it until the value is stored, so latecomers do not compute it again).
    pub(crate) fn land(&self, landed: Landed) {
        self.slot.send_replace(Some(landed));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.flights.end(&self.key, &self.slot);
    }
}

pub(crate) struct Follower(watch::Receiver<Option<Landed>>);

impl Follower {
    /// What the leader landed, or `None` if it went away without landing.
    pub(crate) async fn wait(mut self) -> Option<Landed> {
        match self.0.wait_for(Option::is_some).await {
            Ok(landed) => landed.clone(),
            // The sender is gone: the leader was dropped before landing.
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_get_what_the_leader_lands() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join("k") else {
            panic!("first caller leads")
        };
        let Role::Follower(follower) = flights.join("k") else {
            panic!("second caller follows")
        };
        assert!(matches!(flights.join("other"), Role::Leader(_)));
        leader.land(Landed::Value(Arc::from(&b"v"[..])));
        assert!(matches!(follower.wait().await, Some(Landed::Value(v)) if &*v == b"v"));
        let Role::Follower(latecomer) = flights.join("k") else {
            panic!("the flight stays open until the leader is dropped")
        };
        assert!(
            matches!(latecomer.wait().await, Some(Landed::Value(_))),
            "landed at once"
        );
        drop(leader);
        assert!(
            matches!(flights.join("k"), Role::Leader(_)),
            "the flight ended"
        );
    }

    #[tokio::test]
    async fn callers_after_an_invalidation_do_not_join_older_flights() {
        let flights = Flights::default();
        let old = flights.join("k");
        flights.invalidated();
        let Role::Leader(new) = flights.join("k") else {
            panic!("a new flight after the invalidation")
        };
        assert!(
            matches!(flights.join("k"), Role::Follower(_)),
            "joins the new one"
        );
        drop(old); // must not end the new flight
        assert!(matches!(flights.join("k"), Role::Follower(_)));
        drop(new);
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers() {
        let flights = Flights::default();
        let leader = flights.join("k");
        let Role::Follower(follower) = flights.join("k") else {
            panic!("follows")
        };
        drop(leader);
        assert!(follower.wait().await.is_none());
        assert!(matches!(flights.join("k"), Role::Leader(_)));
    }
}

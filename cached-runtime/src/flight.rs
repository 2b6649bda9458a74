//! Single-flight: concurrent misses on one key in one process run the body once.
//!
//! The first caller (the leader) runs the body; the others (followers) wait for what it
//! lands: the encoded bytes of the value, which each follower decodes into its own copy, so
//! the value type needs no `Clone`. When the output is not cacheable (`Err`, `None`), there is
//! nothing to share and each follower runs its own body. A leader whose future is dropped
//! lands nothing: its followers see the flight end and elect a new leader among themselves.
//! Different keys never wait for each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::glob;

/// What a leader hands its followers.
#[derive(Clone, Debug)]
pub(crate) enum Landed {
    /// The stored bytes of the value.
    Value(Arc<[u8]>),
    /// Nothing to share (the output was not cacheable, or its write was refused because an
    /// invalidation came while the body ran): followers run their own bodies.
    Nothing,
}

type Slot = watch::Sender<Option<Landed>>;

/// One flight under way: its leader's slot, and the tag keys of its entry.
#[derive(Debug)]
struct Flight {
    slot: Arc<Slot>,
    tags: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Flights {
    in_flight: Mutex<HashMap<String, Flight, foldhash::fast::RandomState>>,
}

pub(crate) enum Role<'a> {
    Leader(Leader<'a>),
    Follower(Follower),
}

impl Flights {
    /// Becomes the leader for `key` (an entry carrying `tags`), or follows the flight already
    /// under way.
    pub(crate) fn join(&self, key: &str, tags: &[String]) -> Role<'_> {
        let mut in_flight = self.lock();
        if let Some(flight) = in_flight.get(key) {
            return Role::Follower(Follower(flight.slot.subscribe()));
        }
        let slot = Arc::new(watch::Sender::new(None));
        let flight = Flight {
            slot: slot.clone(),
            tags: tags.to_vec(),
        };
        in_flight.insert(key.to_owned(), flight);
        Role::Leader(Leader {
            flights: self,
            key: key.to_owned(),
            slot,
        })
    }

    /// Closes the flights an invalidation covers (its exact keys, the keys matching its
    /// patterns, the entries carrying its tags) to newcomers: a caller that starts after the
    /// invalidation must not be handed a value computed from data read before it. Their
    /// leaders still serve the followers they have; flights of other keys are untouched.
    pub(crate) fn invalidated(&self, keys: &[String], patterns: &[String], tags: &[String]) {
        let mut in_flight = self.lock();
        if in_flight.is_empty() {
            return;
        }
        for key in keys {
            in_flight.remove(key);
        }
        if patterns.is_empty() && tags.is_empty() {
            return;
        }
        in_flight.retain(|key, flight| {
            let matched = patterns
                .iter()
                .any(|pattern| glob::matches(pattern.as_bytes(), key.as_bytes()))
                || flight.tags.iter().any(|tag| tags.contains(tag));
            !matched
        });
    }

    fn end(&self, key: &str, slot: &Arc<Slot>) {
        let mut in_flight = self.lock();
        // A newer flight may have taken the key after an invalidation: leave it alone.
        if in_flight
            .get(key)
            .is_some_and(|flight| Arc::ptr_eq(&flight.slot, slot))
        {
            in_flight.remove(key);
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Flight, foldhash::fast::RandomState>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
        let Role::Leader(leader) = flights.join("k", &[]) else {
            panic!("first caller leads")
        };
        let Role::Follower(follower) = flights.join("k", &[]) else {
            panic!("second caller follows")
        };
        assert!(matches!(flights.join("other", &[]), Role::Leader(_)));
        leader.land(Landed::Value(Arc::from(&b"v"[..])));
        assert!(matches!(follower.wait().await, Some(Landed::Value(v)) if &*v == b"v"));
        let Role::Follower(latecomer) = flights.join("k", &[]) else {
            panic!("the flight stays open until the leader is dropped")
        };
        assert!(
            matches!(latecomer.wait().await, Some(Landed::Value(_))),
            "landed at once"
        );
        drop(leader);
        assert!(
            matches!(flights.join("k", &[]), Role::Leader(_)),
            "the flight ended"
        );
    }

    #[tokio::test]
    async fn callers_after_an_invalidation_do_not_join_older_flights() {
        let flights = Flights::default();
        let old = flights.join("k", &[]);
        flights.invalidated(&["k".to_owned()], &[], &[]);
        let Role::Leader(new) = flights.join("k", &[]) else {
            panic!("a new flight after the invalidation")
        };
        assert!(
            matches!(flights.join("k", &[]), Role::Follower(_)),
            "joins the new one"
        );
        drop(old); // must not end the new flight
        assert!(matches!(flights.join("k", &[]), Role::Follower(_)));
        drop(new);
    }

    #[tokio::test]
    async fn only_invalidations_of_the_flight_close_it() {
        let flights = Flights::default();
        let tags = ["#tag:team:1".to_owned()];
        let _leader = flights.join("app:user:1", &tags);
        let joins =
            |flights: &Flights| matches!(flights.join("app:user:1", &[]), Role::Follower(_));
        flights.invalidated(
            &["app:user:999".to_owned()],
            &["app:team:*".to_owned()],
            &["#tag:team:2".to_owned()],
        );
        assert!(
            joins(&flights),
            "unrelated keys, patterns and tags leave the flight open"
        );
        flights.invalidated(&[], &["app:user:*".to_owned()], &[]);
        assert!(!joins(&flights), "a matching pattern closes it");
        let _leader = flights.join("app:user:1", &tags);
        flights.invalidated(&[], &[], &tags);
        assert!(!joins(&flights), "one of its tags closes it");
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers() {
        let flights = Flights::default();
        let leader = flights.join("k", &[]);
        let Role::Follower(follower) = flights.join("k", &[]) else {
            panic!("follows")
        };
        drop(leader);
        assert!(follower.wait().await.is_none());
        assert!(matches!(flights.join("k", &[]), Role::Leader(_)));
    }
}

//! A connection bound to the Tokio runtime that drives it.
//!
//! redis-rs runs each connection's I/O in a task spawned on the runtime that made it. When
//! that runtime ends (each `#[tokio::test]` has its own), the connection is dead, though it
//! looks open. A [`Slot`] notices (a witness task on that runtime is dropped with it) and makes
//! a new connection on the caller's runtime. It also replaces a connection on request: one that
//! stopped answering without closing (a vanished host, a hung proxy) is never replaced by
//! redis-rs, whose timeouts leave the connection in place.

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use redis::RedisResult;

pub(crate) struct Slot<C> {
    current: ArcSwapOption<Bound<C>>,
    /// One caller connects at a time; the others then use its connection.
    connecting: tokio::sync::Mutex<()>,
}

struct Bound<C> {
    connection: C,
    /// Shared with a task on the connection's runtime: when that runtime ends, the task is
    /// dropped and this is the last reference.
    alive: Arc<()>,
}

impl<C: Clone> Slot<C> {
    pub(crate) fn new() -> Self {
        Slot {
            current: ArcSwapOption::empty(),
            connecting: tokio::sync::Mutex::new(()),
        }
    }

    /// The current connection if its runtime is alive, else a new one from `connect`.
    #[inline]
    pub(crate) async fn get<F, Fut>(&self, connect: F) -> RedisResult<C>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = RedisResult<C>>,
    {
        if let Some(connection) = self.usable() {
            return Ok(connection);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(connection) = self.usable() {
            return Ok(connection);
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| std::io::Error::other("redcache needs a Tokio runtime to reach Redis"))?;
        let connection = connect().await?;
        let alive = Arc::new(());
        let witness = alive.clone();
        runtime.spawn(async move {
            let _witness = witness;
            std::future::pending::<()>().await;
        });
        self.current.store(Some(Arc::new(Bound {
            connection: connection.clone(),
            alive,
        })));
        Ok(connection)
    }

    /// Drops the current connection: the next call makes a new one.
    pub(crate) fn discard(&self) {
        self.current.store(None);
    }

    fn usable(&self) -> Option<C> {
        let current = self.current.load();
        let bound = current.as_ref()?;
        (Arc::strong_count(&bound.alive) > 1).then(|| bound.connection.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn a_connection_is_remade_when_its_runtime_ends_or_when_discarded() {
        let slot = Slot::<u32>::new();
        let made = std::sync::atomic::AtomicU32::new(0);
        let connect = || async { Ok(made.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) };
        let first = runtime();
        assert_eq!(first.block_on(slot.get(connect)).unwrap(), 0);
        assert_eq!(first.block_on(slot.get(connect)).unwrap(), 0, "reused");
        drop(first);
        let second = runtime();
        assert_eq!(
            second.block_on(slot.get(connect)).unwrap(),
            1,
            "its runtime ended"
        );
        assert_eq!(second.block_on(slot.get(connect)).unwrap(), 1);
        slot.discard();
        assert_eq!(second.block_on(slot.get(connect)).unwrap(), 2, "discarded");
    }
}

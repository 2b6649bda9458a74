//! How the cache protects the application: the circuit breaker, single-flight and
//! rate-limited failure logs.
//! (Timeouts are applied where each backend call is made, in `backend`.)

mod breaker;
pub(crate) mod flight;
mod log;

pub(crate) use breaker::Breaker;
pub(crate) use flight::Flights;
pub(crate) use log::LogLimiter;

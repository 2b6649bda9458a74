//! How the cache protects the application: the circuit breaker and rate-limited failure logs.
//! (Timeouts are applied where each backend call is made, in `backend`.)

mod breaker;
mod log;

pub(crate) use breaker::Breaker;
pub(crate) use log::LogLimiter;

//! Operations: the liveness and readiness probes, Prometheus metrics on their own listener,
//! a request id and a span for every request, and the log format (text or JSON lines).
//!
//! Nothing here carries case content: metric labels are route templates, methods, status
//! codes and outcome names; readiness details name checks and numbers only.

pub mod health;
pub mod logs;
pub mod metrics;
pub mod requests;

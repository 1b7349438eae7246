//! The server's integration tests, as one binary: the real router driven in-process, and a
//! real TLS server on a loopback port.

mod auth;
mod auth_limits;
mod cli;
mod deadlines;
mod fd_limit;
mod fuzz;
mod key_faults;
mod key_rotation;
mod names;
mod postgres;
mod registration;
mod support;
mod sync;
mod tls;
mod writer;

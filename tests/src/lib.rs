//! Test support shared by the cross-crate tests: a real server over real TLS, an
//! administrator's API client, and devices running the real core.

pub mod bench_data;
pub mod bomb;
pub mod console;
pub mod fuzz;
pub mod host_steal;
pub mod nemesis;
pub mod pg;
pub mod proxy;
pub mod server_child;
pub mod support;

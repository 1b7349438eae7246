//! Casebook's shared core.

pub mod client;
pub mod doc;
pub mod error;
pub mod ids;
pub mod model;
pub mod repo;
pub mod store;
pub mod sync;

pub use error::{Error, Result};

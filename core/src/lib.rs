//! Casebook's shared core.

pub mod doc;
pub mod error;
pub mod ids;
pub mod store;

pub use error::{Error, Result};

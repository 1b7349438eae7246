//! Sync: the wire protocol and the device's side of a sync session.

mod session;
pub mod wire;

pub use session::{MAX_ROUNDS, SyncProgress, SyncReport, SyncSession, SyncStep};

//! Sync: the wire protocol and the device's side of a sync session.

mod checkin;
mod epoch;
pub mod frame;
mod parse;
mod session;
pub mod wire;

pub use checkin::{CLOCK_SET_BACK_TOLERANCE, DeviceTime, is_locked};
pub use session::{MAX_ROUNDS, SyncProgress, SyncReport, SyncSession, SyncStep};

//! Casebook's mobile bindings: a thin [uniffi] wrapper of `casebook-core` for the Android
//! (Kotlin) and iOS (Swift) apps, and Python for tests.
//!
//! The app opens a [`Casebook`] with the path of its store and 32 key bytes from the platform
//! keystore, then reads and edits each record kind through it, lists and resolves conflicts,
//! enrols and syncs (async), and observes changes. Everything here is glue: records mirror
//! the core's types ([`records`]), errors become one small [`CasebookError`], and the edges
//! the core leaves to its caller live here: the device's clocks, the operating system's
//! randomness, the author of edits and the 72-hour check-in lock ([`casebook`]).
//!
//! Every exported call runs inside a panic guard: a Rust panic reaches the app as
//! `CasebookError::Internal`, never as a crash, and the `Casebook` stays usable.
//!
//! Bindings are generated in library mode by the in-tree `uniffi-bindgen` binary; see
//! `scripts/generate-bindings.sh` and this crate's `README.md`.
//!
//! [uniffi]: https://mozilla.github.io/uniffi-rs/

// uniffi's scaffolding (the `extern "C"` functions and their pointer handling) is generated
// `unsafe` code; the workspace denies `unsafe_code`, and this crate writes none of its own.
#![allow(unsafe_code)]

mod alerts_api;
mod case_api;
pub mod casebook;
mod clock;
pub mod error;
mod nrm_api;
pub mod observe;
mod photo_api;
mod profile_api;
pub mod records;
mod safety_api;
pub mod signer;
pub mod sync;
mod visits_api;

pub use casebook::Casebook;
pub use error::{CasebookError, Result};
pub use observe::{ChangeListener, ObservationHandle};
pub use signer::{DeviceSigner, SignerError};
pub use sync::{CancelToken, SyncProgressListener};

uniffi::setup_scaffolding!();

/// This library's version (the Casebook workspace version).
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

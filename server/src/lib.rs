//! Casebook sync server.

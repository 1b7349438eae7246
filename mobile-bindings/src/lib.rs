//! Casebook mobile bindings.

//! The invariants, one module per group; each only reads the parsed table.

pub mod delivery;
pub mod discovery;
pub mod hiring;
pub mod index;
pub mod trail;

//! cello-token: the Cello widget token and everything `cello.boot` needs, for the caller.
pub mod handler;
pub mod settings;

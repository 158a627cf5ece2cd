//! Test support for every crate's tests, never compiled into a function: request fixtures and
//! their expectations, an independent HS512 check, the one Stripe signer, the one local bearer
//! minter, a fixed clock, and a settings source from pairs. Memory adapters of the ports sit
//! beside their ports (feature `memory`), not here.

pub mod fixtures;
pub mod hs512;
pub mod local_bearer;
pub mod stripe_signature;

pub use fixtures::{assert_expected, fixture_expectations, fixture_request};
pub use hs512::verify_hs512;

use shared::clock::Clock;
use shared::config::Settings;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock that reads what it was set to.
#[derive(Debug, Default)]
pub struct FixedClock(pub AtomicI64);

impl FixedClock {
    pub fn at(now: i64) -> Self {
        Self(AtomicI64::new(now))
    }

    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A settings source holding exactly these pairs, for configuration tests.
pub fn settings(pairs: &[(&str, &str)]) -> Settings<impl Fn(&str) -> Option<String> + use<>> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::new(move |k| map.get(k).cloned())
}

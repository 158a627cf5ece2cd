//! The integration doctor: "is my Cello integration working?" and "why wasn't this referral
//! rewarded?", answered from our own records (`../shared/CELLO.md` §6), before Cello ever sees
//! an event. A command an operator runs with read-only AWS credentials; never a Lambda.
//!
//! - `model`: the table's items as the doctor reads them (tolerant views, every field optional);
//! - `records`: the port over the table (Query and Scan only) with DynamoDB and memory adapters;
//! - `stripe`: the port over Stripe's API (GETs only) with the async-stripe and memory adapters;
//! - `finding`: findings and their severities;
//! - `user`, `status`, `events`, `config`: the three questions' domain, pure;
//! - `render`: tables for people, JSON for scripts;
//! - `cli`: the arguments and the wiring of a run.

pub mod cli;
pub mod config;
pub mod events;
pub mod finding;
pub mod model;
pub mod records;
pub mod render;
pub mod status;
pub mod stripe;
pub mod user;

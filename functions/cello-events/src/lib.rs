//! cello-events: reports purchases and signups to Cello's REST API from the records the other
//! functions verified, fed by the table's DynamoDB stream, each (trigger, invoice or user) once.
//! `main.rs` wires the adapters; `report.rs` is generic over the ports so it runs in unit tests
//! without AWS or Cello.
//!
//! - `stream`: the stream batch and the partial-batch answer (edge types);
//! - `facts`: what a change in the table is, and the records read from it;
//! - `domain`: amounts, intervals, product keys and the events (pure);
//! - `store`: the port for facts and report records, with its DynamoDB and memory adapters;
//! - `sink`: where events go (Cello's API, or memory in tests);
//! - `report`: the use case.

pub mod domain;
pub mod facts;
pub mod report;
pub mod settings;
pub mod sink;
pub mod store;
pub mod stream;

//! The workspace integration tests, one binary: each module talks to the real local stand-ins
//! (moto's DynamoDB and Secrets Manager, the Stripe stand-in) and to the functions served by
//! `cargo lambda watch`, through the adapters the functions use in AWS. `infra/local/test.sh`
//! starts the stack and exports its environment.

mod cello_api;
mod cello_events;
mod cello_token;
mod checkout;
mod doctor;
mod foundation;
mod rewards;
mod signup;
mod webhook;

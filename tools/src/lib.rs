//! Tools around the functions, built only when asked for (`-p tools`; not a default workspace
//! member): the fixture replay runner (`src/bin/replay.rs`) and the Lambda Runtime API driver
//! of the perf harness (`src/bin/runtime_api.rs`). Their pieces are small and unit-tested here.

pub mod replay;
pub mod runtime_api;

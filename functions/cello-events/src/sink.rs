//! Where events go: Cello's `POST /events` through the shared client, or a scripted memory
//! sink in unit tests.

use shared::cello_api::{CelloApi, CelloApiError, Event};
use std::future::Future;

pub trait CelloSink: Send + Sync {
    fn send(&self, event: &Event) -> impl Future<Output = Result<(), CelloApiError>> + Send;
}

impl CelloSink for CelloApi {
    async fn send(&self, event: &Event) -> Result<(), CelloApiError> {
        self.send_event(event).await
    }
}

#[cfg(any(test, feature = "memory"))]
pub mod memory {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// Records every event it is given; answers from a script (then success).
    #[derive(Default)]
    pub struct MemorySink {
        pub received: Mutex<Vec<Event>>,
        pub script: Mutex<VecDeque<Result<(), CelloApiError>>>,
    }

    impl MemorySink {
        pub fn answering(answers: impl IntoIterator<Item = Result<(), CelloApiError>>) -> Self {
            Self {
                received: Mutex::new(Vec::new()),
                script: Mutex::new(answers.into_iter().collect()),
            }
        }

        pub fn events(&self) -> Vec<Event> {
            self.received.lock().unwrap().clone()
        }
    }

    impl CelloSink for MemorySink {
        async fn send(&self, event: &Event) -> Result<(), CelloApiError> {
            self.received.lock().unwrap().push(event.clone());
            self.script.lock().unwrap().pop_front().unwrap_or(Ok(()))
        }
    }
}

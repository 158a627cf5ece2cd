//! Cello's New User Reward answer, as the decision reads it: the port, its adapter on the shared
//! Cello API client (absent when the secret has no API keys), and a memory adapter.

use crate::discount::{CelloReward, CelloView};
use shared::cello_api::{CelloApi, CelloApiError, NewUserReward};
use std::future::Future;

pub trait NewUserRewards: Send + Sync {
    /// What Cello says about this new user; never an error: an unreachable Cello is a view the
    /// decision has a rule for.
    fn new_user_reward(&self, user_id: &str) -> impl Future<Output = CelloView> + Send;
}

/// From Cello's answer to the decision's view of it.
pub fn view_of(answer: &NewUserReward) -> CelloView {
    let reward = answer.reward.as_ref();
    CelloView::Answered(CelloReward {
        eligible: answer.eligible,
        kind: reward.and_then(|r| r.kind.clone()),
        percentage: reward.and_then(|r| r.percentage),
        interval: reward.and_then(|r| r.interval.clone()),
        interval_count: reward.and_then(|r| r.interval_count),
    })
}

/// `None`: Cello's API is not configured for this environment (no keys in the secret).
impl NewUserRewards for Option<CelloApi> {
    async fn new_user_reward(&self, user_id: &str) -> CelloView {
        let Some(api) = self else {
            return CelloView::NotConfigured;
        };
        match api.new_user_reward(user_id).await {
            Ok(answer) => view_of(&answer),
            // Cello does not know this user as a referred new user.
            Err(CelloApiError::Refused { status: 404, .. }) => CelloView::Answered(CelloReward {
                eligible: false,
                kind: None,
                percentage: None,
                interval: None,
                interval_count: None,
            }),
            Err(e) => {
                // The fallback decides (CHECKOUT_CELLO_FALLBACK); the reason says which.
                tracing::warn!(error = %e, "Cello's new-user reward could not be read; using the configured fallback");
                CelloView::Unreachable
            }
        }
    }
}

#[cfg(any(test, feature = "memory"))]
pub mod memory {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers what it was set to, and counts the questions.
    pub struct MemoryCello {
        pub view: Mutex<CelloView>,
        pub calls: AtomicUsize,
    }

    impl MemoryCello {
        pub fn new(view: CelloView) -> Self {
            Self {
                view: Mutex::new(view),
                calls: AtomicUsize::new(0),
            }
        }

        pub fn set(&self, view: CelloView) {
            *self.view.lock().unwrap() = view;
        }
    }

    impl NewUserRewards for MemoryCello {
        async fn new_user_reward(&self, _user_id: &str) -> CelloView {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.view.lock().unwrap().clone()
        }
    }
}

//! The Referral component's evidence for the doctor, recorded cheaply: that tokens are being
//! minted, without a write per request. A container writes `HEALTH` / `TOKEN_MINTED` on its
//! first mint and then at most once per [`HEARTBEAT_INTERVAL_SECONDS`], adding the mints it
//! counted since its last write. A failed write never fails a mint: the count is kept for the
//! next attempt. (A container that ends between writes loses its last few counts: the figure
//! is a lower bound, the last time is at most one interval late.)

use shared::StoreError;
use shared::table::{Table, attrs, classify, key, keys, n};
use std::future::Future;
use std::sync::Mutex;

pub const HEARTBEAT_INTERVAL_SECONDS: i64 = 300;

/// The port: adds `minted` to the running count and sets the last mint time.
pub trait MintLog: Send + Sync {
    fn note_minted(
        &self,
        at: i64,
        minted: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl MintLog for Table {
    async fn note_minted(&self, at: i64, minted: u64) -> Result<(), StoreError> {
        let (pk, sk) = keys::health(keys::TOKEN_MINTED);
        self.client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key(pk.to_owned(), &sk)))
            .update_expression("SET #last = :at ADD #count :n")
            .expression_attribute_names("#last", attrs::LAST_AT)
            .expression_attribute_names("#count", attrs::COUNT)
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":n", n(minted as i64))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// Per container: when the last write was, and the mints not written yet.
pub struct Heartbeat<M> {
    log: M,
    interval: i64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last_write: Option<i64>,
    unreported: u64,
}

impl<M: MintLog> Heartbeat<M> {
    pub fn new(log: M, interval_seconds: i64) -> Self {
        Self {
            log,
            interval: interval_seconds,
            state: Mutex::new(State::default()),
        }
    }

    /// Notes one mint at `now`; writes when none was written in this container for an interval.
    pub async fn minted(&self, now: i64) {
        let due = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.unreported += 1;
            match s.last_write {
                Some(at) if now - at < self.interval => None,
                _ => {
                    s.last_write = Some(now);
                    Some(std::mem::take(&mut s.unreported))
                }
            }
        };
        let Some(count) = due else { return };
        if let Err(e) = self.log.note_minted(now, count).await {
            tracing::warn!(error = %e, "token health mark not written; retried on a later mint");
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.unreported += count;
            s.last_write = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Default)]
    struct Recorded {
        writes: Mutex<Vec<(i64, u64)>>,
        fail: AtomicBool,
    }

    impl MintLog for &Recorded {
        async fn note_minted(&self, at: i64, minted: u64) -> Result<(), StoreError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable);
            }
            self.writes.lock().unwrap().push((at, minted));
            Ok(())
        }
    }

    #[tokio::test]
    async fn writes_on_the_first_mint_then_once_per_interval_with_the_count() {
        let log = Recorded::default();
        let hb = Heartbeat::new(&log, 300);
        hb.minted(1_000).await;
        for t in 1_001..1_100 {
            hb.minted(t).await;
        }
        assert_eq!(*log.writes.lock().unwrap(), vec![(1_000, 1)]);
        hb.minted(1_300).await;
        assert_eq!(log.writes.lock().unwrap()[1], (1_300, 100));
        assert_eq!(log.writes.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_failed_write_keeps_the_count_and_retries_on_the_next_mint() {
        let log = Recorded::default();
        let hb = Heartbeat::new(&log, 300);
        log.fail.store(true, Ordering::SeqCst);
        hb.minted(10).await;
        hb.minted(11).await;
        log.fail.store(false, Ordering::SeqCst);
        hb.minted(12).await;
        assert_eq!(*log.writes.lock().unwrap(), vec![(12, 3)]);
    }
}

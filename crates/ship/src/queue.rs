//! The bounded queue between producers and consumers. Full is never silent: `Block` waits
//! (file replay: nothing may be lost), `DropNewest` discards the new item and counts it (live
//! capture: the capture must not stall).

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullPolicy {
    Block,
    DropNewest,
}

/// The sending half, with its policy and drop counter.
#[derive(Debug)]
pub struct QueueSender<T> {
    tx: Sender<T>,
    policy: FullPolicy,
    dropped: Arc<AtomicU64>,
}

impl<T> Clone for QueueSender<T> {
    fn clone(&self) -> Self {
        QueueSender { tx: self.tx.clone(), policy: self.policy, dropped: self.dropped.clone() }
    }
}

/// A bounded queue of `capacity` items.
pub fn queue<T>(capacity: usize, policy: FullPolicy) -> (QueueSender<T>, Receiver<T>, Arc<AtomicU64>) {
    let (tx, rx) = bounded(capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    (QueueSender { tx, policy, dropped: dropped.clone() }, rx, dropped)
}

impl<T> QueueSender<T> {
    /// Sends by the policy. `false` when the receiver is gone.
    pub fn send(&self, item: T) -> bool {
        match self.policy {
            FullPolicy::Block => self.tx.send(item).is_ok(),
            FullPolicy::DropNewest => match self.tx.try_send(item) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
        }
    }

    /// Items waiting for the receiver.
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_newest_counts_what_did_not_fit() {
        let (tx, rx, dropped) = queue(2, FullPolicy::DropNewest);
        for i in 0..5 {
            assert!(tx.send(i));
        }
        assert_eq!(dropped.load(Ordering::Relaxed), 3);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn block_waits_and_loses_nothing() {
        let (tx, rx, dropped) = queue(1, FullPolicy::Block);
        let t = std::thread::spawn(move || {
            for i in 0..100 {
                tx.send(i);
            }
        });
        let got: Vec<i32> = rx.iter().collect();
        t.join().unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
    }
}

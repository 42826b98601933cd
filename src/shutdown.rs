//! The daemon's shutdown signal, as every long-lived task sees it.
//!
//! Shaped like tokio's mini-redis `Shutdown`: one value per task, cheap to clone, asked
//! [`Shutdown::is_shutdown`] at the top of a loop and awaited with [`Shutdown::recv`] in a
//! `select!`. Underneath is a `watch` channel of `bool` that the owner sets to `true` once. A
//! sender dropped without sending counts as a shutdown too: nobody is left who could ever
//! send it, and a task waiting on it would otherwise spin (a closed `watch` answers at once).

use tokio::sync::watch;

/// Listens for the shutdown signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// Set once [`Shutdown::recv`] has seen the signal (or the sender gone).
    seen: bool,
    signal: watch::Receiver<bool>,
}

impl Shutdown {
    /// Listens on `signal`; shutdown is its value turning `true` (or its sender dropped).
    pub fn new(signal: watch::Receiver<bool>) -> Shutdown {
        Shutdown {
            seen: false,
            signal,
        }
    }

    /// A new signal: `send(true)` on the sender shuts down every clone of the listener.
    pub fn channel() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown::new(rx))
    }

    /// Whether shutdown has been signalled.
    pub fn is_shutdown(&self) -> bool {
        self.seen || *self.signal.borrow() || self.signal.has_changed().is_err()
    }

    /// Resolves once shutdown is signalled (at once if it already was). Cancel-safe.
    pub async fn recv(&mut self) {
        if self.seen {
            return;
        }
        // The guard `wait_for` returns is dropped here, so the future stays `Send`.
        let _ = self.signal.wait_for(|stop| *stop).await;
        self.seen = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn every_clone_sees_the_signal() {
        let (tx, mut shutdown) = Shutdown::channel();
        let mut other = shutdown.clone();
        assert!(!shutdown.is_shutdown());
        let early = tokio::time::timeout(Duration::from_millis(20), shutdown.recv()).await;
        assert!(early.is_err(), "no signal yet");
        tx.send(true).unwrap();
        assert!(other.is_shutdown());
        tokio::time::timeout(Duration::from_secs(1), other.recv())
            .await
            .expect("signalled");
        // A clone taken after the signal sees it too.
        let mut late = shutdown.clone();
        assert!(late.is_shutdown());
        late.recv().await;
        shutdown.recv().await;
    }

    #[tokio::test]
    async fn a_dropped_sender_is_a_shutdown() {
        let (tx, mut shutdown) = Shutdown::channel();
        drop(tx);
        assert!(shutdown.is_shutdown());
        tokio::time::timeout(Duration::from_secs(1), shutdown.recv())
            .await
            .expect("a closed signal resolves");
        assert!(shutdown.is_shutdown());
    }
}

//! Background tasks that must not die quietly.
//!
//! A panic in a tokio task ends that task only: the pool worker, modem driver, webhook
//! dispatcher or janitor would be gone while `/healthz` stays green and systemd sees nothing
//! wrong. The daemon hands every background task's `JoinHandle` to a [`Supervisor`]; the first
//! panic is reported by [`Supervisor::failed`], and the daemon then stops with a non-zero exit
//! status, so that systemd (`Restart=on-failure`) starts it again from a known state. Restarting
//! the task in place was rejected: a task that panicked may have left shared state half-done,
//! and the queue and outbox are built to survive a process restart, not a task's.

use std::any::Any;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// A background task panicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// The name it was watched under (`pool worker sim1`, `webhook dispatcher`…).
    pub task: String,
    /// The panic message, when it was a string.
    pub panic: String,
}

impl std::fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "background task {} panicked: {}", self.task, self.panic)
    }
}

/// Watches background tasks' `JoinHandle`s.
pub struct Supervisor {
    failures_tx: mpsc::UnboundedSender<TaskFailure>,
    failures: mpsc::UnboundedReceiver<TaskFailure>,
    watchers: Vec<JoinHandle<()>>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    pub fn new() -> Supervisor {
        let (failures_tx, failures) = mpsc::unbounded_channel();
        Supervisor {
            failures_tx,
            failures,
            watchers: Vec::new(),
        }
    }

    /// Watches a task; the returned [`Ended`] resolves when it has ended, however it ended.
    pub fn watch(&mut self, task: impl Into<String>, handle: JoinHandle<()>) -> Ended {
        let task = task.into();
        let failures = self.failures_tx.clone();
        let (ended_tx, ended) = watch::channel(false);
        self.watchers.push(tokio::spawn(async move {
            if let Err(e) = handle.await {
                if e.is_panic() {
                    let panic = panic_message(e.into_panic());
                    tracing::error!(%task, %panic, "a background task panicked");
                    let _ = failures.send(TaskFailure { task, panic });
                }
            }
            let _ = ended_tx.send(true);
        }));
        Ended(ended)
    }

    /// The first task that panicked; pending for ever while none has.
    pub async fn failed(&mut self) -> TaskFailure {
        match self.failures.recv().await {
            Some(failure) => failure,
            // Unreachable while `self` holds a sender; never resolve rather than invent one.
            None => std::future::pending().await,
        }
    }

    /// Waits until every watched task has ended.
    pub async fn join(self) {
        for watcher in self.watchers {
            let _ = watcher.await;
        }
    }
}

/// Resolves once a watched task has ended.
pub struct Ended(watch::Receiver<bool>);

impl Ended {
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|ended| *ended).await;
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn reports_the_task_that_panicked() {
        let mut supervisor = Supervisor::new();
        let (stop_tx, mut stop_rx) = watch::channel(false);
        supervisor.watch(
            "quiet worker",
            tokio::spawn(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            }),
        );
        supervisor.watch("finishes normally", tokio::spawn(async {}));
        // A normal end is not a failure.
        let early = tokio::time::timeout(Duration::from_millis(100), supervisor.failed()).await;
        assert!(early.is_err(), "no failure yet: {early:?}");
        let ended = supervisor.watch(
            "pool worker sim1",
            tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                panic!("index out of bounds: {}", 7);
            }),
        );
        let failure = tokio::time::timeout(Duration::from_secs(5), supervisor.failed())
            .await
            .expect("the panic is reported");
        assert_eq!(failure.task, "pool worker sim1");
        assert_eq!(failure.panic, "index out of bounds: 7");
        assert_eq!(
            failure.to_string(),
            "background task pool worker sim1 panicked: index out of bounds: 7"
        );
        ended.wait().await;
        let _ = stop_tx.send(true);
        tokio::time::timeout(Duration::from_secs(5), supervisor.join())
            .await
            .expect("every task ended");
    }
}

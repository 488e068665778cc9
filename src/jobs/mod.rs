//! Every background loop of the service, behind one [`Scheduler`]: signed
//! checkpoints, the retention sweep, the register deadlines (overdue
//! requests, incident notification deadlines), and the unusual-access alert engine
//! fed by the audit writer. Each job calls the same archive use case as
//! its one-shot CLI command (`custos retention run`, `custos audit
//! checkpoint`), so cron, systemd timers or Kubernetes CronJobs can run them
//! instead. Shutdown is graceful: a job that is running finishes its run.

pub mod alerts;
pub mod auth_failures;
pub mod backup;
pub mod checkpoint;
pub mod deadlines;
pub mod grading;
pub mod retention;

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// The service's periodic jobs.
pub struct Scheduler {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    threads: Vec<(&'static str, std::thread::JoinHandle<()>)>,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler { stop: watch::channel(false).0, tasks: Vec::new(), threads: Vec::new() }
    }
}

impl Scheduler {
    /// Runs `job` every `period` (the first run one period from now) until
    /// shutdown. A run is never interrupted; a tick missed while a run was
    /// in progress is skipped, not queued.
    pub fn every<F, Fut>(&mut self, name: &'static str, period: Duration, mut job: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut stop = self.stop.subscribe();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => break,
                }
                job().instrument(tracing::info_span!("job", job = name)).await;
            }
        });
        self.tasks.push((name, task));
    }

    /// Runs `job` every day at `at` (wall-clock time) until shutdown.
    pub fn daily<F, Fut>(&mut self, name: &'static str, at: crate::config::DailyAt, mut job: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut stop = self.stop.subscribe();
        let task = tokio::spawn(async move {
            loop {
                let now = time::OffsetDateTime::now_utc();
                let wait = (at.next_after(now) - now).unsigned_abs();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => break,
                }
                job().instrument(tracing::info_span!("job", job = name)).await;
            }
        });
        self.tasks.push((name, task));
    }

    /// A job that runs on its own thread and ends by itself when its input
    /// closes (the alert engine: when the audit writer stops).
    pub fn thread(&mut self, name: &'static str, handle: std::thread::JoinHandle<()>) {
        self.threads.push((name, handle));
    }

    /// Stops the periodic jobs, letting a run in progress finish.
    pub async fn stop_periodic(&mut self) {
        let _ = self.stop.send(true);
        for (name, task) in self.tasks.drain(..) {
            if let Err(e) = task.await {
                tracing::error!(job = name, error = %e, "job ended abnormally");
            }
        }
    }

    /// Waits for the thread jobs, once their inputs are closed.
    pub fn join_threads(&mut self) {
        for (name, handle) in self.threads.drain(..) {
            if handle.join().is_err() {
                tracing::error!(job = name, "job thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn runs_every_period_and_stops_after_the_run_in_progress() {
        let runs = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let mut s = Scheduler::default();
        let (r, f) = (runs.clone(), finished.clone());
        s.every("test", Duration::from_secs(10), move || {
            let (r, f) = (r.clone(), f.clone());
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(3)).await;
                f.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 0, "the first run is one period away");
        tokio::time::sleep(Duration::from_secs(26)).await; // t = 31: runs at 10, 20, 30
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        s.stop_periodic().await;
        assert_eq!(finished.load(Ordering::SeqCst), 3, "the run in progress finished");
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "no run after stop");
    }
}

//! Live sockets during `flow-calls`' flows, so that `notify` pushes what it delivers: each
//! owner holds one for the whole run, each freelancer opens one before their flow and
//! closes it once their `hired` push has arrived (a user who opens the app for one hire).

use crate::push::{Heard, listen};
use crate::{Api, BoxError};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How long a freelancer waits for their push: far beyond the pipe's and the pollers'
/// delays, so a missing push fails the run instead of stalling it.
const WAIT: Duration = Duration::from_secs(30);

pub struct Live {
    stop: watch::Sender<bool>,
    owners: Vec<(String, mpsc::UnboundedReceiver<Heard>, JoinHandle<()>)>,
    freelancers: Mutex<Vec<JoinHandle<Result<(), String>>>>,
    /// The largest message heard, in bytes: the Management API bills by 32 KB.
    largest: std::sync::Arc<AtomicUsize>,
}

fn text_len(message: &serde_json::Value) -> usize {
    message.to_string().len()
}

impl Live {
    /// A socket for each owner of the run (`{run}-o{c}`, as [`super::run`] names them).
    pub async fn owners(api: &Api, run: &str, clients: usize) -> Result<Self, BoxError> {
        let (stop, stopped) = watch::channel(false);
        let mut owners = Vec::with_capacity(clients);
        for c in 0..clients {
            let owner = format!("{run}-o{c}");
            let mut stopped = stopped.clone();
            let (rx, task) = listen(api, &owner, async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await?;
            owners.push((owner, rx, task));
        }
        Ok(Self {
            stop,
            owners,
            freelancers: Mutex::default(),
            largest: Default::default(),
        })
    }

    /// Opens `freelancer`'s socket (its `$connect` has run when this returns) and leaves a
    /// task that closes it once their `hired` push arrived, or fails after [`WAIT`].
    pub async fn freelancer(&self, api: &Api, freelancer: String) -> Result<(), BoxError> {
        let (close, closed) = oneshot::channel::<()>();
        let (mut rx, task) = listen(api, &freelancer, async {
            let _ = closed.await;
        })
        .await?;
        let largest = self.largest.clone();
        let watcher = tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            let outcome = match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((_, m)))
                    if m["type"] == "notification" && m["notification"]["type"] == "hired" =>
                {
                    largest.fetch_max(text_len(&m), Ordering::Relaxed);
                    Ok(())
                }
                Ok(Some((_, m))) => Err(format!("{freelancer} heard {m} before their push")),
                Ok(None) => Err(format!("{freelancer}'s socket closed before their push")),
                Err(_) => Err(format!("{freelancer}: no push within {WAIT:?}")),
            };
            let _ = close.send(());
            let _ = task.await;
            outcome
        });
        self.freelancers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(watcher);
        Ok(())
    }

    /// Waits until every freelancer heard their push and closed their socket.
    pub async fn freelancers_done(&self) -> Result<(), BoxError> {
        let watchers =
            std::mem::take(&mut *self.freelancers.lock().unwrap_or_else(|e| e.into_inner()));
        let mut failed = Vec::new();
        for watcher in watchers {
            if let Err(e) = watcher.await? {
                failed.push(e);
            }
        }
        match failed.first() {
            None => Ok(()),
            Some(first) => Err(format!(
                "{} freelancers without their push; first: {first}",
                failed.len()
            )
            .into()),
        }
    }

    /// Closes the owners' sockets; fails unless each heard every `application_received` of
    /// their flows, and nothing else. A notification pushed twice is counted, not failed:
    /// `notify` pushes again what it finds already delivered (an event delivered twice), and
    /// a client keeps one per position. Answers the largest message heard, in bytes, and the
    /// repeated pushes with their notification ids.
    pub async fn close_owners(
        self,
        flows: &[(String, String)],
    ) -> Result<(usize, Vec<String>), BoxError> {
        let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
        for (owner, _) in flows {
            *expected.entry(owner).or_default() += 1;
        }
        // Whatever was pushed has arrived: the run is settled and the freelancers, pushed
        // in the same batches, have heard theirs.
        let _ = self.stop.send(true);
        let (mut wrong, mut repeated) = (Vec::new(), Vec::new());
        for (owner, mut rx, task) in self.owners {
            let _ = task.await;
            let mut ids = std::collections::BTreeSet::new();
            while let Ok((_, m)) = rx.try_recv() {
                let n = &m["notification"];
                if m["type"] == "notification" && n["type"] == "application_received" {
                    self.largest.fetch_max(text_len(&m), Ordering::Relaxed);
                    let id = n["notification_id"].as_str().unwrap_or_default().to_owned();
                    if !ids.insert(id.clone()) {
                        repeated.push(format!("{owner}: {id} at position {}", n["position"]));
                    }
                } else {
                    wrong.push(format!("{owner} heard {m}"));
                }
            }
            let want = expected.get(owner.as_str()).copied().unwrap_or(0);
            if ids.len() != want {
                wrong.push(format!(
                    "{owner}: {} application_received pushed of {want}",
                    ids.len()
                ));
            }
        }
        match wrong.first() {
            None => Ok((self.largest.load(Ordering::Relaxed), repeated)),
            Some(first) => {
                Err(format!("{} owners' pushes wrong; first: {first}", wrong.len()).into())
            }
        }
    }
}

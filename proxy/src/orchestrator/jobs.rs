//! Background jobs the UI starts (rebalance, clean-excess): a request and the job's outcome live
//! in a store document, `job/{name}`, so the request may reach any proxy sharing the store, the
//! instance holding the job's worker lease runs it, and any proxy answers its status. A running
//! job refreshes its heartbeat; one whose heartbeat is over a minute old died with its proxy and
//! may be requested again (its worker then runs it afresh).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::ProxyError;
use crate::state::Shared;

/// A running job whose heartbeat is older than this is dead.
const STALE_MS: u64 = 60_000;

/// What the store keeps of a job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobState {
    /// `idle`, `requested`, `running`, `done` or `error`.
    pub status: String,
    /// Objects moved or copies removed by the last run.
    #[serde(default)]
    pub count: u64,
    /// Why the last run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Last sign of life of a running job (unix ms).
    #[serde(default)]
    pub heartbeat_ms: u64,
}

/// A kind of job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Its name, in the document name and messages.
    pub name: &'static str,
    /// The field its count is shown as (`moved`, `removed`).
    pub count_field: &'static str,
    /// The 409 message while it runs.
    pub busy: &'static str,
}

/// The rebalance job.
pub const REBALANCE: Job = Job {
    name: "rebalance",
    count_field: "moved",
    busy: "rebalance already running",
};

/// The clean-excess job.
pub const CLEAN_EXCESS: Job = Job {
    name: "clean-excess",
    count_field: "removed",
    busy: "cleanup already running",
};

impl Job {
    fn doc(&self) -> String {
        format!("job/{}", self.name)
    }

    /// The job's state (idle when never run).
    pub async fn load(&self, shared: &Shared) -> Result<JobState, ProxyError> {
        Ok(match shared.store.state(&self.doc()).await? {
            Some(text) => serde_json::from_str(&text).unwrap_or_default(),
            None => JobState {
                status: "idle".into(),
                ..JobState::default()
            },
        })
    }

    /// Writes the job's state.
    pub async fn save(&self, shared: &Shared, st: &JobState) -> Result<(), ProxyError> {
        let text = serde_json::to_string(st).map_err(|e| ProxyError::Internal(e.to_string()))?;
        shared.store.put_state(&self.doc(), &text).await?;
        Ok(())
    }

    fn alive(st: &JobState, now_ms: u64) -> bool {
        match st.status.as_str() {
            "requested" => true,
            "running" => now_ms.saturating_sub(st.heartbeat_ms) < STALE_MS,
            _ => false,
        }
    }

    /// `POST`: asks for a run; 202, or 409 while one is asked for or running.
    pub async fn request(&self, shared: &Shared) -> Result<(u16, serde_json::Value), ProxyError> {
        let st = self.load(shared).await?;
        if Self::alive(&st, crate::clock::unix_ms()) {
            return Ok((409, json!({"error": self.busy})));
        }
        let requested = JobState {
            status: "requested".into(),
            ..JobState::default()
        };
        self.save(shared, &requested).await?;
        Ok((202, json!({"status": "started"})))
    }

    /// `GET .../status`: the seed's shapes.
    pub async fn status(&self, shared: &Shared) -> Result<(u16, serde_json::Value), ProxyError> {
        let st = self.load(shared).await?;
        let body = match st.status.as_str() {
            "requested" | "running" => json!({"status": "running"}),
            "done" => json!({"status": "done", "ok": true, self.count_field: st.count}),
            "error" => json!({"status": "error", "error": st.error.unwrap_or_default()}),
            _ => json!({"status": "idle"}),
        };
        Ok((200, body))
    }

    /// For the job's worker: whether a run was asked for (or a running one died), marking it
    /// running.
    pub async fn take(&self, shared: &Shared) -> Result<bool, ProxyError> {
        let st = self.load(shared).await?;
        let now = crate::clock::unix_ms();
        let due = st.status == "requested" || (st.status == "running" && !Self::alive(&st, now));
        if due {
            self.beat(shared, 0).await?;
        }
        Ok(due)
    }

    /// Marks the job running, with `count` so far.
    pub async fn beat(&self, shared: &Shared, count: u64) -> Result<(), ProxyError> {
        let st = JobState {
            status: "running".into(),
            count,
            error: None,
            heartbeat_ms: crate::clock::unix_ms(),
        };
        self.save(shared, &st).await
    }

    /// Records a run's outcome.
    pub async fn finish(&self, shared: &Shared, outcome: &Result<u64, String>) -> Result<(), ProxyError> {
        let st = match outcome {
            Ok(n) => JobState {
                status: "done".into(),
                count: *n,
                ..JobState::default()
            },
            Err(e) => JobState {
                status: "error".into(),
                error: Some(e.clone()),
                ..JobState::default()
            },
        };
        self.save(shared, &st).await
    }
}

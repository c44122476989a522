//! What the admin dashboard shows of the API's own traffic (`GET /api/admin/dashboard`):
//! requests and server errors per hour over the last 24 hours, requests per backend, and the
//! last 50 server errors. Kept in memory per instance (a restart starts them again), behind
//! one short lock taken once per request.

use std::collections::{BTreeMap, VecDeque};

use parking_lot::Mutex;
use serde::Serialize;

/// Server errors kept.
const RECENT_ERRORS: usize = 50;
/// Hours kept.
const HOURS: u64 = 24;
/// Most (hour, backend) counts kept.
const MAX_BACKEND_ENTRIES: usize = 24 * 256;

/// One server error.
#[derive(Debug, Clone, Serialize)]
pub struct RecentError {
    /// When (RFC 3339).
    pub when: String,
    /// The path (at most 200 bytes).
    pub path: String,
    /// The method.
    pub method: String,
    /// The status.
    pub status: u16,
    /// The caller, once its session was known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The backend the path named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
}

/// The dashboard's `requests` (the seed's field order).
#[derive(Debug, Clone, Serialize)]
pub struct RequestsView {
    /// Requests in the last 24 hours.
    pub total_24h: u64,
    /// Of them, answered 500 or more.
    pub errors_24h: u64,
    /// Per hour, oldest first.
    pub hourly: Vec<Hour>,
    /// Requests per backend named in the path.
    pub by_backend: BTreeMap<String, u64>,
    /// The last server errors, newest first.
    pub recent_errors: Vec<RecentError>,
}

/// One hour's counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Hour {
    /// Hours since the epoch.
    pub unix_hour: u64,
    /// Requests.
    pub requests: u64,
    /// Of them, answered 500 or more.
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Inner {
    hours: VecDeque<Hour>,
    /// (hour, backend) → requests.
    by_backend: VecDeque<(u64, String, u64)>,
    recent: VecDeque<RecentError>,
}

/// The API's traffic.
#[derive(Debug, Default)]
pub struct ApiStats(Mutex<Inner>);

impl ApiStats {
    /// Counts one request of the API answered `status` at `now_ms`. Its backend is counted only when the request got
    /// through (below 400: an unknown or refused one would let anyone grow the table); a 5xx is
    /// kept among the recent errors with its caller and backend.
    pub fn record(
        &self,
        now_ms: u64,
        (method, path): (&str, &str),
        status: u16,
        (user_id, backend): (Option<&str>, Option<&str>),
    ) {
        let hour = now_ms / 3_600_000;
        let mut s = self.0.lock();
        if s.hours.back().is_none_or(|h| h.unix_hour != hour) {
            s.hours.push_back(Hour {
                unix_hour: hour,
                ..Hour::default()
            });
        }
        while s.hours.front().is_some_and(|h| h.unix_hour + HOURS <= hour) {
            s.hours.pop_front();
        }
        if let Some(h) = s.hours.back_mut() {
            h.requests += 1;
            h.errors += u64::from(status >= 500);
        }
        if let Some(b) = backend.filter(|_| status < 400) {
            let full = s.by_backend.len() >= MAX_BACKEND_ENTRIES;
            match s.by_backend.iter_mut().find(|(h, n, _)| *h == hour && n == b) {
                Some(entry) => entry.2 += 1,
                None if !full => s.by_backend.push_back((hour, b.to_owned(), 1)),
                None => {}
            }
            while s.by_backend.front().is_some_and(|(h, _, _)| h + HOURS <= hour) {
                s.by_backend.pop_front();
            }
        }
        if status >= 500 {
            let mut p: String = path.chars().take(200).collect();
            if p.len() < path.len() {
                p.push('…');
            }
            if s.recent.len() == RECENT_ERRORS {
                s.recent.pop_front();
            }
            s.recent.push_back(RecentError {
                when: crate::time::Timestamp(now_ms).to_rfc3339(),
                path: p,
                method: method.to_owned(),
                status,
                user_id: user_id.map(str::to_owned),
                backend: backend.map(|b| b.chars().take(64).collect()),
            });
        }
    }

    /// The dashboard's `requests` object at `now_ms`: 24 hourly slots oldest first.
    pub fn view(&self, now_ms: u64) -> RequestsView {
        let hour = now_ms / 3_600_000;
        let s = self.0.lock();
        let hourly: Vec<Hour> = (0..HOURS)
            .map(|i| hour + 1 + i - HOURS)
            .map(|h| {
                s.hours.iter().find(|x| x.unix_hour == h).copied().unwrap_or(Hour {
                    unix_hour: h,
                    ..Hour::default()
                })
            })
            .collect();
        let mut by_backend: BTreeMap<&str, u64> = BTreeMap::new();
        for (h, b, n) in &s.by_backend {
            if h + HOURS > hour {
                *by_backend.entry(b).or_default() += n;
            }
        }
        RequestsView {
            total_24h: hourly.iter().map(|h| h.requests).sum(),
            errors_24h: hourly.iter().map(|h| h.errors).sum(),
            hourly,
            by_backend: by_backend.into_iter().map(|(b, n)| (b.to_owned(), n)).collect(),
            recent_errors: s.recent.iter().rev().cloned().collect(),
        }
    }
}

//! Connection admission: the open-file limit (raised to the hard limit at start), the
//! per-thread connection cap derived from it, open connections per client address, and log
//! lines limited to one a second while accepts fail or caps are hit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::{info, warn};

use crate::config::BackendKind;
use crate::state::Shared;

/// At most one accept-failure (or connection-cap) log line per this interval, over all cores.
const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Descriptors kept back from client connections: stdio, the metadata store's files, the
/// listeners, each core's io_uring/epoll, timer and event descriptors, the cleanup worker, and
/// files read at run time (CA files, fs backend directories while listing).
const FD_RESERVE: u64 = 256;
/// Descriptors one client connection may need at once: its socket and the backend socket or
/// file its request streams to or from.
const FDS_PER_CONNECTION: u64 = 2;
/// Idle connections each core keeps pooled per `s3` backend (the backend pool's idle cap).
const IDLE_BACKEND_CONNECTIONS: u64 = 64;
/// The derived per-thread connection limit is never below this: a proxy that refuses almost
/// everyone is useless, and running out of descriptors is handled (accept backs off).
const MIN_CONNECTIONS_PER_THREAD: usize = 64;
/// The derived per-thread connection limit is never above this: beyond it memory, not
/// descriptors, is the bound (a connection streaming a body holds a 1 MiB buffer).
const MAX_DEFAULT_CONNECTIONS_PER_THREAD: usize = 10_000;
/// Shards of the per-client connection counts, so cores accepting at once rarely share a lock.
const CLIENT_SHARDS: usize = 64;

/// The open-file limit of this process after [`raise_open_file_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit found at start.
    pub before: u64,
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Raises the RLIMIT_NOFILE soft limit to the hard limit (capped by `fs.nr_open`, which an
/// unlimited hard limit exceeds); on failure the soft limit stays as it was.
#[allow(unsafe_code)]
pub fn raise_open_file_limit() -> std::io::Result<OpenFileLimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = lim.rlim_cur;
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    let target = lim.rlim_max.min(nr_open);
    if lim.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit, read by the call only.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = target;
        } else {
            warn!(error = %std::io::Error::last_os_error(), soft = lim.rlim_cur, "cannot raise the open-file limit");
        }
    }
    Ok(OpenFileLimit {
        before,
        soft: lim.rlim_cur,
        hard: lim.rlim_max,
    })
}

/// The default `max_connections_per_thread` for `open_files` descriptors shared by `threads`
/// cores with `s3_backends` pooled backends:
/// `(open_files − FD_RESERVE − threads × s3_backends × IDLE_BACKEND_CONNECTIONS)
///  / (FDS_PER_CONNECTION × threads)`, kept within
/// [`MIN_CONNECTIONS_PER_THREAD`, `MAX_DEFAULT_CONNECTIONS_PER_THREAD`].
pub fn connections_per_thread(open_files: u64, threads: usize, s3_backends: usize) -> usize {
    let threads = threads.max(1) as u64;
    let reserve = FD_RESERVE + threads * s3_backends as u64 * IDLE_BACKEND_CONNECTIONS;
    let per_thread = open_files.saturating_sub(reserve) / (FDS_PER_CONNECTION * threads);
    usize::try_from(per_thread)
        .unwrap_or(usize::MAX)
        .clamp(MIN_CONNECTIONS_PER_THREAD, MAX_DEFAULT_CONNECTIONS_PER_THREAD)
}

/// A log line allowed at most once per [`LOG_INTERVAL`], counting the ones held back.
#[derive(Debug, Default)]
pub(super) struct LogLimiter {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// `Some(suppressed since the last line)` when a line may be logged now.
    pub(super) fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < LOG_INTERVAL) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Open connections per client address, over all cores.
#[derive(Debug)]
struct ClientCounts {
    shards: Vec<Mutex<HashMap<IpAddr, usize>>>,
}

impl ClientCounts {
    fn new() -> ClientCounts {
        ClientCounts {
            shards: (0..CLIENT_SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, ip: &IpAddr) -> &Mutex<HashMap<IpAddr, usize>> {
        let fold = |bytes: &[u8]| {
            bytes
                .iter()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(*b)))
        };
        let idx = match ip {
            IpAddr::V4(a) => fold(&a.octets()),
            IpAddr::V6(a) => fold(&a.octets()),
        };
        &self.shards[idx % CLIENT_SHARDS]
    }
}

/// One admitted connection of a client; gives its place back when dropped (no place is taken
/// when there is no per-client cap).
#[derive(Debug)]
pub(super) struct ClientSlot {
    gate: Option<Arc<Gate>>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let Some(gate) = &self.gate else { return };
        let mut counts = gate.clients.shard(&self.ip).lock();
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Admission shared by every core: the effective connection caps and the accept log limits.
#[derive(Debug)]
pub(super) struct Gate {
    /// Most open connections per core.
    pub(super) per_thread: usize,
    /// Most open connections per client address (0: no cap).
    per_client: usize,
    clients: ClientCounts,
    /// Limits accept-failure lines.
    pub(super) accept_log: Mutex<LogLimiter>,
    /// Limits connection-cap lines.
    pub(super) full_log: Mutex<LogLimiter>,
}

impl Gate {
    /// A slot for one more connection from `ip`, unless it already has `per_client` open.
    pub(super) fn admit(self: &Arc<Gate>, ip: IpAddr) -> Option<ClientSlot> {
        let ip = ip.to_canonical();
        if self.per_client == 0 {
            return Some(ClientSlot { gate: None, ip });
        }
        let mut counts = self.clients.shard(&ip).lock();
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.per_client {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            gate: Some(self.clone()),
            ip,
        })
    }
}

/// Raises the open-file limit, works out the connection caps and logs every effective limit.
pub(super) fn effective_limits(shared: &Shared, threads: usize) -> Gate {
    let limits = &shared.cfg.limits;
    let files = match raise_open_file_limit() {
        Ok(f) => f,
        Err(e) => {
            warn!(error = %e, "cannot read the open-file limit; assuming 1024");
            OpenFileLimit {
                before: 1024,
                soft: 1024,
                hard: 1024,
            }
        }
    };
    let s3_backends = shared
        .cfg
        .backends
        .iter()
        .filter(|b| matches!(b.kind, BackendKind::S3 { .. }))
        .count();
    let derived = connections_per_thread(files.soft, threads, s3_backends);
    let per_thread = match limits.max_connections_per_thread {
        0 => derived,
        n => {
            if n > derived {
                warn!(
                    max_connections_per_thread = n,
                    open_files = files.soft,
                    fits = derived,
                    "max_connections_per_thread is more than the open-file limit allows; \
                     expect accept failures (raise `ulimit -n`)"
                );
            }
            n
        }
    };
    info!(
        open_files = files.soft,
        open_files_at_start = files.before,
        open_files_hard = files.hard,
        max_connections_per_thread = per_thread,
        max_connections = per_thread * threads,
        max_connections_per_client = limits.max_connections_per_client,
        head_timeout_secs = limits.head_timeout_secs,
        idle_timeout_secs = limits.idle_timeout_secs,
        body_timeout_secs = limits.body_timeout_secs,
        body_min_bytes_per_sec = limits.body_min_bytes_per_sec,
        body_min_rate_grace_secs = limits.body_min_rate_grace_secs,
        "effective limits"
    );
    Gate {
        per_thread,
        per_client: limits.max_connections_per_client,
        clients: ClientCounts::new(),
        accept_log: Mutex::new(LogLimiter::default()),
        full_log: Mutex::new(LogLimiter::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_per_thread_leaves_room_for_backends_and_files() {
        // 20000 files, 2 cores, no s3 backend: (20000 - 256) / (2 × 2).
        assert_eq!(connections_per_thread(20_000, 2, 0), 4936);
        // Pooled backend connections come off the top: 2 cores × 3 backends × 64.
        assert_eq!(connections_per_thread(20_000, 2, 3), (20_000 - 256 - 384) / 4);
        // The old default 1024 files still admits a usable minimum; a huge limit stops at the cap.
        assert_eq!(connections_per_thread(1024, 8, 2), MIN_CONNECTIONS_PER_THREAD);
        assert_eq!(
            connections_per_thread(1 << 20, 1, 0),
            MAX_DEFAULT_CONNECTIONS_PER_THREAD
        );
        assert_eq!(connections_per_thread(0, 0, 0), MIN_CONNECTIONS_PER_THREAD);
    }

    #[test]
    fn log_limiter_allows_one_line_per_interval_and_counts_the_rest() {
        let mut l = LogLimiter::default();
        assert_eq!(l.allow(), Some(0));
        assert_eq!(l.allow(), None);
        assert_eq!(l.allow(), None);
        l.last = l.last.map(|t| t - LOG_INTERVAL);
        assert_eq!(l.allow(), Some(2));
    }

    #[test]
    fn per_client_cap_counts_and_releases() {
        let gate = Arc::new(Gate {
            per_thread: 10,
            per_client: 2,
            clients: ClientCounts::new(),
            accept_log: Mutex::new(LogLimiter::default()),
            full_log: Mutex::new(LogLimiter::default()),
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let s1 = gate.admit(a).unwrap();
        let _s2 = gate.admit(mapped).unwrap();
        assert!(gate.admit(a).is_none(), "an IPv4-mapped address is the same client");
        let _s3 = gate.admit(b).unwrap();
        drop(s1);
        assert!(gate.admit(a).is_some());
    }
}

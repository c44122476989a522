//! The runtime log level: [`LogLevel`] (the four levels the admin API accepts) and
//! [`LevelControl`], a handle on a `tracing_subscriber::reload` layer holding a global
//! `LevelFilter`, so `PUT /admin/api/log-level` takes effect at once without a restart. [`install`]
//! sets up the whole process subscriber the proxy needs: the reloadable level, `fmt` to stderr,
//! and the [`LogLayer`] ring buffer behind `{ui}/api/logs`.

use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tracing::Subscriber;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

use crate::error::Error;
use crate::logbuf::{LogBuffer, LogLayer, LOG_BUFFER_CAPACITY};

/// Dependencies whose events stay at `info` or above whatever the level.
pub const QUIET_TARGETS: &[&str] = &["sled", "rustls"];

/// One of the runtime log levels the admin API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `debug`.
    Debug,
    /// `info`.
    Info,
    /// `warn`.
    Warn,
    /// `error`.
    Error,
}

impl LogLevel {
    /// The lower-case name (`"info"`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// The `tracing` level filter of this level and more severe ones.
    pub fn level_filter(self) -> LevelFilter {
        match self {
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Error => LevelFilter::ERROR,
        }
    }

    /// The process filter at this level: every event this severe, except that libraries in
    /// [`QUIET_TARGETS`] never go below `info` (sled's debug output would otherwise flood the
    /// log and the ring buffer within seconds).
    pub fn filter(self) -> Targets {
        let quiet = self.level_filter().min(LevelFilter::INFO);
        QUIET_TARGETS
            .iter()
            .fold(Targets::new().with_default(self.level_filter()), |t, target| {
                t.with_target(*target, quiet)
            })
    }

    fn from_u8(n: u8) -> Self {
        match n {
            0 => LogLevel::Debug,
            1 => LogLevel::Info,
            2 => LogLevel::Warn,
            _ => LogLevel::Error,
        }
    }
}

impl FromStr for LogLevel {
    type Err = Error;

    /// Parses `debug`, `info`, `warn` or `error`, in any case; anything else is a 400.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warn" => Ok(LogLevel::Warn),
            "error" => Ok(LogLevel::Error),
            _ => Err(Error::bad_request(format!(
                "invalid level {s:?}: expected debug, info, warn or error"
            ))),
        }
    }
}

type Reloader = dyn Fn(Targets) -> Result<(), reload::Error> + Send + Sync;

/// Changes the process's log level at run time. Cheap to clone; every clone controls the same
/// filter.
#[derive(Clone)]
pub struct LevelControl {
    current: Arc<AtomicU8>,
    reload: Arc<Reloader>,
}

impl std::fmt::Debug for LevelControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelControl")
            .field("current", &self.current())
            .finish()
    }
}

impl LevelControl {
    /// A reloadable global level filter starting at `initial`, and its control. Put the layer
    /// first on the registry: events it refuses reach no other layer (the ring buffer included).
    pub fn layer<S>(initial: LogLevel) -> (reload::Layer<Targets, S>, LevelControl)
    where
        S: Subscriber + 'static,
    {
        let (layer, handle) = reload::Layer::new(initial.filter());
        let control = LevelControl {
            current: Arc::new(AtomicU8::new(initial as u8)),
            reload: Arc::new(move |f| handle.reload(f)),
        };
        (layer, control)
    }

    /// The level now in force.
    pub fn current(&self) -> LogLevel {
        LogLevel::from_u8(self.current.load(Ordering::Relaxed))
    }

    /// Sets the level; fails only when the subscriber holding the filter is gone.
    pub fn set(&self, level: LogLevel) -> Result<(), Error> {
        (self.reload)(level.filter()).map_err(|e| Error::LogLevel(e.to_string()))?;
        self.current.store(level as u8, Ordering::Relaxed);
        Ok(())
    }
}

/// The logging handles [`install`] returns.
#[derive(Debug, Clone)]
pub struct Logging {
    /// Changes the level at run time.
    pub level: LevelControl,
    /// The ring buffer `{ui}/api/logs` reads.
    pub buffer: LogBuffer,
}

/// Installs the process-wide subscriber: the reloadable level (starting at `initial`), `fmt`
/// lines to stderr (`ansi` colours when stderr is a terminal) and the log ring buffer of
/// [`LOG_BUFFER_CAPACITY`] entries. Fails if a global subscriber is already set.
pub fn install(initial: LogLevel, ansi: bool) -> Result<Logging, Error> {
    let buffer = LogBuffer::new(LOG_BUFFER_CAPACITY);
    let (level_layer, level) = LevelControl::layer(initial);
    tracing_subscriber::registry()
        .with(level_layer)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(ansi),
        )
        .with(LogLayer::new(buffer.clone()))
        .try_init()
        .map_err(|e| Error::LogLevel(e.to_string()))?;
    Ok(Logging { level, buffer })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logbuf::LogQuery;

    #[test]
    fn parse_levels() {
        for (s, l) in [
            ("debug", LogLevel::Debug),
            ("INFO", LogLevel::Info),
            ("Warn", LogLevel::Warn),
        ] {
            assert_eq!(s.parse::<LogLevel>().unwrap(), l);
        }
        assert_eq!("error".parse::<LogLevel>().unwrap().as_str(), "error");
        for bad in ["", "trace", "warning", "fatal", "info "] {
            assert!(matches!(bad.parse::<LogLevel>(), Err(Error::BadRequest(_))), "{bad}");
        }
        assert_eq!(serde_json::to_string(&LogLevel::Warn).unwrap(), "\"warn\"");
    }

    #[test]
    fn reload_changes_what_is_recorded() {
        let buffer = LogBuffer::new(100);
        let (layer, control) = LevelControl::layer(LogLevel::Info);
        let subscriber = tracing_subscriber::registry()
            .with(layer)
            .with(LogLayer::new(buffer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("hidden");
            tracing::info!("shown");
            assert_eq!(control.current(), LogLevel::Info);
            control.set(LogLevel::Debug).unwrap();
            assert_eq!(control.current(), LogLevel::Debug);
            tracing::debug!("now shown");
            tracing::debug!(target: "sled::pagecache", "library noise stays out");
            tracing::info!(target: "sled::pagecache", "library news");
            control.clone().set(LogLevel::Error).unwrap();
            tracing::warn!("hidden again");
            tracing::error!("errors pass");
        });
        let msgs: Vec<String> = buffer
            .query(&LogQuery::default())
            .iter()
            .map(|e| e.message.clone())
            .collect();
        assert_eq!(msgs, ["shown", "now shown", "library news", "errors pass"]);
    }

    #[test]
    fn set_fails_once_the_subscriber_is_gone() {
        let (layer, control) = LevelControl::layer::<tracing_subscriber::Registry>(LogLevel::Info);
        drop(layer);
        assert!(matches!(control.set(LogLevel::Debug), Err(Error::LogLevel(_))));
        assert_eq!(control.current(), LogLevel::Info);
    }
}

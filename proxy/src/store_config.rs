//! The `[store]` section of the config: which metadata engine the proxy uses. `sled` (the
//! default) keeps the metadata in `server.data_dir`, for one proxy; `postgres` keeps it in a
//! PostgreSQL database that several proxies share (see the README's "Several instances").

use std::path::PathBuf;

use serde::Deserialize;

/// The metadata engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The embedded sled store in `server.data_dir`.
    #[default]
    Sled,
    /// A PostgreSQL database.
    Postgres,
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sled` or `postgres`.
    #[serde(default)]
    pub engine: EngineKind,
    /// The database, for `postgres`: a URL (`postgres://user:password@host:5432/db?sslmode=require`)
    /// or libpq key=value pairs (`host=/run/postgresql dbname=s3o`).
    #[serde(default)]
    pub url: Option<String>,
    /// Connections this proxy keeps to the database.
    #[serde(default = "default_pool")]
    pub pool_size: usize,
    /// PEM certificates to trust for the database's TLS beside the web roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The schema to keep the tables in (created if missing); default: the connection's.
    #[serde(default)]
    pub schema: Option<String>,
}

fn default_pool() -> usize {
    16
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            engine: EngineKind::Sled,
            url: None,
            pool_size: default_pool(),
            ca_file: None,
            schema: None,
        }
    }
}

impl StoreConfig {
    /// What is wrong with the section, if anything.
    pub fn problem(&self) -> Option<String> {
        match self.engine {
            EngineKind::Sled => None,
            EngineKind::Postgres if self.url.as_deref().is_none_or(str::is_empty) => {
                Some("store: engine = \"postgres\" needs url".into())
            }
            EngineKind::Postgres if self.pool_size == 0 || self.pool_size > 1000 => {
                Some("store: pool_size must be 1 to 1000".into())
            }
            EngineKind::Postgres => None,
        }
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            if let Some((user, _)) = userinfo.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
        return url.to_owned();
    }
    url.split_whitespace()
        .map(|kv| match kv.split_once('=') {
            Some(("password", _)) => "password=***".to_owned(),
            _ => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            redact("host=/tmp password=secret user=u"),
            "host=/tmp password=*** user=u"
        );
    }

    #[test]
    fn postgres_needs_a_url_and_a_sane_pool() {
        let mut c = StoreConfig {
            engine: EngineKind::Postgres,
            ..StoreConfig::default()
        };
        assert!(c.problem().is_some_and(|p| p.contains("url")));
        c.url = Some("host=/tmp".into());
        assert!(c.problem().is_none());
        c.pool_size = 0;
        assert!(c.problem().is_some());
        assert!(StoreConfig::default().problem().is_none());
    }
}

//! A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a fresh directory,
//! `pg_ctl start` listening only on a Unix socket in that directory, stopped and deleted when
//! dropped. PostgreSQL refuses to run as root, so under root the cluster runs as the `postgres`
//! user (Debian's package creates it). The binaries are found in `$S3O_PG_BIN`, else by
//! `pg_config --bindir`, else in Debian's `/usr/lib/postgresql/<version>/bin`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use super::PgConfig;

/// A running throwaway cluster.
pub struct TempCluster {
    dir: PathBuf,
    bin: PathBuf,
    user: Option<(u32, u32)>,
}

/// Schemas handed out by [`TempCluster::fresh`] in this process.
static SCHEMAS: AtomicU64 = AtomicU64::new(0);

impl TempCluster {
    /// Creates and starts a cluster under a new directory in the system temp directory.
    pub fn start() -> Result<Self, String> {
        let bin = find_bin().ok_or("no PostgreSQL server binaries (initdb, pg_ctl) found: install Debian's postgresql package or set S3O_PG_BIN")?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("s3o-pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let user = if is_root() { Some(postgres_user()?) } else { None };
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", dir.display()))?;
        }
        let cluster = Self { dir, bin, user };
        let data = cluster.dir.join("data");
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// Starts the server (again, after [`stop_server`](Self::stop_server)).
    pub fn start_server(&self) -> Result<(), String> {
        let data = self.dir.join("data");
        let options = format!(
            "-k {} -c listen_addresses='' -p 5432 -c max_connections=300 -c shared_buffers=64MB",
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &log.to_string_lossy(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    /// Stops the server at once (`-m immediate`: as a crash would), keeping its data.
    pub fn stop_server(&self) -> Result<(), String> {
        let data = self.dir.join("data");
        self.run(
            "pg_ctl",
            &["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"],
        )
    }

    /// The connection string of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("host={} port=5432 user=postgres dbname=postgres", self.dir.display())
    }

    /// The cluster's directory (its socket, data and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A config for a schema no other store of this process uses: an empty store each time.
    pub fn fresh(&self) -> PgConfig {
        let n = SCHEMAS.fetch_add(1, Ordering::Relaxed);
        let mut config = PgConfig::new(self.url());
        config.schema = Some(format!("s3o_test_{}_{n}", std::process::id()));
        config.pool_size = 4;
        config
    }

    /// Runs one of the cluster's binaries as the cluster's user.
    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.args(args).current_dir(&self.dir);
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        let out = cmd.output().map_err(|e| format!("{tool}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.run(
            "pg_ctl",
            &["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory of `initdb` and `pg_ctl`.
fn find_bin() -> Option<PathBuf> {
    let has = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(d) = std::env::var_os("S3O_PG_BIN").map(PathBuf::from) {
        return has(&d).then_some(d);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has(&d) {
            return Some(d);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| has(d))
        .collect();
    versions.sort();
    versions.pop()
}

/// Whether this process runs as root.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// The uid and gid of the `postgres` user.
fn postgres_user() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"postgres")).then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
        })
        .ok_or_else(|| "running as root, and there is no postgres user to run PostgreSQL as".to_owned())
}

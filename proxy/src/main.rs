//! The `s3-orchestrator` command: `serve` runs the proxy, `validate` checks a config file,
//! `version` prints the version; `rebuild-index` and `sync` work offline on the data directory.
//! A startup failure prints one line naming what failed (config file, address, directory,
//! backend) and the OS reason, and exits non-zero.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use s3o_admin::Orchestration;
use s3o_proxy::admin_cli::{self, AdminCommand};
use s3o_proxy::config::Config;
use s3o_proxy::error::ConfigError;
use s3o_proxy::reload::reload;
use s3o_proxy::server::{startup_cause, Running};
use s3o_proxy::signals::Signal;
use s3o_proxy::state::Shared;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The file in the data directory a running proxy holds locked (and writes its pid to), so a
/// second proxy on the same metadata is refused with a clear message.
const LOCK_FILE: &str = "s3-orchestrator.lock";

/// An S3 proxy that puts many S3 backends behind one S3 endpoint.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Serve {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration file and exit.
    Validate {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the version and exit.
    Version,
    /// Operate a running proxy through its admin port (address and token from the config).
    Admin {
        /// The TOML configuration file of the running proxy.
        #[arg(long, short)]
        config: PathBuf,
        /// Print the endpoint's JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        /// What to do.
        #[command(subcommand)]
        command: AdminCmd,
    },
    /// Read a password from stdin and print its argon2id hash, for `ui.admin_secret`.
    HashPassword,
    /// Rebuild a lost metadata store from the records and labels on the backends (offline).
    RebuildIndex {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Find and count everything, restore nothing.
        #[arg(long)]
        dry_run: bool,
        /// Rebuild into a store that is not empty (merging).
        #[arg(long)]
        force: bool,
    },
    /// Manage the access layer's users (offline for the sled store: stop the proxy first).
    User {
        /// What to do.
        #[command(subcommand)]
        command: UserCmd,
    },
    /// Import the objects a backend already held into a bucket (offline twin of
    /// `POST {ui}/api/sync`).
    Sync {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The backend whose objects to import.
        #[arg(long)]
        backend: String,
        /// The bucket to import them into.
        #[arg(long)]
        bucket: String,
        /// Only the backend's keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Count what would be imported, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a local user; the password is read from the first line of stdin (never a
    /// default), and must be changed at first login.
    Create {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Login name.
        #[arg(long)]
        username: String,
        /// `admin`, `user` or `readonly`.
        #[arg(long, default_value = "user")]
        role: String,
    },
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Backends' usage, quotas, object counts and the store's health.
    Status,
    /// The background workers' last-tick health.
    Workers,
    /// Every stored copy of an object.
    ObjectLocations {
        /// `bucket/key`.
        key: String,
    },
    /// The cleanup queue's depth and first items.
    CleanupQueue,
    /// Write the usage counters to the store now.
    UsageFlush,
    /// Show the log level, or set it (debug, info, warn, error).
    LogLevel {
        /// The new level.
        level: Option<String>,
    },
    /// Run one replication cycle: every version brought to its bucket's factor.
    Replicate,
    /// Verify copies against their content hash now (repairing bad ones from a good replica).
    Scrub {
        /// Versions to verify in this cycle (default: [integrity] scrub_batch).
        #[arg(long)]
        batch_size: Option<usize>,
    },
    /// Compute content hashes for every version that has none.
    HashExisting,
    /// Seal every object stored unencrypted (re-uploaded under new keys, switched in one commit).
    EncryptExisting,
    /// Store every sealed object as plaintext again.
    DecryptExisting,
    /// Re-wrap every data key wrapped by OLD_KEY_ID under the current master key.
    RotateEncryptionKey {
        /// The id of the master key to rotate away from.
        old_key_id: String,
    },
    /// Count over-replicated versions, or remove their excess copies with --clean.
    OverReplication {
        /// Remove excess copies now.
        #[arg(long)]
        clean: bool,
        /// Versions cleaned at most in this pass.
        #[arg(long)]
        batch_size: Option<usize>,
    },
    /// Drain a backend (start, status, cancel).
    Drain {
        /// The backend.
        backend: String,
        /// Show the drain's progress instead of starting it.
        #[arg(long, conflicts_with = "cancel")]
        status: bool,
        /// Cancel the drain.
        #[arg(long)]
        cancel: bool,
    },
    /// Forget every record of a backend (objects whose only copy it holds are gone).
    RemoveBackend {
        /// The backend.
        backend: String,
        /// Also delete its objects from its storage.
        #[arg(long)]
        purge: bool,
    },
    /// Start a rebalance (UI API: needs S3O_UI_PASSWORD), or show the last one's outcome.
    Rebalance {
        /// Show the last rebalance's outcome.
        #[arg(long)]
        status: bool,
    },
    /// Start removing over-replicated copies in the background (UI API: needs S3O_UI_PASSWORD),
    /// or show the last run's outcome.
    CleanExcess {
        /// Show the last run's outcome.
        #[arg(long)]
        status: bool,
    },
}

impl AdminCmd {
    fn into_command(self) -> AdminCommand {
        match self {
            AdminCmd::Status => AdminCommand::Status,
            AdminCmd::Workers => AdminCommand::Workers,
            AdminCmd::ObjectLocations { key } => AdminCommand::ObjectLocations(key),
            AdminCmd::CleanupQueue => AdminCommand::CleanupQueue,
            AdminCmd::UsageFlush => AdminCommand::UsageFlush,
            AdminCmd::LogLevel { level } => AdminCommand::LogLevel(level),
            AdminCmd::Replicate => AdminCommand::Orchestrate(Orchestration::Replicate),
            AdminCmd::Scrub { batch_size } => AdminCommand::Orchestrate(Orchestration::Scrub(batch_size)),
            AdminCmd::HashExisting => AdminCommand::Orchestrate(Orchestration::HashExisting),
            AdminCmd::EncryptExisting => AdminCommand::Orchestrate(Orchestration::EncryptExisting),
            AdminCmd::DecryptExisting => AdminCommand::Orchestrate(Orchestration::DecryptExisting),
            AdminCmd::RotateEncryptionKey { old_key_id } => {
                AdminCommand::Orchestrate(Orchestration::RotateKey(old_key_id))
            }
            AdminCmd::OverReplication { clean: false, .. } => AdminCommand::Orchestrate(Orchestration::OverReplication),
            AdminCmd::OverReplication {
                clean: true,
                batch_size,
            } => AdminCommand::Orchestrate(Orchestration::CleanOverReplication(batch_size)),
            AdminCmd::Drain {
                backend, status: true, ..
            } => AdminCommand::Orchestrate(Orchestration::DrainStatus(backend)),
            AdminCmd::Drain {
                backend, cancel: true, ..
            } => AdminCommand::Orchestrate(Orchestration::DrainCancel(backend)),
            AdminCmd::Drain { backend, .. } => AdminCommand::Orchestrate(Orchestration::DrainStart(backend)),
            AdminCmd::RemoveBackend { backend, purge } => {
                AdminCommand::Orchestrate(Orchestration::RemoveBackend { name: backend, purge })
            }
            AdminCmd::Rebalance { status } => AdminCommand::Orchestrate(if status {
                Orchestration::RebalanceStatus
            } else {
                Orchestration::Rebalance
            }),
            AdminCmd::CleanExcess { status } => AdminCommand::Orchestrate(if status {
                Orchestration::CleanExcessStatus
            } else {
                Orchestration::CleanExcess
            }),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Admin { config, json, command } => {
            let outcome = load_config(&config).and_then(|cfg| admin_cli::run(&cfg, &command.into_command(), json));
            match outcome {
                Ok(text) => {
                    println!("{}", text.trim_end());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("s3-orchestrator: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::HashPassword => {
            let mut line = String::new();
            let read = std::io::stdin().read_line(&mut line);
            let password = line.trim_end_matches(['\r', '\n']);
            match read.map_err(|e| e.to_string()).and_then(|_| {
                if password.is_empty() {
                    Err("no password on stdin".to_owned())
                } else {
                    s3o_admin::hash_password(password).map_err(|e| e.to_string())
                }
            }) {
                Ok(hash) => {
                    println!("{hash}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("s3-orchestrator: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Version => {
            println!("s3-orchestrator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Validate { config } => match load_config(&config).and_then(|cfg| {
            if cfg.admin.is_some() {
                s3o_admin::Auth::new(&s3o_proxy::admin_port::auth_config(&cfg))
                    .map_err(|e| format!("config file {}: [ui]: {e}", config.display()))?;
            }
            s3o_proxy::tls::check_files(&cfg).map_err(|e| format!("config file {}: {e}", config.display()))?;
            if let Some(access) = &cfg.access {
                access
                    .settings()
                    .map_err(|e| format!("config file {}: {e}", config.display()))?;
                access
                    .seal_key()
                    .map_err(|e| format!("config file {}: {e}", config.display()))?;
                if let Some(o) = &access.oidc {
                    o.settings()
                        .map_err(|e| format!("config file {}: {e}", config.display()))?;
                    o.transport()
                        .map_err(|e| format!("config file {}: {e}", config.display()))?;
                }
            }
            Ok(cfg)
        }) {
            Ok(cfg) => {
                println!(
                    "{}: ok ({} backends, {} buckets, {} credentials)",
                    config.display(),
                    cfg.backends.len(),
                    cfg.buckets.len(),
                    cfg.credentials.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("s3-orchestrator: {e}");
                ExitCode::from(2)
            }
        },
        Command::RebuildIndex { config, dry_run, force } => {
            let _logging = start_logging();
            let options = s3o_proxy::rebuild::RebuildOptions { dry_run, force };
            let outcome = offline(&config).and_then(|(cfg, store, _lock)| {
                s3o_proxy::rebuild::rebuild_index(cfg, store, &options).map_err(|e| e.to_string())
            });
            match outcome {
                Ok(summary) => {
                    let done = if dry_run { "would rebuild" } else { "rebuilt" };
                    println!("{done}: {summary}");
                    summary.errors.iter().for_each(|e| eprintln!("s3-orchestrator: {e}"));
                    if summary.errors.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("s3-orchestrator: rebuild-index: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Sync {
            config,
            backend,
            bucket,
            prefix,
            dry_run,
        } => {
            let _logging = start_logging();
            let options = s3o_proxy::admin_port::import::SyncOptions { prefix, dry_run };
            let outcome = offline(&config).and_then(|(cfg, store, _lock)| {
                s3o_proxy::offline::sync(cfg, store, &backend, &bucket, &options).map_err(|e| e.to_string())
            });
            match outcome {
                Ok((imported, skipped)) => {
                    let done = if dry_run { "would import" } else { "imported" };
                    println!("{done} {imported} objects from {backend} into {bucket}, {skipped} skipped");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("s3-orchestrator: sync: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::User {
            command: UserCmd::Create { config, username, role },
        } => match create_user(&config, &username, &role) {
            Ok(id) => {
                println!("created user {username} ({role}), id {id}; the password must be changed at first login");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("s3-orchestrator: user create: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => match serve(&config, start_logging()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("s3-orchestrator: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Installs the process's logging: stderr lines, the ring buffer the UI reads, and a level that
/// `/admin/api/log-level` changes at run time (starting from `RUST_LOG` when it names one of
/// debug, info, warn or error; info otherwise).
fn start_logging() -> Option<s3o_admin::Logging> {
    let initial = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<s3o_admin::LogLevel>().ok())
        .unwrap_or(s3o_admin::LogLevel::Info);
    match s3o_admin::install(initial, std::io::stderr().is_terminal()) {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!("s3-orchestrator: logging not set up: {e}");
            None
        }
    }
}

fn serve(path: &Path, logging: Option<s3o_admin::Logging>) -> Result<(), String> {
    let cfg = load_config(path)?;
    ignore_file_size_signal();
    // Block SIGINT/SIGTERM/SIGHUP in every thread; the main thread waits for them below.
    let signals = s3o_proxy::signals::block_shutdown_signals()
        .map_err(|e| format!("cannot block SIGINT/SIGTERM/SIGHUP for graceful shutdown and reload: {e}"))?;
    let data_dir = cfg.server.data_dir.clone();
    let _lock = lock_data_dir(&data_dir)?;
    s3o_proxy::reload::check_fs_backends(&cfg.backends.iter().collect::<Vec<_>>())?;
    let store = open_store(&cfg)?;
    let threads = cfg.threads();
    let addr = cfg.server.listen;
    let grace = Duration::from_secs(cfg.server.shutdown_grace_secs);
    let shared = Arc::new(Shared::new(cfg, store).map_err(|e| startup_cause(&e))?);
    let _ = shared
        .config_dir
        .set(path.parent().map(Path::to_path_buf).unwrap_or_default());
    let running = Running::start_with(shared, addr, threads, logging).map_err(|e| e.to_string())?;
    let sig = loop {
        match signals.wait() {
            Signal::Shutdown(name) => break name,
            Signal::Reload => {
                tracing::info!(config = %path.display(), "SIGHUP: reloading the config");
                let outcome = load_config(path).and_then(|cfg| {
                    // Certificates first and on their own: one that does not load is refused
                    // (and logged) without holding back the rest of the reload.
                    let _ = s3o_proxy::tls::reload_certificates(&running.shared, &cfg);
                    reload(&running.shared, &cfg)
                });
                match outcome {
                    Err(e) => tracing::error!(error = %e, "config reload refused; the running config stays"),
                    // Every other instance of the store follows (see shared_config).
                    Ok(_) => match std::fs::read_to_string(path) {
                        Ok(text) => match s3o_proxy::shared_config::publish(&running.shared, &text) {
                            Ok(generation) => tracing::info!(generation, "config shared with the other instances"),
                            Err(e) => tracing::error!(error = %e, "config reloaded here but not shared"),
                        },
                        Err(e) => tracing::error!(error = %e, "config reloaded here but not shared"),
                    },
                }
            }
        }
    };
    tracing::info!(signal = sig, "shutting down: finishing requests in flight");
    running.shutdown(grace);
    Ok(())
}

/// What an offline command needs: the config, the data directory locked against a running
/// proxy (held while the file is open), the fs backends checked, and the store open.
fn offline(path: &Path) -> Result<(Config, s3o_store::Store, File), String> {
    let cfg = load_config(path)?;
    let lock = lock_data_dir(&cfg.server.data_dir)?;
    s3o_proxy::reload::check_fs_backends(&cfg.backends.iter().collect::<Vec<_>>())?;
    let store = open_store(&cfg)?;
    Ok((cfg, store, lock))
}

/// `user create`: a local user in the configured store, password from stdin.
fn create_user(path: &Path, username: &str, role: &str) -> Result<String, String> {
    let role = s3o_admin::access::records::Role::parse(role)
        .ok_or_else(|| format!("--role {role:?}: use admin, user or readonly"))?;
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .map_err(|e| format!("reading the password from stdin: {e}"))?;
    let password = password.trim_end_matches(['\r', '\n']);
    let (cfg, store, _lock) = offline(path)?;
    let section = cfg.access.clone().ok_or("the configuration has no [access] section")?;
    let settings = section.settings()?;
    if username.is_empty() || password.len() < settings.min_password_len {
        return Err(format!(
            "a username and a password of at least {} characters (on stdin) are required",
            settings.min_password_len
        ));
    }
    let audit = s3o_admin::access::audit::AuditQueue::disabled();
    let access = s3o_admin::access::Access::new(settings, store, None, audit);
    match s3o_store::block_on(s3o_admin::api::create_local_user(
        &access, username, password, role, true,
    )) {
        Ok(Ok(user)) => Ok(user.id),
        Ok(Err(code)) => Err(format!("{username}: {code}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Opens the metadata store the config names; the error names the store and the cause.
fn open_store(cfg: &Config) -> Result<s3o_store::Store, String> {
    use s3o_proxy::config::EngineKind;
    let data_dir = &cfg.server.data_dir;
    match cfg.store.engine {
        EngineKind::Sled => s3o_store::Store::open(data_dir)
            .map_err(|e| format!("metadata store {}: cannot open: {e}", data_dir.display())),
        EngineKind::Postgres => {
            let url = cfg.store.url.clone().unwrap_or_default();
            let shown = s3o_proxy::store_config::redact(&url);
            let ca_pem = match &cfg.store.ca_file {
                Some(p) => Some(std::fs::read(p).map_err(|e| format!("store: ca_file {}: {e}", p.display()))?),
                None => None,
            };
            let pg = s3o_store::postgres::PgConfig {
                url,
                pool_size: cfg.store.pool_size,
                ca_pem,
                schema: cfg.store.schema.clone(),
                instance_info: format!("{} pid {}", cfg.server.listen, std::process::id()),
            };
            s3o_store::Store::open_postgres(&pg).map_err(|e| format!("metadata store postgres ({shown}): {e}"))
        }
    }
}

/// Loads the config; the error is one line naming the file.
fn load_config(path: &Path) -> Result<Config, String> {
    Config::load(path).map_err(|e| match e {
        ConfigError::Read(..) => e.to_string(),
        other => format!("config file {}: {}", path.display(), one_line(&other.to_string())),
    })
}

/// A multi-line message (a TOML parse error with its source excerpt) as one line: its first
/// line and its last, which together say where and what.
fn one_line(msg: &str) -> String {
    let mut lines = msg.lines().map(str::trim).filter(|l| !l.is_empty());
    match (lines.next(), lines.next_back()) {
        (Some(first), Some(last)) => format!("{first}: {last}"),
        (Some(first), None) => first.to_string(),
        _ => String::new(),
    }
}

/// Creates the data directory if needed and locks it for this process; the lock lasts as long
/// as the returned file is open.
fn lock_data_dir(dir: &Path) -> Result<File, String> {
    let what = |e: std::io::Error, doing: &str| format!("metadata store directory {}: {doing}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| what(e, "cannot create it"))?;
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| what(e, "not writable"))?;
    if let Err(e) = try_lock(&file) {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let by = if holder.is_empty() {
                "another process".to_string()
            } else {
                format!("process {holder}")
            };
            return Err(format!(
                "metadata store directory {} is locked by {by} (another s3-orchestrator using this data_dir?): {e}",
                dir.display()
            ));
        }
        return Err(what(e, "cannot lock"));
    }
    file.set_len(0)
        .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()))
        .map_err(|e| what(e, "not writable"))?;
    Ok(file)
}

/// `flock(LOCK_EX | LOCK_NB)`: an exclusive lock, or `WouldBlock` when another process holds it.
#[allow(unsafe_code)]
fn try_lock(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor belongs to `file`, which is open for the duration of the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A write past the file-size limit (`ulimit -f`) fails with `EFBIG` instead of killing the
/// process with SIGXFSZ, so a metadata store that cannot grow reports itself (503, not ready)
/// and recovers when room returns, like a full disk.
#[allow(unsafe_code)]
fn ignore_file_size_signal() {
    // SAFETY: setting SIGXFSZ's disposition to SIG_IGN installs no handler code; it is done
    // before any other thread of this process starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

//! The `s3-orchestrator` command: `serve` runs the proxy, `validate` checks a config file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use s3o_proxy::config::Config;
use s3o_proxy::server::Running;
use s3o_proxy::state::Shared;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { config } => match Config::load(&config) {
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
                eprintln!("{}: {e}", config.display());
                ExitCode::from(2)
            }
        },
        Command::Serve { config } => match serve(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("s3-orchestrator: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve(path: &std::path::Path) -> Result<(), String> {
    let cfg = Config::load(path).map_err(|e| e.to_string())?;
    // Block SIGINT/SIGTERM in every thread; the main thread waits for them below.
    let signals = s3o_proxy::signals::block_shutdown_signals().map_err(|e| e.to_string())?;
    let store = s3o_store::Store::open(&cfg.server.data_dir).map_err(|e| format!("metadata store: {e}"))?;
    let threads = cfg.threads();
    let addr = cfg.server.listen;
    let grace = Duration::from_secs(cfg.server.shutdown_grace_secs);
    let shared = Arc::new(Shared::new(cfg, store).map_err(|e| e.to_string())?);
    let running = Running::start(shared, addr, threads).map_err(|e| e.to_string())?;
    let sig = signals.wait();
    tracing::info!(signal = sig, "shutting down: finishing requests in flight");
    running.shutdown(grace);
    Ok(())
}

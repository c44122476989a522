//! The `s3o-loadtest` binary: `serve-backend` (a minimal fast S3 backend), `run` (the load
//! generator) and `transfer` (one big object moved like the aws cli moves it). See the library
//! docs of `s3o_loadtest` for the pieces.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use s3o_loadtest::backend::{driver_name, Backend, Storage};
use s3o_loadtest::cli::{redacted_command_line, BackendArgs, Cli, Command, RunArgs, TransferArgs};
use s3o_loadtest::run::report::Report;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::ServeBackend(args) => serve_backend(&args),
        Command::Run(args) => run(&args),
        Command::Transfer(args) => transfer(&args),
    }
}

fn serve_backend(args: &BackendArgs) -> ExitCode {
    let (cfg, exit_after) = match args.validate() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("s3o-loadtest serve-backend: {e}");
            return ExitCode::from(2);
        }
    };
    let backend = match Backend::start(&cfg) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("s3o-loadtest serve-backend: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "listening on http://{} (threads {}, storage {}, driver {})",
        backend.addr(),
        cfg.threads,
        match cfg.storage {
            Storage::Memory => "memory",
            Storage::Blackhole => "blackhole",
            Storage::Pattern => "pattern",
        },
        driver_name()
    );
    let _ = std::io::stdout().flush();
    match exit_after {
        Some(d) => {
            std::thread::sleep(d);
            backend.stop();
        }
        None => loop {
            std::thread::park();
        },
    }
    ExitCode::SUCCESS
}

fn run(args: &RunArgs) -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cfg = match args.validate(redacted_command_line(&argv)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("s3o-loadtest run: {e}");
            return ExitCode::from(2);
        }
    };
    let json = cfg.json.clone();
    let result = match s3o_loadtest::run::run(cfg.clone()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("s3o-loadtest run: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = Report::new(&cfg, &result.stats, result.setup.as_secs_f64());
    print!("{}", report.table());
    if let Some(path) = json {
        let text = match serde_json::to_string_pretty(&report) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("s3o-loadtest run: JSON: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = std::fs::write(&path, text + "\n") {
            eprintln!("s3o-loadtest run: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "s3o-loadtest run: FAILED ({} completed, error rate {:.2}%)",
            report.total.count,
            report.error_rate * 100.0
        );
        ExitCode::FAILURE
    }
}

fn transfer(args: &TransferArgs) -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cfg = match args.validate(redacted_command_line(&argv)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("s3o-loadtest transfer: {e}");
            return ExitCode::from(2);
        }
    };
    let json = cfg.json.clone();
    let report = match s3o_loadtest::transfer::transfer(cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("s3o-loadtest transfer: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report.table());
    if let Some(path) = json {
        let text = match serde_json::to_string_pretty(&report) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("s3o-loadtest transfer: JSON: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = std::fs::write(&path, text + "\n") {
            eprintln!("s3o-loadtest transfer: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

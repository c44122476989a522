//! The binary end to end: `serve-backend` on 127.0.0.1:0 (which exits by itself after 60 s
//! even if this test dies), then a one-second `run` of the mixed workload bounded by `--ops`,
//! whose JSON report must show operations and zero errors. The backend child is killed at the
//! end; every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_s3o-loadtest");

/// Kills the backend when the test ends, however it ends.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_backend(storage: &str) -> (Reaper, String) {
    let mut child = Command::new(BIN)
        .args(["serve-backend", "--listen", "127.0.0.1:0", "--threads", "1"])
        .args(["--storage", storage, "--exit-after", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reaper = Reaper(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (reaper, addr)
}

fn run(addr: &str, extra: &[&str], json: &std::path::Path) -> (std::process::ExitStatus, String) {
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["run", "--endpoint", &format!("http://{addr}")])
        .args(["--access-key", "AK", "--secret-key", "SK", "--bucket", "it"])
        .args(["--threads", "1", "--op-timeout", "5s"])
        .args(extra)
        .arg("--json")
        .arg(json)
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status, stdout)
}

#[test]
fn mixed_run_against_the_backend_has_no_errors() {
    let (_backend, addr) = start_backend("memory");
    let dir = std::env::temp_dir().join(format!("s3o-loadtest-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("mixed.json");
    let (status, table) = run(
        &addr,
        &[
            "--workload",
            "mixed",
            "--create-bucket",
            "--prepare",
            "--size-range",
            "1KiB-64KiB",
            "--concurrency",
            "4",
            "--duration",
            "1s",
            "--ops",
            "3000",
            "--warmup",
            "0s",
            "--payload",
            "chunked-crc32c",
            "--label",
            "it",
        ],
        &json,
    );
    assert!(status.success(), "exit {status}");
    assert!(table.contains("TOTAL") && table.contains("GET") && table.contains("machine:"));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["total"]["errors"], 0, "{report}");
    let count = report["total"]["count"].as_u64().unwrap();
    assert!(count > 0 && count <= 3000, "{count}");
    assert_eq!(report["label"], "it");
    assert_eq!(report["ok"], true);
    assert!(report["command_line"].as_str().unwrap().contains("--secret-key ***"));
    let ops: Vec<&str> = report["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    assert!(ops.contains(&"GET") && ops.contains(&"HEAD"), "{ops:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reading_missing_objects_fails_the_run() {
    let (_backend, addr) = start_backend("blackhole");
    let json = std::env::temp_dir().join(format!("s3o-loadtest-it-missing-{}.json", std::process::id()));
    let args = [
        "--workload",
        "get",
        "--concurrency",
        "2",
        "--ops",
        "50",
        "--warmup",
        "0s",
    ];
    let (status, table) = run(&addr, &args, &json);
    assert!(!status.success(), "every GET is a 404, so the run must fail");
    assert!(table.contains("GET 404"), "{table}");
    let _ = std::fs::remove_file(&json);
}

fn transfer(addr: &str, extra: &[&str]) -> (std::process::ExitStatus, String, String) {
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["transfer", "--endpoint", &format!("http://{addr}")])
        .args(["--access-key", "AK", "--secret-key", "SK", "--bucket", "it"])
        .args(["--threads", "2", "--op-timeout", "10s"])
        .args(extra)
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{stdout}{stderr}");
    (out.status, stdout, stderr)
}

#[test]
fn transfer_uploads_in_parts_and_reads_back_checked_ranges() {
    let (_backend, addr) = start_backend("pattern");
    let json = std::env::temp_dir().join(format!("s3o-loadtest-it-transfer-{}.json", std::process::id()));
    let json_arg = json.to_str().unwrap().to_string();
    let (status, table, _) = transfer(
        &addr,
        &[
            "--size",
            "5000000",
            "--part-size",
            "1MiB",
            "--range-size",
            "700KiB",
            "--concurrency",
            "3",
            "--data",
            "unique",
            "--payload",
            "chunked-crc32c",
            "--verify",
            "--json",
            &json_arg,
        ],
    );
    assert!(status.success(), "exit {status}");
    assert!(table.contains("upload") && table.contains("download") && table.contains("bytes checked"));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["upload"]["bytes"], 5_000_000);
    assert_eq!(report["upload"]["requests"], 5);
    assert_eq!(report["download"]["requests"], 7);
    assert_eq!(report["download"]["verified_bytes"], 5_000_000);
    let _ = std::fs::remove_file(&json);

    // The same object read as if its parts were all stream 0: the check must catch it.
    let (status, _, stderr) = transfer(
        &addr,
        &[
            "--phase",
            "download",
            "--part-size",
            "1MiB",
            "--data",
            "shared",
            "--verify",
        ],
    );
    assert!(!status.success());
    assert!(stderr.contains("differs from the generated data"), "{stderr}");

    // Shared parts, unsigned: the pattern backend checks them too; a download without --verify.
    let (status, table, _) = transfer(
        &addr,
        &[
            "--key",
            "k2",
            "--size",
            "3MiB",
            "--part-size",
            "1MiB",
            "--concurrency",
            "2",
        ],
    );
    assert!(status.success(), "exit {status}");
    assert!(!table.contains("bytes checked"));
}

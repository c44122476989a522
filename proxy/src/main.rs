//! The s3-orchestrator binary. The proxy itself is not built yet (issue 3).

fn main() {
    eprintln!("s3-orchestrator: the proxy is not implemented yet (see issue 3)");
    std::process::exit(2);
}

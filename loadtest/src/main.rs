//! S3 load generator and a minimal fast S3 backend for benchmarks. Not built yet (issue 4).

fn main() {
    eprintln!("s3o-loadtest: not implemented yet (see issue 4)");
    std::process::exit(2);
}

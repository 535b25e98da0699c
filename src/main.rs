use std::process::ExitCode;

// One invocation at a time: a single-threaded runtime starts faster and uses less memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    rds_rotator::main().await
}

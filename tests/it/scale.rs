//! Rotation at fleet scale, small enough for `make test`: 6 secrets of each kind (single user and alternating
//! users, on PostgreSQL and MariaDB) rotated at once at concurrency 8, each step its own invocation and a failed one
//! retried (tests/common/fleet.rs). `make bench` runs the same at N = 200 and concurrency 32; `SCALE_SECRETS` and
//! `SCALE_CONCURRENCY` size this run by hand (`cargo test --test it scale -- --nocapture` prints the figures).

use crate::common;

use common::fleet::FleetRun;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_rotates_at_once_and_every_rotation_converges() {
    let run = FleetRun::from_env(6, 8);
    let report = run.run().await;
    report.print(&run);
}

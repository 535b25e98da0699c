//! `make bench`: rotation time, cold and warm, peak memory and external calls, on the local servers (PostgreSQL and
//! MariaDB with TLS, moto for Secrets Manager); writes BENCHMARKS.md.
//!
//! - cold: every step in a fresh process of the release binary, in Lambda mode against a fake Lambda Runtime API on
//!   loopback, as Lambda runs a function that is not warm: init is spawn to the first `next` request, the step is
//!   the event's delivery to its reply, and the peak resident memory is the process's `VmHWM` after its reply.
//! - warm: many rotations through `handler::handle` in one process, as a warm Lambda serves them, with counting
//!   wrappers around the secret store and the database engine.
//! - profile: the parts of a cold start, timed one by one in this process.
//!
//! - fleet: many secrets of every kind rotated at once as Lambda runs them (tests/common/fleet.rs): N per kind at a
//!   concurrency, with throughput, per-step p50/p99 and the servers' peak connections; once at `make test`'s size and
//!   once at BENCH_FLEET_SECRETS (default 200) per kind and BENCH_FLEET_CONCURRENCY (default 32).
//! - cost: the billed duration and memory of a rotation, and the Secrets Manager calls it makes, priced per thousand
//!   rotations next to AWS's Python template.
//!
//! BENCH_ROTATIONS (default 20) sets the number of cold rotations per engine; warm rotations are five times as many.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::runtime_api::{Seen, fake_runtime_api};
use common::*;
use rds_rotator::internal::{
    AnySession, Around, AwsSecretStore, Config, DbEngine, Decorated, Decoration, Drivers, EngineError, Fetched, Login,
    LoginOutcome, Parts, Rotator, SecretStore, Step, StoreCall, Target, Version, handler,
};

const BIN: &str = env!("CARGO_BIN_EXE_rds-rotator");

/// Rotations of one secret before the next: moto keeps every version and lists them all in DescribeSecret (the
/// service lists only labelled ones), so a secret rotated a hundred times would slow every call.
const ROTATIONS_PER_SECRET: usize = 5;

#[derive(Default)]
struct Counts {
    describe: AtomicUsize,
    get: AtomicUsize,
    put: AtomicUsize,
    move_stage: AtomicUsize,
    logins: AtomicUsize,
}

impl Counts {
    fn take(&self) -> [usize; 5] {
        [&self.describe, &self.get, &self.put, &self.move_stage, &self.logins].map(|c| c.swap(0, Ordering::Relaxed))
    }
}

/// Secrets Manager, its calls counted: the one store decorator with the counts as its decoration.
type CountingStore = Decorated<AwsSecretStore, CountCalls>;
struct CountingEngine(Drivers, Arc<Counts>);

/// The counts as a decoration of the store.
struct CountCalls(Arc<Counts>);

impl Decoration for CountCalls {
    fn around(&self, call: StoreCall, _secret_id: &str) -> Around {
        let counter = match call {
            StoreCall::Describe => &self.0.describe,
            StoreCall::Get => &self.0.get,
            StoreCall::PutPending => &self.0.put,
            StoreCall::MoveStage => &self.0.move_stage,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Around::Pass
    }
}

impl DbEngine for CountingEngine {
    type Session = AnySession;

    async fn login(&self, at: &Target, login: Login<'_>) -> Result<LoginOutcome<AnySession>, EngineError> {
        self.1.logins.fetch_add(1, Ordering::Relaxed);
        self.0.login(at, login).await
    }
}

/// Milliseconds, summarised.
#[derive(Default)]
struct Sample(Vec<f64>);

impl Sample {
    fn push(&mut self, duration: Duration) {
        self.0.push(duration.as_secs_f64() * 1000.0);
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[((sorted.len() - 1) as f64 * p).round() as usize]
    }

    /// "median (p10–p90)"
    fn summary(&self) -> String {
        format!("{:.1} ({:.1}–{:.1})", self.percentile(0.5), self.percentile(0.1), self.percentile(0.9))
    }
}

fn settings() -> Vec<(&'static str, String)> {
    vec![("DB_EXTRA_CA_BUNDLE", env("TEST_TLS_CA")), ("MASTER_SECRET_ARNS", "*".to_owned())]
}

/// Single user, or alternating users with a master secret.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Single,
    Alternating,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Strategy::Single => "single user",
            Strategy::Alternating => "alternating users",
        }
    }
}

/// A user, and a secret for it over verified TLS (the default: no "ssl" key); for alternating users also a master
/// with exactly the RDS master's privileges (which, on PostgreSQL, creates the user, as on RDS), and its secret, which
/// says where the master logs in.
async fn fixture(engine: Engine, strategy: Strategy) -> String {
    let user = unique("bench");
    let master = unique("bench_master");
    let password = "master-Passw0rd";
    match (strategy, engine) {
        (Strategy::Alternating, Engine::Postgres) => {
            create_rds_master(engine, &master, password).await;
            pg_create_role_as(&master, password, &user, "initial-Passw0rd").await;
        }
        (Strategy::Alternating, Engine::Mariadb) => {
            create_rds_master(engine, &master, password).await;
            engine.create_user(&user, "initial-Passw0rd").await;
        }
        _ => engine.create_user(&user, "initial-Passw0rd").await,
    }
    let mut secret = engine.secret(&user, "initial-Passw0rd");
    secret["host"] = env("TEST_TLS_HOST").into();
    secret.as_object_mut().unwrap().remove("ssl");
    if strategy == Strategy::Alternating {
        let master_secret = engine.master_secret(&master, password).await;
        secret["masterarn"] = master_secret.into();
    }
    let secret_id = unique("bench-secret");
    create_secret(&sm().await, &secret_id, &secret).await;
    secret_id
}

struct Cold {
    init: Sample,
    steps: [Sample; 4],
    rotation: Sample,
    rss_kib: Vec<i64>,
}

/// One step in a fresh process, in Lambda mode: (init, step, peak RSS in KiB).
fn cold_step(event: serde_json::Value) -> (Duration, Duration, i64) {
    let (address, seen) = fake_runtime_api(vec![event]);
    let spawned = Instant::now();
    let mut child = Command::new(BIN)
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "rds-rotator")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .envs(settings())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let (mut ready, mut replied) = (None, None);
    while replied.is_none() {
        match seen.recv_timeout(Duration::from_secs(30)).expect("the function answers") {
            Seen::Next { at } => ready = ready.or(Some(at)),
            Seen::Reply(reply) => {
                assert_eq!(reply.kind, "response", "the step failed: {:?}", reply.body);
                replied = Some(reply.at);
            }
        }
    }
    // The process has replied and waits for its next event: its high-water mark covers init and the step.
    let rss = peak_rss_kib(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    let ready = ready.unwrap();
    (ready - spawned, replied.unwrap() - ready, rss)
}

/// The child's peak resident set (`VmHWM`), read while it is alive. Not `wait4`'s `ru_maxrss`: that also counts
/// this (larger, growing) process's pages, which the child shares between fork and exec, and overstated the peak by
/// up to 3 MiB, more with every rotation.
fn peak_rss_kib(pid: u32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).expect("VmHWM in /proc/PID/status");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmHWM in kB")
}

async fn cold(engine: Engine, strategy: Strategy, rotations: usize) -> Cold {
    let sm = sm().await;
    let mut cold =
        Cold { init: Sample::default(), steps: Default::default(), rotation: Sample::default(), rss_kib: vec![] };
    let mut secret_id = String::new();
    for round in 0..rotations {
        if round % ROTATIONS_PER_SECRET == 0 {
            secret_id = fixture(engine, strategy).await;
        }
        let token = stage_rotation(&sm, &secret_id).await;
        let mut total = Duration::ZERO;
        for (i, step) in Step::ALL.iter().enumerate() {
            let event = service_event(&secret_id, token.as_str(), step.as_str());
            let (init, run, rss) = tokio::task::spawn_blocking(move || cold_step(event)).await.unwrap();
            cold.init.push(init);
            cold.steps[i].push(run);
            cold.rss_kib.push(rss);
            total += init + run;
        }
        cold.rotation.push(total);
    }
    cold
}

struct Warm {
    first: Duration,
    steps: [Sample; 4],
    rotation: Sample,
    /// The calls of every rotation but a secret's first (alternating users: AWSPREVIOUS then proves the other user
    /// is this secret's, one login more), and of a secret's first.
    calls: [usize; 5],
    first_calls: [usize; 5],
}

async fn build_config() -> Config {
    let vars = settings();
    Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).unwrap()
}

async fn warm(engine: Engine, strategy: Strategy, rotations: usize) -> Warm {
    let mut secret_id = String::new();
    let sm = sm().await;
    let config = build_config().await;
    let counts = Arc::new(Counts::default());
    let parts = Parts::new(&config).await.unwrap();
    let store = CountingStore { inner: parts.store, decoration: CountCalls(counts.clone()) };
    let rotator = Rotator::new(store, CountingEngine(parts.engine, counts.clone()), parts.settings);
    let mut warm = Warm {
        first: Duration::ZERO,
        steps: Default::default(),
        rotation: Sample::default(),
        calls: [0; 5],
        first_calls: [0; 5],
    };
    for round in 0..=rotations {
        if round % ROTATIONS_PER_SECRET == 0 {
            secret_id = fixture(engine, strategy).await;
        }
        let token = stage_rotation(&sm, &secret_id).await;
        counts.take();
        let mut total = Duration::ZERO;
        for (i, step) in Step::ALL.iter().enumerate() {
            let event = event(&secret_id, &token, *step);
            let started = Instant::now();
            handler::handle(&rotator, &event).await.unwrap();
            let took = started.elapsed();
            total += took;
            if round > 0 {
                warm.steps[i].push(took);
            }
        }
        let calls = counts.take();
        if round == 0 {
            // The first rotation of a fresh rotator opens the HTTP connection to Secrets Manager.
            warm.first = total;
            warm.first_calls = calls;
        } else {
            if round % ROTATIONS_PER_SECRET == 0 {
                assert_eq!(calls, warm.first_calls, "every secret's first rotation makes the same calls");
            } else if warm.calls == [0; 5] {
                warm.calls = calls;
            } else {
                assert_eq!(calls, warm.calls, "every later rotation makes the same calls");
            }
            warm.rotation.push(total);
        }
    }
    warm
}

/// Where a cold start's time goes, part by part, in this process (release build).
async fn profile(engine: Engine) -> Vec<(&'static str, Duration)> {
    let secret_id = fixture(engine, Strategy::Single).await;
    let mut parts = vec![];
    let started = Instant::now();
    let version = Command::new(BIN).arg("--version").stdout(Stdio::null()).status().unwrap();
    assert!(version.success());
    parts.push(("process start and exit (rds-rotator --version)", started.elapsed()));
    let started = Instant::now();
    let config = build_config().await;
    parts.push(("settings from the environment (Config::from_env)", started.elapsed()));
    let started = Instant::now();
    let built = Parts::new(&config).await.unwrap();
    let (store, drivers) = (built.store, built.engine);
    parts.push(("AWS SDK configuration and client", started.elapsed()));
    let started = Instant::now();
    store.describe(&secret_id).await.unwrap();
    parts.push(("first Secrets Manager call (new connection)", started.elapsed()));
    let started = Instant::now();
    store.describe(&secret_id).await.unwrap();
    parts.push(("a further Secrets Manager call (pooled connection)", started.elapsed()));
    let started = Instant::now();
    let Fetched::Text(text, _) = store.get(&secret_id, Version::Current).await.unwrap() else { panic!("no value") };
    let secret =
        rds_rotator::internal::DbSecret::parse(secrecy::ExposeSecret::expose_secret(&text), &config.rotation.secrets)
            .unwrap();
    parts.push(("GetSecretValue and parsing the secret", started.elapsed()));
    for label in ["first database login (TLS trust store built, handshake, SCRAM/auth)", "a further database login"] {
        let started = Instant::now();
        let LoginOutcome::Accepted(session) = drivers.login(secret.target(), secret.login()).await.unwrap() else {
            panic!("login refused")
        };
        parts.push((label, started.elapsed()));
        rds_rotator::internal::DbSession::close(session).await;
    }
    parts
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(str::to_owned))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!(
        "{cores} cores ({cpu}), {}, Linux {}",
        memory.replace("MemTotal:", "memory").split_whitespace().collect::<Vec<_>>().join(" "),
        command_output("uname", &["-r"])
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // cargo bench passes --bench; there are no options.
    let rotations = setting("BENCH_ROTATIONS", 20);
    let mut report = String::new();
    let _ = writeln!(
        report,
        "# Benchmarks\n\nWritten by `make bench` (benches/rotation.rs) on {}; do not edit by hand.\n",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(report, "- Machine: {}", machine());
    let _ = writeln!(
        report,
        "- {}; release profile as cargo-lambda builds it (opt-level s, thin LTO, one codegen unit)",
        command_output("rustc", &["--version"])
    );
    let pg_version: String = pg_admin().await.query_one("SELECT version()", &[]).await.unwrap().get(0);
    let _ = writeln!(
        report,
        "- Servers on loopback, TLS verified with a throwaway CA: {}; MariaDB {}; moto {}",
        pg_version.split(',').next().unwrap_or(""),
        my_version().await,
        command_output(&env("TEST_MOTO_PYTHON"), &["-c", "import moto; print(moto.__version__)"])
    );
    let binary = std::fs::metadata(BIN).map(|m| m.len()).unwrap_or(0);
    let zip = std::fs::metadata(concat!(env!("CARGO_MANIFEST_DIR"), "/target/lambda/rds-rotator/bootstrap.zip"))
        .map(|m| m.len());
    let _ = writeln!(
        report,
        "- Binary (x86_64, as benchmarked): {:.1} MiB; arm64 Lambda zip (`make build`): {}",
        binary as f64 / 1048576.0,
        zip.map(|z| format!("{:.2} MiB ({z} bytes)", z as f64 / 1048576.0)).unwrap_or_else(|_| "not built".to_owned())
    );
    let _ = writeln!(
        report,
        "- {rotations} cold and {} warm rotations per engine and strategy; times in milliseconds, median (p10–p90)\n",
        rotations * 5
    );

    let _ = writeln!(
        report,
        "| rotation | cold rotation (4 fresh processes) | init per process | warm rotation | peak memory (max of processes) | Secrets Manager calls | database logins |"
    );
    let _ = writeln!(report, "| --- | --- | --- | --- | --- | --- | --- |");
    let mut details = String::new();
    let mut costs = Vec::new();
    let cases = [Strategy::Single, Strategy::Alternating]
        .into_iter()
        .flat_map(|strategy| [Engine::Postgres, Engine::Mariadb].map(|engine| (engine, strategy)));
    for (engine, strategy) in cases {
        let cold = cold(engine, strategy, rotations).await;
        let warm = warm(engine, strategy, rotations * 5).await;
        let [describe, get, put, moved, logins] = warm.calls;
        let logins = if warm.first_calls[4] == logins {
            logins.to_string()
        } else {
            format!("{} ({logins} from a secret's second rotation on)", warm.first_calls[4])
        };
        let rss = cold.rss_kib.iter().max().copied().unwrap_or(0);
        let name = format!("{engine:?}, {}", strategy.name());
        // Lambda bills each invocation's duration (init included, for a custom runtime) rounded up to the millisecond.
        let billed_cold: f64 =
            cold.steps.iter().map(|step| (cold.init.percentile(0.5) + step.percentile(0.5)).ceil()).sum();
        let billed_warm: f64 = warm.steps.iter().map(|step| step.percentile(0.5).ceil()).sum();
        costs.push((name.clone(), billed_cold, billed_warm, describe + get + put + moved));
        let _ = writeln!(
            report,
            "| {name} | {} | {} | {} | {:.1} MiB | {} ({describe} Describe, {get} Get, {put} Put, {moved} UpdateStage) | {logins} |",
            cold.rotation.summary(),
            cold.init.summary(),
            warm.rotation.summary(),
            rss as f64 / 1024.0,
            describe + get + put + moved
        );
        let _ = writeln!(
            details,
            "\n### {name}, step by step\n\n| step | cold: the step after init | warm |\n| --- | --- | --- |"
        );
        for (i, step) in Step::ALL.iter().enumerate() {
            let _ = writeln!(details, "| {step} | {} | {} |", cold.steps[i].summary(), warm.steps[i].summary());
        }
        let _ = writeln!(
            details,
            "\nThe first warm rotation (a fresh rotator, connections not yet open) took {:.1} ms.",
            warm.first.as_secs_f64() * 1000.0
        );
    }
    let _ = writeln!(
        report,
        "\nThe reference (AWS's Python template, run the same way, figures from the project's planning, not re-measured here): about 70 ms per warm rotation, about 900 ms with a fresh process per step, about 50 MB of memory."
    );
    report.push_str(&cost_table(&costs));
    report.push_str(&fleet_table());
    report.push_str(&status_table().await);
    report.push_str(&details);
    let _ = writeln!(
        report,
        "\n## Where a cold start goes (PostgreSQL, measured part by part in one process)\n\n| part | ms |\n| --- | --- |"
    );
    for (part, took) in profile(Engine::Postgres).await {
        let _ = writeln!(report, "| {part} | {:.2} |", took.as_secs_f64() * 1000.0);
    }
    report.push_str(NOTES);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.md");
    std::fs::write(path, &report).unwrap();
    println!("{report}");
    eprintln!("bench: wrote {path}");
}

/// Prices in us-east-1, first tier (aws.amazon.com/lambda/pricing, aws.amazon.com/secrets-manager/pricing).
const LAMBDA_ARM64_GB_SECOND: f64 = 0.0000133334;
const LAMBDA_X86_GB_SECOND: f64 = 0.0000166667;
const LAMBDA_REQUEST: f64 = 0.20 / 1_000_000.0;
const SECRETS_MANAGER_CALL: f64 = 0.05 / 10_000.0;
/// The function's memory (template.yaml, MemorySize), and what AWS's Python template runs with (Lambda's default:
/// its template sets none).
const MEMORY_GB: f64 = 128.0 / 1024.0;

/// The cost of a thousand rotations: Lambda's duration (GB-seconds) and requests (4 per rotation), and the Secrets
/// Manager calls.
fn per_thousand(billed_ms: f64, gb_second: f64, calls: usize) -> (f64, f64) {
    let lambda = 1000.0 * (billed_ms / 1000.0 * MEMORY_GB * gb_second + 4.0 * LAMBDA_REQUEST);
    (lambda, 1000.0 * calls as f64 * SECRETS_MANAGER_CALL)
}

fn cost_table(costs: &[(String, f64, f64, usize)]) -> String {
    let mut out = String::from(
        "\n## Cost per thousand rotations\n\nBilled duration per rotation is the sum of its four invocations' medians above, each rounded up to the \
         millisecond as Lambda bills it, init included when cold (a custom runtime's init is billed; since August 2025 a \
         managed runtime's is too). Memory is the configured 128 MB for both (Lambda bills what is configured; the peaks \
         are 12 MiB here and about 50 MB for Python). Prices: Lambda arm64 $0.0000133334 and x86_64 $0.0000166667 per \
         GB-second, $0.20 per million requests (4 per rotation); Secrets Manager $0.05 per 10,000 API calls. These are \
         loopback figures: in a VPC every call and login also waits on the network, which a function making fewer \
         calls waits on less.\n\n\
         | rotation | billed duration, cold / warm | memory | Secrets Manager calls | Lambda, cold / warm (arm64) | Secrets Manager | total, cold |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let mut row = |name: &str, cold: f64, warm: f64, calls: usize, gb_second: f64| {
        let (lambda_cold, api) = per_thousand(cold, gb_second, calls);
        let (lambda_warm, _) = per_thousand(warm, gb_second, calls);
        let _ = writeln!(
            out,
            "| {name} | {cold:.0} / {warm:.0} ms | 128 MB | {calls} | ${lambda_cold:.5} / ${lambda_warm:.5} | ${api:.4} | ${:.4} |",
            lambda_cold + api
        );
    };
    for (name, cold, warm, calls) in costs {
        row(name, *cold, *warm, *calls, LAMBDA_ARM64_GB_SECOND);
    }
    // AWS's Python template (PostgreSQL single user): 14 calls (docs/design.md, "Calls per rotation"); about 900 ms
    // with a fresh process per step and 70 ms warm (the project's planning figures, not re-measured here); x86_64, as
    // its template sets no architecture.
    row("AWS's Python template, single user (x86_64; planning figures)", 900.0, 70.0, 14, LAMBDA_X86_GB_SECOND);
    out.push_str(
        "\nAt these sizes the Secrets Manager calls cost more than the function: each call saved is $0.005 per thousand \
         rotations, and a cold rotation's Lambda duration is a fraction of its requests' price.\n",
    );
    out
}

/// The fleet run at `make test`'s size and at the benchmark's, each on a runtime of its own with two threads.
/// `rds-rotator status --function` over a few hundred secrets, the process as an operator runs it, against moto behind
/// a proxy that adds a round trip's latency to every call (on loopback moto answers in about a millisecond; the real
/// service, from outside its Region's network, in tens).
async fn status_table() -> String {
    let count = setting("BENCH_STATUS_SECRETS", 300);
    let latency = Duration::from_millis(setting("BENCH_STATUS_LATENCY_MS", 20) as u64);
    let sm = sm().await;
    let function = format!("arn:aws:lambda:us-east-1:123456789012:function:{}", unique("bench-status"));
    let prefix = unique("bench-status");
    for i in 0..count {
        let name = format!("{prefix}/app-{i:04}");
        create_secret(&sm, &name, &pg_secret("status_app", "not-a-real-Passw0rd")).await;
        let token = rotate_secret_without_function(&sm, &name, &function, 30).await;
        let removed = sm.update_secret_version_stage().secret_id(&name).version_stage("AWSPENDING");
        removed.remove_from_version_id(token.as_str()).send().await.expect("remove AWSPENDING");
    }
    let proxy = common::aws_proxy::AwsProxy::with_latency(&env("AWS_ENDPOINT_URL"), latency);
    let binary = std::env::var("RDS_ROTATOR_BIN").unwrap_or_else(|_| BIN.to_owned());
    let mut times = Vec::new();
    let mut calls = 0;
    for _ in 0..3 {
        proxy.clear();
        let started = Instant::now();
        let output = Command::new(&binary)
            .args(["status", "--function", &function])
            .env("AWS_ENDPOINT_URL", &proxy.url)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .stdin(Stdio::null())
            .output()
            .expect("the binary runs");
        times.push(started.elapsed());
        let summary = String::from_utf8_lossy(&output.stdout);
        assert!(summary.contains(&format!("{count} secrets: {count} ok")), "{summary}");
        calls = proxy.seen().len();
    }
    times.sort();
    format!(
        "\n## status over many secrets\n\n`rds-rotator status --function` over {count} secrets (a release build, as an \
         operator runs it), against moto behind a proxy that adds {} ms before every call, a stand-in for the round \
         trip to the real service: {calls} calls; wall time {:.2} s (median of 3; {:.2}–{:.2} s). Secrets are read \
         {} at a time (`fleet::READS_AT_ONCE`).\n",
        latency.as_millis(),
        times[1].as_secs_f64(),
        times[0].as_secs_f64(),
        times[2].as_secs_f64(),
        rds_rotator::internal::fleet::READS_AT_ONCE
    )
}

fn fleet_table() -> String {
    let full = (setting("BENCH_FLEET_SECRETS", 200), setting("BENCH_FLEET_CONCURRENCY", 32));
    let mut out = String::from(
        "\n## A fleet at once\n\nSecrets of every kind (single user and alternating users, on PostgreSQL and on MariaDB, N of each) \
         rotated at once against one server each, as Lambda runs them: every step its own invocation through the \
         handler, at most a given number at a time, a failed one retried (tests/common/fleet.rs). Every rotation \
         converged with the database and AWSCURRENT in agreement, some version of every secret logged in after every \
         step, and no secret was lost. Per-step times are one invocation each, in milliseconds (p50 / p99), and \
         include the wait for the emulator behind its strict layer, which serves one request at a time for writes \
         and is what bounds the run; peak connections are sampled every 25 ms.\n\n\
         | N per kind (rotations) | concurrency | wall time | rotations/s | retried | createSecret | setSecret | testSecret | finishSecret | peak connections PostgreSQL / MariaDB |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (per_kind, concurrency) in [(6, 8), full] {
        let run = common::fleet::FleetRun {
            per_kind,
            concurrency,
            engines: vec![Engine::Postgres, Engine::Mariadb],
            attempts: 10,
            during: None,
        };
        let report = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(run.run())
        })
        .join()
        .expect("the fleet run converged");
        let steps: Vec<String> = Step::ALL
            .iter()
            .map(|step| format!("{:.0} / {:.0}", report.percentile(*step, 0.5), report.percentile(*step, 0.99)))
            .collect();
        let _ = writeln!(
            out,
            "| {per_kind} ({}) | {concurrency} | {:.1} s | {:.2} | {} | {} | {} / {} |",
            report.rotations,
            report.elapsed.as_secs_f64(),
            report.throughput(),
            report.retries,
            steps.join(" | "),
            report.pg_peak,
            report.my_peak
        );
    }
    out
}

/// What the figures led to, and what bounds them; kept with the generator so every run restates it.
const NOTES: &str = "
## What the figures changed, and what bounds them

- **CPU-jitter entropy** (the first profile): a fresh process spent about 33 ms before its first TLS handshake in
  AWS-LC's tree-DRBG gathering CPU-jitter entropy (`tree_jitter_initialize_once`, 60% of the process's CPU in
  `perf`), on every cold start; cold rotations took 140 ms. `.cargo/config.toml` builds AWS-LC with
  `AWS_LC_SYS_NO_JITTER_ENTROPY=1`, the option aws-lc-rs documents for this: randomness then comes from the
  operating system (`getrandom`) alone, as with ring, BoringSSL or Go. A cold login fell from 50-65 ms to 6-7 ms.
- **Code size**: peak memory was 14-17.5 MiB (by the old measure, below), much of it code pages of a 13 MiB binary.
  `opt-level = \"s\"` makes the binary about 10 MiB and the peak about 2.4 MiB lower, for about 3% more time per
  rotation.
- **How peak memory is measured**: until 2026-11-26 the peak came from `wait4`'s `ru_maxrss`, which also counts the
  pages of the benchmark process the child shares between fork and exec: it grew with every rotation the benchmark
  ran (from 10.8 to 13.7 MiB over twelve processes whose own `VmHWM` stayed between 10.4 and 12.3 MiB) and made
  MariaDB, measured after PostgreSQL, look 2.5 MiB heavier. The peak is now each process's own `VmHWM`. Of it, the
  heap is small: heaptrack over a whole rotation in one process (`rds-rotator rotate`) measured a peak heap of
  0.73 MB on PostgreSQL and 0.98 MB on MariaDB; starting and exiting the binary (`--version`) already takes 5 MiB.
  The rest is code and library pages touched by the SDK, TLS and the drivers.
- **Compiler layout depth**: the step future is boxed once in `handler::handle`, which also keeps it off the stack.
- **Calls**: 11 Secrets Manager calls and 2 database logins per single-user rotation, the protocol's minimum for
  this design (docs/design.md, \"Calls per rotation\", explains each; createSecret lets PutSecretValue's refusal of a
  second value tell it the version exists, where it read the version first until 2026-11-30). setSecret logs in with
  AWSCURRENT first, so a normal rotation has no failed login. Alternating users need 16 calls and 4 logins, 5 from a secret's second
  rotation on (docs/design.md, \"Alternating users\"): setSecret proves AWSCURRENT logs in before the master acts, and
  then that AWSPREVIOUS does as the other user; testSecret takes the pair from the current and pending users
  instead of reading AWSPREVIOUS again.
- **What bounds the rest**: each call to moto (a Python emulator) took 1.9-2.3 ms when measured on an earlier VM, so
  11 calls are 21-25 ms of every rotation; each PostgreSQL login forks a backend and runs TLS and SCRAM (about
  5-6 ms); starting a process of this binary takes about 3 ms. These set a floor of about 35 ms warm and 50 ms cold
  before any of this code runs. Between runs on this shared VM, medians move by up to a tenth on a quiet machine and
  nearly double on a busy one.
- **The strict layer** (since 2026-11-30): every call goes through `tests/strict-secrets-manager.py` in front of
  moto, a second Python hop that also looks before each `PutSecretValue` and `UpdateSecretVersionStage` and lets one
  write through at a time. Times from before that date are not comparable with these; the fleet run is bound by it.
";

async fn my_version() -> String {
    use mysql_async::prelude::Queryable;
    let mut admin = my_admin().await;
    let version: String = admin.query_first("SELECT VERSION()").await.unwrap().unwrap_or_default();
    admin.disconnect().await.unwrap();
    version
}

//! Load harness: starts the release server, drives it from separate load-generator processes —
//! `wrk` for REST, `h2load` for gRPC, and this binary re-executed as `load …` where every gRPC
//! call needs a different body — on SQLite and on PostgreSQL, and reports every scenario as a
//! ratio to the in-memory baseline of its protocol, measured right before it by the same
//! generator. Every run is checked against the keys' `usedToday`. Not a test: it fails (exit 1)
//! only when a count check finds a mismatch.
//!
//!     cargo bench --bench load -- --write BENCHMARKS.md         # 3 runs × 10 s per scenario
//!     cargo bench --bench load -- --seconds 2 --note "…"        # a short run, printed only
//!
//! PostgreSQL: a fresh database is created on `BENCH_DATABASE_URL` (default
//! postgres://postgres@127.0.0.1:5432/postgres) and dropped afterwards. Extra server settings:
//! `BENCH_SERVER_ENV=NAME=value,…`.

mod grpc_load;
mod h2load;
mod issuer;
mod measure;
mod report;
mod scenarios;
mod server;
mod wrk;

use std::{path::Path, process::Command, time::Instant};

use sea_orm::{ConnectionTrait, Database};

use crate::{
    report::{Context, Database as DbReport},
    scenarios::{Bench, SCENARIOS},
    server::Server,
};

struct Options {
    seconds: u64,
    runs: usize,
    write: Option<String>,
    note: Option<String>,
}

fn options(args: &[String]) -> Options {
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    Options {
        seconds: value("--seconds").map_or(10, |v| v.parse().expect("--seconds N")),
        runs: value("--runs").map_or(3, |v| v.parse().expect("--runs N")),
        write: value("--write"),
        note: value("--note"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "load") {
        grpc_load::main(&args[2..]);
        return;
    }
    let options = options(&args);
    let generators = match (wrk::version(), h2load::version()) {
        (Some(wrk), Some(h2load)) => vec![
            format!("{wrk} (REST)"),
            format!("{h2load} (gRPC)"),
            "this harness re-executed as `load` (tonic, one thread; gRPC with a different \
             body per call)"
                .to_owned(),
        ],
        (wrk, h2load) => {
            eprintln!(
                "error: the load generators are missing: {}{}\n\
                 install them with: sudo apt-get update && sudo apt-get install -y wrk nghttp2-client",
                if wrk.is_none() { "wrk " } else { "" },
                if h2load.is_none() {
                    "h2load (nghttp2-client)"
                } else {
                    ""
                }
            );
            std::process::exit(2);
        }
    };
    // `cargo test --bench load -- …` runs the harness against a debug build: say so.
    let cargo = if cfg!(debug_assertions) {
        "cargo test --bench load -- (debug build, numbers not representative)"
    } else {
        "cargo bench --bench load --"
    };
    let command = std::iter::once(cargo.to_owned())
        .chain(
            args.iter()
                .skip(1)
                .filter(|a| *a != "--bench")
                .map(String::as_str)
                .map(shell_word),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");

    let sqlite_url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
    let sqlite = DbReport {
        name: "SQLite",
        version: "bundled with sqlx".to_owned(),
        results: Ok(runtime.block_on(run_database("SQLite", &sqlite_url, dir.path(), &options))),
    };
    let postgres = runtime.block_on(postgres(dir.path(), &options));

    let databases = [sqlite, postgres];
    let took = started.elapsed().as_secs();
    let context = Context {
        machine: machine(),
        generators,
        command,
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        seconds: options.seconds,
        runs: options.runs,
        took: format!("{} min {} s", took / 60, took % 60),
        server_env: server::server_env(),
        note: options.note.clone(),
    };
    let markdown = report::render(&context, &databases);
    println!("{markdown}");
    if let Some(path) = &options.write {
        std::fs::write(path, &markdown).expect("writing the report");
        eprintln!("wrote {path}");
    }
    drop(dir);
    if !report::all_exact(&databases) {
        eprintln!(
            "error: at least one run's usedToday did not match its load generator's answers; see the report"
        );
        std::process::exit(1);
    }
}

async fn run_database(
    name: &str,
    url: &str,
    dir: &Path,
    options: &Options,
) -> Vec<scenarios::ScenarioResult> {
    eprintln!("{name}: starting the server");
    let external = issuer::ExternalIssuer::start(dir).await;
    let server = Server::start(url, &dir.join(format!("server-{name}.log")), &external.file).await;
    let bench = Bench::prepare(&server, dir, options.seconds, external.token()).await;
    let mut results = Vec::new();
    for scenario in SCENARIOS {
        results.push(bench.run(scenario, options.runs).await);
    }
    results
}

/// The PostgreSQL part: a fresh database, the scenarios, and the database dropped again.
async fn postgres(dir: &Path, options: &Options) -> DbReport {
    let admin = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let skipped = |reason: String| {
        eprintln!("PostgreSQL skipped: {reason}");
        DbReport {
            name: "PostgreSQL",
            version: "not run".to_owned(),
            results: Err(reason),
        }
    };
    let db = match Database::connect(&admin).await {
        Ok(db) => db,
        Err(e) => return skipped(format!("no server answered at the admin URL ({e})")),
    };
    let name = format!("cloudsigma_bench_{}", std::process::id());
    if let Err(e) = db
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
    {
        return skipped(format!("could not create a database ({e})"));
    }
    let Some((base, _)) = admin.rsplit_once('/') else {
        return skipped("the admin URL names no database".to_owned());
    };
    let url = format!("{base}/{name}");
    let version = postgres_version(&url);
    let results = run_database("PostgreSQL", &url, dir, options).await;
    if let Err(e) = db
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
    {
        eprintln!("warning: could not drop the bench database {name}: {e}");
    }
    DbReport {
        name: "PostgreSQL",
        version,
        results: Ok(results),
    }
}

fn postgres_version(url: &str) -> String {
    Command::new("psql")
        .args([url, "-tAc", "SHOW server_version"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            format!(
                "server {}",
                String::from_utf8_lossy(&o.stdout).trim().to_owned()
            )
        })
        .unwrap_or_else(|| "version unknown".to_owned())
}

/// nproc, CPU model, memory, kernel and OS, from /proc and /etc.
fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let field = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = field(&read("/proc/cpuinfo"), "model name");
    let memory_kib: u64 = field(&read("/proc/meminfo"), "MemTotal")
        .trim_end_matches(" kB")
        .parse()
        .unwrap_or(0);
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_default();
    format!(
        "{cpus} CPUs (nproc), {model}, {:.1} GiB memory, Linux {}, {os}",
        memory_kib as f64 / 1024.0 / 1024.0,
        read("/proc/sys/kernel/osrelease").trim()
    )
}

fn shell_word(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

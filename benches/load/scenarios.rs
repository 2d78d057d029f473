//! The scenarios, each paired with the in-memory baseline of its protocol and load generator,
//! and the runs: baseline and scenario alternate, and every run is checked against the server's
//! own count of what it metered.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use cloudsigma_auth::proto::cloudsigma::v1::AuthenticateRequest;
use prost::Message;

use crate::{grpc_load, h2load, measure::Measured, server::Server, wrk};

/// Which load generator drives a scenario (and its baseline, so their ratio compares like with
/// like).
#[derive(Clone, Copy)]
pub enum Generator {
    Wrk,
    H2load,
    RustLoad,
}

impl Generator {
    pub fn describe(self) -> &'static str {
        match self {
            Generator::Wrk => "wrk -t1 -c32",
            Generator::H2load => "h2load -c4 -m8",
            Generator::RustLoad => "Rust load process, 4 connections × 8 streams",
        }
    }
}

/// The credential every request of a run carries.
#[derive(Clone, Copy, PartialEq)]
pub enum Credential {
    None,
    /// One API key, new for every run (its day's count starts at 0).
    OneKey,
    /// The same 500 API keys in rotation, request after request.
    ManyKeys,
    /// The owner's JWT access token.
    Jwt,
    /// An access token of a trusted external issuer (Cognito's layout), its key cached.
    ExternalJwt,
}

/// Ratio targets from the performance issue: (SQLite, PostgreSQL); p99 ≤ 5 ms for each.
#[derive(Clone, Copy)]
pub struct Target {
    pub sqlite: f64,
    pub postgres: f64,
}

pub const P99_TARGET_MS: f64 = 5.0;

pub struct Scenario {
    pub label: &'static str,
    pub generator: Generator,
    /// A REST path or a gRPC method path.
    pub route: &'static str,
    pub credential: Credential,
    pub baseline: &'static str,
    pub target: Option<Target>,
}

const REST_BASELINE: &str = "/.well-known/jwks.json";
const GRPC_BASELINE: &str = "/grpc.health.v1.Health/Check";
const AUTHENTICATE: &str = "/cloudsigma.v1.AuthService/Authenticate";
const ENVOY_CHECK: &str = "/envoy.service.auth.v3.Authorization/Check";
const HTTP_CHECK: &str = "/authz/check/v1/usage";

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        label: "REST `/v1/health` (one database ping)",
        generator: Generator::Wrk,
        route: "/v1/health",
        credential: Credential::None,
        baseline: REST_BASELINE,
        target: None,
    },
    Scenario {
        label: "REST `/v1/usage`, one API key",
        generator: Generator::Wrk,
        route: "/v1/usage",
        credential: Credential::OneKey,
        baseline: REST_BASELINE,
        target: Some(Target {
            sqlite: 0.5,
            postgres: 0.35,
        }),
    },
    Scenario {
        label: "REST `/v1/usage`, 500 API keys in rotation",
        generator: Generator::Wrk,
        route: "/v1/usage",
        credential: Credential::ManyKeys,
        baseline: REST_BASELINE,
        target: Some(Target {
            sqlite: 0.5,
            postgres: 0.35,
        }),
    },
    Scenario {
        label: "REST `/v1/usage`, JWT",
        generator: Generator::Wrk,
        route: "/v1/usage",
        credential: Credential::Jwt,
        baseline: REST_BASELINE,
        target: Some(Target {
            sqlite: 0.5,
            postgres: 0.35,
        }),
    },
    Scenario {
        label: "REST `/v1/usage`, JWT of a trusted external issuer",
        generator: Generator::Wrk,
        route: "/v1/usage",
        credential: Credential::ExternalJwt,
        baseline: REST_BASELINE,
        target: Some(Target {
            sqlite: 0.5,
            postgres: 0.35,
        }),
    },
    Scenario {
        label: "gRPC `HealthService/GetHealth` (one database ping)",
        generator: Generator::H2load,
        route: "/cloudsigma.v1.HealthService/GetHealth",
        credential: Credential::None,
        baseline: GRPC_BASELINE,
        target: None,
    },
    Scenario {
        label: "gRPC `Authenticate`, one API key",
        generator: Generator::H2load,
        route: AUTHENTICATE,
        credential: Credential::OneKey,
        baseline: GRPC_BASELINE,
        target: Some(Target {
            sqlite: 0.7,
            postgres: 0.5,
        }),
    },
    Scenario {
        label: "gRPC `Authenticate`, 500 API keys in rotation",
        generator: Generator::RustLoad,
        route: AUTHENTICATE,
        credential: Credential::ManyKeys,
        baseline: GRPC_BASELINE,
        target: Some(Target {
            sqlite: 0.7,
            postgres: 0.5,
        }),
    },
    Scenario {
        label: "gRPC `Authenticate`, JWT",
        generator: Generator::H2load,
        route: AUTHENTICATE,
        credential: Credential::Jwt,
        baseline: GRPC_BASELINE,
        target: Some(Target {
            sqlite: 0.8,
            postgres: 0.8,
        }),
    },
    Scenario {
        label: "gRPC `Authenticate`, JWT of a trusted external issuer",
        generator: Generator::H2load,
        route: AUTHENTICATE,
        credential: Credential::ExternalJwt,
        baseline: GRPC_BASELINE,
        target: Some(Target {
            sqlite: 0.8,
            postgres: 0.8,
        }),
    },
    Scenario {
        label: "HTTP gateway check `/authz/check/v1/usage`, one API key",
        generator: Generator::Wrk,
        route: HTTP_CHECK,
        credential: Credential::OneKey,
        baseline: REST_BASELINE,
        target: Some(Target {
            sqlite: 0.7,
            postgres: 0.5,
        }),
    },
    Scenario {
        label: "HTTP gateway check `/authz/check/v1/usage`, JWT",
        generator: Generator::Wrk,
        route: HTTP_CHECK,
        credential: Credential::Jwt,
        baseline: REST_BASELINE,
        target: Some(Target {
            sqlite: 0.8,
            postgres: 0.8,
        }),
    },
    Scenario {
        label: "gRPC gateway check (Envoy `Authorization/Check`), one API key",
        generator: Generator::H2load,
        route: ENVOY_CHECK,
        credential: Credential::OneKey,
        baseline: GRPC_BASELINE,
        target: Some(Target {
            sqlite: 0.7,
            postgres: 0.5,
        }),
    },
    Scenario {
        label: "gRPC gateway check (Envoy `Authorization/Check`), JWT",
        generator: Generator::H2load,
        route: ENVOY_CHECK,
        credential: Credential::Jwt,
        baseline: GRPC_BASELINE,
        target: Some(Target {
            sqlite: 0.8,
            postgres: 0.8,
        }),
    },
];

/// One baseline run and the scenario run after it, with the count checks of both.
pub struct Run {
    pub baseline: Measured,
    pub scenario: Measured,
    /// What the count check found: `Ok` with a summary, `Err` with every mismatch.
    pub check: Result<String, String>,
}

pub struct ScenarioResult {
    pub scenario: &'static Scenario,
    pub runs: Vec<Run>,
}

/// Everything a run needs besides the scenario.
pub struct Bench<'a> {
    pub server: &'a Server,
    pub dir: &'a Path,
    pub seconds: u64,
    many_keys: PathBuf,
    external_jwt: String,
}

/// How many keys rotate in the many-keys scenarios.
const ROTATION: usize = 500;

impl<'a> Bench<'a> {
    /// Creates the rotating keys and writes the token files the generators read.
    pub async fn prepare(
        server: &'a Server,
        dir: &'a Path,
        seconds: u64,
        external_jwt: String,
    ) -> Bench<'a> {
        let mut keys = Vec::with_capacity(ROTATION);
        for i in 0..ROTATION {
            keys.push(server.create_key(&format!("rotation {i}")).await);
        }
        let many_keys = dir.join("many-keys.txt");
        write_secret(&many_keys, &(keys.join("\n") + "\n"));
        Bench {
            server,
            dir,
            seconds,
            many_keys,
            external_jwt,
        }
    }

    /// Runs a scenario `runs` times, each run after a run of its baseline.
    pub async fn run(&self, scenario: &'static Scenario, runs: usize) -> ScenarioResult {
        let mut results = Vec::new();
        for run in 1..=runs {
            eprintln!("  {} — run {run}/{runs}", scenario.label);
            let (baseline, baseline_delta) = self
                .measure(scenario.generator, scenario.baseline, Credential::None)
                .await;
            let (measured, delta) = self
                .measure(scenario.generator, scenario.route, scenario.credential)
                .await;
            let check = match (
                check(&baseline, false, baseline_delta),
                check(
                    &measured,
                    matches!(
                        scenario.credential,
                        Credential::OneKey | Credential::ManyKeys
                    ),
                    delta,
                ),
            ) {
                (Ok(_), Ok(summary)) => Ok(summary),
                (Err(e), Ok(_)) => Err(format!("baseline: {e}")),
                (Ok(_), Err(e)) => Err(e),
                (Err(b), Err(e)) => Err(format!("baseline: {b}; {e}")),
            };
            if let Err(mismatch) = &check {
                eprintln!("MISMATCH in {} run {run}: {mismatch}", scenario.label);
            }
            results.push(Run {
                baseline,
                scenario: measured,
                check,
            });
        }
        ScenarioResult {
            scenario,
            runs: results,
        }
    }

    /// One run of `generator` on `route`, with how much the keys' `usedToday` grew during it.
    async fn measure(
        &self,
        generator: Generator,
        route: &str,
        credential: Credential,
    ) -> (Measured, u64) {
        let token = match credential {
            Credential::None => None,
            Credential::OneKey => Some(self.server.create_key("one hot key").await),
            Credential::ManyKeys => None,
            Credential::Jwt => Some(self.server.jwt().to_owned()),
            Credential::ExternalJwt => Some(self.external_jwt.clone()),
        };
        let tokens_file = match (credential, &token) {
            (Credential::ManyKeys, _) => Some(self.many_keys.clone()),
            (_, Some(token)) => {
                let path = self.dir.join("one-token.txt");
                write_secret(&path, &format!("{token}\n"));
                Some(path)
            }
            (_, None) => None,
        };
        // A constant-size answer lets the h2load run detect gRPC errors behind HTTP 200; an
        // API key's answer carries its changing remaining count, checked by the count instead.
        let answer_frame_len = match (generator, credential) {
            (Generator::H2load, Credential::None | Credential::Jwt | Credential::ExternalJwt) => {
                Some(
                    grpc_load::answer_frame_len(
                        &self.server.addr,
                        route,
                        token.as_deref().unwrap_or(""),
                    )
                    .await,
                )
            }
            _ => None,
        };
        let message = if route == ENVOY_CHECK {
            grpc_load::envoy_check_request(token.as_deref().unwrap_or_default()).encode_to_vec()
        } else {
            AuthenticateRequest {
                token: token.clone().unwrap_or_default(),
                ..Default::default()
            }
            .encode_to_vec()
        };
        let before = self.settled_used_today().await;
        let seconds = self.seconds;
        // The generators are processes; waiting for one blocks only this driving thread.
        let measured = match generator {
            Generator::Wrk => wrk::run(
                &format!("{}{route}", self.server.base),
                seconds,
                tokens_file.as_deref(),
                self.dir,
            ),
            Generator::H2load => h2load::run(
                &self.server.addr,
                &h2load::Target {
                    method: route,
                    message: if route == AUTHENTICATE || route == ENVOY_CHECK {
                        &message[..]
                    } else {
                        &[][..]
                    },
                    answer_frame_len,
                },
                seconds,
                self.dir,
            ),
            Generator::RustLoad => grpc_load::run(
                if route == AUTHENTICATE {
                    grpc_load::Rpc::Authenticate
                } else {
                    grpc_load::Rpc::Check
                },
                &self.server.addr,
                seconds,
                tokens_file.as_deref(),
            ),
        }
        .unwrap_or_else(|e| panic!("the load generator failed on {route}: {e}"));
        let after = self.settled_used_today().await;
        (measured, after.saturating_sub(before))
    }

    /// `usedToday` summed over the keys once two reads 100 ms apart agree, so that requests a
    /// generator abandoned at its deadline have been counted (or not) before the next run.
    async fn settled_used_today(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = self.server.used_today().await;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.server.used_today().await;
            if now == last || Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }
}

/// Compares what the generator saw with what the server counted.
fn check(m: &Measured, metered: bool, delta: u64) -> Result<String, String> {
    let mut problems = Vec::new();
    if m.failed > 0 {
        problems.push(format!("{} answers were not successful", m.failed));
    }
    if let Some(problem) = &m.problem {
        problems.push(problem.clone());
    }
    let summary = if metered {
        if m.metered_ok != m.ok {
            problems.push(format!(
                "{} successful answers carried no rate-limit headers",
                m.ok - m.metered_ok
            ));
        }
        let (low, high) = (m.metered_ok, m.metered_ok + m.in_flight);
        if delta < low || delta > high {
            problems.push(format!(
                "usedToday grew by {delta} but the generator saw {low} counted answers \
                 (and abandoned {} requests in flight)",
                m.in_flight
            ));
        }
        if m.in_flight == 0 {
            format!("+{delta} = {low} OK")
        } else {
            format!(
                "+{delta} = {low} OK + {} of {} abandoned",
                delta.saturating_sub(low),
                m.in_flight
            )
        }
    } else {
        if delta != 0 {
            problems.push(format!(
                "usedToday grew by {delta} in a run without API keys"
            ));
        }
        format!("{} OK, no key counted", m.ok)
    };
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(problems.join("; "))
    }
}

/// Writes a file of tokens readable by this user only.
fn write_secret(path: &Path, contents: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("a token file");
    std::io::Write::write_all(&mut file, contents.as_bytes()).expect("writing a token file");
}

//! gRPC load from `h2load -c4 -m8 -t1`: one gRPC frame as the body of every request, the
//! headers gRPC needs, and a per-request log for exact percentiles.

use std::{path::Path, process::Command, time::Duration};

use crate::{measure, measure::Measured, server::SERVICE_TOKEN};

/// One gRPC method with the message every request sends.
pub struct Target<'a> {
    pub method: &'a str,
    pub message: &'a [u8],
    /// The length of a successful answer's frame when it is always the same; h2load counts
    /// gRPC errors (HTTP 200 with a `grpc-status` trailer) as successes, but they carry no
    /// message, so the DATA bytes received reveal them.
    pub answer_frame_len: Option<usize>,
}

pub fn run(addr: &str, target: &Target, seconds: u64, dir: &Path) -> Result<Measured, String> {
    let body = dir.join("h2load-body.bin");
    let log = dir.join("h2load.log");
    let mut frame = vec![0u8];
    let len = u32::try_from(target.message.len()).map_err(|e| e.to_string())?;
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(target.message);
    std::fs::write(&body, frame).map_err(|e| format!("writing the h2load body: {e}"))?;
    let output = Command::new("h2load")
        .args(["-c4", "-m8", "-t1", "-D"])
        .arg(seconds.to_string())
        .arg("--log-file")
        .arg(&log)
        .arg("-d")
        .arg(&body)
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .args([
            "-H",
            &format!("x-cloudsigma-service-token: {SERVICE_TOKEN}"),
        ])
        .arg(format!("http://{addr}{}", target.method))
        .output()
        .map_err(|e| format!("h2load did not start: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .ok_or_else(|| format!("h2load printed no `{prefix}` line: {stdout}"))
    };
    let requests = line("requests:")?;
    let started = count_before(requests, "started,")?;
    let done = count_before(requests, "done,")?;
    let succeeded = count_before(requests, "succeeded,")?;
    let data = line("traffic:")?
        .split(", ")
        .find(|part| part.ends_with("data"))
        .and_then(|part| part.split_once('(')?.1.split_once(')'))
        .and_then(|(n, _)| n.parse::<u64>().ok())
        .ok_or("h2load printed no data traffic")?;
    let seconds_taken = finished_in(line("finished in")?)?;

    let mut latencies: Vec<Duration> = std::fs::read_to_string(&log)
        .map_err(|e| format!("reading the h2load log: {e}"))?
        .lines()
        .filter_map(|l| l.split('\t').nth(2)?.trim().parse().ok())
        .map(Duration::from_micros)
        .collect();
    latencies.sort();
    let micros = |p: f64| measure::percentile(&latencies, p).as_secs_f64() * 1e6;

    let problem = target.answer_frame_len.and_then(|len| {
        let expected = succeeded * len as u64;
        (data < expected).then(|| {
            format!(
                "{} of {succeeded} HTTP 200 answers carried no message (gRPC errors)",
                (expected - data).div_ceil(len as u64)
            )
        })
    });
    Ok(Measured {
        rps: done as f64 / seconds_taken,
        p50_us: micros(0.50),
        p99_us: micros(0.99),
        ok: succeeded,
        metered_ok: succeeded,
        failed: done - succeeded,
        in_flight: started.saturating_sub(done),
        problem,
    })
}

/// The number just before `word` in h2load's `requests:` line.
fn count_before(line: &str, word: &str) -> Result<u64, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[1] == word)
        .and_then(|w| w[0].parse().ok())
        .ok_or_else(|| format!("no `{word}` count in `{line}`"))
}

/// Seconds from `finished in 10.00s, …` (or `…ms`).
fn finished_in(line: &str) -> Result<f64, String> {
    let value = line
        .trim_start_matches("finished in ")
        .split(',')
        .next()
        .unwrap_or("");
    let parsed = if let Some(ms) = value.strip_suffix("ms") {
        ms.parse::<f64>().map(|v| v / 1000.0)
    } else {
        value.trim_end_matches('s').parse::<f64>()
    };
    parsed.map_err(|_| format!("cannot read `{line}`"))
}

/// `h2load --version`.
pub fn version() -> Option<String> {
    let output = Command::new("h2load").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.lines().next().map(|l| l.trim().to_owned())
}

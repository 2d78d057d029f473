//! REST load from `wrk -t1 -c32`, with a Lua script that rotates the bearer over a file of
//! tokens and reports what the harness checks.

use std::{path::Path, process::Command};

use serde_json::Value;

use crate::measure::Measured;

const SCRIPT: &str = include_str!("wrk.lua");

/// Runs wrk for `seconds` against `url`, with the bearers in `tokens_file` (none if `None`).
pub fn run(
    url: &str,
    seconds: u64,
    tokens_file: Option<&Path>,
    dir: &Path,
) -> Result<Measured, String> {
    let script = dir.join("wrk.lua");
    std::fs::write(&script, SCRIPT).map_err(|e| format!("writing the wrk script: {e}"))?;
    let tokens = tokens_file.map_or("-".to_owned(), |p| p.display().to_string());
    let output = Command::new("wrk")
        .args(["-t1", "-c32", "--latency", "--timeout", "10s"])
        .arg(format!("-d{seconds}s"))
        .arg("-s")
        .arg(&script)
        .args([url, "--", &tokens])
        .output()
        .map_err(|e| format!("wrk did not start: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .ok_or_else(|| {
            format!(
                "wrk printed no result: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let r: Value = serde_json::from_str(line).map_err(|e| format!("wrk result: {e}"))?;
    let n = |name: &str| r[name].as_u64().unwrap_or(0);
    let socket_errors = n("socket_errors");
    Ok(Measured {
        rps: n("answered") as f64 / (n("duration_us") as f64 / 1e6),
        p50_us: n("p50_us") as f64,
        p99_us: n("p99_us") as f64,
        ok: n("ok"),
        metered_ok: n("metered_ok"),
        failed: n("answered") - n("ok"),
        in_flight: n("sent").saturating_sub(n("answered")),
        problem: (socket_errors > 0).then(|| format!("{socket_errors} socket errors")),
    })
}

/// `wrk -v`, first line.
pub fn version() -> Option<String> {
    let output = Command::new("wrk").arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.lines().next().map(|l| l.trim().to_owned())
}

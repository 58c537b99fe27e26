//! Turns `cargo bench -p hem-auth-benches` runs into the README's table: time per operation of
//! every bench, its ratio to one X25519, and the goals met or missed.
//!
//! `bench-report [criterion-dir ...]` (default `target/criterion`). For each bench it reads
//! criterion's `new/sample.json` (per-sample iteration counts and total times) and takes the
//! median and the 10th percentile of the per-iteration times. Given several directories (copies
//! of `target/criterion` after successive runs), each figure is the lowest over the runs: on a
//! shared machine other jobs only ever add time, so the best run is the one closest to the
//! code's own cost. The low percentile is the steadier figure for ratios; the median is
//! printed beside it.
//!
//! Runs of some groups only (`cargo bench -p hem-auth-benches -- 'x25519|ext_token'`) are
//! reported too: a bench that no directory has is left out, with the goals that need it. One
//! that some directories have and others lack is an error (the runs would not compare), as is
//! a run without `x25519/diffie_hellman`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Deserialize;

use hem_auth_benches::BENCH_NAMES as BENCHES;

#[derive(Deserialize)]
struct Sample {
    iters: Vec<f64>,
    times: Vec<f64>,
}

/// Median and 10th percentile of the per-iteration time, in nanoseconds.
#[derive(Clone, Copy)]
struct Figure {
    median: f64,
    p10: f64,
}

fn read(dir: &Path, id: &str) -> Result<Figure, String> {
    let path = dir.join(id).join("new").join("sample.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let sample: Sample =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut per: Vec<f64> = sample
        .iters
        .iter()
        .zip(&sample.times)
        .map(|(n, t)| t / n)
        .collect();
    if per.is_empty() {
        return Err(format!("{}: no samples", path.display()));
    }
    per.sort_by(f64::total_cmp);
    let at = |q: f64| per[((per.len() - 1) as f64 * q).round() as usize];
    Ok(Figure {
        median: at(0.5),
        p10: at(0.1),
    })
}

fn ns(t: f64) -> String {
    if t >= 10_000.0 {
        format!("{:.1} µs", t / 1000.0)
    } else {
        format!("{t:.0} ns")
    }
}

/// One goal: a ratio `num / den` compared with a bound.
struct Goal {
    what: &'static str,
    num: &'static str,
    den: &'static str,
    /// `true`: the ratio must be at least `bound`; `false`: at most.
    at_least: bool,
    bound: f64,
}

const GOALS: &[Goal] = &[
    Goal {
        what: "jsonwebtoken / ours (token_verify)",
        num: "token_verify/jsonwebtoken",
        den: "token_verify/hem-auth-core",
        at_least: true,
        bound: 1.6,
    },
    Goal {
        what: "jwt-simple / ours (token_verify)",
        num: "token_verify/jwt-simple",
        den: "token_verify/hem-auth-core",
        at_least: true,
        bound: 3.0,
    },
    Goal {
        what: "ext_token/cached / X25519",
        num: "ext_token/cached",
        den: "x25519/diffie_hellman",
        at_least: false,
        bound: 0.10,
    },
    Goal {
        what: "ext_token/cold / X25519",
        num: "ext_token/cold",
        den: "x25519/diffie_hellman",
        at_least: false,
        bound: 1.10,
    },
    Goal {
        what: "ext_request/8_pairings / X25519",
        num: "ext_request/8_pairings",
        den: "x25519/diffie_hellman",
        at_least: false,
        bound: 1.30,
    },
    Goal {
        what: "authreq_verify/client / X25519",
        num: "authreq_verify/client",
        den: "x25519/diffie_hellman",
        at_least: false,
        bound: 1.10,
    },
];

fn main() -> ExitCode {
    let mut dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs.push(PathBuf::from("target/criterion"));
    }
    // Only the benches every run has (a bench no run has is left out).
    let measured: Vec<&str> = BENCHES
        .iter()
        .copied()
        .filter(|id| dirs.iter().any(|dir| read(dir, id).is_ok()))
        .collect();
    // runs[r][b]: bench measured[b] of run r.
    let mut runs: Vec<Vec<Figure>> = Vec::new();
    for dir in &dirs {
        let mut run = Vec::new();
        for id in &measured {
            match read(dir, id) {
                Ok(f) => run.push(f),
                Err(e) => {
                    eprintln!("bench-report: {e} (another run has this bench: give runs of the same groups)");
                    return ExitCode::FAILURE;
                }
            }
        }
        runs.push(run);
    }
    let index = |id: &str| measured.iter().position(|b| *b == id);
    let best = |b: usize| Figure {
        median: runs
            .iter()
            .map(|r| r[b].median)
            .fold(f64::INFINITY, f64::min),
        p10: runs.iter().map(|r| r[b].p10).fold(f64::INFINITY, f64::min),
    };
    let Some(x) = index("x25519/diffie_hellman") else {
        eprintln!(
            "bench-report: no x25519/diffie_hellman in {} (run `cargo bench -p hem-auth-benches` first)",
            dirs.first().map_or(String::new(), |d| d.display().to_string())
        );
        return ExitCode::FAILURE;
    };
    let x25519 = best(x);
    if runs.len() > 1 {
        println!(
            "Best of {} runs; the last column is the p10 of each run.\n",
            runs.len()
        );
        println!("| bench | median | p10 | ÷ X25519 (p10) | ÷ X25519 (median) | p10 per run |");
        println!("|---|---:|---:|---:|---:|---|");
    } else {
        println!("| bench | median | p10 | ÷ X25519 (p10) | ÷ X25519 (median) |");
        println!("|---|---:|---:|---:|---:|");
    }
    for (b, id) in measured.iter().enumerate() {
        let f = best(b);
        let mut line = format!(
            "| `{id}` | {} | {} | {:.3} | {:.3} |",
            ns(f.median),
            ns(f.p10),
            f.p10 / x25519.p10,
            f.median / x25519.median
        );
        if runs.len() > 1 {
            let each: Vec<String> = runs.iter().map(|r| ns(r[b].p10)).collect();
            line.push_str(&format!(" {} |", each.join(", ")));
        }
        println!("{line}");
    }
    println!();
    if runs.len() > 1 {
        println!("| goal | bound | p10 ratio (best) | median ratio (best) | met (p10) | p10 ratio per run |");
        println!("|---|---:|---:|---:|---|---|");
    } else {
        println!("| goal | bound | p10 ratio | median ratio | met (p10) |");
        println!("|---|---:|---:|---:|---|");
    }
    for g in GOALS {
        let (Some(n), Some(d)) = (index(g.num), index(g.den)) else {
            continue; // not measured in these runs
        };
        let (bn, bd) = (best(n), best(d));
        let (p10, median) = (bn.p10 / bd.p10, bn.median / bd.median);
        let met = if g.at_least {
            p10 >= g.bound
        } else {
            p10 <= g.bound
        };
        let sign = if g.at_least { "≥" } else { "≤" };
        let verdict = if met {
            "yes".to_owned()
        } else if g.at_least {
            format!("no: {:.0}% short", (1.0 - p10 / g.bound) * 100.0)
        } else {
            format!("no: {:.0}% over", (p10 / g.bound - 1.0) * 100.0)
        };
        let mut line = format!(
            "| {} | {sign} {} | {p10:.3} | {median:.3} | {verdict} |",
            g.what, g.bound
        );
        if runs.len() > 1 {
            // Within one run: the ratio the issue asks for, without mixing runs.
            let each: Vec<String> = runs
                .iter()
                .map(|r| format!("{:.3}", r[n].p10 / r[d].p10))
                .collect();
            line.push_str(&format!(" {} |", each.join(", ")));
        }
        println!("{line}");
    }
    ExitCode::SUCCESS
}

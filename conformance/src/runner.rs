//! Runs a catalogue in order: selection, prerequisites, waivers, progress, timing.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::case::{Abort, Case, CaseResult, Outcome};
use crate::ctx::Ctx;
use crate::report::{status_text, Report};
use crate::select::{Patterns, Waivers};

/// How the run shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// A line per case on stdout, plus a bar when stdout is a terminal.
    #[default]
    Auto,
    /// A line per case, never a bar.
    Lines,
    /// Nothing (tests).
    Quiet,
}

/// Which cases to run and how to judge them.
#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    /// Run only the cases matching these (plus their prerequisites); all when empty.
    pub only: Patterns,
    /// Never run the cases matching these (their dependants are skipped).
    pub skip: Patterns,
    /// Failures to excuse.
    pub waivers: Waivers,
    /// Progress display.
    pub progress: Progress,
    /// Advisory cases count as required for the run's result (`--strict`).
    pub strict: bool,
}

/// Runs `catalogue` against `ctx`'s target and returns the report.
pub fn run(ctx: &mut Ctx, catalogue: &[Case], config: &RunConfig) -> Report {
    let started = Instant::now();
    let selected = select(catalogue, config);
    let to_run = selected.len();
    let mut out = Output::new(config.progress, to_run as u64);
    let mut results: Vec<CaseResult> = Vec::with_capacity(catalogue.len());
    let mut outcome_of: HashMap<&str, Outcome> = HashMap::new();
    let mut n = 0usize;

    for case in catalogue {
        if !selected.contains(case.id) {
            let why = if config.skip.matches(case.id) {
                "excluded by --skip"
            } else {
                "not selected by --only"
            };
            outcome_of.insert(case.id, Outcome::Skip);
            results.push(record(case, None, Outcome::Skip, why.to_string(), 0));
            continue;
        }
        n += 1;
        let blocked = case.needs.iter().find_map(|need| {
            let o = outcome_of.get(need).copied().unwrap_or(Outcome::Skip);
            (o != Outcome::Pass).then(|| format!("prerequisite {need} did not pass ({o})"))
        });
        let t0 = Instant::now();
        let (actual, mut outcome, mut detail) = match blocked {
            Some(why) => (None, Outcome::Skip, why),
            None => judge(case, ctx),
        };
        let millis = t0.elapsed().as_millis() as u64;
        if let Some(reason) = config.waivers.reason(case.id) {
            match outcome {
                Outcome::Fail => {
                    outcome = Outcome::Waived;
                    detail = format!("{reason} ({detail})");
                }
                Outcome::Pass => {
                    detail = format!("passes although waived ({reason}): the waiver is stale");
                }
                Outcome::Skip | Outcome::Waived => {}
            }
        }
        outcome_of.insert(case.id, outcome);
        let r = record(case, actual, outcome, detail, millis);
        out.case(n, to_run, &r);
        results.push(r);
    }
    out.finish();
    Report {
        target: ctx.target.base().to_string(),
        target_version: None,
        strict: config.strict,
        cases: results,
        millis: started.elapsed().as_millis() as u64,
    }
}

/// The ids that will run: matching `--only` (all when empty) and not `--skip`, plus the
/// prerequisites of what `--only` chose (unless `--skip` excludes them).
pub fn select<'a>(catalogue: &'a [Case], config: &RunConfig) -> HashSet<&'a str> {
    let by_id: HashMap<&str, &Case> = catalogue.iter().map(|c| (c.id, c)).collect();
    let mut chosen: HashSet<&str> = catalogue
        .iter()
        .filter(|c| config.only.is_empty() || config.only.matches(c.id))
        .filter(|c| !config.skip.matches(c.id))
        .map(|c| c.id)
        .collect();
    let mut stack: Vec<&str> = chosen.iter().copied().collect();
    while let Some(id) = stack.pop() {
        for need in by_id.get(id).map_or(&[][..], |c| c.needs) {
            if !config.skip.matches(need) && chosen.insert(need) {
                stack.push(need);
            }
        }
    }
    chosen
}

fn judge(case: &Case, ctx: &mut Ctx) -> (Option<u16>, Outcome, String) {
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| (case.run)(ctx)));
    match ran {
        Ok(Ok(check)) => {
            let mut problems = check.problems;
            if check.status != case.expected {
                problems.insert(
                    0,
                    format!("status {} instead of {}", check.status, case.expected),
                );
            }
            let outcome = if problems.is_empty() {
                Outcome::Pass
            } else {
                Outcome::Fail
            };
            (Some(check.status), outcome, problems.join("; "))
        }
        Ok(Err(Abort::Skip(why))) => (None, Outcome::Skip, why),
        Ok(Err(Abort::Fail { status, detail })) => (status, Outcome::Fail, detail),
        Err(_) => (None, Outcome::Fail, "the case panicked".to_string()),
    }
}

fn record(
    case: &Case,
    actual: Option<u16>,
    outcome: Outcome,
    detail: String,
    millis: u64,
) -> CaseResult {
    CaseResult {
        id: case.id.to_string(),
        title: case.title.to_string(),
        spec: case.spec.to_string(),
        kind: case.kind,
        required: case.required,
        expected: case.expected,
        actual,
        outcome,
        detail,
        millis,
    }
}

/// Progress lines and the optional bar.
struct Output {
    mode: Progress,
    bar: Option<ProgressBar>,
}

impl Output {
    fn new(mode: Progress, total: u64) -> Self {
        let bar = (mode == Progress::Auto && std::io::stdout().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {pos}/{len} cases  {elapsed}  {msg}")
            {
                bar.set_style(style);
            }
            bar
        });
        Output { mode, bar }
    }

    fn case(&mut self, n: usize, total: usize, r: &CaseResult) {
        if self.mode == Progress::Quiet {
            return;
        }
        let width = total.to_string().len();
        let mut line = format!(
            "[{n:>width$}/{total}] {:<6} {:<40} {:>4}/{:<4} {:>5} ms",
            r.outcome.as_str().to_uppercase(),
            r.id,
            status_text(r.actual),
            r.expected,
            r.millis
        );
        if r.outcome != Outcome::Pass && !r.detail.is_empty() {
            line.push_str(&format!("\n{:>w$}{}", "", r.detail, w = width * 2 + 4));
        }
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.set_message(r.id.clone());
                bar.inc(1);
            }
            None => println!("{line}"),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Check, Kind};
    use crate::ctx::Settings;
    use crate::target::Target;

    fn ok(_: &mut Ctx) -> Result<Check, Abort> {
        Ok(Check::status(200))
    }
    fn wrong(_: &mut Ctx) -> Result<Check, Abort> {
        Ok(Check::status(500))
    }
    fn shape(_: &mut Ctx) -> Result<Check, Abort> {
        let mut c = Check::status(200);
        c.expect(false, || "missing field".into());
        Ok(c)
    }
    fn skip(_: &mut Ctx) -> Result<Check, Abort> {
        Err(Abort::skip("no backend key"))
    }
    fn boom(_: &mut Ctx) -> Result<Check, Abort> {
        Err(Abort::setup("ext/request", 503, 200))
    }

    fn case(id: &'static str, needs: &'static [&'static str], run: crate::case::CaseFn) -> Case {
        Case {
            id,
            title: "t",
            spec: "s",
            kind: Kind::Positive,
            required: true,
            expected: 200,
            needs,
            run,
        }
    }

    fn catalogue() -> Vec<Case> {
        vec![
            case("a/root", &[], ok),
            case("a/child", &["a/root"], ok),
            case("b/bad", &[], wrong),
            case("b/after-bad", &["b/bad"], ok),
            case("c/shape", &[], shape),
            case("c/skip", &[], skip),
            case("c/setup", &[], boom),
        ]
    }

    fn ctx() -> Ctx {
        Ctx::new(
            Target::new("http://127.0.0.1:9", false).unwrap(),
            Settings::default(),
        )
    }

    fn quiet() -> RunConfig {
        RunConfig {
            progress: Progress::Quiet,
            ..RunConfig::default()
        }
    }

    #[test]
    fn outcomes_and_prerequisites() {
        let r = run(&mut ctx(), &catalogue(), &quiet());
        let o = |id: &str| r.case(id).unwrap().outcome;
        assert_eq!(o("a/root"), Outcome::Pass);
        assert_eq!(o("a/child"), Outcome::Pass);
        assert_eq!(o("b/bad"), Outcome::Fail);
        assert_eq!(r.case("b/bad").unwrap().actual, Some(500));
        assert_eq!(o("b/after-bad"), Outcome::Skip);
        assert!(r.case("b/after-bad").unwrap().detail.contains("b/bad"));
        assert_eq!(o("c/shape"), Outcome::Fail);
        assert_eq!(r.case("c/shape").unwrap().detail, "missing field");
        assert_eq!(o("c/skip"), Outcome::Skip);
        assert_eq!(o("c/setup"), Outcome::Fail);
        assert_eq!(r.case("c/setup").unwrap().actual, Some(503));
        assert!(!r.passed());
    }

    #[test]
    fn only_pulls_in_prerequisites_and_skip_blocks_dependants() {
        let cat = catalogue();
        let mut cfg = quiet();
        cfg.only = Patterns::parse(&["a/child"]);
        let chosen = select(&cat, &cfg);
        assert!(chosen.contains("a/root") && chosen.contains("a/child"));
        assert_eq!(chosen.len(), 2);
        let r = run(&mut ctx(), &cat, &cfg);
        assert_eq!(r.case("a/child").unwrap().outcome, Outcome::Pass);
        assert_eq!(r.case("b/bad").unwrap().outcome, Outcome::Skip);
        assert!(r.passed());

        let mut cfg = quiet();
        cfg.skip = Patterns::parse(&["a/root"]);
        let r = run(&mut ctx(), &cat, &cfg);
        assert_eq!(r.case("a/root").unwrap().detail, "excluded by --skip");
        assert_eq!(r.case("a/child").unwrap().outcome, Outcome::Skip);
    }

    #[test]
    fn waivers_excuse_failures_only() {
        let mut cfg = quiet();
        cfg.waivers = Waivers::parse("b/bad: known\nc/*: later\na/root: stale").unwrap();
        let r = run(&mut ctx(), &catalogue(), &cfg);
        assert_eq!(r.case("b/bad").unwrap().outcome, Outcome::Waived);
        assert!(r.case("b/bad").unwrap().detail.starts_with("known"));
        assert_eq!(r.case("c/shape").unwrap().outcome, Outcome::Waived);
        assert_eq!(r.case("c/skip").unwrap().outcome, Outcome::Skip);
        assert_eq!(r.case("a/root").unwrap().outcome, Outcome::Pass);
        assert!(r.case("a/root").unwrap().detail.contains("stale"));
        assert!(r.passed());
    }
}

//! The run's results: `report.json`, JUnit XML, and the summary table.
//!
//! `report.json` (format `hem-conformance-report/2`; members in this order):
//!
//! ```json
//! { "format": "hem-conformance-report/2",
//!   "tool": { "name": "hem-conformance", "version": "0.1.0" },
//!   "target": "http://127.0.0.1:41234",
//!   "target_version": { "hwv": "...", "fwv": "..." },
//!   "strict": false,
//!   "summary": { "total": 140, "pass": 139, "fail": 0, "skip": 1, "waived": 0,
//!                "required_failed": 0, "millis": 2100 },
//!   "cases": [ { "id": "ext-token/replay", "title": "...", "spec": "§5.9, §4.2: a replayed authreply is 401",
//!                "kind": "negative", "required": true, "expected": 401, "actual": 401,
//!                "outcome": "pass", "detail": "", "millis": 3 } ] }
//! ```
//!
//! `target_version` is the target's `GET /api/system/version` answer as it came (`null` when
//! it was not JSON). `strict` says whether advisory cases counted as required
//! (`--strict`): `summary.required_failed` then counts every failure. Per case, `required`
//! is the catalogue's flag, `actual` is `null` when no request under test was answered (a
//! skip, or a transport error), and `detail` says why a case failed, was skipped or waived
//! (empty on a clean pass). Format 1 (before) had no `format`, `tool`, `target_version`,
//! `strict`, nor per-case `required` and `detail`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use crate::case::{CaseResult, Outcome};

/// File name of the JSON report inside the report directory.
pub const JSON_REPORT: &str = "report.json";
/// File name of the JUnit report inside the report directory.
pub const JUNIT_REPORT: &str = "junit.xml";
/// The `format` member of `report.json`; its number changes with any change of the members.
pub const REPORT_FORMAT: &str = "hem-conformance-report/2";
/// The `tool.version` member: this crate's version.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// All results of one run against one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The target's base URL.
    pub target: String,
    /// The target's `GET /api/system/version` answer (JSON), when the runner read one.
    pub target_version: Option<serde_json::Value>,
    /// Whether advisory cases count as required (`--strict`).
    pub strict: bool,
    /// One record per catalogue case, in run order.
    pub cases: Vec<CaseResult>,
    /// Wall time of the whole run in milliseconds.
    pub millis: u64,
}

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases in the report.
    pub total: usize,
    /// Passed.
    pub pass: usize,
    /// Failed (required or not).
    pub fail: usize,
    /// Skipped.
    pub skip: usize,
    /// Failed but waived.
    pub waived: usize,
    /// Failed and required (any failure under `strict`): the run fails when this is not zero.
    pub required_failed: usize,
}

impl Summary {
    fn add(&mut self, r: &CaseResult, strict: bool) {
        self.total += 1;
        match r.outcome {
            Outcome::Pass => self.pass += 1,
            Outcome::Fail => {
                self.fail += 1;
                if r.required || strict {
                    self.required_failed += 1;
                }
            }
            Outcome::Skip => self.skip += 1,
            Outcome::Waived => self.waived += 1,
        }
    }
}

impl Report {
    /// Counts over every case.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.cases {
            s.add(r, self.strict);
        }
        s
    }

    /// Whether the run passed: no required case failed (no case at all under `strict`).
    pub fn passed(&self) -> bool {
        self.summary().required_failed == 0
    }

    /// The result of one case.
    pub fn case(&self, id: &str) -> Option<&CaseResult> {
        self.cases.iter().find(|c| c.id == id)
    }

    /// Ids of the cases with `outcome`.
    pub fn ids(&self, outcome: Outcome) -> Vec<&str> {
        self.cases
            .iter()
            .filter(|c| c.outcome == outcome)
            .map(|c| c.id.as_str())
            .collect()
    }

    /// The report in the JSON format's shape and member order.
    fn json_shape(&self) -> JsonReport<'_> {
        let s = self.summary();
        JsonReport {
            format: REPORT_FORMAT,
            tool: JsonTool {
                name: "hem-conformance",
                version: TOOL_VERSION,
            },
            target: &self.target,
            target_version: self.target_version.as_ref(),
            strict: self.strict,
            summary: JsonSummary {
                total: s.total,
                pass: s.pass,
                fail: s.fail,
                skip: s.skip,
                waived: s.waived,
                required_failed: s.required_failed,
                millis: self.millis,
            },
            cases: self
                .cases
                .iter()
                .map(|c| JsonCase {
                    id: &c.id,
                    title: &c.title,
                    spec: &c.spec,
                    kind: c.kind.as_str(),
                    required: c.required,
                    expected: c.expected,
                    actual: c.actual,
                    outcome: c.outcome.as_str(),
                    detail: &c.detail,
                    millis: c.millis,
                })
                .collect(),
        }
    }

    /// The JSON report as a value (format in the module docs).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.json_shape()).unwrap_or_default()
    }

    /// The JSON report as pretty text, members in the format's order.
    pub fn to_json_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.json_shape()).unwrap_or_default();
        text.push('\n');
        text
    }

    /// JUnit XML, written by quick-junit: one `<testsuite>` per case group, one `<testcase>`
    /// per case; failures carry the expected and actual status, skips and waivers their
    /// reason. Text the device sent (details quote bodies) is filtered of what XML cannot
    /// carry: control characters and ANSI escapes (by quick-junit), and U+FFFE/U+FFFF.
    pub fn to_junit(&self) -> Result<String, String> {
        let mut groups: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
        for c in &self.cases {
            let group = c.id.split_once('/').map_or(c.id.as_str(), |(g, _)| g);
            groups.entry(group).or_default().push(c);
        }
        let mut junit = quick_junit::Report::new("hem-conformance");
        junit.set_time(Duration::from_millis(self.millis));
        for (group, cases) in groups {
            let mut suite = TestSuite::new(group);
            let mut millis = 0;
            for c in cases {
                millis += c.millis;
                suite.add_test_case(self.testcase(c));
            }
            suite.set_time(Duration::from_millis(millis));
            junit.add_test_suite(suite);
        }
        junit
            .to_string()
            .map(|mut xml| {
                xml.push('\n');
                xml
            })
            .map_err(|e| format!("writing JUnit XML: {e}"))
    }

    fn testcase(&self, c: &CaseResult) -> TestCase {
        let status = match c.outcome {
            Outcome::Pass => TestCaseStatus::success(),
            Outcome::Fail => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(xml_text(&format!(
                    "expected {}, got {}",
                    c.expected,
                    status_text(c.actual)
                )));
                status.set_type(if c.required || self.strict {
                    "required"
                } else {
                    "advisory"
                });
                status.set_description(xml_text(&format!(
                    "{}\nspec: {}\nkind: {}\ntarget: {}\n{}",
                    c.title,
                    c.spec,
                    c.kind.as_str(),
                    self.target,
                    c.detail
                )));
                status
            }
            Outcome::Skip | Outcome::Waived => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(xml_text(&if c.outcome == Outcome::Waived {
                    format!("waived: {}", c.detail)
                } else {
                    c.detail.clone()
                }));
                status
            }
        };
        let mut tc = TestCase::new(xml_text(&c.id), status);
        tc.set_classname(format!(
            "hem-conformance.{}",
            c.id.split('/').next().unwrap_or("")
        ));
        tc.set_time(Duration::from_millis(c.millis));
        let mut out = format!("{} [{}]", c.title, c.spec);
        if c.outcome == Outcome::Pass && !c.detail.is_empty() {
            out.push_str(&format!("\n{}", c.detail));
        }
        tc.set_system_out(xml_text(&out));
        tc
    }

    /// Writes `report.json` and `junit.xml` into `dir` (created if needed); returns their paths.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create report dir {}: {e}", dir.display()))?;
        let json_path = dir.join(JSON_REPORT);
        let junit_path = dir.join(JUNIT_REPORT);
        write_file(&json_path, self.to_json_text().as_bytes())?;
        write_file(&junit_path, self.to_junit()?.as_bytes())?;
        Ok((json_path, junit_path))
    }

    /// The summary table: one row per group, a total row, then every failure with its detail.
    pub fn summary_table(&self) -> String {
        let mut groups: BTreeMap<&str, Summary> = BTreeMap::new();
        let mut order: Vec<&str> = Vec::new();
        for c in &self.cases {
            let group = c.id.split_once('/').map_or(c.id.as_str(), |(g, _)| g);
            if !groups.contains_key(group) {
                order.push(group);
            }
            groups.entry(group).or_default().add(c, self.strict);
        }
        let width = order.iter().map(|g| g.len()).max().unwrap_or(5).max(5);
        let mut out = String::new();
        let row = |out: &mut String, name: &str, s: &Summary| {
            out.push_str(&format!(
                "{name:<width$}  {:>5}  {:>5}  {:>5}  {:>5}  {:>6}\n",
                s.total, s.pass, s.fail, s.skip, s.waived
            ));
        };
        out.push_str(&format!(
            "{:<width$}  {:>5}  {:>5}  {:>5}  {:>5}  {:>6}\n",
            "group", "cases", "pass", "fail", "skip", "waived"
        ));
        out.push_str(&format!("{}\n", "-".repeat(width + 36)));
        for g in &order {
            if let Some(s) = groups.get(g) {
                row(&mut out, g, s);
            }
        }
        out.push_str(&format!("{}\n", "-".repeat(width + 36)));
        let total = self.summary();
        row(&mut out, "total", &total);
        let negatives = self
            .cases
            .iter()
            .filter(|c| c.kind == crate::case::Kind::Negative)
            .count();
        out.push_str(&format!(
            "\n{} cases ({} negative) against {} in {:.1} s\n",
            total.total,
            negatives,
            self.target,
            self.millis as f64 / 1000.0
        ));
        let failures: Vec<_> = self
            .cases
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .collect();
        if !failures.is_empty() {
            out.push_str("\nfailures:\n");
            for c in failures {
                out.push_str(&format!(
                    "  {}{}  expected {}, got {}  [{}]\n      {}\n",
                    c.id,
                    if c.required { "" } else { " (advisory)" },
                    c.expected,
                    status_text(c.actual),
                    c.spec,
                    c.detail
                ));
            }
        }
        out.push_str(&format!(
            "\nresult: {}\n",
            if total.required_failed == 0 {
                "PASS (no required case failed)".to_string()
            } else {
                format!("FAIL ({} required cases failed)", total.required_failed)
            }
        ));
        out
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    format: &'a str,
    tool: JsonTool<'a>,
    target: &'a str,
    target_version: Option<&'a serde_json::Value>,
    strict: bool,
    summary: JsonSummary,
    cases: Vec<JsonCase<'a>>,
}

#[derive(Serialize)]
struct JsonTool<'a> {
    name: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
struct JsonSummary {
    total: usize,
    pass: usize,
    fail: usize,
    skip: usize,
    waived: usize,
    required_failed: usize,
    millis: u64,
}

#[derive(Serialize)]
struct JsonCase<'a> {
    id: &'a str,
    title: &'a str,
    spec: &'a str,
    kind: &'a str,
    required: bool,
    expected: u16,
    actual: Option<u16>,
    outcome: &'a str,
    detail: &'a str,
    millis: u64,
}

/// A status for messages: the number, or `none`.
pub fn status_text(status: Option<u16>) -> String {
    status.map_or_else(|| "none".to_string(), |s| s.to_string())
}

/// `text` without the characters XML 1.0 cannot carry that quick-junit leaves in (it removes
/// control characters and ANSI escapes itself): the noncharacters U+FFFE and U+FFFF.
fn xml_text(text: &str) -> String {
    text.replace(['\u{fffe}', '\u{ffff}'], "")
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Kind;

    fn result(id: &str, outcome: Outcome, actual: Option<u16>, required: bool) -> CaseResult {
        CaseResult {
            id: id.into(),
            title: format!("title of {id} <&\"'>"),
            spec: "§5.9, §4.2: a replayed authreply is 401".into(),
            kind: Kind::Negative,
            required,
            expected: 401,
            actual,
            outcome,
            detail: match outcome {
                Outcome::Pass => String::new(),
                _ => "because ]]> & <reasons>".into(),
            },
            millis: 7,
        }
    }

    fn sample() -> Report {
        Report {
            target: "http://127.0.0.1:1".into(),
            target_version: Some(serde_json::json!({"hwv": "EPA", "fwv": "1.2.3"})),
            strict: false,
            cases: vec![
                result("ext-token/replay", Outcome::Pass, Some(401), true),
                result("ext-token/bad-mac", Outcome::Fail, Some(200), true),
                result("bearer/x", Outcome::Skip, None, true),
                result("bearer/y", Outcome::Waived, Some(500), true),
                result("wire/z", Outcome::Fail, None, false),
            ],
            millis: 1234,
        }
    }

    #[test]
    fn summary_counts_and_exit_rule() {
        let r = sample();
        let s = r.summary();
        assert_eq!(
            s,
            Summary {
                total: 5,
                pass: 1,
                fail: 2,
                skip: 1,
                waived: 1,
                required_failed: 1
            }
        );
        assert!(!r.passed());
        let mut ok = sample();
        ok.cases.remove(1);
        assert!(ok.passed(), "an advisory failure does not fail the run");
        assert_eq!(r.ids(Outcome::Fail), vec!["ext-token/bad-mac", "wire/z"]);
    }

    #[test]
    fn strict_counts_advisory_failures() {
        let mut r = sample();
        r.cases.remove(1); // the required failure: only the advisory wire/z fails
        assert!(r.passed());
        r.strict = true;
        assert_eq!(r.summary().required_failed, 1);
        assert!(!r.passed(), "--strict: an advisory failure fails the run");
        assert_eq!(r.to_json()["strict"], true);
        assert!(r.to_junit().unwrap().contains(r#"type="required""#));
    }

    #[test]
    fn json_format_is_exact() {
        let v = sample().to_json();
        let mut top: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        top.sort();
        assert_eq!(
            top,
            vec![
                "cases",
                "format",
                "strict",
                "summary",
                "target",
                "target_version",
                "tool"
            ]
        );
        assert_eq!(v["format"], "hem-conformance-report/2");
        assert_eq!(v["tool"]["name"], "hem-conformance");
        assert_eq!(v["tool"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(v["target"], "http://127.0.0.1:1");
        assert_eq!(v["target_version"]["fwv"], "1.2.3");
        assert_eq!(v["strict"], false);
        assert_eq!(v["summary"]["fail"], 2);
        let cases = v["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 5);
        let mut keys: Vec<_> = cases[0].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                "actual", "detail", "expected", "id", "kind", "millis", "outcome", "required",
                "spec", "title"
            ]
        );
        assert_eq!(cases[0]["kind"], "negative");
        assert_eq!(cases[0]["outcome"], "pass");
        assert_eq!(cases[0]["required"], true);
        assert_eq!(cases[0]["detail"], "");
        assert_eq!(cases[1]["actual"], 200);
        assert_eq!(cases[1]["detail"], "because ]]> & <reasons>");
        assert_eq!(cases[2]["actual"], serde_json::Value::Null);
        assert_eq!(cases[3]["outcome"], "waived");
        assert_eq!(cases[4]["required"], false);
        assert_eq!(cases[0]["expected"], 401);
        assert_eq!(cases[0]["millis"], 7);
        let mut unread = sample();
        unread.target_version = None;
        assert_eq!(unread.to_json()["target_version"], serde_json::Value::Null);
    }

    /// Every element named `name` in `doc`.
    fn elements<'a>(doc: &'a roxmltree::Document<'a>, name: &str) -> Vec<roxmltree::Node<'a, 'a>> {
        doc.descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == name)
            .collect()
    }

    #[test]
    fn junit_is_well_formed_and_counts() {
        let xml = sample().to_junit().unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("tests"), Some("5"));
        assert_eq!(root.attribute("failures"), Some("2"));
        let count = |name: &str| elements(&doc, name).len();
        assert_eq!(
            (
                count("testcase"),
                count("failure"),
                count("skipped"),
                count("testsuite")
            ),
            (5, 2, 2, 3)
        );
        let failures = elements(&doc, "failure");
        assert_eq!(
            failures[0].attribute("message"),
            Some("expected 401, got 200")
        );
        // Text comes back verbatim after the parser's unescaping.
        let skipped = elements(&doc, "skipped");
        assert!(skipped
            .iter()
            .any(|s| s.attribute("message") == Some("because ]]> & <reasons>")));
        let all_text: String = doc
            .descendants()
            .filter_map(|n| n.text())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            all_text.contains("title of ext-token/replay <&\"'>"),
            "{all_text}"
        );
        assert!(all_text.contains("because ]]> & <reasons>"), "{all_text}");
    }

    /// A device's text with control bytes, an ANSI escape and a noncharacter (a failure
    /// detail quotes the body) still makes valid XML: those characters are filtered out and
    /// the rest survives.
    #[test]
    fn junit_filters_what_xml_cannot_carry() {
        let mut r = sample();
        let nasty =
            "body \u{0}\u{1}\u{8}\u{b}\u{c}\u{1f}\u{1b}[31mred\u{1b}[0m \u{fffe}\u{ffff}end";
        r.cases[1].detail = nasty.into();
        r.cases[2].detail = nasty.into();
        r.cases[0].title = format!("title {nasty}");
        let xml = r.to_junit().unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml:?}"));
        let failure = elements(&doc, "failure")[0];
        let text = failure.text().unwrap_or_default();
        assert!(text.contains("body red end"), "{text:?}");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        let skipped = elements(&doc, "skipped")[0];
        assert_eq!(skipped.attribute("message"), Some("body red end"));
        // The unfiltered text is refused by the same parser: the filter is what makes it valid.
        let raw = format!("<a>{nasty}</a>");
        assert!(roxmltree::Document::parse(&raw).is_err());
    }

    #[test]
    fn table_lists_groups_and_failures() {
        let t = sample().summary_table();
        assert!(t.contains("ext-token"));
        assert!(t.contains("total"));
        assert!(t.contains("ext-token/bad-mac  expected 401, got 200"));
        assert!(t.contains("wire/z (advisory)  expected 401, got none"));
        assert!(t.contains("FAIL (1 required cases failed)"));
        let groups: Vec<_> = t.lines().skip(2).take(3).collect();
        assert!(groups[0].starts_with("ext-token"), "{groups:?}");
        assert!(groups[1].starts_with("bearer"));
    }

    #[test]
    fn writes_both_files() {
        let dir = std::env::temp_dir().join(format!("hem-conf-report-{}", std::process::id()));
        let (j, x) = sample().write(&dir).unwrap();
        let text = std::fs::read_to_string(&j).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, sample().to_json());
        // members in the format's order
        let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
        assert!(at("format") < at("tool") && at("tool") < at("target"));
        assert!(at("target_version") < at("strict") && at("strict") < at("summary"));
        assert!(at("summary") < at("cases"));
        let case = &text[at("cases")..];
        let at = |k: &str| case.find(&format!("\"{k}\"")).unwrap();
        assert!(at("id") < at("title") && at("outcome") < at("millis"));
        assert!(std::fs::read_to_string(&x).unwrap().starts_with("<?xml"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

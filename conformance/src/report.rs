//! The run's results: `report.json`, JUnit XML, and the summary table.
//!
//! `report.json`:
//!
//! ```json
//! { "target": "http://127.0.0.1:41234",
//!   "summary": { "total": 140, "pass": 139, "fail": 0, "skip": 1, "waived": 0,
//!                "required_failed": 0, "millis": 2100 },
//!   "cases": [ { "id": "ext-token/replay", "title": "...", "spec": "§5.9, §4.2: a replayed authreply is 401",
//!                "kind": "negative", "expected": 401, "actual": 401, "outcome": "pass", "millis": 3 } ] }
//! ```
//!
//! `actual` is `null` when no request under test was answered (a skip, or a transport error).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, Event};
use serde::Serialize;

use crate::case::{CaseResult, Outcome};

/// File name of the JSON report inside the report directory.
pub const JSON_REPORT: &str = "report.json";
/// File name of the JUnit report inside the report directory.
pub const JUNIT_REPORT: &str = "junit.xml";

/// All results of one run against one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The target's base URL.
    pub target: String,
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
    /// Failed and required: the run fails when this is not zero.
    pub required_failed: usize,
}

impl Summary {
    fn add(&mut self, r: &CaseResult) {
        self.total += 1;
        match r.outcome {
            Outcome::Pass => self.pass += 1,
            Outcome::Fail => {
                self.fail += 1;
                if r.required {
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
            s.add(r);
        }
        s
    }

    /// Whether the run passed: no required case failed.
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

    /// The report in the JSON schema's shape and member order.
    fn json_shape(&self) -> JsonReport<'_> {
        let s = self.summary();
        JsonReport {
            target: &self.target,
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
                    expected: c.expected,
                    actual: c.actual,
                    outcome: c.outcome.as_str(),
                    millis: c.millis,
                })
                .collect(),
        }
    }

    /// The JSON report as a value (schema in the module docs).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.json_shape()).unwrap_or_default()
    }

    /// The JSON report as pretty text, members in the schema's order.
    pub fn to_json_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.json_shape()).unwrap_or_default();
        text.push('\n');
        text
    }

    /// JUnit XML: one `<testsuite>` per case group, one `<testcase>` per case; failures carry
    /// the expected and actual status, skips and waivers their reason.
    pub fn to_junit(&self) -> Result<String, String> {
        let mut groups: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
        for c in &self.cases {
            let group = c.id.split_once('/').map_or(c.id.as_str(), |(g, _)| g);
            groups.entry(group).or_default().push(c);
        }
        let s = self.summary();
        let mut w = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
        let xml = |e: std::io::Error| format!("writing JUnit XML: {e}");
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .map_err(xml)?;
        let mut root = BytesStart::new("testsuites");
        root.push_attribute(("name", "hem-conformance"));
        root.push_attribute(("tests", s.total.to_string().as_str()));
        root.push_attribute(("failures", s.fail.to_string().as_str()));
        root.push_attribute(("skipped", (s.skip + s.waived).to_string().as_str()));
        root.push_attribute(("errors", "0"));
        root.push_attribute(("time", secs(self.millis).as_str()));
        w.write_event(Event::Start(root)).map_err(xml)?;
        for (group, cases) in groups {
            let mut gs = Summary::default();
            let mut millis = 0;
            for c in &cases {
                gs.add(c);
                millis += c.millis;
            }
            let mut suite = BytesStart::new("testsuite");
            suite.push_attribute(("name", group));
            suite.push_attribute(("tests", gs.total.to_string().as_str()));
            suite.push_attribute(("failures", gs.fail.to_string().as_str()));
            suite.push_attribute(("skipped", (gs.skip + gs.waived).to_string().as_str()));
            suite.push_attribute(("errors", "0"));
            suite.push_attribute(("time", secs(millis).as_str()));
            w.write_event(Event::Start(suite)).map_err(xml)?;
            for c in cases {
                write_testcase(&mut w, c, &self.target).map_err(xml)?;
            }
            w.write_event(Event::End(BytesEnd::new("testsuite")))
                .map_err(xml)?;
        }
        w.write_event(Event::End(BytesEnd::new("testsuites")))
            .map_err(xml)?;
        let mut out = w.into_inner();
        out.push(b'\n');
        String::from_utf8(out).map_err(|e| format!("JUnit XML is not UTF-8: {e}"))
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
            groups.entry(group).or_default().add(c);
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
    target: &'a str,
    summary: JsonSummary,
    cases: Vec<JsonCase<'a>>,
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
    expected: u16,
    actual: Option<u16>,
    outcome: &'a str,
    millis: u64,
}

/// A status for messages: the number, or `none`.
pub fn status_text(status: Option<u16>) -> String {
    status.map_or_else(|| "none".to_string(), |s| s.to_string())
}

fn secs(millis: u64) -> String {
    format!("{:.3}", millis as f64 / 1000.0)
}

fn write_testcase<W: Write>(
    w: &mut quick_xml::Writer<W>,
    c: &CaseResult,
    target: &str,
) -> std::io::Result<()> {
    let mut tc = BytesStart::new("testcase");
    tc.push_attribute(("name", c.id.as_str()));
    tc.push_attribute((
        "classname",
        format!("hem-conformance.{}", c.id.split('/').next().unwrap_or("")).as_str(),
    ));
    tc.push_attribute(("time", secs(c.millis).as_str()));
    w.write_event(Event::Start(tc))?;
    match c.outcome {
        Outcome::Pass => {}
        Outcome::Fail => {
            let mut f = BytesStart::new("failure");
            f.push_attribute((
                "message",
                format!("expected {}, got {}", c.expected, status_text(c.actual)).as_str(),
            ));
            f.push_attribute(("type", if c.required { "required" } else { "advisory" }));
            w.write_event(Event::Start(f))?;
            let body = format!(
                "{}\nspec: {}\nkind: {}\ntarget: {}\n{}",
                c.title,
                c.spec,
                c.kind.as_str(),
                target,
                c.detail
            );
            w.write_event(Event::CData(BytesCData::new(cdata_safe(&body))))?;
            w.write_event(Event::End(BytesEnd::new("failure")))?;
        }
        Outcome::Skip | Outcome::Waived => {
            let mut s = BytesStart::new("skipped");
            let message = if c.outcome == Outcome::Waived {
                format!("waived: {}", c.detail)
            } else {
                c.detail.clone()
            };
            s.push_attribute(("message", message.as_str()));
            w.write_event(Event::Empty(s))?;
        }
    }
    let mut props = format!("{} [{}]", c.title, c.spec);
    if c.outcome == Outcome::Pass && !c.detail.is_empty() {
        props.push_str(&format!("\n{}", c.detail));
    }
    w.write_event(Event::Start(BytesStart::new("system-out")))?;
    w.write_event(Event::CData(BytesCData::new(cdata_safe(&props))))?;
    w.write_event(Event::End(BytesEnd::new("system-out")))?;
    w.write_event(Event::End(BytesEnd::new("testcase")))
}

/// CDATA cannot contain `]]>`; split it so the text survives unchanged.
fn cdata_safe(text: &str) -> String {
    text.replace("]]>", "]]]]><![CDATA[>")
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
    fn json_schema_is_exact() {
        let v = sample().to_json();
        let top: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(top, vec!["cases", "summary", "target"]);
        assert_eq!(v["target"], "http://127.0.0.1:1");
        assert_eq!(v["summary"]["fail"], 2);
        let cases = v["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 5);
        let mut keys: Vec<_> = cases[0].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            vec!["actual", "expected", "id", "kind", "millis", "outcome", "spec", "title"]
        );
        assert_eq!(cases[0]["kind"], "negative");
        assert_eq!(cases[0]["outcome"], "pass");
        assert_eq!(cases[1]["actual"], 200);
        assert_eq!(cases[2]["actual"], serde_json::Value::Null);
        assert_eq!(cases[3]["outcome"], "waived");
        assert_eq!(cases[0]["expected"], 401);
        assert_eq!(cases[0]["millis"], 7);
    }

    #[test]
    fn junit_is_well_formed_and_counts() {
        let xml = sample().to_junit().unwrap();
        // Parse it back with quick-xml and count elements.
        let mut reader = quick_xml::Reader::from_str(&xml);
        let (mut cases, mut failures, mut skipped, mut suites) = (0, 0, 0, 0);
        let mut texts = String::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                    b"testcase" => cases += 1,
                    b"failure" => failures += 1,
                    b"skipped" => skipped += 1,
                    b"testsuite" => suites += 1,
                    _ => {}
                },
                Event::CData(t) => texts.push_str(&String::from_utf8_lossy(&t)),
                _ => {}
            }
        }
        assert_eq!((cases, failures, skipped, suites), (5, 2, 2, 3));
        assert!(
            xml.contains(r#"tests="5" failures="2" skipped="2""#),
            "{xml}"
        );
        assert!(xml.contains("expected 401, got 200"));
        // attributes are escaped, CDATA carries text verbatim
        assert!(
            xml.contains("message=\"because ]]&gt; &amp; &lt;reasons&gt;\""),
            "{xml}"
        );
        assert!(
            texts.contains("title of ext-token/replay <&\"'>"),
            "{texts}"
        );
        // the `]]>` inside a detail survives the CDATA split
        assert!(texts.contains("because ]]> & <reasons>"), "{texts}");
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
        // members in the schema's order
        let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
        assert!(at("target") < at("summary") && at("summary") < at("cases"));
        let case = &text[at("cases")..];
        let at = |k: &str| case.find(&format!("\"{k}\"")).unwrap();
        assert!(at("id") < at("title") && at("outcome") < at("millis"));
        assert!(std::fs::read_to_string(&x).unwrap().starts_with("<?xml"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

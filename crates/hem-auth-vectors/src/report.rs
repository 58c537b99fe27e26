//! What the checker found: one [`CaseReport`] per test, gathered per file, counted per kind.

use std::collections::BTreeMap;
use std::fmt;

/// The verdict on one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The role code did what the case expects. `detail` says how an invalid case was
    /// rejected (the error the role returned), so a reader can see it failed for its defect.
    Passed {
        /// The rejection, for invalid cases.
        detail: Option<String>,
    },
    /// The role code did not do what the case expects, or the case is malformed.
    Failed {
        /// Why.
        reason: String,
    },
    /// Not run: the kind is unknown (or its role is not available). Never a pass.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// A pass without detail.
    pub fn passed() -> Self {
        Outcome::Passed { detail: None }
    }
}

/// The verdict on one test, with what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseReport {
    /// The group's kind.
    pub kind: String,
    /// The test's `id` (`None` when it has no readable id).
    pub id: Option<u64>,
    /// The test's comment.
    pub comment: String,
    /// The test's flags.
    pub flags: Vec<String>,
    /// `true` for `valid` cases.
    pub valid: Option<bool>,
    /// The verdict.
    pub outcome: Outcome,
}

/// Counts of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Passed tests.
    pub passed: usize,
    /// Failed tests.
    pub failed: usize,
    /// Skipped tests.
    pub skipped: usize,
}

impl Counts {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Passed { .. } => self.passed += 1,
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
        }
    }

    fn merge(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

/// Everything found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// How the file was named to the checker.
    pub file: String,
    /// The file's `source`.
    pub source: String,
    /// A problem with the file as a whole (unreadable, not JSON, wrong `schema`): counted as
    /// one failure.
    pub error: Option<String>,
    /// One entry per test, in file order.
    pub cases: Vec<CaseReport>,
}

impl FileReport {
    /// Counts per kind, kinds in alphabetical order.
    pub fn counts(&self) -> BTreeMap<String, Counts> {
        let mut out: BTreeMap<String, Counts> = BTreeMap::new();
        for c in &self.cases {
            out.entry(c.kind.clone()).or_default().add(&c.outcome);
        }
        out
    }

    /// Number of failures, a file-level error counting as one.
    pub fn failures(&self) -> usize {
        usize::from(self.error.is_some())
            + self
                .cases
                .iter()
                .filter(|c| matches!(c.outcome, Outcome::Failed { .. }))
                .count()
    }

    /// Number of skipped tests.
    pub fn skips(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Skipped { .. }))
            .count()
    }

    /// Whether nothing failed (and, when `strict`, nothing was skipped).
    pub fn ok(&self, strict: bool) -> bool {
        self.failures() == 0 && (!strict || self.skips() == 0)
    }
}

/// The reports of a whole run, printed as the `hem-vectors verify` output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// One per file, in the order given.
    pub files: Vec<FileReport>,
    /// Whether skips count as failures.
    pub strict: bool,
}

impl RunReport {
    /// Counts per kind over all files.
    pub fn counts(&self) -> BTreeMap<String, Counts> {
        let mut out: BTreeMap<String, Counts> = BTreeMap::new();
        for f in &self.files {
            for (kind, c) in f.counts() {
                out.entry(kind).or_default().merge(c);
            }
        }
        out
    }

    /// Whether the run passes: no failure, and with `strict` no skip either.
    pub fn ok(&self) -> bool {
        self.files.iter().all(|f| f.ok(self.strict))
    }
}

fn describe(f: &mut fmt::Formatter<'_>, file: &str, c: &CaseReport, why: &str) -> fmt::Result {
    let id = c.id.map_or_else(|| "?".to_string(), |i| i.to_string());
    write!(f, "  {file} {} #{id}", c.kind)?;
    if !c.comment.is_empty() {
        write!(f, " ({})", c.comment)?;
    }
    writeln!(f, ": {why}")
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = self.counts();
        let width = counts.keys().map(String::len).max().unwrap_or(4).max(5);
        writeln!(
            f,
            "{:<width$} {:>7} {:>7} {:>7}",
            "kind", "passed", "failed", "skipped"
        )?;
        let mut total = Counts::default();
        for (kind, c) in &counts {
            writeln!(
                f,
                "{kind:<width$} {:>7} {:>7} {:>7}",
                c.passed, c.failed, c.skipped
            )?;
            total.merge(*c);
        }
        writeln!(
            f,
            "{:<width$} {:>7} {:>7} {:>7}",
            "total", total.passed, total.failed, total.skipped
        )?;

        let file_errors: Vec<_> = self.files.iter().filter(|r| r.error.is_some()).collect();
        let failed: Vec<_> = self
            .files
            .iter()
            .flat_map(|r| r.cases.iter().map(move |c| (r, c)))
            .filter(|(_, c)| matches!(c.outcome, Outcome::Failed { .. }))
            .collect();
        if !file_errors.is_empty() || !failed.is_empty() {
            writeln!(f, "\nFAILED:")?;
            for r in file_errors {
                writeln!(
                    f,
                    "  {}: {}",
                    r.file,
                    r.error.as_deref().unwrap_or_default()
                )?;
            }
            for (r, c) in failed {
                if let Outcome::Failed { reason } = &c.outcome {
                    describe(f, &r.file, c, reason)?;
                }
            }
        }
        let skipped: Vec<_> = self
            .files
            .iter()
            .flat_map(|r| r.cases.iter().map(move |c| (r, c)))
            .filter(|(_, c)| matches!(c.outcome, Outcome::Skipped { .. }))
            .collect();
        if !skipped.is_empty() {
            let label = if self.strict {
                "SKIPPED (failures under --strict)"
            } else {
                "SKIPPED (not passed)"
            };
            writeln!(f, "\n{label}:")?;
            // One line per file and kind: skips come by the group.
            let mut seen: BTreeMap<(String, String), (usize, String)> = BTreeMap::new();
            for (r, c) in skipped {
                if let Outcome::Skipped { reason } = &c.outcome {
                    let e = seen
                        .entry((r.file.clone(), c.kind.clone()))
                        .or_insert((0, reason.clone()));
                    e.0 += 1;
                }
            }
            for ((file, kind), (n, reason)) in seen {
                writeln!(f, "  {file} {kind}: {n} test(s): {reason}")?;
            }
        }
        let verdict = if self.ok() { "OK" } else { "FAILED" };
        write!(
            f,
            "\n{verdict}: {} passed, {} failed, {} skipped in {} file(s)",
            total.passed,
            total.failed + self.files.iter().filter(|r| r.error.is_some()).count(),
            total.skipped,
            self.files.len()
        )
    }
}

/// Prints every test with its verdict (the `--verbose` listing).
pub struct Listing<'a>(pub &'a RunReport);

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.0.files {
            writeln!(f, "{} ({})", r.file, r.source)?;
            for c in &r.cases {
                let (tag, why) = match &c.outcome {
                    Outcome::Passed { detail } => ("pass", detail.clone().unwrap_or_default()),
                    Outcome::Failed { reason } => ("FAIL", reason.clone()),
                    Outcome::Skipped { reason } => ("skip", reason.clone()),
                };
                let flags = if c.flags.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", c.flags.join(","))
                };
                let id = c.id.map_or_else(|| "?".to_string(), |i| i.to_string());
                write!(f, "  {tag} {} #{id}{flags} {}", c.kind, c.comment)?;
                if why.is_empty() {
                    writeln!(f)?;
                } else {
                    writeln!(f, " -> {why}")?;
                }
            }
        }
        Ok(())
    }
}

//! Which rules of the spec (`docs/spec`, cited as `§N.N`) the conformance cases and the vector
//! files test: the data behind `docs/spec/coverage.md`, and the checks that every cited id
//! exists.
//!
//! `hem-conformance spec-coverage` writes `docs/spec/coverage.md`; the test
//! `tests/spec_coverage.rs` fails when the committed file is not what this module generates, or
//! when any file of the repository cites a section that the spec does not have.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::Case;

/// The generated file, relative to the repository root.
pub const COVERAGE_FILE: &str = "docs/spec/coverage.md";

/// One heading of the spec: a chapter (`## §5 …`) or a section (`### §5.9 …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// `§5` or `§5.9`.
    pub id: String,
    /// The heading text after the id.
    pub title: String,
    /// The `> Kind: …` line under the heading (`observed`, `chosen`, `observed + chosen`,
    /// `informative`); empty for a chapter or a section without one.
    pub kind: String,
    /// The file it is in, relative to `docs/spec`.
    pub file: String,
}

impl Section {
    /// A chapter heading (`§5`) rather than a section (`§5.9`).
    pub fn is_chapter(&self) -> bool {
        !self.id.contains('.')
    }
}

/// Reads every heading of `docs/spec/*.md` under `root` (the repository), in id order.
pub fn read_spec(root: &Path) -> Result<Vec<Section>, String> {
    let dir = root.join("docs/spec");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    let mut sections = Vec::new();
    let mut seen = BTreeSet::new();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == "coverage.md" {
            continue;
        }
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(rest) = line
                .strip_prefix("### §")
                .or_else(|| line.strip_prefix("## §"))
            else {
                continue;
            };
            let (num, title) = rest.split_once(' ').unwrap_or((rest, ""));
            if !is_id_number(num) {
                return Err(format!("{name}:{}: malformed heading id {line:?}", i + 1));
            }
            let id = format!("§{num}");
            if !seen.insert(id.clone()) {
                return Err(format!("{name}:{}: {id} is defined twice", i + 1));
            }
            let kind = lines
                .iter()
                .skip(i + 1)
                .take_while(|l| !l.starts_with('#'))
                .find_map(|l| l.trim().strip_prefix("> Kind:"))
                .map(|k| k.trim().to_owned())
                .unwrap_or_default();
            sections.push(Section {
                id,
                title: title.trim().to_owned(),
                kind,
                file: name.clone(),
            });
        }
    }
    sections.sort_by_key(|s| id_key(&s.id));
    Ok(sections)
}

fn is_id_number(s: &str) -> bool {
    let mut parts = s.split('.');
    let ok =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    match s.matches('.').count() {
        0 => ok(parts.next()),
        1 => ok(parts.next()) && ok(parts.next()),
        _ => false,
    }
}

fn id_key(id: &str) -> (u32, u32) {
    let num = id.trim_start_matches('§');
    let (a, b) = num.split_once('.').unwrap_or((num, "0"));
    (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
}

/// Every `§N` or `§N.N` cited in `text`, in order of appearance (a trailing sentence dot is not
/// part of the id).
pub fn cited_ids(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices('§') {
        let rest = &text[i + '§'.len_utf8()..];
        let mut end = 0;
        let mut dot_seen = false;
        let bytes = rest.as_bytes();
        while end < bytes.len() {
            match bytes[end] {
                b'0'..=b'9' => end += 1,
                b'.' if !dot_seen
                    && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)
                    && end > 0 =>
                {
                    dot_seen = true;
                    end += 1;
                }
                _ => break,
            }
        }
        if end > 0 {
            out.push(format!("§{}", &rest[..end]));
        }
    }
    out
}

/// What one vector file says it tests: its groups' kinds with the sections each cites (the
/// group's `spec` array), and the sections its `notes` glossary cites per flag.
#[derive(Debug, Clone, Default)]
pub struct VectorFile {
    /// Path relative to the repository root.
    pub path: String,
    /// (kind, cited sections) per group.
    pub groups: Vec<(String, Vec<String>)>,
    /// (flag, cited sections) per notes entry.
    pub notes: Vec<(String, Vec<String>)>,
}

/// Reads every vector file under `root/vectors` (not the JSON Schemas, not the raw published
/// artefacts).
pub fn read_vectors(root: &Path) -> Result<Vec<VectorFile>, String> {
    let mut paths = Vec::new();
    walk(&root.join("vectors"), &mut paths)?;
    paths.retain(|p| {
        p.extension().is_some_and(|x| x == "json")
            && !p.components().any(|c| {
                let c = c.as_os_str();
                c == "schema" || c == "published"
            })
    });
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let mut file = VectorFile {
            path: rel,
            ..VectorFile::default()
        };
        for g in json["groups"].as_array().into_iter().flatten() {
            let kind = g["kind"].as_str().unwrap_or("?").to_owned();
            let ids = g["spec"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .flat_map(cited_ids)
                .collect();
            file.groups.push((kind, ids));
        }
        if let Some(notes) = json["notes"].as_object() {
            for (flag, text) in notes {
                file.notes
                    .push((flag.clone(), cited_ids(text.as_str().unwrap_or(""))));
            }
        }
        files.push(file);
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Every cited id in the repository's text files under `root` that the spec does not define,
/// as `path:line: §id`. Build output, VCS data, fuzz corpora and installed packages are not
/// read.
pub fn dangling_citations(root: &Path, sections: &[Section]) -> Result<Vec<String>, String> {
    let known: BTreeSet<&str> = sections.iter().map(|s| s.id.as_str()).collect();
    let mut paths = Vec::new();
    walk_sources(root, &mut paths)?;
    paths.sort();
    let mut bad = Vec::new();
    for path in paths {
        let Ok(text) = fs::read_to_string(&path) else {
            continue; // not UTF-8: not a text file
        };
        for (n, line) in text.lines().enumerate() {
            for id in cited_ids(line) {
                if !known.contains(id.as_str()) {
                    let rel = path.strip_prefix(root).unwrap_or(&path);
                    bad.push(format!("{}:{}: {id}", rel.display(), n + 1));
                }
            }
        }
    }
    Ok(bad)
}

const SKIP_DIRS: &[&str] = &[
    "target",
    ".git",
    "node_modules",
    "corpus",
    "artifacts",
    "pkg",
];
const TEXT_EXTS: &[&str] = &[
    "rs", "md", "json", "toml", "sh", "yml", "yaml", "txt", "js", "mjs", "ts",
];

fn walk_sources(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() {
            if !SKIP_DIRS.contains(&name.as_str()) {
                walk_sources(&path, out)?;
            }
        } else if path
            .extension()
            .is_some_and(|x| TEXT_EXTS.iter().any(|t| x == *t))
            || name == "run"
        {
            out.push(path);
        }
    }
    Ok(())
}

/// One catalogue with the name the coverage table gives it.
pub struct Catalogue<'a> {
    /// `device` or `via-broker`.
    pub name: &'a str,
    /// Its cases.
    pub cases: &'a [Case],
}

/// The text of `docs/spec/coverage.md`.
pub fn coverage_markdown(
    sections: &[Section],
    catalogues: &[Catalogue<'_>],
    vectors: &[VectorFile],
) -> String {
    let mut by_case: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for cat in catalogues {
        for case in cat.cases {
            for id in cited_ids(case.spec) {
                let ids = by_case.entry(section_id(sections, &id)).or_default();
                if !ids.contains(&case.id) {
                    ids.push(case.id);
                }
            }
        }
    }
    let mut by_vector: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for file in vectors {
        for (kind, ids) in &file.groups {
            for id in ids {
                by_vector
                    .entry(section_id(sections, id))
                    .or_default()
                    .insert(format!("`{kind}`"));
            }
        }
        for (flag, ids) in &file.notes {
            for id in ids {
                by_vector
                    .entry(section_id(sections, id))
                    .or_default()
                    .insert(format!("flag `{flag}`"));
            }
        }
    }

    let normative: Vec<&Section> = sections
        .iter()
        .filter(|s| !s.is_chapter() && s.kind != "informative")
        .collect();
    let count = |k: &str| normative.iter().filter(|s| s.kind == k).count();
    let untested: Vec<&&Section> = normative
        .iter()
        .filter(|s| !by_case.contains_key(s.id.as_str()) && !by_vector.contains_key(s.id.as_str()))
        .collect();
    let cases_total: usize = catalogues.iter().map(|c| c.cases.len()).sum();
    let catalogue_list: Vec<String> = catalogues
        .iter()
        .map(|c| format!("`{}` {}", c.name, c.cases.len()))
        .collect();

    let mut md = String::new();
    let _ = writeln!(md, "# Spec coverage\n");
    let _ = writeln!(
        md,
        "Generated by `cargo run -p hem-conformance -- spec-coverage`; \
         `conformance/tests/spec_coverage.rs` fails when this file is out of date. Do not edit \
         by hand.\n"
    );
    let _ = writeln!(
        md,
        "For every section of the spec: the conformance cases whose `spec` cites it \
         ({cases_total} cases: {}) and the vector kinds (group `spec`) and vector flags \
         (`notes`) that cite it. A section no case or vector cites is a rule nothing tests yet.\n",
        catalogue_list.join(", ")
    );
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(md, "| | sections |\n|---|---|");
    let _ = writeln!(
        md,
        "| chapters | {} |",
        sections.iter().filter(|s| s.is_chapter()).count()
    );
    let _ = writeln!(
        md,
        "| sections | {} |",
        sections.iter().filter(|s| !s.is_chapter()).count()
    );
    let _ = writeln!(
        md,
        "| informative | {} |",
        sections.len() - sections.iter().filter(|s| s.is_chapter()).count() - normative.len()
    );
    let _ = writeln!(md, "| normative | {} |", normative.len());
    let _ = writeln!(md, "| observed | {} |", count("observed"));
    let _ = writeln!(md, "| chosen | {} |", count("chosen"));
    let _ = writeln!(md, "| observed + chosen | {} |", count("observed + chosen"));
    let _ = writeln!(
        md,
        "| normative, tested by no case or vector | {} |\n",
        untested.len()
    );

    let _ = writeln!(md, "## Untested sections\n");
    if untested.is_empty() {
        let _ = writeln!(md, "None.\n");
    } else {
        for s in &untested {
            let _ = writeln!(md, "- {} {} ({}, `{}`)", s.id, s.title, s.kind, s.file);
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## By section\n");
    let _ = writeln!(
        md,
        "| § | title | kind | cases | vectors |\n|---|---|---|---|---|"
    );
    for s in sections {
        let cases = by_case
            .get(s.id.as_str())
            .map(|ids| {
                let list: Vec<String> = ids.iter().map(|i| format!("`{i}`")).collect();
                format!("{}: {}", ids.len(), list.join(", "))
            })
            .unwrap_or_default();
        let vectors = by_vector
            .get(s.id.as_str())
            .map(|v| v.iter().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let title = if s.is_chapter() {
            format!("**{}**", s.title)
        } else {
            s.title.clone()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            s.id,
            title.replace('|', "\\|"),
            s.kind,
            cases,
            vectors
        );
    }
    md
}

/// The section's own `&str` for a cited id (so the maps borrow from `sections`); an id the spec
/// does not define maps to a shared placeholder (the dangling check reports those).
fn section_id<'a>(sections: &'a [Section], id: &str) -> &'a str {
    sections
        .iter()
        .find(|s| s.id == id)
        .map(|s| s.id.as_str())
        .unwrap_or("§?")
}

/// The repository root, for a build of this crate inside the repository.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Generates the coverage text for the repository at `root`.
pub fn generate(root: &Path) -> Result<String, String> {
    let sections = read_spec(root)?;
    let device = crate::cases::catalogue();
    let broker = crate::cases::broker_catalogue();
    let vectors = read_vectors(root)?;
    Ok(coverage_markdown(
        &sections,
        &[
            Catalogue {
                name: "device",
                cases: &device,
            },
            Catalogue {
                name: "via-broker",
                cases: &broker,
            },
        ],
        &vectors,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cited_ids_stop_at_a_sentence_dot() {
        assert_eq!(cited_ids("see §5.9. and §4"), ["§5.9", "§4"]);
        assert_eq!(cited_ids("§12.6, §3.6: x"), ["§12.6", "§3.6"]);
        assert_eq!(cited_ids("no ids § here"), Vec::<String>::new());
    }
}

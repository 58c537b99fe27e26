//! Every case of both catalogues (the device catalogue and the `--via-broker` one) cites the
//! repository's spec first: its `spec` begins with one or more section ids of `docs/spec`
//! (`§N.N`, comma-separated, most specific first), then optionally `: ` and a short note,
//! e.g. `§5.9, §4.2: a replayed authreply is 401`.
//!
//! Whether the cited sections exist in `docs/spec` is checked elsewhere (the spec coverage
//! test); this test checks the form only, and needs no target.

use hem_conformance::cases::{broker_catalogue, catalogue};
use hem_conformance::Case;

/// `§N.N` with N non-empty decimal numbers: the whole of `s`.
fn is_section_id(s: &str) -> bool {
    let Some(num) = s.strip_prefix('§') else {
        return false;
    };
    let Some((chapter, section)) = num.split_once('.') else {
        return false;
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    digits(chapter) && digits(section)
}

/// The section ids `spec` begins with, or why it does not begin with any.
fn leading_ids(spec: &str) -> Result<Vec<&str>, String> {
    if !spec.starts_with('§') {
        return Err("does not begin with a § id".into());
    }
    let (head, tail) = match spec.split_once(':') {
        Some((head, tail)) => (head, Some(tail)),
        None => (spec, None),
    };
    let ids: Vec<&str> = head.split(',').map(str::trim).collect();
    if let Some(bad) = ids.iter().find(|id| !is_section_id(id)) {
        return Err(format!(
            "{bad:?} before the first `:` is not a §N.N section id"
        ));
    }
    if tail.is_some_and(|t| t.trim().is_empty()) {
        return Err("empty note after `:`".into());
    }
    Ok(ids)
}

/// `id: spec (reason)` for every case of `cases` whose spec is not of the required form.
fn offenders(catalogue: &str, cases: &[Case]) -> Vec<String> {
    let mut bad = Vec::new();
    for case in cases {
        if let Err(why) = leading_ids(case.spec) {
            bad.push(format!("{catalogue} {}: {:?} ({why})", case.id, case.spec));
        }
    }
    bad
}

#[test]
fn every_case_cites_spec_sections_first() {
    let device = catalogue();
    let broker = broker_catalogue();
    assert!(!device.is_empty() && !broker.is_empty());
    let mut bad = offenders("device", &device);
    bad.extend(offenders("via-broker", &broker));
    assert!(
        bad.is_empty(),
        "{} of {} cases do not begin their spec with §N.N ids:\n{}",
        bad.len(),
        device.len() + broker.len(),
        bad.join("\n")
    );
}

#[test]
fn the_form_check_tells_good_from_bad() {
    assert_eq!(
        leading_ids("§5.9, §4.2: a replayed authreply is 401"),
        Ok(vec!["§5.9", "§4.2"])
    );
    assert_eq!(leading_ids("§6.8"), Ok(vec!["§6.8"]));
    assert_eq!(
        leading_ids("§5.7, §5.10: the :rw rule"),
        Ok(vec!["§5.7", "§5.10"])
    );
    for bad in [
        "",
        "see §3.5",
        "error table: ext/token 401",
        "ext/token 401 (§5.9)",
        "§5: a chapter is not a section",
        "§5.9 ext/token 401",
        "§5.9, and more: note",
        "§5.9.1: too deep",
        "§.9: no chapter",
        "§5.9:",
    ] {
        assert!(leading_ids(bad).is_err(), "{bad:?} passed");
    }
}

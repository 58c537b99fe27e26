//! `hem-conformance load` against the embedded emulator: logins complete and are counted.
#![allow(clippy::unwrap_used)]

use clap::Parser;
use hem_conformance::load::{self, LoadArgs};

#[test]
fn two_clients_complete_logins_without_failures() {
    let args = LoadArgs::try_parse_from(["load", "--clients", "2", "--duration", "1"]).unwrap();
    let report = load::run(&args).unwrap();
    assert!(report.ok > 0, "{report}");
    assert_eq!(report.failed, 0, "{report}");
    assert!(report.p50 <= report.p99);
    assert!(report.x25519_bound() > 0.0);
}

#[test]
fn zero_clients_is_a_usage_error() {
    let args = LoadArgs::try_parse_from(["load", "--clients", "0"]).unwrap();
    assert!(load::run(&args).is_err());
}

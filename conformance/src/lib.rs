#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod case;
pub mod cases;
pub mod ctx;
pub mod embedded;
pub mod load;
pub mod proto;
pub mod report;
pub mod runner;
pub mod select;
pub mod target;

pub use case::{Case, Kind, Outcome};
pub use ctx::Settings;
pub use report::Report;
pub use runner::{Progress, RunConfig};
pub use target::Target;

/// Runs the whole catalogue against `target` and returns the report.
pub fn run_suite(target: Target, settings: Settings, config: &RunConfig) -> Report {
    let mut ctx = ctx::Ctx::new(target, settings);
    runner::run(&mut ctx, &cases::catalogue(), config)
}

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
pub mod spec_coverage;
pub mod target;
pub mod via_broker;

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

/// Runs the `--via-broker` catalogue ([`cases::broker_catalogue`]) against `target` and the
/// broker of `broker`, and returns the report.
pub fn run_via_broker(
    target: Target,
    broker: &via_broker::BrokerSettings,
    settings: Settings,
    config: &RunConfig,
) -> Result<Report, String> {
    let mut ctx = ctx::Ctx::new(target, settings);
    ctx.broker = Some(via_broker::Broker::new(broker)?);
    Ok(runner::run(&mut ctx, &cases::broker_catalogue(), config))
}

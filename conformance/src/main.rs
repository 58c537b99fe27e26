//! `hem-conformance`: runs the conformance catalogue against a HEM device or emulator.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hem_auth_core::keys::SecretKey;
use hem_conformance::embedded::{Embedded, Login, DEFAULT_PASSWORD};
use hem_conformance::load::LoadArgs;
use hem_conformance::select::{Patterns, Waivers};
use hem_conformance::target::ClientOptions;
use hem_conformance::via_broker::{BrokerSettings, Operator, Polling};
use hem_conformance::{cases, run_suite, run_via_broker, Progress, RunConfig, Settings, Target};
use hem_emulator::secret::{read_arg, SecretFlag};
use hem_emulator::AuthenticatorMode;

/// Conformance suite for the Encedo HEM external-authenticator protocol.
///
/// Without --target it starts an emulated device in process on a free loopback port and runs
/// every case against it. Exit status: 0 when no required case failed (no case at all with
/// --strict), 1 when one did, 2 on a usage or setup error. `hem-conformance load --help`
/// describes the load generator.
#[derive(Parser, Debug)]
#[command(
    name = "hem-conformance",
    version,
    after_help = SECRETS_HELP,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: Args,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The load generator: full external-authenticator logins from concurrent clients
    /// (flows per second, p50/p99 latency).
    Load(LoadArgs),
    /// Rewrites docs/spec/coverage.md (which spec sections the cases and vectors test) in the
    /// repository this binary was built from.
    SpecCoverage,
}

/// The options of a suite run (no subcommand).
#[derive(clap::Args, Debug)]
struct Args {
    /// Base URL of an external device or emulator (http:// or https://). Real devices are
    /// opt-in: the suite pairs and unpairs authenticators on them.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Accept any TLS certificate (self-signed devices). Never across an untrusted network.
    #[arg(long, conflicts_with = "cacert")]
    insecure: bool,
    /// Trust only the certificates in FILE (PEM), e.g. the device's self-signed certificate
    /// (`hem-emulator --tls --state DIR` keeps its own in DIR/tls-cert.pem).
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// How long one request may take in all, in seconds (connecting included).
    #[arg(long, value_name = "SECS", default_value_t = 15.0, value_parser = positive_secs)]
    timeout: f64,
    /// Advisory cases count as required: any failure fails the run (exit status 1).
    #[arg(long)]
    strict: bool,
    /// The device's user password (login key = PBKDF2 over the eid, 600 000 rounds). The
    /// embedded emulator's is "conformance" unless given. Prefer --password-file or
    /// HEM_PASSWORD (see below).
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
    /// Read the user password from FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "password")]
    password_file: Option<PathBuf>,
    /// The user's X25519 private key (standard base64), instead of --password. Prefer
    /// --user-key-file or HEM_USER_KEY.
    #[arg(long, value_name = "B64")]
    user_key: Option<String>,
    /// Read the user's private key from FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "user_key")]
    user_key_file: Option<PathBuf>,
    /// The emulated check-in backend's X25519 private key (standard base64): enables the
    /// check-in cases (spec §9.5). The embedded emulator gets a fresh one. Prefer
    /// --backend-key-file or HEM_BACKEND_KEY.
    #[arg(long, value_name = "B64")]
    backend_key: Option<String>,
    /// Read the backend's private key from FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "backend_key")]
    backend_key_file: Option<PathBuf>,
    /// Run only cases matching these patterns (`*` any run, `?` one character; commas or
    /// repeated flags). Prerequisites of chosen cases run too.
    #[arg(long, value_name = "PATTERN")]
    only: Vec<String>,
    /// Do not run cases matching these patterns (their dependants are skipped).
    #[arg(long, value_name = "PATTERN")]
    skip: Vec<String>,
    /// Waivers file: `id: reason` lines or a JSON object {id: reason} (see the README).
    #[arg(long, value_name = "FILE")]
    waivers: Option<PathBuf>,
    /// Where report.json and junit.xml go.
    #[arg(long, value_name = "DIR", default_value = "target/conformance")]
    report_dir: PathBuf,
    /// Print a line per case but never a progress bar.
    #[arg(long)]
    no_bar: bool,
    /// List the catalogue and exit.
    #[arg(long)]
    list: bool,
    /// Run the broker catalogue instead (ids `broker/...`): the external-authenticator flows
    /// through a notify broker, as the Manager and the SDKs run them. Without --target, the
    /// embedded emulator serves the broker too, with a virtual phone that approves.
    #[arg(long)]
    via_broker: bool,
    /// Base URL of the notify broker (`/checkin` and `/notify/...` are under it), e.g.
    /// https://api.encedo.com. Default: the target's URL (our emulator serves both).
    #[arg(long, value_name = "URL", requires = "via_broker")]
    broker: Option<String>,
    /// Base URL of the target's control API (`hem-emulator --control ADDR`): the cases that
    /// need time (nonce and token expiry, reboot) advance its clock or reboot it and run at
    /// once. The embedded emulator's is used automatically.
    #[arg(long, value_name = "URL")]
    control: Option<String>,
    /// Without a control API, wait time out where it takes about a minute (the expired login
    /// challenge, 60 s); the longer ones (authreq, pairing request, token expiry, reboot) are
    /// skipped as emulator-only.
    #[arg(long)]
    slow: bool,
}

/// The `--help` paragraph on secrets.
const SECRETS_HELP: &str = "\
Secrets: each secret can be given in a file (--password-file, --user-key-file, \
--backend-key-file) or in an environment variable (HEM_PASSWORD, HEM_USER_KEY, \
HEM_BACKEND_KEY), so that it is not on the command line, where every local user can read it \
(ps, /proc/<pid>/cmdline); --password, --user-key and --backend-key still work and print a \
warning. A flag and its -file form exclude each other and win over the environment variable, \
which is read only when neither is given. A file holds the secret alone (one final line ending \
is ignored); a missing, unreadable or empty file is an error. When both a user key and a \
password are given, the user key is used.";

/// The secret flags: `--NAME`, `--NAME-file`, the environment variable.
const PASSWORD: SecretFlag<'static> = SecretFlag {
    name: "password",
    env: Some("HEM_PASSWORD"),
};
const USER_KEY: SecretFlag<'static> = SecretFlag {
    name: "user-key",
    env: Some("HEM_USER_KEY"),
};
const BACKEND_KEY: SecretFlag<'static> = SecretFlag {
    name: "backend-key",
    env: Some("HEM_BACKEND_KEY"),
};

/// Fills `--password`, `--user-key` and `--backend-key` from their file forms or the
/// environment (warning on stderr for a value given on the command line).
fn read_secrets(args: &mut Args) -> Result<(), String> {
    let program = "hem-conformance";
    args.password = read_arg(
        program,
        &PASSWORD,
        args.password.take(),
        args.password_file.as_deref(),
    )?;
    args.user_key = read_arg(
        program,
        &USER_KEY,
        args.user_key.take(),
        args.user_key_file.as_deref(),
    )?;
    args.backend_key = read_arg(
        program,
        &BACKEND_KEY,
        args.backend_key.take(),
        args.backend_key_file.as_deref(),
    )?;
    Ok(())
}

/// A `--timeout` value: seconds, more than zero, at most a day.
fn positive_secs(text: &str) -> Result<f64, String> {
    let secs: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 {
        Ok(secs)
    } else {
        Err("must be more than 0 and at most 86400 seconds".into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Load(load)) => return hem_conformance::load::run_cli(load),
        Some(Command::SpecCoverage) => return spec_coverage(),
        None => cli.run,
    };
    if args.list {
        for c in catalogue(&args) {
            println!(
                "{:<40} {:<8} {} {}{}  [{}]",
                c.id,
                c.kind.as_str(),
                c.expected,
                c.title,
                if c.required { "" } else { " (advisory)" },
                c.spec
            );
        }
        return ExitCode::SUCCESS;
    }
    let mut args = args;
    if let Err(e) = read_secrets(&mut args) {
        eprintln!("hem-conformance: {e}");
        return ExitCode::from(2);
    }
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("hem-conformance: {e}");
            ExitCode::from(2)
        }
    }
}

/// The catalogue the arguments choose.
fn catalogue(args: &Args) -> Vec<hem_conformance::Case> {
    if args.via_broker {
        cases::broker_catalogue()
    } else {
        cases::catalogue()
    }
}

fn key_arg(name: &str, text: Option<&str>) -> Result<Option<SecretKey>, String> {
    text.map(|t| SecretKey::from_b64(t).map_err(|e| format!("--{name}: {e}")))
        .transpose()
}

fn run(args: Args) -> Result<bool, String> {
    let waivers = match &args.waivers {
        Some(path) => Waivers::load(path)?,
        None => Waivers::default(),
    };
    let config = RunConfig {
        only: Patterns::parse(&args.only),
        skip: Patterns::parse(&args.skip),
        waivers,
        progress: if args.no_bar {
            Progress::Lines
        } else {
            Progress::Auto
        },
        strict: args.strict,
    };
    let mut client = ClientOptions {
        insecure: args.insecure,
        ca_pem: match &args.cacert {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("--cacert {}: {e}", path.display()))?,
            ),
            None => None,
        },
        timeout: Some(std::time::Duration::from_secs_f64(args.timeout)),
    };
    let catalogue = catalogue(&args);
    let ids: Vec<&str> = catalogue.iter().map(|c| c.id).collect();
    for p in config
        .only
        .unmatched(&ids)
        .into_iter()
        .chain(config.skip.unmatched(&ids))
    {
        eprintln!("warning: pattern {p:?} matches no case");
    }
    for w in config.waivers.unmatched(&ids) {
        eprintln!("warning: waiver {w:?} matches no case");
    }
    let (embedded, target, settings) = match &args.target {
        Some(url) => {
            let settings = Settings {
                password: args.password.clone(),
                user_secret: key_arg("user-key", args.user_key.as_deref())?,
                backend_secret: key_arg("backend-key", args.backend_key.as_deref())?,
                control: args.control.clone(),
                slow: args.slow,
            };
            (None, Target::with_options(url, &client)?, settings)
        }
        // Without --target: an emulator in process, RTC unset, with a backend key we hold.
        None => {
            if args.backend_key.is_some() {
                return Err(
                    "--backend-key needs --target (the embedded emulator makes its own)".into(),
                );
            }
            let login = match key_arg("user-key", args.user_key.as_deref())? {
                Some(key) => Login::Key(key),
                None => Login::Password(
                    args.password
                        .clone()
                        .unwrap_or_else(|| DEFAULT_PASSWORD.to_string()),
                ),
            };
            let e = if args.via_broker {
                // The phone's defaults: 15 minutes, read-only (spec §5.7).
                Embedded::start_broker(
                    login,
                    AuthenticatorMode::Approve {
                        period_secs: hem_conformance::ctx::APPROVAL_SECS,
                        writable: false,
                    },
                )?
            } else {
                Embedded::start(login, hem_emulator::Faults::default())?
            };
            client.ca_pem = e.client_options().ca_pem;
            let target = Target::with_options(&e.emulator.url(), &client)?;
            let mut settings = e.settings.clone();
            settings.slow = args.slow;
            if args.control.is_some() {
                return Err("--control needs --target (the embedded emulator has its own)".into());
            }
            (Some(e), target, settings)
        }
    };
    // One request first, so an unreachable target is a setup error, not a wall of failures;
    // its answer goes into the report.
    let version = match target.get("/api/system/version", hem_conformance::target::Auth::None) {
        Ok(answer) => serde_json::from_slice::<serde_json::Value>(&answer.body).ok(),
        Err(e) => return Err(format!("cannot reach the target: {e:?}")),
    };
    let against = match &embedded {
        Some(_) => format!("the embedded emulator at {}", target.base()),
        None => target.base().to_string(),
    };
    let report = if args.via_broker {
        let url = args
            .broker
            .clone()
            .unwrap_or_else(|| target.base().to_string());
        // The broker gets --insecure and --cacert only when it is the target itself.
        let same = url.trim_end_matches('/') == target.base();
        let broker = BrokerSettings {
            client: ClientOptions {
                insecure: client.insecure && same,
                ca_pem: client.ca_pem.clone().filter(|_| same),
                timeout: client.timeout,
            },
            url,
            polling: Polling::CLIENTS,
            // A person holds the phone unless the embedded emulator's virtual one answers.
            operator: if embedded.is_some() {
                Operator::Quiet
            } else {
                Operator::Stderr
            },
        };
        println!(
            "hem-conformance: {} broker cases against {against} via the broker at {}",
            ids.len(),
            broker.url
        );
        run_via_broker(target, &broker, settings, &config)?
    } else {
        println!("hem-conformance: {} cases against {against}", ids.len());
        run_suite(target, settings, &config)
    };
    drop(embedded);
    let mut report = report;
    report.target_version = version;
    print!("\n{}", report.summary_table());
    let (json, junit) = report.write(&args.report_dir)?;
    println!("reports: {} {}", json.display(), junit.display());
    Ok(report.passed())
}

fn spec_coverage() -> ExitCode {
    use hem_conformance::spec_coverage::{generate, repo_root, COVERAGE_FILE};
    let root = repo_root();
    match generate(&root).and_then(|text| {
        std::fs::write(root.join(COVERAGE_FILE), text).map_err(|e| format!("{COVERAGE_FILE}: {e}"))
    }) {
        Ok(()) => {
            println!("wrote {}", root.join(COVERAGE_FILE).display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hem-conformance spec-coverage: {e}");
            ExitCode::from(2)
        }
    }
}

//! `hem-vectors`: checks `hem-auth-vectors/1` files against the real role code, and regenerates
//! the project's own vector files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "hem-vectors", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every test of every FILE; exit 0 only if nothing failed.
    Verify {
        /// Count a skipped test (unknown kind) as a failure.
        #[arg(long)]
        strict: bool,
        /// List every test with its verdict (and, for invalid tests, the rejection).
        #[arg(long, short)]
        verbose: bool,
        /// Vector files (`hem-auth-vectors/1` JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Regenerate the project's own vector files, deterministically, into OUT_DIR, and convert
    /// the published artefacts into OUT_DIR/interop/.
    Generate {
        /// Where to write the files (created if missing); the repository's is `vectors`.
        out_dir: PathBuf,
        /// Where the published artefacts are (`vectors/interop/published` in the repository).
        /// Default: OUT_DIR/interop/published, when that directory exists; without it only the
        /// project's own files are written.
        #[arg(long, value_name = "PUBLISHED_DIR")]
        interop: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Verify {
            strict,
            verbose,
            files,
        } => {
            let report = hem_auth_vectors::verify_paths(&files, strict);
            if verbose {
                print!("{}", hem_auth_vectors::report::Listing(&report));
                println!();
            }
            println!("{report}");
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Generate { out_dir, interop } => {
            let interop = interop.or_else(|| {
                let default = out_dir.join("interop").join("published");
                if default.is_dir() {
                    Some(default)
                } else {
                    eprintln!(
                        "hem-vectors generate: no {}: the interop files are not written",
                        default.display()
                    );
                    None
                }
            });
            let result = hem_auth_vectors::generate::write_all(&out_dir).and_then(|written| {
                let mut written = written;
                if let Some(dir) = interop {
                    written.extend(hem_auth_vectors::generate::interop::write_all(
                        &dir,
                        &out_dir.join("interop"),
                    )?);
                }
                Ok(written)
            });
            match result {
                Ok(written) => {
                    for (path, cases) in written {
                        println!("{}: {cases} tests", path.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("hem-vectors generate: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

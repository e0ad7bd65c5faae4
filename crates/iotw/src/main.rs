//! `iotw`: Integration On The Wire.

mod capture_cmd;
mod discover_cmd;
mod fireman_cmd;
mod fireman_run;
mod follow_cmd;
mod genesys_cmd;
mod search_cmd;
mod setup_cmd;
mod simulate_cmd;

use iotw::{config, pipeline, simulate};

use clap::{Parser, Subcommand};

// Documents are many small allocations made on one thread and freed on another: mimalloc
// handles that pattern far better than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "iotw", version, about = "Watches a contact centre's network and turns it into searchable events.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read capture files or live interfaces, decode, and store or print the documents.
    Capture(capture_cmd::CaptureArgs),
    /// Describe the estate from its traffic: hosts, services, versions, who talks to whom;
    /// write a report and a configuration for capture mode.
    Discover(discover_cmd::DiscoverArgs),
    /// Write the reassembled payload of TCP streams (Follow TCP Stream).
    Follow(follow_cmd::FollowArgs),
    /// Search the embedded store.
    Search(search_cmd::SearchArgs),
    /// Install index templates and a lifecycle policy on Elasticsearch/OpenSearch.
    Setup(setup_cmd::SetupArgs),
    /// Write the traffic of a simulated contact centre (SYNTHETIC): SIP and T-Library.
    Simulate(simulate_cmd::SimulateArgs),
    /// Alert rules (ElastAlert 2 format): check them, or backtest them on a capture.
    #[command(subcommand)]
    Fireman(fireman_cmd::FiremanCmd),
    /// Genesys wire-profile tools: calibrate.
    #[command(subcommand)]
    Genesys(genesys_cmd::GenesysCmd),
    /// Check or print the configuration file.
    #[command(subcommand)]
    Config(ConfigCmd),
}

#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Check a configuration file; every mistake names its line and key.
    Check {
        /// The TOML file to check.
        file: PathBuf,
    },
    /// Print the default configuration, every key documented.
    Default,
}

/// An error with its causes, joined by ": ", for one-line messages.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Turns transparent huge pages off for this process, before anything is allocated. The heap
/// is many small documents made and freed in turn: with huge pages, every first touch of a
/// region zeroes 2 MiB, which more than doubled resident memory (37 MiB instead of 14 MiB on
/// the SIP benchmark capture) and made the time spent clearing pages swing from 2 % to 18 %
/// of a run. It runs as a constructor because the Rust runtime allocates before `main`: from
/// `main`, the heap's first region had already been touched, as one huge page.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
extern "C" fn no_huge_pages() {
    // SAFETY: prctl(PR_SET_THP_DISABLE) takes plain integers and touches no memory of ours;
    // when the kernel refuses it, nothing changes, which is harmless.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Runs [`no_huge_pages`] with the process's other constructors, before the runtime starts.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
#[used]
#[link_section = ".init_array"]
static NO_HUGE_PAGES: extern "C" fn() = no_huge_pages;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Discover(a) => {
            return match discover_cmd::run(a) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("iotw: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Capture(a) => capture_cmd::run(a),
        Command::Search(a) => search_cmd::run(a),
        Command::Setup(a) => setup_cmd::run(a),
        Command::Simulate(a) => simulate_cmd::run(a),
        Command::Genesys(c) => genesys_cmd::run(c),
        Command::Fireman(c) => fireman_cmd::run(c),
        Command::Follow(a) => follow_cmd::run(a),
        Command::Config(ConfigCmd::Default) => {
            print!("{}", config::EXAMPLE);
            Ok(())
        }
        Command::Config(ConfigCmd::Check { file }) => config::load(&file).map(|_| println!("{}: OK", file.display())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iotw: {e:#}");
            ExitCode::FAILURE
        }
    }
}

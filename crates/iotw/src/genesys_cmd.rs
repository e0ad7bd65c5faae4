//! `iotw genesys ...`: tools for the Genesys wire profile (docs/genesys.md).

use crate::config::Config;
use crate::follow_cmd::{follow, Piece};
use anyhow::{bail, Context, Result};
use iotw_capture::{CaptureFile, FileLimits};
use iotw_decode::genesys::calibrate::{calibrate, StreamPair, Verdict};
use iotw_flow::Dir;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum GenesysCmd {
    /// Find the wire profile a site speaks from a capture and the T-Server log of the same
    /// period; report each field as confirmed or undetermined and write the best profile.
    Calibrate(CalibrateArgs),
}

#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// Capture of T-Library traffic (pcap or pcapng).
    #[arg(long, value_name = "FILE")]
    pub pcap: PathBuf,
    /// The T-Server / SIP Server log covering the same period.
    #[arg(long, value_name = "FILE")]
    pub log: PathBuf,
    /// The profile to start from (default: the built-in one).
    #[arg(long, value_name = "TOML")]
    pub profile: Option<PathBuf>,
    /// Where to write the calibrated profile.
    #[arg(short = 'o', long, value_name = "TOML")]
    pub out: Option<PathBuf>,
}

/// The reassembled directions of every TCP stream, up to the first gap in each.
fn streams(pcap: &std::path::Path) -> Result<Vec<StreamPair>> {
    let file = CaptureFile::open(pcap, 0, FileLimits::default()).with_context(|| pcap.display().to_string())?;
    let filter = iotw_capture::filter::parse("tcp")?;
    let mut out = Vec::new();
    for f in follow(vec![file], &Config::default(), &filter, None, &Default::default())? {
        let mut s = StreamPair { label: format!("{} <-> {}", f.orig, f.resp), ..StreamPair::default() };
        let mut gap = [false, false];
        for piece in f.pieces {
            match piece {
                Piece::Data(d, bytes) if !gap[d.index()] => {
                    if d == Dir::Orig { &mut s.client } else { &mut s.server }.extend_from_slice(&bytes)
                }
                Piece::Data(..) => {}
                Piece::Gap(d, _) => gap[d.index()] = true,
            }
        }
        out.push(s);
    }
    Ok(out)
}

pub fn run(cmd: GenesysCmd) -> Result<()> {
    let GenesysCmd::Calibrate(a) = cmd;
    let start = crate::simulate_cmd::load_profile(a.profile.as_ref())?;
    let text = std::fs::read_to_string(&a.log).with_context(|| format!("reading {}", a.log.display()))?;
    let log = iotw_decode::genesys::log::parse(&text);
    if log.is_empty() {
        bail!("{}: no T-Library messages found in the log", a.log.display());
    }
    let streams = streams(&a.pcap)?;
    let r = calibrate(&streams, &log, &start);
    println!(
        "calibration: {} TCP streams, {} packets framed, {} messages in the log, {} matched",
        streams.len(),
        r.packets,
        r.logged,
        r.matched
    );
    let Some(profile) = r.profile else {
        println!("undetermined: the capture and the log share too few messages (are they from the same period and server?); no profile written");
        return Ok(());
    };
    println!("{:<32} {:<10} {:<14} was", "field", "site", "verdict");
    for f in &r.fields {
        let verdict = match (&f.verdict, f.value == f.start_value) {
            (Verdict::Confirmed, true) => "confirmed",
            (Verdict::Confirmed, false) => "contradicted",
            (Verdict::Undetermined, _) => "undetermined",
        };
        println!(
            "{:<32} {:<10} {:<14} {} (best other value: {} matched)",
            f.field, f.value, verdict, f.start_value, f.runner_up
        );
    }
    for (id, kind) in &r.kinds {
        let name = iotw_decode::genesys::tables::AttributeId(*id);
        println!(
            "kinds.{id} ({name}): the log prints it as {kind:?}, the profile said {:?}: corrected",
            start.kind(*id)
        );
    }
    match &a.out {
        Some(path) => {
            let text = format!(
                "# Written by `iotw genesys calibrate` from {} and {}: {} of {} logged messages matched.\n# Fields reported undetermined kept the starting profile's value.\n{}",
                a.pcap.display(),
                a.log.display(),
                r.matched,
                r.logged,
                profile.to_text()
            );
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            println!("profile written to {}", path.display());
        }
        None => println!("(give -o FILE to write the profile)"),
    }
    Ok(())
}

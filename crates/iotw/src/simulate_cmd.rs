//! `iotw simulate`: writes a synthetic contact centre's traffic (see `simulate/`).

use crate::simulate::{simulate, SimConfig};
use anyhow::{Context, Result};
use iotw_decode::genesys::WireProfile;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The capture to write (pcapng).
    #[arg(short = 'w', long = "out", value_name = "PCAPNG")]
    pub out: PathBuf,
    /// Also write the ground truth: every message put on the wire, as NDJSON.
    #[arg(long, value_name = "NDJSON")]
    pub truth: Option<PathBuf>,
    /// Also write the SIP Server's T-Server log of the same period (public text format).
    #[arg(long, value_name = "LOG")]
    pub log: Option<PathBuf>,
    /// Agents (each with a desktop T-Lib connection and a SIP phone).
    #[arg(long, default_value_t = 20)]
    pub agents: usize,
    /// Inbound calls offered per hour (an agent handles about 24 an hour).
    #[arg(long, default_value_t = 300)]
    pub calls_per_hour: u32,
    /// Simulated time, e.g. 10m, 1h.
    #[arg(long, default_value = "10m")]
    pub duration: String,
    /// Percent of callers who hang up when they have to wait.
    #[arg(long, default_value_t = 30)]
    pub abandon_percent: u32,
    /// Outbound preview records per hour (OCS desktop protocol over T-Lib; 0: none).
    #[arg(long, default_value_t = 60)]
    pub previews_per_hour: u32,
    /// Seed: the same seed and arguments give the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The wire profile to speak (default: the built-in inferred profile).
    #[arg(long, value_name = "TOML")]
    pub profile: Option<PathBuf>,
    /// The version the SIP Server announces to its clients.
    #[arg(long, value_name = "VERSION", default_value = iotw::simulate::SERVER_VERSION)]
    pub server_version: String,
    /// Another T-Lib client application, NAME@IPv4, that registers with the SIP Server and
    /// stays connected (repeatable): a component added to the site.
    #[arg(long = "add-client", value_name = "NAME@IP")]
    pub add_client: Vec<String>,
}

pub fn load_profile(path: Option<&PathBuf>) -> Result<WireProfile> {
    match path {
        None => Ok(WireProfile::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            WireProfile::parse(&text).with_context(|| p.display().to_string())
        }
    }
}

pub fn run(a: SimulateArgs) -> Result<()> {
    let profile = load_profile(a.profile.as_ref())?;
    let duration = iotw_event::parse_duration(&a.duration).map_err(|e| anyhow::anyhow!("--duration: {e}"))?;
    let cfg = SimConfig {
        agents: a.agents.clamp(1, 200),
        calls_per_hour: a.calls_per_hour,
        duration,
        seed: a.seed,
        abandon_percent: a.abandon_percent.min(100),
        previews_per_hour: a.previews_per_hour,
        server_version: a.server_version.clone(),
        extra_clients: a
            .add_client
            .iter()
            .map(|c| {
                let (name, ip) = c
                    .split_once('@')
                    .filter(|(n, _)| !n.is_empty())
                    .ok_or_else(|| anyhow::anyhow!("--add-client {c}: give NAME@IP, e.g. StatServer_2@10.10.0.31"))?;
                let ip = ip.parse().map_err(|_| anyhow::anyhow!("--add-client {c}: {ip} is not an IPv4 address"))?;
                Ok((name.to_owned(), ip))
            })
            .collect::<Result<Vec<_>>>()?,
        ..SimConfig::default()
    };
    let create = |p: &PathBuf| -> Result<BufWriter<File>> {
        Ok(BufWriter::new(File::create(p).with_context(|| format!("creating {}", p.display()))?))
    };
    let pcap = create(&a.out)?;
    let truth = a.truth.as_ref().map(create).transpose()?;
    let log = a.log.as_ref().map(create).transpose()?;
    let r = simulate(&cfg, &profile, pcap, truth, log).context("writing the simulated site")?;
    eprintln!(
        "iotw simulate: {} packets, {} bytes -> {} (SYNTHETIC)\n  {} calls ({} answered, {} abandoned), {} T-Lib messages, {} SIP messages, {} keep-alives; profile {}",
        r.packets,
        r.bytes,
        a.out.display(),
        r.calls,
        r.answered,
        r.abandoned,
        r.tlib_messages,
        r.sip_messages,
        r.keepalives,
        profile.name
    );
    Ok(())
}

//! `iotw setup`: installs the index templates (explicit mappings for every field of
//! docs/events.md) and the lifecycle policy (ILM on Elasticsearch, ISM on OpenSearch) on the
//! cluster of `[elasticsearch]`, and reports what the server refused.

use crate::config::{self, Config};
use anyhow::{bail, Context, Result};
use iotw_ship::elastic::Elastic;
use iotw_ship::templates::{index_template, DATASETS, EVENTS_MD};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// Configuration file (`[elasticsearch]`: URLs, authentication, index mode and prefix).
    #[arg(short = 'c', long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Delete indices older than this many days (ILM or ISM policy); 0: no policy.
    #[arg(long, default_value_t = 30)]
    retention_days: u32,
    /// Print the index templates as JSON (one per line) instead of installing anything.
    #[arg(long)]
    print: bool,
}

pub fn run(a: SetupArgs) -> Result<()> {
    let cfg = match &a.config {
        Some(p) => config::load(p)?,
        None => Config::default(),
    };
    let es_cfg = cfg.elastic();
    if a.print {
        let (prefix, ds) = match &es_cfg.index {
            iotw_ship::elastic::IndexMode::Daily { prefix } => (prefix.clone(), false),
            iotw_ship::elastic::IndexMode::DataStream { prefix } => (prefix.clone(), true),
        };
        for d in DATASETS {
            let t = index_template(EVENTS_MD, &prefix, d, ds, None);
            println!("{}", serde_json::json!({"name": format!("{prefix}-{d}"), "template": t}));
        }
        return Ok(());
    }
    let es = Elastic::new(es_cfg, Arc::new(iotw_ship::ShipCounters::default())).context("[elasticsearch]")?;
    let flavour = es.detect().context("reaching the cluster")?;
    println!("{flavour} ({})", cfg.elasticsearch.urls.join(", "));
    let steps = es.setup(&flavour, a.retention_days);
    for s in &steps {
        println!("{} {}: {}", if s.ok { "ok      " } else { "REFUSED " }, s.what, s.detail);
    }
    let refused = steps.iter().filter(|s| !s.ok).count();
    if refused > 0 {
        bail!("the server refused {refused} of {} steps (listed above)", steps.len());
    }
    Ok(())
}

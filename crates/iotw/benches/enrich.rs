//! Enrichment benchmark (not a test): the documents of a simulated site (`iotw simulate`: SIP,
//! T-Library, calls, journeys and flows, with numbers and postcodes), made once without
//! enrichment, then enriched again and again, per stage and all together:
//!   - IP geolocation (MaxMind's City and ASN test databases, and a site table row),
//!   - geotagging (phone numbers and postcodes),
//!   - masking with the `standard` preset,
//!   - the whole chain in its order.
//!
//! Each figure is nanoseconds per document, median of RUNS (copying the documents is not
//! timed), two ways:
//!   - single pass: each run enriches the site's documents once with new enrichers, whose
//!     memories (of numbers, addresses, masked strings) fill from the same traffic as they go,
//!     as in a live capture, where most strings and numbers are seen for the first time once;
//!   - replayed: the same enrichers enrich the same documents again and again, so everything
//!     they remember is known from the run before (a lower bound, not what a capture sees).
//!
//! `cargo bench -p iotw --bench enrich -- [RUNS]`  (run by `scripts/bench.sh`); `ONLY=mask`
//! (a stage's first word) measures one stage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use iotw::config::{EnrichCfg, SiteCfg};
use iotw_event::Event;
use std::path::Path;
use std::time::Instant;

/// Nanoseconds per document of a chain made by `chain` over copies of `docs`, median of
/// `runs`: with a new chain for each run when `fresh`, else with one for all. As in the
/// pipeline, documents go in batches of 256 (`output.batch_size`) that were just written (so
/// they are in the CPU caches), and their buffers are reused from batch to batch (no
/// first-touch page faults, which a steady run does not have either). Copying a batch and
/// making a chain are not timed.
fn measure(docs: &[Event], runs: usize, fresh: bool, chain: impl Fn() -> iotw_enrich::Chain) -> f64 {
    const BATCH: usize = 256;
    let mut per_doc = Vec::new();
    let mut batch: Vec<Event> = docs.iter().take(BATCH).cloned().collect();
    let mut c = chain();
    for run in 0..=runs {
        if fresh && run > 0 {
            c = chain();
        }
        let mut spent = std::time::Duration::ZERO;
        for chunk in docs.chunks(BATCH) {
            batch.truncate(chunk.len());
            let n = batch.len();
            batch.clone_from_slice(&chunk[..n]);
            batch.extend(chunk[n..].iter().cloned());
            let t = Instant::now();
            c.apply(&mut batch);
            spent += t.elapsed();
            std::hint::black_box(&batch);
        }
        // The first run only warms the buffers (and, replayed, the enrichers' memories).
        if run > 0 {
            per_doc.push(spent.as_nanos() as f64 / docs.len() as f64);
        }
    }
    per_doc.sort_by(f64::total_cmp);
    per_doc[per_doc.len() / 2]
}

fn main() {
    let runs: usize = std::env::args().skip(1).find(|a| !a.starts_with('-')).and_then(|a| a.parse().ok()).unwrap_or(7);
    let docs = common::site_documents();
    let mut by_dataset = std::collections::BTreeMap::new();
    for d in &docs {
        *by_dataset.entry(d.dataset).or_insert(0) += 1;
    }
    println!("{} documents of a simulated site (30 min, 40 agents): {by_dataset:?}", docs.len());
    let bytes: usize = docs.iter().map(|d| d.to_json().len()).sum();
    println!("mean document size {} bytes", bytes / docs.len());

    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/geo/maxmind-test");
    let site =
        SiteCfg { cidr: "10.10.0.0/16".into(), name: "contact centre".into(), lat: Some(53.8), lon: Some(-1.55) };
    let ip = {
        let mut c = EnrichCfg { geotag: false, ..Default::default() };
        c.ip.city_databases = vec![testdata.join("GeoIP2-City-Test.mmdb")];
        c.ip.asn_databases = vec![testdata.join("GeoLite2-ASN-Test.mmdb")];
        c.sites = vec![site.clone()];
        c
    };
    let geotag = EnrichCfg::default();
    let mask = {
        let mut c = EnrichCfg { geotag: false, ..Default::default() };
        c.mask.preset = "standard".into();
        c.mask.secret = "bench".into();
        c
    };
    let all = {
        let mut c = ip.clone();
        c.geotag = true;
        c.mask = mask.mask.clone();
        c
    };
    // Per dataset, with DETAIL set.
    if std::env::var("DETAIL").is_ok() {
        for ds in ["sip", "genesys", "call", "flow", "journey"] {
            let sub: Vec<Event> = docs.iter().filter(|d| d.dataset == ds).cloned().collect();
            for (name, cfg) in [("ip", &ip), ("geotag", &geotag), ("mask", &mask)] {
                let chain = || iotw::enrichment::build(cfg).unwrap();
                println!(
                    "{ds} {name}: {:.0} ns single pass, {:.0} ns replayed",
                    measure(&sub, runs, true, chain),
                    measure(&sub, runs, false, chain)
                );
            }
        }
    }
    for (name, cfg) in [
        ("IP geolocation", &ip),
        ("geotag (phones, postcodes)", &geotag),
        ("mask (standard)", &mask),
        ("all, in order", &all),
    ] {
        if std::env::var("ONLY").is_ok_and(|only| !name.starts_with(&only)) {
            continue;
        }
        let chain = || iotw::enrichment::build(cfg).unwrap();
        let single = measure(&docs, runs, true, chain);
        let replayed = measure(&docs, runs, false, chain);
        println!("{name}: {single:.0} ns per document single pass, {replayed:.0} ns replayed (medians of {runs})");
    }
}

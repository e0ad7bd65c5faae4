//! Fireman benchmark (not a test): 100 rules with filters — a mix of the seven types, their
//! filters term, terms, range, exists, wildcard, bool and query_string over SIP, call,
//! T-Library and flow fields — evaluated in the stream over the documents of a simulated site
//! (made once, without enrichment). The figure is documents per second on one core (every
//! document through all 100 rules), median of RUNS; each run starts with fresh rule state.
//!
//! `cargo bench -p iotw --bench fireman -- [RUNS]`  (run by `scripts/bench.sh`)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Instant;

/// The 100 rules: 15 shapes, each with several values.
fn rules() -> Vec<iotw_fireman::Rule> {
    let mut yaml = Vec::new();
    for i in 0..100 {
        let dn = 5001 + i % 40;
        let code = [486, 503, 404, 480, 603][i % 5];
        let r = match i % 10 {
            0 => format!("type: any\nfilter:\n- term: {{genesys.message.name: EventAbandoned}}\n- term: {{genesys.this_dn: \"{dn}\"}}\n"),
            1 => format!("type: frequency\nnum_events: 5\ntimeframe: {{minutes: 1}}\nquery_key: source.ip\nfilter:\n- term: {{sip.code: {code}}}\n"),
            2 => "type: spike\ntimeframe: {minutes: 5}\nspike_height: 3\nspike_type: both\nthreshold_cur: 5\nfilter:\n- terms: {genesys.message.name: [EventAbandoned, EventReleased]}\n".to_string(),
            3 => "type: flatline\nthreshold: 1\ntimeframe: {minutes: 2}\nquery_key: destination.ip\nfilter:\n- query_string: {query: \"sip.method:INVITE AND NOT sip.type:response\"}\n".to_string(),
            4 => "type: blacklist\ncompare_key: sip.from.uri.username\nblacklist: [\"07700900666\", \"01134960999\"]\nfilter:\n- exists: {field: sip.from}\n".to_string(),
            5 => "type: whitelist\ncompare_key: sip.user_agent.original\nignore_null: true\nwhitelist: [\"iotw-sim SIP Server\"]\n".to_string(),
            6 => "type: change\nquery_key: genesys.this_dn\ncompare_key: source.ip\nignore_null: true\nfilter:\n- term: {genesys.message.name: EventAgentLogin}\n".to_string(),
            7 => format!("type: frequency\nnum_events: 20\ntimeframe: {{minutes: 5}}\nfilter:\n- range: {{call.answer_delay: {{gte: {}}}}}\n", 1_000_000_000 * (i as u64 % 7 + 1)),
            8 => format!("type: any\nfilter:\n- wildcard: {{genesys.this_dn: \"50{}*\"}}\n- bool: {{must_not: [{{term: {{genesys.message.name: EventRinging}}}}]}}\n", i % 10),
            _ => "type: frequency\nnum_events: 50\ntimeframe: {minutes: 1}\nquery_key: network.transport\nfilter:\n- term: {event.dataset: flow}\n".to_string(),
        };
        yaml.push(format!("name: r{i}\nrealert: {{minutes: 1}}\n{r}"));
    }
    yaml.iter().map(|y| iotw_fireman::parse(y, Path::new("bench.yaml")).expect("bench rule")).collect()
}

fn main() {
    let runs: usize = std::env::args().skip(1).find(|a| !a.starts_with('-')).and_then(|a| a.parse().ok()).unwrap_or(5);
    // As in a capture run with rules, the documents record their containers (see
    // `iotw_event::keep_extents`).
    iotw_event::keep_extents(true);
    let docs = common::site_documents();
    println!("{} documents of a simulated site (30 min, 40 agents); 100 rules", docs.len());
    let mut rates = Vec::new();
    let mut alerts = 0;
    for _ in 0..runs {
        let mut stage = iotw_fireman::Stage::new(rules());
        let mut batch: Vec<iotw_event::Event> = Vec::with_capacity(256 + 64);
        let mut spent = std::time::Duration::ZERO;
        for chunk in docs.chunks(256) {
            batch.clear();
            batch.extend(chunk.iter().cloned());
            let t = Instant::now();
            stage.observe(&mut batch);
            spent += t.elapsed();
        }
        alerts = stage.alerts;
        rates.push(docs.len() as f64 / spent.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!("alerts raised per run: {alerts}");
    println!(
        "in-stream evaluation: {:.0} documents/s per core (median of {runs}; target 500,000)",
        rates[rates.len() / 2]
    );
}

//! `iotw fireman run`: the rules against Elasticsearch/OpenSearch, for a central deployment.
//! Every `run_every` the documents indexed since the last round (up to `now - query_delay`)
//! are read in `@timestamp` order and fed to the same stage as capture mode's, so a rule means
//! the same in both places. Alerts are indexed back as documents and sent to the rules'
//! alerters.
//!
//! High availability: instances share a lease document in the state index, taken and renewed
//! with optimistic concurrency (`if_seq_no`/`if_primary_term`), so only one of them runs the
//! rules at a time. The one that holds it saves the rules' memory and how far it has read after
//! every round, so another that takes over carries on with the same windows, baselines and
//! realert timers, from where it stopped.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use iotw_event::{Event, Nanos};
use iotw_ship::elastic::Elastic;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Rule files or folders.
    #[arg(required = true)]
    pub rules: Vec<PathBuf>,
    /// Configuration file: `[elasticsearch]` says where the cluster is and how to log in.
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The cluster's URL (instead of the configuration's; repeatable).
    #[arg(long, value_name = "URL")]
    pub url: Vec<String>,
    /// Indices searched (a pattern).
    #[arg(long, default_value = "iotw-*")]
    pub index: String,
    /// How often to look for new documents.
    #[arg(long, default_value = "1m")]
    pub run_every: String,
    /// Documents younger than this are left for the next round (time for them to be indexed).
    #[arg(long, default_value = "0s")]
    pub query_delay: String,
    /// Each round also reads again this far back (ElastAlert's `buffer_time`): a document
    /// indexed later than `--query-delay` after its `@timestamp` is still seen, once (default:
    /// no going back).
    #[arg(long, default_value = "0s")]
    pub buffer_time: String,
    /// Where to start reading when nothing was saved before: an RFC 3339 time (default: now).
    #[arg(long)]
    pub from: Option<String>,
    /// Stop once every document up to this RFC 3339 time has been read.
    #[arg(long)]
    pub until: Option<String>,
    /// The index holding the lease, the rules' memory and how far they have read.
    #[arg(long, default_value = "iotw-fireman-state")]
    pub state_index: String,
    /// This instance's name in the lease (default: host name and process id).
    #[arg(long)]
    pub name: Option<String>,
    /// How long a lease lasts unless renewed (default: three rounds).
    #[arg(long)]
    pub lease: Option<String>,
    /// Print the alert documents as NDJSON on standard output.
    #[arg(long)]
    pub ndjson: bool,
}

/// Documents read per search.
const PAGE: usize = 1000;
/// The most documents one search may return when many share one timestamp.
const MAX_PAGE: usize = 10_000;

fn dur(s: &str, what: &str) -> Result<Nanos> {
    iotw_event::parse_duration(s).map_err(|e| anyhow::anyhow!("--{what}: {e}"))
}

fn time(s: &str, what: &str) -> Result<Nanos> {
    iotw_event::parse_time(s, 0).map_err(|e| anyhow::anyhow!("--{what}: {e}"))
}

/// Where reading has got to: the newest `@timestamp` read, and the ids read at that time (the
/// next search starts at that time again and skips them).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
struct Cursor {
    ts: Nanos,
    ids: Vec<String>,
    /// The end of the last run counted for the rules fed counts (`use_count_query`,
    /// `use_terms_query`).
    #[serde(default)]
    counted: Option<Nanos>,
}

pub fn run(a: RunArgs, stop: Arc<AtomicBool>) -> Result<()> {
    let mut cfg = match &a.config {
        Some(p) => crate::config::load(p)?,
        None => Config::default(),
    };
    if !a.url.is_empty() {
        cfg.elasticsearch.urls = a.url.clone();
    }
    if cfg.elasticsearch.urls.is_empty() {
        bail!("no cluster: give --url or [elasticsearch] urls in -c");
    }
    let every = dur(&a.run_every, "run-every")?;
    let delay = dur(&a.query_delay, "query-delay")?;
    let buffer = dur(&a.buffer_time, "buffer-time")?;
    let lease = match &a.lease {
        Some(l) => dur(l, "lease")?,
        None => every.saturating_mul(3),
    };
    let until = a.until.as_deref().map(|u| time(u, "until")).transpose()?;
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "iotw".into());
    let name = a.name.clone().unwrap_or_else(|| format!("{host}:{}", std::process::id()));
    let mut rules = Vec::new();
    for p in &a.rules {
        rules.extend(iotw_fireman::load_all(p)?);
    }
    let es = Elastic::new(cfg.elastic(), Default::default()).context("[elasticsearch]")?;
    let index_mode = cfg.elastic().index;
    // Rules read the index their file names (`index:`), else --index: one stage per index,
    // each with its own read position and memory.
    let mut groups: Vec<Group> = Vec::new();
    for r in rules {
        let index = r.index.clone().unwrap_or_else(|| a.index.clone());
        match groups.iter_mut().find(|g| g.index == index) {
            Some(g) => g.rules.push(r),
            None => {
                let state_id = if index == a.index {
                    "state".to_string()
                } else {
                    format!("state-{:016x}", iotw_fireman::rule::fnv1a(index.as_bytes()))
                };
                groups.push(Group {
                    index,
                    state_id,
                    rules: vec![r],
                    stage: None,
                    cursor: Cursor::default(),
                    by_count: Vec::new(),
                    late: Late { buffer, ..Default::default() },
                });
            }
        }
    }
    let from = a.from.as_deref().map(|f| time(f, "from")).transpose()?;
    let mut leading = false;
    // Where the lease stood when last written by this instance (to give it up at the end).
    let mut lease_at: Option<(u64, u64)> = None;
    let mut written = 0u64;
    loop {
        let round = std::time::Instant::now();
        match take_lease(&es, &a.state_index, &name, lease)? {
            Lease::Held(_) => {
                if !leading {
                    // Leader now: carry on from what the last leader saved.
                    for g in &mut groups {
                        g.take_up(&es, &a.state_index, from)?;
                    }
                    leading = true;
                    let first = groups.iter().map(|g| g.cursor.ts).min().unwrap_or(0);
                    eprintln!(
                        "iotw: {name} holds the lease; reading from {}",
                        iotw_event::format_rfc3339_micros(first)
                    );
                }
            }
            Lease::Other(holder) => {
                if leading {
                    eprintln!("iotw: the lease went to {holder}; standing by");
                }
                stand_by(&mut groups, &mut leading, &mut lease_at);
                if pause(&stop, every, round) {
                    break;
                }
                continue;
            }
        }
        let end = (iotw_event::wall_clock() - delay).min(until.unwrap_or(Nanos::MAX));
        // A round may outlast the lease (a long backlog): it is renewed before alerts go out
        // once a third of it has passed, and the round is abandoned if it was lost meanwhile,
        // so that two instances never alert at once.
        let mut renewed = std::time::Instant::now();
        let renew_after = Duration::from_nanos(u64::try_from(lease / 3).unwrap_or(0));
        let mut outcome = Ok(());
        for g in &mut groups {
            let Some(s) = g.stage.as_mut() else { continue };
            // Page by page: a long backlog is never held in memory whole.
            let mut emit = |alerts: Vec<Event>| -> Result<()> {
                if !alerts.is_empty() {
                    if renewed.elapsed() >= renew_after {
                        match take_lease(&es, &a.state_index, &name, lease)? {
                            Lease::Held(_) => renewed = std::time::Instant::now(),
                            Lease::Other(holder) => return Err(LeaseLost(holder).into()),
                        }
                    }
                    index_alerts(&es, &index_mode, &alerts)?;
                    written += alerts.len() as u64;
                    if a.ndjson {
                        for d in &alerts {
                            println!("{}", d.to_json());
                        }
                    }
                }
                Ok(())
            };
            let read = read_since(&es, &g.index, &mut g.cursor, &mut g.late, end, |mut batch| {
                let before = batch.len();
                s.observe(&mut batch);
                emit(batch.split_off(before))
            })
            .and_then(|()| {
                if g.by_count.is_empty() {
                    return Ok(());
                }
                count_runs(&es, &g.index, s, &g.by_count, &mut g.cursor, end, every, &mut emit)
            })
            // Every document up to `end` has been read: the rules' clock may move there, so a
            // flatline fires on an index that has gone quiet.
            .and_then(|()| emit(s.tick(end)));
            if let Err(e) = read {
                outcome = Err(e);
                break;
            }
        }
        if let Err(e) = outcome {
            let Some(LeaseLost(holder)) = e.downcast_ref::<LeaseLost>() else { return Err(e) };
            // What this round raised is not saved: the new holder goes over it again.
            eprintln!("iotw: the lease went to {holder} during a round; standing by");
            stand_by(&mut groups, &mut leading, &mut lease_at);
            if pause(&stop, every, round) {
                break;
            }
            continue;
        }
        // Saved only while still the holder: a stale leader must not overwrite the new one's.
        match take_lease(&es, &a.state_index, &name, lease)? {
            Lease::Held(at) => {
                lease_at = Some(at);
                for g in &groups {
                    if let Some(s) = &g.stage {
                        save_state(&es, &a.state_index, &g.state_id, &g.cursor, &s.memory_json()?)?;
                    }
                }
            }
            Lease::Other(holder) => {
                eprintln!("iotw: the lease went to {holder} during a round; its results are not saved");
                stand_by(&mut groups, &mut leading, &mut lease_at);
            }
        }
        let reached = until.is_some_and(|u| end >= u);
        if reached || pause(&stop, every, round) {
            break;
        }
    }
    let mut read_to = Nanos::MAX;
    for g in &mut groups {
        read_to = read_to.min(g.cursor.ts);
        if let Some(r) = g.stage.as_mut().and_then(|s| s.finish_alerters(Duration::from_secs(10))) {
            eprintln!("alerts delivered: {}; failed {}; dropped {}", r.sent_total(), r.failed_total(), r.dropped);
        }
    }
    if leading {
        release_lease(&es, &a.state_index, &name, lease_at)?;
    }
    eprintln!("iotw fireman run: {written} alerts written, read up to {}", iotw_event::format_rfc3339_micros(read_to));
    Ok(())
}

/// Another instance holds the lease: the rules stop (their memory is the holder's now).
fn stand_by(groups: &mut [Group], leading: &mut bool, lease_at: &mut Option<(u64, u64)>) {
    groups.iter_mut().for_each(|g| g.stage = None);
    *leading = false;
    *lease_at = None;
}

/// The rules that read one index, and how far they have got.
struct Group {
    index: String,
    /// The document in the state index that keeps this group's position and memory.
    state_id: String,
    rules: Vec<iotw_fireman::Rule>,
    /// While this instance holds the lease.
    stage: Option<iotw_fireman::Stage>,
    cursor: Cursor,
    /// The rules of the stage that are fed counts, by index.
    by_count: Vec<usize>,
    /// The documents read within `--buffer-time`, for reading again.
    late: Late,
}

/// What `--buffer-time` needs: the documents read within it, by `_id` (each is fed once
/// however often it is read again), and how far back reading again may go: not before where
/// this instance took up the rules (what the last holder read is not known by id).
#[derive(Debug, Default)]
struct Late {
    buffer: Nanos,
    floor: Nanos,
    /// Each document read within the buffer, by `_id`, with its time (whole milliseconds).
    seen: std::collections::HashMap<String, Nanos>,
}

impl Late {
    /// Where a round ending at `end` starts reading, the read point being `read_to`: a
    /// buffer's length before `end`, not before `floor`, never after the read point.
    fn window_start(&self, end: Nanos, read_to: Nanos) -> Nanos {
        if self.buffer <= 0 {
            return read_to;
        }
        millis(self.floor.max(end.saturating_sub(self.buffer)).min(read_to))
    }
}

/// The most documents remembered for `--buffer-time`.
const MAX_SEEN: usize = 1_000_000;

impl Group {
    /// Starts the rules with what the last holder of the lease saved (or from `from`, else now).
    fn take_up(&mut self, es: &Elastic, state_index: &str, from: Option<Nanos>) -> Result<()> {
        let mut s = iotw_fireman::Stage::new(self.rules.clone());
        let (saved_cursor, memory) = load_state(es, state_index, &self.state_id)?;
        if let Some(m) = memory {
            for n in s.restore_json(&m).map_err(|e| anyhow::anyhow!("saved memory: {e}"))? {
                eprintln!("iotw: rule {n}: its file changed since its memory was saved; it starts afresh");
            }
        }
        self.cursor = saved_cursor.unwrap_or_else(|| Cursor {
            ts: from.unwrap_or_else(iotw_event::wall_clock),
            ids: Vec::new(),
            counted: None,
        });
        self.by_count = s.feed_counts();
        // Counting starts where reading does.
        self.cursor.counted.get_or_insert(self.cursor.ts);
        self.late.floor = self.cursor.ts;
        self.late.seen.clear();
        s.start_alerters().context("starting the alerters")?;
        self.stage = Some(s);
        Ok(())
    }
}

/// Sleeps the rest of the round; true when asked to stop.
fn pause(stop: &AtomicBool, every: Nanos, started: std::time::Instant) -> bool {
    let total = Duration::from_nanos(u64::try_from(every).unwrap_or(0));
    while started.elapsed() < total {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50).min(total.saturating_sub(started.elapsed())));
    }
    stop.load(Ordering::Relaxed)
}

/// The lease went to another instance (named) in the middle of a round.
#[derive(Debug)]
struct LeaseLost(String);

impl std::fmt::Display for LeaseLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the lease went to {}", self.0)
    }
}

impl std::error::Error for LeaseLost {}

enum Lease {
    /// Ours, at this (seq_no, primary_term).
    Held((u64, u64)),
    Other(String),
}

/// A document of the state index with its (seq_no, primary_term), if there is one.
fn get_doc(es: &Elastic, index: &str, id: &str) -> Result<Option<(Value, (u64, u64))>> {
    let (status, body) = es.call("GET", &format!("/{index}/_doc/{id}"), None)?;
    if status == 404 {
        return Ok(None);
    }
    if status != 200 {
        bail!("GET {index}/_doc/{id}: HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    let v: Value = serde_json::from_slice(&body).context("GET answer")?;
    if v["found"] == false {
        return Ok(None);
    }
    let at = (v["_seq_no"].as_u64().unwrap_or(0), v["_primary_term"].as_u64().unwrap_or(0));
    Ok(Some((v["_source"].clone(), at)))
}

/// Takes or renews the lease: free, expired or already ours → ours (written only if nobody
/// wrote it since it was read); held by another and live → theirs.
fn take_lease(es: &Elastic, index: &str, name: &str, lease: Nanos) -> Result<Lease> {
    let now = iotw_event::wall_clock();
    let body = serde_json::to_vec(&json!({"holder": name, "expires": now.saturating_add(lease), "renewed": now}))?;
    let path = match get_doc(es, index, "lease")? {
        None => format!("/{index}/_doc/lease?op_type=create&refresh=true"),
        Some((v, (seq, term))) => {
            let holder = v["holder"].as_str().unwrap_or("").to_string();
            let expires = v["expires"].as_i64().unwrap_or(0);
            if holder != name && expires > now {
                return Ok(Lease::Other(holder));
            }
            format!("/{index}/_doc/lease?if_seq_no={seq}&if_primary_term={term}&refresh=true")
        }
    };
    let (status, answer) = es.call("PUT", &path, Some(&body))?;
    match status {
        200 | 201 => {
            let v: Value = serde_json::from_slice(&answer).unwrap_or_default();
            Ok(Lease::Held((v["_seq_no"].as_u64().unwrap_or(0), v["_primary_term"].as_u64().unwrap_or(0))))
        }
        // Someone else wrote it first.
        409 => Ok(Lease::Other(
            get_doc(es, index, "lease")?.and_then(|(v, _)| v["holder"].as_str().map(String::from)).unwrap_or_default(),
        )),
        s => bail!("taking the lease in {index}: HTTP {s}: {}", String::from_utf8_lossy(&answer)),
    }
}

/// Gives the lease up at the end of a run, if it is still ours.
fn release_lease(es: &Elastic, index: &str, name: &str, at: Option<(u64, u64)>) -> Result<()> {
    let Some((seq, term)) = at else { return Ok(()) };
    let body = serde_json::to_vec(&json!({"holder": name, "expires": 0, "renewed": iotw_event::wall_clock()}))?;
    let _ = es.call(
        "PUT",
        &format!("/{index}/_doc/lease?if_seq_no={seq}&if_primary_term={term}&refresh=true"),
        Some(&body),
    )?;
    Ok(())
}

/// The saved cursor and memory.
fn load_state(es: &Elastic, index: &str, id: &str) -> Result<(Option<Cursor>, Option<Vec<u8>>)> {
    let Some((v, _)) = get_doc(es, index, id)? else { return Ok((None, None)) };
    let cursor = serde_json::from_value(v["cursor"].clone()).ok();
    let memory = v["memory"].as_str().map(|m| m.as_bytes().to_vec());
    Ok((cursor, memory))
}

fn save_state(es: &Elastic, index: &str, id: &str, cursor: &Cursor, memory: &[u8]) -> Result<()> {
    let doc = json!({
        "cursor": cursor,
        // The memory as text: its structure is Fireman's own, not for the index to map.
        "memory": String::from_utf8_lossy(memory),
        "saved": iotw_event::wall_clock(),
    });
    let (status, answer) =
        es.call("PUT", &format!("/{index}/_doc/{id}?refresh=true"), Some(&serde_json::to_vec(&doc)?))?;
    if !(200..300).contains(&status) {
        bail!("saving the rules' memory in {index}: HTTP {status}: {}", String::from_utf8_lossy(&answer));
    }
    Ok(())
}

/// Reads every document with `cursor.ts <= @timestamp <= end` not read yet, in time order,
/// hands each page's to `page`, and moves the cursor past them. With a buffer, reading starts
/// that far before `end` (not before `late.floor`): documents from before the cursor that were
/// not read before (indexed late) are handed on too, once.
fn read_since(
    es: &Elastic,
    index: &str,
    cursor: &mut Cursor,
    late: &mut Late,
    end: Nanos,
    mut page: impl FnMut(Vec<Event>) -> Result<()>,
) -> Result<()> {
    let mut size = PAGE;
    let buffering = late.buffer > 0;
    let mut at_cursor: HashSet<String> = cursor.ids.iter().cloned().collect();
    // Where this round's reading has got to (it pages through the buffer first).
    cursor.ts = millis(cursor.ts);
    let mut pos = late.window_start(end, cursor.ts);
    let mut at_pos: HashSet<String> = if pos == cursor.ts { at_cursor.clone() } else { HashSet::new() };
    loop {
        let query = json!({
            "size": size,
            "sort": [{"@timestamp": {"order": "asc"}}],
            "query": {"range": {"@timestamp": {
                "gte": iotw_event::format_rfc3339_micros(pos),
                "lte": iotw_event::format_rfc3339_micros(end),
            }}},
        });
        let (status, body) = es.call("POST", &format!("/{index}/_search"), Some(&serde_json::to_vec(&query)?))?;
        if status == 404 {
            return Ok(());
        }
        if status != 200 {
            bail!("searching {index}: HTTP {status}: {}", String::from_utf8_lossy(&body));
        }
        let v: Value = serde_json::from_slice(&body).context("search answer")?;
        let hits = v["hits"]["hits"].as_array().cloned().unwrap_or_default();
        let full = hits.len() >= size;
        let mut fresh = 0;
        let mut out = Vec::new();
        for h in &hits {
            let id = h["_id"].as_str().unwrap_or("").to_string();
            let e = crate::fireman_cmd::event_of(&h["_source"]).with_context(|| format!("document {id}"))?;
            // The index sorts and compares `@timestamp` to the millisecond: documents within one
            // come in any order, so positions are whole milliseconds.
            let t = millis(e.ts);
            if t < pos || (t == pos && at_pos.contains(&id)) {
                continue;
            }
            if t > pos {
                pos = t;
                at_pos.clear();
            }
            at_pos.insert(id.clone());
            fresh += 1;
            let new = t > cursor.ts || (t == cursor.ts && !at_cursor.contains(&id));
            if new {
                if t > cursor.ts {
                    cursor.ts = t;
                    at_cursor.clear();
                }
                at_cursor.insert(id.clone());
            }
            // Before the cursor: read in an earlier round unless it is not among those.
            let fed = new || (buffering && !late.seen.contains_key(&id));
            if !fed {
                continue;
            }
            if buffering {
                late.seen.insert(id, t);
            }
            // Alerts this or another run wrote are not fed back to the rules.
            if e.dataset != "alert" {
                out.push(e);
            }
        }
        page(out)?;
        if !full {
            break;
        }
        if fresh == 0 {
            // A whole page at one timestamp, all read: ask for more at once.
            if size >= MAX_PAGE {
                eprintln!(
                    "iotw: more than {MAX_PAGE} documents at {}: the rest are skipped",
                    iotw_event::format_rfc3339_micros(pos)
                );
                pos += 1_000_000;
                at_pos.clear();
                if pos > cursor.ts {
                    cursor.ts = pos;
                    at_cursor.clear();
                }
                continue;
            }
            size = (size * 4).min(MAX_PAGE);
        }
    }
    cursor.ids = at_cursor.into_iter().collect();
    cursor.ids.sort();
    if buffering {
        // What the next round can read again.
        let keep_from = late.window_start(end, cursor.ts);
        late.seen.retain(|_, t| *t >= keep_from);
        if late.seen.len() > MAX_SEEN {
            eprintln!(
                "iotw: more than {MAX_SEEN} documents within --buffer-time in {index}: nothing before {} is read again",
                iotw_event::format_rfc3339_micros(cursor.ts)
            );
            late.floor = cursor.ts;
            late.seen.clear();
        }
    }
    Ok(())
}

/// `t` cut to its millisecond (what the index keeps of `@timestamp`).
fn millis(t: Nanos) -> Nanos {
    t - t.rem_euclid(1_000_000)
}

/// The runs not yet counted for the rules fed counts, up to `end`, as ElastAlert makes them:
/// from the end of the last one, `every` long (the last one shorter), each asked with the
/// rule's filter and `@timestamp` in (start, end] — a `_count`, or a `terms` aggregation on the
/// query_key — and its counts handed to the rule at the run's end, which then moves its clock
/// there (ElastAlert's `garbage_collect`).
#[allow(clippy::too_many_arguments)]
fn count_runs(
    es: &Elastic,
    index: &str,
    stage: &mut iotw_fireman::Stage,
    rules: &[usize],
    cursor: &mut Cursor,
    end: Nanos,
    every: Nanos,
    emit: &mut impl FnMut(Vec<Event>) -> Result<()>,
) -> Result<()> {
    let mut start = cursor.counted.unwrap_or(cursor.ts);
    let every = every.max(1);
    while start < end {
        let stop = if end - start > every { start + every } else { end };
        for &i in rules {
            let Some(e) = stage.engines().get(i) else { continue };
            let counts = count_query(es, index, &e.rule, start, stop)?;
            emit(stage.counted(i, stop, &counts))?;
        }
        start = stop;
        cursor.counted = Some(stop);
    }
    Ok(())
}

/// What the cluster counts for a rule in (start, stop]: one count (`use_count_query`), or one
/// per query_key value (`use_terms_query`, the `terms_size` most frequent).
fn count_query(
    es: &Elastic,
    index: &str,
    rule: &iotw_fireman::Rule,
    start: Nanos,
    stop: Nanos,
) -> Result<Vec<(Option<String>, u64)>> {
    // ElastAlert's get_query: the filters (an old-style `{query: ...}` unwrapped) after the
    // time range, all of which must hold.
    let mut must = vec![json!({"range": {"@timestamp": {
        "gt": iotw_event::format_rfc3339_micros(start),
        "lte": iotw_event::format_rfc3339_micros(stop),
    }}})];
    must.extend(rule.filter_dsl.iter().map(|f| f.get("query").cloned().unwrap_or_else(|| f.clone())));
    let query = json!({"bool": {"filter": {"bool": {"must": must}}}});
    let field = rule.query_key.first();
    let (path, body) = match (rule.counting, field) {
        (iotw_fireman::rule::Counting::Terms { size }, Some(field)) => (
            format!("/{index}/_search?ignore_unavailable=true"),
            json!({"size": 0, "query": query,
                   "aggs": {"counts": {"terms": {"field": field, "size": size, "min_doc_count": 1}}}}),
        ),
        _ => (format!("/{index}/_count?ignore_unavailable=true"), json!({"query": query})),
    };
    let (status, answer) = es.call("POST", &path, Some(&serde_json::to_vec(&body)?))?;
    if status == 404 {
        return Ok(Vec::new());
    }
    if status != 200 {
        bail!("counting for rule {} in {index}: HTTP {status}: {}", rule.name, String::from_utf8_lossy(&answer));
    }
    let v: Value = serde_json::from_slice(&answer).context("count answer")?;
    if let Some(n) = v["count"].as_u64() {
        return Ok(vec![(None, n)]);
    }
    let buckets = v["aggregations"]["counts"]["buckets"].as_array().cloned().unwrap_or_default();
    Ok(buckets
        .iter()
        .map(|b| {
            let key = match &b["key"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (Some(key), b["doc_count"].as_u64().unwrap_or(0))
        })
        .collect())
}

/// Indexes the alert documents as shipping would (their dataset's index).
fn index_alerts(es: &Elastic, mode: &iotw_ship::elastic::IndexMode, alerts: &[Event]) -> Result<()> {
    let mut body = Vec::new();
    for a in alerts {
        let action = json!({"index": {"_index": mode.target(a.dataset, a.ts), "_id": a.id.to_string()}});
        body.extend(serde_json::to_vec(&action)?);
        body.push(b'\n');
        body.extend(a.to_json().into_bytes());
        body.push(b'\n');
    }
    let (status, answer) = es.call("POST", "/_bulk?refresh=true", Some(&body))?;
    let v: Value = serde_json::from_slice(&answer).unwrap_or_default();
    if status != 200 || v["errors"] == true {
        bail!(
            "indexing alerts: HTTP {status}: {}",
            String::from_utf8_lossy(&answer).chars().take(500).collect::<String>()
        );
    }
    Ok(())
}

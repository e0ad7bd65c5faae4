//! Fireman: rules that watch the document stream and raise alerts, in ElastAlert 2's rule
//! format and semantics for its kinds any, blacklist, whitelist, change, frequency, spike and
//! flatline (docs/fireman.md). Every document passes [`Stage::observe`] after enrichment;
//! alerts come back as documents (`event.kind: alert`, dataset `alert`) shipped like any
//! other. Rules run in document time, so `iotw fireman test` over a capture is a backtest
//! of exactly what the stream would have done.

pub mod alerter;
pub mod cron;
pub mod engine;
pub mod filter;
mod lucene;
pub mod rule;

pub use engine::{Alert, Engine, Memory, State};
pub use rule::{load, load_all, parse, Rule, RuleError};

use iotw_event::Event;
use std::collections::HashMap;
use std::sync::Arc;

/// The rules of a run.
#[derive(Debug, Default)]
pub struct Stage {
    engines: Vec<Engine>,
    /// The fields any rule reads: each document is walked once for all of them.
    fields: filter::FieldSet,
    /// Which rules a document can concern, found without evaluating every filter.
    index: Index,
    /// Per engine, one bit: whether the document at hand can pass its filter (reused).
    candidate: Vec<u64>,
    /// Alerts raised (firing and resolved).
    pub alerts: u64,
    /// Per engine, where its alerts go besides the documents.
    alerters: Vec<Arc<[alerter::Alerter]>>,
    /// Delivers them, once started ([`Stage::start_alerters`]).
    dispatcher: Option<alerter::Dispatcher>,
    /// The newest document time seen.
    clock: iotw_event::Nanos,
    /// Per engine with `aggregation`: alerts waiting for their period to end, by group.
    aggregating: Vec<std::collections::BTreeMap<Option<String>, Pending>>,
    /// Per engine, whether it is fed counts ([`Stage::feed_counts`]) instead of documents.
    by_count: Vec<bool>,
    /// Per engine, the document time from which a document going by has something for it to
    /// do ([`Engine::due`]); before it, the engine is not touched at all. Kept here, side by
    /// side, so that passing a hundred rules reads one short array, not a hundred engines.
    due: Vec<iotw_event::Nanos>,
    /// The earliest of them (engines fed counts aside), as of the last document that went
    /// past every engine: before it, a document is shown only to its candidates.
    next_due: iotw_event::Nanos,
    /// Where the strings of the document at hand end (the buffer is reused).
    quotes: iotw_event::json::Quotes,
    /// The memory of the document at hand's fields (reused).
    slots: filter::Slots,
    /// Per engine, which of the run's distinct filters is its own: rules with the same
    /// filter share one verdict per document.
    filter_of: Vec<usize>,
    /// Per distinct filter, its verdict on the document at hand, once evaluated.
    verdicts: Vec<Verdict>,
    /// What one rule raised on the document at hand, and what all raised on the batch, each
    /// with its rule's index (reused).
    out: Vec<Alert>,
    raised: Vec<(usize, Alert)>,
}

/// What a filter says of the document at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Unknown,
    Holds,
    Fails,
}

/// Whether `filter` (the `f`th distinct filter) holds for `doc`, evaluated once per document
/// for all the rules that share it (`verdicts` are forgotten before each document).
fn holds(verdicts: &mut [Verdict], f: usize, filter: &filter::Filter, doc: &mut filter::Doc<'_>) -> bool {
    match verdicts.get(f) {
        Some(Verdict::Holds) => true,
        Some(Verdict::Fails) => false,
        _ => {
            let v = filter.matches_in(doc);
            if let Some(slot) = verdicts.get_mut(f) {
                *slot = if v { Verdict::Holds } else { Verdict::Fails };
            }
            v
        }
    }
}

/// Alerts of one group of a rule with `aggregation`, until `until`.
#[derive(Debug)]
struct Pending {
    until: iotw_event::Nanos,
    first: Alert,
    more: Vec<Alert>,
    /// The first alert's document, sent (with the count) as the summary's.
    doc: serde_json::Value,
}

impl Stage {
    pub fn new(rules: Vec<Rule>) -> Self {
        if !rules.is_empty() {
            // Documents made from now on record their containers, which the walk steps over.
            iotw_event::keep_extents(true);
        }
        let fields = filter::FieldSet::new(rules.iter().flat_map(Rule::fields));
        let mut engines: Vec<Engine> = rules.into_iter().map(Engine::new).collect();
        engines.iter_mut().for_each(|e| e.bind(&fields));
        let index = Index::new(&engines);
        let mut distinct: Vec<&filter::Filter> = Vec::new();
        let filter_of = engines
            .iter()
            .map(|e| match distinct.iter().position(|f| **f == e.rule.filter) {
                Some(f) => f,
                None => {
                    distinct.push(&e.rule.filter);
                    distinct.len() - 1
                }
            })
            .collect();
        let verdicts = vec![Verdict::Unknown; distinct.len()];
        let alerters: Vec<Arc<[alerter::Alerter]>> = engines.iter().map(|e| e.rule.alerters.clone().into()).collect();
        Stage {
            candidate: vec![0; engines.len().div_ceil(64)],
            due: vec![iotw_event::Nanos::MIN; engines.len()],
            next_due: iotw_event::Nanos::MIN,
            engines,
            fields,
            index,
            alerts: 0,
            aggregating: (0..alerters.len()).map(|_| Default::default()).collect(),
            alerters,
            dispatcher: None,
            clock: iotw_event::Nanos::MIN,
            by_count: Vec::new(),
            quotes: Default::default(),
            slots: Default::default(),
            filter_of,
            verdicts,
            out: Vec::new(),
            raised: Vec::new(),
        }
    }

    /// From now on the rules with `use_count_query` or `use_terms_query` take no documents:
    /// the caller counts for them and hands the counts to [`Stage::counted`] (`iotw fireman
    /// run`). Which rules those are, by index.
    pub fn feed_counts(&mut self) -> Vec<usize> {
        self.by_count = self.engines.iter().map(|e| e.rule.counting != rule::Counting::Documents).collect();
        self.by_count.iter().enumerate().filter(|(_, &c)| c).map(|(i, _)| i).collect()
    }

    /// Rule `rule` is told how many documents (of each key; `None`: all) matched its filter in
    /// the run that ended at `at`, then its clock moves to `at`: what it raises, as documents.
    pub fn counted(&mut self, rule: usize, at: iotw_event::Nanos, counts: &[(Option<String>, u64)]) -> Vec<Event> {
        self.clock = self.clock.max(at);
        if let Some(d) = self.due.get_mut(rule) {
            *d = iotw_event::Nanos::MIN;
            self.next_due = iotw_event::Nanos::MIN;
        }
        let mut out = Vec::new();
        if let Some(e) = self.engines.get_mut(rule) {
            for (key, n) in counts {
                e.counted(at, key.clone(), *n, &mut out);
            }
            e.advance(at, &mut out);
        }
        let mut docs = Vec::new();
        self.emit(&mut out.into_iter().map(|a| (rule, a)).collect(), &mut docs);
        docs
    }

    /// Starts delivering alerts to the rules' alerters (nothing to do when no rule has one).
    /// Without it — as in a backtest — alerts are documents only.
    pub fn start_alerters(&mut self) -> std::io::Result<()> {
        if self.dispatcher.is_none() && self.alerters.iter().any(|a| !a.is_empty()) {
            self.dispatcher = Some(alerter::Dispatcher::start()?);
        }
        Ok(())
    }

    /// Delivers what is still queued (for at most `grace`) and says how delivery went;
    /// `None` when alerters were not started.
    pub fn finish_alerters(&mut self, grace: std::time::Duration) -> Option<alerter::Report> {
        // Aggregated alerts whose period has not ended are sent as they stand.
        self.flush_aggregates(iotw_event::Nanos::MAX);
        self.dispatcher.take().map(|mut d| d.finish(grace))
    }

    /// Sends the summary of every aggregation group whose period ended by `now`.
    fn flush_aggregates(&mut self, now: iotw_event::Nanos) {
        for i in 0..self.aggregating.len() {
            self.flush_engine(i, now);
        }
    }

    fn flush_engine(&mut self, i: usize, now: iotw_event::Nanos) {
        let Some(groups) = self.aggregating.get_mut(i) else { return };
        let due: Vec<Option<String>> = groups.iter().filter(|(_, p)| p.until <= now).map(|(k, _)| k.clone()).collect();
        for k in due {
            let Some(p) = groups.remove(&k) else { continue };
            let (Some(d), Some(to), Some(e)) = (&self.dispatcher, self.alerters.get(i), self.engines.get(i)) else {
                continue;
            };
            let (alert, doc) = summary(&e.rule, p);
            d.send(to.clone(), alert, doc);
        }
    }

    /// Saves what every rule remembers to `path` (written aside, then renamed into place).
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.memory_json()?)?;
        std::fs::rename(&tmp, path)
    }

    /// What every rule remembers, as JSON (for a file or an index).
    pub fn memory_json(&self) -> std::io::Result<Vec<u8>> {
        let state = Saved {
            version: SAVED_VERSION,
            rules: self.engines.iter().map(|e| (e.rule.name.clone(), e.memory())).collect(),
        };
        serde_json::to_vec(&state).map_err(std::io::Error::other)
    }

    /// Takes up what a previous run saved at `path` (nothing when there is no file yet).
    /// Returns the rules whose memory was not taken because their file changed since.
    pub fn restore(&mut self, path: &std::path::Path) -> std::io::Result<Vec<String>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        self.restore_json(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
    }

    /// [`Stage::restore`] from what [`Stage::memory_json`] made.
    pub fn restore_json(&mut self, bytes: &[u8]) -> Result<Vec<String>, String> {
        self.due.fill(iotw_event::Nanos::MIN);
        self.next_due = iotw_event::Nanos::MIN;
        let saved: Saved = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if saved.version != SAVED_VERSION {
            return Err(format!("saved by another version of Fireman ({})", saved.version));
        }
        let mut changed = Vec::new();
        for (name, memory) in saved.rules {
            if let Some(e) = self.engines.iter_mut().find(|e| e.rule.name == name) {
                if !e.restore(memory) {
                    changed.push(name);
                }
            }
        }
        Ok(changed)
    }

    /// Every rule over one document (not an alert): what they raise.
    pub fn alerts_for(&mut self, e: &Event) -> Vec<Alert> {
        self.raise(e);
        self.raised.drain(..).map(|(_, a)| a).collect()
    }

    /// [`Stage::alerts_for`], each alert with the index of the rule that raised it, added to
    /// `self.raised`.
    fn raise(&mut self, e: &Event) {
        if self.engines.is_empty() || e.dataset == "alert" {
            return;
        }
        self.clock = self.clock.max(e.ts);
        let whole;
        let (content, extents) = match e.finished_members() {
            Some(c) => (c, e.extents().unwrap_or_default()),
            None => {
                whole = e.to_json().into_bytes();
                (iotw_event::json::object_content(&whole).unwrap_or_default(), &[][..])
            }
        };
        let slots = std::mem::take(&mut self.slots);
        let mut doc = filter::Doc::indexed(e, content, extents, &self.fields, &mut self.quotes, slots);
        self.index.candidates(&mut doc, &mut self.candidate);
        self.verdicts.fill(Verdict::Unknown);
        let verdicts = &mut self.verdicts[..];
        let (out, raised) = (&mut self.out, &mut self.raised);
        let passing = e.ts.saturating_sub(1);
        if passing < self.next_due {
            // No engine has anything to do as the document goes by: only those whose filters
            // may hold see it, in the same order.
            for w in 0..self.candidate.len() {
                let mut bits = self.candidate[w];
                while bits != 0 {
                    let i = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if self.by_count.get(i) == Some(&true) {
                        continue;
                    }
                    let (Some(r), Some(&f)) = (self.engines.get_mut(i), self.filter_of.get(i)) else { continue };
                    if holds(verdicts, f, &r.rule.filter, &mut doc) {
                        r.matched(e, &mut doc, out);
                    }
                    if !out.is_empty() {
                        raised.extend(out.drain(..).map(|a| (i, a)));
                    }
                }
            }
            self.slots = doc.recycle();
            return;
        }
        let mut next_due = iotw_event::Nanos::MAX;
        for (i, (r, due)) in self.engines.iter_mut().zip(&mut self.due).enumerate() {
            if self.by_count.get(i) == Some(&true) {
                continue;
            }
            let candidate = self.candidate.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1);
            if passing >= *due {
                r.pass(e, out);
                *due = r.due();
            }
            next_due = next_due.min(*due);
            if candidate
                && holds(verdicts, self.filter_of.get(i).copied().unwrap_or(usize::MAX), &r.rule.filter, &mut doc)
            {
                r.matched(e, &mut doc, out);
            }
            if !out.is_empty() {
                raised.extend(out.drain(..).map(|a| (i, a)));
            }
        }
        self.next_due = next_due;
        self.slots = doc.recycle();
    }

    pub fn is_empty(&self) -> bool {
        self.engines.is_empty()
    }

    pub fn engines(&self) -> &[Engine] {
        &self.engines
    }

    /// Runs every rule over `events` and appends the alerts they raise, as documents.
    pub fn observe(&mut self, events: &mut Vec<Event>) {
        if self.engines.is_empty() {
            return;
        }
        for e in events.iter() {
            self.raise(e);
        }
        let mut raised = std::mem::take(&mut self.raised);
        self.emit(&mut raised, events);
        self.raised = raised;
    }

    /// Moves every rule's clock to `now` with no document (a quiet network): what the time
    /// alone raises (flatline, recoveries), as documents.
    pub fn tick(&mut self, now: iotw_event::Nanos) -> Vec<Event> {
        self.due.fill(iotw_event::Nanos::MIN);
        self.next_due = iotw_event::Nanos::MIN;
        self.clock = self.clock.max(now);
        let mut raised = Vec::new();
        let mut out = Vec::new();
        for (i, r) in self.engines.iter_mut().enumerate() {
            r.advance(now, &mut out);
            raised.extend(out.drain(..).map(|a| (i, a)));
        }
        let mut docs = Vec::new();
        self.emit(&mut raised, &mut docs);
        docs
    }

    /// The raised alerts (taken) as documents appended to `events`, and to their rules'
    /// alerters.
    fn emit(&mut self, raised: &mut Vec<(usize, Alert)>, events: &mut Vec<Event>) {
        self.alerts += raised.len() as u64;
        for (i, a) in raised.drain(..) {
            let doc = alert_document(&a);
            let period = self.engines.get(i).and_then(|e| e.rule.aggregation.as_ref()).map(|g| g.until(a.at));
            if self.dispatcher.is_some() && self.alerters.get(i).is_some_and(|to| !to.is_empty()) {
                let json = serde_json::Value::Object(doc.doc());
                match period {
                    Some(until) => {
                        // A group whose period is over is sent before this alert starts the next.
                        self.flush_engine(i, a.at);
                        if let Some(groups) = self.aggregating.get_mut(i) {
                            use std::collections::btree_map::Entry;
                            match groups.entry(a.group.clone()) {
                                Entry::Occupied(mut o) => o.get_mut().more.push(a),
                                Entry::Vacant(v) => {
                                    v.insert(Pending { until, first: a, more: Vec::new(), doc: json });
                                }
                            }
                        }
                    }
                    None => {
                        if let (Some(d), Some(to)) = (&self.dispatcher, self.alerters.get(i)) {
                            d.send(to.clone(), a, json);
                        }
                    }
                }
            }
            events.push(doc);
        }
        self.flush_aggregates(self.clock);
    }
}

/// One notification for a group of aggregated alerts (ElastAlert's aggregated alert): the
/// first alert's subject; the summary prefix, a table of how often each row of
/// `summary_table_fields` values came, the suffix, then each alert's text (unless
/// `aggregation_summary_only`). The first alert's document goes with it, with
/// `fireman.aggregated` (the count).
fn summary(rule: &Rule, p: Pending) -> (Alert, serde_json::Value) {
    let all: Vec<&Alert> = std::iter::once(&p.first).chain(&p.more).collect();
    let n = all.len();
    let mut text = String::new();
    if let Some(s) = &rule.summary_prefix {
        text.push_str(s);
        text.push('\n');
    }
    if !rule.summary_table_fields.is_empty() {
        let mut rows: Vec<(&Vec<String>, u64)> = Vec::new();
        for a in &all {
            match rows.iter_mut().find(|(r, _)| **r == a.row) {
                Some((_, c)) => *c += 1,
                None => rows.push((&a.row, 1)),
            }
        }
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        text.push_str(&format!("| {} | count |\n", rule.summary_table_fields.join(" | ")));
        for (r, c) in rows {
            text.push_str(&format!("| {} | {c} |\n", r.join(" | ")));
        }
    }
    if let Some(s) = &rule.summary_suffix {
        text.push_str(s);
        text.push('\n');
    }
    if !rule.summary_only {
        for a in &all {
            text.push('\n');
            text.push_str(&a.text);
        }
    }
    let mut doc = p.doc;
    if let Some(f) = doc.get_mut("fireman").and_then(serde_json::Value::as_object_mut) {
        f.insert("aggregated".into(), n.into());
    }
    let mut first = p.first;
    first.text = text;
    first.figures.insert("aggregated".into(), n.into());
    (first, doc)
}

/// Rules by the value they need in a field.
/// (Keyed by the values' bytes: a string of a document without escapes is looked up as it
/// lies there, without making its text.)
type ByValue = HashMap<Box<[u8]>, Vec<usize>, foldhash::fast::RandomState>;

/// The rules by what their filters need of a document ([`filter::Gate`]), so that most
/// rules are passed over by a lookup or two instead of evaluating their filters.
#[derive(Debug, Default)]
struct Index {
    /// Rules whose filters tell nothing cheaply: always evaluated.
    always: Vec<usize>,
    /// Field index -> rules that need a value in it.
    exists: Vec<(usize, Vec<usize>)>,
    /// Field index -> value -> rules that need that value in it.
    one_of: Vec<(usize, ByValue)>,
}

impl Index {
    fn new(engines: &[Engine]) -> Self {
        let mut ix = Index::default();
        for (i, e) in engines.iter().enumerate() {
            match e.gate() {
                None => ix.always.push(i),
                Some(filter::Gate::Exists(f)) => match ix.exists.iter_mut().find(|(g, _)| *g == f) {
                    Some((_, rules)) => rules.push(i),
                    None => ix.exists.push((f, vec![i])),
                },
                Some(filter::Gate::OneOf(f, values)) => {
                    let at = match ix.one_of.iter().position(|(g, _)| *g == f) {
                        Some(at) => at,
                        None => {
                            ix.one_of.push((f, ByValue::default()));
                            ix.one_of.len() - 1
                        }
                    };
                    for v in values {
                        let rules = ix.one_of[at].1.entry(v.into_bytes().into()).or_default();
                        if rules.last() != Some(&i) {
                            rules.push(i);
                        }
                    }
                }
            }
        }
        ix
    }

    /// Marks the rules whose filters may hold for `doc`: bit `i % 64` of `out[i / 64]` for
    /// rule `i`.
    fn candidates(&self, doc: &mut filter::Doc<'_>, out: &mut [u64]) {
        out.fill(0);
        let mut mark = |rules: &[usize]| {
            for &r in rules {
                if let Some(w) = out.get_mut(r / 64) {
                    *w |= 1 << (r % 64);
                }
            }
        };
        mark(&self.always);
        for (f, rules) in &self.exists {
            if doc.exists_at(*f) {
                mark(rules);
            }
        }
        for (f, by_value) in &self.one_of {
            if let Some(plain) = doc.plain_string_at(*f) {
                if let Some(rules) = by_value.get(plain) {
                    mark(rules);
                }
                continue;
            }
            for t in doc.texts_at(*f) {
                if let Some(rules) = by_value.get(t.as_bytes()) {
                    mark(rules);
                }
            }
        }
    }
}

/// The format of a saved state file.
const SAVED_VERSION: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    version: u32,
    rules: Vec<(String, Memory)>,
}

/// An alert as a document: `rule.*` (ECS), `fireman.*`, `event.kind: alert`, the subject as
/// `event.reason` and the text as `message`.
pub fn alert_document(a: &Alert) -> Event {
    let key = a.key.as_deref().unwrap_or("_missing");
    // Most alerts take a few hundred bytes, and where rules run a shipped document's buffer
    // is seldom at hand: a smaller new one than a decoded document's costs less to get.
    let mut e = Event::with_capacity(
        "alert",
        "alert",
        a.at,
        &[a.rule.as_bytes(), key.as_bytes(), &a.at.to_be_bytes(), a.state.as_str().as_bytes()],
        512 + a.text.len() + a.subject.len(),
    );
    e.obj("event").str("reason", &a.subject).str("action", a.state.as_str()).end();
    e.obj("rule").str("name", &a.rule).str("ruleset", "fireman").str("category", kind_name(a.kind)).end();
    e.obj("fireman").str("state", a.state.as_str()).str("type", kind_name(a.kind));
    if let Some(k) = &a.key {
        e.str("key", k);
    }
    for (k, v) in &a.figures {
        if !v.is_null() {
            e.value(iotw_event::Wire(k), v);
        }
    }
    if !a.top_counts.is_empty() {
        // As a list, so that an index does not map a field per value.
        e.arr("top_counts");
        for (field, top) in &a.top_counts {
            for (value, count) in top {
                e.item_obj().str("field", field).str("value", value).u64("count", *count).end();
            }
        }
        e.end();
    }
    if !a.included.is_empty() {
        // Dotted names as keys: an index reads `{"a.b": 1}` as field `a.b`.
        e.obj("match");
        for (k, v) in &a.included {
            e.value(iotw_event::Wire(k), v);
        }
        e.end();
    }
    e.end();
    e.str("message", &a.text);
    e
}

pub fn kind_name(k: rule::Kind) -> &'static str {
    use rule::Kind::*;
    match k {
        Any => "any",
        Blacklist => "blacklist",
        Whitelist => "whitelist",
        Change => "change",
        Frequency => "frequency",
        Spike => "spike",
        Flatline => "flatline",
    }
}

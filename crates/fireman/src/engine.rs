//! One rule evaluated over the document stream, in document time: the clock is the newest
//! `@timestamp` seen, so a capture replayed later fires exactly as it would have live, and a
//! backtest (`iotw fireman test`) is the same code as the stream.
//!
//! The seven types follow ElastAlert 2's semantics (`ruletypes.py`; peers.md §5.2):
//! - frequency: `num_events` within `timeframe` per query_key; the window empties after an alert;
//! - spike: the current window `(t - timeframe, t]` against the reference window before it;
//!   no alert until `2 × timeframe` after a key's first event (unless `alert_on_new_data`
//!   and the rule has filled its reference window once); the windows empty after an alert;
//! - flatline: fewer than `threshold` events within `timeframe`, once `timeframe` has passed
//!   since a key was first seen; fires again each `realert` while it lasts;
//! - change, blacklist, whitelist and any as documented.
//!
//! What ElastAlert lacks and Fireman adds:
//! - **recovery**: when a frequency, spike or flatline condition that fired clears, a
//!   `resolved` alert follows (frequency: a whole `timeframe` after its last alert without
//!   reaching `num_events`; spike: the windows no longer show a spike once they are full
//!   again; flatline: the count is back at `threshold`);
//! - **warm-up** is stated: [`Engine::able_from`] says when a spike or flatline rule can first fire.

use crate::filter::{self, text_of, Doc, Field, FieldSet};
use crate::rule::{Kind, Rule, SpikeType};
use iotw_event::{Event, Nanos};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};

/// The most query_key values tracked per rule; past it the least recently seen is forgotten.
pub const MAX_KEYS: usize = 100_000;
/// The most event times kept per key (a window holding more counts them, not each time).
pub const MAX_WINDOW: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Firing,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }
}

/// What a rule raised.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub rule: String,
    pub kind: Kind,
    pub state: State,
    /// When the condition began (or cleared), in document time.
    pub at: Nanos,
    /// The query_key value(s), joined with `, ` as ElastAlert does.
    pub key: Option<String>,
    /// Figures of the match: count, spike_count, reference_count, old_value, ...
    pub figures: Map<String, Value>,
    pub subject: String,
    pub text: String,
    /// The rule's `include` fields of the document that raised it (none for alerts that time
    /// alone raised), by dotted name.
    pub included: Vec<(String, Value)>,
    /// `top_count_keys`: per field, its most frequent values and their counts.
    pub top_counts: Vec<(String, Vec<(String, u64)>)>,
    /// With `aggregation`: the aggregation_key value(s) the alert is grouped by, and its row
    /// of the summary table (the summary_table_fields' values).
    pub group: Option<String>,
    pub row: Vec<String>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct KeyState {
    /// Event times in the (current) window, oldest first.
    times: VecDeque<Nanos>,
    /// Spike: the reference window's times.
    reference: VecDeque<Nanos>,
    first: Option<Nanos>,
    last_seen: Nanos,
    /// Change: the compared values and when they were seen.
    values: Option<(Vec<Option<Value>>, Nanos)>,
    /// Since when the condition is firing (for recovery).
    firing: Option<Nanos>,
    /// Spike: no check before this time (after an alert).
    skip_until: Nanos,
    /// Flatline: the next time it may fire again while the count stays low.
    next_flatline: Nanos,
}

/// The realert state of one key: silenced until, and the exponent of exponential_realert.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Silence {
    until: Nanos,
    exponent: u32,
}

/// A rule and its memory.
#[derive(Debug)]
pub struct Engine {
    pub rule: Rule,
    /// The blacklist or whitelist's compare_key.
    compared: Field,
    /// The query_key fields.
    keyed: Vec<Field>,
    /// (hashbrown's: a key seen before is found by one lookup, without a string made for it)
    keys: hashbrown::HashMap<String, KeyState, foldhash::fast::RandomState>,
    silences: HashMap<String, Silence, foldhash::fast::RandomState>,
    clock: Nanos,
    /// When the time-driven conditions were last looked at.
    last_check: Nanos,
    started: Option<Nanos>,
    /// The first document the filter let through.
    first_match: Option<Nanos>,
    reference_filled_once: bool,
    /// Alerts held back by realert.
    pub silenced: u64,
    /// `top_count_keys`: each matching document's time, key and values of those fields, over
    /// the counting window (not saved across restarts).
    recent: VecDeque<(Nanos, Option<String>, Vec<Vec<String>>)>,
    /// The subject of an alert without `alert_subject`, and the timeframe in seconds as
    /// alert texts print it: written once, not per alert.
    subject: String,
    seconds: String,
}

const ALL: &str = "all";

/// What an engine remembers, to be saved and restored across restarts: windows, baselines,
/// last values, flatline keys, firing conditions and realert timers.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Memory {
    /// The rule file's fingerprint when this was saved ([`Rule::fingerprint`]).
    pub fingerprint: u64,
    keys: Vec<(String, KeyState)>,
    silences: Vec<(String, Silence)>,
    clock: Nanos,
    last_check: Nanos,
    started: Option<Nanos>,
    first_match: Option<Nanos>,
    reference_filled_once: bool,
    silenced: u64,
}

/// How often (in document time) time-driven conditions are looked at, at most.
pub const CHECK_EVERY: Nanos = 1_000_000_000;

impl Engine {
    pub fn new(rule: Rule) -> Self {
        let compared = rule.compare_key.first().map_or("", String::as_str).into();
        let keyed = rule.query_key.iter().map(|f| Field::from(f.as_str())).collect();
        let subject = format!("iotw Fireman: {}", rule.name);
        let seconds = (rule.timeframe as f64 / 1e9).to_string();
        Engine {
            subject,
            seconds,
            rule,
            compared,
            keyed,
            keys: Default::default(),
            silences: HashMap::default(),
            clock: Nanos::MIN,
            last_check: Nanos::MIN,
            started: None,
            first_match: None,
            reference_filled_once: false,
            silenced: 0,
            recent: VecDeque::new(),
        }
    }

    /// Points the fields the rule reads at their places in `set`, the fields of the
    /// documents it will see.
    pub fn bind(&mut self, set: &FieldSet) {
        self.rule.filter.bind(set);
        self.compared.bind(set);
        self.keyed.iter_mut().for_each(|f| f.bind(set));
    }

    /// A condition that every document this rule can do anything with meets (see
    /// [`filter::Filter::gate`]): its filter's, or narrower, what its kind needs of a
    /// document to act on it. A blacklist acts only on a listed value of its compare_key; a
    /// whitelist with `ignore_null` only on a value there; a change rule with one query_key
    /// only on a value of it. A document without it changes nothing in such a rule (unless
    /// the rule keeps `top_count_keys`, which count every document its filter lets through).
    pub fn gate(&self) -> Option<filter::Gate> {
        let r = &self.rule;
        let own = match r.kind {
            _ if !r.top_count_keys.is_empty() => None,
            Kind::Blacklist => self.compared.bound().map(|f| filter::Gate::OneOf(f, r.list.iter().cloned().collect())),
            Kind::Whitelist if r.ignore_null => self.compared.bound().map(filter::Gate::Exists),
            Kind::Change => match &self.keyed[..] {
                [one] => one.bound().map(filter::Gate::Exists),
                _ => None,
            },
            _ => None,
        };
        filter::best(r.filter.gate().into_iter().chain(own))
    }

    /// What this engine remembers, for [`Engine::restore`] after a restart.
    pub fn memory(&self) -> Memory {
        Memory {
            fingerprint: self.rule.fingerprint,
            keys: self.keys.iter().map(|(k, s)| (k.clone(), s.clone())).collect(),
            silences: self.silences.iter().map(|(k, s)| (k.clone(), *s)).collect(),
            clock: self.clock,
            last_check: self.last_check,
            started: self.started,
            first_match: self.first_match,
            reference_filled_once: self.reference_filled_once,
            silenced: self.silenced,
        }
    }

    /// Takes up what a previous run remembered; false (and nothing taken) when the rule
    /// file has changed since.
    pub fn restore(&mut self, m: Memory) -> bool {
        if m.fingerprint != self.rule.fingerprint {
            return false;
        }
        self.keys = m.keys.into_iter().take(MAX_KEYS).collect();
        self.silences = m.silences.into_iter().collect();
        self.clock = m.clock;
        self.last_check = m.last_check;
        self.started = m.started;
        self.first_match = m.first_match;
        self.reference_filled_once = m.reference_filled_once;
        self.silenced = m.silenced;
        true
    }

    /// When this rule can first fire: a spike rule two timeframes after its first matching
    /// document, a flatline rule one timeframe after it started watching (its first
    /// document, or with a query_key the first matching one); `None` before that, or for
    /// rule types that fire at once.
    pub fn able_from(&self) -> Option<Nanos> {
        let tf = self.rule.timeframe;
        match self.rule.kind {
            Kind::Spike => Some(self.first_match?.saturating_add(tf.saturating_mul(2))),
            Kind::Flatline if self.rule.query_key.is_empty() => Some(self.started?.saturating_add(tf)),
            Kind::Flatline => Some(self.first_match?.saturating_add(tf)),
            _ => None,
        }
    }

    /// Sees one document; returns what fires. Time-driven conditions are checked first, up
    /// to just before the document's time: the state at that time is only complete once
    /// every document of that instant has been seen (ElastAlert checks after each batch).
    pub fn observe(&mut self, e: &Event) -> Vec<Alert> {
        self.observe_in(e, &mut Doc::new(e))
    }

    /// [`Engine::observe`] with the document's fields read through `doc`, which several
    /// rules share.
    pub fn observe_in(&mut self, e: &Event, doc: &mut Doc<'_>) -> Vec<Alert> {
        let mut out = Vec::new();
        self.pass(e, &mut out);
        if self.rule.filter.matches_in(doc) {
            self.matched(e, doc, &mut out);
        }
        out
    }

    /// The earliest document time from which a document going by ([`Engine::pass`]) has
    /// anything to do: before it, passing only moves the clock, which nothing reads before a
    /// pass that does something (the checks depend on time once a second; see `advance`).
    pub fn due(&self) -> Nanos {
        if self.started.is_none() || self.last_check == Nanos::MIN {
            return Nanos::MIN;
        }
        // `pass` looks at `advance(ts - 1)`, which does nothing before a whole CHECK_EVERY since
        // the last check (spike: the next whole second after the last one checked).
        self.last_check.saturating_add(CHECK_EVERY)
    }

    /// A document goes by: the clock moves to just before its time. All that happens to a
    /// document the filter does not let through.
    pub fn pass(&mut self, e: &Event, out: &mut Vec<Alert>) {
        self.advance(e.ts - 1, out);
        self.started.get_or_insert(e.ts);
    }

    /// ElastAlert's `add_count_data` and `add_terms_data` (`use_count_query`,
    /// `use_terms_query`): `n` documents of `key` (`None`: all of them) counted by the cluster
    /// in a run that ended at `at`, all taken as happening at `at`. Frequency, spike and
    /// flatline rules only (the rule file refuses the options elsewhere); a window holds at
    /// most [`MAX_WINDOW`] of them.
    pub fn counted(&mut self, at: Nanos, key: Option<String>, n: u64, out: &mut Vec<Alert>) {
        self.advance(at - 1, out);
        self.started.get_or_insert(at);
        if n > 0 {
            self.first_match.get_or_insert(at);
        }
        self.tally(at, key.as_deref(), n, None, out);
    }

    /// `n` documents of `key` at `at` counted by a frequency, spike or flatline rule (the
    /// document itself when there is one: its fields go into the alert).
    fn tally(&mut self, at: Nanos, key: Option<&str>, n: u64, e: Option<&Event>, out: &mut Vec<Alert>) {
        let k = key.unwrap_or(ALL);
        let (kind, tf, num_events, threshold) =
            (self.rule.kind, self.rule.timeframe, self.rule.num_events, self.rule.threshold);
        let s = self.state(k, at);
        for _ in 0..n.min(MAX_WINDOW as u64) {
            push_time(&mut s.times, at);
        }
        match kind {
            Kind::Frequency => {
                prune(&mut s.times, at - tf);
                if s.times.len() as u64 >= num_events {
                    let count = s.times.len() as u64;
                    s.times.clear();
                    s.firing = Some(at);
                    let mut f = Map::new();
                    f.insert("count".into(), count.into());
                    self.fire(out, at, key.map(String::from), f, e);
                }
            }
            Kind::Spike => self.spike_check(out, k, at, e),
            Kind::Flatline if s.firing.is_some() && s.times.len() as u64 >= threshold => {
                let since = s.firing.take();
                let mut f = Map::new();
                f.insert("count".into(), (s.times.len() as u64).into());
                f.insert("threshold".into(), threshold.into());
                f.insert("fired_at".into(), since.into());
                self.resolve(out, at, key.map(String::from), f);
            }
            _ => {}
        }
    }

    /// A document the filter let through (after [`Engine::pass`]).
    pub fn matched(&mut self, e: &Event, doc: &mut Doc<'_>, out: &mut Vec<Alert>) {
        self.first_match.get_or_insert(e.ts);
        let doc = &mut *doc;
        let key = self.key_of(doc);
        if !self.rule.top_count_keys.is_empty() {
            let values = self.rule.top_count_keys.iter().map(|f| doc.values(f).iter().filter_map(text_of).collect());
            self.recent.push_back((e.ts, key.as_deref().map(String::from), values.collect()));
            let window = self.count_window();
            while self.recent.front().is_some_and(|(t, _, _)| *t <= e.ts - window) || self.recent.len() > MAX_WINDOW {
                self.recent.pop_front();
            }
        }
        let ts = e.ts;
        match self.rule.kind {
            Kind::Any => self.fire(out, ts, key.map(Cow::into_owned), Map::new(), Some(e)),
            Kind::Blacklist | Kind::Whitelist => {
                let values = doc.texts(&self.compared);
                let hit = if self.rule.kind == Kind::Blacklist {
                    values.iter().any(|v| self.rule.list.contains(&**v))
                } else if values.is_empty() {
                    !self.rule.ignore_null
                } else {
                    values.iter().any(|v| !self.rule.list.contains(&**v))
                };
                if hit {
                    let mut f = Map::new();
                    f.insert("value".into(), values.first().map_or(Value::Null, |v| Value::String(v.to_string())));
                    self.fire(out, ts, key.map(Cow::into_owned), f, Some(e));
                }
            }
            Kind::Change => self.change(out, doc, key.map(Cow::into_owned), e),
            Kind::Frequency | Kind::Spike | Kind::Flatline => self.tally(ts, key.as_deref(), 1, Some(e), out),
        }
    }

    /// Moves the clock to `now`: windows slide, and conditions that depend on time alone
    /// (flatline, a spike's fall, a frequency rule's recovery) are checked.
    pub fn advance(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        if now <= self.clock {
            return;
        }
        self.clock = now;
        if self.rule.kind == Kind::Spike {
            self.spike_ticks(now, out);
            self.forget_stale(now);
            return;
        }
        // Looked at once per second of document time at most: the alerts of flatline and of
        // a frequency rule's recovery still carry the exact time.
        if now < self.last_check.saturating_add(CHECK_EVERY) {
            return;
        }
        self.last_check = now;
        let tf = self.rule.timeframe;
        let first_new = out.len();
        match self.rule.kind {
            Kind::Frequency => {
                let n = self.rule.num_events;
                let mut resolved = Vec::new();
                for (k, s) in &mut self.keys {
                    prune(&mut s.times, now - tf);
                    if let Some(since) = s.firing {
                        // A whole timeframe since the last alert without reaching num_events.
                        if now >= since + tf && (s.times.len() as u64) < n {
                            s.firing = None;
                            resolved.push((k.clone(), since + tf, s.times.len() as u64));
                        }
                    }
                }
                for (k, at, count) in resolved {
                    let mut f = Map::new();
                    f.insert("count".into(), count.into());
                    self.resolve(out, at, self.key_text(&k), f);
                }
            }
            Kind::Flatline => self.flatline_check(out, now),
            _ => {}
        }
        // Keys are kept in a hash map: what fires at one moment is put in a fixed order, so
        // the same documents always give the same alerts in the same order.
        out[first_new..].sort_by(|a, b| (a.at, &a.key).cmp(&(b.at, &b.key)));
        self.forget_stale(now);
    }

    /// The query_key value of a document: `None` without a query_key; the parts joined
    /// with `, ` for several fields; `None`-valued parts as ElastAlert's `None`.
    /// Borrowed from the document when it can be (one field, its text without escapes).
    fn key_of<'e>(&self, doc: &mut Doc<'e>) -> Option<Cow<'e, str>> {
        let part = |doc: &mut Doc<'e>, f: &Field| doc.first_text(f).unwrap_or(Cow::Borrowed("None"));
        match &self.keyed[..] {
            [] => None,
            [one] => Some(part(doc, one)),
            several => Some(Cow::Owned(several.iter().map(|f| part(doc, f)).collect::<Vec<_>>().join(", "))),
        }
    }

    fn key_text(&self, k: &str) -> Option<String> {
        (!self.rule.query_key.is_empty()).then(|| k.to_string())
    }

    /// The state of key `k`, seen at `ts`; made when the key is new (a key seen before costs
    /// one lookup and no allocation).
    fn state(&mut self, k: &str, ts: Nanos) -> &mut KeyState {
        if self.keys.len() >= MAX_KEYS && !self.keys.contains_key(k) {
            if let Some(old) = self.keys.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone()) {
                self.keys.remove(&old);
            }
        }
        let s = self.keys.entry_ref(k).or_default();
        s.first.get_or_insert(ts);
        s.last_seen = s.last_seen.max(ts);
        s
    }

    fn change(&mut self, out: &mut Vec<Alert>, doc: &mut Doc<'_>, key: Option<String>, e: &Event) {
        // ElastAlert: the query_key must be present.
        let Some(k) = key.clone().filter(|k| !k.split(", ").all(|p| p == "None")) else { return };
        let values: Vec<Option<Value>> =
            self.rule.compare_key.clone().iter().map(|f| doc.values(f).first().cloned()).collect();
        if self.rule.ignore_null && values.iter().any(|v| v.as_ref().is_none_or(is_empty_value)) {
            return;
        }
        let (tf, ts) = (self.rule.timeframe, e.ts);
        let s = self.state(&k, ts);
        let before = s.values.replace((values.clone(), ts));
        let Some((old, when)) = before else { return };
        if old == values || (tf > 0 && ts - when > tf) {
            return;
        }
        let mut f = Map::new();
        f.insert("old_value".into(), Value::Array(old.into_iter().map(|v| v.unwrap_or(Value::Null)).collect()));
        f.insert("new_value".into(), Value::Array(values.into_iter().map(|v| v.unwrap_or(Value::Null)).collect()));
        self.fire(out, ts, key, f, Some(e));
    }

    /// A spike's windows slide with time alone too (a fall needs no event): they are looked
    /// at on every whole second of document time the clock passes, as ElastAlert looks at
    /// each run (`run_every: 1s`), and a fall is found at that second. Once nothing is left
    /// that time could still move (two timeframes after the last event), the seconds in
    /// between are skipped.
    fn spike_ticks(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        let second = now.div_euclid(CHECK_EVERY) * CHECK_EVERY;
        let first = if self.last_check == Nanos::MIN { second } else { self.last_check.saturating_add(CHECK_EVERY) };
        if first > second {
            return;
        }
        let settled = first.saturating_add(self.rule.timeframe.saturating_mul(2)).saturating_add(CHECK_EVERY);
        // In a fixed order: a key's check may mark the reference window filled once.
        let mut keys: Vec<String> = self.keys.keys().cloned().collect();
        keys.sort_unstable();
        let mut b = first;
        loop {
            let from = out.len();
            for k in &keys {
                self.spike_check(out, k, b, None);
            }
            out[from..].sort_by(|a, b| (a.at, &a.key).cmp(&(b.at, &b.key)));
            if b >= second {
                break;
            }
            b = if b >= settled { second } else { (b + CHECK_EVERY).min(second) };
        }
        self.last_check = second;
    }

    fn spike_check(&mut self, out: &mut Vec<Alert>, k: &str, now: Nanos, e: Option<&Event>) {
        let tf = self.rule.timeframe;
        let new_data = self.rule.alert_on_new_data;
        let filled_once = self.reference_filled_once;
        let Some(s) = self.keys.get_mut(k) else { return };
        // Times leaving the current window enter the reference window, the timeframe before
        // it (ElastAlert's windows, with its clock ticking continuously).
        while s.times.front().is_some_and(|&t| t <= now - tf) {
            if let Some(t) = s.times.pop_front() {
                push_time(&mut s.reference, t);
            }
        }
        prune(&mut s.reference, now - 2 * tf);
        // After an alert the warm-up starts again from the next event (or check).
        let first = *s.first.get_or_insert(now);
        if now - first < 2 * tf {
            if !filled_once || !new_data || now < s.skip_until {
                return;
            }
        } else {
            self.reference_filled_once = true;
        }
        let (reference, current) = (s.reference.len() as u64, s.times.len() as u64);
        let spike = spike_matches(
            reference,
            current,
            self.rule.spike_height,
            self.rule.spike_type,
            self.rule.threshold_ref,
            self.rule.threshold_cur,
        );
        let state = if spike {
            // ElastAlert: the reference window empties and the key waits two timeframes from
            // the next event.
            s.reference.clear();
            s.first = None;
            s.skip_until = now + 2 * tf;
            s.firing = Some(now);
            State::Firing
        } else {
            match s.firing {
                Some(since) if now >= since + 2 * tf => {
                    s.firing = None;
                    State::Resolved
                }
                _ => return,
            }
        };
        let mut f = Map::new();
        f.insert("spike_count".into(), current.into());
        f.insert("reference_count".into(), reference.into());
        let key = self.key_text(k);
        match state {
            State::Firing => self.fire(out, now, key, f, e),
            State::Resolved => self.resolve(out, now, key, f),
        }
    }

    fn flatline_check(&mut self, out: &mut Vec<Alert>, now: Nanos) {
        let (tf, threshold, realert) = (self.rule.timeframe, self.rule.threshold, self.rule.realert.max(1));
        // Without a query_key, the whole stream is one key, watched from the first document.
        if self.rule.query_key.is_empty() && !self.keys.contains_key(ALL) {
            if let Some(start) = self.started {
                let s = self.keys.entry(ALL.into()).or_default();
                s.first = Some(start);
            }
        }
        let mut fires = Vec::new();
        for (k, s) in &mut self.keys {
            let Some(first) = s.first else { continue };
            // The moment the count fell below the threshold: when the event that kept it
            // there left the window (or when the warm-up ended).
            let mut drop_at = first + tf;
            let len = s.times.len() as u64;
            if threshold > 0 && len >= threshold {
                let keeper = s.times[(len - threshold) as usize];
                drop_at = drop_at.max(keeper + tf);
            }
            if now < drop_at || now < s.next_flatline {
                continue;
            }
            // The first alert of a spell carries the moment the count fell; the repeats (one
            // per realert while it lasts) the moment they were found.
            let at = match s.firing {
                Some(_) if realert > 1 => s.next_flatline,
                Some(_) => now,
                None => drop_at,
            };
            prune(&mut s.times, at - tf);
            let count = s.times.len() as u64;
            s.firing.get_or_insert(at);
            s.next_flatline = at + realert;
            fires.push((k.clone(), at, count));
        }
        fires.sort_by_key(|(_, at, _)| *at);
        for (k, at, count) in fires {
            let mut f = Map::new();
            f.insert("count".into(), count.into());
            f.insert("threshold".into(), threshold.into());
            let key = self.key_text(&k);
            self.fire(out, at, key, f, None);
            if self.rule.forget_keys {
                self.keys.remove(&k);
            }
        }
    }

    /// Forgets keys not seen for a long time (frequency and change: past their window).
    fn forget_stale(&mut self, now: Nanos) {
        let tf = self.rule.timeframe;
        if tf <= 0 || !matches!(self.rule.kind, Kind::Frequency | Kind::Change) {
            return;
        }
        self.keys.retain(|_, s| s.firing.is_some() || now - s.last_seen <= tf);
    }

    fn fire(
        &mut self,
        out: &mut Vec<Alert>,
        at: Nanos,
        key: Option<String>,
        figures: Map<String, Value>,
        e: Option<&Event>,
    ) {
        let name = key.clone().unwrap_or_else(|| "_missing".into());
        // realert 0 silences nothing (not even a late document's alert, older than the last).
        if let Some(s) = self.silences.get(&name).filter(|_| self.rule.realert > 0) {
            if at < s.until {
                self.silenced += 1;
                return;
            }
        }
        let (until, exponent) = self.next_silence(&name, at);
        self.silences.insert(name, Silence { until, exponent });
        out.push(self.alert(State::Firing, at, key, figures, e));
    }

    fn resolve(&mut self, out: &mut Vec<Alert>, at: Nanos, key: Option<String>, figures: Map<String, Value>) {
        let name = key.clone().unwrap_or_else(|| "_missing".into());
        self.silences.remove(&name);
        out.push(self.alert(State::Resolved, at, key, figures, None));
    }

    /// ElastAlert's `next_alert_time`: realert, doubled while alerts keep coming when
    /// `exponential_realert` is set, never past it.
    fn next_silence(&self, name: &str, at: Nanos) -> (Nanos, u32) {
        let realert = self.rule.realert;
        let (Some(cap), Some(last)) = (self.rule.exponential_realert, self.silences.get(name)) else {
            return (at.saturating_add(realert), 0);
        };
        let mut exponent = last.exponent;
        let mut diff = at - last.until;
        let step = |x: u32| realert.saturating_mul(1i64 << x.min(40));
        if diff < step(exponent) {
            exponent += 1;
        } else {
            while diff > step(exponent) && exponent > 0 {
                diff -= step(exponent);
                exponent -= 1;
            }
        }
        let wait = step(exponent);
        if wait >= cap {
            return (at.saturating_add(cap), exponent.saturating_sub(1));
        }
        (at.saturating_add(wait), exponent)
    }

    fn alert(
        &self,
        state: State,
        at: Nanos,
        key: Option<String>,
        figures: Map<String, Value>,
        e: Option<&Event>,
    ) -> Alert {
        let r = &self.rule;
        // A name in the alert's figures, `key`, or a field of the document that raised it.
        let value = |f: &String| -> Option<String> {
            if let Some(v) = figures.get(f) {
                return Some(text_of(v).unwrap_or_else(|| v.to_string()));
            }
            if f == "key" {
                return Some(key.clone().unwrap_or_default());
            }
            e.and_then(|e| e.get(f)).and_then(|v| text_of(&v))
        };
        let arg = |f: &String| value(f).unwrap_or_else(|| "<MISSING VALUE>".into());
        let subject = match &r.alert_subject {
            Some(s) => format_args_py(s, &r.alert_subject_args.iter().map(arg).collect::<Vec<_>>()),
            None => self.subject.clone(),
        };
        let subject = match state {
            State::Firing => subject,
            State::Resolved => ["Resolved: ", &subject].concat(),
        };
        let text = match &r.alert_text {
            Some(t) => format_args_py(t, &r.alert_text_args.iter().map(arg).collect::<Vec<_>>()),
            None => describe(r, &self.seconds, state, key.as_deref(), &figures),
        };
        let top_counts = if state == State::Firing { self.top_counts(at, key.as_deref()) } else { Vec::new() };
        // `include`: the fields of the document that raised it, as they were.
        let included = match e {
            Some(e) => r.include.iter().filter_map(|f| e.get(f).map(|v| (f.clone(), v))).collect(),
            None => Vec::new(),
        };
        let read = |f: &String| value(f).unwrap_or_else(|| "None".into());
        let (group, row) = match r.aggregation {
            Some(_) => (
                (!r.aggregation_key.is_empty())
                    .then(|| r.aggregation_key.iter().map(read).collect::<Vec<_>>().join(", ")),
                r.summary_table_fields.iter().map(read).collect(),
            ),
            None => (None, Vec::new()),
        };
        Alert {
            rule: r.name.clone(),
            kind: r.kind,
            state,
            at,
            key,
            figures,
            subject,
            text,
            included,
            top_counts,
            group,
            row,
        }
    }

    /// How far back `top_count_keys` counts: the timeframe (ElastAlert's default ten minutes
    /// without one; two timeframes for flatline, whose own window is empty when it fires).
    fn count_window(&self) -> Nanos {
        match (self.rule.kind, self.rule.timeframe) {
            (Kind::Flatline, tf) => tf.saturating_mul(2),
            (_, 0) => 600_000_000_000,
            (_, tf) => tf,
        }
    }

    /// The most frequent values of each `top_count_keys` field among the matching documents
    /// of the counting window before `at` (of the same key), most frequent first.
    fn top_counts(&self, at: Nanos, key: Option<&str>) -> Vec<(String, Vec<(String, u64)>)> {
        let from = at - self.count_window();
        let mut out = Vec::new();
        for (i, field) in self.rule.top_count_keys.iter().enumerate() {
            let mut counts: HashMap<&str, u64> = HashMap::new();
            for (t, k, values) in &self.recent {
                if *t > from && *t <= at && (key.is_none() || k.as_deref() == key) {
                    for v in values.get(i).into_iter().flatten() {
                        *counts.entry(v.as_str()).or_default() += 1;
                    }
                }
            }
            let mut top: Vec<(String, u64)> = counts.into_iter().map(|(v, n)| (v.to_string(), n)).collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            top.truncate(self.rule.top_count_number);
            out.push((field.clone(), top));
        }
        out
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(_) => false,
    }
}

fn push_time(q: &mut VecDeque<Nanos>, t: Nanos) {
    if q.len() >= MAX_WINDOW {
        q.pop_front();
    }
    // Documents arrive nearly in time order; a late one is put in its place.
    let at = q.iter().rposition(|&x| x <= t).map_or(0, |p| p + 1);
    q.insert(at, t);
}

/// Drops times at or before `cutoff` (ElastAlert's windows hold less than a timeframe).
fn prune(q: &mut VecDeque<Nanos>, cutoff: Nanos) {
    while q.front().is_some_and(|&t| t <= cutoff) {
        q.pop_front();
    }
}

/// ElastAlert's `find_matches` for counts.
pub fn spike_matches(reference: u64, current: u64, height: f64, kind: SpikeType, min_ref: u64, min_cur: u64) -> bool {
    if current < min_cur || reference < min_ref {
        return false;
    }
    let (r, c) = (reference as f64, current as f64);
    let down = c <= r / height;
    let up = c >= r * height;
    match kind {
        SpikeType::Up => up,
        SpikeType::Down => down,
        SpikeType::Both => up || down,
    }
}

/// Python's `str.format` with positional arguments, as ElastAlert renders `alert_text`:
/// `{0}`, `{}` (in order), `{{`/`}}`; anything else in braces is kept as written.
pub fn format_args_py(template: &str, args: &[String]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut next = 0;
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(tail.as_bytes()[0] as char);
            rest = &tail[2..];
            continue;
        }
        if let (true, Some(close)) = (tail.starts_with('{'), tail.find('}')) {
            let inner = &tail[1..close];
            let index = if inner.is_empty() {
                next += 1;
                Some(next - 1)
            } else {
                inner.parse::<usize>().ok()
            };
            match index.and_then(|n| args.get(n)) {
                Some(a) => out.push_str(a),
                None => out.push_str(&tail[..=close]),
            }
            rest = &tail[close + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// An alert's text when its rule has no `alert_text`. `seconds` is the timeframe in seconds
/// as Rust prints an `f64` (see [`Engine::new`]). Written piece by piece: this runs for
/// every alert.
fn describe(r: &Rule, seconds: &str, state: State, key: Option<&str>, f: &Map<String, Value>) -> String {
    let n = |k: &str| f.get(k).and_then(Value::as_u64).unwrap_or(0);
    let json = |k: &str| f.get(k).map(Value::to_string).unwrap_or_default();
    let mut t = Text(String::with_capacity(96));
    match (r.kind, state) {
        (Kind::Frequency, State::Firing) => {
            t.s("At least ").n(r.num_events).s(" events within ").s(seconds).s(" s").key(key)
        }
        (Kind::Frequency, State::Resolved) => {
            t.s("Fewer than ").n(r.num_events).s(" events within ").s(seconds).s(" s").key(key).s(" again")
        }
        (Kind::Spike, State::Firing) => t
            .s("An abnormal number (")
            .n(n("spike_count"))
            .s(") of events")
            .key(key)
            .s("; in the ")
            .s(seconds)
            .s(" s before, there were ")
            .n(n("reference_count")),
        (Kind::Spike, State::Resolved) => t
            .s("No spike")
            .key(key)
            .s(" any more: ")
            .n(n("spike_count"))
            .s(" events against ")
            .n(n("reference_count"))
            .s(" before"),
        (Kind::Flatline, State::Firing) => t
            .s("Fewer than ")
            .n(r.threshold)
            .s(" events within ")
            .s(seconds)
            .s(" s")
            .key(key)
            .s(" (counted ")
            .n(n("count"))
            .s(")"),
        (Kind::Flatline, State::Resolved) => {
            t.n(n("count")).s(" events within ").s(seconds).s(" s").key(key).s(" again")
        }
        (Kind::Change, _) => t
            .s(&r.compare_key.join(", "))
            .s(" changed")
            .key(key)
            .s(": ")
            .s(&json("old_value"))
            .s(" -> ")
            .s(&json("new_value")),
        (Kind::Blacklist, _) => t.s(&r.compare_key.join(", ")).s(" is on the blacklist: ").s(&json("value")),
        (Kind::Whitelist, _) => t.s(&r.compare_key.join(", ")).s(" is not on the whitelist: ").s(&json("value")),
        (Kind::Any, _) => t.s("A document matched").key(key),
    };
    t.0
}

/// A text written piece by piece.
struct Text(String);

impl Text {
    fn s(&mut self, piece: &str) -> &mut Self {
        self.0.push_str(piece);
        self
    }

    fn n(&mut self, v: u64) -> &mut Self {
        self.s(itoa::Buffer::new().format(v))
    }

    /// ` for KEY`, when there is a key.
    fn key(&mut self, key: Option<&str>) -> &mut Self {
        if let Some(k) = key {
            self.s(" for ").s(k);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts as they were written with `format!`.
    fn describe_formatted(r: &Rule, state: State, key: Option<&str>, f: &Map<String, Value>) -> String {
        let secs = r.timeframe as f64 / 1e9;
        let key = key.map(|k| format!(" for {k}")).unwrap_or_default();
        let n = |k: &str| f.get(k).and_then(Value::as_u64).unwrap_or(0);
        let json = |k: &str| f.get(k).map(Value::to_string).unwrap_or_default();
        let keys = r.compare_key.join(", ");
        match (r.kind, state) {
            (Kind::Frequency, State::Firing) => format!("At least {} events within {secs} s{key}", r.num_events),
            (Kind::Frequency, State::Resolved) => {
                format!("Fewer than {} events within {secs} s{key} again", r.num_events)
            }
            (Kind::Spike, State::Firing) => format!(
                "An abnormal number ({}) of events{key}; in the {secs} s before, there were {}",
                n("spike_count"),
                n("reference_count")
            ),
            (Kind::Spike, State::Resolved) => {
                format!("No spike{key} any more: {} events against {} before", n("spike_count"), n("reference_count"))
            }
            (Kind::Flatline, State::Firing) => {
                format!("Fewer than {} events within {secs} s{key} (counted {})", r.threshold, n("count"))
            }
            (Kind::Flatline, State::Resolved) => format!("{} events within {secs} s{key} again", n("count")),
            (Kind::Change, _) => format!("{keys} changed{key}: {} -> {}", json("old_value"), json("new_value")),
            (Kind::Blacklist, _) => format!("{keys} is on the blacklist: {}", json("value")),
            (Kind::Whitelist, _) => format!("{keys} is not on the whitelist: {}", json("value")),
            (Kind::Any, _) => format!("A document matched{key}"),
        }
    }

    #[test]
    fn alert_texts_read_as_they_did_when_formatted() {
        // Each type with the options it takes; the timeframe goes where it is read.
        let kinds = [
            ("any", ""),
            ("blacklist", "compare_key: a.b\nblacklist: [x]\n"),
            ("whitelist", "compare_key: a.b\nwhitelist: [x]\nignore_null: true\n"),
            ("change", "compare_key: [a.b, c]\nquery_key: q\nignore_null: true\n"),
            ("frequency", "num_events: 12\n"),
            ("spike", "spike_height: 2\nspike_type: up\n"),
            ("flatline", "threshold: 4\n"),
        ];
        let figures: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "count": 3, "spike_count": 40, "reference_count": 9, "value": "07700 900123",
            "old_value": "10.0.0.1", "new_value": ["a", 2],
        }))
        .unwrap();
        let mut seen = std::collections::HashSet::new();
        for (kind, options) in kinds {
            for timeframe in ["1", "2.5", "7200", "0.001"] {
                let timed = matches!(kind, "frequency" | "spike" | "flatline" | "change");
                let timeframe_line =
                    if timed { format!("timeframe: {{seconds: {timeframe}}}\n") } else { String::new() };
                let yaml = format!("name: r\ntype: {kind}\n{options}{timeframe_line}");
                let rule = match crate::parse(&yaml, std::path::Path::new("r.yaml")) {
                    Ok(r) => r,
                    Err(e) => panic!("{kind}: {e}"),
                };
                let engine = Engine::new(rule);
                for state in [State::Firing, State::Resolved] {
                    for key in [None, Some("10.1.2.3"), Some("")] {
                        for f in [&figures, &Map::new()] {
                            let want = describe_formatted(&engine.rule, state, key, f);
                            let got = describe(&engine.rule, &engine.seconds, state, key, f);
                            assert_eq!(got, want, "{kind} {timeframe} {state:?} {key:?}");
                            seen.insert(got);
                        }
                    }
                }
            }
        }
        assert!(seen.len() > 100, "only {} different texts", seen.len());
    }

    #[test]
    fn past_the_most_keys_the_least_recently_seen_is_forgotten() {
        let yaml = "name: r\ntype: frequency\nnum_events: 3\ntimeframe: {hours: 1}\nquery_key: q\n";
        let mut engine = Engine::new(crate::parse(yaml, std::path::Path::new("r.yaml")).unwrap());
        let mut out = Vec::new();
        let t0: Nanos = 1_790_000_000_000_000_000;
        // Key 0 is seen again after the others, so key 1 is the least recently seen.
        for i in 0..MAX_KEYS as i64 {
            engine.counted(t0 + i, Some(format!("k{i}")), 1, &mut out);
        }
        engine.counted(t0 + MAX_KEYS as i64, Some("k0".into()), 1, &mut out);
        assert_eq!(engine.keys.len(), MAX_KEYS);
        engine.counted(t0 + MAX_KEYS as i64 + 1, Some("new".into()), 1, &mut out);
        assert_eq!(engine.keys.len(), MAX_KEYS);
        assert!(!engine.keys.contains_key("k1"), "the least recently seen key is kept");
        assert!(engine.keys.contains_key("k0") && engine.keys.contains_key("k2") && engine.keys.contains_key("new"));
        // A key seen before is found, not made again: its two events count together.
        assert_eq!(engine.keys.get("k0").map(|s| s.times.len()), Some(2));
        assert!(out.is_empty(), "{out:?}");
    }
}

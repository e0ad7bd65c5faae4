//! Rule files: ElastAlert 2's YAML for the seven rule types Fireman runs (any, blacklist,
//! whitelist, change, frequency, spike, flatline), read strictly — an unknown or mistyped
//! key is an error naming the file, the key and its line, never a silently ignored option.
//! Options and their meaning: `../shared/research/peers.md` §5.2 and ElastAlert 2's
//! `ruletypes.rst`; docs/fireman.md lists what is supported.

use crate::filter::{Filter, FilterError};
use iotw_event::Nanos;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The longest rule file read (a rule is a few hundred bytes; lists go in `!file` entries).
pub const MAX_RULE_BYTES: usize = 1 << 20;
/// The most values a `blacklist`/`whitelist` (files included) may hold.
pub const MAX_LIST_VALUES: usize = 1_000_000;
/// Longest `!file` list read.
pub const MAX_LIST_BYTES: u64 = 64 << 20;

/// A duration as ElastAlert writes it: `{minutes: 5}`, `{hours: 1, minutes: 30}`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Timeframe {
    #[serde(default)]
    pub weeks: f64,
    #[serde(default)]
    pub days: f64,
    #[serde(default)]
    pub hours: f64,
    #[serde(default)]
    pub minutes: f64,
    #[serde(default)]
    pub seconds: f64,
    #[serde(default)]
    pub milliseconds: f64,
}

/// `aggregation:` as written: a period (as a [`Timeframe`]) or `{schedule: <cron>}`. (Not
/// an untagged enum of the two: a mistyped key must still be named, with its line. And the
/// period's fields are repeated rather than a flattened `Timeframe`: serde's `flatten` does
/// not work with `deny_unknown_fields`.)
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregationFile {
    pub schedule: Option<String>,
    #[serde(default)]
    pub weeks: f64,
    #[serde(default)]
    pub days: f64,
    #[serde(default)]
    pub hours: f64,
    #[serde(default)]
    pub minutes: f64,
    #[serde(default)]
    pub seconds: f64,
    #[serde(default)]
    pub milliseconds: f64,
}

impl AggregationFile {
    fn period(&self) -> Timeframe {
        let AggregationFile { weeks, days, hours, minutes, seconds, milliseconds, .. } = *self;
        Timeframe { weeks, days, hours, minutes, seconds, milliseconds }
    }
}

/// When an aggregation group's notification goes (see [`Rule::aggregation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aggregation {
    /// This long after the group's first alert.
    Every(Nanos),
    /// At the first time the schedule names after the group's first alert (ElastAlert asks
    /// croniter for the next time after now; in the stream, now is the alert's document time).
    Schedule(crate::cron::Cron),
}

impl Aggregation {
    /// When the group that `at` starts is sent (`Nanos::MAX`: at the end of the run).
    pub fn until(&self, at: Nanos) -> Nanos {
        match self {
            Aggregation::Every(period) => at.saturating_add(*period),
            Aggregation::Schedule(cron) => cron.next_after(at).unwrap_or(Nanos::MAX),
        }
    }
}

impl Timeframe {
    pub fn nanos(&self) -> Nanos {
        let secs = self.weeks * 604_800.0
            + self.days * 86_400.0
            + self.hours * 3_600.0
            + self.minutes * 60.0
            + self.seconds
            + self.milliseconds / 1_000.0;
        (secs * 1e9).clamp(0.0, i64::MAX as f64) as Nanos
    }
}

/// One field name or several (`query_key`, `compare_key`, `include`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn fields(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Any,
    Blacklist,
    Whitelist,
    Change,
    Frequency,
    Spike,
    Flatline,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SpikeType {
    #[default]
    Both,
    Up,
    Down,
}

/// A rule file as written. Keys that only matter to ElastAlert's polling of Elasticsearch
/// (`index`, `use_count_query`, ...) are accepted so that the same file serves both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    #[serde(default)]
    pub filter: Vec<serde_json::Value>,
    pub query_key: Option<OneOrMany>,
    pub compare_key: Option<OneOrMany>,
    #[serde(default)]
    pub blacklist: Vec<ListEntry>,
    #[serde(default)]
    pub whitelist: Vec<ListEntry>,
    pub ignore_null: Option<bool>,
    pub timeframe: Option<Timeframe>,
    pub num_events: Option<u64>,
    pub spike_height: Option<f64>,
    pub spike_type: Option<SpikeType>,
    pub threshold_ref: Option<u64>,
    pub threshold_cur: Option<u64>,
    #[serde(default)]
    pub alert_on_new_data: bool,
    pub threshold: Option<u64>,
    #[serde(default)]
    pub forget_keys: bool,
    pub realert: Option<Timeframe>,
    pub exponential_realert: Option<Timeframe>,
    pub alert_subject: Option<String>,
    #[serde(default)]
    pub alert_subject_args: Vec<String>,
    pub alert_text: Option<String>,
    #[serde(default)]
    pub alert_text_args: Vec<String>,
    pub alert_text_type: Option<String>,
    pub include: Option<OneOrMany>,
    pub top_count_keys: Option<OneOrMany>,
    pub top_count_number: Option<u64>,
    pub aggregation: Option<AggregationFile>,
    pub aggregation_key: Option<OneOrMany>,
    pub summary_table_fields: Option<OneOrMany>,
    pub summary_prefix: Option<String>,
    pub summary_suffix: Option<String>,
    /// Alerts are grouped in document time, which is match time: accepted, no effect.
    pub aggregate_by_match_time: Option<bool>,
    /// ElastAlert appends `.keyword` to the keys; the stream counts the values themselves.
    pub raw_count_keys: Option<bool>,
    #[serde(default)]
    pub alert: Option<OneOrMany>,
    pub is_enabled: Option<bool>,
    // Accepted for ElastAlert compatibility; they steer its polling of an index.
    pub index: Option<String>,
    pub timestamp_field: Option<String>,
    pub use_count_query: Option<bool>,
    pub use_terms_query: Option<bool>,
    pub terms_size: Option<u64>,
    pub use_strftime_index: Option<bool>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub priority: Option<i64>,
    pub category: Option<String>,
    // Alerter options, with ElastAlert 2's names (alerter.rs).
    pub http_post_url: Option<OneOrMany>,
    pub http_post_payload: Option<std::collections::BTreeMap<String, String>>,
    pub http_post_static_payload: Option<serde_json::Map<String, serde_json::Value>>,
    pub http_post_all_values: Option<bool>,
    pub http_post_headers: Option<std::collections::BTreeMap<String, String>>,
    pub http_post_timeout: Option<f64>,
    pub slack_webhook_url: Option<OneOrMany>,
    pub slack_username_override: Option<String>,
    pub slack_channel_override: Option<String>,
    pub slack_emoji_override: Option<String>,
    pub slack_icon_url_override: Option<String>,
    pub slack_msg_color: Option<String>,
    pub slack_title_link: Option<String>,
    pub slack_timeout: Option<f64>,
    pub ms_teams_webhook_url: Option<OneOrMany>,
    pub ms_teams_alert_summary: Option<String>,
    pub ms_teams_theme_color: Option<String>,
    pub ms_teams_alert_fixed_width: Option<bool>,
    pub ms_teams_timeout: Option<f64>,
    pub email: Option<OneOrMany>,
    pub cc: Option<OneOrMany>,
    pub bcc: Option<OneOrMany>,
    pub from_addr: Option<String>,
    pub email_reply_to: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_ssl: Option<bool>,
    pub smtp_auth_file: Option<String>,
    /// Not ElastAlert's: certificates to trust for the SMTP server's TLS.
    pub smtp_ca_certs: Option<String>,
    pub smtp_timeout: Option<f64>,
    pub command: Option<OneOrMany>,
    pub pipe_match_json: Option<bool>,
    pub pipe_alert_text: Option<bool>,
    pub fail_on_non_zero_exit: Option<bool>,
}

/// A list entry: a value, or `"!file /path"` (one value per line).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ListEntry {
    Text(String),
    Number(f64),
    Bool(bool),
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: larger than {limit} bytes")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid { path: PathBuf, key: &'static str, message: String },
    #[error("{path}: filter: {source}")]
    Filter { path: PathBuf, source: FilterError },
}

/// A rule ready to run: the file's options checked and resolved.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub path: PathBuf,
    /// The rule file's text, hashed (FNV-1a): saved state belongs to the rule as written.
    pub fingerprint: u64,
    pub kind: Kind,
    pub filter: Filter,
    pub query_key: Vec<String>,
    pub compare_key: Vec<String>,
    /// Blacklist or whitelist values, as text.
    pub list: std::collections::HashSet<String, foldhash::fast::RandomState>,
    pub ignore_null: bool,
    pub timeframe: Nanos,
    pub num_events: u64,
    pub spike_height: f64,
    pub spike_type: SpikeType,
    pub threshold_ref: u64,
    pub threshold_cur: u64,
    pub alert_on_new_data: bool,
    pub threshold: u64,
    pub forget_keys: bool,
    pub realert: Nanos,
    pub exponential_realert: Option<Nanos>,
    pub alert_subject: Option<String>,
    pub alert_subject_args: Vec<String>,
    pub alert_text: Option<String>,
    pub alert_text_args: Vec<String>,
    pub include: Vec<String>,
    /// Fields whose most frequent values over the timeframe before an alert are added to it.
    pub top_count_keys: Vec<String>,
    pub top_count_number: usize,
    /// The indices `iotw fireman run` reads for this rule (`index:`); none: its --index.
    pub index: Option<String>,
    /// `aggregation`: alerters get one notification per period or per time of a cron
    /// schedule (per aggregation_key value) listing the alerts of the period; the alert
    /// documents stay one per alert.
    pub aggregation: Option<Aggregation>,
    pub aggregation_key: Vec<String>,
    pub summary_table_fields: Vec<String>,
    pub summary_prefix: Option<String>,
    pub summary_suffix: Option<String>,
    /// `alert_text_type: aggregation_summary_only`: the summary table without each alert's text.
    pub summary_only: bool,
    /// Where its alerts go besides the alert documents (`alert:`).
    pub alerters: Vec<crate::alerter::Alerter>,
    /// How `iotw fireman run` feeds it: documents, or ElastAlert's counts per run.
    pub counting: Counting,
    /// The filter as written (Elasticsearch query DSL), for the cluster to apply in
    /// `_count` and aggregation queries.
    pub filter_dsl: Vec<serde_json::Value>,
}

/// ElastAlert's `use_count_query` and `use_terms_query`: in `iotw fireman run`, a frequency,
/// spike or flatline rule is fed the number of documents its filter matches in each run
/// (`_count`), or that number per `query_key` value (a `terms` aggregation of `terms_size`
/// buckets), counted at the run's end, instead of the documents. In the stream every document
/// is seen anyway, so there the rule takes its documents one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    Documents,
    Count,
    Terms { size: u64 },
}

impl Rule {
    /// Every field the rule reads from a document to decide (filter, query_key, compare_key).
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.filter.fields(&mut out);
        out.extend(self.query_key.iter().cloned());
        out.extend(self.compare_key.iter().cloned());
        out.extend(self.top_count_keys.iter().cloned());
        out
    }
}

/// ElastAlert's default `realert`: one minute.
pub const DEFAULT_REALERT: Nanos = 60_000_000_000;

/// Reads and checks one rule file.
pub fn load(path: &Path) -> Result<Rule, RuleError> {
    let text = read_capped(path, MAX_RULE_BYTES as u64)?;
    parse(&text, path)
}

/// Reads every `*.yaml`/`*.yml` file of a folder (sorted), or the one file given.
pub fn load_all(path: &Path) -> Result<Vec<Rule>, RuleError> {
    if !path.is_dir() {
        return Ok(vec![load(path)?]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|source| RuleError::Read { path: path.into(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut rules = Vec::new();
    for f in files {
        let r = load(&f)?;
        rules.push(r);
    }
    Ok(rules)
}

/// Checks a rule file's text; `path` names it in errors and anchors `!file` entries.
pub fn parse(text: &str, path: &Path) -> Result<Rule, RuleError> {
    let f: RuleFile =
        serde_norway::from_str(text).map_err(|e| RuleError::Yaml { path: path.into(), message: e.to_string() })?;
    let invalid =
        |key: &'static str, message: &str| RuleError::Invalid { path: path.into(), key, message: message.into() };
    let timeframe = f.timeframe.map(|t| t.nanos());
    let need_timeframe = matches!(f.kind, Kind::Frequency | Kind::Spike | Kind::Flatline);
    if need_timeframe && timeframe.is_none_or(|t| t <= 0) {
        return Err(invalid("timeframe", "required by this rule type, and must be more than zero"));
    }
    let compare_key = f.compare_key.as_ref().map(OneOrMany::fields).unwrap_or_default();
    let query_key = f.query_key.as_ref().map(OneOrMany::fields).unwrap_or_default();
    match f.kind {
        Kind::Blacklist | Kind::Whitelist | Kind::Change if compare_key.is_empty() => {
            return Err(invalid("compare_key", "required by this rule type"));
        }
        Kind::Blacklist | Kind::Whitelist if compare_key.len() > 1 => {
            return Err(invalid("compare_key", "one field for blacklist and whitelist rules"));
        }
        Kind::Whitelist | Kind::Change if f.ignore_null.is_none() => {
            return Err(invalid("ignore_null", "required by this rule type (true or false)"));
        }
        Kind::Change if query_key.is_empty() => {
            return Err(invalid("query_key", "required by change rules"));
        }
        Kind::Frequency if f.num_events.is_none_or(|n| n == 0) => {
            return Err(invalid("num_events", "required by frequency rules, at least 1"));
        }
        Kind::Spike if f.spike_height.is_none_or(|h| h.is_nan() || h <= 0.0) => {
            return Err(invalid("spike_height", "required by spike rules, more than zero"));
        }
        Kind::Spike if f.spike_type.is_none() => {
            return Err(invalid("spike_type", "required by spike rules: up, down or both"));
        }
        Kind::Flatline if f.threshold.is_none() => {
            return Err(invalid("threshold", "required by flatline rules"));
        }
        _ => {}
    }
    if f.alert_on_new_data && query_key.is_empty() {
        return Err(invalid("alert_on_new_data", "needs a query_key"));
    }
    if let Some(t) = &f.alert_text_type {
        if !matches!(t.as_str(), "alert_text_only" | "exclude_fields" | "alert_text_jinja" | "aggregation_summary_only")
        {
            return Err(invalid("alert_text_type", "one of alert_text_only, exclude_fields, aggregation_summary_only"));
        }
    }
    let entries = match f.kind {
        Kind::Blacklist => &f.blacklist,
        Kind::Whitelist => &f.whitelist,
        _ => &Vec::new(),
    };
    if matches!(f.kind, Kind::Blacklist | Kind::Whitelist) && entries.is_empty() {
        return Err(invalid(if f.kind == Kind::Blacklist { "blacklist" } else { "whitelist" }, "an empty list"));
    }
    let list = list_values(entries, path, if f.kind == Kind::Whitelist { "whitelist" } else { "blacklist" })?;
    let filter = Filter::parse(&f.filter).map_err(|source| RuleError::Filter { path: path.into(), source })?;
    let alerters = crate::alerter::from_file(&f, path)?;
    let counting = match (f.use_count_query == Some(true), f.use_terms_query == Some(true)) {
        (false, false) => Counting::Documents,
        (true, true) => {
            return Err(invalid("use_terms_query", "use_count_query and use_terms_query exclude each other"))
        }
        (count, _) if !matches!(f.kind, Kind::Frequency | Kind::Spike | Kind::Flatline) => {
            let key = if count { "use_count_query" } else { "use_terms_query" };
            return Err(invalid(key, "only frequency, spike and flatline rules can be fed counts"));
        }
        (true, false) => Counting::Count,
        (false, true) => {
            if query_key.len() != 1 {
                return Err(invalid("use_terms_query", "needs a query_key of one field"));
            }
            Counting::Terms { size: f.terms_size.unwrap_or(50).clamp(1, 10_000) }
        }
    };
    let aggregation = match &f.aggregation {
        None => None,
        Some(a) => match &a.schedule {
            Some(_) if a.period() != Timeframe::default() => {
                return Err(invalid("aggregation", "either a period or a schedule, not both"));
            }
            Some(cron) => Some(Aggregation::Schedule(cron.parse().map_err(|e: String| invalid("aggregation", &e))?)),
            None if a.period().nanos() <= 0 => return Err(invalid("aggregation", "must be more than zero")),
            None => Some(Aggregation::Every(a.period().nanos())),
        },
    };
    Ok(Rule {
        alerters,
        name: f.name,
        path: path.into(),
        fingerprint: fnv1a(text.as_bytes()),
        kind: f.kind,
        filter,
        query_key,
        compare_key,
        list,
        ignore_null: f.ignore_null.unwrap_or(false),
        timeframe: timeframe.unwrap_or(0),
        num_events: f.num_events.unwrap_or(0),
        spike_height: f.spike_height.unwrap_or(0.0),
        spike_type: f.spike_type.unwrap_or_default(),
        threshold_ref: f.threshold_ref.unwrap_or(0),
        threshold_cur: f.threshold_cur.unwrap_or(0),
        alert_on_new_data: f.alert_on_new_data,
        threshold: f.threshold.unwrap_or(0),
        forget_keys: f.forget_keys,
        realert: f.realert.map_or(DEFAULT_REALERT, |t| t.nanos()),
        exponential_realert: f.exponential_realert.map(|t| t.nanos()),
        alert_subject: f.alert_subject,
        alert_subject_args: f.alert_subject_args,
        alert_text: f.alert_text,
        alert_text_args: f.alert_text_args,
        include: f.include.as_ref().map(OneOrMany::fields).unwrap_or_default(),
        top_count_keys: f.top_count_keys.as_ref().map(OneOrMany::fields).unwrap_or_default(),
        top_count_number: f.top_count_number.map_or(5, |n| n.clamp(1, 1000) as usize),
        index: f.index.clone(),
        aggregation,
        aggregation_key: f.aggregation_key.as_ref().map(OneOrMany::fields).unwrap_or_default(),
        summary_table_fields: f.summary_table_fields.as_ref().map(OneOrMany::fields).unwrap_or_default(),
        summary_prefix: f.summary_prefix.clone(),
        summary_suffix: f.summary_suffix.clone(),
        summary_only: f.alert_text_type.as_deref() == Some("aggregation_summary_only"),
        counting,
        filter_dsl: f.filter.clone(),
    })
}

/// The values of a black- or whitelist, `!file` entries read (relative to the rule's folder).
fn list_values(
    entries: &[ListEntry],
    path: &Path,
    key: &'static str,
) -> Result<std::collections::HashSet<String, foldhash::fast::RandomState>, RuleError> {
    let mut out = std::collections::HashSet::default();
    for e in entries {
        match e {
            ListEntry::Text(t) if t.starts_with("!file") => {
                let file = t.trim_start_matches("!file").trim();
                let file = beside(path, file);
                let text = read_capped(&file, MAX_LIST_BYTES)?;
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    out.insert(line.to_string());
                    if out.len() > MAX_LIST_VALUES {
                        return Err(RuleError::Invalid {
                            path: path.into(),
                            key,
                            message: format!("{}: more than {MAX_LIST_VALUES} values", file.display()),
                        });
                    }
                }
            }
            ListEntry::Text(t) => {
                out.insert(t.clone());
            }
            ListEntry::Number(n) => {
                out.insert(number_text(*n));
            }
            ListEntry::Bool(b) => {
                out.insert(b.to_string());
            }
        }
    }
    Ok(out)
}

/// A file a rule file names, relative to the rule file's folder.
pub(crate) fn beside(rule: &Path, name: &str) -> PathBuf {
    rule.parent().unwrap_or(Path::new(".")).join(name)
}

/// A file's text, refused when longer than `max` bytes (a list file may be named wrongly:
/// `/dev/zero` must not fill memory).
pub(crate) fn read_capped(file: &Path, max: u64) -> Result<String, RuleError> {
    use std::io::Read;
    let read = || -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        std::fs::File::open(file)?.take(max + 1).read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    let bytes = read().map_err(|source| RuleError::Read { path: file.into(), source })?;
    if bytes.len() as u64 > max {
        return Err(RuleError::TooLarge { path: file.into(), limit: max });
    }
    String::from_utf8(bytes).map_err(|_| RuleError::Read {
        path: file.into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })
}

/// FNV-1a, 64 bits: stable across runs and builds (unlike the hashers of hash maps).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A number as a field value's text: `5` for 5.0, as JSON writes integers.
pub fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

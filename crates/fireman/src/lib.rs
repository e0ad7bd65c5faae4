//! Fireman: rules that watch the document stream and raise alerts, in ElastAlert 2's rule
//! format and semantics for its kinds any, blacklist, whitelist, change, frequency, spike and
//! flatline (docs/fireman.md). Every document passes [`Stage::observe`] after enrichment;
//! alerts come back as documents (`event.kind: alert`, dataset `alert`) shipped like any
//! other. Rules run in document time, so `iotw fireman test` over a capture is a backtest
//! of exactly what the stream would have done.

pub mod engine;
pub mod filter;
mod lucene;
pub mod rule;

pub use engine::{Alert, Engine, Memory, State};
pub use rule::{load, load_all, parse, Rule, RuleError};

use iotw_event::Event;

/// The rules of a run.
#[derive(Debug, Default)]
pub struct Stage {
    engines: Vec<Engine>,
    /// The fields any rule reads: each document is walked once for all of them.
    fields: filter::FieldSet,
    /// Alerts raised (firing and resolved).
    pub alerts: u64,
}

impl Stage {
    pub fn new(rules: Vec<Rule>) -> Self {
        let fields = filter::FieldSet::new(rules.iter().flat_map(Rule::fields));
        Stage { engines: rules.into_iter().map(Engine::new).collect(), fields, alerts: 0 }
    }

    /// Saves what every rule remembers to `path` (written aside, then renamed into place).
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        let state = Saved {
            version: SAVED_VERSION,
            rules: self.engines.iter().map(|e| (e.rule.name.clone(), e.memory())).collect(),
        };
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&state).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, path)
    }

    /// Takes up what a previous run saved at `path` (nothing when there is no file yet).
    /// Returns the rules whose memory was not taken because their file changed since.
    pub fn restore(&mut self, path: &std::path::Path) -> std::io::Result<Vec<String>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let saved: Saved = serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
        if saved.version != SAVED_VERSION {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: saved by another version of Fireman ({})", path.display(), saved.version),
            ));
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
        let mut raised = Vec::new();
        if self.engines.is_empty() || e.dataset == "alert" {
            return raised;
        }
        let whole;
        let content = match e.finished_members() {
            Some(c) => c,
            None => {
                whole = e.to_json().into_bytes();
                iotw_event::json::object_content(&whole).unwrap_or_default()
            }
        };
        let mut doc = filter::Doc::indexed(e, content, &self.fields);
        for r in &mut self.engines {
            raised.extend(r.observe_in(e, &mut doc));
        }
        raised
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
        let mut raised = Vec::new();
        for e in events.iter() {
            raised.extend(self.alerts_for(e));
        }
        self.alerts += raised.len() as u64;
        events.extend(raised.iter().map(alert_document));
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
    let mut e = Event::new(
        "alert",
        "alert",
        a.at,
        &[a.rule.as_bytes(), key.as_bytes(), &a.at.to_be_bytes(), a.state.as_str().as_bytes()],
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

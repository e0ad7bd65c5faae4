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

pub use engine::{Alert, Engine, State};
pub use rule::{load, load_all, parse, Rule, RuleError};

use iotw_event::{Event, Nanos};

/// The rules of a run.
#[derive(Debug, Default)]
pub struct Stage {
    engines: Vec<Engine>,
    /// Alerts raised (firing and resolved).
    pub alerts: u64,
}

impl Stage {
    pub fn new(rules: Vec<Rule>) -> Self {
        Stage { engines: rules.into_iter().map(Engine::new).collect(), alerts: 0 }
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
        // An alert never feeds a rule.
        for e in events.iter().filter(|e| e.dataset != "alert") {
            for r in &mut self.engines {
                raised.extend(r.observe(e));
            }
        }
        self.alerts += raised.len() as u64;
        events.extend(raised.iter().map(alert_document));
    }

    /// The run is over (or the clock moved without documents): time-driven conditions up to
    /// `now` are checked; their alerts as documents.
    pub fn advance(&mut self, now: Nanos) -> Vec<Event> {
        let mut raised = Vec::new();
        for r in &mut self.engines {
            r.advance(now, &mut raised);
        }
        self.alerts += raised.len() as u64;
        raised.iter().map(alert_document).collect()
    }
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

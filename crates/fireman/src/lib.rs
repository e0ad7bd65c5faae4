//! Fireman: rules that watch the document stream and raise alerts (ElastAlert kinds:
//! any, blacklist, whitelist, change, frequency, spike, flatline), and the Elasticsearch
//! autoscaler. The rule engine arrives with its issue; this is the pipeline stage it plugs
//! into: every document passes [`Stage::observe`], and alerts come back as documents
//! (`event.kind: alert`) that are shipped like any other.

use iotw_event::Event;

/// A rule evaluated in the stream.
pub trait Rule: Send {
    fn name(&self) -> &str;
    /// Sees one document; returns the alerts it raises.
    fn observe(&mut self, e: &Event) -> Vec<Event>;
}

/// The rules of a run.
#[derive(Default)]
pub struct Stage {
    rules: Vec<Box<dyn Rule>>,
    pub alerts: u64,
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage").field("rules", &self.rules.len()).field("alerts", &self.alerts).finish()
    }
}

impl Stage {
    pub fn push(&mut self, r: Box<dyn Rule>) {
        self.rules.push(r);
    }

    /// Runs every rule over `events` and appends the alerts they raise.
    pub fn observe(&mut self, events: &mut Vec<Event>) {
        if self.rules.is_empty() {
            return;
        }
        let n = events.len();
        for i in 0..n {
            for r in &mut self.rules {
                let alerts = r.observe(&events[i]);
                self.alerts += alerts.len() as u64;
                events.extend(alerts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct AnyRejected;
    impl Rule for AnyRejected {
        fn name(&self) -> &str {
            "rejected"
        }
        fn observe(&mut self, e: &Event) -> Vec<Event> {
            if e.get_str("flow.state").as_deref() == Some("REJ") {
                vec![Event::new("alert", "alert", e.ts, &[e.id.as_bytes()])]
            } else {
                vec![]
            }
        }
    }

    #[test]
    fn alerts_follow_the_documents_that_raised_them() {
        let mut s = Stage::default();
        s.push(Box::new(AnyRejected));
        let mut a = Event::new("flow", "event", 1, &[b"a"]);
        a.set("flow.state", "REJ");
        let b = Event::new("flow", "event", 2, &[b"b"]);
        let mut evs = vec![a, b];
        s.observe(&mut evs);
        assert_eq!(evs.len(), 3);
        assert_eq!(evs[2].dataset, "alert");
        assert_eq!(s.alerts, 1);
    }
}

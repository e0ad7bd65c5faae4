//! Enrichment: pure `fn(&mut Event)` steps between decoding and shipping, run in a fixed
//! order (geotag before mask). Data an enricher needs is loaded once at start; lookups on the
//! packet path do not allocate.
//!
//! Correlation: [`journey::Journeys`] joins a call's T-Library and SIP documents by CallUUID.
//! Then, in this order: [`ipgeo::IpGeo`] (addresses -> place, from a MaxMind DB and the site
//! table), [`geotag::Geotag`] (phone numbers and UK postcodes -> place) and [`mask::Mask`]
//! (personal data kept, hashed, truncated or dropped, after the places are written).

mod blocks;
pub mod geotag;
pub mod ipgeo;
pub mod journey;
pub mod mask;
pub mod phone;
pub mod places;

use iotw_event::Event;

/// One enrichment step.
pub trait Enricher: Send {
    fn name(&self) -> &'static str;
    fn enrich(&self, e: &mut Event);
}

/// The enrichers of a run, in order.
#[derive(Default)]
pub struct Chain {
    steps: Vec<Box<dyn Enricher>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.steps.iter().map(|s| s.name())).finish()
    }
}

impl Chain {
    pub fn push(&mut self, e: Box<dyn Enricher>) {
        self.steps.push(e);
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn apply(&self, events: &mut [Event]) {
        for e in events {
            for s in &self.steps {
                s.enrich(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tag(&'static str);
    impl Enricher for Tag {
        fn name(&self) -> &'static str {
            self.0
        }
        fn enrich(&self, e: &mut Event) {
            let prev = e.get_str("tags").unwrap_or_default().into_owned();
            e.set("tags", format!("{prev}{}", self.0));
        }
    }

    #[test]
    fn enrichers_run_in_order() {
        let mut c = Chain::default();
        c.push(Box::new(Tag("geo,")));
        c.push(Box::new(Tag("mask")));
        let mut evs = vec![Event::new("flow", "event", 0, &[])];
        c.apply(&mut evs);
        assert_eq!(evs[0].get_str("tags").as_deref(), Some("geo,mask"));
    }
}

//! Enrichment over text from the wire: the input (as UTF-8, lossily) is read as a phone
//! number, searched for postcodes, and put into a T-Library-shaped document (ANI, DNIS, a
//! SIP URI, attached data, free text) that is geotagged and then masked with the `standard`
//! and `strict` presets. Every document must stay valid JSON; masking a finished document in
//! place must give what masking it the structural way gives; and masking twice must change
//! nothing the first pass left (a masked value is never found again as a number).
#![no_main]
#[path = "common.rs"]
mod common;
use iotw_enrich::geotag::Geotag;
use iotw_enrich::mask::{Mask, Policy};
use iotw_enrich::phone::{self, Dialling};
use iotw_enrich::Enricher;
use iotw_event::Event;
use libfuzzer_sys::fuzz_target;

struct Stages {
    geotag: Geotag,
    standard: Mask,
    strict: Mask,
}

fn stages() -> Stages {
    {
        let dialling = Dialling { outside_line: "9".into() };
        let geotag = Geotag::new(dialling.clone(), vec!["message".into()]);
        let mask = |preset: &str| {
            let p = Policy::preset(preset).unwrap();
            Mask::new(p, Some(b"fuzz"), dialling.clone()).unwrap()
        };
        Stages { standard: mask("standard"), strict: mask("strict"), geotag }
    }
}

thread_local! {
    static STAGES: Stages = stages();
}

fuzz_target!(|data: &[u8]| STAGES.with(|s| run(s, data)));

fn run(s: &Stages, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = phone::parse(&text, &s.geotag.dialling);
    let mut at = 0;
    while let Some(f) = iotw_enrich::places::postcodes().find(&text, at) {
        assert!(f.end > at);
        at = f.end;
    }
    let half = text.len() / 2;
    let (a, b) = text.split_at(text.floor_char_boundary(half));
    for preset in [&s.standard, &s.strict] {
        // The same members, once still open and once finished (with an `event` object, as
        // decoders leave documents): masked the structural way and in place.
        let build = |finished: bool| {
            let mut e = Event::new("genesys", "event", 0, &[data]);
            e.obj("source").str("ip", "10.0.0.1").end();
            e.obj("genesys").str("ani", a).str("dnis", b).str("other_dn", &text);
            e.obj("user_data").str("PostCode", &text).str("CallbackNumber", b).u64("Handle", 7).end().end();
            e.str("message", &format!("call {text} -> sip:{a}@host"));
            if finished {
                e.obj("event").str("kind", "event").end();
            }
            e
        };
        let mut out = vec![build(false), build(true)];
        for e in &mut out {
            s.geotag.enrich(e);
            preset.enrich(e);
        }
        common::assert_valid_documents(&mut out);
        let json = |e: &Event| {
            let mut v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
            v.as_object_mut().unwrap().remove("event");
            v
        };
        assert_eq!(json(&out[0]), json(&out[1]), "in place and structural masking differ");
        for e in &mut out {
            let once = e.to_json();
            preset.enrich(e);
            assert_eq!(once, e.to_json(), "masking again changed the document");
        }
    }
}

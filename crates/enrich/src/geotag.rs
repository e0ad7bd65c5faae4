//! Geotagging of phone numbers and UK postcodes, on the agent: each number a document carries
//! in a known role (SIP From/To/Request-URI/P-Asserted-Identity/Diversion, a call's caller
//! and callee, T-Library ANI/DNIS/OtherDN/ThisDN, and phone numbers among attached data) is
//! normalised, classified, and — for UK geographic numbers — placed by its dialling code;
//! the first UK postcode in attached data (or in fields the site names) is placed by its
//! district. Fields written (docs/events.md):
//!
//! - `phone.<role>.number` (E.164), `.class`, `.country_code`, `.area_code`,
//!   `.geo.name`, `.geo.location` (geo_point), `.geo.country_iso_code`, `.geo.precision`
//! - `postcode.district`, `.area`, `.field`, `.geo.name`, `.geo.location`, `.geo.precision`

use crate::phone::{self, Class, Dialling, Phone};
use crate::places::{DiallingCodes, Place, Postcodes};
use crate::Enricher;
use iotw_event::json::{object_content, str_value, Members};
use iotw_event::Event;
use std::sync::Arc;

/// Where numbers sit in each dataset, and the role each plays.
const PHONE_FIELDS: &[(&str, &str, &str)] = &[
    ("sip", "sip.from.uri.username", "caller"),
    ("sip", "sip.to.uri.username", "callee"),
    ("sip", "sip.uri.username", "target"),
    ("sip", "sip.headers.p-asserted-identity", "asserted"),
    ("sip", "sip.headers.diversion", "diversion"),
    ("call", "call.caller.user", "caller"),
    ("call", "call.callee.user", "callee"),
    ("genesys", "genesys.ani", "caller"),
    ("genesys", "genesys.dnis", "callee"),
    ("genesys", "genesys.other_dn", "other"),
    ("genesys", "genesys.this_dn", "this"),
    ("genesys", "genesys.outbound.phone", "outbound"),
    ("journey", "journey.ani", "caller"),
    ("journey", "journey.dnis", "callee"),
];

/// Attached data (key-value lists) by dataset.
const USER_DATA: &[(&str, &str)] = &[("genesys", "genesys.user_data"), ("journey", "journey.user_data")];

/// The UK place tables and how this site dials.
#[derive(Debug)]
pub struct Geotag {
    pub codes: Arc<DiallingCodes>,
    pub postcodes: Arc<Postcodes>,
    pub dialling: Dialling,
    /// Text fields (dotted names) also searched for postcodes.
    pub postcode_fields: Vec<String>,
}

impl Geotag {
    pub fn new(dialling: Dialling, postcode_fields: Vec<String>) -> Self {
        Geotag {
            codes: Arc::new(DiallingCodes::embedded()),
            postcodes: Arc::new(Postcodes::embedded()),
            dialling,
            postcode_fields,
        }
    }

    /// The place of a UK geographic number, with the prefix that matched.
    pub fn place_of(&self, p: &Phone) -> Option<(&str, &Place)> {
        if p.class != Class::Geographic {
            return None;
        }
        let mut buf = [0u8; 18];
        let national = p.national(&mut buf);
        self.codes.lookup(national)
    }

    fn tag_phone(&self, e: &mut Event, role: &str, p: &Phone) {
        let base = format!("phone.{role}");
        e.set(&format!("{base}.class"), p.class.as_str());
        if p.class == Class::Withheld {
            return;
        }
        e.set(&format!("{base}.number"), format!("+{}", p.e164_digits()));
        e.set(&format!("{base}.country_code"), p.country_code());
        if let Some((prefix, place)) = self.place_of(p) {
            e.set(&format!("{base}.area_code"), prefix);
            write_place(e, &base, place);
        }
    }
}

fn write_place(e: &mut Event, base: &str, place: &Place) {
    e.set(&format!("{base}.geo.name"), &*place.name);
    e.set(&format!("{base}.geo.location"), serde_json::json!({"lat": place.lat, "lon": place.lon}));
    e.set(&format!("{base}.geo.country_iso_code"), "GB");
    e.set(&format!("{base}.geo.precision"), place.precision);
}

/// The number in a header value such as `"Alice" <sip:+441134960000@host;user=phone>;tag=x`
/// or `<tel:+441134960000>;reason=unconditional`: the user part of its first URI.
fn header_number(v: &str) -> &str {
    let inner = match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if b > a => v.get(a + 1..b).unwrap_or(v),
        _ => v,
    };
    let inner = inner.trim();
    let after = ["sips:", "sip:", "tel:"]
        .iter()
        .find_map(|s| inner.get(..s.len()).filter(|p| p.eq_ignore_ascii_case(s)).map(|_| &inner[s.len()..]))
        .unwrap_or(inner);
    after.split(['@', ';', '>']).next().unwrap_or_default()
}

impl Enricher for Geotag {
    fn name(&self) -> &'static str {
        "geotag"
    }

    fn enrich(&self, e: &mut Event) {
        let dataset = e.dataset;
        let mut found: Vec<(&str, Phone)> = Vec::new();
        for &(ds, field, role) in PHONE_FIELDS {
            if ds != dataset || found.iter().any(|(r, _)| *r == role) {
                continue;
            }
            let Some(raw) = e.get_raw(field) else { continue };
            // A repeated header is an array: its first value.
            let first = match raw.first() {
                Some(b'[') => iotw_event::json::array_content(&raw)
                    .and_then(|c| iotw_event::json::Elements::new(c).next())
                    .and_then(str_value)
                    .map(|s| s.into_owned()),
                _ => str_value(&raw).map(|s| s.into_owned()),
            };
            let Some(text) = first else { continue };
            let text = if field.starts_with("sip.headers.") { header_number(&text) } else { &text };
            if let Some(p) = phone::parse(text, &self.dialling) {
                found.push((role, p));
            }
        }
        let mut postcode: Option<(String, String)> = None;
        for &(ds, field) in USER_DATA {
            if ds != dataset {
                continue;
            }
            let Some(raw) = e.get_raw(field) else { continue };
            let Some(content) = object_content(&raw) else { continue };
            for m in Members::new(content) {
                let Some(v) = str_value(m.value) else { continue };
                if !found.iter().any(|(r, _)| *r == "user_data") {
                    if let Some(p) = phone::parse(&v, &self.dialling).filter(|p| p.class != Class::Withheld) {
                        found.push(("user_data", p));
                        continue;
                    }
                }
                if postcode.is_none() {
                    if let Some(f) = self.postcodes.find(&v, 0) {
                        let key = String::from_utf8_lossy(m.key);
                        postcode = Some((f.outward.to_ascii_uppercase(), format!("{field}.{key}")));
                    }
                }
            }
        }
        if postcode.is_none() {
            for field in &self.postcode_fields {
                let Some(v) = e.get_str(field) else { continue };
                if let Some(f) = self.postcodes.find(&v, 0) {
                    postcode = Some((f.outward.to_ascii_uppercase(), field.clone()));
                    break;
                }
            }
        }
        for (role, p) in &found {
            self.tag_phone(e, role, p);
        }
        if let Some((outward, field)) = postcode {
            if let Some(place) = self.postcodes.locate(&outward) {
                let area: String = outward.chars().take_while(char::is_ascii_alphabetic).collect();
                if place.precision != "area" {
                    e.set("postcode.district", outward.as_str());
                }
                e.set("postcode.area", area);
                e.set("postcode.field", field);
                write_place(e, "postcode", place);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_give_their_uri_user() {
        assert_eq!(header_number("\"A\" <sip:+441134960000@h;user=phone>;tag=x"), "+441134960000");
        assert_eq!(header_number("<tel:01134960000>;reason=unconditional"), "01134960000");
        assert_eq!(header_number("sip:01134960000@h"), "01134960000");
    }
}

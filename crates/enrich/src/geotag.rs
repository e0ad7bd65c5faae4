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
use crate::places::{self, Place};
use crate::Enricher;
use iotw_event::field::role;
use iotw_event::json::{array_content, lookup, object_content, str_value, Elements, Members};
use iotw_event::Event;

/// Where numbers sit in each dataset, and the role each plays: read from documents whose
/// producer did not tag them (see [`Geotag::find`]).
const PHONE_FIELDS: &[(&str, &str, &str)] = &[
    ("sip", "sip.from.uri.username", role::CALLER),
    ("sip", "sip.to.uri.username", role::CALLEE),
    ("sip", "sip.uri.username", role::TARGET),
    ("sip", "sip.headers.p-asserted-identity", role::ASSERTED),
    ("sip", "sip.headers.diversion", role::DIVERSION),
    ("call", "call.caller.user", role::CALLER),
    ("call", "call.callee.user", role::CALLEE),
    ("genesys", "genesys.ani", role::CALLER),
    ("genesys", "genesys.dnis", role::CALLEE),
    ("genesys", "genesys.other_dn", role::OTHER),
    ("genesys", "genesys.this_dn", role::THIS),
    ("genesys", "genesys.outbound.phone", role::OUTBOUND),
    ("journey", "journey.ani", role::CALLER),
    ("journey", "journey.dnis", role::CALLEE),
];

/// Roles whose value is a header (`"Name" <sip:number@host>;param`), not a bare number.
const HEADER_ROLES: &[&str] = &[role::ASSERTED, role::DIVERSION];

/// The datasets whose documents carry numbers, and the dotted name of their attached data.
const DATASETS: &[(&str, Option<&str>)] =
    &[("sip", None), ("call", None), ("genesys", Some("genesys.user_data")), ("journey", Some("journey.user_data"))];

/// Numbers remembered per kind of value (a call's numbers recur in each of its documents),
/// and the longest value remembered.
const NUMBER_CACHE: usize = 1 << 14;
const NUMBER_CACHE_LEN: usize = 128;

/// A number and its place, as [`Geotag::phone`] reads them.
type Read = (Phone, Option<(&'static str, &'static Place)>);

/// JSON values as written, and what they read as (`None`: no number).
type Remembered = std::collections::HashMap<Box<[u8]>, Option<Read>, foldhash::fast::RandomState>;

/// The UK place tables and how this site dials.
#[derive(Debug)]
pub struct Geotag {
    pub dialling: Dialling,
    /// Text fields (dotted names) also searched for postcodes.
    pub postcode_fields: Vec<String>,
    /// What values read as: bare numbers, and header values, bounded.
    read: [std::cell::RefCell<Remembered>; 2],
    /// Each number's `phone.<role>` object as written, bounded.
    rendered: std::cell::RefCell<std::collections::HashMap<Phone, Box<[u8]>, foldhash::fast::RandomState>>,
    /// What attached data reads as, by its text and the field it lies in, bounded.
    user_data: std::cell::RefCell<std::collections::HashMap<Box<[u8]>, UserData, foldhash::fast::RandomState>>,
}

impl Geotag {
    pub fn new(dialling: Dialling, postcode_fields: Vec<String>) -> Self {
        Geotag {
            dialling,
            postcode_fields,
            read: Default::default(),
            rendered: Default::default(),
            user_data: Default::default(),
        }
    }

    /// The place of a UK geographic number, with the prefix that matched.
    pub fn place_of(&self, p: &Phone) -> Option<(&'static str, &'static Place)> {
        if p.class != Class::Geographic {
            return None;
        }
        let mut buf = [0u8; 18];
        let national = p.national(&mut buf);
        places::dialling_codes().lookup(national)
    }
}

/// A number found in a role, with its dialling code and place when it has them.
type Found<'g> = (&'static str, Phone, Option<(&'g str, &'g Place)>);

/// A postcode found: its place, its outward code (upper case) and that code's length, and the
/// field it was found in.
type Postcode = (&'static Place, [u8; 4], usize, std::sync::Arc<str>);

/// What one document says, read before anything is written to it.
#[derive(Default)]
struct Findings<'g> {
    phones: Vec<Found<'g>>,
    postcode: Option<Postcode>,
}

/// What a document's attached data holds: its first phone number (with its place) and its
/// first postcode.
#[derive(Debug, Clone, Default)]
struct UserData {
    /// The field the attached data lies in.
    field: &'static str,
    phone: Option<(Phone, Option<(&'static str, &'static Place)>)>,
    postcode: Option<Postcode>,
}

/// Attached data read lately, by its JSON text (the events of a call repeat it), and the
/// longest text remembered.
const USER_DATA_CACHE: usize = 1 << 12;
const USER_DATA_CACHE_LEN: usize = 2048;

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

impl Geotag {
    /// A role's number from its JSON value (a header value reduced to its number first),
    /// with its place.
    fn phone(&self, role: &'static str, raw: &[u8]) -> Option<Read> {
        let header = HEADER_ROLES.contains(&role);
        let mut known = self.read[usize::from(header)].borrow_mut();
        if let Some(read) = known.get(raw) {
            return *read;
        }
        let read = str_value(raw).and_then(|text| {
            let text = if header { header_number(&text) } else { &text };
            let p = phone::parse(text, &self.dialling)?;
            Some((p, self.place_of(&p)))
        });
        if raw.len() <= NUMBER_CACHE_LEN {
            if known.len() >= NUMBER_CACHE {
                known.clear();
            }
            known.insert(raw.into(), read);
        }
        read
    }

    /// What a document says whose producer did not tag it (or that was changed since):
    /// each field is looked up by its dotted name.
    fn find<'g>(&'g self, dataset: &str, ud_field: Option<&'static str>, content: &[u8]) -> Findings<'g> {
        let mut f = Findings::default();
        for &(ds, path, role) in PHONE_FIELDS {
            if ds != dataset || f.phones.iter().any(|(r, _, _)| *r == role) {
                continue;
            }
            let Some(raw) = lookup(content, path) else { continue };
            // A repeated header is an array: its first value.
            let raw = match raw.first() {
                Some(b'[') => array_content(raw).and_then(|c| Elements::new(c).next()).unwrap_or(raw),
                _ => raw,
            };
            if let Some((p, place)) = self.phone(role, raw) {
                f.phones.push((role, p, place));
            }
        }
        let ud = ud_field.and_then(|field| lookup(content, field)).and_then(object_content);
        self.rest(&mut f, ud_field, ud, content);
        f
    }

    /// What a document's producer tagged (see [`iotw_event::Tag`]): each role's first
    /// number, and the attached data. Nothing is searched for.
    fn find_tagged<'g, 'c>(
        &'g self,
        ud_field: Option<&'static str>,
        tags: impl Iterator<Item = (&'static str, &'c [u8])>,
        content: &[u8],
    ) -> Findings<'g> {
        let mut f = Findings::default();
        let mut ud = None;
        for (r, raw) in tags {
            if r == role::USER_DATA {
                ud = ud.or_else(|| object_content(raw));
                continue;
            }
            if r == role::NO_PERSONAL_DATA {
                continue;
            }
            if f.phones.iter().any(|(x, _, _)| *x == r) {
                continue;
            }
            if let Some((p, place)) = self.phone(r, raw) {
                f.phones.push((r, p, place));
            }
        }
        self.rest(&mut f, ud_field, ud, content);
        f
    }

    /// The first UK postcode in `v`, placed.
    fn postcode_in(v: &str, field: impl FnOnce() -> String) -> Option<Postcode> {
        let found = places::postcodes().find(v, 0)?;
        let mut out = [0u8; 4];
        let n = found.outward.len().min(4);
        out[..n].copy_from_slice(&found.outward.as_bytes()[..n]);
        out[..n].make_ascii_uppercase();
        let place = places::postcodes().locate(found.outward)?;
        Some((place, out, n, field().into()))
    }

    /// The first phone number and the first postcode of attached data (the content of the
    /// object at `ud_field`).
    fn read_user_data(&self, ud_field: &'static str, ud: &[u8]) -> UserData {
        let mut r = UserData { field: ud_field, ..UserData::default() };
        for m in Members::new(ud) {
            if r.phone.is_some() && r.postcode.is_some() {
                break;
            }
            let Some(v) = str_value(m.value) else { continue };
            if !v.bytes().any(|c| c.is_ascii_digit()) {
                continue;
            }
            if r.phone.is_none() {
                if let Some(p) = phone::parse(&v, &self.dialling).filter(|p| p.class != Class::Withheld) {
                    r.phone = Some((p, self.place_of(&p)));
                    continue;
                }
            }
            if r.postcode.is_none() {
                r.postcode = Self::postcode_in(&v, || format!("{ud_field}.{}", String::from_utf8_lossy(m.key)));
            }
        }
        r
    }

    /// The attached data's first phone number and first postcode, then the postcode
    /// fields the site names.
    fn rest(&self, f: &mut Findings<'_>, ud_field: Option<&'static str>, ud: Option<&[u8]>, content: &[u8]) {
        if let Some(ud) = ud {
            let field = ud_field.unwrap_or_default();
            let read = if ud.len() > USER_DATA_CACHE_LEN {
                self.read_user_data(field, ud)
            } else {
                let mut known = self.user_data.borrow_mut();
                match known.get(ud) {
                    Some(r) if r.field == field => r.clone(),
                    _ => {
                        let r = self.read_user_data(field, ud);
                        if known.len() >= USER_DATA_CACHE {
                            known.clear();
                        }
                        known.insert(ud.into(), r.clone());
                        r
                    }
                }
            };
            if let Some((p, place)) = read.phone {
                f.phones.push((role::USER_DATA, p, place));
            }
            f.postcode = f.postcode.take().or(read.postcode);
        }
        for field in &self.postcode_fields {
            if f.postcode.is_some() {
                break;
            }
            if let Some(v) = lookup(content, field).and_then(str_value) {
                f.postcode = Self::postcode_in(&v, || field.clone());
            }
        }
    }
}

/// A number's `phone.<role>` object: its class; its E.164 form and country code unless it
/// is withheld; its dialling code and place when it has them.
fn render_phone(p: &Phone, place: Option<(&str, &Place)>) -> Box<[u8]> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"class\":");
    iotw_event::json::write_str(&mut out, p.class.as_str());
    if p.class != Class::Withheld {
        out.extend_from_slice(b",\"number\":\"+");
        iotw_event::json::write_ascii_content(&mut out, p.e164_bytes());
        out.extend_from_slice(b"\",\"country_code\":\"");
        iotw_event::json::write_ascii_content(&mut out, p.country_code_bytes());
        out.push(b'"');
        if let Some((prefix, place)) = place {
            out.extend_from_slice(b",\"area_code\":");
            iotw_event::json::write_str(&mut out, prefix);
            out.extend_from_slice(b",\"geo\":");
            out.extend_from_slice(place.json().as_bytes());
        }
    }
    out.push(b'}');
    out.into_boxed_slice()
}

impl Enricher for Geotag {
    fn name(&self) -> &'static str {
        "geotag"
    }

    fn enrich(&self, e: &mut Event) {
        let (dataset, ud_field) = match DATASETS.iter().find(|(d, _)| *d == e.dataset) {
            Some(&d) => d,
            None if self.postcode_fields.is_empty() => return,
            None => ("", None),
        };
        // A finished document is read in place; one with patches is written out first.
        let whole;
        let content: &[u8] = match e.finished_members() {
            Some(c) => c,
            None => {
                whole = e.to_json().into_bytes();
                object_content(&whole).unwrap_or_default()
            }
        };
        let found = match e.tagged() {
            Some(tags) => self.find_tagged(ud_field, tags, content),
            None => self.find(dataset, ud_field, content),
        };
        if !found.phones.is_empty() {
            e.obj("phone");
            let mut rendered = self.rendered.borrow_mut();
            for (role, p, place) in &found.phones {
                if rendered.len() >= NUMBER_CACHE {
                    rendered.clear();
                }
                e.raw(*role, rendered.entry(*p).or_insert_with(|| render_phone(p, *place)));
            }
            e.end();
        }
        if let Some((place, outward, n, field)) = &found.postcode {
            let outward = std::str::from_utf8(outward.get(..*n).unwrap_or_default()).unwrap_or_default();
            let letters = outward.bytes().take_while(u8::is_ascii_alphabetic).count();
            e.obj("postcode");
            if place.precision() != "area" {
                e.str("district", outward);
            }
            e.str("area", outward.get(..letters).unwrap_or_default()).str("field", field);
            e.raw("geo", place.json().as_bytes()).end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(e: &Event) -> Vec<(String, String)> {
        let j: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap_or_default();
        let mut out: Vec<(String, String)> = j["phone"]
            .as_object()
            .map(|m| m.iter().map(|(r, v)| (r.clone(), v["number"].as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn each_number_gets_the_role_of_the_field_it_is_in() {
        let tag = Geotag::new(Dialling::default(), Vec::new());
        // A response has no Request-URI: the From URI must not be taken for one.
        let mut sip = Event::new("sip", "event", 0, &[]);
        sip.obj("source").str("ip", "10.0.0.1").end();
        sip.obj("sip").str("type", "response");
        sip.obj("from").obj("uri").str("username", "01134960001").end().end();
        sip.obj("to").obj("uri").str("username", "08081570123").end().end();
        sip.obj("headers").str("p-asserted-identity", "<sip:+441134960002@h>").end().end();
        tag.enrich(&mut sip);
        assert_eq!(
            roles(&sip),
            pairs(&[("asserted", "+441134960002"), ("callee", "+448081570123"), ("caller", "+441134960001")])
        );
        // T-Library: fields before the attached data, the OCS record after it; a key of the
        // attached data named like a field is not that field.
        let mut t = Event::new("genesys", "event", 0, &[]);
        t.obj("genesys").str("this_dn", "5004");
        t.obj("user_data").str("dnis", "01214960000").str("Callback", "07700900123").end();
        t.obj("outbound").str("phone", "01614960000").end().end();
        tag.enrich(&mut t);
        assert_eq!(roles(&t), pairs(&[("outbound", "+441614960000"), ("user_data", "+441214960000")]));
        let place = serde_json::from_str::<serde_json::Value>(&t.to_json()).unwrap_or_default();
        assert_eq!(place["phone"]["outbound"]["geo"]["name"], "Manchester");
        assert_eq!(place["phone"]["outbound"]["area_code"], "0161");
    }

    #[test]
    fn numbers_read_again_from_memory_give_the_same_fields() {
        let tag = Geotag::new(Dialling::default(), Vec::new());
        // The same text as a bare value and as a header value reads differently.
        let value = "\"Alice\" <sip:01134960001@h>";
        let doc = || {
            let mut sip = Event::new("sip", "event", 0, &[]);
            sip.obj("sip").obj("from").obj("uri").str("username", "01134960001").end().end();
            sip.obj("to").obj("uri").str("username", value).end().end();
            sip.obj("headers").str("p-asserted-identity", value).str("diversion", "<tel:x>").end().end();
            sip
        };
        let (mut first, mut second) = (doc(), doc());
        tag.enrich(&mut first);
        assert!(tag.read.iter().all(|m| !m.borrow().is_empty()), "both kinds remembered");
        tag.enrich(&mut second);
        assert_eq!(first.to_json(), second.to_json());
        assert_eq!(roles(&second), pairs(&[("asserted", "+441134960001"), ("caller", "+441134960001")]));
        let fresh = Geotag::new(Dialling::default(), Vec::new());
        let mut third = doc();
        fresh.enrich(&mut third);
        assert_eq!(first.to_json(), third.to_json());
    }

    #[test]
    fn attached_data_read_again_from_memory_gives_the_same_fields() {
        let tag = Geotag::new(Dialling::default(), Vec::new());
        let doc = |dataset: &'static str| {
            let mut e = Event::new(dataset, "event", 0, &[]);
            e.obj(dataset).obj("user_data").str("Note", "call back").str("PostCode", "ls1 4ap");
            e.str("Phone", "0113 496 0000").str("Other", "0161 496 0000").end().end();
            e
        };
        let fields = |e: &Event| {
            let j = serde_json::from_str::<serde_json::Value>(&e.to_json()).unwrap_or_default();
            (j["postcode"]["field"].clone(), j["postcode"]["district"].clone(), roles(e))
        };
        let (mut first, mut again) = (doc("genesys"), doc("genesys"));
        tag.enrich(&mut first);
        assert_eq!(tag.user_data.borrow().len(), 1, "remembered");
        tag.enrich(&mut again);
        assert_eq!(first.to_json(), again.to_json());
        let want = pairs(&[("user_data", "+441134960000")]);
        assert_eq!(fields(&first), ("genesys.user_data.PostCode".into(), "LS1".into(), want.clone()));
        // The same attached data in another dataset names its own field.
        let mut journey = doc("journey");
        tag.enrich(&mut journey);
        assert_eq!(fields(&journey), ("journey.user_data.PostCode".into(), "LS1".into(), want));
        let fresh = Geotag::new(Dialling::default(), Vec::new());
        let mut third = doc("genesys");
        fresh.enrich(&mut third);
        assert_eq!(first.to_json(), third.to_json());
    }

    #[test]
    fn header_values_give_their_uri_user() {
        assert_eq!(header_number("\"A\" <sip:+441134960000@h;user=phone>;tag=x"), "+441134960000");
        assert_eq!(header_number("<tel:01134960000>;reason=unconditional"), "01134960000");
        assert_eq!(header_number("sip:01134960000@h"), "01134960000");
    }
}

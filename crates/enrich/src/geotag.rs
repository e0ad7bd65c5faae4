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

/// Where numbers sit in each dataset: (dataset, path inside the dataset's object, role).
const PHONE_FIELDS: &[(&str, &str, &str)] = &[
    ("sip", "from.uri.username", "caller"),
    ("sip", "to.uri.username", "callee"),
    ("sip", "uri.username", "target"),
    ("sip", "headers.p-asserted-identity", "asserted"),
    ("sip", "headers.diversion", "diversion"),
    ("call", "caller.user", "caller"),
    ("call", "callee.user", "callee"),
    ("genesys", "ani", "caller"),
    ("genesys", "dnis", "callee"),
    ("genesys", "other_dn", "other"),
    ("genesys", "this_dn", "this"),
    ("genesys", "outbound.phone", "outbound"),
    ("journey", "ani", "caller"),
    ("journey", "dnis", "callee"),
];

/// Roles whose value is a header (`"Name" <sip:number@host>;param`), not a bare number.
const HEADER_ROLES: &[&str] = &[role::ASSERTED, role::DIVERSION];

/// The datasets whose documents carry numbers, and where their attached data is.
const DATASETS: &[(&str, Option<&str>)] =
    &[("sip", None), ("call", None), ("genesys", Some("user_data")), ("journey", Some("user_data"))];

/// The UK place tables and how this site dials.
#[derive(Debug)]
pub struct Geotag {
    pub dialling: Dialling,
    /// Text fields (dotted names) also searched for postcodes.
    pub postcode_fields: Vec<String>,
    /// `"first":` of each of [`PHONE_FIELDS`]' paths, then `"user_data":{`, then
    /// `"<dataset>":{` of each of [`DATASETS`].
    finders: Vec<memchr::memmem::Finder<'static>>,
}

impl Geotag {
    pub fn new(dialling: Dialling, postcode_fields: Vec<String>) -> Self {
        let finder =
            |key: &str, open: &str| memchr::memmem::Finder::new(format!("\"{key}\":{open}").as_bytes()).into_owned();
        let mut finders: Vec<_> =
            PHONE_FIELDS.iter().map(|(_, path, _)| finder(path.split('.').next().unwrap_or(path), "")).collect();
        finders.push(finder("user_data", "{"));
        finders.extend(DATASETS.iter().map(|(d, _)| finder(d, "{")));
        Geotag { dialling, postcode_fields, finders }
    }

    /// The place of a UK geographic number, with the prefix that matched.
    pub fn place_of(&self, p: &Phone) -> Option<(&str, &Place)> {
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

/// What one document says, read before anything is written to it.
#[derive(Default)]
struct Findings<'g> {
    phones: Vec<Found<'g>>,
    postcode: Option<(&'g Place, [u8; 4], usize, String)>,
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

impl Geotag {
    /// The member that `finder` finds in `within` (its first occurrence), as JSON text.
    fn member<'a>(finder: &memchr::memmem::Finder<'_>, within: &'a [u8]) -> Option<(usize, &'a [u8])> {
        let at = finder.find(within)?;
        let m = Members::new(within.get(at..)?).next()?;
        Some((at, m.value))
    }

    fn find<'g>(&'g self, dataset: &str, ud_key: Option<&str>, content: &[u8]) -> Findings<'g> {
        let mut f = Findings::default();
        // The dataset's object, from its brace to the end of the document, found by one fast
        // search instead of a walk. The fields are found the same way; the writer's order
        // (docs/events.md) tells a field from a same-named one nested further in: the SIP
        // Request-URI comes before From, T-Library fields before the attached data.
        let ud_finder = &self.finders[PHONE_FIELDS.len()];
        let ds_finders = &self.finders[PHONE_FIELDS.len() + 1..];
        let ns = DATASETS
            .iter()
            .zip(ds_finders)
            .find(|((d, _), _)| *d == dataset)
            .and_then(|(_, fd)| fd.find(content).map(|at| at + fd.needle().len()))
            .and_then(|at| content.get(at..))
            .unwrap_or_default();
        let ud_at = ud_key.and_then(|_| ud_finder.find(ns));
        let mut from_at: Option<Option<usize>> = None;
        for (&(ds, path, role), finder) in PHONE_FIELDS.iter().zip(&self.finders) {
            if ds != dataset || f.phones.iter().any(|(r, _, _)| *r == role) {
                continue;
            }
            let Some((at, value)) = Self::member(finder, ns) else { continue };
            // A single-word field after the attached data is one of its keys.
            if !path.contains('.') && ud_at.is_some_and(|u| at > u) {
                continue;
            }
            if path == "uri.username" {
                let from = *from_at.get_or_insert_with(|| memchr::memmem::find(ns, b"\"from\":{"));
                if from.is_some_and(|p| at > p) {
                    continue;
                }
            }
            let raw = match path.split_once('.') {
                Some((_, rest)) => match lookup(object_content(value).unwrap_or_default(), rest) {
                    Some(v) => v,
                    None => continue,
                },
                None => value,
            };
            // A repeated header is an array: its first value.
            let raw = match raw.first() {
                Some(b'[') => array_content(raw).and_then(|c| Elements::new(c).next()).unwrap_or(raw),
                _ => raw,
            };
            let Some(text) = str_value(raw) else { continue };
            let header = path.starts_with("headers.");
            let text = if header { header_number(&text) } else { &text };
            if let Some(p) = phone::parse(text, &self.dialling) {
                f.phones.push((role, p, self.place_of(&p)));
            }
        }
        let ud = ud_at.and_then(|at| Members::new(ns.get(at..)?).next()).and_then(|m| object_content(m.value));
        self.rest(&mut f, dataset, ud_key, ud, content);
        f
    }

    /// What a document's producer tagged (see [`iotw_event::Tag`]): each role's first
    /// number, and the attached data. Nothing is searched for.
    fn find_tagged<'g, 'c>(
        &'g self,
        dataset: &str,
        ud_key: Option<&str>,
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
            if f.phones.iter().any(|(x, _, _)| *x == r) {
                continue;
            }
            let Some(text) = str_value(raw) else { continue };
            let text = if HEADER_ROLES.contains(&r) { header_number(&text) } else { &text };
            if let Some(p) = phone::parse(text, &self.dialling) {
                f.phones.push((r, p, self.place_of(&p)));
            }
        }
        self.rest(&mut f, dataset, ud_key, ud, content);
        f
    }

    /// The attached data's first phone number and first postcode, then the postcode
    /// fields the site names.
    fn rest<'g>(
        &'g self,
        f: &mut Findings<'g>,
        dataset: &str,
        ud_key: Option<&str>,
        ud: Option<&[u8]>,
        content: &[u8],
    ) {
        let postcode_text = |f: &mut Findings<'g>, v: &str, field: &dyn Fn() -> String| {
            if f.postcode.is_some() {
                return;
            }
            if let Some(found) = places::postcodes().find(v, 0) {
                let mut out = [0u8; 4];
                let n = found.outward.len().min(4);
                out[..n].copy_from_slice(&found.outward.as_bytes()[..n]);
                out[..n].make_ascii_uppercase();
                if let Some(place) = places::postcodes().locate(found.outward) {
                    f.postcode = Some((place, out, n, field()));
                }
            }
        };
        if let Some(ud) = ud {
            for m in Members::new(ud) {
                let Some(v) = str_value(m.value) else { continue };
                if !v.bytes().any(|c| c.is_ascii_digit()) {
                    continue;
                }
                if !f.phones.iter().any(|(r, _, _)| *r == role::USER_DATA) {
                    if let Some(p) = phone::parse(&v, &self.dialling).filter(|p| p.class != Class::Withheld) {
                        f.phones.push((role::USER_DATA, p, self.place_of(&p)));
                        continue;
                    }
                }
                let key = String::from_utf8_lossy(m.key);
                postcode_text(f, &v, &|| format!("{dataset}.{}.{key}", ud_key.unwrap_or_default()));
            }
        }
        for field in &self.postcode_fields {
            if let Some(v) = lookup(content, field).and_then(str_value) {
                postcode_text(f, &v, &|| field.clone());
            }
        }
    }
}

impl Enricher for Geotag {
    fn name(&self) -> &'static str {
        "geotag"
    }

    fn enrich(&self, e: &mut Event) {
        let (dataset, ud_key) = match DATASETS.iter().find(|(d, _)| *d == e.dataset) {
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
            Some(tags) => self.find_tagged(dataset, ud_key, tags, content),
            None => self.find(dataset, ud_key, content),
        };
        if !found.phones.is_empty() {
            let mut number = String::with_capacity(16);
            e.obj("phone");
            for (role, p, place) in &found.phones {
                e.obj(*role).str("class", p.class.as_str());
                if p.class != Class::Withheld {
                    number.clear();
                    number.push('+');
                    number.push_str(p.e164_digits());
                    e.str("number", &number).str("country_code", p.country_code());
                    if let Some((prefix, place)) = place {
                        e.str("area_code", prefix).raw("geo", place.json.as_bytes());
                    }
                }
                e.end();
            }
            e.end();
        }
        if let Some((place, outward, n, field)) = &found.postcode {
            let outward = std::str::from_utf8(outward.get(..*n).unwrap_or_default()).unwrap_or_default();
            let letters = outward.bytes().take_while(u8::is_ascii_alphabetic).count();
            e.obj("postcode");
            if place.precision != "area" {
                e.str("district", outward);
            }
            e.str("area", outward.get(..letters).unwrap_or_default()).str("field", field);
            e.raw("geo", place.json.as_bytes()).end();
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
    fn header_values_give_their_uri_user() {
        assert_eq!(header_number("\"A\" <sip:+441134960000@h;user=phone>;tag=x"), "+441134960000");
        assert_eq!(header_number("<tel:01134960000>;reason=unconditional"), "01134960000");
        assert_eq!(header_number("sip:01134960000@h"), "01134960000");
    }
}

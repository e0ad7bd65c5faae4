//! IP addresses -> place, on the agent: a MaxMind DB (GeoIP2/GeoLite2 City or Country,
//! DB-IP City Lite's flat schema, and an ASN database) for public addresses, and the site
//! table for private and reserved ones, which no database can place: agents and Genesys
//! servers sit on private addresses.
//!
//! Writes ECS `source.geo.*` / `destination.geo.*` (and `source.as.*` / `destination.as.*`).

use crate::Enricher;
use iotw_event::{json, Event};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Addresses remembered per run (flows repeat the same few addresses).
const CACHE_LIMIT: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum GeoDbError {
    #[error("IP geolocation database {path}: {source}")]
    Open { path: PathBuf, source: maxminddb::MaxMindDbError },
    #[error("IP geolocation database {path} is damaged: {source}")]
    Damaged { path: PathBuf, source: maxminddb::MaxMindDbError },
    #[error("site table: {0:?} is not an address range (CIDR, e.g. 10.1.0.0/16)")]
    BadCidr(String),
}

/// One row of the site table: a private range and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub net: IpAddr,
    pub prefix: u8,
    pub name: String,
    pub location: Option<(f64, f64)>,
}

impl Site {
    pub fn new(cidr: &str, name: &str, location: Option<(f64, f64)>) -> Result<Self, GeoDbError> {
        let bad = || GeoDbError::BadCidr(cidr.into());
        let (addr, len) = cidr.split_once('/').unwrap_or((cidr, ""));
        let net: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = if len.is_empty() { max } else { len.trim().parse::<u8>().map_err(|_| bad())? };
        if prefix > max {
            return Err(bad());
        }
        Ok(Site { net, prefix, name: name.into(), location })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Private, loopback, link-local, shared, documentation, multicast and other reserved
/// addresses: not in any geolocation database.
pub fn is_reserved(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_multicast()
                || a.is_broadcast()
                || a.is_unspecified()
                || a.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] >= 240
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || s[0] == 0x2001 && s[1] == 0x0db8
                || a.to_ipv4_mapped().is_some_and(|v4| is_reserved(IpAddr::V4(v4)))
        }
    }
}

/// What a database says of an address (either schema).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Located {
    pub city: Option<String>,
    pub region: Option<String>,
    pub country_iso: Option<String>,
    pub country_name: Option<String>,
    pub continent: Option<String>,
    pub postal_code: Option<String>,
    pub timezone: Option<String>,
    pub location: Option<(f64, f64)>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
    /// A site table name (private addresses).
    pub site: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Named<'a> {
    Text(&'a str),
    Names {
        #[serde(borrow, default)]
        names: BTreeMap<&'a str, &'a str>,
        #[serde(default)]
        iso_code: Option<&'a str>,
        #[serde(default)]
        code: Option<&'a str>,
    },
}

impl<'a> Named<'a> {
    fn name(&self) -> Option<&'a str> {
        match self {
            Named::Text(t) => Some(t),
            Named::Names { names, .. } => names.get("en").copied(),
        }
    }
    fn code(&self) -> Option<&'a str> {
        match self {
            Named::Text(_) => None,
            Named::Names { iso_code, code, .. } => iso_code.or(*code),
        }
    }
}

/// GeoIP2 City/Country, GeoLite2, and DB-IP Lite's flat schema, in one record: each field
/// that either names.
#[derive(Deserialize, Default)]
struct Record<'a> {
    #[serde(borrow)]
    city: Option<Named<'a>>,
    #[serde(borrow)]
    country: Option<Named<'a>>,
    #[serde(borrow)]
    continent: Option<Named<'a>>,
    #[serde(borrow)]
    subdivisions: Option<Vec<Named<'a>>>,
    location: Option<Location<'a>>,
    #[serde(borrow)]
    postal: Option<Postal<'a>>,
    // DB-IP Lite (flat)
    country_code: Option<&'a str>,
    state1: Option<&'a str>,
    postcode: Option<&'a str>,
    latitude: Option<Num>,
    longitude: Option<Num>,
    timezone: Option<&'a str>,
    // ASN databases
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<&'a str>,
}

#[derive(Deserialize)]
struct Location<'a> {
    latitude: Option<Num>,
    longitude: Option<Num>,
    time_zone: Option<&'a str>,
}

/// A coordinate stored as a double (GeoIP2) or a float (DB-IP Lite).
#[derive(Debug, Clone, Copy)]
struct Num(f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_f32<E>(self, v: f32) -> Result<Num, E> {
                // The float's shortest decimal form (52.2297, not 52.229698181152344).
                Ok(Num(v.to_string().parse().unwrap_or(f64::from(v))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct Postal<'a> {
    code: Option<&'a str>,
}

impl Record<'_> {
    fn into_located(self, out: &mut Located) {
        let s = |v: Option<&str>| v.map(str::to_string);
        if let Some(c) = &self.city {
            out.city = s(c.name());
        }
        if let Some(c) = &self.country {
            out.country_iso = s(c.code()).or(out.country_iso.take());
            out.country_name = s(c.name());
        }
        if let Some(c) = &self.continent {
            out.continent = s(c.name());
        }
        if let Some(first) = self.subdivisions.as_ref().and_then(|v| v.first()) {
            out.region = s(first.name());
        }
        if let Some(l) = &self.location {
            if let (Some(lat), Some(lon)) = (l.latitude, l.longitude) {
                out.location = Some((lat.0, lon.0));
            }
            out.timezone = s(l.time_zone).or(out.timezone.take());
        }
        if let Some(p) = &self.postal {
            out.postal_code = s(p.code);
        }
        if self.country_code.is_some() {
            out.country_iso = s(self.country_code);
        }
        if self.state1.is_some() {
            out.region = s(self.state1);
        }
        if self.postcode.is_some() {
            out.postal_code = s(self.postcode);
        }
        if let (Some(lat), Some(lon)) = (self.latitude, self.longitude) {
            out.location = Some((lat.0, lon.0));
        }
        if self.timezone.is_some() {
            out.timezone = s(self.timezone);
        }
        if self.autonomous_system_number.is_some() {
            out.asn = self.autonomous_system_number;
            out.as_org = s(self.autonomous_system_organization);
        }
    }
}

/// A MaxMind DB, checked whole when opened.
pub struct GeoDb {
    path: PathBuf,
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb").field("path", &self.path).finish()
    }
}

impl GeoDb {
    /// Opens and checks a database, so that a damaged file is an error here, at start-up,
    /// never a failure on the packet path: every record of the search tree must point to a
    /// node, to nothing, or into the data section; every network is walked and each data
    /// record decoded once; and at least one must place an address (a country, city, point
    /// or autonomous system). The reader's own `verify` is not used: it also rejects metadata
    /// that readers accept, such as DB-IP's empty description.
    pub fn open(path: &Path) -> Result<Self, GeoDbError> {
        let open_err = |source| GeoDbError::Open { path: path.into(), source };
        let bytes = std::fs::read(path).map_err(|e| open_err(maxminddb::MaxMindDbError::Io(e)))?;
        let damaged = |source| GeoDbError::Damaged { path: path.into(), source };
        let invalid = |m: &str| damaged(maxminddb::MaxMindDbError::invalid_database(m));
        let probe = maxminddb::Reader::from_source(bytes.as_slice()).map_err(open_err)?;
        check_search_tree(probe.metadata(), &bytes).map_err(|m| invalid(&m))?;
        drop(probe);
        let reader = maxminddb::Reader::from_source(bytes).map_err(open_err)?;
        let mut seen = std::collections::HashSet::new();
        let mut places = 0usize;
        for found in reader.networks(maxminddb::WithinOptions::default()).map_err(damaged)? {
            let found = found.map_err(damaged)?;
            if found.offset().is_some_and(|o| seen.insert(o)) {
                if let Some(r) = found.decode::<Record<'_>>().map_err(damaged)? {
                    let mut l = Located::default();
                    r.into_located(&mut l);
                    places += usize::from(l != Located::default());
                }
            }
        }
        if places == 0 {
            return Err(invalid("no record places an address (no country, city, point or autonomous system)"));
        }
        Ok(GeoDb { path: path.into(), reader })
    }

    /// What the database says of `ip`; a lookup error counts as nothing known.
    pub fn lookup(&self, ip: IpAddr, out: &mut Located) -> bool {
        let Ok(found) = self.reader.lookup(ip) else { return false };
        match found.decode::<Record<'_>>() {
            Ok(Some(r)) => {
                r.into_located(out);
                true
            }
            _ => false,
        }
    }
}

/// The search tree's records, read off the file: each must be a node (below the node
/// count), the "no data" marker (the node count), or a pointer into the data section.
fn check_search_tree(m: &maxminddb::Metadata, buf: &[u8]) -> Result<(), String> {
    let nodes = m.node_count as usize;
    let bytes_per_node = match m.record_size {
        24 => 6,
        28 => 7,
        32 => 8,
        n => return Err(format!("record size {n} (24, 28 or 32 expected)")),
    };
    let tree_len = nodes.checked_mul(bytes_per_node).ok_or("node count too large")?;
    // The data section sits between the tree (and 16 zero bytes) and the metadata marker.
    const MARKER: &[u8] = b"\xab\xcd\xefMaxMind.com";
    let meta = memchr::memmem::rfind(buf, MARKER).ok_or("no metadata marker")?;
    let data_len = meta.checked_sub(tree_len + 16).ok_or("the search tree runs past the data section")?;
    let tree = buf.get(..tree_len).ok_or("the file is shorter than its search tree")?;
    for (i, node) in tree.chunks_exact(bytes_per_node).enumerate() {
        let b = |k: usize| u32::from(node[k]);
        let (left, right) = match bytes_per_node {
            6 => (b(0) << 16 | b(1) << 8 | b(2), b(3) << 16 | b(4) << 8 | b(5)),
            7 => (
                (b(3) & 0xf0) << 20 | b(0) << 16 | b(1) << 8 | b(2),
                (b(3) & 0x0f) << 24 | b(4) << 16 | b(5) << 8 | b(6),
            ),
            _ => (b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3), b(4) << 24 | b(5) << 16 | b(6) << 8 | b(7)),
        };
        for r in [left as usize, right as usize] {
            let ok = r <= nodes || (r >= nodes + 16 && r - nodes - 16 < data_len);
            if !ok {
                return Err(format!("search tree node {i} points to {r}, outside the tree and the data"));
            }
        }
    }
    Ok(())
}

/// The IP geolocation enricher.
/// The members written for an address (empty when it has no place), by the address.
type Rendered<K> = HashMap<K, std::sync::Arc<[u8]>, foldhash::fast::RandomState>;

#[derive(Debug)]
pub struct IpGeo {
    /// Asked in order until one knows the address (DB-IP ships IPv4 and IPv6 apart).
    pub city: Vec<GeoDb>,
    pub asn: Vec<GeoDb>,
    pub sites: Vec<Site>,
    cache: RefCell<Rendered<IpAddr>>,
    /// The same, by the address's text as a document has it.
    by_text: RefCell<Rendered<Box<[u8]>>>,
    /// `"source":{"ip":"` and the same for the destination.
    finders: [memchr::memmem::Finder<'static>; 2],
}

impl IpGeo {
    pub fn new(city: Vec<GeoDb>, asn: Vec<GeoDb>, sites: Vec<Site>) -> Self {
        let finders = [
            memchr::memmem::Finder::new(b"\"source\":{\"ip\":\"").into_owned(),
            memchr::memmem::Finder::new(b"\"destination\":{\"ip\":\"").into_owned(),
        ];
        IpGeo { city, asn, sites, cache: RefCell::default(), by_text: RefCell::default(), finders }
    }

    /// Where `ip` is: a site table row (longest prefix first), else the databases for a
    /// public address.
    pub fn locate(&self, ip: IpAddr) -> Option<Located> {
        if let Some(site) = self.sites.iter().filter(|s| s.contains(ip)).max_by_key(|s| s.prefix) {
            return Some(Located { site: Some(site.name.clone()), location: site.location, ..Located::default() });
        }
        if is_reserved(ip) {
            return None;
        }
        let mut out = Located::default();
        let mut any = false;
        for dbs in [&self.city, &self.asn] {
            for db in dbs {
                if db.lookup(ip, &mut out) {
                    any = true;
                    break;
                }
            }
        }
        any.then_some(out)
    }

    /// The members to add to an endpoint object for `ip` (`"geo":{..},"as":{..}`), rendered
    /// once per address; empty when nothing is known.
    /// [`IpGeo::members`] of an address as text, remembered by the text: an address seen
    /// before is not read again. Empty when the text is no address.
    fn members_of_text(&self, text: &[u8]) -> std::sync::Arc<[u8]> {
        let mut cache = self.by_text.borrow_mut();
        if let Some(hit) = cache.get(text) {
            return hit.clone();
        }
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        let rendered = parse_ip(text).map(|ip| self.members(ip)).unwrap_or_default();
        if text.len() <= 64 {
            cache.insert(text.into(), rendered.clone());
        }
        rendered
    }

    fn members(&self, ip: IpAddr) -> std::sync::Arc<[u8]> {
        let mut cache = self.cache.borrow_mut();
        if let Some(hit) = cache.get(&ip) {
            return hit.clone();
        }
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        let rendered: std::sync::Arc<[u8]> = self.locate(ip).map(|l| render(&l)).unwrap_or_default().into();
        cache.insert(ip, rendered.clone());
        rendered
    }
}

/// `"geo":{...},"as":{...}` of what is known (ECS names).
fn render(l: &Located) -> Vec<u8> {
    let mut geo = serde_json::Map::new();
    if let Some(v) = &l.site {
        geo.insert("name".into(), v.as_str().into());
    }
    if let Some((lat, lon)) = l.location {
        geo.insert("location".into(), serde_json::json!({"lat": lat, "lon": lon}));
    }
    for (k, v) in [
        ("city_name", &l.city),
        ("region_name", &l.region),
        ("country_iso_code", &l.country_iso),
        ("country_name", &l.country_name),
        ("continent_name", &l.continent),
        ("postal_code", &l.postal_code),
        ("timezone", &l.timezone),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            geo.insert(k.into(), v.into());
        }
    }
    let mut out = Vec::new();
    if !geo.is_empty() {
        out.extend_from_slice(b"\"geo\":");
        out.extend_from_slice(serde_json::Value::Object(geo).to_string().as_bytes());
    }
    let mut asys = serde_json::Map::new();
    if let Some(n) = l.asn {
        asys.insert("number".into(), n.into());
    }
    if let Some(o) = l.as_org.as_deref().filter(|o| !o.is_empty()) {
        asys.insert("organization".into(), serde_json::json!({"name": o}));
    }
    if !asys.is_empty() {
        if !out.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"as\":");
        out.extend_from_slice(serde_json::Value::Object(asys).to_string().as_bytes());
    }
    out
}

impl Enricher for IpGeo {
    fn name(&self) -> &'static str {
        "ip_geo"
    }

    fn enrich(&self, e: &mut Event) {
        if let Some([(s, sv), (d, dv)]) = leading_endpoints(e) {
            // Both objects take their members in one pass over the document.
            let (s, d) = (self.members_of_text(s), self.members_of_text(d));
            match (s.is_empty(), d.is_empty()) {
                (false, false) => e.insert_into_values(&[(sv, &s), (dv, &d)]),
                (false, true) => e.insert_into_value(sv, &s),
                (true, false) => e.insert_into_value(dv, &d),
                (true, true) => false,
            };
            return;
        }
        for (side, finder) in ["source", "destination"].into_iter().zip(&self.finders) {
            let Some(ip) = ip_of(e, side, finder) else { continue };
            let members = self.members(ip);
            if members.is_empty() {
                continue;
            }
            if !e.insert_into(side, &members) {
                // A document still being built or patched: the slower way.
                let text = [&b"{"[..], &members[..], b"}"].concat();
                if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(&text) {
                    for (k, v) in m {
                        e.set(&format!("{side}.{k}"), v);
                    }
                }
            }
        }
    }
}

/// An address as text: dotted-quad IPv4 read where it lies, anything else by the standard
/// library (which accepts exactly the same IPv4 texts: four decimal numbers up to 255,
/// without leading zeros).
fn parse_ip(text: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = parse_ipv4(text) {
        return Some(IpAddr::V4(v4));
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// The dotted-quad form only; `None` for anything else (the caller asks the standard
/// library then).
fn parse_ipv4(text: &[u8]) -> Option<std::net::Ipv4Addr> {
    let mut octets = [0u8; 4];
    // The octet being read: its index, value so far and digits.
    let (mut k, mut n, mut digits) = (0usize, 0u16, 0u8);
    for &c in text {
        if c == b'.' {
            if digits == 0 {
                return None;
            }
            *octets.get_mut(k)? = u8::try_from(n).ok()?;
            (k, n, digits) = (k + 1, 0, 0);
        } else if c.is_ascii_digit() && digits < 3 && !(digits == 1 && n == 0) {
            // At most three digits, and no digit after a leading zero.
            n = n * 10 + u16::from(c - b'0');
            digits += 1;
        } else {
            return None;
        }
    }
    if digits == 0 || k != 3 {
        return None;
    }
    octets[3] = u8::try_from(n).ok()?;
    Some(std::net::Ipv4Addr::from(octets))
}

/// The endpoint objects where decoders write them (docs/events.md): right after
/// `@timestamp`, the source and then the destination, each starting with its address. Their
/// addresses (as text) and where their values lie among the document's members; `None` when the
/// document is laid out otherwise (the caller then searches it).
fn leading_endpoints(e: &Event) -> Option<[(&[u8], std::ops::Range<usize>); 2]> {
    let c = e.finished_members()?;
    let ts = c.strip_prefix(b"\"@timestamp\":")?;
    let mut at = json::string_end(c, c.len() - ts.len())?;
    let mut endpoint = |side: &[u8]| {
        let rest = c.get(at..)?.strip_prefix(b",\"")?.strip_prefix(side)?.strip_prefix(b"\":")?;
        let start = c.len() - rest.len();
        let addr = rest.strip_prefix(b"{\"ip\":\"")?;
        let len = memchr::memchr(b'"', addr)?;
        let tail = addr.get(len + 1..)?;
        // The object's end, read as decoders write it, else found by reading it through.
        let end = match endpoint_tail(tail) {
            Some(n) => c.len() - tail.len() + n,
            None => json::value_end(c, start)?,
        };
        at = end;
        Some((addr.get(..len)?, start..end))
    };
    Some([endpoint(b"source")?, endpoint(b"destination")?])
}

/// How long the rest of an endpoint object is after its address, when it is as decoders
/// write it: `}` or `,"port":N}`. `None` for anything else.
fn endpoint_tail(t: &[u8]) -> Option<usize> {
    if t.first() == Some(&b'}') {
        return Some(1);
    }
    let port = t.strip_prefix(b",\"port\":")?;
    let n = port.iter().take_while(|c| c.is_ascii_digit()).count();
    (n > 0 && port.get(n) == Some(&b'}')).then_some(t.len() - port.len() + n + 1)
}

/// The address of an endpoint object.
fn ip_of(e: &Event, side: &str, finder: &memchr::memmem::Finder<'_>) -> Option<IpAddr> {
    match e.finished_members() {
        Some(c) => {
            // An endpoint object starts with its address (docs/events.md). One search tells
            // the documents without one; a match is then read where it counts, as the
            // top-level member (an object of the same name deeper down, in attached data say,
            // is not the endpoint the fields are added to).
            finder.find(c)?;
            let m = iotw_event::json::Members::new(c).find(|m| m.key == side.as_bytes())?;
            let rest = m.value.strip_prefix(b"{\"ip\":\"")?;
            let end = memchr::memchr(b'"', rest)?;
            parse_ip(rest.get(..end)?)
        }
        None => e.get_str(&format!("{side}.ip"))?.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_reads_as_the_standard_library_reads_it() {
        let mut texts: Vec<String> = [
            "10.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.02.3.4",
            "1..3.4",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4 ",
            "1.2.3.+4",
            "1.2.3.1000",
            "999.1.1.1",
            "",
            "::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "fe80::1%eth0",
            "1.2.3.a",
            "0.0.0.00",
            "300.300.300.300",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Texts of three to five parts of 0 to 4 characters, mostly digits.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let parts = 3 + next() % 3;
            let mut t = String::new();
            for k in 0..parts {
                if k > 0 {
                    t.push('.');
                }
                let len = [1, 1, 2, 2, 3, 3, 3, 0, 4][(next() % 9) as usize];
                for _ in 0..len {
                    t.push(b"0123456789012345678901234567890123456789x"[(next() % 41) as usize] as char);
                }
            }
            texts.push(t);
        }
        let mut accepted = 0;
        for t in &texts {
            let std: Option<IpAddr> = t.parse().ok();
            assert_eq!(parse_ip(t.as_bytes()), std, "{t:?}");
            accepted += usize::from(parse_ipv4(t.as_bytes()).is_some());
        }
        assert!(accepted > 200, "the generated texts should include many addresses: {accepted}");
    }

    #[test]
    fn endpoints_are_found_where_decoders_write_them_and_nowhere_else() {
        let finished = |e: &mut Event| {
            e.obj("event").str("kind", "event").end();
        };
        let mut decoded = Event::new("sip", "event", 0, &[]);
        decoded.obj("source").str("ip", "10.0.0.1").u64("port", 5060).end();
        decoded.obj("destination").str("ip", "2001:db8::1").end();
        finished(&mut decoded);
        let [(s, sv), (d, dv)] = leading_endpoints(&decoded).unwrap();
        assert_eq!((s, d), (&b"10.0.0.1"[..], &b"2001:db8::1"[..]));
        let text = decoded.finished_members().unwrap();
        assert_eq!(&text[sv], br#"{"ip":"10.0.0.1","port":5060}"#);
        assert_eq!(&text[dv], br#"{"ip":"2001:db8::1"}"#);

        // Objects with more members, or nested ones, are read through to their end.
        for (source, rest) in [
            (r#"{"ip":"10.0.0.1","port":5060,"bytes":3}"#, ""),
            (r#"{"ip":"10.0.0.1","geo":{"name":"a}\"b"},"port":1}"#, ""),
            (r#"{"ip":"10.0.0.1","port":}"#, ""),
            (r#"{"ip":"10.0.0.1","port":1"#, "damaged"),
            (r#"{"ip":"10.0.0.1","port":12}"#, ""),
        ] {
            let mut e = Event::new("sip", "event", 0, &[]);
            e.raw("source", source.as_bytes());
            e.obj("destination").str("ip", "10.0.0.2").end();
            finished(&mut e);
            match leading_endpoints(&e) {
                Some([(_, sv), (d, dv)]) => {
                    assert_eq!(rest, "", "{source}");
                    let text = e.finished_members().unwrap();
                    assert_eq!(&text[sv], source.as_bytes());
                    assert_eq!((d, &text[dv]), (&b"10.0.0.2"[..], &br#"{"ip":"10.0.0.2"}"#[..]));
                }
                None => assert_eq!(rest, "damaged", "{source}"),
            }
        }

        let mut only_source = Event::new("sip", "event", 0, &[]);
        only_source.obj("source").str("ip", "10.0.0.1").end();
        finished(&mut only_source);
        let mut port_first = Event::new("sip", "event", 0, &[]);
        port_first.obj("source").u64("port", 1).str("ip", "10.0.0.1").end();
        port_first.obj("destination").str("ip", "10.0.0.2").end();
        finished(&mut port_first);
        let mut unfinished = Event::new("sip", "event", 0, &[]);
        unfinished.obj("source").str("ip", "10.0.0.1").end().obj("destination").str("ip", "10.0.0.2").end();
        for e in [only_source, port_first, unfinished] {
            assert!(leading_endpoints(&e).is_none(), "{}", e.to_json());
        }
    }
}

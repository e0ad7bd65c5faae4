//! The enrichment chain of a run, built from `[enrich]`: IP geolocation, then geotagging of
//! phone numbers and postcodes, then masking (so places are written before values are
//! masked). Databases are opened and verified here, at start-up: a damaged file stops the
//! run with an error naming it.

use crate::config::EnrichCfg;
use anyhow::{Context, Result};
use iotw_enrich::geotag::Geotag;
use iotw_enrich::ipgeo::{GeoDb, IpGeo, Site};
use iotw_enrich::mask::{Mask, Policy};
use iotw_enrich::phone::Dialling;
use iotw_enrich::Chain;

/// The masking policy `[enrich.mask]` asks for; a mistake names its key.
pub fn policy(c: &EnrichCfg) -> Result<Policy, (&'static str, String)> {
    let m = &c.mask;
    let mut p = Policy::preset(&m.preset)
        .ok_or_else(|| ("preset", format!("{:?} is not a masking preset (off, standard, strict)", m.preset)))?;
    for (key, slot, v) in [
        ("phone", &mut p.phone, &m.phone),
        ("postcode", &mut p.postcode, &m.postcode),
        ("user_data", &mut p.user_data, &m.user_data),
    ] {
        if !v.is_empty() {
            *slot = v.parse().map_err(|e| (key, e))?;
        }
    }
    for (field, action) in &m.fields {
        p.fields.push((field.clone(), action.parse().map_err(|e: String| ("fields", format!("{field}: {e}")))?));
    }
    Ok(p)
}

pub fn build(c: &EnrichCfg) -> Result<Chain> {
    let mut chain = Chain::default();
    let open = |paths: &[std::path::PathBuf], key: &str| -> Result<Vec<GeoDb>> {
        paths.iter().map(|p| GeoDb::open(p).with_context(|| format!("[enrich.ip] {key}"))).collect()
    };
    let city = open(&c.ip.city_databases, "city_databases")?;
    let asn = open(&c.ip.asn_databases, "asn_databases")?;
    let mut sites = Vec::new();
    for s in &c.sites {
        let location = s.lat.zip(s.lon);
        sites.push(Site::new(&s.cidr, &s.name, location).context("[[enrich.sites]]")?);
    }
    if !city.is_empty() || !asn.is_empty() || !sites.is_empty() {
        chain.push(Box::new(IpGeo::new(city, asn, sites)));
    }
    let dialling = Dialling { outside_line: c.outside_line.clone() };
    let policy = policy(c).map_err(|(key, e)| anyhow::anyhow!("[enrich.mask] {key}: {e}"))?;
    if !c.geotag && policy.is_off() {
        return Ok(chain);
    }
    if c.geotag {
        chain.push(Box::new(Geotag::new(dialling.clone(), c.postcode_fields.clone())));
    }
    if !policy.is_off() {
        let secret = if !c.mask.secret_file.as_os_str().is_empty() {
            let s = std::fs::read(&c.mask.secret_file)
                .with_context(|| format!("[enrich.mask] secret_file {}", c.mask.secret_file.display()))?;
            Some(s.trim_ascii().to_vec())
        } else {
            (!c.mask.secret.is_empty()).then(|| c.mask.secret.as_bytes().to_vec())
        };
        let mask = Mask::new(policy, secret.as_deref(), dialling)?;
        chain.push(Box::new(mask));
    }
    Ok(chain)
}

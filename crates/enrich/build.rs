//! Turns the place tables in `data/` into Rust statics (`places.rs` in `OUT_DIR`, included by
//! `src/places.rs`): the binary carries them as hash tables ready to search, so no run spends
//! time parsing them (a few milliseconds at every start, on a core the packet path needs).
//! Each place's ECS `geo` object is written here too, once. Every text lies in one constant
//! (`TEXT`) and the tables hold offsets into it, not pointers: the loader then has nothing to
//! relocate in them at every start (pointers made 12,500 relocations and 460 KiB of pages
//! written at load, 0.2 ms of every command). A row that does not read fails the build.

use std::error::Error;
use std::fmt::Write;

#[path = "src/places/csv.rs"]
#[allow(dead_code)]
mod csv;

const STD_CSV: &str = "data/uk_std_codes.csv";
const POSTCODE_CSV: &str = "data/uk_postcode_districts.csv";

fn main() -> Result<(), Box<dyn Error>> {
    for path in [STD_CSV, POSTCODE_CSV, "src/places/csv.rs"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let std_csv = std::fs::read_to_string(STD_CSV)?;
    let postcode_csv = std::fs::read_to_string(POSTCODE_CSV)?;
    let prefixes = csv::prefix_rows(&std_csv).collect::<Result<Vec<_>, _>>().map_err(|e| format!("{STD_CSV} {e}"))?;
    let districts =
        csv::district_rows(&postcode_csv).collect::<Result<Vec<_>, _>>().map_err(|e| format!("{POSTCODE_CSV} {e}"))?;

    let mut out = String::new();
    let mut text = Text::default();
    writeln!(out, "// Written by build.rs from {STD_CSV} and {POSTCODE_CSV}.")?;

    // Each table: its entries in file order (areas in name order), and the slots of a hash
    // table over their keys (`csv::slots`).
    let mut keys = Vec::with_capacity(prefixes.len());
    writeln!(out, "static PREFIXES: [(u64, Span, Place); {}] = [", prefixes.len())?;
    for p in &prefixes {
        let key = csv::prefix_key(p.prefix.as_bytes()).ok_or_else(|| format!("{STD_CSV}: prefix {}", p.prefix))?;
        keys.push(key);
        let prefix = text.span(p.prefix)?;
        writeln!(out, "    ({key}, {prefix}, {}),", place(&mut text, p.name, p.lat, p.lon, p.precision)?)?;
    }
    writeln!(out, "];")?;
    slots(&mut out, "PREFIX", &keys).map_err(|e| format!("{STD_CSV}: {e}"))?;
    let longest = prefixes.iter().map(|p| p.prefix.len()).max().unwrap_or(0);
    writeln!(out, "const LONGEST_PREFIX: usize = {longest};")?;

    keys.clear();
    writeln!(out, "static DISTRICTS: [(u64, Place); {}] = [", districts.len())?;
    for d in &districts {
        let key = csv::name_key(d.district.as_bytes()).ok_or_else(|| format!("{POSTCODE_CSV}: {}", d.district))?;
        keys.push(key);
        writeln!(out, "    ({key}, {}),", place(&mut text, d.district, d.lat, d.lon, d.precision)?)?;
    }
    writeln!(out, "];")?;
    slots(&mut out, "DISTRICT", &keys).map_err(|e| format!("{POSTCODE_CSV}: {e}"))?;

    keys.clear();
    let areas = csv::areas(&districts);
    writeln!(out, "static AREAS: [(u64, Place); {}] = [", areas.len())?;
    for (a, lat, lon) in &areas {
        let key = csv::name_key(a.as_bytes()).ok_or_else(|| format!("{POSTCODE_CSV}: area {a}"))?;
        keys.push(key);
        writeln!(out, "    ({key}, {}),", place(&mut text, a, *lat, *lon, "area")?)?;
    }
    writeln!(out, "];")?;
    slots(&mut out, "AREA", &keys).map_err(|e| format!("{POSTCODE_CSV}: areas: {e}"))?;
    writeln!(out, "const TEXT: &str = {:?};", text.all)?;

    let dir = std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?;
    std::fs::write(std::path::Path::new(&dir).join("places.rs"), out)?;
    Ok(())
}

/// `<NAME>_SLOTS` and `<NAME>_BITS`: the hash table over `keys` (see `csv::slots`).
fn slots(out: &mut String, name: &str, keys: &[u64]) -> Result<(), Box<dyn Error>> {
    let (bits, slots) = csv::slots(keys).ok_or("a key is there twice, or there are too many")?;
    writeln!(out, "const {name}_BITS: u32 = {bits};")?;
    writeln!(out, "static {name}_SLOTS: [u16; {}] = {slots:?};", slots.len())?;
    Ok(())
}

/// The texts of the tables, each once, one after another.
#[derive(Default)]
struct Text {
    all: String,
    at: std::collections::HashMap<String, (usize, usize)>,
}

impl Text {
    /// `s` as `Span(start, end)` source, adding it when it is not there yet.
    fn span(&mut self, s: &str) -> Result<String, Box<dyn Error>> {
        let (start, end) = match self.at.get(s) {
            Some(&at) => at,
            None => {
                let at = (self.all.len(), self.all.len() + s.len());
                self.all.push_str(s);
                self.at.insert(s.to_owned(), at);
                at
            }
        };
        let (start, end) = (u32::try_from(start)?, u32::try_from(end)?);
        Ok(format!("Span({start}, {end})"))
    }
}

/// A `Place` as Rust source: `{:?}` of a float is the shortest text that reads back to it.
fn place(text: &mut Text, name: &str, lat: f64, lon: f64, precision: &str) -> Result<String, Box<dyn Error>> {
    let geo = format!(
        "{{\"country_iso_code\":\"GB\",\"location\":{{\"lat\":{},\"lon\":{}}},\"name\":{},\"precision\":{}}}",
        serde_json::to_string(&lat)?,
        serde_json::to_string(&lon)?,
        serde_json::to_string(name)?,
        serde_json::to_string(precision)?,
    );
    let (name, precision, json) = (text.span(name)?, text.span(precision)?, text.span(&geo)?);
    Ok(format!("Place {{ name: {name}, lat: {lat:?}, lon: {lon:?}, precision: {precision}, json: {json} }}"))
}

//! Turns the place tables in `data/` into Rust statics (`places.rs` in `OUT_DIR`, included by
//! `src/places.rs`): the binary carries them as hash tables ready to search, so no run spends
//! time parsing them (a few milliseconds at every start, on a core the packet path needs).
//! Each place's ECS `geo` object is written here too, once. A row that does not read fails
//! the build.

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
    writeln!(out, "// Written by build.rs from {STD_CSV} and {POSTCODE_CSV}.")?;

    // Each table: its entries in file order (areas in name order), and the slots of a hash
    // table over their keys (`csv::slots`).
    let mut keys = Vec::with_capacity(prefixes.len());
    writeln!(out, "static PREFIXES: [(u64, &str, Place); {}] = [", prefixes.len())?;
    for p in &prefixes {
        let key = csv::prefix_key(p.prefix.as_bytes()).ok_or_else(|| format!("{STD_CSV}: prefix {}", p.prefix))?;
        keys.push(key);
        writeln!(out, "    ({key}, {:?}, {}),", p.prefix, place(p.name, p.lat, p.lon, p.precision)?)?;
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
        writeln!(out, "    ({key}, {}),", place(d.district, d.lat, d.lon, d.precision)?)?;
    }
    writeln!(out, "];")?;
    slots(&mut out, "DISTRICT", &keys).map_err(|e| format!("{POSTCODE_CSV}: {e}"))?;

    keys.clear();
    let areas = csv::areas(&districts);
    writeln!(out, "static AREAS: [(u64, Place); {}] = [", areas.len())?;
    for (a, lat, lon) in &areas {
        let key = csv::name_key(a.as_bytes()).ok_or_else(|| format!("{POSTCODE_CSV}: area {a}"))?;
        keys.push(key);
        writeln!(out, "    ({key}, {}),", place(a, *lat, *lon, "area")?)?;
    }
    writeln!(out, "];")?;
    slots(&mut out, "AREA", &keys).map_err(|e| format!("{POSTCODE_CSV}: areas: {e}"))?;

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

/// A `Place` as Rust source: `{:?}` of a float is the shortest text that reads back to it.
fn place(name: &str, lat: f64, lon: f64, precision: &str) -> Result<String, Box<dyn Error>> {
    let geo = format!(
        "{{\"country_iso_code\":\"GB\",\"location\":{{\"lat\":{},\"lon\":{}}},\"name\":{},\"precision\":{}}}",
        serde_json::to_string(&lat)?,
        serde_json::to_string(&lon)?,
        serde_json::to_string(name)?,
        serde_json::to_string(precision)?,
    );
    Ok(format!("Place {{ name: {name:?}, lat: {lat:?}, lon: {lon:?}, precision: {precision:?}, json: {geo:?} }}"))
}

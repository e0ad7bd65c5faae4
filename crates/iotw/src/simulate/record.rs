//! What the simulator writes besides the capture: the ground truth of each message, and the
//! T-Server log lines (genesys_wire.md §11.4).

use super::site::Client;
use iotw_decode::genesys::kvlist::{KvList, KvValue};
use iotw_decode::genesys::tables::AttributeId as A;
use iotw_decode::genesys::tlib::{TlibMessage, Value};
use iotw_decode::genesys::WireProfile;
use iotw_event::json::hex;
use iotw_event::{format_rfc3339_micros, Nanos};
use serde_json::{Map, Value as Json};
use std::io::Write;
use std::net::SocketAddrV4;

/// The ground truth of a message's attributes: ints as numbers, 8-byte ids and binary as
/// hex, KV lists as objects. Credentials are kept here (this is the truth) and must never
/// appear in iotw's documents.
pub(super) fn attributes_json(m: &TlibMessage) -> Json {
    fn kvj(l: &KvList) -> Json {
        let mut o = Map::new();
        for (k, v) in l {
            let x = match v {
                KvValue::Str(s) => Json::from(s.as_str()),
                KvValue::Int(i) => Json::from(*i),
                KvValue::Binary(b) | KvValue::Unicode(b) => Json::from(hex(b)),
                KvValue::List(inner) => kvj(inner),
            };
            o.insert(k.clone(), x);
        }
        Json::Object(o)
    }
    let mut o = Map::new();
    for (a, v) in &m.attrs {
        let x = match v {
            Value::Int(i) | Value::Long(i) => Json::from(*i),
            Value::ConnId(c) => Json::from(hex(c)),
            Value::Str(s) => Json::from(s.as_str()),
            Value::KvList(l) => kvj(l),
            Value::Mask(b) | Value::Binary(b) => Json::from(hex(b)),
        };
        o.insert(a.to_string(), x);
    }
    Json::Object(o)
}

/// The T-Server log lines of one message (genesys_wire.md §11.4).
#[allow(clippy::too_many_arguments)]
pub(super) fn write_log(
    out: &mut impl Write,
    ts: Nanos,
    m: &TlibMessage,
    request: bool,
    client_no: u32,
    client: &Client,
    addr: SocketAddrV4,
    p: &WireProfile,
    server_version: &str,
) -> std::io::Result<()> {
    let t = format_rfc3339_micros(ts);
    let (date, time) = (&t[..10], &t[11..26]);
    if request {
        writeln!(
            out,
            "{date}T{} Trc 04541 {} received from [{client_no}] ({:08x} {} {addr})",
            &time[..12],
            m.mtype,
            client.handle,
            client.name
        )?;
        writeln!(out, "message {}", m.mtype)?;
    } else {
        writeln!(out, "@{} [0] {server_version} send_to_client: message {}", &time[..13], m.mtype)?;
    }
    for (a, v) in &m.attrs {
        match v {
            Value::Int(i) | Value::Long(i) if *a == A::EVENT_SEQUENCE_NUMBER => {
                writeln!(out, "\t{a}\t{:016x}", *i as u64)?
            }
            Value::Int(i) | Value::Long(i) => writeln!(out, "\t{a}\t{i}")?,
            Value::ConnId(c) => writeln!(out, "\t{a}\t{}", hex(c))?,
            Value::Str(s) if *a == A::APPLICATION_PASSWORD => writeln!(out, "\t{a}\t'{}'", "*".repeat(s.len().min(8)))?,
            Value::Str(s) => writeln!(out, "\t{a}\t'{s}'")?,
            Value::KvList(l) => {
                let mut packed = Vec::new();
                iotw_decode::genesys::kvlist::encode(l, p, &mut packed);
                let first: Vec<String> = packed.iter().take(4).map(|b| format!("{b:02x}")).collect();
                writeln!(out, "\t{a}\t[{}] {}..", packed.len(), first.join(" "))?;
                for (k, v) in l {
                    match v {
                        KvValue::Str(s) => writeln!(out, "\t\t'{k}'\t'{s}'")?,
                        KvValue::Int(i) => writeln!(out, "\t\t'{k}'\t{i}")?,
                        KvValue::List(_) => writeln!(out, "\t\t'{k}'(list) ")?,
                        KvValue::Binary(b) | KvValue::Unicode(b) => writeln!(out, "\t\t'{k}'\t{}", hex(b))?,
                    }
                }
            }
            Value::Mask(b) | Value::Binary(b) => writeln!(out, "\t{a}\t{}", hex(b))?,
        }
    }
    Ok(())
}

//! Capture filters: any text parses or errors; a parsed filter compiles to a program that
//! the interpreter runs to completion on any packet bytes.
#![no_main]
use iotw_capture::filter::{bpf, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let Ok(text) = std::str::from_utf8(&data[..split]) else { return };
    let Ok(f) = parse(text) else { return };
    let pkt = data.get(split + 1..).unwrap_or(&[]);
    for layout in [bpf::Layout::Ethernet, bpf::Layout::Cooked, bpf::Layout::RawIp] {
        if let Ok(prog) = bpf::compile(&f, layout, 65535) {
            let _ = bpf::run(&prog, pkt, None);
        }
    }
    if let Ok(p) = iotw_wire::parse(iotw_wire::LinkType::ETHERNET, pkt) {
        let _ = f.matches(&p);
    }
});

//! What the benchmarks share: the documents of one simulated site.

use iotw_event::Event;

// The allocator of the `iotw` binary (see its main.rs), so that what is measured here costs
// what it costs in a capture run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The documents of a simulated site (`iotw simulate`: 30 minutes, 40 agents, 1,200 calls an
/// hour; SIP, T-Library, calls, journeys and flows), decoded without enrichment.
pub fn site_documents() -> Vec<Event> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pcap = dir.path().join("site.pcapng");
    let sim = iotw::simulate::SimConfig {
        agents: 40,
        calls_per_hour: 1200,
        duration: 1_800_000_000_000,
        ..Default::default()
    };
    iotw::simulate::simulate(
        &sim,
        &iotw_decode::genesys::WireProfile::default(),
        std::fs::File::create(&pcap).expect("capture file"),
        None::<std::fs::File>,
        None::<std::fs::File>,
    )
    .expect("simulated site");
    iotw::pipeline::documents_of(&pcap, &iotw::config::Config::default()).expect("capture decodes")
}

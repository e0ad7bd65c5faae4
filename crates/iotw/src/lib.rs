//! The parts of the `iotw` binary that other programs drive too (the fuzz targets, the
//! benchmarks): the configuration file, the packet pipeline and the site simulator.

pub mod config;
pub mod discover;
pub mod enrichment;
pub mod pipeline;
pub mod simulate;

//! The parts of the `iotw` binary that other programs drive too (the fuzz targets, the
//! benchmarks): the configuration file and the packet pipeline.

pub mod config;
pub mod pipeline;

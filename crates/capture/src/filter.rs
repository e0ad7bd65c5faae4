//! placeholder
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

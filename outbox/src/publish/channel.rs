//! Placeholder: the in-process channel publisher (helper writes it).

/// Placeholder.
#[derive(Debug, Clone)]
pub struct ChannelPublisher;

//! Placeholder (helper writes it).

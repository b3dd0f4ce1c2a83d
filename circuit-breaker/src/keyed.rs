//! Keyed breakers (in progress).

//! Reading a [`Config`](crate::Config) from a file (in progress).

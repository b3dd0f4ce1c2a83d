//! Which errors the ready-made filters call transient: connection errors
//! anywhere in an error's source chain, as HTTP clients nest them.

use ballast_retry::{AllErrors, ConnectionErrors, NoErrors, TransientError, is_connection_error};
use std::error::Error;
use std::fmt;
use std::io;

/// A client's error that keeps its cause as a source, as hyper-util's and
/// reqwest's errors do.
#[derive(Debug)]
struct ClientError {
    cause: Box<dyn Error + Send + Sync>,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("client error")
    }
}

impl Error for ClientError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.cause)
    }
}

fn client(cause: impl Error + Send + Sync + 'static) -> ClientError {
    ClientError {
        cause: Box::new(cause),
    }
}

#[test]
fn connection_kinds_anywhere_in_the_chain_are_transient() {
    use io::ErrorKind::*;
    for kind in [
        ConnectionRefused,
        ConnectionReset,
        ConnectionAborted,
        NotConnected,
        BrokenPipe,
        TimedOut,
        UnexpectedEof,
    ] {
        let nested = client(client(io::Error::from(kind)));
        assert!(ConnectionErrors.is_transient(&nested), "{kind:?}");
        // An io::Error wrapping a client error wrapping the socket's.
        let wrapped = io::Error::other(client(io::Error::from(kind)));
        assert!(is_connection_error(&wrapped), "{kind:?}");
    }
}

#[test]
fn other_errors_are_not_connection_errors() {
    for e in [
        client(io::Error::from(io::ErrorKind::InvalidData)),
        client(io::Error::from(io::ErrorKind::PermissionDenied)),
        client(fmt::Error),
    ] {
        assert!(!ConnectionErrors.is_transient(&e), "{e:?}");
    }
    let boxed: Box<dyn Error + Send + Sync> = Box::new(client(fmt::Error));
    assert!(!is_connection_error(&*boxed));
    let boxed: Box<dyn Error + Send + Sync> = Box::new(io::Error::from(io::ErrorKind::TimedOut));
    assert!(is_connection_error(&*boxed));
}

#[test]
fn no_errors_and_all_errors_say_what_their_names_say() {
    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    assert!(!NoErrors.is_transient(&refused));
    assert!(AllErrors.is_transient(&io::Error::other("anything")));
}

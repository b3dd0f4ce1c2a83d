//! [`GrpcClassifier`]: gRPC statuses from any client's error type.

use super::code::GrpcCode;
use super::rules::{GrpcRules, Pushback};
use crate::classify::{Action, Classifier};

/// Reads a server's pushback from an error; see
/// [`GrpcClassifier::pushback`]. Implemented for any
/// `Fn(&E) -> Option<Pushback>`.
pub trait PushbackOf<E> {
    /// The pushback `error` carries, if any.
    fn pushback_of(&self, error: &E) -> Option<Pushback>;
}

/// The error carries no pushback; the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoPushback;

impl<E> PushbackOf<E> for NoPushback {
    #[inline]
    fn pushback_of(&self, _: &E) -> Option<Pushback> {
        None
    }
}

impl<E, F: Fn(&E) -> Option<Pushback>> PushbackOf<E> for F {
    #[inline]
    fn pushback_of(&self, error: &E) -> Option<Pushback> {
        self(error)
    }
}

/// Classifies `Result<Res, E>` where an `Err` carries a gRPC status code
/// that `code_of` reads (a number: an unknown one counts as UNKNOWN).
/// `Ok` is always returned; an `Err` is retried as [`GrpcRules`] say
/// (UNAVAILABLE only, unless set).
///
/// With tonic, `Err` is a `tonic::Status`, and the pushback travels in its
/// metadata (ballast does not depend on tonic; this is what the code reads
/// like):
///
/// ```
/// use ballast_retry::grpc::{GrpcClassifier, Pushback};
/// use ballast_retry::{Action, Classifier};
/// use std::time::Duration;
///
/// let classifier = GrpcClassifier::new(|s: &tonic::Status| s.code() as i32).pushback(
///     |s: &tonic::Status| {
///         s.metadata()
///             .get("grpc-retry-pushback-ms")
///             .map(|v| Pushback::parse(v.as_bytes()))
///     },
/// );
///
/// let down: Result<(), tonic::Status> = Err(tonic::Status::unavailable("restarting"));
/// assert_eq!(classifier.classify(&down), Action::Retry);
///
/// let mut busy = tonic::Status::resource_exhausted("slow down");
/// busy.metadata_mut().insert("grpc-retry-pushback-ms", "250".parse().unwrap());
/// let busy: Result<(), tonic::Status> = Err(busy);
/// assert_eq!(classifier.classify(&busy), Action::RetryAfter(Duration::from_millis(250)));
/// ```
///
/// The same with a stand-in status type:
///
/// ```
/// use ballast_retry::grpc::{GrpcClassifier, GrpcCode, GrpcRules, Pushback};
/// use ballast_retry::{Action, Classifier};
/// use std::time::Duration;
///
/// struct Status { code: i32, pushback_ms: Option<&'static str> }
///
/// let classifier = GrpcClassifier::new(|s: &Status| s.code)
///     .pushback(|s: &Status| s.pushback_ms.map(|v| Pushback::parse(v.as_bytes())))
///     .rules(GrpcRules::default().retryable([GrpcCode::Unavailable, GrpcCode::Aborted]));
///
/// let unavailable: Result<(), Status> = Err(Status { code: 14, pushback_ms: None });
/// assert_eq!(classifier.classify(&unavailable), Action::Retry);
/// let told_to_wait: Result<(), Status> = Err(Status { code: 10, pushback_ms: Some("300") });
/// assert_eq!(classifier.classify(&told_to_wait), Action::RetryAfter(Duration::from_millis(300)));
/// let told_not_to: Result<(), Status> = Err(Status { code: 14, pushback_ms: Some("-1") });
/// assert_eq!(classifier.classify(&told_not_to), Action::Return);
/// let invalid: Result<(), Status> = Err(Status { code: 3, pushback_ms: None });
/// assert_eq!(classifier.classify(&invalid), Action::Return);
/// ```
#[derive(Debug, Clone)]
pub struct GrpcClassifier<X, P = NoPushback> {
    code_of: X,
    pushback_of: P,
    rules: GrpcRules,
}

impl<X> GrpcClassifier<X> {
    /// Reads each `Err`'s code with `code_of` (`Fn(&E) -> i32`), under the
    /// default [`GrpcRules`].
    pub fn new(code_of: X) -> Self {
        Self {
            code_of,
            pushback_of: NoPushback,
            rules: GrpcRules::default(),
        }
    }
}

impl<X, P> GrpcClassifier<X, P> {
    /// Reads each `Err`'s pushback with `pushback_of` (a closure
    /// `Fn(&E) -> Option<Pushback>`, typically
    /// [`Pushback::parse`] of the `grpc-retry-pushback-ms` metadata).
    pub fn pushback<P2>(self, pushback_of: P2) -> GrpcClassifier<X, P2> {
        GrpcClassifier {
            code_of: self.code_of,
            pushback_of,
            rules: self.rules,
        }
    }

    /// Retries as `rules` say.
    pub fn rules(mut self, rules: GrpcRules) -> Self {
        self.rules = rules;
        self
    }

    /// The rules it retries by.
    pub fn get_rules(&self) -> &GrpcRules {
        &self.rules
    }
}

impl<Res, E, X, P> Classifier<Res, E> for GrpcClassifier<X, P>
where
    X: Fn(&E) -> i32,
    P: PushbackOf<E>,
{
    fn classify(&self, result: &Result<Res, E>) -> Action {
        match result {
            Ok(_) => Action::Return,
            Err(e) => {
                let code = GrpcCode::from_i32((self.code_of)(e)).unwrap_or(GrpcCode::Unknown);
                if code == GrpcCode::Ok {
                    return Action::Return;
                }
                self.rules.decide(code, self.pushback_of.pushback_of(e))
            }
        }
    }
}

//! The responses a [`ReceiveDeadline`](super::ReceiveDeadline) answers
//! with instead of calling its handler.

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};

/// The response header that says why a plain-HTTP request was refused
/// (`invalid millisecond timeout: too large`). gRPC uses `grpc-message`.
pub const DEADLINE_ERROR_HEADER: &str = "x-deadline-error";

/// gRPC's `DEADLINE_EXCEEDED`.
const GRPC_DEADLINE_EXCEEDED: &str = "4";
/// gRPC's `INVALID_ARGUMENT`.
const GRPC_INVALID_ARGUMENT: &str = "3";

/// Whether a request speaks gRPC (content-type `application/grpc`, with or
/// without a `+proto`-style suffix).
pub(crate) fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The deadline passed (before or during the call): 504, or gRPC
/// `DEADLINE_EXCEEDED`.
pub(crate) fn deadline_exceeded<B: Default>(grpc: bool) -> Response<B> {
    if grpc {
        grpc_status(GRPC_DEADLINE_EXCEEDED, "deadline exceeded")
    } else {
        http_status(StatusCode::GATEWAY_TIMEOUT, "deadline exceeded")
    }
}

/// A timeout header could not be read: 400, or gRPC `INVALID_ARGUMENT`.
pub(crate) fn malformed<B: Default>(grpc: bool, message: &str) -> Response<B> {
    if grpc {
        grpc_status(GRPC_INVALID_ARGUMENT, message)
    } else {
        http_status(StatusCode::BAD_REQUEST, message)
    }
}

fn http_status<B: Default>(status: StatusCode, message: &str) -> Response<B> {
    let mut res = Response::new(B::default());
    *res.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(message) {
        res.headers_mut().insert(DEADLINE_ERROR_HEADER, v);
    }
    res
}

/// A trailers-only gRPC response: status 200 with `grpc-status` and
/// `grpc-message` in the headers.
fn grpc_status<B: Default>(code: &'static str, message: &str) -> Response<B> {
    let mut res = Response::new(B::default());
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from_static(code));
    if let Ok(v) = HeaderValue::from_str(&percent_encode(message)) {
        headers.insert("grpc-message", v);
    }
    res
}

/// gRPC's `grpc-message` encoding: printable ASCII other than `%` as is,
/// every other byte as `%XX`.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_message_escapes_percent_and_non_ascii() {
        assert_eq!(percent_encode("50% µ"), "50%25 %C2%B5");
        assert_eq!(percent_encode("deadline exceeded"), "deadline exceeded");
    }

    #[test]
    fn grpc_refusals_are_trailers_only_with_status_200() {
        let res: Response<()> = deadline_exceeded(true);
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["grpc-status"], "4");
        let res: Response<()> = malformed(true, "invalid grpc-timeout: empty");
        assert_eq!(res.headers()["grpc-status"], "3");
        assert_eq!(res.headers()["grpc-message"], "invalid grpc-timeout: empty");
    }
}

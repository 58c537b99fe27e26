//! What the two HTTP-facing parties share: the request method as the core sees it.
//!
//! Both [`crate::device::Device::handle`] and [`crate::notify::NotifyBroker::handle`] take a
//! request as plain values; the adapter maps its HTTP library's method onto [`Method`].

/// The HTTP method of a request, as far as the device and the notify broker care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET` (an adapter maps `HEAD` here too and drops the body: RFC 9110 §9.3.2).
    Get,
    /// `POST`.
    Post,
    /// `DELETE`.
    Delete,
    /// Anything else: on a known path, the device answers 404 and the broker 405.
    Other,
}

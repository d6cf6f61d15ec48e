//! Fault injection: what a registry does wrong, switchable at runtime per registry.
//!
//! The gateway's "no false approval" invariant is tested by making registries misbehave in
//! every way a real one does: slow, down, garbled, cut off, or answering someone else.

use serde::{Deserialize, Serialize};

/// One registry's misbehaviour. `latency-ms` combines with any `mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Fault {
    /// Delay before answering (or before misbehaving), in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// What goes wrong; `None` answers normally (after the latency).
    #[serde(default)]
    pub mode: Option<FaultMode>,
}

impl Fault {
    pub fn latency(ms: u64) -> Self {
        Self {
            latency_ms: ms,
            mode: None,
        }
    }

    pub fn mode(mode: FaultMode) -> Self {
        Self {
            latency_ms: 0,
            mode: Some(mode),
        }
    }

    pub fn with_latency(mut self, ms: u64) -> Self {
        self.latency_ms = ms;
        self
    }
}

/// Ways to fail. The wire effect per protocol family is documented in PROTOCOLS.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultMode {
    /// HTTP 500 with a plain-text body.
    Http500,
    /// SOAP 1.1 Fault (HTTP 500); JSON registries answer HTTP 500 with a JSON error.
    SoapFault,
    /// Gateway status SCE004 "service unavailable" (HTTP 200); non-gateway registries
    /// answer HTTP 503.
    Sce004,
    /// HTTP 200 with a body that is not well-formed XML / JSON.
    MalformedXml,
    /// Headers promise more bytes (Content-Length) than are sent, then the connection closes.
    TruncatedBody,
    /// A well-formed answer whose correlation id does not match the request.
    WrongCorrelationId,
    /// The connection is closed without any answer.
    ConnectionReset,
}

impl FaultMode {
    /// Every way to fail, for tests that try them all.
    pub const ALL: [FaultMode; 7] = [
        FaultMode::Http500,
        FaultMode::SoapFault,
        FaultMode::Sce004,
        FaultMode::MalformedXml,
        FaultMode::TruncatedBody,
        FaultMode::WrongCorrelationId,
        FaultMode::ConnectionReset,
    ];
}

//! Prometheus metrics of the relayer, served as text at `/metrics`.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use std::{
	io::{BufRead, BufReader, Write},
	net::TcpListener,
};

/// Every figure the relayer reports.
#[derive(Clone)]
pub struct Metrics {
	pub registry: Registry,
	/// bitcoind's height minus the light client's.
	pub header_lag: IntGauge,
	/// Deposits seen on Bitcoin and not yet recorded by the bridge.
	pub pending_deposits: IntGauge,
	/// Signed withdrawals not yet proven confirmed (0 or 1: one proposal is in flight).
	pub pending_broadcasts: IntGauge,
	pub headers_submitted: IntCounter,
	pub deposits_submitted: IntCounter,
	/// Deposits this relayer submitted that the bridge then recorded.
	pub deposits_credited: IntCounter,
	pub broadcasts: IntCounter,
	pub withdrawal_proofs_submitted: IntCounter,
	/// Transactions seen spending bridge coins without approval, not yet proven.
	pub suspected_thefts: IntGauge,
	pub theft_proofs_submitted: IntCounter,
	/// Failed rounds and refusals, by source (`bitcoind`, `chain`, `broadcast`).
	pub errors: IntCounterVec,
}

impl Default for Metrics {
	fn default() -> Self {
		Self::new()
	}
}

impl Metrics {
	pub fn new() -> Metrics {
		let registry = Registry::new();
		let gauge = |name: &str, help: &str| {
			let gauge =
				IntGauge::new(format!("tapchain_relayer_{name}"), help).expect("valid name");
			registry.register(Box::new(gauge.clone())).expect("registered once");
			gauge
		};
		let counter = |name: &str, help: &str| {
			let counter =
				IntCounter::new(format!("tapchain_relayer_{name}"), help).expect("valid name");
			registry.register(Box::new(counter.clone())).expect("registered once");
			counter
		};
		let errors = IntCounterVec::new(
			Opts::new("tapchain_relayer_errors_total", "Failed rounds and refusals by source"),
			&["source"],
		)
		.expect("valid name");
		registry.register(Box::new(errors.clone())).expect("registered once");
		Metrics {
			header_lag: gauge("header_lag", "Bitcoin blocks the light client is behind bitcoind"),
			pending_deposits: gauge(
				"pending_deposits",
				"Deposits seen and not yet recorded by the bridge",
			),
			pending_broadcasts: gauge(
				"pending_broadcasts",
				"Signed withdrawals not yet proven confirmed",
			),
			headers_submitted: counter(
				"headers_submitted_total",
				"Headers submitted to the light client",
			),
			deposits_submitted: counter("deposits_submitted_total", "Deposit proofs submitted"),
			deposits_credited: counter(
				"deposits_credited_total",
				"Submitted deposits the bridge recorded",
			),
			broadcasts: counter("broadcasts_total", "Withdrawal transactions sent to bitcoind"),
			withdrawal_proofs_submitted: counter(
				"withdrawal_proofs_submitted_total",
				"Withdrawal proofs submitted",
			),
			suspected_thefts: gauge(
				"suspected_thefts",
				"Transactions spending bridge coins without approval, not yet proven",
			),
			theft_proofs_submitted: counter(
				"theft_proofs_submitted_total",
				"Theft proofs submitted",
			),
			errors,
			registry,
		}
	}

	/// The metrics in Prometheus' text format.
	pub fn render(&self) -> String {
		let mut buffer = Vec::new();
		TextEncoder::new().encode(&self.registry.gather(), &mut buffer).expect("text encoding");
		String::from_utf8(buffer).expect("the text format is UTF-8")
	}

	/// Serves `GET /metrics` on `listener` from a background thread.
	pub fn serve(&self, listener: TcpListener) {
		let metrics = self.clone();
		std::thread::spawn(move || {
			for stream in listener.incoming() {
				let Ok(mut stream) = stream else { continue };
				let mut request_line = String::new();
				let Ok(reader_stream) = stream.try_clone() else { continue };
				let mut reader = BufReader::new(reader_stream);
				if reader.read_line(&mut request_line).is_err() {
					continue;
				}
				// Drain the headers.
				let mut line = String::new();
				while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
					line.clear();
				}
				let (status, body) = if request_line.starts_with("GET /metrics") {
					("200 OK", metrics.render())
				} else {
					("404 Not Found", "not found; try /metrics\n".to_string())
				};
				let _ = stream.write_all(
					format!(
						"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
						body.len()
					)
					.as_bytes(),
				);
			}
		});
	}
}

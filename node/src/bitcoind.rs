//! A minimal client of bitcoind's JSON-RPC (HTTP/1.1 with basic auth, std only): what a
//! validator needs from its own Bitcoin node, today its fee-rate estimate.

use serde_json::{json, Value};
use std::{
	io::{Read, Write},
	net::{TcpStream, ToSocketAddrs},
	time::Duration,
};

/// Why a bitcoind call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BitcoindError {
	/// The URL is not `http://[user:password@]host:port[/path]`.
	BadUrl(String),
	/// No connection, or it broke.
	Io(String),
	/// bitcoind refused the credentials (HTTP 401/403).
	Unauthorized,
	/// The reply is not HTTP with a JSON-RPC body.
	BadReply(String),
	/// bitcoind answered with a JSON-RPC error.
	Rpc { code: i64, message: String },
	/// `estimatesmartfee` has no estimate yet (too few blocks seen, e.g. on regtest).
	NoEstimate(String),
}

impl std::fmt::Display for BitcoindError {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		write!(f, "{self:?}")
	}
}

/// A bitcoind JSON-RPC endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitcoindClient {
	host: String,
	port: u16,
	path: String,
	/// `Basic <base64(user:password)>`, if the URL carries credentials.
	authorization: Option<String>,
	timeout: Duration,
}

impl BitcoindClient {
	/// Parses `http://user:password@127.0.0.1:8332` (an optional path such as
	/// `/wallet/name` is kept).
	pub fn from_url(url: &str) -> Result<Self, BitcoindError> {
		use base64::Engine as _;
		let bad = || BitcoindError::BadUrl(url.to_string());
		let rest = url.strip_prefix("http://").ok_or_else(bad)?;
		let (authority, path) = match rest.find('/') {
			Some(i) => (&rest[..i], rest[i..].to_string()),
			None => (rest, "/".to_string()),
		};
		let (credentials, host_port) = match authority.rsplit_once('@') {
			Some((credentials, host_port)) => (Some(credentials), host_port),
			None => (None, authority),
		};
		let (host, port) = host_port.rsplit_once(':').ok_or_else(bad)?;
		let port: u16 = port.parse().map_err(|_| bad())?;
		if host.is_empty() {
			return Err(bad());
		}
		let authorization = credentials.map(|c| {
			format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(c.as_bytes()))
		});
		Ok(Self {
			host: host.to_string(),
			port,
			path,
			authorization,
			timeout: Duration::from_secs(10),
		})
	}

	/// Calls `method` with `params`; returns the JSON-RPC `result`.
	pub fn call(&self, method: &str, params: Value) -> Result<Value, BitcoindError> {
		let io = |e: std::io::Error| BitcoindError::Io(e.to_string());
		let body =
			json!({ "jsonrpc": "1.0", "id": "tapchain", "method": method, "params": params })
				.to_string();
		let address = (self.host.as_str(), self.port)
			.to_socket_addrs()
			.map_err(io)?
			.next()
			.ok_or_else(|| BitcoindError::Io(format!("{} does not resolve", self.host)))?;
		let mut stream = TcpStream::connect_timeout(&address, self.timeout).map_err(io)?;
		stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
		stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
		let mut request = format!(
			"POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
			self.path,
			self.host,
			self.port,
			body.len()
		);
		if let Some(authorization) = &self.authorization {
			request.push_str(&format!("Authorization: {authorization}\r\n"));
		}
		request.push_str("\r\n");
		request.push_str(&body);
		stream.write_all(request.as_bytes()).map_err(io)?;
		let mut reply = Vec::new();
		stream.read_to_end(&mut reply).map_err(io)?;
		let reply = String::from_utf8_lossy(&reply);
		let (head, body) = reply
			.split_once("\r\n\r\n")
			.ok_or_else(|| BitcoindError::BadReply("no HTTP header".into()))?;
		let status: u16 = head
			.split_whitespace()
			.nth(1)
			.and_then(|s| s.parse().ok())
			.ok_or_else(|| BitcoindError::BadReply(format!("no HTTP status in {head:?}")))?;
		if status == 401 || status == 403 {
			return Err(BitcoindError::Unauthorized);
		}
		// bitcoind answers RPC errors with HTTP 500 (or 404 for unknown methods) and a
		// JSON-RPC error body.
		let reply: Value = serde_json::from_str(body.trim()).map_err(|e| {
			BitcoindError::BadReply(format!("HTTP {status}, body not JSON-RPC: {e}"))
		})?;
		if let Some(error) = reply.get("error").filter(|e| !e.is_null()) {
			return Err(BitcoindError::Rpc {
				code: error["code"].as_i64().unwrap_or_default(),
				message: error["message"].as_str().unwrap_or_default().to_string(),
			});
		}
		reply.get("result").cloned().ok_or_else(|| BitcoindError::BadReply("no result".into()))
	}

	/// `estimatesmartfee target_blocks`, in sat/vB rounded up (bitcoind gives BTC/kvB).
	pub fn estimate_fee_rate_sat_per_vb(&self, target_blocks: u16) -> Result<u64, BitcoindError> {
		let result = self.call("estimatesmartfee", json!([target_blocks]))?;
		match result.get("feerate").and_then(Value::as_f64) {
			Some(btc_per_kvb) if btc_per_kvb > 0.0 => {
				// 1 BTC/kvB = 10^8 sat / 1000 vB = 10^5 sat/vB.
				Ok((btc_per_kvb * 100_000.0).ceil().max(1.0) as u64)
			},
			_ => Err(BitcoindError::NoEstimate(
				result["errors"].as_array().map(|e| format!("{e:?}")).unwrap_or_default(),
			)),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::net::TcpListener;

	/// Serves one HTTP request with `reply` (status line and JSON body as bitcoind sends
	/// them) and hands back the request it received.
	fn serve_once(
		status: &'static str,
		body: &'static str,
	) -> (u16, std::thread::JoinHandle<String>) {
		let listener = TcpListener::bind("127.0.0.1:0").unwrap();
		let port = listener.local_addr().unwrap().port();
		let handle = std::thread::spawn(move || {
			let (mut stream, _) = listener.accept().unwrap();
			let mut request = Vec::new();
			let mut buffer = [0u8; 4096];
			// Read the header and the announced body.
			loop {
				let n = stream.read(&mut buffer).unwrap();
				request.extend_from_slice(&buffer[..n]);
				let text = String::from_utf8_lossy(&request);
				if let Some((head, body)) = text.split_once("\r\n\r\n") {
					let length = head
						.lines()
						.find_map(|l| l.strip_prefix("Content-Length: "))
						.and_then(|l| l.trim().parse::<usize>().ok())
						.unwrap_or(0);
					if body.len() >= length {
						break;
					}
				}
				if n == 0 {
					break;
				}
			}
			let reply = format!(
				"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
				body.len()
			);
			stream.write_all(reply.as_bytes()).unwrap();
			String::from_utf8_lossy(&request).into_owned()
		});
		(port, handle)
	}

	#[test]
	fn urls_parse_with_and_without_credentials() {
		let client =
			BitcoindClient::from_url("http://alice:secret@127.0.0.1:18443/wallet/w").unwrap();
		assert_eq!(
			(client.host.as_str(), client.port, client.path.as_str()),
			("127.0.0.1", 18443, "/wallet/w")
		);
		assert_eq!(client.authorization.as_deref(), Some("Basic YWxpY2U6c2VjcmV0"));
		let client = BitcoindClient::from_url("http://localhost:8332").unwrap();
		assert_eq!((client.path.as_str(), client.authorization), ("/", None));
		for bad in ["https://x:1", "http://nohost", "http://:1", "http://h:port", "ftp://h:1"] {
			assert!(
				matches!(BitcoindClient::from_url(bad), Err(BitcoindError::BadUrl(_))),
				"{bad}"
			);
		}
	}

	#[test]
	fn fee_estimates_are_converted_to_sat_per_vbyte_and_sent_with_basic_auth() {
		let (port, request) = serve_once(
			"200 OK",
			r#"{"result":{"feerate":0.00012345,"blocks":6},"error":null,"id":"tapchain"}"#,
		);
		let client = BitcoindClient::from_url(&format!("http://u:p@127.0.0.1:{port}")).unwrap();
		assert_eq!(client.estimate_fee_rate_sat_per_vb(6), Ok(13), "12.345 sat/vB rounds up");
		let request = request.join().unwrap();
		assert!(request.starts_with("POST / HTTP/1.1\r\n"), "{request}");
		assert!(request.contains("Authorization: Basic dTpw\r\n"), "{request}");
		assert!(request.contains(r#""method":"estimatesmartfee""#), "{request}");
		assert!(request.contains(r#""params":[6]"#), "{request}");
	}

	#[test]
	fn missing_estimates_rpc_errors_and_bad_credentials_are_typed() {
		let (port, _) = serve_once(
			"200 OK",
			r#"{"result":{"errors":["Insufficient data or no feerate found"],"blocks":0},"error":null,"id":"tapchain"}"#,
		);
		let client = BitcoindClient::from_url(&format!("http://127.0.0.1:{port}")).unwrap();
		assert!(matches!(
			client.estimate_fee_rate_sat_per_vb(6),
			Err(BitcoindError::NoEstimate(_))
		));

		let (port, _) = serve_once(
			"500 Internal Server Error",
			r#"{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":"tapchain"}"#,
		);
		let client = BitcoindClient::from_url(&format!("http://127.0.0.1:{port}")).unwrap();
		assert_eq!(
			client.call("nosuchmethod", json!([])),
			Err(BitcoindError::Rpc { code: -32601, message: "Method not found".into() })
		);

		let (port, _) = serve_once("401 Unauthorized", "");
		let client = BitcoindClient::from_url(&format!("http://x:y@127.0.0.1:{port}")).unwrap();
		assert_eq!(client.call("getblockcount", json!([])), Err(BitcoindError::Unauthorized));

		// Nobody listening.
		let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
		let client = BitcoindClient::from_url(&format!("http://127.0.0.1:{port}")).unwrap();
		assert!(matches!(client.call("getblockcount", json!([])), Err(BitcoindError::Io(_))));
	}
}

//! bitcoind's HTTP transport: JSON-RPC over HTTP/1.1 with basic authentication (a user and
//! password, or the `.cookie` file), keep-alive, batches, and Core's status codes (500 with
//! the error for a failed legacy call, 404 for an unknown method, 200 for JSON-RPC 2.0).

use crate::rpc::{code, RpcError, SimNode};
use serde_json::{json, Value};
use std::{
	io::{BufRead, BufReader, Read, Write},
	net::{SocketAddr, TcpListener, TcpStream},
	path::{Path, PathBuf},
	sync::{
		atomic::{AtomicBool, Ordering},
		Arc,
	},
	time::Duration,
};

/// Largest request body accepted (a block's worth of raw transactions).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Credentials the server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcAuth {
	pub user: String,
	pub password: String,
}

impl RpcAuth {
	/// A random `__cookie__` password, as bitcoind creates at start.
	pub fn random_cookie() -> RpcAuth {
		use rand_core::RngCore;
		let mut secret = [0u8; 32];
		rand_core::OsRng.fill_bytes(&mut secret);
		RpcAuth { user: "__cookie__".into(), password: hex::encode(secret) }
	}

	/// Writes `user:password` to `<datadir>/regtest/.cookie` (mode 0600), where bitcoind
	/// keeps it; returns the path.
	pub fn write_cookie(&self, datadir: &Path) -> std::io::Result<PathBuf> {
		let dir = datadir.join("regtest");
		std::fs::create_dir_all(&dir)?;
		let path = dir.join(".cookie");
		let mut options = std::fs::OpenOptions::new();
		options.write(true).create(true).truncate(true);
		#[cfg(unix)]
		std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
		options.open(&path)?.write_all(format!("{}:{}", self.user, self.password).as_bytes())?;
		Ok(path)
	}

	fn header_value(&self) -> String {
		use base64::Engine as _;
		format!(
			"Basic {}",
			base64::engine::general_purpose::STANDARD
				.encode(format!("{}:{}", self.user, self.password))
		)
	}
}

/// A running server; stops accepting connections when dropped.
pub struct RpcServer {
	pub address: SocketAddr,
	stop: Arc<AtomicBool>,
}

impl RpcServer {
	/// Serves `node` on `listener`, one thread per connection.
	pub fn start(node: Arc<SimNode>, listener: TcpListener, auth: Option<RpcAuth>) -> RpcServer {
		let address = listener.local_addr().expect("a bound listener has an address");
		let stop = Arc::new(AtomicBool::new(false));
		let stopped = stop.clone();
		std::thread::spawn(move || {
			let expected = auth.map(|auth| auth.header_value());
			for stream in listener.incoming() {
				if stopped.load(Ordering::Relaxed) {
					break;
				}
				let Ok(stream) = stream else { continue };
				let node = node.clone();
				let expected = expected.clone();
				std::thread::spawn(move || serve_connection(&node, stream, expected.as_deref()));
			}
		});
		RpcServer { address, stop }
	}

	/// `http://127.0.0.1:<port>`.
	pub fn url(&self) -> String {
		format!("http://{}", self.address)
	}
}

impl Drop for RpcServer {
	fn drop(&mut self) {
		self.stop.store(true, Ordering::Relaxed);
		// Wake the accept loop so it sees the flag.
		let _ = TcpStream::connect_timeout(&self.address, Duration::from_millis(200));
	}
}

struct Request {
	method: String,
	authorization: Option<String>,
	close: bool,
	body: Vec<u8>,
}

/// Reads one request; `None` at the end of the connection or on a malformed request.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
	let mut line = String::new();
	if reader.read_line(&mut line).ok()? == 0 {
		return None;
	}
	let mut parts = line.split_whitespace();
	let method = parts.next()?.to_string();
	let _path = parts.next()?;
	let version = parts.next().unwrap_or("HTTP/1.0");
	let mut close = version == "HTTP/1.0";
	let mut length = 0usize;
	let mut authorization = None;
	loop {
		line.clear();
		if reader.read_line(&mut line).ok()? == 0 {
			return None;
		}
		let header = line.trim_end();
		if header.is_empty() {
			break;
		}
		let (name, value) = header.split_once(':')?;
		let value = value.trim();
		match name.to_ascii_lowercase().as_str() {
			"content-length" => length = value.parse().ok()?,
			"authorization" => authorization = Some(value.to_string()),
			"connection" => close = value.eq_ignore_ascii_case("close"),
			_ => {},
		}
	}
	if length > MAX_BODY_BYTES {
		return None;
	}
	let mut body = vec![0u8; length];
	reader.read_exact(&mut body).ok()?;
	Some(Request { method, authorization, close, body })
}

fn serve_connection(node: &SimNode, stream: TcpStream, expected_auth: Option<&str>) {
	let _ = stream.set_read_timeout(Some(Duration::from_secs(300)));
	let Ok(mut writer) = stream.try_clone() else { return };
	let mut reader = BufReader::new(stream);
	while let Some(request) = read_request(&mut reader) {
		let (status, body) =
			if expected_auth.is_some_and(|e| request.authorization.as_deref() != Some(e)) {
				(401, String::new())
			} else if request.method != "POST" {
				(405, "JSONRPC server handles only POST requests".to_string())
			} else {
				handle_body(node, &request.body)
			};
		let reason = match status {
			200 => "OK",
			401 => "Unauthorized",
			404 => "Not Found",
			405 => "Method Not Allowed",
			_ => "Internal Server Error",
		};
		let mut reply = format!("HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n", body.len());
		if status == 401 {
			reply.push_str("WWW-Authenticate: Basic realm=\"jsonrpc\"\r\n");
		} else {
			reply.push_str("Content-Type: application/json\r\n");
		}
		if request.close {
			reply.push_str("Connection: close\r\n");
		}
		reply.push_str("\r\n");
		reply.push_str(&body);
		if writer.write_all(reply.as_bytes()).is_err() || request.close {
			return;
		}
	}
}

/// The HTTP status and body for a JSON-RPC request body.
pub fn handle_body(node: &SimNode, body: &[u8]) -> (u16, String) {
	let Ok(request) = serde_json::from_slice::<Value>(body) else {
		let reply = json!({ "result": null, "error": { "code": -32700, "message": "Parse error" }, "id": null });
		return (500, reply.to_string());
	};
	match request {
		Value::Array(calls) => {
			let replies: Vec<Value> = calls.iter().map(|call| handle_call(node, call).1).collect();
			(200, Value::Array(replies).to_string())
		},
		call => {
			let (status, reply) = handle_call(node, &call);
			(status, reply.to_string())
		},
	}
}

fn handle_call(node: &SimNode, call: &Value) -> (u16, Value) {
	let id = call.get("id").cloned().unwrap_or(Value::Null);
	let version_2 = call.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
	let result = match call.get("method").and_then(Value::as_str) {
		Some(method) => node.call(method, call.get("params").unwrap_or(&Value::Null)),
		None => Err(RpcError::new(-32600, "Method must be a string")),
	};
	match (result, version_2) {
		(Ok(result), false) => (200, json!({ "result": result, "error": null, "id": id })),
		(Ok(result), true) => (200, json!({ "jsonrpc": "2.0", "result": result, "id": id })),
		(Err(error), version_2) => {
			let object = json!({ "code": error.code, "message": error.message });
			if version_2 {
				(200, json!({ "jsonrpc": "2.0", "error": object, "id": id }))
			} else {
				let status = if error.code == code::METHOD_NOT_FOUND { 404 } else { 500 };
				(status, json!({ "result": null, "error": object, "id": id }))
			}
		},
	}
}

//! `tapchain-bitcoind`: a client of bitcoind's JSON-RPC (HTTP/1.1 with basic auth from a user
//! and password or bitcoind's `.cookie` file; std only), shared by the relayer (headers,
//! blocks, broadcasts) and the node (a validator's fee-rate estimate).
//!
//! Replies are deserialized into Bitcoin Core's own reply types (`corepc-types`) and handed
//! out as `bitcoin` types (`BlockHash`, `Txid`, `Header`, `Block`, `Transaction`), never as
//! strings. Each method reads its reply with the oldest Core version's type that has what it
//! uses, so any Core from 0.17 on answers it; btc-sim's replies are checked against Core 30's.
//! The HTTP transport ([`JsonRpcHttp`]) also serves the relayer's calls to a Tapchain node.

use bitcoin::{block::Header, Block, BlockHash, Network, Transaction, Txid};
use corepc_types::v17;
use serde_json::{json, Value};
use std::{
	io::{Read, Write},
	net::{TcpStream, ToSocketAddrs},
	path::PathBuf,
	sync::Mutex,
	time::Duration,
};

/// Why a JSON-RPC call (to bitcoind, or over [`JsonRpcHttp`] to a node) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BitcoindError {
	/// The URL is not `http://[user:password@]host:port[/path]`.
	BadUrl(String),
	/// The cookie file cannot be read or is not `user:password`.
	BadCookie(String),
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
		match self {
			BitcoindError::Rpc { code, message } => write!(f, "bitcoind error {code}: {message}"),
			other => write!(f, "{other:?}"),
		}
	}
}

impl std::error::Error for BitcoindError {}

/// Bitcoin Core's RPC error codes the relayer acts on.
pub mod error_code {
	/// Unknown block or transaction.
	pub const INVALID_ADDRESS_OR_KEY: i64 = -5;
	/// Height out of range.
	pub const INVALID_PARAMETER: i64 = -8;
	/// Inputs missing or already spent.
	pub const VERIFY_ERROR: i64 = -25;
	/// Refused by mempool policy or consensus (reason in the message).
	pub const VERIFY_REJECTED: i64 = -26;
	/// Already confirmed.
	pub const VERIFY_ALREADY_IN_CHAIN: i64 = -27;
}

/// A JSON-RPC endpoint over plain HTTP (bitcoind, or a Tapchain node's RPC port).
#[derive(Debug)]
pub struct JsonRpcHttp {
	host: String,
	port: u16,
	path: String,
	/// `Basic <base64(user:password)>`, from the URL or the cookie file.
	authorization: Mutex<Option<String>>,
	/// Re-read when refused: bitcoind writes a new cookie at every start.
	cookie_file: Option<PathBuf>,
	/// `"1.0"` for bitcoind (any version answers it), `"2.0"` for Substrate nodes.
	jsonrpc_version: &'static str,
	timeout: Duration,
}

impl Clone for JsonRpcHttp {
	fn clone(&self) -> Self {
		JsonRpcHttp {
			host: self.host.clone(),
			port: self.port,
			path: self.path.clone(),
			authorization: Mutex::new(self.authorization()),
			cookie_file: self.cookie_file.clone(),
			jsonrpc_version: self.jsonrpc_version,
			timeout: self.timeout,
		}
	}
}

impl PartialEq for JsonRpcHttp {
	fn eq(&self, other: &Self) -> bool {
		(&self.host, self.port, &self.path, self.authorization(), &self.cookie_file)
			== (&other.host, other.port, &other.path, other.authorization(), &other.cookie_file)
	}
}

impl Eq for JsonRpcHttp {}

fn basic_authorization(credentials: &str) -> String {
	use base64::Engine as _;
	format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials.as_bytes()))
}

impl JsonRpcHttp {
	/// Parses `http://user:password@127.0.0.1:8332` (an optional path such as
	/// `/wallet/name` is kept).
	pub fn from_url(url: &str, jsonrpc_version: &'static str) -> Result<Self, BitcoindError> {
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
		Ok(Self {
			host: host.to_string(),
			port,
			path,
			authorization: Mutex::new(credentials.map(basic_authorization)),
			cookie_file: None,
			jsonrpc_version,
			timeout: Duration::from_secs(30),
		})
	}

	/// Authenticates with bitcoind's cookie file (`<datadir>/<network>/.cookie`).
	pub fn with_cookie_file(mut self, path: PathBuf) -> Result<Self, BitcoindError> {
		self.cookie_file = Some(path);
		self.reload_cookie()?;
		Ok(self)
	}

	fn reload_cookie(&self) -> Result<(), BitcoindError> {
		let Some(path) = &self.cookie_file else { return Ok(()) };
		let contents = std::fs::read_to_string(path)
			.map_err(|e| BitcoindError::BadCookie(format!("{}: {e}", path.display())))?;
		let contents = contents.trim();
		if !contents.contains(':') {
			return Err(BitcoindError::BadCookie(format!(
				"{} is not user:password",
				path.display()
			)));
		}
		*self.authorization.lock().unwrap_or_else(|p| p.into_inner()) =
			Some(basic_authorization(contents));
		Ok(())
	}

	fn authorization(&self) -> Option<String> {
		self.authorization.lock().unwrap_or_else(|p| p.into_inner()).clone()
	}

	/// `host:port`, for logs.
	pub fn endpoint(&self) -> String {
		format!("{}:{}", self.host, self.port)
	}

	/// Calls `method` with `params`; returns the JSON-RPC `result`.
	pub fn call(&self, method: &str, params: Value) -> Result<Value, BitcoindError> {
		match self.call_once(method, &params) {
			Err(BitcoindError::Unauthorized) if self.cookie_file.is_some() => {
				self.reload_cookie()?;
				self.call_once(method, &params)
			},
			result => result,
		}
	}

	fn call_once(&self, method: &str, params: &Value) -> Result<Value, BitcoindError> {
		let io = |e: std::io::Error| BitcoindError::Io(e.to_string());
		let body =
			json!({ "jsonrpc": self.jsonrpc_version, "id": 1, "method": method, "params": params })
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
		if let Some(authorization) = self.authorization() {
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
		let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
			dechunk(body)
		} else {
			body.to_string()
		};
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
}

/// The body of a chunked HTTP reply.
fn dechunk(mut body: &str) -> String {
	let mut out = String::new();
	while let Some((size, rest)) = body.split_once("\r\n") {
		let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
		if size == 0 || rest.len() < size {
			break;
		}
		out.push_str(&rest[..size]);
		body = rest[size..].trim_start_matches("\r\n");
	}
	out
}

/// A bitcoind JSON-RPC endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitcoindClient {
	rpc: JsonRpcHttp,
}

/// Reads `method`'s reply as Core's type `T` for it.
fn reply_as<T: serde::de::DeserializeOwned>(
	method: &str,
	reply: Value,
) -> Result<T, BitcoindError> {
	serde_json::from_value(reply).map_err(|e| {
		BitcoindError::BadReply(format!("{method}: not Bitcoin Core's reply shape: {e}"))
	})
}

/// A reply field that does not convert to its `bitcoin` type.
fn malformed(method: &str, error: impl std::fmt::Display) -> BitcoindError {
	BitcoindError::BadReply(format!("{method}: {error}"))
}

impl BitcoindClient {
	/// Parses `http://user:password@127.0.0.1:8332` (an optional path such as
	/// `/wallet/name` is kept).
	pub fn from_url(url: &str) -> Result<Self, BitcoindError> {
		Ok(Self { rpc: JsonRpcHttp::from_url(url, "1.0")? })
	}

	/// Authenticates with bitcoind's cookie file instead of the URL's credentials.
	pub fn with_cookie_file(self, path: PathBuf) -> Result<Self, BitcoindError> {
		Ok(Self { rpc: self.rpc.with_cookie_file(path)? })
	}

	/// `host:port`, for logs.
	pub fn endpoint(&self) -> String {
		self.rpc.endpoint()
	}

	/// Calls `method` with `params`; returns the JSON-RPC `result`.
	pub fn call(&self, method: &str, params: Value) -> Result<Value, BitcoindError> {
		self.rpc.call(method, params)
	}

	fn call_as<T: serde::de::DeserializeOwned>(
		&self,
		method: &str,
		params: Value,
	) -> Result<T, BitcoindError> {
		reply_as(method, self.call(method, params)?)
	}

	/// The network bitcoind follows (`getblockchaininfo`'s `chain`). Only that field is read:
	/// the rest of the reply changed shape across Core versions.
	pub fn network(&self) -> Result<Network, BitcoindError> {
		let info = self.call("getblockchaininfo", json!([]))?;
		let chain = info["chain"]
			.as_str()
			.ok_or_else(|| malformed("getblockchaininfo", "no chain name"))?;
		Network::from_core_arg(chain).map_err(|e| malformed("getblockchaininfo", e))
	}

	/// Height of the best block.
	pub fn block_count(&self) -> Result<u32, BitcoindError> {
		let count: v17::GetBlockCount = self.call_as("getblockcount", json!([]))?;
		u32::try_from(count.0).map_err(|e| malformed("getblockcount", e))
	}

	/// Hash of the active block at `height`.
	pub fn block_hash(&self, height: u32) -> Result<BlockHash, BitcoindError> {
		let hash: v17::GetBlockHash = self.call_as("getblockhash", json!([height]))?;
		hash.block_hash().map_err(|e| malformed("getblockhash", e))
	}

	/// The header of a block.
	pub fn header(&self, hash: &BlockHash) -> Result<Header, BitcoindError> {
		let header: v17::GetBlockHeader =
			self.call_as("getblockheader", json!([hash.to_string(), false]))?;
		header.block_header().map_err(|e| malformed("getblockheader", e))
	}

	/// Confirmations of a block: -1 when it is not on the active chain.
	pub fn block_confirmations(&self, hash: &BlockHash) -> Result<i64, BitcoindError> {
		let header: v17::GetBlockHeaderVerbose =
			self.call_as("getblockheader", json!([hash.to_string(), true]))?;
		Ok(header.confirmations)
	}

	/// A whole block.
	pub fn block(&self, hash: &BlockHash) -> Result<Block, BitcoindError> {
		let block: v17::GetBlockVerboseZero =
			self.call_as("getblock", json!([hash.to_string(), 0]))?;
		block.block().map_err(|e| malformed("getblock", e))
	}

	/// The txids of a block, without downloading it (`getblock` verbosity 1; only its `tx`
	/// list is read, which every Core version has).
	pub fn block_txids(&self, hash: &BlockHash) -> Result<Vec<Txid>, BitcoindError> {
		let mut block = self.call("getblock", json!([hash.to_string(), 1]))?;
		reply_as("getblock", block["tx"].take())
	}

	/// `sendrawtransaction`; returns the txid bitcoind reports.
	pub fn send_raw_transaction(&self, tx: &Transaction) -> Result<Txid, BitcoindError> {
		let raw = bitcoin::consensus::encode::serialize_hex(tx);
		let txid: v17::SendRawTransaction = self.call_as("sendrawtransaction", json!([raw]))?;
		txid.txid().map_err(|e| malformed("sendrawtransaction", e))
	}

	/// The block holding a transaction, if bitcoind can tell (mempool transactions have none;
	/// confirmed ones need `-txindex` unless still unspent).
	pub fn transaction_block(&self, txid: &Txid) -> Result<Option<BlockHash>, BitcoindError> {
		let tx: v17::GetRawTransactionVerbose =
			self.call_as("getrawtransaction", json!([txid.to_string(), true]))?;
		tx.block_hash
			.map(|hash| hash.parse().map_err(|e| malformed("getrawtransaction", e)))
			.transpose()
	}

	/// `estimatesmartfee target_blocks`, in sat/vB rounded up (bitcoind gives BTC/kvB).
	pub fn estimate_fee_rate_sat_per_vb(&self, target_blocks: u16) -> Result<u64, BitcoindError> {
		let estimate: v17::EstimateSmartFee =
			self.call_as("estimatesmartfee", json!([target_blocks]))?;
		match estimate.fee_rate {
			Some(btc_per_kvb) if btc_per_kvb > 0.0 => {
				// Whole sat/kvB first (bitcoind prints 8 decimals), so float noise such as
				// 0.00014 * 10^5 = 14.000000000000002 cannot round 14 sat/vB up to 15.
				let sat_per_kvb = (btc_per_kvb * 100_000_000.0).round() as u64;
				Ok(sat_per_kvb.div_ceil(1000).max(1))
			},
			_ => {
				Err(BitcoindError::NoEstimate(format!("{:?}", estimate.errors.unwrap_or_default())))
			},
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
			(client.rpc.host.as_str(), client.rpc.port, client.rpc.path.as_str()),
			("127.0.0.1", 18443, "/wallet/w")
		);
		assert_eq!(client.rpc.authorization().as_deref(), Some("Basic YWxpY2U6c2VjcmV0"));
		let client = BitcoindClient::from_url("http://localhost:8332").unwrap();
		assert_eq!((client.rpc.path.as_str(), client.rpc.authorization()), ("/", None));
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

		// Rates whose BTC/kvB form is not exact in binary stay exact.
		for (reply, expected) in [
			(r#"{"result":{"feerate":0.00014,"blocks":6},"error":null,"id":1}"#, 14),
			(r#"{"result":{"feerate":0.00001,"blocks":6},"error":null,"id":1}"#, 1),
			(r#"{"result":{"feerate":0.00000999,"blocks":6},"error":null,"id":1}"#, 1),
			(r#"{"result":{"feerate":0.00001001,"blocks":6},"error":null,"id":1}"#, 2),
		] {
			let (port, _) = serve_once("200 OK", reply);
			let client = BitcoindClient::from_url(&format!("http://127.0.0.1:{port}")).unwrap();
			assert_eq!(client.estimate_fee_rate_sat_per_vb(6), Ok(expected), "{reply}");
		}
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

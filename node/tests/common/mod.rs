//! Helpers for tests that run the real `tapchain-node` binary: free ports, a child process
//! that is killed on drop, and a minimal JSON-RPC-over-HTTP client (std only, so tests add
//! no dependency that would change the node's feature set and force a second build).

#![allow(dead_code)]

use serde_json::{json, Value};
use std::{
	io::{BufRead, BufReader, Read, Write},
	net::{TcpListener, TcpStream},
	path::PathBuf,
	process::{Child, Command, Stdio},
	sync::{Arc, Mutex},
	time::{Duration, Instant},
};

/// A port on loopback that nothing listens on right now.
pub fn free_port() -> u16 {
	TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The `tapchain-node` binary: Cargo's for the node's own tests; for other packages' tests
/// (which include this module too) the one beside their test executable, which
/// `cargo test --workspace` builds first.
pub fn node_binary() -> PathBuf {
	if let Some(path) = option_env!("CARGO_BIN_EXE_tapchain-node") {
		return PathBuf::from(path);
	}
	let test_executable = std::env::current_exe().expect("the test knows its path");
	let profile_dir = test_executable
		.parent()
		.and_then(|deps| deps.parent())
		.expect("tests run from <target>/<profile>/deps");
	let path = profile_dir.join("tapchain-node");
	assert!(
		path.exists(),
		"{} is missing: run the tests with `cargo test --release --workspace`",
		path.display()
	);
	path
}

/// A child process whose stdout and stderr are collected line by line (for failure messages),
/// killed when dropped.
pub struct LoggedProcess {
	child: Mutex<Child>,
	log: Arc<Mutex<Vec<String>>>,
}

impl LoggedProcess {
	pub fn spawn(mut command: Command) -> LoggedProcess {
		let mut child = command
			.stdout(Stdio::piped())
			.stderr(Stdio::piped())
			.spawn()
			.unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
		let log = Arc::new(Mutex::new(Vec::new()));
		let stderr = child.stderr.take().unwrap();
		let stdout = child.stdout.take().unwrap();
		for stream in [Box::new(stderr) as Box<dyn Read + Send>, Box::new(stdout)] {
			let sink = log.clone();
			std::thread::spawn(move || {
				for line in BufReader::new(stream).lines().map_while(Result::ok) {
					sink.lock().unwrap().push(line);
				}
			});
		}
		LoggedProcess { child: Mutex::new(child), log }
	}

	/// The last lines the process printed.
	pub fn log_tail(&self, lines: usize) -> String {
		let log = self.log.lock().unwrap();
		log[log.len().saturating_sub(lines)..].join("\n")
	}

	/// The exit status if the process has ended.
	pub fn exited(&self) -> Option<std::process::ExitStatus> {
		self.child.lock().unwrap().try_wait().ok().flatten()
	}
}

impl Drop for LoggedProcess {
	fn drop(&mut self) {
		let child = self.child.get_mut().unwrap();
		let _ = child.kill();
		let _ = child.wait();
	}
}

/// A running `tapchain-node`, killed when dropped. Its log is kept for failure messages.
pub struct Node {
	pub name: String,
	pub rpc_port: u16,
	pub p2p_port: u16,
	pub prometheus_port: u16,
	process: LoggedProcess,
}

impl Node {
	/// Starts the node with `args` plus free RPC, p2p and Prometheus ports on loopback.
	pub fn start(name: &str, args: &[&str]) -> Node {
		let rpc_port = free_port();
		let p2p_port = free_port();
		let prometheus_port = free_port();
		let mut command = Command::new(node_binary());
		command.args(args).args([
			"--rpc-port",
			&rpc_port.to_string(),
			"--prometheus-port",
			&prometheus_port.to_string(),
			"--listen-addr",
			&format!("/ip4/127.0.0.1/tcp/{p2p_port}"),
			"--no-telemetry",
			"--no-mdns",
			"--name",
			name,
		]);
		Node {
			name: name.to_owned(),
			rpc_port,
			p2p_port,
			prometheus_port,
			process: LoggedProcess::spawn(command),
		}
	}

	/// The last lines the node logged, for failure messages.
	pub fn log_tail(&self, lines: usize) -> String {
		self.process.log_tail(lines)
	}

	/// Calls a JSON-RPC method; `Err` on a transport error or an RPC error object.
	pub fn rpc(&self, method: &str, params: Value) -> Result<Value, String> {
		rpc_call(self.rpc_port, method, params)
	}

	/// Height of the best block.
	pub fn best_number(&self) -> Result<u64, String> {
		let header = self.rpc("chain_getHeader", json!([]))?;
		parse_hex_number(&header["number"])
	}

	/// Height of the last finalized block.
	pub fn finalized_number(&self) -> Result<u64, String> {
		let hash = self.rpc("chain_getFinalizedHead", json!([]))?;
		let header = self.rpc("chain_getHeader", json!([hash]))?;
		parse_hex_number(&header["number"])
	}

	/// The node's Prometheus metrics page.
	pub fn metrics(&self) -> Result<String, String> {
		http_request(self.prometheus_port, "GET", "/metrics", None)
	}

	/// Waits until `condition` holds, polling every half second, or panics with the node's log.
	pub fn wait_until(
		&self,
		what: &str,
		timeout: Duration,
		mut condition: impl FnMut(&Node) -> bool,
	) {
		let start = Instant::now();
		while start.elapsed() < timeout {
			if let Some(status) = self.process.exited() {
				panic!(
					"{} exited ({status}) while waiting for {what}:\n{}",
					self.name,
					self.log_tail(40)
				);
			}
			if condition(self) {
				return;
			}
			std::thread::sleep(Duration::from_millis(500));
		}
		panic!(
			"timed out after {timeout:?} waiting for {what} on {}; last log lines:\n{}",
			self.name,
			self.log_tail(40)
		);
	}
}

/// A running `tapchain-node eth-rpc` serving the Ethereum JSON-RPC for a node, killed when
/// dropped.
pub struct EthRpc {
	pub port: u16,
	process: LoggedProcess,
}

impl EthRpc {
	/// Starts eth-rpc against `node`'s RPC, on a free port, keeping receipts in memory.
	pub fn start(node: &Node) -> EthRpc {
		let port = free_port();
		let mut command = Command::new(node_binary());
		command.args([
			"eth-rpc",
			"--node-rpc-url",
			&format!("ws://127.0.0.1:{}", node.rpc_port),
			"--rpc-port",
			&port.to_string(),
			"--prometheus-port",
			&free_port().to_string(),
			"--eth-pruning",
			"100000",
		]);
		EthRpc { port, process: LoggedProcess::spawn(command) }
	}

	pub fn url(&self) -> String {
		format!("http://127.0.0.1:{}", self.port)
	}

	/// Calls an Ethereum JSON-RPC method.
	pub fn rpc(&self, method: &str, params: Value) -> Result<Value, String> {
		rpc_call(self.port, method, params)
	}

	pub fn log_tail(&self, lines: usize) -> String {
		self.process.log_tail(lines)
	}

	/// Waits until eth-rpc answers `eth_chainId`, or panics with its log.
	pub fn wait_ready(&self, timeout: Duration) -> Value {
		let start = Instant::now();
		while start.elapsed() < timeout {
			if let Some(status) = self.process.exited() {
				panic!("eth-rpc exited ({status}):\n{}", self.log_tail(40));
			}
			if let Ok(chain_id) = self.rpc("eth_chainId", json!([])) {
				return chain_id;
			}
			std::thread::sleep(Duration::from_millis(500));
		}
		panic!("eth-rpc not ready after {timeout:?}:\n{}", self.log_tail(40));
	}
}

/// One JSON-RPC call over HTTP; `Err` on a transport error or an RPC error object.
pub fn rpc_call(port: u16, method: &str, params: Value) -> Result<Value, String> {
	let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
	let response = http_request(port, "POST", "/", Some(&body))?;
	let response: Value =
		serde_json::from_str(&response).map_err(|e| format!("bad JSON from {method}: {e}"))?;
	match response.get("error") {
		Some(error) => Err(format!("{method} failed: {error}")),
		None => Ok(response["result"].clone()),
	}
}

/// Parses a `0x`-prefixed hex quantity as JSON-RPC returns block numbers.
pub fn parse_hex_number(value: &Value) -> Result<u64, String> {
	let text = value.as_str().ok_or_else(|| format!("not a hex string: {value}"))?;
	u64::from_str_radix(text.trim_start_matches("0x"), 16).map_err(|e| format!("{text}: {e}"))
}

/// One HTTP/1.1 request on loopback; returns the body of a 200 response.
fn http_request(port: u16, method: &str, path: &str, body: Option<&str>) -> Result<String, String> {
	let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
	stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
	let body = body.unwrap_or("");
	let request = format!(
		"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
		body.len()
	);
	stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
	let mut response = Vec::new();
	stream.read_to_end(&mut response).map_err(|e| e.to_string())?;
	let response = String::from_utf8_lossy(&response);
	let (head, body) = response.split_once("\r\n\r\n").ok_or("no HTTP header end")?;
	if !head.starts_with("HTTP/1.1 200") {
		return Err(format!("HTTP error: {}", head.lines().next().unwrap_or_default()));
	}
	if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
		return Ok(dechunk(body));
	}
	Ok(body.to_owned())
}

fn dechunk(mut body: &str) -> String {
	let mut out = String::new();
	while let Some((size, rest)) = body.split_once("\r\n") {
		let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
		if size == 0 || rest.len() < size {
			break;
		}
		out.push_str(&rest[..size]);
		body = rest[size..].trim_start_matches("\r\n");
	}
	out
}

/// The Aura slot in a header's pre-runtime digest (`0x06` + `aura` + compact length + u64).
pub fn aura_slot(header: &Value) -> Option<u64> {
	header["digest"]["logs"].as_array()?.iter().find_map(|log| {
		let hex = log.as_str()?.strip_prefix("0x")?;
		let rest = hex.strip_prefix("0661757261")?.strip_prefix("20")?;
		let bytes = (0..8)
			.map(|i| u8::from_str_radix(rest.get(2 * i..2 * i + 2)?, 16).ok())
			.collect::<Option<Vec<u8>>>()?;
		Some(u64::from_le_bytes(bytes.try_into().ok()?))
	})
}

/// Validators outside `--dev` need a network key; each test node makes a fresh one.
pub const KEYGEN: &str = "--unsafe-force-node-key-generation";

/// Starts the 4 validators of `--chain local` (Alice, Bob, Charlie, Dave) as processes on
/// loopback, the others bootstrapping from Alice.
pub fn start_local_testnet() -> Vec<Node> {
	start_local_testnet_with(|_| Vec::new())
}

/// Like [`start_local_testnet`], with extra command-line arguments per validator name.
pub fn start_local_testnet_with(extra_args: impl Fn(&str) -> Vec<String>) -> Vec<Node> {
	let with_extra = |name: &str, args: &[&str]| {
		let extra = extra_args(name);
		let mut all: Vec<&str> = args.to_vec();
		all.extend(extra.iter().map(String::as_str));
		Node::start(name, &all)
	};
	let alice =
		with_extra("alice", &["--chain", "local", "--alice", "--validator", "--tmp", KEYGEN]);
	alice.wait_until("RPC up", Duration::from_secs(60), |n| {
		n.rpc("system_health", json!([])).is_ok()
	});
	let peer_id = alice.rpc("system_localPeerId", json!([])).unwrap();
	let bootnode =
		format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", alice.p2p_port, peer_id.as_str().unwrap());
	let mut nodes = vec![alice];
	for name in ["bob", "charlie", "dave"] {
		let flag = format!("--{name}");
		nodes.push(with_extra(
			name,
			&["--chain", "local", &flag, "--validator", "--tmp", KEYGEN, "--bootnodes", &bootnode],
		));
	}
	nodes
}

/// A validator's own Bitcoin node: btc-sim (bitcoind's RPC, which no registry here packages)
/// whose `estimatesmartfee` answers `sat_per_vbyte`. Serves until dropped.
pub struct ValidatorBitcoind {
	server: btc_sim::RpcServer,
}

impl ValidatorBitcoind {
	pub fn start(sat_per_vbyte: u64) -> ValidatorBitcoind {
		let node = std::sync::Arc::new(btc_sim::SimNode::new(btc_sim::SimConfig {
			fee_rate_sat_per_vb: Some(sat_per_vbyte),
			..Default::default()
		}));
		let auth = btc_sim::RpcAuth { user: "tapchain".into(), password: "secret".into() };
		let listener = TcpListener::bind("127.0.0.1:0").unwrap();
		ValidatorBitcoind { server: btc_sim::RpcServer::start(node, listener, Some(auth)) }
	}

	/// The `--bitcoind-rpc-url` of this node.
	pub fn url(&self) -> String {
		format!("http://tapchain:secret@{}", self.server.address)
	}
}

/// The bytes of a `0x`-prefixed hex string.
pub fn hex_decode(value: &Value) -> Vec<u8> {
	let text = value.as_str().expect("hex string");
	hex::decode(text.trim_start_matches("0x")).expect("valid hex")
}

/// Calls a runtime API (`state_call`) with SCALE-encoded `args` and decodes the answer.
pub fn state_call<T: codec::Decode>(node: &Node, method: &str, args: &[u8]) -> Result<T, String> {
	let result = node.rpc("state_call", json!([method, format!("0x{}", hex::encode(args))]))?;
	T::decode(&mut &hex_decode(&result)[..]).map_err(|e| format!("{method}: {e}"))
}

/// [`state_call`] at the node's finalized head: what every node agrees on.
pub fn state_call_finalized<T: codec::Decode>(
	node: &Node,
	method: &str,
	args: &[u8],
) -> Result<T, String> {
	let head = node.rpc("chain_getFinalizedHead", json!([]))?;
	let result =
		node.rpc("state_call", json!([method, format!("0x{}", hex::encode(args)), head]))?;
	T::decode(&mut &hex_decode(&result)[..]).map_err(|e| format!("{method}: {e}"))
}

/// Signs `call` as `signer` (native extrinsic, next nonce from the pool) and submits it.
pub fn submit_signed(
	node: &Node,
	signer: sp_keyring::Sr25519Keyring,
	call: tapchain_runtime::RuntimeCall,
) -> Result<Value, String> {
	use codec::Encode;
	use sp_core::crypto::Pair;
	let nonce = node
		.rpc("system_accountNextIndex", json!([signer.to_account_id().to_string()]))?
		.as_u64()
		.ok_or("nonce is not a number")? as u32;
	let genesis = node.rpc("chain_getBlockHash", json!([0]))?;
	let genesis = sp_core::H256::from_slice(
		&hex::decode(genesis.as_str().unwrap_or_default().trim_start_matches("0x"))
			.map_err(|e| e.to_string())?,
	);
	let extension = tapchain_runtime::native_tx_extension(nonce);
	let payload = tapchain_runtime::SignedPayload::from_raw(
		call.clone(),
		extension.clone(),
		tapchain_runtime::native_tx_implicit(genesis),
	);
	let signature = payload.using_encoded(|bytes| signer.pair().sign(bytes));
	let xt: tapchain_runtime::UncheckedExtrinsic =
		sp_runtime::generic::UncheckedExtrinsic::new_signed(
			call,
			signer.to_account_id().into(),
			signature.into(),
			extension,
		)
		.into();
	node.rpc("author_submitExtrinsic", json!([format!("0x{}", hex::encode(xt.encode()))]))
}

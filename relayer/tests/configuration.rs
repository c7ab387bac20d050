//! The relayer refuses bad configuration with exit code 2 and the reason, and rides out a
//! Bitcoin node that is not there (yet) with growing backoff instead of exiting. Its
//! checked-in runtime metadata is the runtime's.

#[path = "../../node/tests/common/mod.rs"]
mod common;

use btc_sim::{RpcAuth, RpcServer, SimConfig, SimNode};
use std::{
	io::{BufRead, BufReader},
	net::TcpListener,
	process::{Command, Stdio},
	sync::Arc,
	time::{Duration, Instant},
};

/// Runs the relayer with `args` until it exits (or `limit` passes); returns its exit code
/// (`None` if still running, then killed) and its log.
fn run(args: &[&str], limit: Duration) -> (Option<i32>, String) {
	let mut child = Command::new(env!("CARGO_BIN_EXE_tapchain-relayer"))
		.args(args)
		.args(["--prometheus-port", "0", "--poll-interval-ms", "200"])
		.stdout(Stdio::null())
		.stderr(Stdio::piped())
		.spawn()
		.unwrap();
	let stderr = child.stderr.take().unwrap();
	let reader = std::thread::spawn(move || {
		BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n")
	});
	let start = Instant::now();
	let code = loop {
		if let Some(status) = child.try_wait().unwrap() {
			break status.code();
		}
		if start.elapsed() > limit {
			child.kill().unwrap();
			child.wait().unwrap();
			break None;
		}
		std::thread::sleep(Duration::from_millis(50));
	};
	(code, reader.join().unwrap())
}

/// A port nothing listens on.
fn closed_port() -> u16 {
	TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn malformed_urls_and_secrets_exit_with_code_2_and_the_reason() {
	let node = format!("http://127.0.0.1:{}", closed_port());
	let (code, log) = run(
		&["--bitcoind-url", "https://127.0.0.1:18443", "--node-url", &node, "--signer", "//Bob"],
		Duration::from_secs(10),
	);
	assert_eq!(code, Some(2), "{log}");
	assert!(log.contains("configuration error: --bitcoind-url"), "{log}");

	let (code, log) = run(
		&[
			"--bitcoind-url",
			"http://127.0.0.1:18443",
			"--node-url",
			"ftp://x/",
			"--signer",
			"//Bob",
		],
		Duration::from_secs(10),
	);
	assert_eq!(code, Some(2), "{log}");
	assert!(log.contains("--node-url"), "{log}");

	let (code, log) = run(
		&["--bitcoind-url", "http://127.0.0.1:18443", "--signer", "not a secret uri"],
		Duration::from_secs(10),
	);
	assert_eq!(code, Some(2), "{log}");
	assert!(log.contains("the signer's secret does not parse"), "{log}");

	let missing = std::env::temp_dir().join("tapchain-relayer-no-such-cookie");
	let (code, log) = run(
		&[
			"--bitcoind-url",
			"http://127.0.0.1:18443",
			"--bitcoind-cookie",
			missing.to_str().unwrap(),
			"--signer",
			"//Bob",
		],
		Duration::from_secs(10),
	);
	assert_eq!(code, Some(2), "{log}");
	assert!(log.contains("--bitcoind-cookie"), "{log}");
}

#[test]
fn refused_credentials_exit_and_an_absent_bitcoind_is_retried_with_backoff() {
	let sim = Arc::new(SimNode::new(SimConfig::default()));
	let auth = RpcAuth { user: "relayer".into(), password: "secret".into() };
	let server = RpcServer::start(sim, TcpListener::bind("127.0.0.1:0").unwrap(), Some(auth));
	let node = format!("http://127.0.0.1:{}", closed_port());
	let wrong = format!("http://relayer:wrong@{}", server.address);
	let (code, log) = run(
		&["--bitcoind-url", &wrong, "--node-url", &node, "--signer", "//Bob"],
		Duration::from_secs(10),
	);
	assert_eq!(code, Some(2), "{log}");
	assert!(log.contains("bitcoind refused the credentials"), "{log}");

	// Nothing listening: the relayer keeps trying, waiting longer each time.
	let absent = format!("http://relayer:secret@127.0.0.1:{}", closed_port());
	let (code, log) = run(
		&["--bitcoind-url", &absent, "--node-url", &node, "--signer", "//Bob"],
		Duration::from_secs(4),
	);
	assert_eq!(code, None, "still running after 4 s: {log}");
	for backoff in ["retrying in 200ms", "retrying in 400ms", "retrying in 800ms"] {
		assert!(log.contains(backoff), "{backoff} in:\n{log}");
	}
}

/// The relayer's Tapchain node started on `rpc_port` with its database in `base_path` (a
/// development chain, whose light client follows regtest from its genesis), killed when
/// dropped.
fn dev_node_on(rpc_port: u16, base_path: &std::path::Path) -> common::LoggedProcess {
	let mut command = Command::new(common::node_binary());
	command.args([
		"--dev",
		"--base-path",
		base_path.to_str().unwrap(),
		"--rpc-port",
		&rpc_port.to_string(),
		"--prometheus-port",
		&common::free_port().to_string(),
		"--listen-addr",
		&format!("/ip4/127.0.0.1/tcp/{}", common::free_port()),
		"--no-telemetry",
		"--no-mdns",
	]);
	common::LoggedProcess::spawn(command)
}

fn light_client_height(rpc_port: u16) -> Option<u64> {
	common::rpc_call(rpc_port, "btc_bestTip", serde_json::json!([])).ok()?["height"].as_u64()
}

/// A node that is not there yet, or that restarts, is ridden out: the relayer retries with
/// backoff (it does not exit), connects when the node answers, and relays. (That the node
/// serves the metadata the relayer is generated from is checked in `node/tests/dev_node.rs`,
/// which does not need the relayer to compile.)
#[test]
fn a_node_that_starts_late_or_restarts_is_ridden_out() {
	let sim = Arc::new(SimNode::new(SimConfig::default()));
	let auth = RpcAuth { user: "relayer".into(), password: "secret".into() };
	let server =
		RpcServer::start(sim.clone(), TcpListener::bind("127.0.0.1:0").unwrap(), Some(auth));
	sim.mine(3, &sim.wallet_address().script_pubkey());
	let rpc_port = common::free_port();
	let mut command = Command::new(env!("CARGO_BIN_EXE_tapchain-relayer"));
	command.args([
		"--bitcoind-url",
		&format!("http://relayer:secret@{}", server.address),
		"--node-url",
		&format!("http://127.0.0.1:{rpc_port}"),
		"--signer",
		"//Bob",
		"--poll-interval-ms",
		"200",
		"--prometheus-port",
		"0",
	]);
	let relayer = common::LoggedProcess::spawn(command);
	let wait_for = |what: &str, limit: Duration, done: &dyn Fn() -> bool| {
		let start = Instant::now();
		while !done() {
			assert!(relayer.exited().is_none(), "the relayer exited:\n{}", relayer.log_tail(30));
			assert!(start.elapsed() < limit, "no {what} in {limit:?}:\n{}", relayer.log_tail(30));
			std::thread::sleep(Duration::from_millis(200));
		}
	};
	let base_path = std::env::temp_dir().join(format!("tapchain-relayer-late-node-{rpc_port}"));
	let _ = std::fs::remove_dir_all(&base_path);
	for (start, height) in [("late start", 3), ("restart", 5)] {
		if height > 3 {
			sim.mine(2, &sim.wallet_address().script_pubkey());
		}
		let node = dev_node_on(rpc_port, &base_path);
		let relayed = || light_client_height(rpc_port) == Some(height);
		wait_for(
			&format!("headers relayed after the node's {start}"),
			Duration::from_secs(90),
			&relayed,
		);
		if height == 3 {
			// Absent at first: retried with backoff, not fatal.
			let log = relayer.log_tail(100);
			assert!(log.contains("node RPC") && log.contains("retrying in 400ms"), "{log}");
		}
		drop(node);
	}
	let _ = std::fs::remove_dir_all(&base_path);
}

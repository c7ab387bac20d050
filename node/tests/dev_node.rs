//! `tapchain-node --dev --tmp`: it produces and finalizes blocks, loads chain specs, serves
//! the relayer's metadata, and meets dApp developers' tools. One test binary for every
//! single-node test, so they run side by side and CI links one binary instead of two.
//!
//! The Ethereum side as dApp developers meet it: `tapchain-node --dev` plus
//! `tapchain-node eth-rpc`, driven by real clients (ethers v6, solc-js, polkadot.js) from the
//! npm project in `tests/evm` (`node --test`). `.ci/setup` installs its packages from the
//! committed lockfile.

mod common;

use common::{EthRpc, Node};
use serde_json::json;
use std::{path::PathBuf, process::Command, time::Duration};

#[test]
fn dev_node_produces_and_finalizes_blocks() {
	let node = Node::start("dev", &["--dev", "--tmp"]);
	node.wait_until("3 blocks", Duration::from_secs(120), |n| n.best_number().unwrap_or(0) >= 3);
	node.wait_until("1 finalized block", Duration::from_secs(60), |n| {
		n.finalized_number().unwrap_or(0) >= 1
	});

	// State lives in ParityDB (the runtime's storage weights are ParityDB's), although RocksDB
	// is compiled in for eth-rpc.
	assert!(node.log_tail(200).contains("Database: ParityDb"), "{}", node.log_tail(40));

	// The chain announces its token: BTC with 18 decimals.
	let properties = node.rpc("system_properties", json!([])).unwrap();
	assert_eq!(properties["tokenSymbol"], "BTC");
	assert_eq!(properties["tokenDecimals"], 18);

	// Fee queries are served (payment RPC) and the runtime is ours.
	let version = node.rpc("state_getRuntimeVersion", json!([])).unwrap();
	assert_eq!(version["specName"], "tapchain");
	let methods = node.rpc("rpc_methods", json!([])).unwrap();
	for method in [
		"payment_queryInfo",
		"system_accountNextIndex",
		"author_submitExtrinsic",
		"btc_bestTip",
		"btc_confirmations",
	] {
		assert!(
			methods["methods"].as_array().unwrap().iter().any(|m| m == method),
			"RPC method {method} is served"
		);
	}

	// The light client starts at the regtest genesis block.
	let tip = node.rpc("btc_bestTip", json!([])).unwrap();
	assert_eq!(tip["height"], 0);
	assert_eq!(tip["hash"], "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206");
	let header = node.rpc("btc_headerAt", json!([0])).unwrap();
	assert!(header.as_str().unwrap().starts_with("0x0100000000000000"));
	let refused = node.rpc("btc_confirmations", json!(["0x00", 0, [], "00".repeat(32)]));
	assert!(refused.unwrap_err().contains("inclusion proof refused"), "typed refusal");
	let bad_hash = node.rpc("btc_heightOf", json!(["xyz"]));
	assert!(bad_hash.unwrap_err().contains("block hash"));

	assert_checked_in_relayer_metadata_is_served(&node);

	// Prometheus metrics are exported.
	let metrics = node.metrics().expect("prometheus endpoint answers");
	assert!(metrics.contains("substrate_block_height"), "block height metric exported");
}

#[test]
fn a_json_chain_spec_file_loads() {
	let dir = std::env::temp_dir().join(format!("tapchain-spec-{}", std::process::id()));
	std::fs::create_dir_all(&dir).unwrap();
	let spec_path = dir.join("local.json");
	let output = Command::new(env!("CARGO_BIN_EXE_tapchain-node"))
		.args(["export-chain-spec", "--chain", "local"])
		.output()
		.unwrap();
	assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
	let spec: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
	let patch = &spec["genesis"]["runtimeGenesis"]["patch"];
	assert_eq!(patch["staking"]["stakers"].as_array().unwrap().len(), 4);
	assert_eq!(patch["session"]["keys"].as_array().unwrap().len(), 4);
	std::fs::write(&spec_path, &output.stdout).unwrap();

	let raw = Command::new(env!("CARGO_BIN_EXE_tapchain-node"))
		.args(["build-spec", "--raw", "--disable-default-bootnode", "--chain"])
		.arg(&spec_path)
		.output()
		.unwrap();
	assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
	let raw_spec: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
	assert!(raw_spec["genesis"]["raw"]["top"].as_object().unwrap().len() > 10);

	let node = Node::start(
		"from-file",
		&[
			"--chain",
			spec_path.to_str().unwrap(),
			"--alice",
			"--validator",
			"--tmp",
			"--unsafe-force-node-key-generation",
		],
	);
	node.wait_until("RPC up", Duration::from_secs(60), |n| {
		n.rpc("system_health", json!([])).is_ok()
	});
	let version = node.rpc("system_chain", json!([])).unwrap();
	assert_eq!(version, "Tapchain Local Testnet");
	let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_missing_chain_spec_file_is_a_clear_error() {
	let output = Command::new(env!("CARGO_BIN_EXE_tapchain-node"))
		.args(["--chain", "/nonexistent/spec.json", "--tmp"])
		.output()
		.unwrap();
	assert!(!output.status.success());
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert!(stderr.contains("spec.json"), "the error names the file: {stderr}");
}

/// `relayer/metadata/tapchain.scale` is what the runtime serves: the relayer's calls, storage
/// and runtime APIs are generated from it. After a runtime change, rerun this test with
/// `TAPCHAIN_UPDATE_METADATA=1` to write the runtime's metadata there, and review the diff.
/// (It lives here, not in the relayer's tests, so that it runs while the relayer does not
/// compile against the stale file.)
fn assert_checked_in_relayer_metadata_is_served(node: &Node) {
	let served =
		node.rpc("state_call", json!(["Metadata_metadata_at_version", "0x10000000"])).unwrap();
	let served: Option<Vec<u8>> =
		codec::Decode::decode(&mut &common::hex_decode(&served)[..]).unwrap();
	let served = served.expect("the runtime serves metadata V16");
	let path =
		std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../relayer/metadata/tapchain.scale");
	let checked_in = std::fs::read(&path).unwrap();
	if served != checked_in {
		if std::env::var_os("TAPCHAIN_UPDATE_METADATA").is_some() {
			std::fs::write(&path, &served).unwrap();
			panic!("{} rewritten with the runtime's metadata: rebuild the relayer", path.display());
		}
		panic!(
			"{} ({} bytes) is not the runtime's metadata ({} bytes): rerun this test with \
			 TAPCHAIN_UPDATE_METADATA=1 (cargo test --release -p tapchain-node --test dev_node)",
			path.display(),
			checked_in.len(),
			served.len()
		);
	}
}

/// The npm project with the JavaScript tests, or `None` (and why) when it cannot run here.
fn js_project() -> Result<PathBuf, String> {
	let project = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/evm");
	if !project.join("node_modules").is_dir() {
		return Err(format!(
			"{} has no node_modules: run `npm ci --prefix {}` (or .ci/setup)",
			project.display(),
			project.display()
		));
	}
	if Command::new("node").arg("--version").output().is_err() {
		return Err("Node.js (`node`) is not installed".into());
	}
	Ok(project)
}

#[test]
fn ethereum_clients_deploy_and_use_contracts_paying_gas_in_btc() {
	let project = match js_project() {
		Ok(project) => project,
		Err(why) if std::env::var("CI").as_deref() != Ok("true") => {
			eprintln!("skipped: {why}");
			return;
		},
		Err(why) => panic!("{why}"),
	};

	let node = Node::start("dev", &["--dev", "--tmp"]);
	node.wait_until("block 1", Duration::from_secs(120), |n| n.best_number().unwrap_or(0) >= 1);
	let eth_rpc = EthRpc::start(&node);
	let chain_id = eth_rpc.wait_ready(Duration::from_secs(120));
	// The development preset's chain ID, read by eth-rpc from the chain.
	let expected_chain_id = tapchain_runtime::genesis_config_presets::DEVELOPMENT_EVM_CHAIN_ID;
	let other_network_chain_id =
		tapchain_runtime::genesis_config_presets::LOCAL_TESTNET_EVM_CHAIN_ID;
	assert_eq!(chain_id, json!(format!("{expected_chain_id:#x}")));

	let node_js = |args: &[&str]| {
		Command::new("node")
			.args(args)
			.current_dir(&project)
			.env("ETH_RPC_URL", eth_rpc.url())
			.env("EXPECTED_CHAIN_ID", expected_chain_id.to_string())
			.env("OTHER_NETWORK_CHAIN_ID", other_network_chain_id.to_string())
			.env("NODE_RPC_URL", format!("ws://127.0.0.1:{}", node.rpc_port))
			.output()
			.expect("node runs")
	};
	// Each test sends from accounts of its own (lib.mjs TEST_ACCOUNTS), funded first, so the
	// files and the tests inside them run concurrently and share blocks.
	let funding = node_js(&["fund-test-accounts.mjs"]);
	assert!(
		funding.status.success(),
		"funding the test accounts failed:\n{}{}",
		String::from_utf8_lossy(&funding.stdout),
		String::from_utf8_lossy(&funding.stderr)
	);
	let output = node_js(&["--test", "--test-concurrency=8", "tests/"]);
	let report = String::from_utf8_lossy(&output.stdout);
	println!("{report}\n{}", String::from_utf8_lossy(&output.stderr));
	assert!(
		output.status.success(),
		"JavaScript tests failed ({}):\n{report}\neth-rpc log:\n{}\nnode log:\n{}",
		output.status,
		eth_rpc.log_tail(30),
		node.log_tail(30)
	);
	// The runner really ran the suites (a glob that matched nothing would also succeed).
	assert!(report.contains("# pass") && !report.contains("# pass 0"), "{report}");
}

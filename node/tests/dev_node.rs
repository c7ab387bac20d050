//! Starts `tapchain-node --dev --tmp` and watches it produce and finalize blocks.

mod common;

use common::Node;
use serde_json::json;
use std::time::Duration;

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
	let output = std::process::Command::new(env!("CARGO_BIN_EXE_tapchain-node"))
		.args(["export-chain-spec", "--chain", "local"])
		.output()
		.unwrap();
	assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
	let spec: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
	let patch = &spec["genesis"]["runtimeGenesis"]["patch"];
	assert_eq!(patch["staking"]["stakers"].as_array().unwrap().len(), 4);
	assert_eq!(patch["session"]["keys"].as_array().unwrap().len(), 4);
	std::fs::write(&spec_path, &output.stdout).unwrap();

	let raw = std::process::Command::new(env!("CARGO_BIN_EXE_tapchain-node"))
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
	let output = std::process::Command::new(env!("CARGO_BIN_EXE_tapchain-node"))
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

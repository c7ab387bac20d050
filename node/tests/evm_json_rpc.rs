//! The Ethereum side as dApp developers meet it: `tapchain-node --dev` plus
//! `tapchain-node eth-rpc`, driven by real clients (ethers v6, solc-js, polkadot.js) from the
//! npm project in `tests/evm` (`node --test`). `.ci/setup` installs its packages from the
//! committed lockfile.

mod common;

use common::{EthRpc, Node};
use serde_json::json;
use std::{path::PathBuf, process::Command, time::Duration};

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

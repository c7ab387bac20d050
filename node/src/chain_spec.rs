//! Chain specifications: the built-in presets and JSON files.

use sc_service::{ChainType, Properties};
use tapchain_runtime::{TOKEN_DECIMALS, TOKEN_SYMBOL, WASM_BINARY};

/// A chain specification of Tapchain (a JSON file or a built-in preset).
pub type ChainSpec = sc_service::GenericChainSpec;

/// Token properties wallets read from `system_properties`: BTC with 18 decimals.
pub fn chain_properties() -> Properties {
	let mut properties = Properties::new();
	properties.insert("tokenSymbol".into(), TOKEN_SYMBOL.into());
	properties.insert("tokenDecimals".into(), TOKEN_DECIMALS.into());
	properties.insert("ss58Format".into(), 42.into());
	properties
}

fn wasm_binary() -> Result<&'static [u8], String> {
	WASM_BINARY.ok_or_else(|| "The runtime wasm binary was not built".to_string())
}

/// `development`: a single validator (Alice), for `--dev`.
pub fn development_chain_spec() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm_binary()?, None)
		.with_name("Tapchain Development")
		.with_id("tapchain_dev")
		.with_chain_type(ChainType::Development)
		.with_genesis_config_preset_name(sp_genesis_builder::DEV_RUNTIME_PRESET)
		.with_properties(chain_properties())
		.build())
}

/// `local_testnet`: four validators (Alice, Bob, Charlie, Dave) on one machine.
pub fn local_chain_spec() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm_binary()?, None)
		.with_name("Tapchain Local Testnet")
		.with_id("tapchain_local_testnet")
		.with_chain_type(ChainType::Local)
		.with_genesis_config_preset_name(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET)
		.with_properties(chain_properties())
		.build())
}

/// `mainnet`: one validator (Alice) whose light client follows Bitcoin mainnet from block
/// 822528. A starting point for a real network: export it and replace the validators.
pub fn bitcoin_mainnet_chain_spec() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm_binary()?, None)
		.with_name("Tapchain on Bitcoin mainnet")
		.with_id("tapchain_btc_mainnet")
		.with_chain_type(ChainType::Live)
		.with_genesis_config_preset_name(tapchain_runtime::genesis_config_presets::MAINNET_PRESET)
		.with_properties(chain_properties())
		.build())
}

/// Resolves `--chain`: a preset name, or else the path of a JSON chain spec.
pub fn load_spec(id: &str) -> Result<Box<dyn sc_service::ChainSpec>, String> {
	Ok(match id {
		"dev" | "development" => Box::new(development_chain_spec()?),
		"" | "local" | "local_testnet" => Box::new(local_chain_spec()?),
		"mainnet" => Box::new(bitcoin_mainnet_chain_spec()?),
		path => Box::new(ChainSpec::from_json_file(std::path::PathBuf::from(path))?),
	})
}

//! Genesis presets: `development` (one validator), `local_testnet` (four validators) and
//! `mainnet` (one validator, light client on Bitcoin mainnet). The first two follow a
//! Bitcoin regtest chain from its genesis block.
//!
//! Validators are identified by their stash account (`//Alice//stash`, ...), which bonds
//! stake in `staking.stakers` and owns the session keys in `session.keys`; the session
//! keys themselves are derived from the plain dev seeds (`//Alice`, ...). zombienet
//! rewrites exactly these two entries for the validators it starts.
//!
//! The development presets also fund [`DEV_ETH_ACCOUNTS`], the first five accounts of the
//! well-known Hardhat/Anvil mnemonic (`test test test test test test test test test test test
//! junk`). Their private keys are public: they are for development chains only.

use crate::{
	AccountId, BalancesConfig, BtcBridgeConfig, BtcLightClientConfig, EvmChainIdConfig,
	ReviveConfig, Runtime, RuntimeGenesisConfig, SessionConfig, SessionKeys, StakingConfig,
	SudoConfig, BASE_UNITS_PER_BTC,
};
use alloc::{vec, vec::Vec};
use frame_support::build_struct_json_patch;
use pallet_btc_light_client::Checkpoint;
use serde_json::Value;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_consensus_grandpa::AuthorityId as GrandpaId;
use sp_genesis_builder::{self, PresetId};
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};
use tapchain_primitives::bitcoin::Network;
use tapchain_primitives::Balance;

/// What each development account holds at genesis.
pub const DEV_ACCOUNT_BALANCE: Balance = 10_000 * BASE_UNITS_PER_BTC;

/// The Ethereum development accounts funded by the development presets: the addresses of the
/// first five Hardhat/Anvil accounts (derivation path `m/44'/60'/0'/0/i`). Their private keys
/// are public (README): **development only**.
pub const DEV_ETH_ACCOUNTS: [&str; 5] = [
	"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
	"0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
	"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
	"0x90F79bf6EB2c4f870365E785982E1f101E93b906",
	"0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
];

/// The account id of an Ethereum address: the 20 address bytes followed by twelve `0xEE`
/// (pallet-revive's `AccountId32Mapper`), which is where native transfers to it go.
pub fn eth_account_id(address: &str) -> AccountId {
	let mut id = [0xEE_u8; 32];
	id[..20].copy_from_slice(&decode_hex(address));
	AccountId::from(id)
}

/// What each genesis validator bonds.
pub const GENESIS_VALIDATOR_BOND: Balance = 100 * BASE_UNITS_PER_BTC;

/// Name of the preset whose light client follows Bitcoin mainnet.
pub const MAINNET_PRESET: &str = "mainnet";

/// EVM chain IDs (EIP-155), one per preset, so that a transaction signed for one network is
/// refused by the others. None is in the ethereum-lists registry.
pub const DEVELOPMENT_EVM_CHAIN_ID: u64 = crate::configs::EVM_CHAIN_ID;
/// `local_testnet`'s EVM chain ID.
pub const LOCAL_TESTNET_EVM_CHAIN_ID: u64 = 8_284_243;
/// `mainnet`'s EVM chain ID (a real deployment keeps it when it replaces the validators).
pub const MAINNET_EVM_CHAIN_ID: u64 = 8_284_244;

/// Where Foundry, Hardhat and most deployment tools expect the deterministic deployment proxy
/// (Arachnid's CREATE2 factory): the address its keyless deployer's first transaction creates.
pub const CREATE2_FACTORY_ADDRESS: &str = "0x4e59b44847b379578588920ca78fbf26c0b4956c";

/// The factory's runtime code, as that transaction's init code returns it: calldata is a
/// 32-byte salt followed by init code; it CREATE2s the contract and returns its address.
///
/// Its only deployment is a pre-EIP-155 transaction (no chain ID), which eth-rpc refuses, as
/// it refuses every transaction that would replay across chains. Every network therefore
/// starts with the factory in place, as anvil and the OP Stack's preinstalls do.
pub const CREATE2_FACTORY_RUNTIME_CODE: &str = "0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";

/// The contracts every network starts with: the CREATE2 factory.
fn evm_preinstalls() -> Vec<pallet_revive::genesis::Account<Runtime>> {
	vec![pallet_revive::genesis::Account {
		address: sp_core::H160::from_slice(&decode_hex(CREATE2_FACTORY_ADDRESS)),
		balance: Default::default(),
		nonce: 0,
		contract_data: Some(pallet_revive::genesis::ContractData {
			code: decode_hex(CREATE2_FACTORY_RUNTIME_CODE).into(),
			storage: Default::default(),
		}),
	}]
}

/// Bitcoin regtest's genesis header (hash 0f9188f1...2206): the checkpoint of the
/// development networks, whose Bitcoin side is a regtest node.
pub const REGTEST_GENESIS_HEADER: &str = "0x0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f2002000000";

/// Bitcoin mainnet header 822528 (hash 000000000000000000001daa...e93a), the first of a
/// retarget period, so it is a complete checkpoint on its own.
pub const MAINNET_CHECKPOINT_HEADER: &str = "0x00e0ff3f82f7aacf60fac3873b0beade61d0701639090ae5f47800000000000000000000acbc1b3381c671b2b7753bb2252d3ebd6900486ec8153ceb10e954a86e3f9e1468788665b3e80317f5171649";

/// Height of [`MAINNET_CHECKPOINT_HEADER`].
pub const MAINNET_CHECKPOINT_HEIGHT: u32 = 822_528;

/// Where the light client starts, by network.
pub fn bitcoin_checkpoint(network: Network) -> (Network, Checkpoint) {
	let (hex, height) = match network {
		Network::Mainnet => (MAINNET_CHECKPOINT_HEADER, MAINNET_CHECKPOINT_HEIGHT),
		_ => (REGTEST_GENESIS_HEADER, 0),
	};
	let header = decode_hex(hex);
	(
		network,
		Checkpoint {
			header,
			height,
			chain_work: None,
			period_first_time: None,
			period_first_bits: None,
			last_non_min_difficulty_bits: None,
			previous_timestamps: Vec::new(),
		},
	)
}

fn decode_hex(hex: &str) -> Vec<u8> {
	let digits = hex.trim_start_matches("0x").as_bytes();
	digits
		.chunks(2)
		.map(|pair| {
			let text = core::str::from_utf8(pair).expect("constant is ASCII");
			u8::from_str_radix(text, 16).expect("constant is hex")
		})
		.collect()
}

/// One genesis validator: its stash account and its session keys.
pub struct GenesisValidator {
	pub stash: AccountId,
	pub aura: AuraId,
	pub grandpa: GrandpaId,
}

impl GenesisValidator {
	/// The validator of a dev keyring name: stash `//Name//stash`, keys from `//Name`.
	pub fn from_keyring(sr: Sr25519Keyring, sr_stash: Sr25519Keyring, ed: Ed25519Keyring) -> Self {
		Self {
			stash: sr_stash.to_account_id(),
			aura: sr.public().into(),
			grandpa: ed.public().into(),
		}
	}

	fn session_keys(&self) -> SessionKeys {
		SessionKeys { aura: self.aura.clone(), grandpa: self.grandpa.clone() }
	}
}

fn testnet_genesis(
	validators: Vec<GenesisValidator>,
	endowed_accounts: Vec<AccountId>,
	root: AccountId,
	bitcoin: Network,
	evm_chain_id: u64,
) -> Value {
	let mut balances: Vec<(AccountId, Balance)> =
		endowed_accounts.iter().cloned().map(|account| (account, DEV_ACCOUNT_BALANCE)).collect();
	for validator in &validators {
		if !endowed_accounts.contains(&validator.stash) {
			balances.push((validator.stash.clone(), DEV_ACCOUNT_BALANCE));
		}
	}
	let validator_count = validators.len() as u32;
	let (network, checkpoint) = bitcoin_checkpoint(bitcoin);

	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig { balances },
		session: SessionConfig {
			keys: validators
				.iter()
				.map(|v| (v.stash.clone(), v.stash.clone(), v.session_keys()))
				.collect::<Vec<_>>(),
		},
		staking: StakingConfig {
			validator_count,
			minimum_validator_count: 1,
			stakers: validators
				.iter()
				.map(|v| {
					(
						v.stash.clone(),
						v.stash.clone(),
						GENESIS_VALIDATOR_BOND,
						pallet_staking::StakerStatus::<AccountId>::Validator,
					)
				})
				.collect::<Vec<_>>(),
		},
		sudo: SudoConfig { key: Some(root) },
		evm_chain_id: EvmChainIdConfig { chain_id: evm_chain_id },
		revive: ReviveConfig { accounts: evm_preinstalls() },
		btc_light_client: BtcLightClientConfig { network, checkpoint: Some(checkpoint) },
		btc_bridge: BtcBridgeConfig {
			// Six on the public networks; regtest (btc-sim, tests) mines on demand, three do.
			required_confirmations: if network == Network::Regtest { 3 } else { 6 },
			fee_rate_bounds: (1, 1_000),
			..Default::default()
		},
	})
}

/// The accounts funded in every development preset: the sr25519 dev keyring and
/// [`DEV_ETH_ACCOUNTS`].
pub fn dev_accounts() -> Vec<AccountId> {
	Sr25519Keyring::iter()
		.filter(|k| k != &Sr25519Keyring::One && k != &Sr25519Keyring::Two)
		.map(|k| k.to_account_id())
		.chain(DEV_ETH_ACCOUNTS.iter().map(|address| eth_account_id(address)))
		.collect()
}

/// `development`: Alice validates alone.
pub fn development_config_genesis() -> Value {
	testnet_genesis(
		vec![GenesisValidator::from_keyring(
			Sr25519Keyring::Alice,
			Sr25519Keyring::AliceStash,
			Ed25519Keyring::Alice,
		)],
		dev_accounts(),
		Sr25519Keyring::Alice.to_account_id(),
		Network::Regtest,
		DEVELOPMENT_EVM_CHAIN_ID,
	)
}

/// `mainnet`: a development network (Alice validates) whose light client follows Bitcoin
/// mainnet from block 822528. A real deployment exports it and replaces the validators.
pub fn mainnet_config_genesis() -> Value {
	testnet_genesis(
		vec![GenesisValidator::from_keyring(
			Sr25519Keyring::Alice,
			Sr25519Keyring::AliceStash,
			Ed25519Keyring::Alice,
		)],
		dev_accounts(),
		Sr25519Keyring::Alice.to_account_id(),
		Network::Mainnet,
		MAINNET_EVM_CHAIN_ID,
	)
}

/// `local_testnet`: Alice, Bob, Charlie and Dave validate, each bonded from genesis.
pub fn local_config_genesis() -> Value {
	testnet_genesis(
		vec![
			GenesisValidator::from_keyring(
				Sr25519Keyring::Alice,
				Sr25519Keyring::AliceStash,
				Ed25519Keyring::Alice,
			),
			GenesisValidator::from_keyring(
				Sr25519Keyring::Bob,
				Sr25519Keyring::BobStash,
				Ed25519Keyring::Bob,
			),
			GenesisValidator::from_keyring(
				Sr25519Keyring::Charlie,
				Sr25519Keyring::CharlieStash,
				Ed25519Keyring::Charlie,
			),
			GenesisValidator::from_keyring(
				Sr25519Keyring::Dave,
				Sr25519Keyring::DaveStash,
				Ed25519Keyring::Dave,
			),
		],
		dev_accounts(),
		Sr25519Keyring::Alice.to_account_id(),
		Network::Regtest,
		LOCAL_TESTNET_EVM_CHAIN_ID,
	)
}

/// Provides the JSON representation of predefined genesis config for given `id`.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		sp_genesis_builder::DEV_RUNTIME_PRESET => development_config_genesis(),
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET => local_config_genesis(),
		MAINNET_PRESET => mainnet_config_genesis(),
		_ => return None,
	};
	Some(
		serde_json::to_string(&patch)
			.expect("serialization to json is expected to work. qed.")
			.into_bytes(),
	)
}

/// List of supported presets.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(sp_genesis_builder::DEV_RUNTIME_PRESET),
		PresetId::from(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET),
		PresetId::from(MAINNET_PRESET),
	]
}

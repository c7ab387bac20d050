//! Genesis presets: `development` (one validator) and `local_testnet` (four validators).
//!
//! Validators are identified by their stash account (`//Alice//stash`, ...), which bonds
//! stake in `staking.stakers` and owns the session keys in `session.keys`; the session
//! keys themselves are derived from the plain dev seeds (`//Alice`, ...). zombienet
//! rewrites exactly these two entries for the validators it starts.

use crate::{
	AccountId, BalancesConfig, RuntimeGenesisConfig, SessionConfig, SessionKeys, StakingConfig,
	SudoConfig, BASE_UNITS_PER_BTC,
};
use alloc::{vec, vec::Vec};
use frame_support::build_struct_json_patch;
use serde_json::Value;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_consensus_grandpa::AuthorityId as GrandpaId;
use sp_genesis_builder::{self, PresetId};
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};
use tapchain_primitives::Balance;

/// What each development account holds at genesis.
pub const DEV_ACCOUNT_BALANCE: Balance = 10_000 * BASE_UNITS_PER_BTC;

/// What each genesis validator bonds.
pub const GENESIS_VALIDATOR_BOND: Balance = 100 * BASE_UNITS_PER_BTC;

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
) -> Value {
	let mut balances: Vec<(AccountId, Balance)> =
		endowed_accounts.iter().cloned().map(|account| (account, DEV_ACCOUNT_BALANCE)).collect();
	for validator in &validators {
		if !endowed_accounts.contains(&validator.stash) {
			balances.push((validator.stash.clone(), DEV_ACCOUNT_BALANCE));
		}
	}
	let validator_count = validators.len() as u32;

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
	})
}

/// The accounts funded in every development preset.
pub fn dev_accounts() -> Vec<AccountId> {
	Sr25519Keyring::iter()
		.filter(|k| k != &Sr25519Keyring::One && k != &Sr25519Keyring::Two)
		.map(|k| k.to_account_id())
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
	)
}

/// Provides the JSON representation of predefined genesis config for given `id`.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		sp_genesis_builder::DEV_RUNTIME_PRESET => development_config_genesis(),
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET => local_config_genesis(),
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
	]
}

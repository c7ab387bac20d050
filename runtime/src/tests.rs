//! Runtime tests: genesis presets, pallet integrity, validator elections and fees.

use crate::{
	configs::{LENGTH_FEE_PER_BYTE, WEIGHT_FEE_PER_REF_TIME},
	genesis_config_presets::{DEV_ACCOUNT_BALANCE, GENESIS_VALIDATOR_BOND},
	AccountId, AllPalletsWithSystem, Balance, Balances, Executive, Grandpa, Runtime, RuntimeCall,
	RuntimeEvent, RuntimeGenesisConfig, RuntimeOrigin, Session, SessionKeys, SignedPayload,
	Staking, System, TxExtension, UncheckedExtrinsic, EXISTENTIAL_DEPOSIT, SATS, SESSIONS_PER_ERA,
};
use codec::{Decode, Encode};
use frame_support::{
	assert_noop, assert_ok,
	traits::{Get, Hooks, IntegrityTest},
};
use sp_consensus_aura::{sr25519::AuthorityId as AuraId, Slot, AURA_ENGINE_ID};
use sp_core::crypto::Pair;
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};
use sp_runtime::{
	generic::{Digest, DigestItem},
	traits::Header as _,
	BuildStorage,
};
use tapchain_primitives::BASE_UNITS_PER_BTC;

/// Genesis state of a named preset, built the way a node builds it from a chain spec.
fn preset_ext(preset: &str) -> sp_io::TestExternalities {
	let patch = crate::genesis_config_presets::get_preset(&preset.into())
		.unwrap_or_else(|| panic!("preset {preset} exists"));
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).unwrap();
	let patch: serde_json::Value = serde_json::from_slice(&patch).unwrap();
	json_merge(&mut config, patch);
	let config: RuntimeGenesisConfig =
		serde_json::from_value(config).expect("preset patch deserializes into the genesis config");
	let mut ext: sp_io::TestExternalities = config.build_storage().unwrap().into();
	ext.register_extension(sp_keystore::KeystoreExt::new(
		sp_keystore::testing::MemoryKeystore::new(),
	));
	ext.execute_with(|| System::set_block_number(1));
	ext
}

fn json_merge(base: &mut serde_json::Value, patch: serde_json::Value) {
	match (base, patch) {
		(serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
			for (key, value) in patch {
				json_merge(base.entry(key).or_insert(serde_json::Value::Null), value);
			}
		},
		(base, patch) => *base = patch,
	}
}

fn stash(name: Sr25519Keyring) -> AccountId {
	name.to_account_id()
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
	items.sort();
	items
}

fn aura_authorities() -> Vec<AuraId> {
	pallet_aura::Authorities::<Runtime>::get().into_inner()
}

fn local_validators() -> [(Sr25519Keyring, Sr25519Keyring); 4] {
	[
		(Sr25519Keyring::Alice, Sr25519Keyring::AliceStash),
		(Sr25519Keyring::Bob, Sr25519Keyring::BobStash),
		(Sr25519Keyring::Charlie, Sr25519Keyring::CharlieStash),
		(Sr25519Keyring::Dave, Sr25519Keyring::DaveStash),
	]
}

#[test]
fn every_preset_builds_its_genesis() {
	for preset in crate::genesis_config_presets::preset_names() {
		let name = core::str::from_utf8(preset.as_ref()).unwrap().to_owned();
		preset_ext(&name).execute_with(|| {
			assert!(!Session::validators().is_empty(), "{name}: no validators");
			assert_eq!(Balances::free_balance(stash(Sr25519Keyring::Ferdie)), DEV_ACCOUNT_BALANCE);
		});
	}
}

#[test]
fn unknown_preset_is_refused() {
	assert!(crate::genesis_config_presets::get_preset(&"mainnet-ish".into()).is_none());
}

#[test]
fn pallets_pass_their_integrity_tests() {
	preset_ext("local_testnet").execute_with(|| {
		<AllPalletsWithSystem as IntegrityTest>::integrity_test();
	});
}

#[test]
fn local_testnet_starts_with_four_bonded_validators_as_authorities() {
	preset_ext("local_testnet").execute_with(|| {
		let stashes: Vec<AccountId> = local_validators().iter().map(|(_, s)| stash(*s)).collect();
		let aura_keys: Vec<AuraId> =
			local_validators().iter().map(|(k, _)| k.public().into()).collect();
		let grandpa_keys: Vec<sp_consensus_grandpa::AuthorityId> = [
			Ed25519Keyring::Alice,
			Ed25519Keyring::Bob,
			Ed25519Keyring::Charlie,
			Ed25519Keyring::Dave,
		]
		.iter()
		.map(|k| k.public().into())
		.collect();

		assert_eq!(sorted(Session::validators()), sorted(stashes.clone()));
		assert_eq!(sorted(aura_authorities()), sorted(aura_keys.clone()));
		assert_eq!(
			sorted(Grandpa::grandpa_authorities().into_iter().map(|(id, _)| id).collect()),
			sorted(grandpa_keys)
		);
		for stash in &stashes {
			let ledger = pallet_staking::Ledger::<Runtime>::get(stash).expect("stash is bonded");
			assert_eq!(ledger.active, GENESIS_VALIDATOR_BOND);
			assert!(pallet_staking::Validators::<Runtime>::contains_key(stash));
		}
		assert_eq!(pallet_staking::ValidatorCount::<Runtime>::get(), 4);

		// After the first session and a whole era, the elected set is still the genesis set.
		for _ in 0..=SESSIONS_PER_ERA {
			Session::rotate_session();
		}
		assert!(pallet_staking::ActiveEra::<Runtime>::get().unwrap().index >= 1);
		assert_eq!(sorted(Session::validators()), sorted(stashes));
		assert_eq!(sorted(aura_authorities()), sorted(aura_keys));
	});
}

#[test]
fn a_newly_bonded_validator_is_elected_at_the_next_era() {
	preset_ext("local_testnet").execute_with(|| {
		let eve = stash(Sr25519Keyring::EveStash);
		let generated = SessionKeys::generate(&eve.encode(), None);
		let eve_aura = generated.keys.aura.clone();
		assert_ok!(Session::set_keys(
			RuntimeOrigin::signed(eve.clone()),
			generated.keys,
			generated.proof.encode()
		));
		assert_ok!(Staking::bond(
			RuntimeOrigin::signed(eve.clone()),
			GENESIS_VALIDATOR_BOND,
			pallet_staking::RewardDestination::Stash
		));
		assert_ok!(Staking::validate(RuntimeOrigin::signed(eve.clone()), Default::default()));
		assert_ok!(Staking::set_validator_count(RuntimeOrigin::root(), 5));
		// More validators than custody's vaults can seat is refused, not left to fail
		// silently.
		assert_noop!(
			Staking::set_validator_count(RuntimeOrigin::root(), crate::MAX_ELECTED_VALIDATORS + 1),
			pallet_staking::Error::<Runtime>::TooManyValidators
		);
		assert_noop!(
			Staking::increase_validator_count(RuntimeOrigin::root(), crate::MAX_ELECTED_VALIDATORS),
			pallet_staking::Error::<Runtime>::TooManyValidators
		);

		let active_era = || pallet_staking::ActiveEra::<Runtime>::get().unwrap().index;
		assert_eq!(active_era(), 0);
		let mut rotations = 0;
		while active_era() == 0 {
			assert!(!Session::validators().contains(&eve), "not a validator during era 0");
			Session::rotate_session();
			rotations += 1;
			assert!(
				rotations <= SESSIONS_PER_ERA,
				"era 1 starts after {SESSIONS_PER_ERA} sessions"
			);
		}
		assert!(Session::validators().contains(&eve), "elected for era 1");
		assert!(aura_authorities().contains(&eve_aura), "and authors blocks with its key");
		assert_eq!(Session::validators().len(), 5);
	});
}

#[test]
fn the_session_length_follows_its_governed_setting_but_never_drops_below_five_blocks() {
	use crate::configs::{SessionPeriod, SessionPeriodSetting};
	use frame_support::traits::Get;
	preset_ext("local_testnet").execute_with(|| {
		let should_end = |n| {
			<pallet_session::PeriodicSessions<SessionPeriod, crate::configs::SessionOffset> as pallet_session::ShouldEndSession<crate::BlockNumber>>::should_end_session(n)
		};
		assert_eq!(SessionPeriod::get(), crate::SESSION_PERIOD_IN_BLOCKS);
		assert!(!should_end(20) && should_end(crate::SESSION_PERIOD_IN_BLOCKS));

		// Root stores 20 blocks under the well-known key; sessions end every 20 blocks.
		let key = SessionPeriodSetting::key().to_vec();
		assert_eq!(key, sp_io::hashing::twox_128(b":SessionPeriodSetting:").to_vec());
		assert_ok!(System::set_storage(RuntimeOrigin::root(), vec![(key.clone(), 20u32.encode())]));
		assert_eq!(SessionPeriod::get(), 20);
		assert!(should_end(20) && should_end(40) && !should_end(30));
		// Nobody else can.
		assert!(System::set_storage(
			RuntimeOrigin::signed(stash(Sr25519Keyring::EveStash)),
			vec![(key.clone(), 7u32.encode())]
		)
		.is_err());
		// 0 (or 1) would halt or thrash the chain: the floor holds.
		assert_ok!(System::set_storage(RuntimeOrigin::root(), vec![(key, 0u32.encode())]));
		assert_eq!(SessionPeriod::get(), 5);
		assert!(should_end(10) && !should_end(12));
	});
}

#[test]
fn session_keys_with_a_forged_ownership_proof_are_refused() {
	preset_ext("local_testnet").execute_with(|| {
		let eve = stash(Sr25519Keyring::EveStash);
		let ferdie = stash(Sr25519Keyring::FerdieStash);
		// Keys whose proof was made for Ferdie cannot be registered by Eve.
		let generated = SessionKeys::generate(&ferdie.encode(), None);
		assert!(Session::set_keys(
			RuntimeOrigin::signed(eve),
			generated.keys,
			generated.proof.encode()
		)
		.is_err());
	});
}

/// Starts block `number` authored in `slot` (the Aura pre-digest names the author).
fn start_block(number: u32, slot: u64) {
	let digest =
		Digest { logs: vec![DigestItem::PreRuntime(AURA_ENGINE_ID, Slot::from(slot).encode())] };
	let header = crate::Header::new(
		number,
		Default::default(),
		Default::default(),
		System::parent_hash(),
		digest,
	);
	Executive::initialize_block(&header);
}

fn signed_transfer(
	from: Sr25519Keyring,
	to: AccountId,
	value: Balance,
	nonce: u32,
) -> UncheckedExtrinsic {
	let call = RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
		dest: to.into(),
		value,
	});
	let tx_ext: TxExtension = crate::native_tx_extension(nonce);
	let payload =
		SignedPayload::new(call.clone(), tx_ext.clone()).expect("implicit data available");
	let signature = payload.using_encoded(|bytes| from.pair().sign(bytes));
	sp_runtime::generic::UncheckedExtrinsic::new_signed(
		call,
		from.to_account_id().into(),
		signature.into(),
		tx_ext,
	)
	.into()
}

#[test]
fn fees_are_charged_in_btc_base_units_and_paid_to_the_block_author() {
	preset_ext("development").execute_with(|| {
		let alice = Sr25519Keyring::Alice;
		let bob = stash(Sr25519Keyring::Bob);
		let author = stash(Sr25519Keyring::AliceStash);
		start_block(2, 1);
		System::reset_events();

		let alice_before = Balances::free_balance(alice.to_account_id());
		let author_before = Balances::free_balance(&author);
		let bob_before = Balances::free_balance(&bob);
		let amount = BASE_UNITS_PER_BTC;

		let xt = signed_transfer(alice, bob.clone(), amount, 0);
		let len = xt.encoded_size() as u32;
		assert_ok!(Executive::apply_extrinsic(xt).expect("transaction is valid"));

		let fee = System::events()
			.into_iter()
			.find_map(|record| match record.event {
				RuntimeEvent::TransactionPayment(
					pallet_transaction_payment::Event::TransactionFeePaid { actual_fee, .. },
				) => Some(actual_fee),
				_ => None,
			})
			.expect("a fee was paid");

		assert_eq!(Balances::free_balance(&bob), bob_before + amount);
		assert_eq!(Balances::free_balance(alice.to_account_id()), alice_before - amount - fee);
		assert_eq!(Balances::free_balance(&author), author_before + fee, "fee goes to the author");

		// The fee is made of the length fee and the weight fee, both in base units: the
		// transfer's weight is dominated by ref_time, priced at WEIGHT_FEE_PER_REF_TIME.
		assert!(fee > len as Balance * LENGTH_FEE_PER_BYTE, "fee {fee} covers the length fee");
		assert_eq!((fee - len as Balance * LENGTH_FEE_PER_BYTE) % WEIGHT_FEE_PER_REF_TIME, 0);
		// A plain transfer costs a few sats: cheap, but not free, for a token worth a lot.
		assert!((SATS..=100 * SATS).contains(&fee), "transfer fee {} sats", fee / SATS);
	});
}

#[test]
fn a_transfer_that_would_leave_dust_is_refused() {
	preset_ext("development").execute_with(|| {
		start_block(2, 1);
		let dust_receiver = AccountId::from([7u8; 32]);
		let result = Balances::transfer_keep_alive(
			RuntimeOrigin::signed(Sr25519Keyring::Bob.to_account_id()),
			dust_receiver.clone().into(),
			EXISTENTIAL_DEPOSIT - 1,
		);
		assert!(result.is_err(), "an account below the existential deposit cannot be created");
		assert_eq!(Balances::free_balance(&dust_receiver), 0);
	});
}

#[test]
fn staking_mints_nothing_at_era_end() {
	preset_ext("local_testnet").execute_with(|| {
		let issuance_before = Balances::total_issuance();
		for _ in 0..(2 * SESSIONS_PER_ERA + 1) {
			Session::rotate_session();
			Staking::on_finalize(System::block_number());
		}
		assert!(pallet_staking::ActiveEra::<Runtime>::get().unwrap().index >= 2);
		assert_eq!(Balances::total_issuance(), issuance_before, "BTC supply is only bridged");
	});
}

#[test]
fn presets_start_the_light_client_at_their_checkpoint() {
	use tapchain_primitives::bitcoin::{BlockHash, Network};
	preset_ext("development").execute_with(|| {
		let tip = crate::BtcLightClient::best_tip().expect("checkpoint stored");
		assert_eq!(tip.height, 0);
		assert_eq!(tip.hash, Network::Regtest.params().genesis_hash);
		assert_eq!(pallet_btc_light_client::BitcoinNetwork::<Runtime>::get(), Network::Regtest);
	});
	preset_ext("mainnet").execute_with(|| {
		let tip = crate::BtcLightClient::best_tip().expect("checkpoint stored");
		assert_eq!(tip.height, 822_528);
		assert_eq!(
			tip.hash,
			BlockHash::from_display_hex(
				"000000000000000000001daacd23f9cb40c69ba923085618a5f9dbdd4d97e93a"
			)
			.unwrap()
		);
		assert_eq!(pallet_btc_light_client::BitcoinNetwork::<Runtime>::get(), Network::Mainnet);
	});
}

#[test]
fn a_relayer_submits_regtest_headers_for_free() {
	use tapchain_primitives::bitcoin::{BlockHeader, Network, TxMerkleNode};
	preset_ext("development").execute_with(|| {
		let genesis = BlockHeader::from_bytes(
			&hex::decode(
				crate::genesis_config_presets::REGTEST_GENESIS_HEADER.trim_start_matches("0x"),
			)
			.unwrap(),
		)
		.unwrap();
		assert_eq!(genesis.block_hash(), Network::Regtest.params().genesis_hash);
		pallet_timestamp::Now::<Runtime>::put(genesis.time as u64 * 1000 + 3_600_000);
		let pow_limit = Network::Regtest.params().pow_limit;
		let mut headers = Vec::new();
		let mut parent = genesis;
		for _ in 0..5 {
			let mut header = BlockHeader {
				version: 0x2000_0000,
				prev_blockhash: parent.block_hash(),
				merkle_root: TxMerkleNode([5; 32]),
				time: parent.time + 600,
				bits: parent.bits,
				nonce: 0,
			};
			let target = header.bits.to_target(pow_limit).unwrap();
			while !target.is_met_by(&header.block_hash().0) {
				header.nonce += 1;
			}
			headers.push(header);
			parent = header;
		}
		let info = crate::BtcLightClient::submit_headers(
			RuntimeOrigin::signed(Sr25519Keyring::Ferdie.to_account_id()),
			headers.clone().try_into().unwrap(),
		)
		.unwrap();
		assert_eq!(info.pays_fee, frame_support::dispatch::Pays::No);
		assert_eq!(crate::BtcLightClient::best_tip().unwrap().hash, parent.block_hash());
		// The runtime's weight for a whole retarget period stays well under a quarter block.
		use pallet_btc_light_client::WeightInfo;
		let weight = <Runtime as pallet_btc_light_client::Config>::WeightInfo::submit_headers(2016)
			.saturating_add(
				<Runtime as pallet_btc_light_client::Config>::WeightInfo::submit_fork_header(100),
			);
		let block_max = crate::configs::RuntimeBlockWeights::get().max_block;
		assert!(
			weight.ref_time() * 4 < block_max.ref_time(),
			"2016 headers take {} of {} ref_time",
			weight.ref_time(),
			block_max.ref_time()
		);
	});
}

type EvmAddressMapper = <Runtime as pallet_revive::Config>::AddressMapper;

fn h160(hex_address: &str) -> sp_core::H160 {
	let bytes = hex::decode(hex_address.trim_start_matches("0x")).expect("hex address");
	sp_core::H160::from_slice(&bytes)
}

#[test]
fn development_funds_the_ethereum_dev_accounts_in_wei() {
	use crate::genesis_config_presets::{eth_account_id, DEV_ETH_ACCOUNTS};
	use pallet_revive::AddressMapper;
	preset_ext("development").execute_with(|| {
		for address in DEV_ETH_ACCOUNTS {
			let address = h160(address);
			let account = eth_account_id(&format!("{address:?}"));
			assert_eq!(EvmAddressMapper::to_account_id(&address), account);
			assert_eq!(EvmAddressMapper::to_address(&account), address);
			// One base unit is one wei: the EVM sees the spendable native balance (all of it
			// but the existential deposit) unchanged.
			assert_eq!(
				crate::Revive::evm_balance(&address),
				sp_core::U256::from(DEV_ACCOUNT_BALANCE - EXISTENTIAL_DEPOSIT),
				"{address:?}"
			);
		}
	});
}

#[test]
fn native_accounts_are_mapped_to_their_evm_address_when_created() {
	use pallet_revive::AddressMapper;
	preset_ext("development").execute_with(|| {
		start_block(2, 1);
		// A genesis account is mapped: its H160 resolves back to it.
		let alice = Sr25519Keyring::Alice.to_account_id();
		let alice_h160 = EvmAddressMapper::to_address(&alice);
		assert_eq!(EvmAddressMapper::to_account_id(&alice_h160), alice);

		// So is an account created later by a plain transfer.
		let fresh = AccountId::from([42u8; 32]);
		let fresh_h160 = EvmAddressMapper::to_address(&fresh);
		assert_ne!(EvmAddressMapper::to_account_id(&fresh_h160), fresh, "not mapped before");
		assert_ok!(Balances::transfer_keep_alive(
			RuntimeOrigin::signed(alice.clone()),
			fresh.clone().into(),
			BASE_UNITS_PER_BTC,
		));
		assert_eq!(EvmAddressMapper::to_account_id(&fresh_h160), fresh);
		assert_eq!(
			crate::Revive::evm_balance(&fresh_h160),
			sp_core::U256::from(BASE_UNITS_PER_BTC - EXISTENTIAL_DEPOSIT)
		);
	});
}

#[test]
fn a_native_transfer_to_an_h160_account_shows_in_its_evm_balance() {
	use crate::genesis_config_presets::eth_account_id;
	preset_ext("development").execute_with(|| {
		start_block(2, 1);
		let address = h160("0x00000000000000000000000000000000deadbeef");
		assert_eq!(crate::Revive::evm_balance(&address), sp_core::U256::zero());
		assert_ok!(Balances::transfer_keep_alive(
			RuntimeOrigin::signed(Sr25519Keyring::Bob.to_account_id()),
			eth_account_id("0x00000000000000000000000000000000deadbeef").into(),
			12_345 * SATS,
		));
		assert_eq!(
			crate::Revive::evm_balance(&address),
			sp_core::U256::from(12_345 * SATS - EXISTENTIAL_DEPOSIT)
		);
	});
}

#[test]
fn the_evm_gas_price_is_the_configured_btc_price() {
	use crate::configs::{EVM_CHAIN_ID, EVM_GAS_PRICE_WEI};
	preset_ext("development").execute_with(|| {
		assert_eq!(crate::Revive::evm_base_fee(), sp_core::U256::from(EVM_GAS_PRICE_WEI));
		let chain_id: u64 = <Runtime as pallet_revive::Config>::ChainId::get();
		assert_eq!(chain_id, EVM_CHAIN_ID);
	});
}

/// Each preset has its own EVM chain ID, and it is what pallet-revive checks signatures
/// against and what eth-rpc reads (the metadata constant `Revive::ChainId`), so a
/// transaction signed for one network is refused by another.
#[test]
fn each_preset_has_its_own_evm_chain_id_which_eth_rpc_reads() {
	use crate::genesis_config_presets::{
		DEVELOPMENT_EVM_CHAIN_ID, LOCAL_TESTNET_EVM_CHAIN_ID, MAINNET_EVM_CHAIN_ID, MAINNET_PRESET,
	};
	let presets = [
		(sp_genesis_builder::DEV_RUNTIME_PRESET, DEVELOPMENT_EVM_CHAIN_ID),
		(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET, LOCAL_TESTNET_EVM_CHAIN_ID),
		(MAINNET_PRESET, MAINNET_EVM_CHAIN_ID),
	];
	for (preset, expected) in presets {
		preset_ext(preset).execute_with(|| {
			let chain_id: u64 = <Runtime as pallet_revive::Config>::ChainId::get();
			assert_eq!(chain_id, expected, "{preset}");
			let constant = pallet_revive::Pallet::<Runtime>::pallet_constants_metadata()
				.into_iter()
				.find(|constant| constant.name == "ChainId")
				.expect("Revive exports its chain ID");
			assert_eq!(u64::decode(&mut &constant.value[..]), Ok(expected), "{preset}");
		});
	}
	let mut ids: Vec<u64> = presets.iter().map(|(_, id)| *id).collect();
	ids.sort();
	ids.dedup();
	assert_eq!(ids.len(), presets.len(), "chain IDs must differ between presets");
}

/// The pool's check of a transaction. The pool runs it on a throw-away state (it
/// initializes a block of its own), so here it runs in a storage transaction rolled back.
fn pool_validate(xt: UncheckedExtrinsic) -> sp_runtime::transaction_validity::TransactionValidity {
	frame_support::storage::with_transaction(|| {
		let validity = Executive::validate_transaction(
			sp_runtime::transaction_validity::TransactionSource::External,
			xt,
			System::parent_hash(),
		);
		sp_runtime::TransactionOutcome::Rollback(Ok::<_, sp_runtime::DispatchError>(validity))
	})
	.unwrap()
}

/// Applies a bare (unsigned) extrinsic the way the pool and the block builder do.
fn apply_unsigned(call: RuntimeCall) -> sp_runtime::ApplyExtrinsicResult {
	let xt: UncheckedExtrinsic = sp_runtime::generic::UncheckedExtrinsic::new_bare(call).into();
	if let Err(e) = pool_validate(xt.clone()) {
		panic!("the pool refuses the custody message: {e:?}");
	}
	Executive::apply_extrinsic(xt)
}

fn custody_call(signed: tapchain_signer::SignedMessage) -> RuntimeCall {
	RuntimeCall::BtcCustody(pallet_btc_custody::Call::from_message(
		signed.message,
		signed.signature,
	))
}

/// Ends a block started with [`start_block`] in `slot`: the timestamp inherent, then
/// finalization.
fn end_block(slot: u64) {
	let now = slot * crate::SLOT_DURATION;
	let inherent = RuntimeCall::Timestamp(pallet_timestamp::Call::set { now });
	let xt: UncheckedExtrinsic = sp_runtime::generic::UncheckedExtrinsic::new_bare(inherent).into();
	assert_ok!(Executive::apply_extrinsic(xt).unwrap());
	Executive::finalize_block();
}

/// The custody key epoch `local_custody_epoch` ran: `(index, DKG id, output key)`.
type CustodyKey = (u32, pallet_btc_custody::DkgId, [u8; 32]);

/// The four `local_testnet` validators register their custody keys (each signed with its
/// Aura key; one signed with another validator's key is refused) and run a DKG with real
/// signers, from block 2. Returns the signers, their key stores, the last block and the key
/// epoch.
fn local_custody_epoch() -> (Vec<tapchain_signer::Signer>, Vec<tempfile::TempDir>, u32, CustodyKey)
{
	let genesis_hash: [u8; 32] = System::block_hash(0).into();
	let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
	let mut signers: Vec<_> = dirs
		.iter()
		.map(|d| tapchain_signer::Signer::open(d.path(), genesis_hash).unwrap())
		.collect();
	let validators = local_validators();

	start_block(2, 2);
	for ((session, stash), signer) in validators.iter().zip(&signers) {
		let (payload, identity_signature) = signer.registration(stash.to_account_id(), 0);
		// Signed with another validator's Aura key: refused by the pool.
		let wrong = RuntimeCall::BtcCustody(pallet_btc_custody::Call::register_custody_keys {
			payload: payload.clone(),
			session_key: Sr25519Keyring::Eve.public().into(),
			session_signature: Sr25519Keyring::Eve.pair().sign(&payload.encode()).into(),
			identity_signature,
		});
		let xt: UncheckedExtrinsic =
			sp_runtime::generic::UncheckedExtrinsic::new_bare(wrong).into();
		assert!(pool_validate(xt).is_err());
		let call = RuntimeCall::BtcCustody(pallet_btc_custody::Call::register_custody_keys {
			payload: payload.clone(),
			session_key: session.public().into(),
			session_signature: session.pair().sign(&payload.encode()).into(),
			identity_signature,
		});
		assert_ok!(apply_unsigned(call).unwrap());
	}
	end_block(2);

	// Blocks go by; every validator's signer answers its tasks.
	let mut epoch = None;
	let mut number = 2u32;
	while number < 20 {
		number += 1;
		start_block(number, number as u64);
		for ((_, stash), signer) in validators.iter().zip(signers.iter_mut()) {
			for task in crate::BtcCustody::pending_tasks(&stash.to_account_id()) {
				let signed = signer.handle_task(&task).unwrap();
				assert_ok!(apply_unsigned(custody_call(signed)).unwrap());
			}
		}
		end_block(number as u64);
		epoch = crate::BtcCustody::current_custody_key();
		if epoch.is_some()
			&& crate::BtcCustody::pending_tasks(&validators[3].1.to_account_id()).is_empty()
		{
			break;
		}
	}
	(signers, dirs, number, epoch.expect("a key epoch after the DKG"))
}

#[test]
fn local_validators_register_custody_keys_with_their_aura_key_run_a_dkg_and_sign() {
	preset_ext("local_testnet").execute_with(|| {
		let (mut signers, _dirs, mut number, epoch) = local_custody_epoch();
		let validators = local_validators();
		let (index, dkg_id, output_key) = epoch;
		assert_eq!(index, 0);
		for signer in &signers {
			let package = signer.public_key_package(dkg_id).unwrap();
			assert_eq!(tapchain_signer::x_only_key(&package).unwrap(), output_key);
		}
		// Every member's bonded BTC is frozen while the key is live: unbonded, it still
		// cannot leave the account before the key's funds have moved.
		use frame_support::traits::fungible::InspectFreeze;
		let reason =
			crate::RuntimeFreezeReason::BtcCustody(pallet_btc_custody::FreezeReason::CustodyMember);
		for (_, stash) in &validators {
			assert_eq!(
				Balances::balance_frozen(&reason, &stash.to_account_id()),
				GENESIS_VALIDATOR_BOND
			);
		}
		assert_ok!(crate::BtcCustody::do_try_state());

		// Sudo asks for a signature; three of the four validators suffice.
		let message = [0x5a; 32];
		assert_ok!(crate::BtcCustody::request_test_signatures(
			RuntimeOrigin::root(),
			vec![message]
		));
		let last = number + 10;
		while number < last {
			number += 1;
			start_block(number, number as u64);
			for ((_, stash), signer) in validators.iter().zip(signers.iter_mut()).take(3) {
				for task in crate::BtcCustody::pending_tasks(&stash.to_account_id()) {
					let signed = signer.handle_task(&task).unwrap();
					assert_ok!(apply_unsigned(custody_call(signed)).unwrap());
				}
			}
			end_block(number as u64);
			if pallet_btc_custody::Signatures::<Runtime>::contains_key(1) {
				break;
			}
		}
		let signature = pallet_btc_custody::Signatures::<Runtime>::get(1).expect("signed")[0];
		let key = k256::schnorr::VerifyingKey::from_bytes(&output_key).unwrap();
		let signature = k256::schnorr::Signature::try_from(&signature[..]).unwrap();
		assert!(key.verify_raw(&message, &signature).is_ok());
	});
}

#[test]
fn a_theft_slashes_the_key_holders_bonds_pro_rata_and_burns_it() {
	use frame_support::traits::fungible::{Inspect, InspectFreeze};
	use pallet_btc_custody::ThresholdCustody;
	use sp_staking::StakingInterface;
	preset_ext("local_testnet").execute_with(|| {
		let (_signers, _dirs, _number, (epoch, _, _)) = local_custody_epoch();
		let stashes: Vec<AccountId> =
			local_validators().iter().map(|(_, stash)| stash.to_account_id()).collect();
		let reason =
			crate::RuntimeFreezeReason::BtcCustody(pallet_btc_custody::FreezeReason::CustodyMember);
		// Charlie unbonded half of his bond since the key started, and withdrew it once the
		// bonding duration was over: it is no longer bonded, but still at stake (frozen).
		let charlie = stashes[2].clone();
		assert_ok!(Staking::unbond(
			RuntimeOrigin::signed(charlie.clone()),
			GENESIS_VALIDATOR_BOND / 2
		));
		pallet_staking::CurrentEra::<Runtime>::put(1_000);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(charlie.clone()), 0));
		let bonded = |stash: &AccountId| <Staking as StakingInterface>::total_stake(stash).unwrap();
		assert_eq!(bonded(&charlie), GENESIS_VALIDATOR_BOND / 2);
		assert_eq!(Balances::balance_frozen(&reason, &charlie), GENESIS_VALIDATOR_BOND);
		let bond_sats = (GENESIS_VALIDATOR_BOND / tapchain_primitives::BASE_UNITS_PER_SAT) as u64;
		let issuance = Balances::total_issuance();
		let balances: Vec<Balance> = stashes.iter().map(Balances::total_balance).collect();
		System::reset_events();
		let slash_for_theft = |sats| {
			<crate::BtcCustody as ThresholdCustody<AccountId>>::slash_for_theft(epoch, sats)
				.burned_sats
		};

		// Three quarters of a bond were stolen. Any three of the four members can sign, so
		// the penalty is 4/3 of that, a whole bond: each member loses a quarter of its
		// stake, and whichever three signed lose what they took.
		let stolen_sats = bond_sats * 3 / 4;
		assert_eq!(slash_for_theft(stolen_sats), bond_sats);
		let share = GENESIS_VALIDATOR_BOND / 4;
		for (stash, before) in stashes.iter().zip(&balances) {
			assert_eq!(Balances::total_balance(stash), before - share, "{stash}");
			let bond =
				if *stash == charlie { GENESIS_VALIDATOR_BOND / 2 } else { GENESIS_VALIDATOR_BOND };
			assert_eq!(bonded(stash), bond - share, "staking's own ledger is slashed");
			// The freeze keeps what is left at stake.
			assert_eq!(Balances::balance_frozen(&reason, stash), GENESIS_VALIDATOR_BOND - share);
		}
		assert_eq!(Balances::total_issuance(), issuance - 4 * share, "burned, not moved");
		let events: Vec<RuntimeEvent> = System::events().into_iter().map(|r| r.event).collect();
		for stash in &stashes {
			assert!(events.contains(&RuntimeEvent::Staking(pallet_staking::Event::Slashed {
				staker: stash.clone(),
				amount: share,
			})));
		}
		let slashed = events.iter().find_map(|event| match event {
			RuntimeEvent::BtcCustody(pallet_btc_custody::Event::MembersSlashedForTheft {
				epoch: 0,
				stolen_sats: sats,
				penalty_sats,
				slashed,
			}) if *sats == stolen_sats && *penalty_sats == bond_sats => Some(sorted(slashed.clone())),
			_ => None,
		});
		let expected = sorted(stashes.iter().map(|s| (s.clone(), bond_sats / 4)).collect());
		assert_eq!(slashed, Some(expected));

		// More than all they have at stake: everything at stake goes (Charlie's withdrawn
		// half from his frozen balance), and nothing else.
		assert_eq!(slash_for_theft(100 * bond_sats), 4 * (bond_sats - bond_sats / 4));
		for (stash, before) in stashes.iter().zip(&balances) {
			assert_eq!(Balances::total_balance(stash), before - GENESIS_VALIDATOR_BOND, "{stash}");
			assert_eq!(bonded(stash), 0);
			assert_eq!(Balances::balance_frozen(&reason, stash), 0);
		}
		assert_eq!(Balances::total_issuance(), issuance - 4 * GENESIS_VALIDATOR_BOND);
		assert_eq!(slash_for_theft(1), 0, "nothing left at stake");
		assert_ok!(crate::BtcCustody::do_try_state());
	});
}

/// Calls the withdrawal precompile as `from` (an EVM account) and returns what it returned.
fn call_withdrawal_precompile(from: &AccountId, data: Vec<u8>) -> pallet_revive::ExecReturnValue {
	call_withdrawal_precompile_with_value(from, data, sp_core::U256::zero())
}

/// [`call_withdrawal_precompile`], sending `value` (wei) along.
fn call_withdrawal_precompile_with_value(
	from: &AccountId,
	data: Vec<u8>,
	value: sp_core::U256,
) -> pallet_revive::ExecReturnValue {
	use crate::precompiles::BTC_WITHDRAWAL_ADDRESS;
	let result = crate::Revive::bare_call(
		RuntimeOrigin::signed(from.clone()),
		sp_core::H160(BTC_WITHDRAWAL_ADDRESS),
		value,
		pallet_revive::TransactionLimits::WeightAndDeposit {
			weight_limit: frame_support::weights::Weight::from_parts(500_000_000_000, 10_000_000),
			deposit_limit: BASE_UNITS_PER_BTC,
		},
		data,
		&pallet_revive::ExecConfig::new_substrate_tx(),
	);
	result.result.expect("the call executes (it may revert)")
}

fn revert_reason(output: &pallet_revive::ExecReturnValue) -> String {
	use alloy_core::sol_types::SolError;
	assert!(output.did_revert(), "expected a revert");
	alloy_core::sol_types::Revert::abi_decode(&output.data).expect("a revert string").reason
}

#[test]
fn the_withdrawal_precompile_burns_and_queues_for_evm_callers() {
	use crate::{
		genesis_config_presets::eth_account_id,
		precompiles::IBtcWithdrawal::{
			minimumWithdrawalCall, requestWithdrawalCall, withdrawalCall,
		},
	};
	use alloy_core::{
		primitives::U256,
		sol_types::{SolCall, SolEvent},
	};
	preset_ext("development").execute_with(|| {
		start_block(2, 1);
		// The development preset's BTC was never bridged in; as if 100,000 BTC had been
		// (the bridge pays out only what came in).
		pallet_btc_bridge::Ledger::<Runtime>::mutate(|ledger| {
			ledger.issued_sats = 100_000 * tapchain_primitives::SATS_PER_BTC
		});
		let wallet = eth_account_id("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
		let before = Balances::free_balance(&wallet);
		let destination = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
		let amount = 10_000_000 * tapchain_primitives::BASE_UNITS_PER_SAT;

		let minimum = call_withdrawal_precompile(
			&wallet,
			minimumWithdrawalCall { btcAddress: destination.into() }.abi_encode(),
		);
		assert!(!minimum.did_revert());
		let minimum = minimumWithdrawalCall::abi_decode_returns(&minimum.data).unwrap();
		// 294 sats of dust plus 143 vB at the 1 sat/vB floor.
		assert_eq!(minimum, U256::from(437 * tapchain_primitives::BASE_UNITS_PER_SAT));

		let output = call_withdrawal_precompile(
			&wallet,
			requestWithdrawalCall { btcAddress: destination.into(), amount: U256::from(amount) }
				.abi_encode(),
		);
		assert!(!output.did_revert(), "{:?}", String::from_utf8_lossy(&output.data));
		assert_eq!(requestWithdrawalCall::abi_decode_returns(&output.data).unwrap(), 1);
		assert_eq!(Balances::free_balance(&wallet), before - amount);
		let withdrawal = pallet_btc_bridge::Withdrawals::<Runtime>::get(1).unwrap();
		assert_eq!(withdrawal.owner, wallet);
		assert_eq!(withdrawal.amount_sats, 10_000_000);
		// The EVM log wallets and indexers see.
		let logged = System::events().into_iter().any(|record| {
			matches!(
				record.event,
				RuntimeEvent::Revive(pallet_revive::Event::ContractEmitted { ref topics, .. })
					if topics.first().map(|t| t.0) ==
						Some(crate::precompiles::IBtcWithdrawal::WithdrawalRequested::SIGNATURE_HASH.0)
			)
		});
		assert!(logged, "WithdrawalRequested log");
		let status = call_withdrawal_precompile(&wallet, withdrawalCall { id: 1 }.abi_encode());
		let status = withdrawalCall::abi_decode_returns(&status.data).unwrap();
		assert_eq!((status.status, status.amountSats), (1, 10_000_000), "queued");

		// Bad input reverts with the reason and burns nothing.
		let balance = Balances::free_balance(&wallet);
		for (address, amount, reason) in [
			("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", amount, "WrongNetwork"),
			("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt081", amount, "InvalidEncoding"),
			(destination, amount + 1, "NotWholeSats"),
			(destination, 100 * tapchain_primitives::BASE_UNITS_PER_SAT, "WithdrawalTooSmall"),
			(destination, 20_000 * BASE_UNITS_PER_BTC, "InsufficientBalance"),
			(destination, 200_000 * BASE_UNITS_PER_BTC, "ExceedsBridgedSupply"),
		] {
			let output = call_withdrawal_precompile(
				&wallet,
				requestWithdrawalCall { btcAddress: address.into(), amount: U256::from(amount) }
					.abi_encode(),
			);
			assert_eq!(revert_reason(&output), reason, "{address}");
		}
		// BTC sent along with the call would be lost at the precompile's address: refused.
		let output = call_withdrawal_precompile_with_value(
			&wallet,
			requestWithdrawalCall { btcAddress: destination.into(), amount: U256::from(amount) }
				.abi_encode(),
			sp_core::U256::from(amount),
		);
		assert_eq!(revert_reason(&output), "NonPayable: the amount is an argument, send no value");
		assert_eq!(Balances::free_balance(&wallet), balance);
		assert_eq!(pallet_btc_bridge::NextWithdrawalId::<Runtime>::get(), 2);
	});
}

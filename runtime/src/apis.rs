//! Runtime APIs the node and clients call into.

// `vec!` is used inside `impl_runtime_apis_plus_revive_traits!`.
use alloc::{vec, vec::Vec};
use codec::Encode;
use frame_support::{
	genesis_builder_helper::{build_state, get_preset},
	traits::KeyOwnerProofSystem,
	weights::Weight,
};
use pallet_grandpa::AuthorityId as GrandpaId;
// Invoked by name inside `impl_runtime_apis_plus_revive_traits!`.
use sp_api::impl_runtime_apis;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_core::{crypto::KeyTypeId, OpaqueMetadata};
use sp_runtime::{
	traits::{Block as BlockT, NumberFor},
	transaction_validity::{TransactionSource, TransactionValidity},
	ApplyExtrinsicResult,
};
use sp_version::RuntimeVersion;

use super::{
	AccountId, Aura, Balance, Block, BlockNumber, BtcBridge, BtcCustody, BtcLightClient, Executive,
	Grandpa, Historical, InherentDataExt, Nonce, Runtime, RuntimeCall, RuntimeGenesisConfig,
	SessionKeys, System, TransactionPayment, VERSION,
};

// `impl_runtime_apis!` plus pallet-revive's `ReviveApi`, which eth-rpc calls for everything
// Ethereum (dry runs, gas estimates, receipts, balances).
pallet_revive::impl_runtime_apis_plus_revive_traits! {
	Runtime,
	Revive,
	Executive,
	EthExtraImpl,

	impl sp_api::Core<Block> for Runtime {
		fn version() -> RuntimeVersion {
			VERSION
		}

		fn execute_block(block: <Block as BlockT>::LazyBlock) {
			Executive::execute_block(block);
		}

		fn initialize_block(header: &<Block as BlockT>::Header) -> sp_runtime::ExtrinsicInclusionMode {
			Executive::initialize_block(header)
		}
	}

	impl sp_api::Metadata<Block> for Runtime {
		fn metadata() -> OpaqueMetadata {
			OpaqueMetadata::new(Runtime::metadata().into())
		}

		fn metadata_at_version(version: u32) -> Option<OpaqueMetadata> {
			Runtime::metadata_at_version(version)
		}

		fn metadata_versions() -> Vec<u32> {
			Runtime::metadata_versions()
		}
	}

	impl frame_support::view_functions::runtime_api::RuntimeViewFunction<Block> for Runtime {
		fn execute_view_function(
			id: frame_support::view_functions::ViewFunctionId,
			input: Vec<u8>,
		) -> Result<Vec<u8>, frame_support::view_functions::ViewFunctionDispatchError> {
			Runtime::execute_view_function(id, input)
		}
	}

	impl sp_block_builder::BlockBuilder<Block> for Runtime {
		fn apply_extrinsic(extrinsic: <Block as BlockT>::Extrinsic) -> ApplyExtrinsicResult {
			Executive::apply_extrinsic(extrinsic)
		}

		fn finalize_block() -> <Block as BlockT>::Header {
			Executive::finalize_block()
		}

		fn inherent_extrinsics(data: sp_inherents::InherentData) -> Vec<<Block as BlockT>::Extrinsic> {
			data.create_extrinsics()
		}

		fn check_inherents(
			block: <Block as BlockT>::LazyBlock,
			data: sp_inherents::InherentData,
		) -> sp_inherents::CheckInherentsResult {
			data.check_extrinsics(&block)
		}
	}

	impl sp_transaction_pool::runtime_api::TaggedTransactionQueue<Block> for Runtime {
		fn validate_transaction(
			source: TransactionSource,
			tx: <Block as BlockT>::Extrinsic,
			block_hash: <Block as BlockT>::Hash,
		) -> TransactionValidity {
			Executive::validate_transaction(source, tx, block_hash)
		}
	}

	impl sp_offchain::OffchainWorkerApi<Block> for Runtime {
		fn offchain_worker(header: &<Block as BlockT>::Header) {
			Executive::offchain_worker(header)
		}
	}

	impl sp_consensus_aura::AuraApi<Block, AuraId> for Runtime {
		fn slot_duration() -> sp_consensus_aura::SlotDuration {
			sp_consensus_aura::SlotDuration::from_millis(Aura::slot_duration())
		}

		fn authorities() -> Vec<AuraId> {
			pallet_aura::Authorities::<Runtime>::get().into_inner()
		}
	}

	impl sp_session::SessionKeys<Block> for Runtime {
		fn generate_session_keys(
			owner: Vec<u8>,
			seed: Option<Vec<u8>>,
		) -> sp_session::OpaqueGeneratedSessionKeys {
			SessionKeys::generate(&owner, seed).into()
		}

		fn decode_session_keys(
			encoded: Vec<u8>,
		) -> Option<Vec<(Vec<u8>, KeyTypeId)>> {
			SessionKeys::decode_into_raw_public_keys(&encoded)
		}
	}

	impl sp_consensus_grandpa::GrandpaApi<Block> for Runtime {
		fn grandpa_authorities() -> sp_consensus_grandpa::AuthorityList {
			Grandpa::grandpa_authorities()
		}

		fn current_set_id() -> sp_consensus_grandpa::SetId {
			pallet_grandpa::CurrentSetId::<Runtime>::get()
		}

		fn submit_report_equivocation_unsigned_extrinsic(
			equivocation_proof: sp_consensus_grandpa::EquivocationProof<
				<Block as BlockT>::Hash,
				NumberFor<Block>,
			>,
			key_owner_proof: sp_consensus_grandpa::OpaqueKeyOwnershipProof,
		) -> Option<()> {
			let key_owner_proof = key_owner_proof.decode()?;
			Grandpa::submit_unsigned_equivocation_report(equivocation_proof, key_owner_proof)
		}

		fn generate_key_ownership_proof(
			_set_id: sp_consensus_grandpa::SetId,
			authority_id: GrandpaId,
		) -> Option<sp_consensus_grandpa::OpaqueKeyOwnershipProof> {
			Historical::prove((sp_consensus_grandpa::KEY_TYPE, authority_id))
				.map(|proof| proof.encode())
				.map(sp_consensus_grandpa::OpaqueKeyOwnershipProof::new)
		}
	}

	impl frame_system_rpc_runtime_api::AccountNonceApi<Block, AccountId, Nonce> for Runtime {
		fn account_nonce(account: AccountId) -> Nonce {
			System::account_nonce(account)
		}
	}

	impl pallet_transaction_payment_rpc_runtime_api::TransactionPaymentApi<Block, Balance> for Runtime {
		fn query_info(
			uxt: <Block as BlockT>::Extrinsic,
			len: u32,
		) -> pallet_transaction_payment_rpc_runtime_api::RuntimeDispatchInfo<Balance> {
			TransactionPayment::query_info(uxt, len)
		}
		fn query_fee_details(
			uxt: <Block as BlockT>::Extrinsic,
			len: u32,
		) -> pallet_transaction_payment::FeeDetails<Balance> {
			TransactionPayment::query_fee_details(uxt, len)
		}
		fn query_weight_to_fee(weight: Weight) -> Balance {
			TransactionPayment::weight_to_fee(weight)
		}
		fn query_length_to_fee(length: u32) -> Balance {
			TransactionPayment::length_to_fee(length)
		}
	}

	impl pallet_transaction_payment_rpc_runtime_api::TransactionPaymentCallApi<Block, Balance, RuntimeCall>
		for Runtime
	{
		fn query_call_info(
			call: RuntimeCall,
			len: u32,
		) -> pallet_transaction_payment::RuntimeDispatchInfo<Balance> {
			TransactionPayment::query_call_info(call, len)
		}
		fn query_call_fee_details(
			call: RuntimeCall,
			len: u32,
		) -> pallet_transaction_payment::FeeDetails<Balance> {
			TransactionPayment::query_call_fee_details(call, len)
		}
		fn query_weight_to_fee(weight: Weight) -> Balance {
			TransactionPayment::weight_to_fee(weight)
		}
		fn query_length_to_fee(length: u32) -> Balance {
			TransactionPayment::length_to_fee(length)
		}
	}

	impl pallet_btc_custody::runtime_api::BtcCustodyApi<Block, AccountId> for Runtime {
		fn pending_tasks(validator: AccountId) -> Vec<pallet_btc_custody::CustodyTask> {
			BtcCustody::pending_tasks(&validator)
		}

		fn registration(
			validator: AccountId,
		) -> Option<(pallet_btc_custody::CustodyIdentity, pallet_btc_custody::EncryptionKey, Vec<u8>)> {
			BtcCustody::registration(&validator)
		}

		fn current_custody_key() -> Option<(u32, pallet_btc_custody::DkgId, [u8; 32])> {
			BtcCustody::current_custody_key()
		}

		fn validator_of_session_key(session_key: Vec<u8>) -> Option<AccountId> {
			BtcCustody::validator_of_session_key(&session_key)
		}

		fn signatures(session_id: pallet_btc_custody::SigningSessionId) -> Option<Vec<[u8; 64]>> {
			pallet_btc_custody::Signatures::<Runtime>::get(session_id).map(|s| s.into_inner())
		}

		fn next_registration_nonce(validator: AccountId) -> u32 {
			pallet_btc_custody::RegistrationNonces::<Runtime>::get(validator)
		}

		fn retired_key_dkg_ids() -> Vec<pallet_btc_custody::DkgId> {
			BtcCustody::retired_key_dkg_ids()
		}
	}

	impl pallet_btc_bridge::runtime_api::BtcBridgeApi<
		Block,
		AccountId,
		BlockNumber,
		pallet_btc_bridge::Proposal<Runtime>,
	> for Runtime {
		fn deposit_address() -> Option<pallet_btc_bridge::runtime_api::DepositAddress> {
			BtcBridge::deposit_address_info()
		}

		fn fee_rate() -> u64 {
			BtcBridge::fee_rate()
		}

		fn minimum_withdrawal_sats(
			address: Vec<u8>,
		) -> Result<u64, tapchain_primitives::bitcoin::AddressError> {
			BtcBridge::minimum_withdrawal_for(&address)
		}

		fn withdrawal(
			id: pallet_btc_bridge::WithdrawalId,
		) -> Option<pallet_btc_bridge::Withdrawal<AccountId, BlockNumber>> {
			pallet_btc_bridge::Withdrawals::<Runtime>::get(id)
		}

		fn active_proposal(
		) -> Option<(pallet_btc_bridge::ProposalId, pallet_btc_bridge::Proposal<Runtime>)> {
			let id = pallet_btc_bridge::ActiveProposal::<Runtime>::get()?;
			pallet_btc_bridge::Proposals::<Runtime>::get(id).map(|proposal| (id, proposal))
		}

		fn proposal(
			id: pallet_btc_bridge::ProposalId,
		) -> Option<pallet_btc_bridge::Proposal<Runtime>> {
			pallet_btc_bridge::Proposals::<Runtime>::get(id)
		}

		fn proposal_check(
			id: pallet_btc_bridge::ProposalId,
		) -> Option<pallet_btc_bridge::ProposalCheck> {
			BtcBridge::proposal_check(id)
		}

		fn signed_transaction(id: pallet_btc_bridge::ProposalId) -> Option<Vec<u8>> {
			pallet_btc_bridge::SignedTransactions::<Runtime>::get(id).map(|tx| tx.into_inner())
		}

		fn deposit(
			outpoint: tapchain_primitives::bitcoin::OutPoint,
		) -> Option<pallet_btc_bridge::DepositRecord<AccountId>> {
			pallet_btc_bridge::Deposits::<Runtime>::get(outpoint)
		}

		fn backing() -> pallet_btc_bridge::BridgeBacking {
			BtcBridge::backing()
		}

		fn deposit_scripts() -> Vec<(u32, Vec<u8>)> {
			BtcBridge::deposit_scripts()
		}

		fn signed_in_flight() -> Vec<(pallet_btc_bridge::ProposalId, Vec<u8>)> {
			BtcBridge::signed_in_flight()
		}

		fn vault_capacities() -> Vec<pallet_btc_bridge::runtime_api::VaultCapacity> {
			BtcBridge::vault_capacities()
		}

		fn ballot(
			id: pallet_btc_bridge::ProposalId,
			validator: AccountId,
		) -> Option<pallet_btc_bridge::Ballot> {
			pallet_btc_bridge::ProposalVotes::<Runtime>::get(id, validator)
		}
	}

	impl pallet_btc_light_client::runtime_api::BtcLightClientApi<Block> for Runtime {
		fn best_tip() -> Option<pallet_btc_light_client::ChainTip> {
			BtcLightClient::best_tip()
		}

		fn height_of(hash: tapchain_primitives::bitcoin::BlockHash) -> Option<u32> {
			BtcLightClient::height_of(hash)
		}

		fn header_at(height: u32) -> Option<tapchain_primitives::bitcoin::BlockHeader> {
			BtcLightClient::header_at(height)
		}

		fn confirmations(
			raw_tx: Vec<u8>,
			proof: pallet_btc_light_client::MerkleProof,
			block_hash: tapchain_primitives::bitcoin::BlockHash,
		) -> Result<u32, pallet_btc_light_client::SpvError> {
			BtcLightClient::verify_inclusion(&raw_tx, &proof, block_hash).map(|inclusion| inclusion.confirmations)
		}
	}

	#[cfg(feature = "runtime-benchmarks")]
	impl frame_benchmarking::Benchmark<Block> for Runtime {
		fn benchmark_metadata(extra: bool) -> (
			Vec<frame_benchmarking::BenchmarkList>,
			Vec<frame_support::traits::StorageInfo>,
		) {
			use frame_benchmarking::BenchmarkList;
			use frame_support::traits::StorageInfoTrait;
			use super::*;

			let mut list = Vec::<BenchmarkList>::new();
			list_benchmarks!(list, extra);
			let storage_info = AllPalletsWithSystem::storage_info();
			(list, storage_info)
		}

		#[allow(non_local_definitions)]
		fn dispatch_benchmark(
			config: frame_benchmarking::BenchmarkConfig
		) -> Result<Vec<frame_benchmarking::BenchmarkBatch>, alloc::string::String> {
			use frame_benchmarking::BenchmarkBatch;
			use frame_support::traits::WhitelistedStorageKeys;
			use sp_storage::TrackedStorageKey;
			use super::*;

			let whitelist: Vec<TrackedStorageKey> = AllPalletsWithSystem::whitelisted_storage_keys();
			let mut batches = Vec::<BenchmarkBatch>::new();
			let params = (&config, &whitelist);
			add_benchmarks!(params, batches);
			Ok(batches)
		}
	}

	impl sp_genesis_builder::GenesisBuilder<Block> for Runtime {
		fn build_state(config: Vec<u8>) -> sp_genesis_builder::Result {
			build_state::<RuntimeGenesisConfig>(config)
		}

		fn get_preset(id: &Option<sp_genesis_builder::PresetId>) -> Option<Vec<u8>> {
			get_preset::<RuntimeGenesisConfig>(id, crate::genesis_config_presets::get_preset)
		}

		fn preset_names() -> Vec<sp_genesis_builder::PresetId> {
			crate::genesis_config_presets::preset_names()
		}
	}
}

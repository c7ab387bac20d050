//! # Tapchain runtime
//!
//! A proof-of-stake chain whose native token is **BTC**. Validators are elected by stake
//! (`pallet-staking`, NPoS with an on-chain election) once per era; `pallet-session` hands
//! the elected set to Aura (block production) and GRANDPA (finality) at session boundaries.
//!
//! ## The native token
//!
//! BTC with **18 decimals**: 1 BTC = 10^18 base units and 1 sat = 10^10 base units, so one
//! base unit is exactly one wei for EVM tooling. Bitcoin cannot be created on this chain: it
//! only enters through proven deposits. Therefore **staking mints nothing**
//! (`EraPayout = ()`): validators are paid from transaction fees, which go entirely to the
//! author of the block that includes them.
//!
//! ## Fees and deposits, priced for a token worth a lot
//!
//! - Existential deposit: [`EXISTENTIAL_DEPOSIT`] = 100 sats. An account must hold this much
//!   to exist, so creating a million dust accounts costs 1 BTC, while any deposit that is
//!   worth bridging clears it by far.
//! - Weight fee: [`configs::WEIGHT_FEE_PER_REF_TIME`] base units per unit of `ref_time`
//!   (one picosecond of reference compute). A plain balance transfer (~0.2 ms of weight)
//!   costs about 10 sats, one full second of block compute about 0.0005 BTC.
//! - Length fee: [`configs::LENGTH_FEE_PER_BYTE`] base units (0.01 sat) per encoded byte.
//! - Proof size (`proof_size` weight) is priced at the same rate per share of the block as
//!   `ref_time` (pallet-revive's `BlockRatioFee`); on this solochain blocks carry no PoV, so the
//!   proof-size limit is effectively unbounded and `ref_time` decides the fee.
//! - The fee multiplier is fixed at 1, so a fee quoted now is the fee charged later.
//!
//! ## The EVM
//!
//! `pallet-revive` runs plain solc EVM bytecode (`AllowEVMBytecode`) and accepts raw signed
//! Ethereum transactions as extrinsics (`eth_transact`), served to wallets by
//! `tapchain-node eth-rpc`. BTC pays gas and one base unit is one wei
//! (`NativeToEthRatio = 1`), so `eth_getBalance` shows the native balance in the same units:
//! the spendable part of it, i.e. all but the existential deposit.
//! The chain ID is set in genesis, one per preset ([`evm_chain_id`]).
//!
//! Gas is the fee expressed in units of the gas price: the gas price is
//! [`configs::EVM_GAS_PRICE_WEI`] (fee multiplier 1 x ratio 1 x `GasScale`), chosen so that
//! gas figures resemble Ethereum's (a plain value transfer to an existing account uses just
//! under 21,000 gas).
//! A transaction costs exactly `gasUsed * effectiveGasPrice`: the Substrate fee (weight +
//! length) plus any storage deposit, rounded up to a whole number of gas.
//!
//! ### Accounts
//!
//! An account has a 32-byte id and a 20-byte EVM address (`AccountId32Mapper`):
//! - an Ethereum key's account id is its H160 followed by twelve `0xEE` bytes, so the H160 of
//!   such an account is its first 20 bytes. To send native BTC to an H160 from a Substrate
//!   wallet, transfer to that 32-byte id (`0x<h160>eeeeeeeeeeeeeeeeeeeeeeee`);
//! - a native (sr25519/ed25519) account's H160 is the last 20 bytes of the keccak-256 of its
//!   account id. Accounts are mapped automatically when they are created (`AutoMap`), so an
//!   EVM transfer or call to that H160 reaches the native account without any extra step.
#![cfg_attr(not(feature = "std"), no_std)]
// `construct_runtime` with a dozen pallets needs a deeper recursion limit.
#![recursion_limit = "256"]

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

extern crate alloc;

pub mod apis;
pub mod configs;
pub mod evm_chain_id;
pub mod genesis_config_presets;
pub mod precompiles;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use sp_runtime::{
	generic, impl_opaque_keys,
	traits::{BlakeTwo256, IdentifyAccount, Verify},
	MultiAddress, MultiSignature,
};
use sp_version::RuntimeVersion;

pub use frame_system::Call as SystemCall;
pub use pallet_balances::Call as BalancesCall;
pub use pallet_timestamp::Call as TimestampCall;
#[cfg(any(feature = "std", test))]
pub use sp_runtime::BuildStorage;
pub use tapchain_primitives::{
	Balance, BlockNumber, BASE_UNITS_PER_BTC, BASE_UNITS_PER_SAT, TOKEN_DECIMALS, TOKEN_SYMBOL,
};

/// Opaque types. These are used by the CLI to instantiate machinery that don't need to know
/// the specifics of the runtime.
pub mod opaque {
	use super::*;
	use sp_runtime::traits::Hash as HashT;

	pub use sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;

	/// Opaque block header type.
	pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
	/// Opaque block type.
	pub type Block = generic::Block<Header, UncheckedExtrinsic>;
	/// Opaque block identifier type.
	pub type BlockId = generic::BlockId<Block>;
	/// Opaque block hash type.
	pub type Hash = <BlakeTwo256 as HashT>::Output;
}

impl_opaque_keys! {
	/// The keys a validator's node signs with: Aura for blocks, GRANDPA for finality.
	pub struct SessionKeys {
		pub aura: Aura,
		pub grandpa: Grandpa,
	}
}

#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: alloc::borrow::Cow::Borrowed("tapchain"),
	impl_name: alloc::borrow::Cow::Borrowed("tapchain"),
	authoring_version: 1,
	spec_version: 106,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 1,
	system_version: 1,
};

mod block_times {
	/// Target block time: one block every 6 seconds.
	pub const MILLI_SECS_PER_BLOCK: u64 = 6000;

	// NOTE: the slot duration cannot change once the chain has started.
	pub const SLOT_DURATION: u64 = MILLI_SECS_PER_BLOCK;
}
pub use block_times::*;

// Time is measured by number of blocks.
pub const MINUTES: BlockNumber = 60_000 / (MILLI_SECS_PER_BLOCK as BlockNumber);
pub const HOURS: BlockNumber = MINUTES * 60;
pub const DAYS: BlockNumber = HOURS * 24;

/// Length of a session: validators' keys and the Aura/GRANDPA authorities change only at
/// session boundaries.
pub const SESSION_PERIOD_IN_BLOCKS: BlockNumber = 10 * MINUTES;

/// Sessions in a staking era (one hour): a new validator set is elected every era.
pub const SESSIONS_PER_ERA: sp_staking::SessionIndex = 6;

/// The most validators the chain supports in one set (Aura, GRANDPA and election bounds).
pub const MAX_VALIDATORS: u32 = 1_000;

/// The most validators staking may elect: all of them, since custody deals them into vaults
/// of at most `CustodyMaxParticipants` members (at most `CustodyMaxVaults` vaults), and each
/// one's vote on a bridge proposal fits the voting window (the bridge's integrity test).
/// `set_validator_count` refuses more (`TooManyValidators`).
pub const MAX_ELECTED_VALIDATORS: u32 = MAX_VALIDATORS;

/// One satoshi in base units.
pub const SATS: Balance = BASE_UNITS_PER_SAT;

/// Existential deposit: 100 sats. See the crate docs for why.
pub const EXISTENTIAL_DEPOSIT: Balance = 100 * SATS;

/// Alias to 512-bit hash when used in the context of a transaction signature on the chain.
pub type Signature = MultiSignature;

/// Some way of identifying an account on the chain.
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;

/// Index of a transaction in the chain.
pub type Nonce = u32;

/// A hash of some data used by the chain.
pub type Hash = sp_core::H256;

/// The address format for describing accounts.
pub type Address = MultiAddress<AccountId, ()>;

/// Block header type as expected by this runtime.
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;

/// Block type as expected by this runtime.
pub type Block = generic::Block<Header, UncheckedExtrinsic>;

/// A Block signed with a Justification.
pub type SignedBlock = generic::SignedBlock<Block>;

/// BlockId type as expected by this runtime.
pub type BlockId = generic::BlockId<Block>;

/// The transaction extensions applied to every signed transaction, native or Ethereum.
pub type TxExtension = (
	frame_system::CheckNonZeroSender<Runtime>,
	frame_system::CheckSpecVersion<Runtime>,
	frame_system::CheckTxVersion<Runtime>,
	frame_system::CheckGenesis<Runtime>,
	frame_system::CheckEra<Runtime>,
	frame_system::CheckNonce<Runtime>,
	frame_system::CheckWeight<Runtime>,
	pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
	frame_metadata_hash_extension::CheckMetadataHash<Runtime>,
	// Turns the origin of an Ethereum transaction into `EthTransaction`; it must come after
	// every extension that needs a signed origin. Encodes to nothing for native transactions.
	pallet_revive::evm::tx_extension::SetOrigin<Runtime>,
	// Last, so that it sees the refunds of every extension before it.
	frame_system::WeightReclaim<Runtime>,
);

/// The extensions pallet-revive applies to a raw Ethereum transaction once its signature is
/// recovered: the same checks as a native transaction, immortal, with the Ethereum nonce.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EthExtraImpl;

impl pallet_revive::evm::runtime::EthExtra for EthExtraImpl {
	type Config = Runtime;
	type ExtensionV0 = TxExtension;
	type ExtensionOtherVersions = sp_runtime::traits::InvalidVersion;

	fn get_eth_extension(nonce: Nonce, tip: Balance) -> Self::ExtensionV0 {
		(
			frame_system::CheckNonZeroSender::<Runtime>::new(),
			frame_system::CheckSpecVersion::<Runtime>::new(),
			frame_system::CheckTxVersion::<Runtime>::new(),
			frame_system::CheckGenesis::<Runtime>::new(),
			frame_system::CheckMortality::<Runtime>::from(generic::Era::Immortal),
			frame_system::CheckNonce::<Runtime>::from(nonce),
			frame_system::CheckWeight::<Runtime>::new(),
			pallet_transaction_payment::ChargeTransactionPayment::<Runtime>::from(tip),
			frame_metadata_hash_extension::CheckMetadataHash::<Runtime>::new(false),
			pallet_revive::evm::tx_extension::SetOrigin::<Runtime>::new_from_eth_transaction(),
			frame_system::WeightReclaim::<Runtime>::new(),
		)
	}
}

/// Unchecked extrinsic type as expected by this runtime: a native extrinsic, or a raw
/// Ethereum transaction wrapped in `Revive::eth_transact`.
pub type UncheckedExtrinsic =
	pallet_revive::evm::runtime::UncheckedExtrinsic<Address, Signature, EthExtraImpl>;

/// The payload being signed in transactions.
pub type SignedPayload = generic::SignedPayload<RuntimeCall, TxExtension>;

/// The transaction extensions of a native signed transaction: immortal, no tip, no
/// metadata hash. For tools and tests that sign transactions themselves.
pub fn native_tx_extension(nonce: Nonce) -> TxExtension {
	(
		frame_system::CheckNonZeroSender::new(),
		frame_system::CheckSpecVersion::new(),
		frame_system::CheckTxVersion::new(),
		frame_system::CheckGenesis::new(),
		frame_system::CheckEra::from(generic::Era::Immortal),
		frame_system::CheckNonce::from(nonce),
		frame_system::CheckWeight::new(),
		pallet_transaction_payment::ChargeTransactionPayment::from(0),
		frame_metadata_hash_extension::CheckMetadataHash::new(false),
		pallet_revive::evm::tx_extension::SetOrigin::default(),
		frame_system::WeightReclaim::new(),
	)
}

/// What a native transaction's signature covers besides the call and the extensions: the
/// spec and transaction versions and the genesis hash (twice: immortal era).
pub fn native_tx_implicit(
	genesis_hash: Hash,
) -> <TxExtension as sp_runtime::traits::TransactionExtension<RuntimeCall>>::Implicit {
	(
		(),
		VERSION.spec_version,
		VERSION.transaction_version,
		genesis_hash,
		genesis_hash,
		(),
		(),
		(),
		None,
		(),
		(),
	)
}

#[cfg(feature = "runtime-benchmarks")]
mod benches {
	frame_benchmarking::define_benchmarks!(
		[pallet_btc_light_client, BtcLightClient]
		[pallet_btc_bridge, BtcBridge]
		[pallet_btc_custody, BtcCustody]
	);
}

/// All migrations of the runtime, aside from the ones declared in the pallets.
#[allow(unused_parens)]
type Migrations = ();

/// Executive: handles dispatch to the various modules.
pub type Executive = frame_executive::Executive<
	Runtime,
	Block,
	frame_system::ChainContext<Runtime>,
	Runtime,
	AllPalletsWithSystem,
	Migrations,
>;

// Order matters for hooks: Session must initialise after Staking's dependencies and before
// Aura/GRANDPA read the new authorities; Authorship must come before Session so that block
// authors are noted for the era being paid.
#[frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Runtime;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;

	#[runtime::pallet_index(1)]
	pub type Timestamp = pallet_timestamp;

	#[runtime::pallet_index(2)]
	pub type Balances = pallet_balances;

	#[runtime::pallet_index(3)]
	pub type TransactionPayment = pallet_transaction_payment;

	#[runtime::pallet_index(4)]
	pub type Authorship = pallet_authorship;

	#[runtime::pallet_index(5)]
	pub type Staking = pallet_staking;

	#[runtime::pallet_index(6)]
	pub type Offences = pallet_offences;

	#[runtime::pallet_index(7)]
	pub type Historical = pallet_session::historical;

	#[runtime::pallet_index(8)]
	pub type Session = pallet_session;

	#[runtime::pallet_index(9)]
	pub type Aura = pallet_aura;

	#[runtime::pallet_index(10)]
	pub type Grandpa = pallet_grandpa;

	#[runtime::pallet_index(11)]
	pub type Sudo = pallet_sudo;

	#[runtime::pallet_index(20)]
	pub type BtcLightClient = pallet_btc_light_client;

	#[runtime::pallet_index(21)]
	pub type BtcCustody = pallet_btc_custody;

	#[runtime::pallet_index(22)]
	pub type BtcBridge = pallet_btc_bridge;

	/// The EVM. eth-rpc's client is generated for a pallet of this name.
	#[runtime::pallet_index(30)]
	pub type Revive = pallet_revive;

	/// The EVM chain ID, set in genesis (`evm_chain_id.rs`).
	#[runtime::pallet_index(31)]
	pub type EvmChainId = crate::evm_chain_id;
}

//! # BTC bridge
//!
//! Bitcoin comes in through a proven deposit and goes out only when two thirds of the
//! validators approve one exact Bitcoin transaction and the custody key signs it.
//!
//! - **Deposits.** [`Call::submit_deposit`] (anyone) proves a transaction to the light client
//!   with [`RequiredConfirmations`]. Every output paying the P2TR address of the current key
//!   epoch (or of an older epoch still being swept) is recorded as a bridge UTXO once, and
//!   credited `sats * 10^10` base units to the account its memo names (see
//!   [`tapchain_primitives::bridge`] for the memo format). Without a valid memo, or below
//!   [`Config::MinDepositSats`], the deposit is recorded as unclaimed (governance can assign
//!   it later with [`Call::assign_unclaimed_deposit`]); its coins still back the bridge.
//! - **Withdrawals.** [`Call::request_withdrawal`] parses the address for the light client's
//!   network, burns the amount and queues it. The EVM reaches the same path through the
//!   withdrawal precompile.
//! - **Proposals.** When requests wait and no proposal is in flight, `on_initialize` builds
//!   one transaction deterministically ([`builder`]): inputs from the current epoch's UTXOs,
//!   one output per request, change to the custody address; fee = median of the validators'
//!   fee-rate reports (clamped to the governed [`FeeRateBounds`]) x exact vsize, shared
//!   equally by the requests. The proposal stores the unsigned transaction and its BIP-341
//!   sighashes.
//! - **Vote.** Each validator's node checks the proposal on its own and votes
//!   ([`Call::vote_on_proposal`], unsigned, signed by its custody identity). With more than
//!   two thirds approving (`floor(2n/3) + 1`, the custody threshold) the bridge asks custody
//!   to sign the sighashes, by the approvers; with more than one third rejecting (or no
//!   decision before [`Config::VotingBlocks`]) the proposal is dropped and its requests go
//!   back to the front of the queue. Votes are taken for the whole window, even after the
//!   decision (recorded only); validators that cast none are reported to custody's offence
//!   path as silent ([`Event::VoteSilenceReported`], no slash), so a validator that is down
//!   is named even though the others carry on without it.
//! - **Signed transaction.** Once custody's signatures arrive, each is verified against
//!   the epoch's output key, the witnesses are assembled and the signed transaction is
//!   stored and emitted ([`Event::TransactionSigned`]) for relayers to broadcast.
//! - **Confirmation.** [`Call::submit_withdrawal_proof`] (anyone) proves the transaction
//!   with the required confirmations: the requests are paid, the spent UTXOs removed, the
//!   change added.
//! - **Rotation sweep.** When custody starts a new key epoch, the older epoch's UTXOs are
//!   swept to the new address through the same vote and signing path, before any new
//!   payout; once none is left the epoch is retired in custody.
//!
//! Supply invariant: every base unit minted is backed by a bridge UTXO (credited deposits),
//! and every base unit burned by a withdrawal leaves the UTXO set only through a transaction
//! two thirds of the validators approved.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "runtime-benchmarks")]
pub use benchmarking::BenchmarkHelper;
pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
pub mod builder;
#[cfg(test)]
mod mock;
pub mod runtime_api;
#[cfg(test)]
mod tests;
pub mod weights;

pub use weights::WeightInfo;

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{pallet_prelude::*, traits::ConstU32};
use scale_info::TypeInfo;
use tapchain_primitives::bitcoin::{BlockHash, OutPoint, Txid};
pub use tapchain_primitives::bridge::{BridgeUtxo, ProposalCheck, ProposalKind};

/// Identifies a withdrawal request.
pub type WithdrawalId = u64;
/// Identifies a transaction proposal.
pub type ProposalId = u64;
/// Longest address string (bech32 limit).
pub type MaxAddressLen = ConstU32<90>;
/// Longest output script a withdrawal may pay (P2WSH/P2TR: 34 bytes).
pub type MaxScriptLen = ConstU32<34>;
/// Largest bridge transaction (64 inputs and 51 outputs take under 10 kB signed).
pub type MaxTransactionBytes = ConstU32<16_384>;
/// Largest deposit transaction accepted for proof (Bitcoin's standardness limit is 100 kvB).
pub const MAX_DEPOSIT_TX_BYTES: usize = 400_000;

/// Fee reports older than this many blocks (an hour of 6-second blocks) no longer count: a
/// validator whose Bitcoin node went quiet stops steering the fee.
pub const FEE_REPORT_MAX_AGE_BLOCKS: u32 = 600;

/// Weight of re-checking one custody signature (BIP-340 with `k256` in wasm) before the
/// witnesses are assembled: an estimate (1 ms), not yet benchmarked.
pub const SIGNATURE_CHECK_WEIGHT: frame_support::weights::Weight =
	frame_support::weights::Weight::from_parts(1_000_000_000, 0);

/// The custody service the bridge needs: key epochs, the validators and their identities,
/// and threshold signatures.
pub trait CustodyKeys<AccountId> {
	/// The newest key epoch (the deposit address), if any.
	fn current_epoch() -> Option<u32>;
	/// An epoch's Taproot output key, unless unknown or retired.
	fn output_key(epoch: u32) -> Option<[u8; 32]>;
	/// The current validators (the voters).
	fn validators() -> Vec<AccountId>;
	/// The validator whose registered custody identity `identity` is.
	fn validator_of_identity(identity: &[u8; 32]) -> Option<AccountId>;
	/// Opens a signing session; returns its id.
	fn request_signatures(
		epoch: u32,
		messages: Vec<[u8; 32]>,
		allowed: Option<Vec<AccountId>>,
	) -> Result<u64, DispatchError>;
	/// Where a signing session stands.
	fn signing_status(session_id: u64) -> SigningStatus;
	/// Marks an epoch's funds as moved: it signs nothing more.
	fn retire_epoch(epoch: u32) -> DispatchResult;
	/// Reports validators that did not vote on a proposal within its voting window (an
	/// offence of silence).
	fn report_vote_silence(validators: &[AccountId]);
}

/// A signing session's state, as custody reports it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SigningStatus {
	/// Still collecting commitments or shares.
	Pending,
	/// One BIP-340 signature per message, in order.
	Ready(Vec<[u8; 64]>),
	/// Closed without signatures (too few signers left).
	Failed,
}

/// Maps a deposit memo's recipient to an account.
pub trait DepositAccounts<AccountId> {
	/// The account an EVM address (20 bytes) stands for.
	fn evm_account(address: [u8; 20]) -> AccountId;
	/// The native account with these 32 bytes.
	fn native_account(account: [u8; 32]) -> AccountId;
}

/// Why a deposit was not credited.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub enum UnclaimedReason {
	/// No `TC` memo in the transaction.
	NoMemo,
	/// More than one `TC` memo, or a malformed one.
	AmbiguousMemo,
	/// Below [`Config::MinDepositSats`].
	BelowMinimum,
	/// The account could not receive the amount (e.g. below the existential deposit).
	CreditFailed,
}

/// What happened to an output paying a custody address.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum DepositOutcome<AccountId> {
	/// Minted to this account.
	Credited { account: AccountId },
	/// Recorded, not credited.
	Unclaimed { reason: UnclaimedReason },
	/// Unclaimed, then assigned by governance.
	Assigned { account: AccountId },
	/// Change (or sweep output) of a bridge transaction: never a deposit.
	BridgeOutput { proposal_id: ProposalId },
}

/// Every custody output the bridge has seen, by outpoint: an outpoint is credited once.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct DepositRecord<AccountId> {
	pub value_sats: u64,
	pub epoch: u32,
	pub bitcoin_block: BlockHash,
	pub outcome: DepositOutcome<AccountId>,
}

/// Where a withdrawal stands.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub enum WithdrawalStatus {
	/// Waiting for a proposal.
	Queued,
	/// In a proposal (voting, signing, signed or waiting for confirmation).
	Proposed { proposal_id: ProposalId },
	/// Paid by a confirmed transaction.
	Paid { proposal_id: ProposalId, txid: Txid },
	/// The amount could not pay its fee share above the dust limit: burned amount minted back.
	Refunded,
}

/// A withdrawal request.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Withdrawal<AccountId, BlockNumber> {
	pub owner: AccountId,
	/// The address as the user gave it.
	pub address: BoundedVec<u8, MaxAddressLen>,
	/// The output script the address stands for.
	pub script_pubkey: BoundedVec<u8, MaxScriptLen>,
	/// Amount burned; the output pays this minus the request's fee share.
	pub amount_sats: u64,
	pub requested_at: BlockNumber,
	pub status: WithdrawalStatus,
}

/// Where a proposal stands.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub enum ProposalStatus<BlockNumber> {
	/// Validators are voting until `deadline`.
	Voting { deadline: BlockNumber },
	/// Approved; the signing session is being opened.
	Approved,
	/// Custody is signing.
	Signing { session_id: u64 },
	/// Signed: waiting for a relayer to prove it confirmed.
	Signed,
	/// Confirmed on Bitcoin.
	Confirmed { bitcoin_block: BlockHash },
	/// More than a third of the validators rejected it.
	Rejected,
	/// No decision before the deadline.
	Expired,
}

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use crate::builder::{self, BuildError, PayoutRequest, SpendableUtxo};
	use frame_support::traits::{
		fungible::{Inspect, Mutate},
		tokens::{Fortitude, Precision, Preservation},
	};
	use frame_system::pallet_prelude::*;
	use pallet_btc_light_client::{MerkleProof, SpvError};
	use sp_runtime::traits::Saturating;
	use tapchain_primitives::{
		bitcoin::{
			address::p2tr_script_pubkey, key_spend_sighashes, AddressError, BitcoinAddress,
			Transaction, TxOut,
		},
		bridge::{BridgeMessage, DepositRecipient, FeeRateReport, MemoParse, ProposalVote},
		custody::{verify_bip340, AuthSignature},
		sats_to_base_units, Balance, BASE_UNITS_PER_SAT,
	};

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config + pallet_btc_light_client::Config {
		#[allow(deprecated)]
		type RuntimeEvent: From<Event<Self>> + IsType<<Self as frame_system::Config>::RuntimeEvent>;

		/// The native token (BTC, 18 decimals): minted for deposits, burned for withdrawals.
		type Currency: Mutate<Self::AccountId> + Inspect<Self::AccountId, Balance = Balance>;

		/// Accounts named by deposit memos.
		type DepositAccounts: DepositAccounts<Self::AccountId>;

		/// Key epochs, validators and threshold signatures.
		type Custody: CustodyKeys<Self::AccountId>;

		/// Smallest deposit credited, in sats (smaller ones are recorded as unclaimed).
		#[pallet::constant]
		type MinDepositSats: Get<u64>;

		/// Most withdrawals one transaction pays.
		#[pallet::constant]
		type MaxWithdrawalsPerProposal: Get<u32>;

		/// Most inputs of one transaction (at most custody's messages per signing session).
		#[pallet::constant]
		type MaxInputsPerProposal: Get<u32>;

		/// Most withdrawals waiting in the queue.
		#[pallet::constant]
		type MaxQueuedWithdrawals: Get<u32>;

		/// Most validators (voters).
		#[pallet::constant]
		type MaxVoters: Get<u32>;

		/// Blocks a proposal may wait for its two-thirds decision.
		#[pallet::constant]
		type VotingBlocks: Get<BlockNumberFor<Self>>;

		/// Priority of votes and fee reports in the transaction pool.
		#[pallet::constant]
		type UnsignedPriority: Get<TransactionPriority>;

		/// Weights from this pallet's benchmarks.
		type WeightInfo: WeightInfo;

		/// Sets up what the benchmarks need from the runtime (a custody key epoch).
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: crate::BenchmarkHelper;
	}

	/// Capacity of the queue: new requests fill up to `MaxQueuedWithdrawals`; a dropped
	/// proposal's requests always fit back in front.
	pub struct QueueCapacity<T>(PhantomData<T>);
	impl<T: Config> Get<u32> for QueueCapacity<T> {
		fn get() -> u32 {
			T::MaxQueuedWithdrawals::get() + T::MaxWithdrawalsPerProposal::get()
		}
	}

	/// A transaction proposal.
	#[derive(
		CloneNoBound,
		PartialEqNoBound,
		EqNoBound,
		Encode,
		Decode,
		MaxEncodedLen,
		TypeInfo,
		DebugNoBound,
	)]
	#[scale_info(skip_type_params(T))]
	pub struct Proposal<T: Config> {
		pub kind: ProposalKind,
		/// The key epoch whose key signs (the inputs' epoch).
		pub epoch: u32,
		/// `(withdrawal, sats paid)` in output order.
		pub payouts: BoundedVec<(WithdrawalId, u64), T::MaxWithdrawalsPerProposal>,
		/// Spent bridge UTXOs with their amounts, in input order.
		pub inputs: BoundedVec<(OutPoint, u64), T::MaxInputsPerProposal>,
		/// The transaction without witnesses.
		pub unsigned_tx: BoundedVec<u8, MaxTransactionBytes>,
		pub txid: Txid,
		/// BIP-341 key-path sighash of every input, in input order: what custody signs.
		pub sighashes: BoundedVec<[u8; 32], T::MaxInputsPerProposal>,
		pub fee_sats: u64,
		pub fee_rate_sat_per_vb: u64,
		pub vsize: u64,
		/// The output that returns to custody (change or sweep): `(vout, sats, epoch)`.
		pub custody_output: Option<(u32, u64, u32)>,
		pub approvals: BoundedVec<T::AccountId, T::MaxVoters>,
		pub rejections: BoundedVec<T::AccountId, T::MaxVoters>,
		pub status: ProposalStatus<BlockNumberFor<T>>,
		pub created_at: BlockNumberFor<T>,
	}

	/// Confirmations a deposit or withdrawal transaction needs (6 on mainnet).
	#[pallet::storage]
	pub type RequiredConfirmations<T> = StorageValue<_, u32, ValueQuery>;

	/// Governed bounds of the fee rate, sat/vB: `(min, max)`.
	#[pallet::storage]
	pub type FeeRateBounds<T> = StorageValue<_, (u64, u64), ValueQuery>;

	/// Each validator's latest fee-rate report: `(sat/vB, block it was made at)`.
	#[pallet::storage]
	pub type FeeRateReports<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, (u64, u32)>;

	/// The bridge's unspent outputs.
	#[pallet::storage]
	pub type Utxos<T> = CountedStorageMap<_, Blake2_128Concat, OutPoint, BridgeUtxo>;

	/// Every custody output ever recorded: the same outpoint is never credited twice.
	#[pallet::storage]
	pub type Deposits<T: Config> =
		StorageMap<_, Blake2_128Concat, OutPoint, DepositRecord<T::AccountId>>;

	/// Id of the next withdrawal.
	#[pallet::storage]
	pub type NextWithdrawalId<T> = StorageValue<_, WithdrawalId, ValueQuery>;

	/// Withdrawal requests by id.
	#[pallet::storage]
	pub type Withdrawals<T: Config> =
		StorageMap<_, Twox64Concat, WithdrawalId, Withdrawal<T::AccountId, BlockNumberFor<T>>>;

	/// Queued withdrawals, oldest first.
	#[pallet::storage]
	pub type WithdrawalQueue<T: Config> =
		StorageValue<_, BoundedVec<WithdrawalId, QueueCapacity<T>>, ValueQuery>;

	/// Id of the next proposal.
	#[pallet::storage]
	pub type NextProposalId<T> = StorageValue<_, ProposalId, ValueQuery>;

	/// Proposals by id.
	#[pallet::storage]
	pub type Proposals<T: Config> = StorageMap<_, Twox64Concat, ProposalId, Proposal<T>>;

	/// Proposals by txid: a bridge transaction is never taken for a deposit.
	#[pallet::storage]
	pub type ProposalByTxid<T> = StorageMap<_, Identity, Txid, ProposalId>;

	/// Voting windows still open, `(proposal, last block of its window)`: votes are taken
	/// until the window closes even after a decision, and who never voted is then reported.
	#[pallet::storage]
	pub type VoteWindows<T: Config> =
		StorageValue<_, BoundedVec<(ProposalId, BlockNumberFor<T>), ConstU32<16>>, ValueQuery>;

	/// The proposal in flight (voting, signing, or signed and not yet confirmed).
	#[pallet::storage]
	pub type ActiveProposal<T> = StorageValue<_, ProposalId>;

	/// Signed transactions by proposal.
	#[pallet::storage]
	pub type SignedTransactions<T> =
		StorageMap<_, Twox64Concat, ProposalId, BoundedVec<u8, MaxTransactionBytes>>;

	/// No new proposal before this block (after a rejected or expired one).
	#[pallet::storage]
	pub type NextProposalAt<T: Config> = StorageValue<_, BlockNumberFor<T>, ValueQuery>;

	/// The custody epoch the bridge last saw as current.
	#[pallet::storage]
	pub type LastSeenEpoch<T> = StorageValue<_, u32>;

	/// Older epochs whose UTXOs are being swept; deposits to them are still credited.
	#[pallet::storage]
	pub type SweepingEpochs<T> = StorageValue<_, BoundedVec<u32, ConstU32<16>>, ValueQuery>;

	#[pallet::genesis_config]
	pub struct GenesisConfig<T: Config> {
		/// Confirmations deposits and withdrawals need.
		pub required_confirmations: u32,
		/// `(min, max)` fee rate in sat/vB.
		pub fee_rate_bounds: (u64, u64),
		#[serde(skip)]
		pub _config: PhantomData<T>,
	}

	impl<T: Config> Default for GenesisConfig<T> {
		/// Mainnet's six confirmations; 1 to 1000 sat/vB.
		fn default() -> Self {
			Self { required_confirmations: 6, fee_rate_bounds: (1, 1_000), _config: PhantomData }
		}
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			assert!(self.required_confirmations >= 1, "deposits need at least one confirmation");
			let (min, max) = self.fee_rate_bounds;
			assert!(min >= 1 && min <= max, "fee rate bounds must be 1 <= min <= max");
			RequiredConfirmations::<T>::put(self.required_confirmations);
			FeeRateBounds::<T>::put(self.fee_rate_bounds);
			NextWithdrawalId::<T>::put(1);
			NextProposalId::<T>::put(1);
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A deposit was minted to its memo's account.
		DepositCredited { outpoint: OutPoint, account: T::AccountId, sats: u64, epoch: u32 },
		/// A deposit was recorded without credit.
		DepositUnclaimed { outpoint: OutPoint, sats: u64, reason: UnclaimedReason },
		/// Governance assigned an unclaimed deposit.
		UnclaimedDepositAssigned { outpoint: OutPoint, account: T::AccountId, sats: u64 },
		/// A withdrawal was burned and queued.
		WithdrawalRequested { id: WithdrawalId, owner: T::AccountId, address: Vec<u8>, sats: u64 },
		/// A withdrawal could not pay its fee share: its amount was minted back.
		WithdrawalRefunded { id: WithdrawalId, owner: T::AccountId, sats: u64 },
		/// A transaction was proposed.
		ProposalCreated {
			proposal_id: ProposalId,
			kind: ProposalKind,
			txid: Txid,
			withdrawals: Vec<WithdrawalId>,
			inputs: u32,
			fee_sats: u64,
			fee_rate_sat_per_vb: u64,
		},
		/// A validator voted.
		ProposalVoted { proposal_id: ProposalId, validator: T::AccountId, approve: bool },
		/// Two thirds approved: custody signs.
		ProposalApproved { proposal_id: ProposalId },
		/// Custody opened the signing session.
		SigningStarted { proposal_id: ProposalId, session_id: u64 },
		/// More than a third rejected: its requests are queued again.
		ProposalRejected { proposal_id: ProposalId },
		/// No decision in time: its requests are queued again.
		ProposalExpired { proposal_id: ProposalId },
		/// These validators did not vote on the proposal within its window: reported.
		VoteSilenceReported { proposal_id: ProposalId, validators: Vec<T::AccountId> },
		/// The transaction is signed: relayers broadcast `transaction`.
		TransactionSigned { proposal_id: ProposalId, txid: Txid, transaction: Vec<u8> },
		/// The transaction confirmed on Bitcoin.
		ProposalConfirmed { proposal_id: ProposalId, txid: Txid, bitcoin_block: BlockHash },
		/// A validator reported its fee rate.
		FeeRateReported { validator: T::AccountId, sat_per_vbyte: u64 },
		/// Governance changed the fee-rate bounds.
		FeeRateBoundsSet { min_sat_per_vb: u64, max_sat_per_vb: u64 },
		/// An old epoch's outputs are all swept: custody retired it.
		EpochSwept { epoch: u32 },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The transaction is larger than any deposit may be.
		TransactionTooLarge,
		/// The light client rejected the proof: unknown block, not best chain, bad Merkle
		/// branch, malformed transaction, or a 64-byte transaction.
		InvalidInclusionProof,
		/// The block does not have the required confirmations yet.
		InsufficientConfirmations,
		/// No output pays the custody address of the current (or a sweeping) epoch.
		NoCustodyOutput,
		/// Every custody output of this transaction was recorded already.
		AlreadyCredited,
		/// This is a bridge transaction: prove it with `submit_withdrawal_proof`.
		BridgeTransaction,
		/// The address string is not valid UTF-8 or too long.
		MalformedAddress,
		/// Bad checksum, bad characters or wrong checksum variant.
		InvalidAddressEncoding,
		/// A valid address of another Bitcoin network.
		WrongNetwork,
		/// Unknown Base58 version byte or payload length.
		UnknownAddressVersion,
		/// A segwit version other than 0 and 1 (such outputs are anyone-can-spend).
		UnsupportedWitnessVersion,
		/// A segwit program of a length its version does not allow.
		InvalidProgramLength,
		/// The amount is not a whole number of satoshis.
		NotWholeSats,
		/// Below the dust limit plus the fee of its output and one input at today's rate.
		WithdrawalTooSmall,
		/// The withdrawal queue is full.
		QueueFull,
		/// The balance does not cover the amount.
		InsufficientBalance,
		/// The message's signature does not verify against the sender's custody identity.
		BadSignature,
		/// The identity is not registered to a current validator.
		NotAValidator,
		/// No such proposal.
		UnknownProposal,
		/// The proposal is not being voted on.
		NotVoting,
		/// The vote names another transaction than the proposal's.
		TxidMismatch,
		/// This validator voted on this proposal already.
		AlreadyVoted,
		/// The report is not newer than the reporter's last one, or from the future.
		StaleReport,
		/// Zero fee rate.
		InvalidFeeRate,
		/// The proposal has no signed transaction awaiting confirmation.
		NotAwaitingConfirmation,
		/// Minimum above maximum, or zero.
		InvalidFeeRateBounds,
		/// The outpoint is not an unclaimed deposit.
		NotUnclaimed,
		/// Minting to the account failed.
		CreditFailed,
	}

	impl<T> From<AddressError> for Error<T> {
		fn from(error: AddressError) -> Self {
			match error {
				AddressError::Malformed => Error::MalformedAddress,
				AddressError::InvalidEncoding => Error::InvalidAddressEncoding,
				AddressError::WrongNetwork => Error::WrongNetwork,
				AddressError::UnknownBase58Version => Error::UnknownAddressVersion,
				AddressError::UnsupportedWitnessVersion => Error::UnsupportedWitnessVersion,
				AddressError::InvalidProgramLength => Error::InvalidProgramLength,
			}
		}
	}

	impl<T> From<SpvError> for Error<T> {
		fn from(error: SpvError) -> Self {
			match error {
				SpvError::InsufficientConfirmations => Error::InsufficientConfirmations,
				_ => Error::InvalidInclusionProof,
			}
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Proves a deposit: every output paying a custody address is recorded once and
		/// credited to its memo's account (or recorded as unclaimed).
		#[pallet::call_index(0)]
		#[pallet::weight(Pallet::<T>::submit_deposit_weight(raw_tx.len()))]
		pub fn submit_deposit(
			origin: OriginFor<T>,
			raw_tx: Vec<u8>,
			proof: MerkleProof,
			block_hash: BlockHash,
		) -> DispatchResult {
			ensure_signed(origin)?;
			ensure!(raw_tx.len() <= MAX_DEPOSIT_TX_BYTES, Error::<T>::TransactionTooLarge);
			let inclusion = pallet_btc_light_client::Pallet::<T>::verify_confirmed_inclusion(
				&raw_tx,
				&proof,
				block_hash,
				RequiredConfirmations::<T>::get(),
			)
			.map_err(Error::<T>::from)?;
			ensure!(
				!ProposalByTxid::<T>::contains_key(inclusion.txid),
				Error::<T>::BridgeTransaction
			);
			Self::record_deposit(&inclusion.transaction, inclusion.txid, block_hash)
		}

		/// Burns `amount` (base units, whole sats) and queues a payment to `address` (a
		/// Bitcoin address of the light client's network).
		#[pallet::call_index(1)]
		#[pallet::weight(Pallet::<T>::request_withdrawal_weight())]
		pub fn request_withdrawal(
			origin: OriginFor<T>,
			address: BoundedVec<u8, MaxAddressLen>,
			amount: Balance,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_request_withdrawal(who, address, amount).map(|_| ())
		}

		/// A validator's vote on the proposal in flight, signed by its custody identity.
		#[pallet::call_index(2)]
		#[pallet::weight(Weight::from_parts(120_000_000, 8_000) + T::DbWeight::get().reads_writes(6, 4))]
		pub fn vote_on_proposal(
			origin: OriginFor<T>,
			vote: ProposalVote,
			signature: AuthSignature,
		) -> DispatchResult {
			ensure_none(origin)?;
			let validator = Self::check_vote(&vote, &signature)?;
			Self::apply_vote(vote, validator)
		}

		/// A validator's fee-rate estimate, signed by its custody identity.
		#[pallet::call_index(3)]
		#[pallet::weight(Weight::from_parts(80_000_000, 4_000) + T::DbWeight::get().reads_writes(3, 1))]
		pub fn report_fee_rate(
			origin: OriginFor<T>,
			report: FeeRateReport,
			signature: AuthSignature,
		) -> DispatchResult {
			ensure_none(origin)?;
			let validator = Self::check_fee_report(&report, &signature)?;
			FeeRateReports::<T>::insert(&validator, (report.sat_per_vbyte, report.at_block));
			Self::deposit_event(Event::FeeRateReported {
				validator,
				sat_per_vbyte: report.sat_per_vbyte,
			});
			Ok(())
		}

		/// Proves that a signed bridge transaction confirmed: its withdrawals are paid, its
		/// inputs leave the UTXO set and its custody output joins it.
		#[pallet::call_index(4)]
		#[pallet::weight(Weight::from_parts(300_000_000, 20_000) + T::DbWeight::get().reads_writes(120, 120))]
		pub fn submit_withdrawal_proof(
			origin: OriginFor<T>,
			proposal_id: ProposalId,
			raw_tx: Vec<u8>,
			proof: MerkleProof,
			block_hash: BlockHash,
		) -> DispatchResult {
			ensure_signed(origin)?;
			ensure!(raw_tx.len() <= MAX_DEPOSIT_TX_BYTES, Error::<T>::TransactionTooLarge);
			let mut proposal =
				Proposals::<T>::get(proposal_id).ok_or(Error::<T>::UnknownProposal)?;
			ensure!(proposal.status == ProposalStatus::Signed, Error::<T>::NotAwaitingConfirmation);
			let inclusion = pallet_btc_light_client::Pallet::<T>::verify_confirmed_inclusion(
				&raw_tx,
				&proof,
				block_hash,
				RequiredConfirmations::<T>::get(),
			)
			.map_err(Error::<T>::from)?;
			ensure!(inclusion.txid == proposal.txid, Error::<T>::TxidMismatch);
			Self::confirm_proposal(proposal_id, &mut proposal, block_hash);
			Ok(())
		}

		/// Governance sets the fee-rate bounds (sat/vB).
		#[pallet::call_index(5)]
		#[pallet::weight(T::DbWeight::get().writes(1))]
		pub fn set_fee_rate_bounds(
			origin: OriginFor<T>,
			min_sat_per_vb: u64,
			max_sat_per_vb: u64,
		) -> DispatchResult {
			ensure_root(origin)?;
			ensure!(
				min_sat_per_vb >= 1 && min_sat_per_vb <= max_sat_per_vb,
				Error::<T>::InvalidFeeRateBounds
			);
			FeeRateBounds::<T>::put((min_sat_per_vb, max_sat_per_vb));
			Self::deposit_event(Event::FeeRateBoundsSet { min_sat_per_vb, max_sat_per_vb });
			Ok(())
		}

		/// Governance credits an unclaimed deposit (e.g. after its sender proved ownership).
		#[pallet::call_index(6)]
		#[pallet::weight(Weight::from_parts(40_000_000, 4_000) + T::DbWeight::get().reads_writes(2, 2))]
		pub fn assign_unclaimed_deposit(
			origin: OriginFor<T>,
			outpoint: OutPoint,
			recipient: DepositRecipient,
		) -> DispatchResult {
			ensure_root(origin)?;
			let mut record = Deposits::<T>::get(outpoint).ok_or(Error::<T>::NotUnclaimed)?;
			ensure!(
				matches!(record.outcome, DepositOutcome::Unclaimed { .. }),
				Error::<T>::NotUnclaimed
			);
			let account = Self::recipient_account(recipient);
			T::Currency::mint_into(&account, sats_to_base_units(record.value_sats))
				.map_err(|_| Error::<T>::CreditFailed)?;
			record.outcome = DepositOutcome::Assigned { account: account.clone() };
			Deposits::<T>::insert(outpoint, &record);
			Self::deposit_event(Event::UnclaimedDepositAssigned {
				outpoint,
				account,
				sats: record.value_sats,
			});
			Ok(())
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let db = T::DbWeight::get();
			Self::track_epochs();
			let mut weight = db.reads_writes(3, 2);
			weight.saturating_accrue(Self::close_vote_windows(now));
			weight.saturating_accrue(Self::advance_active_proposal(now));
			if ActiveProposal::<T>::get().is_none() && now >= NextProposalAt::<T>::get() {
				// Benchmarked: building a payout of the offered requests from every UTXO; each
				// epoch being swept may read the UTXO set once more.
				let offered = (WithdrawalQueue::<T>::decode_len().unwrap_or(0) as u32)
					.clamp(1, T::MaxWithdrawalsPerProposal::get());
				let passes = SweepingEpochs::<T>::decode_len().unwrap_or(0) as u64 + 1;
				let build =
					<T as Config>::WeightInfo::build_payout_proposal(offered, Utxos::<T>::count());
				weight.saturating_accrue(build.saturating_mul(passes));
				// The benchmark ran with one validator; the median reads every report.
				weight.saturating_accrue(Self::fee_rate_weight());
				Self::start_next_proposal(now);
			}
			weight
		}
	}

	// `ValidateUnsigned` is deprecated in favour of `#[pallet::authorize]`, which needs
	// `AuthorizeCall` in the transaction extensions; custody makes the same choice.
	#[allow(deprecated)]
	#[pallet::validate_unsigned]
	impl<T: Config> ValidateUnsigned for Pallet<T> {
		type Call = Call<T>;

		fn validate_unsigned(_source: TransactionSource, call: &Self::Call) -> TransactionValidity {
			let (tag, longevity) = match call {
				Call::vote_on_proposal { vote, signature } => {
					let validator = Self::check_vote(vote, signature).map_err(invalid)?;
					let proposal =
						Proposals::<T>::get(vote.proposal_id).ok_or(InvalidTransaction::Stale)?;
					if proposal.approvals.contains(&validator)
						|| proposal.rejections.contains(&validator)
					{
						return Err(InvalidTransaction::Stale.into());
					}
					((b"btc-bridge-vote", vote.proposal_id, validator).encode(), 64u64)
				},
				Call::report_fee_rate { report, signature } => {
					let validator = Self::check_fee_report(report, signature).map_err(invalid)?;
					((b"btc-bridge-fee", validator, report.at_block).encode(), 16u64)
				},
				_ => return Err(InvalidTransaction::Call.into()),
			};
			ValidTransaction::with_tag_prefix("BtcBridge")
				.priority(T::UnsignedPriority::get())
				.and_provides(tag)
				.longevity(longevity)
				.propagate(true)
				.build()
		}
	}

	fn invalid<T>(error: Error<T>) -> TransactionValidityError {
		match error {
			Error::BadSignature => InvalidTransaction::BadProof.into(),
			Error::AlreadyVoted | Error::NotVoting | Error::StaleReport => {
				InvalidTransaction::Stale.into()
			},
			Error::UnknownProposal => InvalidTransaction::Future.into(),
			_ => InvalidTransaction::Custom(error_code(&error)).into(),
		}
	}

	fn error_code<T>(error: &Error<T>) -> u8 {
		error.encode().first().copied().unwrap_or(u8::MAX)
	}

	impl<T: Config> Pallet<T> {
		/// The chain's genesis hash: bridge messages are signed for one chain.
		pub fn genesis_hash() -> [u8; 32] {
			let hash = frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::default());
			let mut bytes = [0u8; 32];
			let len = hash.as_ref().len().min(32);
			bytes[..len].copy_from_slice(&hash.as_ref()[..len]);
			bytes
		}

		/// Custody output keys deposits may pay: the current epoch and the sweeping ones.
		pub fn deposit_epochs() -> Vec<(u32, [u8; 32])> {
			T::Custody::current_epoch()
				.into_iter()
				.chain(SweepingEpochs::<T>::get())
				.filter_map(|epoch| T::Custody::output_key(epoch).map(|key| (epoch, key)))
				.collect()
		}

		/// The P2TR address deposits should pay now.
		pub fn deposit_address() -> Option<(u32, [u8; 32], alloc::string::String)> {
			let epoch = T::Custody::current_epoch()?;
			let key = T::Custody::output_key(epoch)?;
			let network = pallet_btc_light_client::BitcoinNetwork::<T>::get();
			Some((epoch, key, BitcoinAddress::P2tr(key).to_address_string(network)))
		}

		fn recipient_account(recipient: DepositRecipient) -> T::AccountId {
			match recipient {
				DepositRecipient::Evm(address) => T::DepositAccounts::evm_account(address),
				DepositRecipient::Native(account) => T::DepositAccounts::native_account(account),
			}
		}

		fn record_deposit(
			transaction: &Transaction,
			txid: Txid,
			block_hash: BlockHash,
		) -> DispatchResult {
			let epochs = Self::deposit_epochs();
			let scripts: Vec<(u32, Vec<u8>)> =
				epochs.iter().map(|(epoch, key)| (*epoch, p2tr_script_pubkey(key))).collect();
			let custody_outputs: Vec<(u32, u64, u32)> = transaction
				.outputs
				.iter()
				.enumerate()
				.filter_map(|(vout, output)| {
					scripts
						.iter()
						.find(|(_, script)| *script == output.script_pubkey)
						.map(|(epoch, _)| (vout as u32, output.value_sats, *epoch))
				})
				.collect();
			ensure!(!custody_outputs.is_empty(), Error::<T>::NoCustodyOutput);
			let fresh: Vec<_> = custody_outputs
				.into_iter()
				.filter(|(vout, _, _)| !Deposits::<T>::contains_key(OutPoint { txid, vout: *vout }))
				.collect();
			ensure!(!fresh.is_empty(), Error::<T>::AlreadyCredited);

			let mut memo = None;
			let mut ambiguous = false;
			for output in &transaction.outputs {
				match DepositRecipient::parse_memo(&output.script_pubkey) {
					MemoParse::NotAMemo => {},
					MemoParse::Malformed => ambiguous = true,
					MemoParse::Recipient(recipient) => {
						ambiguous |= memo.is_some();
						memo = Some(recipient);
					},
				}
			}
			for (vout, value_sats, epoch) in fresh {
				let outpoint = OutPoint { txid, vout };
				let outcome = match (memo, ambiguous) {
					(_, true) => {
						DepositOutcome::Unclaimed { reason: UnclaimedReason::AmbiguousMemo }
					},
					(None, false) => DepositOutcome::Unclaimed { reason: UnclaimedReason::NoMemo },
					(Some(_), false) if value_sats < T::MinDepositSats::get() => {
						DepositOutcome::Unclaimed { reason: UnclaimedReason::BelowMinimum }
					},
					(Some(recipient), false) => {
						let account = Self::recipient_account(recipient);
						match T::Currency::mint_into(&account, sats_to_base_units(value_sats)) {
							Ok(_) => DepositOutcome::Credited { account },
							Err(_) => {
								DepositOutcome::Unclaimed { reason: UnclaimedReason::CreditFailed }
							},
						}
					},
				};
				match &outcome {
					DepositOutcome::Credited { account } => {
						Self::deposit_event(Event::DepositCredited {
							outpoint,
							account: account.clone(),
							sats: value_sats,
							epoch,
						})
					},
					DepositOutcome::Unclaimed { reason } => {
						Self::deposit_event(Event::DepositUnclaimed {
							outpoint,
							sats: value_sats,
							reason: *reason,
						})
					},
					_ => {},
				}
				Utxos::<T>::insert(outpoint, BridgeUtxo { value_sats, epoch });
				Deposits::<T>::insert(
					outpoint,
					DepositRecord { value_sats, epoch, bitcoin_block: block_hash, outcome },
				);
			}
			Ok(())
		}

		/// The fee rate proposals use: the median of current validators' reports no older
		/// than [`FEE_REPORT_MAX_AGE_BLOCKS`] (upper median for an even count), clamped to the
		/// governed bounds; the minimum without such reports.
		pub fn fee_rate() -> u64 {
			let (min, max) = FeeRateBounds::<T>::get();
			let now: u32 = frame_system::Pallet::<T>::block_number().try_into().unwrap_or(u32::MAX);
			let oldest = now.saturating_sub(FEE_REPORT_MAX_AGE_BLOCKS);
			let mut rates: Vec<u64> = T::Custody::validators()
				.iter()
				.filter_map(FeeRateReports::<T>::get)
				.filter(|(_, at_block)| *at_block >= oldest)
				.map(|(rate, _)| rate)
				.collect();
			if rates.is_empty() {
				return min;
			}
			rates.sort_unstable();
			rates[rates.len() / 2].clamp(min, max)
		}

		/// Smallest withdrawal to `address` at today's fee rate: its dust limit plus the fee
		/// of its output, one input and the transaction's fixed part with a change output.
		pub fn minimum_withdrawal_sats(address: &BitcoinAddress) -> u64 {
			let script_len = address.script_pubkey().len() as u64;
			let output_vbytes = 8 + 1 + script_len;
			// 10.5 vB fixed part (rounded up), a 57.5 vB key-path input, 43 vB change.
			let shared_vbytes = 11 + 58 + 43;
			address
				.dust_limit_sats()
				.saturating_add(Self::fee_rate().saturating_mul(output_vbytes + shared_vbytes))
		}

		/// Weight of a deposit proof of `tx_bytes`: the benchmarked one-output deposit, plus
		/// hashing and parsing the bytes (20 ns/byte, generous for wasm SHA-256) and, for
		/// every further 43 bytes (the smallest P2TR output), one more credited output.
		pub fn submit_deposit_weight(tx_bytes: usize) -> Weight {
			let tx_bytes = tx_bytes as u64;
			<T as Config>::WeightInfo::submit_deposit()
				.saturating_add(Weight::from_parts(20_000u64.saturating_mul(tx_bytes), tx_bytes))
				.saturating_add(T::DbWeight::get().reads_writes(2, 4).saturating_mul(tx_bytes / 43))
		}

		/// Weight of a withdrawal request (the call and the precompile charge it).
		pub fn request_withdrawal_weight() -> Weight {
			Weight::from_parts(60_000_000, 4_000)
				.saturating_add(T::DbWeight::get().reads_writes(6, 5))
				.saturating_add(Self::fee_rate_weight())
		}

		/// Weight of [`Self::fee_rate`]: the validator set and one report per validator.
		pub fn fee_rate_weight() -> Weight {
			T::DbWeight::get().reads(2 + T::MaxVoters::get() as u64)
		}

		/// Burns and queues a withdrawal (the call and the EVM precompile both use this).
		pub fn do_request_withdrawal(
			who: T::AccountId,
			address: BoundedVec<u8, MaxAddressLen>,
			amount: Balance,
		) -> Result<WithdrawalId, DispatchError> {
			let network = pallet_btc_light_client::BitcoinNetwork::<T>::get();
			let parsed =
				BitcoinAddress::parse_bytes(&address, network).map_err(Error::<T>::from)?;
			ensure!(amount.is_multiple_of(BASE_UNITS_PER_SAT), Error::<T>::NotWholeSats);
			let sats = u64::try_from(amount / BASE_UNITS_PER_SAT)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			ensure!(sats >= Self::minimum_withdrawal_sats(&parsed), Error::<T>::WithdrawalTooSmall);
			let mut queue = WithdrawalQueue::<T>::get();
			ensure!((queue.len() as u32) < T::MaxQueuedWithdrawals::get(), Error::<T>::QueueFull);
			T::Currency::burn_from(
				&who,
				amount,
				Preservation::Expendable,
				Precision::Exact,
				Fortitude::Polite,
			)
			.map_err(|_| Error::<T>::InsufficientBalance)?;
			let id = NextWithdrawalId::<T>::mutate(|next| {
				let id = (*next).max(1);
				*next = id + 1;
				id
			});
			queue.try_push(id).map_err(|_| Error::<T>::QueueFull)?;
			WithdrawalQueue::<T>::put(queue);
			let script_pubkey: BoundedVec<u8, MaxScriptLen> =
				parsed.script_pubkey().try_into().map_err(|_| Error::<T>::InvalidProgramLength)?;
			Withdrawals::<T>::insert(
				id,
				Withdrawal {
					owner: who.clone(),
					address: address.clone(),
					script_pubkey,
					amount_sats: sats,
					requested_at: frame_system::Pallet::<T>::block_number(),
					status: WithdrawalStatus::Queued,
				},
			);
			Self::deposit_event(Event::WithdrawalRequested {
				id,
				owner: who,
				address: address.into_inner(),
				sats,
			});
			Ok(id)
		}

		fn current_validator_of(identity: &[u8; 32]) -> Result<T::AccountId, Error<T>> {
			let validator =
				T::Custody::validator_of_identity(identity).ok_or(Error::<T>::NotAValidator)?;
			ensure!(T::Custody::validators().contains(&validator), Error::<T>::NotAValidator);
			Ok(validator)
		}

		/// Checks a vote's signature and voter: the validator it counts for.
		pub fn check_vote(
			vote: &ProposalVote,
			signature: &AuthSignature,
		) -> Result<T::AccountId, Error<T>> {
			let digest = BridgeMessage::ProposalVote(vote.clone()).digest(&Self::genesis_hash());
			ensure!(verify_bip340(&vote.voter, &digest, &signature.0), Error::<T>::BadSignature);
			let validator = Self::current_validator_of(&vote.voter)?;
			let proposal =
				Proposals::<T>::get(vote.proposal_id).ok_or(Error::<T>::UnknownProposal)?;
			// After a decision a vote is still taken (and only recorded) until the window
			// closes: a validator one block late is not silent.
			let window_open = VoteWindows::<T>::get().iter().any(|(id, _)| *id == vote.proposal_id);
			ensure!(
				matches!(proposal.status, ProposalStatus::Voting { .. }) || window_open,
				Error::<T>::NotVoting
			);
			ensure!(proposal.txid.0 == vote.txid, Error::<T>::TxidMismatch);
			Ok(validator)
		}

		fn check_fee_report(
			report: &FeeRateReport,
			signature: &AuthSignature,
		) -> Result<T::AccountId, Error<T>> {
			let digest = BridgeMessage::FeeRateReport(report.clone()).digest(&Self::genesis_hash());
			ensure!(
				verify_bip340(&report.reporter, &digest, &signature.0),
				Error::<T>::BadSignature
			);
			let validator = Self::current_validator_of(&report.reporter)?;
			ensure!(report.sat_per_vbyte > 0, Error::<T>::InvalidFeeRate);
			let now: u32 = frame_system::Pallet::<T>::block_number().try_into().unwrap_or(u32::MAX);
			let previous = FeeRateReports::<T>::get(&validator).map(|(_, at)| at);
			ensure!(
				report.at_block <= now && previous.is_none_or(|at| report.at_block > at),
				Error::<T>::StaleReport
			);
			Ok(validator)
		}

		fn apply_vote(vote: ProposalVote, validator: T::AccountId) -> DispatchResult {
			let mut proposal =
				Proposals::<T>::get(vote.proposal_id).ok_or(Error::<T>::UnknownProposal)?;
			ensure!(
				!proposal.approvals.contains(&validator)
					&& !proposal.rejections.contains(&validator),
				Error::<T>::AlreadyVoted
			);
			let voters =
				if vote.approve { &mut proposal.approvals } else { &mut proposal.rejections };
			voters.try_push(validator.clone()).map_err(|_| Error::<T>::NotAValidator)?;
			Self::deposit_event(Event::ProposalVoted {
				proposal_id: vote.proposal_id,
				validator,
				approve: vote.approve,
			});
			if !matches!(proposal.status, ProposalStatus::Voting { .. }) {
				// Decided already: the late vote only counts against silence.
				Proposals::<T>::insert(vote.proposal_id, proposal);
				return Ok(());
			}
			let validator_count = T::Custody::validators().len() as u32;
			let approvals_needed = validator_count * 2 / 3 + 1;
			if proposal.approvals.len() as u32 >= approvals_needed {
				proposal.status = ProposalStatus::Approved;
				Self::deposit_event(Event::ProposalApproved { proposal_id: vote.proposal_id });
				Self::start_signing(vote.proposal_id, &mut proposal);
				Proposals::<T>::insert(vote.proposal_id, proposal);
			} else if proposal.rejections.len() as u32 * 3 > validator_count {
				proposal.status = ProposalStatus::Rejected;
				Self::drop_proposal(vote.proposal_id, proposal);
				Self::deposit_event(Event::ProposalRejected { proposal_id: vote.proposal_id });
			} else {
				Proposals::<T>::insert(vote.proposal_id, proposal);
			}
			Ok(())
		}

		/// Opens the signing session for an approved proposal; on a passing failure (too
		/// many sessions open) the next block tries again.
		fn start_signing(proposal_id: ProposalId, proposal: &mut Proposal<T>) {
			let messages = proposal.sighashes.to_vec();
			let approvers = proposal.approvals.to_vec();
			// The approvers sign. For a sweep the approvers (current validators) may not
			// hold enough shares of the old key: then any old member may sign what the vote
			// already approved.
			let session =
				T::Custody::request_signatures(proposal.epoch, messages.clone(), Some(approvers))
					.or_else(|_| T::Custody::request_signatures(proposal.epoch, messages, None));
			match session {
				Ok(session_id) => {
					proposal.status = ProposalStatus::Signing { session_id };
					Self::deposit_event(Event::SigningStarted { proposal_id, session_id });
				},
				Err(error) => {
					log::warn!(target: "btc-bridge", "proposal {proposal_id}: signing not opened: {error:?}");
				},
			}
		}

		/// Puts a dropped proposal's requests back in front of the queue and waits a voting
		/// period before the next proposal.
		fn drop_proposal(proposal_id: ProposalId, proposal: Proposal<T>) {
			let ids: Vec<WithdrawalId> = proposal.payouts.iter().map(|(id, _)| *id).collect();
			for id in &ids {
				Withdrawals::<T>::mutate(id, |w| {
					if let Some(w) = w {
						w.status = WithdrawalStatus::Queued;
					}
				});
			}
			WithdrawalQueue::<T>::mutate(|queue| {
				let mut requeued = ids;
				requeued.extend(queue.iter().copied());
				// Capacity is the queue limit plus one proposal's worth: this always fits.
				*queue = BoundedVec::truncate_from(requeued);
			});
			ProposalByTxid::<T>::remove(proposal.txid);
			Proposals::<T>::insert(proposal_id, proposal);
			ActiveProposal::<T>::kill();
			NextProposalAt::<T>::put(
				frame_system::Pallet::<T>::block_number().saturating_add(T::VotingBlocks::get()),
			);
		}

		/// Closes the voting windows that ended before `now`, reporting the current
		/// validators who cast no vote on their proposal.
		fn close_vote_windows(now: BlockNumberFor<T>) -> Weight {
			let db = T::DbWeight::get();
			let windows = VoteWindows::<T>::get();
			if windows.iter().all(|(_, end)| now <= *end) {
				return db.reads(1);
			}
			let (closed, open): (Vec<_>, Vec<_>) =
				windows.into_iter().partition(|(_, end)| now > *end);
			VoteWindows::<T>::put(BoundedVec::truncate_from(open));
			let validators = T::Custody::validators();
			for (proposal_id, _) in &closed {
				let Some(proposal) = Proposals::<T>::get(proposal_id) else { continue };
				let silent: Vec<T::AccountId> = validators
					.iter()
					.filter(|v| !proposal.approvals.contains(v) && !proposal.rejections.contains(v))
					.cloned()
					.collect();
				if !silent.is_empty() {
					T::Custody::report_vote_silence(&silent);
					Self::deposit_event(Event::VoteSilenceReported {
						proposal_id: *proposal_id,
						validators: silent,
					});
				}
			}
			db.reads_writes(2 + 2 * closed.len() as u64, 1 + closed.len() as u64)
		}

		fn track_epochs() {
			let current = T::Custody::current_epoch();
			let last = LastSeenEpoch::<T>::get();
			if current != last {
				if let Some(old) = last {
					SweepingEpochs::<T>::mutate(|epochs| {
						if !epochs.contains(&old) && epochs.try_push(old).is_err() {
							log::error!(target: "btc-bridge", "too many epochs to sweep; epoch {old} not tracked");
						}
					});
				}
				LastSeenEpoch::<T>::set(current);
			}
		}

		/// Moves the proposal in flight on (expiry, signing); returns the weight used.
		fn advance_active_proposal(now: BlockNumberFor<T>) -> Weight {
			let db = T::DbWeight::get();
			let Some(proposal_id) = ActiveProposal::<T>::get() else { return db.reads(1) };
			let Some(mut proposal) = Proposals::<T>::get(proposal_id) else {
				ActiveProposal::<T>::kill();
				return db.reads_writes(2, 1);
			};
			let payouts = proposal.payouts.len() as u64;
			let inputs = proposal.inputs.len() as u64;
			match proposal.status {
				ProposalStatus::Voting { deadline } if now > deadline => {
					proposal.status = ProposalStatus::Expired;
					Self::drop_proposal(proposal_id, proposal);
					Self::deposit_event(Event::ProposalExpired { proposal_id });
					db.reads_writes(3 + payouts, 5 + payouts)
				},
				ProposalStatus::Approved => {
					Self::start_signing(proposal_id, &mut proposal);
					Proposals::<T>::insert(proposal_id, proposal);
					db.reads_writes(8, 6)
				},
				ProposalStatus::Signing { session_id } => {
					match T::Custody::signing_status(session_id) {
						SigningStatus::Pending => db.reads(4),
						SigningStatus::Failed => {
							proposal.status = ProposalStatus::Approved;
							Proposals::<T>::insert(proposal_id, proposal);
							db.reads_writes(4, 1)
						},
						SigningStatus::Ready(signatures) => {
							Self::finish_signing(proposal_id, &mut proposal, signatures);
							Proposals::<T>::insert(proposal_id, proposal);
							SIGNATURE_CHECK_WEIGHT
								.saturating_mul(inputs)
								.saturating_add(db.reads_writes(6, 2))
						},
					}
				},
				_ => db.reads(2),
			}
		}

		/// Verifies every input's signature against the epoch key and assembles the witnesses.
		fn finish_signing(
			proposal_id: ProposalId,
			proposal: &mut Proposal<T>,
			signatures: Vec<[u8; 64]>,
		) {
			let output_key = T::Custody::output_key(proposal.epoch);
			let valid = output_key.is_some_and(|key| {
				signatures.len() == proposal.sighashes.len()
					&& proposal
						.sighashes
						.iter()
						.zip(&signatures)
						.all(|(sighash, signature)| verify_bip340(&key, sighash, signature))
			});
			let transaction = Transaction::from_bytes(&proposal.unsigned_tx);
			let (true, Ok(mut transaction)) = (valid, transaction) else {
				log::error!(target: "btc-bridge", "proposal {proposal_id}: custody signatures do not verify; signing again");
				proposal.status = ProposalStatus::Approved;
				return;
			};
			for (input, signature) in transaction.inputs.iter_mut().zip(&signatures) {
				// SIGHASH_DEFAULT: the bare 64-byte signature is the whole witness.
				input.witness = alloc::vec![signature.to_vec()];
			}
			let bytes = transaction.to_bytes();
			let Ok(stored) = BoundedVec::<u8, MaxTransactionBytes>::try_from(bytes.clone()) else {
				log::error!(target: "btc-bridge", "proposal {proposal_id}: signed transaction too large");
				return;
			};
			SignedTransactions::<T>::insert(proposal_id, stored);
			proposal.status = ProposalStatus::Signed;
			Self::deposit_event(Event::TransactionSigned {
				proposal_id,
				txid: proposal.txid,
				transaction: bytes,
			});
		}

		fn confirm_proposal(
			proposal_id: ProposalId,
			proposal: &mut Proposal<T>,
			bitcoin_block: BlockHash,
		) {
			for (outpoint, _) in &proposal.inputs {
				Utxos::<T>::remove(outpoint);
			}
			if let Some((vout, value_sats, epoch)) = proposal.custody_output {
				let outpoint = OutPoint { txid: proposal.txid, vout };
				Utxos::<T>::insert(outpoint, BridgeUtxo { value_sats, epoch });
				Deposits::<T>::insert(
					outpoint,
					DepositRecord {
						value_sats,
						epoch,
						bitcoin_block,
						outcome: DepositOutcome::BridgeOutput { proposal_id },
					},
				);
			}
			for (id, _) in &proposal.payouts {
				Withdrawals::<T>::mutate(id, |w| {
					if let Some(w) = w {
						w.status = WithdrawalStatus::Paid { proposal_id, txid: proposal.txid };
					}
				});
			}
			proposal.status = ProposalStatus::Confirmed { bitcoin_block };
			Proposals::<T>::insert(proposal_id, proposal.clone());
			ActiveProposal::<T>::kill();
			Self::deposit_event(Event::ProposalConfirmed {
				proposal_id,
				txid: proposal.txid,
				bitcoin_block,
			});
		}

		/// The UTXOs of `epoch` in the order the builder consumes them.
		fn utxos_of_epoch(epoch: u32) -> Vec<SpendableUtxo> {
			let mut utxos: Vec<SpendableUtxo> = Utxos::<T>::iter()
				.filter(|(_, utxo)| utxo.epoch == epoch)
				.map(|(outpoint, utxo)| SpendableUtxo { outpoint, value_sats: utxo.value_sats })
				.collect();
			builder::selection_order(&mut utxos);
			utxos
		}

		/// Sweeps first (an old epoch's coins must move before its signers leave), then
		/// pays the queue.
		fn start_next_proposal(now: BlockNumberFor<T>) {
			let Some(current) = T::Custody::current_epoch() else { return };
			let Some(current_key) = T::Custody::output_key(current) else { return };
			let fee_rate = Self::fee_rate();
			let max_inputs = T::MaxInputsPerProposal::get() as usize;
			for old in SweepingEpochs::<T>::get() {
				let utxos = Self::utxos_of_epoch(old);
				if utxos.is_empty() {
					SweepingEpochs::<T>::mutate(|epochs| epochs.retain(|e| *e != old));
					if let Err(error) = T::Custody::retire_epoch(old) {
						log::warn!(target: "btc-bridge", "epoch {old} not retired: {error:?}");
					}
					Self::deposit_event(Event::EpochSwept { epoch: old });
					continue;
				}
				match builder::build_sweep(&utxos, &current_key, fee_rate, max_inputs) {
					Ok(built) => {
						let output = (0, built.transaction.outputs[0].value_sats, current);
						Self::store_proposal(
							now,
							ProposalKind::Sweep { from_epoch: old },
							old,
							built,
							fee_rate,
							Some(output),
						);
						return;
					},
					// Dust that cannot pay its own fee stays; later deposits may lift it.
					Err(error) => {
						log::debug!(target: "btc-bridge", "epoch {old} not swept yet: {error:?}");
					},
				}
			}

			let queue = WithdrawalQueue::<T>::get();
			if queue.is_empty() {
				return;
			}
			let requests: Vec<PayoutRequest> = queue
				.iter()
				.take(T::MaxWithdrawalsPerProposal::get() as usize)
				.filter_map(|id| {
					Withdrawals::<T>::get(id).map(|w| PayoutRequest {
						id: *id,
						script_pubkey: w.script_pubkey.into_inner(),
						amount_sats: w.amount_sats,
					})
				})
				.collect();
			let utxos = Self::utxos_of_epoch(current);
			let built = match builder::build_payout(
				&utxos,
				&requests,
				&current_key,
				fee_rate,
				max_inputs,
			) {
				Ok(built) => built,
				Err(BuildError::NothingToPay) => {
					// Every offered request was too small: refund them all.
					Self::refund(&requests.iter().map(|r| r.id).collect::<Vec<_>>());
					return;
				},
				Err(error) => {
					log::debug!(target: "btc-bridge", "no payout yet: {error:?}");
					return;
				},
			};
			Self::refund(&built.too_small);
			let custody_output = built
				.change_sats
				.map(|sats| (built.transaction.outputs.len() as u32 - 1, sats, current));
			Self::store_proposal(
				now,
				ProposalKind::Payout,
				current,
				built,
				fee_rate,
				custody_output,
			);
		}

		fn refund(ids: &[WithdrawalId]) {
			if ids.is_empty() {
				return;
			}
			WithdrawalQueue::<T>::mutate(|queue| queue.retain(|id| !ids.contains(id)));
			for id in ids {
				let Some(mut withdrawal) = Withdrawals::<T>::get(id) else { continue };
				let amount = sats_to_base_units(withdrawal.amount_sats);
				if let Err(error) = T::Currency::mint_into(&withdrawal.owner, amount) {
					log::error!(target: "btc-bridge", "refund of withdrawal {id} failed: {error:?}");
				}
				withdrawal.status = WithdrawalStatus::Refunded;
				Self::deposit_event(Event::WithdrawalRefunded {
					id: *id,
					owner: withdrawal.owner.clone(),
					sats: withdrawal.amount_sats,
				});
				Withdrawals::<T>::insert(id, withdrawal);
			}
		}

		fn store_proposal(
			now: BlockNumberFor<T>,
			kind: ProposalKind,
			epoch: u32,
			built: builder::BuiltTransaction,
			fee_rate: u64,
			custody_output: Option<(u32, u64, u32)>,
		) {
			let Some(input_key) = T::Custody::output_key(epoch) else { return };
			let input_script = p2tr_script_pubkey(&input_key);
			let prevouts: Vec<TxOut> = built
				.inputs
				.iter()
				.map(|utxo| TxOut {
					value_sats: utxo.value_sats,
					script_pubkey: input_script.clone(),
				})
				.collect();
			let Ok(sighashes) = key_spend_sighashes(&built.transaction, &prevouts) else { return };
			let proposal_id = NextProposalId::<T>::mutate(|next| {
				let id = (*next).max(1);
				*next = id + 1;
				id
			});
			let txid = built.transaction.txid();
			let withdrawals: Vec<WithdrawalId> = built.payouts.iter().map(|(id, _)| *id).collect();
			let proposal = Proposal::<T> {
				kind,
				epoch,
				payouts: BoundedVec::truncate_from(built.payouts.clone()),
				inputs: BoundedVec::truncate_from(
					built.inputs.iter().map(|u| (u.outpoint, u.value_sats)).collect(),
				),
				unsigned_tx: BoundedVec::truncate_from(built.transaction.to_bytes()),
				txid,
				sighashes: BoundedVec::truncate_from(sighashes),
				fee_sats: built.fee_sats,
				fee_rate_sat_per_vb: fee_rate,
				vsize: built.vsize,
				custody_output,
				approvals: BoundedVec::new(),
				rejections: BoundedVec::new(),
				status: ProposalStatus::Voting {
					deadline: now.saturating_add(T::VotingBlocks::get()),
				},
				created_at: now,
			};
			VoteWindows::<T>::mutate(|windows| {
				// Sixteen windows are open only if proposals follow each other within one
				// voting period sixteen times; the oldest goes unchecked then.
				if windows.is_full() {
					windows.remove(0);
				}
				let _ = windows.try_push((proposal_id, now.saturating_add(T::VotingBlocks::get())));
			});
			WithdrawalQueue::<T>::mutate(|queue| queue.retain(|id| !withdrawals.contains(id)));
			for id in &withdrawals {
				Withdrawals::<T>::mutate(id, |w| {
					if let Some(w) = w {
						w.status = WithdrawalStatus::Proposed { proposal_id };
					}
				});
			}
			Self::deposit_event(Event::ProposalCreated {
				proposal_id,
				kind,
				txid,
				withdrawals,
				inputs: proposal.inputs.len() as u32,
				fee_sats: proposal.fee_sats,
				fee_rate_sat_per_vb: proposal.fee_rate_sat_per_vb,
			});
			Proposals::<T>::insert(proposal_id, proposal);
			ProposalByTxid::<T>::insert(txid, proposal_id);
			ActiveProposal::<T>::put(proposal_id);
		}
	}
}

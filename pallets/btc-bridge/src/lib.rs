//! # BTC bridge
//!
//! Bitcoin comes in through a proven deposit and goes out only when two thirds of the
//! validators approve one exact Bitcoin transaction and the custody key signs it.
//!
//! - **Deposits** ([`deposits`]): [`Call::submit_deposit`] (anyone) proves a transaction to
//!   the light client with [`RequiredConfirmations`]. Every output paying the P2TR address of
//!   any live key epoch is recorded as a bridge UTXO once, and credited `sats * 10^10` base
//!   units to the account its memo names (see [`tapchain_primitives::bridge`]). Without a
//!   valid memo, or below [`Config::MinDepositSats`], it is recorded as unclaimed
//!   (governance can assign it with [`Call::assign_unclaimed_deposit`]).
//! - **Withdrawals** ([`withdrawals`]): [`Call::request_withdrawal`] parses the address for
//!   the light client's network, burns the amount (never more than the bridged BTC
//!   outstanding, and never reaping the account) and queues it.
//! - **Proposals** ([`proposals`]): when requests wait and no proposal is in flight,
//!   `on_initialize` builds one transaction deterministically ([`builder`]): old epochs'
//!   UTXOs are swept to the current key first (fee from the [`BridgeLedger::reserve_sats`]),
//!   then the queue is paid (fee shared by the requests). Validators check it on their own and
//!   vote ([`Call::vote_on_proposal`]); with more than two thirds approving, custody signs
//!   (one session per key epoch of the inputs, any `t` members); with more than a third
//!   rejecting, or no decision in [`Config::VotingBlocks`], it is dropped and its requests
//!   wait again. Once approved a transaction is never replaced: it is signed again until
//!   signed, and either its proof or a governance decision ends it.
//! - **Fees** ([`fees`]): the fee rate is the median of the fresh reports of at least
//!   `floor(2n/3) + 1` validators, clamped to [`FeeRateBounds`]; with fewer, the governed
//!   [`DefaultFeeRate`]. Each validator's node also refuses a proposal whose rate is far from
//!   its own Bitcoin node's estimate.
//!
//! ## The promises
//!
//! Checked by [`Pallet::do_try_state`] after every block of the tests and the simulation:
//!
//! 1. **Liveness.** A queued request is proposed, or refunded once it waited
//!    [`Config::WithdrawalTimeoutBlocks`]; a request the UTXO set cannot pay is skipped, never
//!    blocking those behind it. A proposal is decided within [`Config::VotingBlocks`]; an
//!    approved one is signed within custody's bound (`(f + 1) * 2 * SigningAttemptBlocks`
//!    blocks with at most `f` faulty members of each key), then paid once Bitcoin confirms it.
//!    Every withdrawal ends paid or refunded.
//! 2. **Conservation.** The custody UTXOs add up to exactly `issued + pending withdrawals +
//!    unclaimed + reserve` ([`BridgeLedger`]): every base unit minted against a deposit is
//!    backed, and every sat of Bitcoin fee is charged to someone. Payout fees, dust change
//!    included, are paid by the requests; sweep fees by the reserve, which anyone funds by
//!    burning bridged BTC ([`Call::fund_fee_reserve`]) and which a sweep waits for if short.
//!    [`runtime_api::BtcBridgeApi::backing`] reports the books. A proven theft
//!    ([`Call::report_theft`], [`theft`]) moves the stolen coins from the UTXOs to
//!    [`TheftShortfall`] (UTXOs + shortfall = the books' total), and the robbed key's members'
//!    slashed stake, burned, takes them out of it again.
//! 3. **No free block space.** Votes and fee reports are checked in full by the pool (signature,
//!    current validator, open window, not yet voted, report interval); one vote per proposal
//!    and one report per five blocks per validator.
//! 4. **Nothing stranded.** A deposit to any live epoch is credited; an old epoch's UTXOs,
//!    dust included (topped up with a current UTXO), are swept, and an epoch is retired only
//!    once empty, with no bounded list to fall off. Governance escapes:
//!    [`Call::cancel_proposal`] (before a signature can exist; requeue or refund),
//!    [`Call::assign_unclaimed_deposit`], [`Call::write_off_drained_epoch`] (dust nobody can
//!    move), [`Call::set_default_fee_rate`].
//! 5. **No replay.** Votes name the proposal and its txid, fee reports a block number above
//!    the reporter's last; both are signed over the genesis hash.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "runtime-benchmarks")]
pub use benchmarking::BenchmarkHelper;
pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
pub mod builder;
pub mod deposits;
pub use deposits::BuriedBitcoinBlocks;
pub mod fees;
mod invariants;
#[cfg(test)]
mod mock;
pub mod proposals;
pub mod runtime_api;
#[cfg(test)]
mod tests;
pub mod theft;
mod types;
mod unsigned;
pub mod weights;
pub mod withdrawals;

pub use tapchain_primitives::custody::{SigningStatus, TheftSlash, ThresholdCustody};
pub use theft::MIN_TX_INPUT_BYTES;
pub use types::*;
pub use weights::WeightInfo;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{
		pallet_prelude::*,
		traits::fungible::{Inspect, Mutate},
	};
	use frame_system::pallet_prelude::*;
	use pallet_btc_light_client::{MerkleProof, SpvError};
	use sp_runtime::Perbill;
	use tapchain_primitives::{
		bitcoin::{AddressError, BlockHash, OutPoint, Txid},
		bridge::{DepositRecipient, FeeRateReport, ProposalVote},
		custody::AuthSignature,
		Balance,
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
		type Custody: ThresholdCustody<Self::AccountId>;

		/// Smallest deposit credited, in sats (smaller ones are recorded as unclaimed).
		#[pallet::constant]
		type MinDepositSats: Get<u64>;

		/// Most withdrawals one transaction pays.
		#[pallet::constant]
		type MaxWithdrawalsPerProposal: Get<u32>;

		/// Most inputs of one transaction (at most custody's messages per signing session).
		#[pallet::constant]
		type MaxInputsPerProposal: Get<u32>;

		/// Queued requests a proposal considers, oldest first (those the UTXO set cannot pay
		/// are skipped, so this bounds the work, not who is paid).
		#[pallet::constant]
		type MaxRequestsScanned: Get<u32>;

		/// Blocks a queued request waits at most: then it is refunded.
		#[pallet::constant]
		type WithdrawalTimeoutBlocks: Get<BlockNumberFor<Self>>;

		/// Most validators (voters).
		#[pallet::constant]
		type MaxVoters: Get<u32>;

		/// Blocks a proposal may wait for its two-thirds decision.
		#[pallet::constant]
		type VotingBlocks: Get<BlockNumberFor<Self>>;

		/// Blocks an old key epoch keeps taking deposits after a newer one replaced it, before
		/// it may be retired once empty: deposits sent to its address just before the
		/// rotation can still confirm and be proven.
		#[pallet::constant]
		type OldEpochGraceBlocks: Get<BlockNumberFor<Self>>;

		/// Priority of votes and fee reports in the transaction pool.
		#[pallet::constant]
		type UnsignedPriority: Get<TransactionPriority>;

		/// Weights from this pallet's benchmarks.
		type WeightInfo: WeightInfo;

		/// Sets up what the benchmarks need from the runtime (a custody key epoch).
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: crate::BenchmarkHelper<Self::AccountId>;
	}

	/// Confirmations a deposit or withdrawal transaction needs (6 on mainnet).
	#[pallet::storage]
	pub type RequiredConfirmations<T> = StorageValue<_, u32, ValueQuery>;

	/// Governed bounds of the fee rate, sat/vB: `(min, max)`.
	#[pallet::storage]
	pub type FeeRateBounds<T> = StorageValue<_, (u64, u64), ValueQuery>;

	/// The fee rate (sat/vB) proposals use while fewer than two thirds of the validators
	/// report one (governed).
	#[pallet::storage]
	pub type DefaultFeeRate<T> = StorageValue<_, u64, ValueQuery>;

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

	/// The bridge's books (see [`BridgeLedger`]).
	#[pallet::storage]
	pub type Ledger<T> = StorageValue<_, BridgeLedger, ValueQuery>;

	/// Id of the next withdrawal.
	#[pallet::storage]
	pub type NextWithdrawalId<T> = StorageValue<_, WithdrawalId, ValueQuery>;

	/// Withdrawal requests by id.
	#[pallet::storage]
	pub type Withdrawals<T: Config> =
		StorageMap<_, Twox64Concat, WithdrawalId, Withdrawal<T::AccountId, BlockNumberFor<T>>>;

	/// Queued withdrawals, keyed by their id in big-endian bytes so that iteration is oldest
	/// first. Unbounded: every entry is a burned amount above the minimum withdrawal.
	#[pallet::storage]
	pub type WithdrawalQueue<T> = CountedStorageMap<_, Identity, [u8; 8], ()>;

	/// Id of the next proposal.
	#[pallet::storage]
	pub type NextProposalId<T> = StorageValue<_, ProposalId, ValueQuery>;

	/// Proposals by id.
	#[pallet::storage]
	pub type Proposals<T: Config> = StorageMap<_, Twox64Concat, ProposalId, Proposal<T>>;

	/// Proposals by txid: a bridge transaction is never taken for a deposit.
	#[pallet::storage]
	pub type ProposalByTxid<T> = StorageMap<_, Identity, Txid, ProposalId>;

	/// Voting windows still open: proposal -> last block of its window. Votes are taken
	/// until the window closes even after a decision, and who never voted is then reported.
	/// At most one proposal starts per block and a window lasts `VotingBlocks`, so this holds
	/// at most `VotingBlocks + 1` entries.
	#[pallet::storage]
	pub type VoteWindows<T: Config> = StorageMap<_, Twox64Concat, ProposalId, BlockNumberFor<T>>;

	/// Each validator's vote on a proposal whose voting window is open: proposal, validator
	/// -> ballot. Kept apart from the proposal so that a vote reads and writes the same few
	/// bytes whether it is the first or the thousandth; cleared when the window closes.
	#[pallet::storage]
	pub type ProposalVotes<T: Config> =
		StorageDoubleMap<_, Twox64Concat, ProposalId, Blake2_128Concat, T::AccountId, Ballot>;

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

	/// A sweep waits for the reserve: the fee it needs, in sats (reported once per need).
	#[pallet::storage]
	pub type SweepAwaitingReserve<T> = StorageValue<_, u64>;

	/// What a vault's current key may hold, as a share of its members' backing stake
	/// (governed; all of it by default: every bridged sat backed by a bonded sat).
	#[pallet::storage]
	pub type VaultCapacityRatio<T> = StorageValue<_, Perbill, ValueQuery, DefaultCapacityRatio>;

	/// All of a vault's backing stake.
	pub struct DefaultCapacityRatio;
	impl Get<Perbill> for DefaultCapacityRatio {
		fn get() -> Perbill {
			Perbill::one()
		}
	}

	/// Block each old epoch was replaced at (its grace period starts there).
	#[pallet::storage]
	pub type EpochReplacedAt<T: Config> = StorageMap<_, Twox64Concat, u32, BlockNumberFor<T>>;

	/// When and how far a late signed transaction's fee is bumped (governed).
	#[pallet::storage]
	pub type FeeBumpPolicy<T> = StorageValue<_, FeeBumpSettings, ValueQuery>;

	/// The light client's height from which the signed transaction in flight has waited for
	/// its proof (set when it is signed, and again when a fee bump of it is dropped); a fee
	/// bump waits its confirmations and [`FeeBumpSettings::after_bitcoin_blocks`] from
	/// there. Kept apart from
	/// [`Proposals`] so that stored proposals keep their layout.
	#[pallet::storage]
	pub type InFlightSince<T> = StorageValue<_, u32>;

	/// Proven thefts, by the thief's txid.
	#[pallet::storage]
	pub type ProvenThefts<T> = StorageMap<_, Identity, Txid, TheftRecord>;

	/// Sats proven stolen from custody and not restored by slashing: the backing the custody
	/// UTXOs lack (`UTXOs + shortfall = the books' total`, checked by `try_state`). Slashing
	/// leaves some only when the members' stake at risk was less than the theft.
	#[pallet::storage]
	pub type TheftShortfall<T> = StorageValue<_, u64, ValueQuery>;

	/// The proposal whose fee bump was reported blocked (reported once per proposal).
	#[pallet::storage]
	pub type FeeBumpBlockedFor<T> = StorageValue<_, ProposalId>;

	#[pallet::genesis_config]
	pub struct GenesisConfig<T: Config> {
		/// Confirmations deposits and withdrawals need.
		pub required_confirmations: u32,
		/// `(min, max)` fee rate in sat/vB.
		pub fee_rate_bounds: (u64, u64),
		/// Fee rate without a quorum of reports, sat/vB (0: the minimum bound).
		#[serde(default)]
		pub default_fee_rate: u64,
		/// Fee bumping of late signed transactions (default: never).
		#[serde(default)]
		pub fee_bump: FeeBumpSettings,
		#[serde(skip)]
		pub _config: PhantomData<T>,
	}

	impl<T: Config> Default for GenesisConfig<T> {
		/// Mainnet's six confirmations; 1 to 1000 sat/vB.
		fn default() -> Self {
			Self {
				required_confirmations: 6,
				fee_rate_bounds: (1, 1_000),
				default_fee_rate: 0,
				fee_bump: FeeBumpSettings::default(),
				_config: PhantomData,
			}
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
			DefaultFeeRate::<T>::put(self.default_fee_rate.clamp(min, max));
			FeeBumpPolicy::<T>::put(self.fee_bump);
			NextWithdrawalId::<T>::put(1);
			NextProposalId::<T>::put(1);
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(crate) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A deposit was minted to its memo's account.
		DepositCredited { outpoint: OutPoint, account: T::AccountId, sats: u64, epoch: u32 },
		/// A deposit was recorded without credit.
		DepositUnclaimed { outpoint: OutPoint, sats: u64, reason: UnclaimedReason },
		/// Governance assigned an unclaimed deposit.
		UnclaimedDepositAssigned { outpoint: OutPoint, account: T::AccountId, sats: u64 },
		/// A withdrawal was burned and queued.
		WithdrawalRequested { id: WithdrawalId, owner: T::AccountId, address: Vec<u8>, sats: u64 },
		/// A withdrawal's burned amount was minted back.
		WithdrawalRefunded {
			id: WithdrawalId,
			owner: T::AccountId,
			sats: u64,
			reason: RefundReason,
		},
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
		/// Custody opened a signing session for the inputs of one key epoch.
		SigningStarted { proposal_id: ProposalId, epoch: u32, session_id: u64 },
		/// More than a third rejected: its requests are queued again.
		ProposalRejected { proposal_id: ProposalId },
		/// No decision in time: its requests are queued again.
		ProposalExpired { proposal_id: ProposalId },
		/// Governance cancelled the proposal; its requests were queued again or refunded.
		ProposalCancelled { proposal_id: ProposalId, refunded: bool },
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
		/// Governance changed the fee rate used without a quorum of reports.
		DefaultFeeRateSet { sat_per_vb: u64 },
		/// Bridged BTC was burned into the fee reserve.
		FeeReserveFunded { who: T::AccountId, sats: u64 },
		/// An old epoch's sweep needs more of the reserve than it holds: fund it.
		SweepAwaitingReserve { needed_sats: u64, reserve_sats: u64 },
		/// An old epoch holds nothing more: custody retired it.
		EpochSwept { epoch: u32 },
		/// Governance wrote off a drained epoch's dust and retired it.
		EpochWrittenOff { epoch: u32, sats: u64 },
		/// A signed transaction late to confirm cannot be bumped, and why.
		FeeBumpBlocked { proposal_id: ProposalId, reason: FeeBumpBlocked },
		/// A transaction of a fee-bump family confirmed; the others of the family can never
		/// confirm and the unspent part of their extra fee went back to the reserve.
		ProposalSuperseded { proposal_id: ProposalId, confirmed: ProposalId },
		/// Governance changed the fee-bump settings.
		FeeBumpPolicySet { settings: FeeBumpSettings },
		/// Governance set what share of its backing stake a vault's key may hold.
		VaultCapacityRatioSet { ratio: Perbill },
		/// A transaction nobody approved spent custody's coins: `stolen_sats` from these
		/// epochs `(epoch, sats)`; the proposals in flight that spent them ended and their
		/// requests wait again. The epochs' members were slashed and `restored_sats` of
		/// their stake burned: the issued BTC the custody UTXOs no longer back is that much
		/// less.
		TheftProven {
			txid: Txid,
			stolen_sats: u64,
			epochs: Vec<(u32, u64)>,
			ended_proposals: Vec<ProposalId>,
			restored_sats: u64,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The transaction is larger than any deposit may be.
		TransactionTooLarge,
		/// The light client refused the proof (unknown block, not in the best chain, bad
		/// Merkle branch, malformed or 64-byte transaction, too few confirmations).
		InvalidProof(SpvError),
		/// No output pays the custody address of a live epoch.
		NoCustodyOutput,
		/// Every custody output of this transaction was recorded already.
		AlreadyCredited,
		/// This is a bridge transaction: prove it with `submit_withdrawal_proof`.
		BridgeTransaction,
		/// The withdrawal address is not one this chain can pay.
		InvalidAddress(AddressError),
		/// The amount is not a whole number of satoshis.
		NotWholeSats,
		/// Below the dust limit plus the fee of its output and one input at today's rate.
		WithdrawalTooSmall,
		/// More than the bridged BTC outstanding: the bridge pays out only what came in.
		ExceedsBridgedSupply,
		/// The balance does not cover the amount (the account must keep its existential
		/// deposit).
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
		/// The report is not newer than the reporter's last one by the minimum interval, or
		/// too old to count, or from the future.
		StaleReport,
		/// Zero fee rate.
		InvalidFeeRate,
		/// The proposal has no approved transaction awaiting confirmation.
		NotAwaitingConfirmation,
		/// Minimum above maximum, or zero; or a default rate outside the bounds.
		InvalidFeeRateBounds,
		/// The outpoint is not an unclaimed deposit.
		NotUnclaimed,
		/// Minting to the account failed.
		CreditFailed,
		/// A signature of this transaction may exist: it cannot be cancelled.
		ProposalMayBeSigned,
		/// The epoch is current, unknown, or has UTXOs in a proposal in flight.
		EpochNotDrained,
		/// The reserve cannot cover the written-off sats; fund it first.
		ReserveTooLow,
		/// The transaction spends no bridge UTXO.
		NotACustodySpend,
		/// The transaction is an approved proposal's (or one of its fee bumps'): the bridge's
		/// own, not theft.
		ApprovedTransaction,
		/// This theft was proven already.
		TheftAlreadyProven,
		/// A bridge UTXO is spent by a script path: the recovery committee's leaf, not the
		/// validators' key.
		NotAKeyPathSpend,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let db = T::DbWeight::get();
			let mut weight = db.reads_writes(4, 3);
			Self::track_epochs(now);
			weight.saturating_accrue(Self::close_vote_windows(now));
			weight.saturating_accrue(Self::refund_timed_out_withdrawals(now));
			weight.saturating_accrue(Self::advance_active_proposal(now));
			// Benchmarked as a payout build over the proposal's inputs (decode, sighashes).
			weight.saturating_accrue(Self::bump_late_transaction(now));
			if ActiveProposal::<T>::get().is_none() && now >= NextProposalAt::<T>::get() {
				// Benchmarked: building a payout of the offered requests from every UTXO; a
				// sweep reads the UTXO set once more.
				let offered =
					(WithdrawalQueue::<T>::count()).clamp(1, T::MaxWithdrawalsPerProposal::get());
				let build =
					<T as Config>::WeightInfo::build_payout_proposal(offered, Utxos::<T>::count());
				weight.saturating_accrue(build.saturating_mul(2));
				// The benchmark ran with one validator; the median reads every report.
				weight.saturating_accrue(Self::fee_rate_weight());
				Self::start_next_proposal(now);
			}
			weight
		}

		/// Every validator's vote must fit the voting window: the deciding vote (what each
		/// vote is charged before dispatch) within one normal extrinsic, `MaxVoters` votes at
		/// what they use (an approval's cost, one of them the deciding rejection) within a
		/// quarter of the window's normal-class space (the rest is left to users), and closing
		/// a window within a quarter of a block even when every validator was silent (each
		/// silence is an offence staking records: about 13% of a block at 1,000).
		fn integrity_test() {
			use sp_runtime::traits::UniqueSaturatedInto;
			let limits = <T as frame_system::Config>::BlockWeights::get();
			let normal = limits.get(frame_support::dispatch::DispatchClass::Normal);
			let max_extrinsic = normal.max_extrinsic.unwrap_or(Weight::MAX);
			let vote = Self::vote_weight();
			assert!(
				vote.all_lte(max_extrinsic),
				"a vote weighs {vote:?}, more than a normal extrinsic may ({max_extrinsic:?})"
			);
			let voters = T::MaxVoters::get();
			let window_blocks: u64 = T::VotingBlocks::get().unique_saturated_into();
			let window_space =
				normal.max_total.unwrap_or(limits.max_block).saturating_mul(window_blocks);
			let all_votes = <T as Config>::WeightInfo::approve_proposal(voters)
				.saturating_mul(voters as u64)
				.saturating_add(vote);
			assert!(
				all_votes.all_lte(window_space / 4),
				"{voters} votes weigh {all_votes:?}, more than a quarter of the {window_blocks} \
				 blocks of a voting window ({window_space:?})"
			);
			let close = <T as Config>::WeightInfo::close_vote_window(voters, 0)
				.max(<T as Config>::WeightInfo::close_vote_window(0, voters));
			assert!(
				close.all_lte(limits.max_block / 4),
				"closing a voting window of {voters} validators weighs {close:?}, more than a \
				 quarter of the block"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Proves a deposit: every output paying a live custody address is recorded once and
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
			.map_err(Error::<T>::InvalidProof)?;
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

		/// A validator's vote on the proposal in flight, signed by its custody identity
		/// (authenticated in `validate_unsigned`). Charged as the deciding vote; refunded to
		/// an approval's cost unless it was the rejection that puts the requests back.
		#[pallet::call_index(2)]
		#[pallet::weight(Pallet::<T>::vote_weight())]
		pub fn vote_on_proposal(
			origin: OriginFor<T>,
			vote: ProposalVote,
			signature: AuthSignature,
		) -> DispatchResultWithPostInfo {
			ensure_none(origin)?;
			let _ = signature;
			let validator = Self::check_vote_state(&vote)?;
			let requeued = Self::apply_vote(vote, validator)?;
			let used = if requeued {
				None
			} else {
				Some(<T as Config>::WeightInfo::approve_proposal(T::MaxVoters::get()))
			};
			Ok(used.into())
		}

		/// A validator's fee-rate estimate, signed by its custody identity (authenticated in
		/// `validate_unsigned`).
		#[pallet::call_index(3)]
		#[pallet::weight(Weight::from_parts(80_000_000, 4_000) + T::DbWeight::get().reads_writes(3, 1))]
		pub fn report_fee_rate(
			origin: OriginFor<T>,
			report: FeeRateReport,
			signature: AuthSignature,
		) -> DispatchResult {
			ensure_none(origin)?;
			let _ = signature;
			let validator = Self::check_fee_report_state(&report)?;
			FeeRateReports::<T>::insert(&validator, (report.sat_per_vbyte, report.at_block));
			Self::deposit_event(Event::FeeRateReported {
				validator,
				sat_per_vbyte: report.sat_per_vbyte,
			});
			Ok(())
		}

		/// Proves that an approved bridge transaction confirmed: its withdrawals are paid, its
		/// inputs leave the UTXO set and its custody output joins it. Taken as soon as the
		/// transaction is approved: a signature aggregated off-chain from published shares
		/// pays exactly what was approved.
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
			ensure!(proposal.status.is_approved_in_flight(), Error::<T>::NotAwaitingConfirmation);
			let inclusion = pallet_btc_light_client::Pallet::<T>::verify_confirmed_inclusion(
				&raw_tx,
				&proof,
				block_hash,
				RequiredConfirmations::<T>::get(),
			)
			.map_err(Error::<T>::InvalidProof)?;
			ensure!(inclusion.txid == proposal.txid, Error::<T>::TxidMismatch);
			Self::confirm_proposal(proposal_id, &mut proposal, block_hash);
			Ok(())
		}

		/// Governance sets the fee-rate bounds (sat/vB).
		#[pallet::call_index(5)]
		#[pallet::weight(T::DbWeight::get().reads_writes(1, 2))]
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
			DefaultFeeRate::<T>::mutate(|rate| {
				*rate = (*rate).clamp(min_sat_per_vb, max_sat_per_vb)
			});
			Self::deposit_event(Event::FeeRateBoundsSet { min_sat_per_vb, max_sat_per_vb });
			Ok(())
		}

		/// Governance credits an unclaimed deposit (e.g. after its sender proved ownership).
		#[pallet::call_index(6)]
		#[pallet::weight(Weight::from_parts(40_000_000, 4_000) + T::DbWeight::get().reads_writes(3, 3))]
		pub fn assign_unclaimed_deposit(
			origin: OriginFor<T>,
			outpoint: OutPoint,
			recipient: DepositRecipient,
		) -> DispatchResult {
			ensure_root(origin)?;
			Self::do_assign_unclaimed(outpoint, recipient)
		}

		/// Governance sets the fee rate used while fewer than two thirds of the validators
		/// report one (sat/vB, within the bounds).
		#[pallet::call_index(7)]
		#[pallet::weight(T::DbWeight::get().reads_writes(1, 1))]
		pub fn set_default_fee_rate(origin: OriginFor<T>, sat_per_vb: u64) -> DispatchResult {
			ensure_root(origin)?;
			let (min, max) = FeeRateBounds::<T>::get();
			ensure!((min..=max).contains(&sat_per_vb), Error::<T>::InvalidFeeRateBounds);
			DefaultFeeRate::<T>::put(sat_per_vb);
			Self::deposit_event(Event::DefaultFeeRateSet { sat_per_vb });
			Ok(())
		}

		/// Burns `amount` (base units, whole sats) of the caller's bridged BTC into the fee
		/// reserve, which pays sweep fees.
		#[pallet::call_index(8)]
		#[pallet::weight(Weight::from_parts(40_000_000, 4_000) + T::DbWeight::get().reads_writes(3, 2))]
		pub fn fund_fee_reserve(origin: OriginFor<T>, amount: Balance) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_fund_fee_reserve(who, amount)
		}

		/// Governance cancels the proposal in flight before any signature of it can exist
		/// (while voting, or signing with no share published): its requests are queued again,
		/// or refunded if `refund`. A transaction that may be signed cannot be cancelled: only
		/// its confirmation ends it.
		#[pallet::call_index(9)]
		#[pallet::weight(Weight::from_parts(60_000_000, 8_000) + T::DbWeight::get().reads_writes(
			8 + 2 * T::MaxWithdrawalsPerProposal::get() as u64,
			6 + 3 * T::MaxWithdrawalsPerProposal::get() as u64,
		))]
		pub fn cancel_proposal(
			origin: OriginFor<T>,
			proposal_id: ProposalId,
			refund: bool,
		) -> DispatchResult {
			ensure_root(origin)?;
			Self::do_cancel_proposal(proposal_id, refund)
		}

		/// Governance writes off a drained old epoch: UTXOs too small to sweep even with a
		/// top-up (dust no transaction can move) leave the books (the reserve pays for
		/// credited ones, unclaimed ones are dropped) and the epoch is retired, releasing its
		/// members' stake.
		#[pallet::call_index(10)]
		#[pallet::weight(Weight::from_parts(60_000_000, 8_000) + T::DbWeight::get().reads_writes(
			4 + 2 * T::MaxInputsPerProposal::get() as u64,
			4 + 2 * T::MaxInputsPerProposal::get() as u64,
		))]
		pub fn write_off_drained_epoch(origin: OriginFor<T>, epoch: u32) -> DispatchResult {
			ensure_root(origin)?;
			Self::do_write_off_epoch(epoch)
		}

		/// Proves a theft: `raw_tx`, confirmed on the light client's best chain, spends bridge
		/// UTXOs by the key path and is no approved proposal's transaction. Anyone may prove
		/// one, free of fees.
		///
		/// Weight: at most one stolen input per 41 bytes of the transaction, and every member
		/// of every live key epoch slashed; plus ending the proposal in flight. What was done
		/// is charged after.
		#[pallet::call_index(12)]
		#[pallet::weight(
			<T as Config>::WeightInfo::report_theft(
				(raw_tx.len() / MIN_TX_INPUT_BYTES).min(MAX_STOLEN_INPUTS as usize) as u32,
				T::MaxVoters::get().saturating_mul(T::Custody::live_epochs().len() as u32),
			)
			.saturating_add(Pallet::<T>::end_in_flight_weight())
		)]
		pub fn report_theft(
			origin: OriginFor<T>,
			raw_tx: Vec<u8>,
			proof: MerkleProof,
			block_hash: BlockHash,
		) -> DispatchResultWithPostInfo {
			ensure_signed(origin)?;
			let weight = Self::do_report_theft(&raw_tx, &proof, block_hash)?;
			Ok(frame_support::dispatch::PostDispatchInfo {
				actual_weight: Some(weight.saturating_add(Self::end_in_flight_weight())),
				pays_fee: Pays::No,
			})
		}

		/// Governance sets when a late signed transaction's fee is bumped, and the most extra
		/// fee the reserve pays for one transaction's bumps.
		#[pallet::call_index(11)]
		#[pallet::weight(T::DbWeight::get().writes(1))]
		pub fn set_fee_bump_policy(
			origin: OriginFor<T>,
			settings: FeeBumpSettings,
		) -> DispatchResult {
			ensure_root(origin)?;
			FeeBumpPolicy::<T>::put(settings);
			Self::deposit_event(Event::FeeBumpPolicySet { settings });
			Ok(())
		}

		/// Governance sets what share of its members' backing stake a vault's key may hold.
		/// Deposits and change go to the vault with the most room under it. A ratio at most
		/// `t/k` of the vault keeps a theft by a threshold unprofitable (see the README).
		#[pallet::call_index(13)]
		#[pallet::weight(T::DbWeight::get().writes(1))]
		pub fn set_vault_capacity_ratio(origin: OriginFor<T>, ratio: Perbill) -> DispatchResult {
			ensure_root(origin)?;
			VaultCapacityRatio::<T>::put(ratio);
			Self::deposit_event(Event::VaultCapacityRatioSet { ratio });
			Ok(())
		}
	}

	// `ValidateUnsigned` is deprecated in favour of `#[pallet::authorize]`, which needs
	// `AuthorizeCall` in the transaction extensions; custody makes the same choice.
	#[allow(deprecated)]
	#[pallet::validate_unsigned]
	impl<T: Config> ValidateUnsigned for Pallet<T> {
		type Call = Call<T>;

		/// The one authentication path of votes and fee reports (see [`crate::unsigned`]).
		fn validate_unsigned(_source: TransactionSource, call: &Self::Call) -> TransactionValidity {
			Self::validate_bridge_message(call)
		}
	}
}

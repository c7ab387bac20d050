//! The bridge's types: deposits, withdrawals, proposals and the ledger of its bitcoin.

use crate::Config;
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	pallet_prelude::*, traits::ConstU32, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
};
use frame_system::pallet_prelude::BlockNumberFor;
use scale_info::TypeInfo;
use tapchain_primitives::bitcoin::{BlockHash, OutPoint, Txid};
pub use tapchain_primitives::bridge::{
	BridgeUtxo, ProposalCheck, ProposalKind, ReplacedTransaction,
};

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
/// Most key epochs whose UTXOs one transaction spends (one custody session each).
pub type MaxSigningEpochs = ConstU32<8>;
/// Largest deposit transaction accepted for proof (Bitcoin's standardness limit is 100 kvB).
pub const MAX_DEPOSIT_TX_BYTES: usize = 400_000;

/// Fee reports older than this many blocks (an hour of 6-second blocks) no longer count: a
/// validator whose Bitcoin node went quiet stops steering the fee.
pub const FEE_REPORT_MAX_AGE_BLOCKS: u32 = 600;

/// A validator's fee reports are at least this many blocks apart (its node reports every
/// 10): one validator cannot fill blocks with reports.
pub const MIN_FEE_REPORT_INTERVAL_BLOCKS: u32 = 5;

/// Weight of re-checking one custody signature (BIP-340 with `k256` in wasm) before the
/// witnesses are assembled: an estimate (1 ms), not yet benchmarked.
pub const SIGNATURE_CHECK_WEIGHT: Weight = Weight::from_parts(1_000_000_000, 0);

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
	/// Unclaimed, then written off by governance with its drained epoch (dust nobody
	/// could move).
	WrittenOff,
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

/// Why a withdrawal's amount was minted back.
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
pub enum RefundReason {
	/// The amount could not pay its fee share and leave a non-dust output.
	TooSmallForFee,
	/// Not paid within [`Config::WithdrawalTimeoutBlocks`] of its request.
	TimedOut,
	/// Governance cancelled its proposal with a refund.
	Cancelled,
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
	/// The burned amount was minted back.
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
	/// Approved; custody's signing sessions are being opened.
	Approved,
	/// Custody is signing (one session per epoch of the inputs).
	Signing,
	/// Signed: waiting for a relayer to prove it confirmed.
	Signed,
	/// Confirmed on Bitcoin.
	Confirmed { bitcoin_block: BlockHash },
	/// More than a third of the validators rejected it.
	Rejected,
	/// No decision before the deadline.
	Expired,
	/// Governance cancelled it before any signature could exist.
	Cancelled,
	/// Signed, but another transaction of its fee-bump family (same inputs) confirmed:
	/// proposal `confirmed`. It can never confirm.
	Superseded { confirmed: ProposalId },
	/// A proven theft spent one of its inputs: it can never confirm, and its requests wait
	/// again (see `report_theft`).
	SpentByTheft,
}

impl<BlockNumber> ProposalStatus<BlockNumber> {
	/// Approved and not yet confirmed: the transaction is final, only signatures or its
	/// confirmation are awaited. Only a fee bump of it (same inputs, same payouts) may take
	/// its place.
	pub fn is_approved_in_flight(&self) -> bool {
		matches!(self, Self::Approved | Self::Signing | Self::Signed)
	}

	/// A signature of its transaction may exist: it was approved. Such a transaction
	/// spending the bridge's coins is the bridge's own, never theft.
	pub fn may_have_been_signed(&self) -> bool {
		matches!(
			self,
			Self::Approved
				| Self::Signing
				| Self::Signed
				| Self::Confirmed { .. }
				| Self::Superseded { .. }
				| Self::SpentByTheft
		)
	}
}

/// A proven theft: the bridge UTXOs a transaction nobody approved spent, as
/// `(outpoint, sats, epoch)`, and how much of it the epochs' members' slashed stake made good.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct TheftRecord {
	pub bitcoin_block: BlockHash,
	pub stolen: BoundedVec<(OutPoint, u64, u32), ConstU32<MAX_STOLEN_INPUTS>>,
	/// Sats of the members' stake burned for it: issued BTC that no longer needs backing.
	pub restored_sats: u64,
}

/// Inputs of one theft the bridge records (a standard transaction has fewer: 100 kvB at
/// 57.5 vB per key-path input is 1,739).
pub const MAX_STOLEN_INPUTS: u32 = 2_000;

/// A validator's recorded vote on a proposal.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
pub enum Ballot {
	Approve,
	Reject,
}

impl Ballot {
	pub fn from_approve(approve: bool) -> Self {
		if approve {
			Ballot::Approve
		} else {
			Ballot::Reject
		}
	}
}

/// A transaction proposal.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[scale_info(skip_type_params(T))]
pub struct Proposal<T: Config> {
	pub kind: ProposalKind,
	/// `(withdrawal, sats paid)` in output order.
	pub payouts: BoundedVec<(WithdrawalId, u64), T::MaxWithdrawalsPerProposal>,
	/// Spent bridge UTXOs with their amounts and key epochs, in input order.
	pub inputs: BoundedVec<(OutPoint, u64, u32), T::MaxInputsPerProposal>,
	/// The transaction without witnesses.
	pub unsigned_tx: BoundedVec<u8, MaxTransactionBytes>,
	pub txid: Txid,
	/// BIP-341 key-path sighash of every input, in input order: what custody signs.
	pub sighashes: BoundedVec<[u8; 32], T::MaxInputsPerProposal>,
	pub fee_sats: u64,
	pub fee_rate_sat_per_vb: u64,
	pub vsize: u64,
	/// What the fee reserve pays of the fee: a sweep's whole fee; a payout's change given up
	/// as dust (the requests pay the rest).
	pub reserve_fee_sats: u64,
	/// The output that returns to custody (change or sweep): `(vout, sats, epoch)`.
	pub custody_output: Option<(u32, u64, u32)>,
	/// Custody's signing sessions once approved: `(epoch, session)`.
	pub signing_sessions: BoundedVec<(u32, u64), MaxSigningEpochs>,
	/// Validators that approved so far (who they are: [`crate::ProposalVotes`], until the
	/// voting window closes).
	pub approvals: u32,
	/// Validators that rejected so far.
	pub rejections: u32,
	pub status: ProposalStatus<BlockNumberFor<T>>,
	pub created_at: BlockNumberFor<T>,
}

impl<T: Config> Proposal<T> {
	/// The key epochs of the inputs, in first-input order.
	pub fn input_epochs(&self) -> Vec<u32> {
		let mut epochs: Vec<u32> = Vec::new();
		for (_, _, epoch) in &self.inputs {
			if !epochs.contains(epoch) {
				epochs.push(*epoch);
			}
		}
		epochs
	}

	/// What the transaction takes out of custody: inputs minus the custody output.
	pub fn outflow_sats(&self) -> u64 {
		let inputs: u64 = self.inputs.iter().map(|(_, sats, _)| sats).sum();
		inputs.saturating_sub(self.custody_output.map_or(0, |(_, sats, _)| sats))
	}
}

/// When and how far the bridge bumps the fee of a signed transaction that does not confirm
/// (governed).
#[derive(
	Clone,
	Copy,
	Default,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	serde::Serialize,
	serde::Deserialize,
)]
pub struct FeeBumpSettings {
	/// Bitcoin blocks (as the light client counts them) in which a signed transaction may
	/// go unmined: it is replaced at a higher fee once it is unproven that many blocks
	/// beyond the confirmations its proof needs (`RequiredConfirmations`); 0 never bumps.
	pub after_bitcoin_blocks: u32,
	/// Most extra fee, in sats, the reserve pays for all the bumps of one transaction.
	pub max_extra_sats: u64,
}

/// Why a signed transaction that is late to confirm is not bumped (reported once).
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
pub enum FeeBumpBlocked {
	/// No custody output to take the extra fee from (it pays only withdrawals).
	NoCustodyOutput,
	/// The custody output would fall below the dust limit.
	CustodyOutputTooSmall,
	/// The extra fee would pass [`FeeBumpSettings::max_extra_sats`].
	OverBudget,
	/// The reserve holds less than the extra fee: fund it.
	ReserveTooLow,
}

/// The bridge's books, in sats. At every block the custody UTXOs add up to exactly
/// `issued + pending_withdrawals + unclaimed + reserve + reserve_committed` (checked by
/// `try_state`); every field only moves with a matching move of another or of the UTXOs.
#[derive(
	Clone,
	Copy,
	Default,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct BridgeLedger {
	/// Minted against deposits (and refunds) and not burned since: what holders of bridged
	/// BTC can withdraw.
	pub issued_sats: u64,
	/// Burned by withdrawals not yet paid or refunded (queued or in a proposal).
	pub pending_withdrawal_sats: u64,
	/// Deposits recorded without credit (no memo, below the minimum): owed to whoever
	/// governance assigns them to.
	pub unclaimed_sats: u64,
	/// Owed to nobody: pays sweep fees. Funded by anyone burning bridged BTC into it.
	pub reserve_sats: u64,
	/// Taken from the reserve for the fee of the sweep in flight.
	pub reserve_committed_sats: u64,
}

impl BridgeLedger {
	/// What the custody UTXOs must add up to.
	pub fn total_sats(&self) -> u128 {
		self.issued_sats as u128
			+ self.pending_withdrawal_sats as u128
			+ self.unclaimed_sats as u128
			+ self.reserve_sats as u128
			+ self.reserve_committed_sats as u128
	}
}

/// The backing and the liabilities, as the runtime API reports them.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo)]
pub struct BridgeBacking {
	/// Sum of the bridge's custody UTXOs.
	pub utxo_sats: u64,
	/// What the approved transaction in flight pays out of custody (outputs to others and
	/// its fee); the rest of `utxo_sats` is what the bridge can spend.
	pub in_flight_outflow_sats: u64,
	pub ledger: BridgeLedger,
	/// Proven stolen and not made good by slashing: `utxo_sats + theft_shortfall_sats` is the
	/// books' total.
	pub theft_shortfall_sats: u64,
}

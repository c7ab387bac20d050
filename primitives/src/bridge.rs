//! What depositors, relayers, validators and the bridge pallet agree on: the deposit memo
//! format, the messages validators sign for the bridge, and what they check before voting.
//!
//! # Deposit memo
//!
//! A deposit is a Bitcoin transaction with an output paying the custody address (P2TR) and
//! one `OP_RETURN` output naming the recipient on Tapchain:
//!
//! ```text
//! OP_RETURN <push of 22 bytes:  "TC" || 20-byte EVM address>      (credits the EVM account)
//! OP_RETURN <push of 34 bytes:  "TC" || 32-byte native AccountId> (credits the native account)
//! ```
//!
//! i.e. script `6a 16 5443 <20 bytes>` or `6a 22 5443 <32 bytes>` in hex. The push must be a
//! single direct push. `OP_RETURN` outputs without the `TC` prefix are ignored (other
//! protocols use them); a transaction with two `TC` memos, or a malformed one, is
//! ambiguous and its deposit is recorded as unclaimed.

use crate::bitcoin::OutPoint;
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// A validator's vote on a bridge transaction proposal, signed by its custody identity.
///
/// The vote names the exact unsigned transaction (its txid), so a vote can never count for
/// another transaction under the same proposal id.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
pub struct ProposalVote {
	pub proposal_id: u64,
	/// Txid of the proposal's unsigned transaction (internal byte order).
	pub txid: [u8; 32],
	/// The voter's registered custody identity (BIP-340 x-only key).
	pub voter: [u8; 32],
	pub approve: bool,
}

/// A validator's Bitcoin fee-rate estimate (from its own Bitcoin node).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
pub struct FeeRateReport {
	/// The reporter's registered custody identity.
	pub reporter: [u8; 32],
	/// Satoshis per virtual byte.
	pub sat_per_vbyte: u64,
	/// Tapchain block the report was made at: each report must be newer than the
	/// reporter's previous one, so an old report cannot be replayed.
	pub at_block: u32,
}

/// Every message a validator's custody identity signs for the bridge. The variant index is
/// part of the signed bytes.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
pub enum BridgeMessage {
	ProposalVote(ProposalVote),
	FeeRateReport(FeeRateReport),
}

const BRIDGE_AUTH_TAG: &[u8] = b"Tapchain/bridge/auth";

impl BridgeMessage {
	/// The digest the sender's custody identity signs (BIP-340) on the chain with
	/// `genesis_hash`. Its tag differs from custody messages', so neither passes for the other.
	pub fn digest(&self, genesis_hash: &[u8; 32]) -> [u8; 32] {
		crate::bitcoin::taproot::tagged_hash(BRIDGE_AUTH_TAG, &[genesis_hash, &self.encode()])
	}
}

/// A bridge-owned Bitcoin output.
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
pub struct BridgeUtxo {
	pub value_sats: u64,
	/// The key epoch whose address it pays.
	pub epoch: u32,
}

/// What a proposal's transaction does.
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
pub enum ProposalKind {
	/// Pays queued withdrawals.
	Payout,
	/// Moves old epochs' UTXOs (the oldest is `from_epoch`) to the current custody address,
	/// topped up with a current UTXO when dust alone could not pay its way.
	Sweep { from_epoch: u32 },
	/// Replaces the signed transaction of proposal `replaces`, which has not confirmed in
	/// time, with the same inputs and outputs but a higher fee taken from its custody output
	/// (BIP-125 replace-by-fee). Whichever of the two confirms completes the withdrawal.
	FeeBump { replaces: u64 },
	/// Moves coins of `from_epoch`, a vault's current key holding more than its capacity, to
	/// `to_epoch`, the current key with the most room (one output, fee from the reserve).
	Rebalance { from_epoch: u32, to_epoch: u32 },
}

/// The transaction a fee bump replaces, for a validator's check.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo)]
pub struct ReplacedTransaction {
	pub unsigned_tx: Vec<u8>,
	pub fee_sats: u64,
}

/// Everything a validator needs to check a proposal on its own before voting.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo)]
pub struct ProposalCheck {
	pub proposal_id: u64,
	pub kind: ProposalKind,
	/// Whether votes are being taken.
	pub voting: bool,
	pub unsigned_tx: Vec<u8>,
	pub sighashes: Vec<[u8; 32]>,
	/// Each input's outpoint and the bridge's record of it (`None`: not a bridge UTXO).
	pub inputs: Vec<(OutPoint, Option<BridgeUtxo>)>,
	/// Output keys of the live epochs whose UTXOs are spent (an input of any other epoch is
	/// not the bridge's to spend).
	pub epoch_output_keys: Vec<(u32, [u8; 32])>,
	/// Output key change and sweeps must go to: the key that was current when the proposal
	/// was built (a live key).
	pub current_output_key: Option<[u8; 32]>,
	/// The payouts: `(withdrawal, its output script, amount requested, sats paid)`.
	pub payouts: Vec<(u64, Vec<u8>, u64, u64)>,
	/// Governed `(min, max)` fee rate, sat/vB.
	pub fee_rate_bounds: (u64, u64),
	pub fee_rate_sat_per_vb: u64,
	/// For a fee bump: the transaction it replaces.
	pub replaced: Option<ReplacedTransaction>,
}

/// The two bytes every deposit memo starts with.
pub const MEMO_PREFIX: [u8; 2] = *b"TC";

const OP_RETURN: u8 = 0x6a;

/// The account a deposit credits.
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
	serde::Serialize,
	serde::Deserialize,
)]
pub enum DepositRecipient {
	/// An Ethereum-style account (20 bytes), as wallets on the EVM side know it.
	Evm([u8; 20]),
	/// A native account (32 bytes).
	Native([u8; 32]),
}

/// What an `OP_RETURN` output says about a deposit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MemoParse {
	/// Not a Tapchain memo (not `OP_RETURN`, or another protocol's data).
	NotAMemo,
	/// A Tapchain memo naming a recipient.
	Recipient(DepositRecipient),
	/// Starts like a Tapchain memo but is not one of the two valid forms.
	Malformed,
}

impl DepositRecipient {
	/// The `OP_RETURN` output script carrying this recipient as a memo.
	pub fn memo_script(&self) -> Vec<u8> {
		let account: &[u8] = match self {
			DepositRecipient::Evm(address) => address,
			DepositRecipient::Native(account) => account,
		};
		let mut script = Vec::with_capacity(2 + 2 + account.len());
		script.push(OP_RETURN);
		script.push((MEMO_PREFIX.len() + account.len()) as u8);
		script.extend_from_slice(&MEMO_PREFIX);
		script.extend_from_slice(account);
		script
	}

	/// Reads an output script as a memo.
	pub fn parse_memo(script_pubkey: &[u8]) -> MemoParse {
		let Some((&OP_RETURN, rest)) = script_pubkey.split_first() else {
			return MemoParse::NotAMemo;
		};
		let Some((&push_len, data)) = rest.split_first() else { return MemoParse::NotAMemo };
		// Direct pushes are opcodes 1..=75; anything else is not our format.
		if !(1..=75).contains(&push_len) || !data.starts_with(&MEMO_PREFIX) {
			return MemoParse::NotAMemo;
		}
		if data.len() != push_len as usize {
			return MemoParse::Malformed;
		}
		let account = &data[MEMO_PREFIX.len()..];
		match account.len() {
			20 => {
				MemoParse::Recipient(DepositRecipient::Evm(account.try_into().expect("20 bytes")))
			},
			32 => MemoParse::Recipient(DepositRecipient::Native(
				account.try_into().expect("32 bytes"),
			)),
			_ => MemoParse::Malformed,
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn memos_round_trip() {
		for recipient in [DepositRecipient::Evm([7; 20]), DepositRecipient::Native([9; 32])] {
			let script = recipient.memo_script();
			assert_eq!(DepositRecipient::parse_memo(&script), MemoParse::Recipient(recipient));
		}
		assert_eq!(
			hex_of(&DepositRecipient::Evm([0xab; 20]).memo_script())[..8],
			*"6a165443",
			"documented layout"
		);
	}

	#[test]
	fn other_scripts_are_not_memos_and_bad_memos_are_malformed() {
		assert_eq!(DepositRecipient::parse_memo(&[]), MemoParse::NotAMemo);
		assert_eq!(DepositRecipient::parse_memo(&[0x51, 0x20]), MemoParse::NotAMemo);
		assert_eq!(DepositRecipient::parse_memo(&[OP_RETURN]), MemoParse::NotAMemo);
		assert_eq!(DepositRecipient::parse_memo(&[OP_RETURN, 4, 1, 2, 3, 4]), MemoParse::NotAMemo);
		// Right prefix, wrong account length.
		assert_eq!(
			DepositRecipient::parse_memo(&[OP_RETURN, 5, b'T', b'C', 1, 2, 3]),
			MemoParse::Malformed
		);
		// Push length disagrees with the data.
		let mut script = DepositRecipient::Evm([1; 20]).memo_script();
		script.push(0);
		assert_eq!(DepositRecipient::parse_memo(&script), MemoParse::Malformed);
	}

	fn hex_of(bytes: &[u8]) -> alloc::string::String {
		bytes.iter().map(|b| alloc::format!("{b:02x}")).collect()
	}
}

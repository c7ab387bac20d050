//! Types the light client stores and exposes.

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{traits::ConstU32, BoundedVec};
use scale_info::TypeInfo;
use sp_core::U256;
use tapchain_primitives::bitcoin::{
	network::MEDIAN_TIME_SPAN, BlockHash, BlockHeader, CompactTarget, DecodeError, MerkleError,
	Transaction, Txid, Work, MAX_MERKLE_DEPTH,
};

/// A header the light client accepted, with what checking its children needs, so that no
/// rule ever reads far-away ancestors.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct StoredHeader {
	/// The header itself.
	pub header: BlockHeader,
	/// Its height in the Bitcoin chain.
	pub height: u32,
	/// Work of the chain from the checkpoint up to and including this header.
	pub chain_work: Work,
	/// Timestamp of the first header of this header's retarget period.
	pub period_first_time: u32,
	/// nBits of the first header of this header's retarget period (BIP94).
	pub period_first_bits: CompactTarget,
	/// nBits testnet's minimum-difficulty rule falls back to after this header.
	pub last_non_min_difficulty_bits: CompactTarget,
	/// Timestamps of this header and up to 10 ancestors, oldest first: the median-time-past
	/// window of its children.
	pub recent_times: BoundedVec<u32, ConstU32<{ MEDIAN_TIME_SPAN as u32 }>>,
}

impl StoredHeader {
	/// Median of the recent timestamps: a child's time must be above it.
	pub fn median_time_past(&self) -> u32 {
		let mut times: Vec<u32> = self.recent_times.to_vec();
		times.sort_unstable();
		times.get(times.len() / 2).copied().unwrap_or(self.header.time)
	}
}

/// Most headers (best chain and forks) kept at one height.
pub const MAX_HEADERS_PER_HEIGHT: u32 = 16;

/// The headers stored at one height and which of them is on the best chain.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct HeightEntry {
	/// The best chain's header at this height (`None` above the best tip).
	pub best: Option<BlockHash>,
	/// Every stored header at this height, the best one included.
	pub all: BoundedVec<BlockHash, ConstU32<MAX_HEADERS_PER_HEIGHT>>,
}

/// The tip of the best (most-work) chain.
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
pub struct ChainTip {
	pub hash: BlockHash,
	pub height: u32,
	pub chain_work: Work,
}

/// Proof that a transaction is in a block: its index and the Merkle branch (siblings in
/// internal byte order, leaf level first).
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct MerkleProof {
	pub tx_index: u32,
	pub branch: BoundedVec<[u8; 32], ConstU32<{ MAX_MERKLE_DEPTH as u32 }>>,
}

/// Why a transaction's inclusion could not be established.
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
	frame_support::PalletError,
)]
pub enum SpvError {
	/// The light client holds no checkpoint yet.
	NotInitialized,
	/// The block is not known (never submitted, or pruned).
	UnknownBlock,
	/// The block is known but not on the best chain.
	BlockNotInBestChain,
	/// The transaction bytes do not parse.
	MalformedTransaction,
	/// A 64-byte transaction could be an inner Merkle node in disguise: never accepted.
	SixtyFourByteTransaction,
	/// The branch has more levels than any block can have.
	MerkleProofTooDeep,
	/// The index does not fit the branch's depth.
	MerkleIndexOutOfRange,
	/// The proof points past the block's last transaction.
	MerkleDuplicatedNode,
	/// The branch does not lead to the block's Merkle root.
	MerkleRootMismatch,
	/// The block is buried under fewer blocks than required.
	InsufficientConfirmations,
}

impl From<MerkleError> for SpvError {
	fn from(error: MerkleError) -> Self {
		match error {
			MerkleError::TooDeep => SpvError::MerkleProofTooDeep,
			MerkleError::IndexOutOfRange => SpvError::MerkleIndexOutOfRange,
			MerkleError::DuplicatedRightNode => SpvError::MerkleDuplicatedNode,
			MerkleError::RootMismatch => SpvError::MerkleRootMismatch,
		}
	}
}

impl From<DecodeError> for SpvError {
	fn from(_: DecodeError) -> Self {
		SpvError::MalformedTransaction
	}
}

/// A transaction proven to be in the best chain.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifiedInclusion {
	pub transaction: Transaction,
	pub txid: Txid,
	pub block_hash: BlockHash,
	pub block_height: u32,
	/// 1 when the block is the tip, 2 with one block on top, and so on.
	pub confirmations: u32,
}

/// Where the light client starts: a header every later header descends from.
///
/// Any header can serve; one that starts a retarget period (height divisible by 2016)
/// needs nothing else. Otherwise `period_first_time`/`period_first_bits` must give the
/// period's first header. `previous_timestamps` (the up to 10 timestamps before the
/// checkpoint, oldest first) make the median-time-past rule exact for the first 11 headers;
/// without them the median is taken over the timestamps known so far.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Checkpoint {
	/// The 80-byte header, hex.
	#[serde(with = "sp_core::bytes")]
	pub header: Vec<u8>,
	/// Its height.
	pub height: u32,
	/// Bitcoin Core's `chainwork` at the checkpoint (optional: work is only compared
	/// between descendants of the checkpoint).
	#[serde(default)]
	pub chain_work: Option<U256>,
	#[serde(default)]
	pub period_first_time: Option<u32>,
	#[serde(default)]
	pub period_first_bits: Option<u32>,
	/// testnet only: nBits of the last header that was not at the pow limit.
	#[serde(default)]
	pub last_non_min_difficulty_bits: Option<u32>,
	#[serde(default)]
	pub previous_timestamps: Vec<u32>,
}

impl Checkpoint {
	/// The checkpoint of a header that starts a retarget period (or of a genesis block).
	pub fn at_period_start(header: &BlockHeader, height: u32) -> Self {
		Checkpoint {
			header: header.to_bytes().to_vec(),
			height,
			chain_work: None,
			period_first_time: None,
			period_first_bits: None,
			last_non_min_difficulty_bits: None,
			previous_timestamps: Vec::new(),
		}
	}
}

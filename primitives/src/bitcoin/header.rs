//! The 80-byte block header.

use super::{encode::Reader, hash::TxMerkleNode, sha256d, BlockHash, CompactTarget, DecodeError};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// Size of a serialized header.
pub const HEADER_SIZE: usize = 80;

/// A Bitcoin block header.
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
pub struct BlockHeader {
	/// Block version (signals soft forks; minimum values by height per BIP34/65/66).
	pub version: i32,
	/// Hash of the previous block's header.
	pub prev_blockhash: BlockHash,
	/// Root of the Merkle tree of the block's transaction ids.
	pub merkle_root: TxMerkleNode,
	/// Miner's timestamp, seconds since the Unix epoch.
	pub time: u32,
	/// The target the header's hash must meet, in compact form.
	pub bits: CompactTarget,
	/// Free field miners vary to find a hash that meets the target.
	pub nonce: u32,
}

impl BlockHeader {
	/// Parses exactly 80 bytes.
	pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
		if bytes.len() > HEADER_SIZE {
			return Err(DecodeError::TrailingBytes);
		}
		let mut reader = Reader::new(bytes);
		let header = BlockHeader {
			version: reader.i32()?,
			prev_blockhash: BlockHash(reader.array()?),
			merkle_root: TxMerkleNode(reader.array()?),
			time: reader.u32()?,
			bits: CompactTarget(reader.u32()?),
			nonce: reader.u32()?,
		};
		Ok(header)
	}

	/// The 80-byte serialization.
	pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
		let mut out = [0u8; HEADER_SIZE];
		out[0..4].copy_from_slice(&self.version.to_le_bytes());
		out[4..36].copy_from_slice(&self.prev_blockhash.0);
		out[36..68].copy_from_slice(&self.merkle_root.0);
		out[68..72].copy_from_slice(&self.time.to_le_bytes());
		out[72..76].copy_from_slice(&self.bits.0.to_le_bytes());
		out[76..80].copy_from_slice(&self.nonce.to_le_bytes());
		out
	}

	/// The header's hash (its identity, and what must meet the target).
	pub fn block_hash(&self) -> BlockHash {
		BlockHash(sha256d(&self.to_bytes()))
	}
}

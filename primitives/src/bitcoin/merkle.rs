//! Transaction Merkle trees: the root of a block's txids, and inclusion proofs (branches).

use super::{sha256d, TxMerkleNode, Txid};
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode};
use scale_info::TypeInfo;

/// Deepest branch accepted: 2^24 transactions is far beyond what a 4 MWU block can hold
/// (at least 60 bytes each), so a deeper proof cannot be honest.
pub const MAX_MERKLE_DEPTH: usize = 24;

/// Why a Merkle branch does not prove inclusion.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
pub enum MerkleError {
	/// More levels than any block can have.
	TooDeep,
	/// The index has bits above the branch's depth: the position is ambiguous.
	IndexOutOfRange,
	/// A right child equal to its left sibling: a position past the last transaction,
	/// reachable only through the duplicated last node (CVE-2012-2459).
	DuplicatedRightNode,
	/// The computed root differs from the header's.
	RootMismatch,
}

fn hash_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
	let mut buf = [0u8; 64];
	buf[..32].copy_from_slice(left);
	buf[32..].copy_from_slice(right);
	sha256d(&buf)
}

/// The Merkle root of a block's txids, as Bitcoin computes it (odd levels repeat the last).
pub fn merkle_root(txids: &[Txid]) -> Option<TxMerkleNode> {
	if txids.is_empty() {
		return None;
	}
	let mut level: Vec<[u8; 32]> = txids.iter().map(|t| t.0).collect();
	while level.len() > 1 {
		level = level
			.chunks(2)
			.map(|pair| hash_pair(&pair[0], pair.get(1).unwrap_or(&pair[0])))
			.collect();
	}
	Some(TxMerkleNode(level[0]))
}

/// Recomputes the root from a leaf, its index and its branch (siblings, leaf level first),
/// and compares it with `expected_root`.
pub fn verify_merkle_branch(
	leaf: Txid,
	index: u32,
	branch: &[[u8; 32]],
	expected_root: TxMerkleNode,
) -> Result<(), MerkleError> {
	if branch.len() > MAX_MERKLE_DEPTH {
		return Err(MerkleError::TooDeep);
	}
	if (index as u64) >> branch.len() != 0 {
		return Err(MerkleError::IndexOutOfRange);
	}
	let mut node = leaf.0;
	for (level, sibling) in branch.iter().enumerate() {
		node = if (index >> level) & 1 == 1 {
			if sibling == &node {
				return Err(MerkleError::DuplicatedRightNode);
			}
			hash_pair(sibling, &node)
		} else {
			hash_pair(&node, sibling)
		};
	}
	if node == expected_root.0 {
		Ok(())
	} else {
		Err(MerkleError::RootMismatch)
	}
}

/// The branch proving the transaction at `index` (for tests, btc-sim and relayers).
pub fn merkle_branch(txids: &[Txid], index: usize) -> Option<Vec<[u8; 32]>> {
	if index >= txids.len() {
		return None;
	}
	let mut level: Vec<[u8; 32]> = txids.iter().map(|t| t.0).collect();
	let mut position = index;
	let mut branch = Vec::new();
	while level.len() > 1 {
		let sibling = position ^ 1;
		branch.push(*level.get(sibling).unwrap_or(&level[position]));
		level = level
			.chunks(2)
			.map(|pair| hash_pair(&pair[0], pair.get(1).unwrap_or(&pair[0])))
			.collect();
		position /= 2;
	}
	Some(branch)
}

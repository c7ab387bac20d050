//! Mining regtest-difficulty headers for tests and benchmarks.

use crate::Checkpoint;
use tapchain_primitives::bitcoin::{BlockHash, BlockHeader, CompactTarget, Target, TxMerkleNode};

/// nBits at regtest's pow limit: about every second hash meets it.
pub const REGTEST_MIN_DIFFICULTY_BITS: CompactTarget = CompactTarget(0x207f_ffff);

/// nBits 128 times harder than regtest's limit: still cheap to mine in a test.
pub const REGTEST_HARDER_BITS: CompactTarget = CompactTarget(0x2000_ffff);

/// Finds a nonce so that the header meets its own target.
pub fn mine(mut header: BlockHeader) -> BlockHeader {
	let limit = Target(sp_core::U256::MAX);
	let target = header.bits.to_target(limit).expect("test nBits are valid");
	while !target.is_met_by(&header.block_hash().0) {
		header.nonce = header.nonce.wrapping_add(1);
	}
	header
}

/// A mined header on top of `parent`, `seconds` later, with `bits`; `tag` varies the
/// Merkle root so that sibling branches differ.
pub fn child(parent: &BlockHeader, seconds: u32, bits: CompactTarget, tag: u8) -> BlockHeader {
	mine(BlockHeader {
		version: 4,
		prev_blockhash: parent.block_hash(),
		merkle_root: TxMerkleNode([tag; 32]),
		time: parent.time + seconds,
		bits,
		nonce: 0,
	})
}

/// A chain of `count` headers on top of `parent`, 10 minutes apart.
pub fn chain(
	parent: &BlockHeader,
	count: usize,
	bits: CompactTarget,
	tag: u8,
) -> alloc::vec::Vec<BlockHeader> {
	let mut headers = alloc::vec::Vec::with_capacity(count);
	let mut last = *parent;
	for _ in 0..count {
		last = child(&last, 600, bits, tag);
		headers.push(last);
	}
	headers
}

/// A regtest checkpoint at height 0 with the given bits and time.
pub fn regtest_checkpoint(time: u32, bits: CompactTarget) -> (BlockHeader, Checkpoint) {
	let header = mine(BlockHeader {
		version: 1,
		prev_blockhash: BlockHash([0; 32]),
		merkle_root: TxMerkleNode([0x11; 32]),
		time,
		bits,
		nonce: 0,
	});
	(header, Checkpoint::at_period_start(&header, 0))
}

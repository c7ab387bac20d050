//! Benchmarks of `pallet-btc-light-client`, on mined regtest headers.

use super::*;
use crate::{test_utils::*, Pallet as BtcLightClient};
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::BoundedVec;
use frame_system::RawOrigin;
use tapchain_primitives::bitcoin::{
	BlockHeader, Network, OutPoint, Transaction, TxIn, TxMerkleNode, TxOut, Txid,
};

/// Starts the light client at a mined regtest checkpoint. Times stay within the 2-hour
/// window of a chain clock at 0, as it is in benchmarks.
fn initialize<T: Config>() -> BlockHeader {
	let (header, checkpoint) = regtest_checkpoint(1_000, REGTEST_MIN_DIFFICULTY_BITS);
	BtcLightClient::<T>::initialize(Network::Regtest, &checkpoint).expect("valid checkpoint");
	header
}

/// `count` headers one second apart on top of `parent`.
fn quick_chain(parent: &BlockHeader, count: u32, tag: u8) -> Vec<BlockHeader> {
	let mut headers = Vec::new();
	let mut last = *parent;
	for _ in 0..count {
		last = child(&last, 1, REGTEST_MIN_DIFFICULTY_BITS, tag);
		headers.push(last);
	}
	headers
}

fn import_all<T: Config>(headers: &[BlockHeader]) {
	let mut tip = BestTip::<T>::get().unwrap();
	let mut hint = None;
	for header in headers {
		BtcLightClient::<T>::import_header(header, &mut tip, &mut hint).expect("valid header");
	}
	BestTip::<T>::put(tip);
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn submit_headers(n: Linear<1, 2016>) {
		let checkpoint = initialize::<T>();
		let headers: BoundedVec<_, T::MaxHeadersPerSubmission> =
			BoundedVec::try_from(quick_chain(&checkpoint, n, 1)).expect("n within the bound");
		let caller: T::AccountId = whitelisted_caller();

		#[extrinsic_call]
		submit_headers(RawOrigin::Signed(caller), headers);

		assert_eq!(BestTip::<T>::get().unwrap().height, n);
	}

	#[benchmark]
	fn submit_fork_header(d: Linear<1, 100>) {
		let checkpoint = initialize::<T>();
		// Best chain of `d` headers; a rival branch of `d` from the checkpoint ties it, and
		// the measured header makes the rival heavier: a walk of `d` and a reorg of `d`.
		import_all::<T>(&quick_chain(&checkpoint, d, 1));
		let rival = quick_chain(&checkpoint, d + 1, 2);
		import_all::<T>(&rival[..d as usize]);
		let headers: BoundedVec<_, T::MaxHeadersPerSubmission> =
			BoundedVec::try_from(alloc::vec![rival[d as usize]]).unwrap();
		let caller: T::AccountId = whitelisted_caller();

		#[extrinsic_call]
		submit_headers(RawOrigin::Signed(caller), headers);

		assert_eq!(BestTip::<T>::get().unwrap().hash, rival[d as usize].block_hash());
	}

	#[benchmark]
	fn verify_inclusion(d: Linear<0, 24>, s: Linear<100, 100_000>) {
		let checkpoint = initialize::<T>();
		let transaction = Transaction {
			version: 2,
			inputs: alloc::vec![TxIn {
				previous_output: OutPoint { txid: Txid([7; 32]), vout: 0 },
				script_sig: alloc::vec![0x51; s as usize],
				sequence: u32::MAX,
				witness: Vec::new(),
			}],
			outputs: alloc::vec![TxOut { value_sats: 10_000, script_pubkey: alloc::vec![0x6a] }],
			lock_time: 0,
		};
		let raw = transaction.to_bytes();
		let branch: Vec<[u8; 32]> = (0..d).map(|level| [level as u8; 32]).collect();
		let mut node = transaction.txid().0;
		for sibling in &branch {
			let mut pair = [0u8; 64];
			pair[..32].copy_from_slice(&node);
			pair[32..].copy_from_slice(sibling);
			node = tapchain_primitives::bitcoin::sha256d(&pair);
		}
		let mut block = child(&checkpoint, 1, REGTEST_MIN_DIFFICULTY_BITS, 0);
		block.merkle_root = TxMerkleNode(node);
		let block = mine(block);
		import_all::<T>(&[block]);
		let proof = MerkleProof { tx_index: 0, branch: BoundedVec::try_from(branch).unwrap() };

		#[block]
		{
			BtcLightClient::<T>::verify_inclusion(&raw, &proof, block.block_hash())
				.expect("the proof is valid");
		}
	}

	#[benchmark]
	fn prune_height(h: Linear<1, 16>) {
		let checkpoint = initialize::<T>();
		let siblings: Vec<BlockHeader> = (0..h)
			.map(|tag| child(&checkpoint, 1, REGTEST_MIN_DIFFICULTY_BITS, tag as u8))
			.collect();
		import_all::<T>(&siblings);
		assert_eq!(HeightIndex::<T>::get(1).all.len() as u32, h);

		#[block]
		{
			BtcLightClient::<T>::prune_height(1);
		}

		assert!(HeightIndex::<T>::get(1).all.is_empty());
	}

	impl_benchmark_test_suite!(BtcLightClient, crate::mock::new_test_ext(), crate::mock::Test);
}

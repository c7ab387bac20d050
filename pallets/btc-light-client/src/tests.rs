//! Unit tests: real mainnet/testnet headers and proofs from the shared fixtures, and mined
//! regtest chains for forks, reorgs, limits and pruning.

use crate::{mock::*, test_utils::*, *};
use frame_support::{
	assert_noop, assert_ok,
	dispatch::{DispatchResultWithPostInfo, Pays},
	traits::Hooks,
	weights::Weight,
	BoundedVec,
};
use sp_runtime::BuildStorage;
use std::path::PathBuf;
use tapchain_primitives::bitcoin::{BlockHash, BlockHeader, CompactTarget, Network, Transaction};

// ---------------------------------------------------------------------------------------
// Helpers

fn fixtures_dir() -> Option<PathBuf> {
	let dir = std::env::var_os("TAPCHAIN_FIXTURES").map(PathBuf::from).unwrap_or_else(|| {
		PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
	});
	if dir.join("README.md").exists() {
		return Some(dir);
	}
	if std::env::var("CI").as_deref() == Ok("true") {
		panic!("conformance fixtures not found at {} (set TAPCHAIN_FIXTURES)", dir.display());
	}
	eprintln!("SKIPPED: conformance fixtures not found at {}", dir.display());
	None
}

fn fixture_headers(name: &str) -> Option<Vec<BlockHeader>> {
	let text = std::fs::read_to_string(fixtures_dir()?.join(name)).unwrap();
	Some(
		text.lines()
			.filter(|line| !line.trim().is_empty())
			.map(|line| BlockHeader::from_bytes(&hex::decode(line.trim()).unwrap()).unwrap())
			.collect(),
	)
}

fn fixture_json(name: &str) -> Option<serde_json::Value> {
	let text = std::fs::read_to_string(fixtures_dir()?.join(name)).unwrap();
	Some(serde_json::from_str(&text).unwrap())
}

fn header_from_hex(value: &serde_json::Value) -> BlockHeader {
	BlockHeader::from_bytes(&hex::decode(value.as_str().unwrap()).unwrap()).unwrap()
}

fn submit(headers: &[BlockHeader]) -> DispatchResultWithPostInfo {
	BtcLightClient::submit_headers(
		RuntimeOrigin::signed(1),
		BoundedVec::try_from(headers.to_vec()).expect("within MaxHeadersPerSubmission"),
	)
}

fn submit_in_batches(headers: &[BlockHeader]) {
	for batch in headers.chunks(2016) {
		assert_ok!(submit(batch));
	}
}

fn tip() -> ChainTip {
	BestTip::<Test>::get().expect("initialised")
}

fn init(network: Network, checkpoint: &Checkpoint) {
	BtcLightClient::initialize(network, checkpoint).expect("valid checkpoint");
}

/// A regtest chain starting at a mined checkpoint with `bits`.
fn init_regtest(bits: CompactTarget) -> BlockHeader {
	let (header, checkpoint) = regtest_checkpoint(1_700_000_000, bits);
	init(Network::Regtest, &checkpoint);
	header
}

fn reorg_events() -> Vec<(BlockHash, BlockHash, u32)> {
	System::events()
		.into_iter()
		.filter_map(|record| match record.event {
			RuntimeEvent::BtcLightClient(Event::ChainReorganized { old_tip, new_tip, depth }) => {
				Some((old_tip, new_tip, depth))
			},
			_ => None,
		})
		.collect()
}

// ---------------------------------------------------------------------------------------
// Real data

#[test]
fn two_real_mainnet_retarget_periods_are_accepted_and_free() {
	let Some(headers) = fixture_headers("mainnet-headers-822528.hex") else { return };
	new_test_ext().execute_with(|| {
		init(Network::Mainnet, &Checkpoint::at_period_start(&headers[0], 822_528));
		let rest = &headers[1..];
		for batch in rest.chunks(2016) {
			let info = submit(batch).expect("real headers are valid");
			assert_eq!(info.pays_fee, Pays::No, "useful headers are free");
		}
		assert_eq!(tip().height, 822_528 + 4031);
		assert_eq!(tip().hash, headers[4031].block_hash());
		// The retarget at 824544 changed the bits, and Bitcoin Core's assumevalid block is in.
		assert_eq!(BtcLightClient::header_at(824_544).unwrap().bits, CompactTarget(0x1703d869));
		assert_eq!(
			BtcLightClient::header_at(824_000).unwrap().block_hash().to_display_hex(),
			"000000000000000000026811d149d4d261995ec5b3f64f439a0a10e1a464af9a"
		);
	});
}

#[test]
fn checkpoints_inside_a_period_cross_real_retargets() {
	let Some(retargets) = fixture_json("mainnet-retargets.json") else { return };
	for (file, first_height, boundary) in [
		("mainnet-headers-554390.hex", 554_390u32, 554_400u64),
		("mainnet-headers-437466.hex", 437_466, 437_472),
	] {
		let headers = fixture_headers(file).unwrap();
		let entry = retargets["retargets"]
			.as_array()
			.unwrap()
			.iter()
			.find(|e| e["height"].as_u64() == Some(boundary))
			.unwrap();
		let period_first = header_from_hex(&entry["period_first_header"]);
		new_test_ext().execute_with(|| {
			let mut checkpoint = Checkpoint::at_period_start(&headers[0], first_height);
			checkpoint.period_first_time = Some(period_first.time);
			checkpoint.period_first_bits = Some(period_first.bits.0);
			init(Network::Mainnet, &checkpoint);
			assert_ok!(submit(&headers[1..]));
			assert_eq!(tip().height, first_height + headers.len() as u32 - 1);
			let new_bits = header_from_hex(&entry["new_period_first_header"]).bits;
			assert_eq!(BtcLightClient::header_at(boundary as u32).unwrap().bits, new_bits);
		});
	}
}

#[test]
fn a_checkpoint_inside_a_period_needs_the_period_start() {
	let Some(headers) = fixture_headers("mainnet-headers-554390.hex") else { return };
	new_test_ext().execute_with(|| {
		let checkpoint = Checkpoint::at_period_start(&headers[0], 554_390);
		assert!(BtcLightClient::initialize(Network::Mainnet, &checkpoint).is_err());
		assert!(BestTip::<Test>::get().is_none());
	});
}

#[test]
fn real_headers_with_one_bit_flipped_or_no_parent_are_refused() {
	let Some(headers) = fixture_headers("mainnet-headers-562621.hex") else { return };
	new_test_ext().execute_with(|| {
		let checkpoint_height = 562_621;
		let mut checkpoint = Checkpoint::at_period_start(&headers[0], checkpoint_height);
		checkpoint.period_first_time = Some(headers[0].time);
		checkpoint.period_first_bits = Some(headers[0].bits.0);
		init(Network::Mainnet, &checkpoint);

		let mut flipped = headers[1];
		flipped.nonce ^= 1;
		assert_noop!(submit(&[flipped]), Error::<Test>::InsufficientProofOfWork);
		let mut flipped_root = headers[1];
		flipped_root.merkle_root.0[0] ^= 0x80;
		assert_noop!(submit(&[flipped_root]), Error::<Test>::InsufficientProofOfWork);
		// A later header whose parent was never submitted.
		assert_noop!(submit(&[headers[3]]), Error::<Test>::UnknownParent);
		// A bad header in the middle of a batch: nothing of the batch is stored.
		assert_noop!(
			submit(&[headers[1], flipped, headers[2]]),
			Error::<Test>::InsufficientProofOfWork
		);
		assert_eq!(tip().height, checkpoint_height);
		assert_ok!(submit(&headers[1..]));
	});
}

#[test]
fn real_stale_headers_are_kept_as_forks_and_lose_to_the_main_chain() {
	let (Some(stale), Some(main)) =
		(fixture_json("stale-headers.json"), fixture_headers("mainnet-headers-822528.hex"))
	else {
		return;
	};
	let stale = stale["stale"]
		.as_array()
		.unwrap()
		.iter()
		.find(|s| s["height"].as_u64() == Some(823_226))
		.unwrap();
	let stale_header = header_from_hex(&stale["header"]);
	let index = 823_226 - 822_528;
	new_test_ext().execute_with(|| {
		init(Network::Mainnet, &Checkpoint::at_period_start(&main[0], 822_528));
		submit_in_batches(&main[1..index]);
		// The stale block arrives first, so it is the tip; the real block ties and waits.
		assert_ok!(submit(&[stale_header]));
		assert_eq!(tip().hash, stale_header.block_hash());
		assert_ok!(submit(&[main[index]]));
		assert_eq!(tip().hash, stale_header.block_hash(), "a tie keeps the first seen");
		// The next real block gives the main branch more work: a reorg of depth 1.
		assert_ok!(submit(&[main[index + 1]]));
		assert_eq!(tip().hash, main[index + 1].block_hash());
		assert_eq!(BtcLightClient::header_at(823_226), Some(main[index]));
		assert_eq!(
			reorg_events(),
			vec![(stale_header.block_hash(), main[index + 1].block_hash(), 1)]
		);
		assert_eq!(BtcLightClient::height_of(stale_header.block_hash()), Some(823_226));
	});
}

#[test]
fn real_testnet_chains_follow_their_minimum_difficulty_rules() {
	for (file, network) in [
		("testnet3-headers-0.hex", Network::Testnet3),
		("testnet4-headers-0.hex", Network::Testnet4),
	] {
		let Some(headers) = fixture_headers(file) else { return };
		new_test_ext().execute_with(|| {
			assert_eq!(headers[0].block_hash(), network.params().genesis_hash);
			init(network, &Checkpoint::at_period_start(&headers[0], 0));
			assert_ok!(submit(&headers[1..]));
			assert_eq!(tip().height, headers.len() as u32 - 1);
		});
	}
}

#[test]
fn real_spv_proofs_give_confirmations_on_the_best_chain() {
	let (Some(cases), Some(headers)) =
		(fixture_json("spv-cases.json"), fixture_headers("mainnet-headers-831328.hex"))
	else {
		return;
	};
	new_test_ext().execute_with(|| {
		let mut checkpoint = Checkpoint::at_period_start(&headers[0], 831_328);
		// The next retarget (832608) is never reached here, so the period start only needs
		// to be consistent.
		checkpoint.period_first_time = Some(headers[0].time);
		checkpoint.period_first_bits = Some(headers[0].bits.0);
		init(Network::Mainnet, &checkpoint);
		assert_ok!(submit(&headers[1..]));
		assert_eq!(tip().height, 831_335);

		let mut checked = 0;
		for case in cases["cases"].as_array().unwrap() {
			let raw = hex::decode(case["raw_tx"].as_str().unwrap()).unwrap();
			let branch: Vec<[u8; 32]> = case["merkle_branch"]
				.as_array()
				.unwrap()
				.iter()
				.map(|h| hex::decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
				.collect();
			let proof = MerkleProof {
				tx_index: case["tx_index"].as_u64().unwrap() as u32,
				branch: BoundedVec::try_from(branch).unwrap(),
			};
			let block = BlockHash::from_display_hex(case["block_hash"].as_str().unwrap()).unwrap();
			let result = BtcLightClient::verify_inclusion(&raw, &proof, block);
			if case["block_height"].as_u64() != Some(831_332) {
				assert_eq!(result.unwrap_err(), SpvError::UnknownBlock);
				continue;
			}
			let inclusion = result.expect("real proof verifies");
			assert_eq!(inclusion.confirmations, 4);
			assert_eq!(inclusion.txid.to_display_hex(), case["txid"].as_str().unwrap());
			assert_eq!(
				BtcLightClient::verify_confirmed_inclusion(&raw, &proof, block, 6).unwrap_err(),
				SpvError::InsufficientConfirmations
			);
			assert!(BtcLightClient::verify_confirmed_inclusion(&raw, &proof, block, 4).is_ok());

			// Tampering with the transaction, the index or the branch breaks the proof. (The
			// witness is not committed to by the txid, so the version byte is changed.)
			let mut tampered = raw.clone();
			tampered[0] ^= 1;
			assert_eq!(
				BtcLightClient::verify_inclusion(&tampered, &proof, block).unwrap_err(),
				SpvError::MerkleRootMismatch
			);
			let mut wrong_index = proof.clone();
			wrong_index.tx_index ^= 1;
			assert!(BtcLightClient::verify_inclusion(&raw, &wrong_index, block).is_err());
			let mut short = proof.clone();
			short.branch.pop();
			assert!(BtcLightClient::verify_inclusion(&raw, &short, block).is_err());
			checked += 1;
		}
		assert!(checked >= 7, "the block 831332 cases were checked");
	});
}

// ---------------------------------------------------------------------------------------
// Header rules on mined regtest chains

#[test]
fn nothing_is_accepted_before_a_checkpoint() {
	new_test_ext().execute_with(|| {
		let (checkpoint, _) = regtest_checkpoint(1_700_000_000, REGTEST_MIN_DIFFICULTY_BITS);
		let header = child(&checkpoint, 600, REGTEST_MIN_DIFFICULTY_BITS, 1);
		assert_noop!(submit(&[header]), Error::<Test>::NotInitialized);
		assert_noop!(submit(&[]), Error::<Test>::EmptySubmission);
	});
}

#[test]
fn duplicates_pay_and_a_submission_of_only_duplicates_fails() {
	new_test_ext().execute_with(|| {
		let checkpoint = init_regtest(REGTEST_MIN_DIFFICULTY_BITS);
		let headers = chain(&checkpoint, 4, REGTEST_MIN_DIFFICULTY_BITS, 1);
		assert_eq!(submit(&headers[..2]).unwrap().pays_fee, Pays::No);
		assert_noop!(submit(&headers[..2]), Error::<Test>::DuplicateHeader);
		// Overlapping batches (two relayers racing) still import the new headers, but pay.
		assert_eq!(submit(&headers[1..]).unwrap().pays_fee, Pays::Yes);
		assert_eq!(tip().height, 4);
	});
}

#[test]
fn cheap_headers_cannot_lock_a_height_and_side_branches_pay() {
	new_test_ext().execute_with(|| {
		let checkpoint = init_regtest(REGTEST_MIN_DIFFICULTY_BITS);
		// Sixteen minimum-difficulty siblings at height 1 (free to mine on regtest): the first
		// extends the tip and is free; the others leave the best chain alone and pay.
		let spam: Vec<BlockHeader> = (0..MAX_HEADERS_PER_HEIGHT as u8)
			.map(|tag| child(&checkpoint, 600, REGTEST_MIN_DIFFICULTY_BITS, 100 + tag))
			.collect();
		assert_eq!(submit(&spam[..1]).unwrap().pays_fee, Pays::No);
		for header in &spam[1..] {
			assert_eq!(submit(&[*header]).unwrap().pays_fee, Pays::Yes, "a side branch pays");
		}
		assert_eq!(HeightIndex::<Test>::get(1).all.len(), MAX_HEADERS_PER_HEIGHT as usize);
		// The honest header still gets in: it evicts a spam leaf of no more work (never the
		// best one), and its child makes it the best chain.
		let honest = chain(&checkpoint, 2, REGTEST_MIN_DIFFICULTY_BITS, 1);
		assert_ok!(submit(&honest[..1]));
		assert!(Headers::<Test>::contains_key(honest[0].block_hash()));
		assert!(Headers::<Test>::contains_key(spam[0].block_hash()), "the best is never evicted");
		assert_eq!(HeightIndex::<Test>::get(1).all.len(), MAX_HEADERS_PER_HEIGHT as usize);
		assert_eq!(submit(&honest[1..]).unwrap().pays_fee, Pays::No);
		assert_eq!(tip().hash, honest[1].block_hash());
		// A header with children is not evicted: with the height full of parents and the best,
		// another sibling is refused.
		let mut parents = Vec::new();
		for header in HeightIndex::<Test>::get(1).all.iter() {
			if *header == honest[0].block_hash() {
				continue;
			}
			let parent = Headers::<Test>::get(header).unwrap().header;
			let grandchild = child(&parent, 600, REGTEST_MIN_DIFFICULTY_BITS, 7);
			assert_ok!(submit(&[grandchild]));
			parents.push(grandchild);
		}
		let late = child(&checkpoint, 600, REGTEST_MIN_DIFFICULTY_BITS, 99);
		assert_noop!(submit(&[late]), Error::<Test>::TooManyHeadersAtHeight);
	});
}

#[test]
fn a_timestamp_at_the_median_of_the_last_eleven_is_refused() {
	new_test_ext().execute_with(|| {
		let checkpoint = init_regtest(REGTEST_MIN_DIFFICULTY_BITS);
		let headers = chain(&checkpoint, 11, REGTEST_MIN_DIFFICULTY_BITS, 1);
		assert_ok!(submit(&headers));
		let stored = Headers::<Test>::get(headers[10].block_hash()).unwrap();
		let median = stored.median_time_past();
		assert_eq!(median, headers[5].time, "median of the last 11");
		let template = child(&headers[10], 1, REGTEST_MIN_DIFFICULTY_BITS, 2);
		let at_median = mine(BlockHeader { time: median, nonce: 0, ..template });
		assert_noop!(submit(&[at_median]), Error::<Test>::TimestampNotAboveMedian);
		let above = mine(BlockHeader { time: median + 1, nonce: 0, ..template });
		assert_ok!(submit(&[above]));
	});
}

#[test]
fn a_header_more_than_two_hours_ahead_of_the_chain_clock_is_refused() {
	new_test_ext().execute_with(|| {
		let checkpoint = init_regtest(REGTEST_MIN_DIFFICULTY_BITS);
		NowSecs::set(checkpoint.time as u64);
		let too_late = child(&checkpoint, 2 * 3600 + 1, REGTEST_MIN_DIFFICULTY_BITS, 1);
		assert_noop!(submit(&[too_late]), Error::<Test>::TimestampTooFarInFuture);
		let just_in_time = child(&checkpoint, 2 * 3600, REGTEST_MIN_DIFFICULTY_BITS, 1);
		assert_ok!(submit(&[just_in_time]));
		NowSecs::set(2_000_000_000);
	});
}

#[test]
fn nbits_must_follow_the_minimum_difficulty_rule() {
	new_test_ext().execute_with(|| {
		let checkpoint = init_regtest(REGTEST_HARDER_BITS);
		// Within 20 minutes the difficulty stays; after 20 minutes the pow limit applies.
		let too_easy = child(&checkpoint, 600, REGTEST_MIN_DIFFICULTY_BITS, 1);
		assert_noop!(submit(&[too_easy]), Error::<Test>::UnexpectedDifficultyBits);
		let too_hard_late = child(&checkpoint, 1201, REGTEST_HARDER_BITS, 1);
		assert_noop!(submit(&[too_hard_late]), Error::<Test>::UnexpectedDifficultyBits);
		let late = child(&checkpoint, 1201, REGTEST_MIN_DIFFICULTY_BITS, 1);
		assert_ok!(submit(&[late]));
		// After a minimum-difficulty block, the next quick block returns to the last real bits.
		let back = child(&late, 60, REGTEST_HARDER_BITS, 1);
		assert_ok!(submit(&[back]));
	});
}

#[test]
fn invalid_targets_and_old_versions_are_refused() {
	new_test_ext().execute_with(|| {
		let checkpoint = init_regtest(REGTEST_MIN_DIFFICULTY_BITS);
		let mut above_limit = child(&checkpoint, 600, REGTEST_MIN_DIFFICULTY_BITS, 1);
		above_limit.bits = CompactTarget(0x2100ffff);
		assert_noop!(submit(&[above_limit]), Error::<Test>::InvalidTarget);
		let mut negative = above_limit;
		negative.bits = CompactTarget(0x20800000 | 0x1234);
		assert_noop!(submit(&[negative]), Error::<Test>::InvalidTarget);
		let old_version = mine(BlockHeader {
			version: 3,
			..child(&checkpoint, 600, REGTEST_MIN_DIFFICULTY_BITS, 1)
		});
		assert_noop!(submit(&[old_version]), Error::<Test>::VersionTooOld);
	});
}

// ---------------------------------------------------------------------------------------
// Fork choice, reorgs, limits, pruning

#[test]
fn a_lighter_but_longer_branch_does_not_win() {
	new_test_ext().execute_with(|| {
		let checkpoint = init_regtest(REGTEST_HARDER_BITS);
		let heavy = chain(&checkpoint, 2, REGTEST_HARDER_BITS, 1);
		assert_ok!(submit(&heavy));
		// Ten blocks 21 minutes apart each carry the pow limit: longer, far less work.
		let mut light = Vec::new();
		let mut last = checkpoint;
		for _ in 0..10 {
			last = child(&last, 21 * 60, REGTEST_MIN_DIFFICULTY_BITS, 2);
			light.push(last);
		}
		assert_ok!(submit(&light));
		assert_eq!(tip().hash, heavy[1].block_hash());
		assert_eq!(tip().height, 2);
		assert!(reorg_events().is_empty());
		assert_eq!(BtcLightClient::height_of(light[9].block_hash()), Some(10), "kept as a fork");
		assert_eq!(BtcLightClient::header_at(5), None, "not on the best chain");
	});
}

#[test]
fn a_heavier_but_shorter_branch_wins_and_rewrites_the_index() {
	new_test_ext().execute_with(|| {
		let checkpoint = init_regtest(REGTEST_HARDER_BITS);
		let mut light = Vec::new();
		let mut last = checkpoint;
		for _ in 0..10 {
			last = child(&last, 21 * 60, REGTEST_MIN_DIFFICULTY_BITS, 2);
			light.push(last);
		}
		assert_ok!(submit(&light));
		assert_eq!(tip().height, 10);
		let heavy = chain(&checkpoint, 2, REGTEST_HARDER_BITS, 1);
		assert_ok!(submit(&heavy));
		assert_eq!(tip().hash, heavy[1].block_hash());
		assert_eq!(tip().height, 2);
		assert_eq!(BtcLightClient::header_at(1), Some(heavy[0]));
		for height in 3..=10 {
			assert_eq!(BtcLightClient::header_at(height), None, "old top left the index");
		}
		assert_eq!(reorg_events(), vec![(light[9].block_hash(), heavy[0].block_hash(), 10)]);
	});
}

#[test]
fn an_equal_work_branch_that_gets_longer_reorganises_with_its_depth() {
	new_test_ext().execute_with(|| {
		let checkpoint = init_regtest(REGTEST_MIN_DIFFICULTY_BITS);
		let main = chain(&checkpoint, 3, REGTEST_MIN_DIFFICULTY_BITS, 1);
		assert_ok!(submit(&main));
		let fork = chain(&main[0], 3, REGTEST_MIN_DIFFICULTY_BITS, 2);
		assert_ok!(submit(&fork[..2]));
		assert_eq!(tip().hash, main[2].block_hash(), "a tie keeps the first seen");
		assert_ok!(submit(&fork[2..]));
		assert_eq!(tip().hash, fork[2].block_hash());
		assert_eq!(tip().height, 4);
		assert_eq!(BtcLightClient::header_at(1), Some(main[0]));
		assert_eq!(BtcLightClient::header_at(2), Some(fork[0]));
		assert_eq!(BtcLightClient::header_at(3), Some(fork[1]));
		assert_eq!(reorg_events(), vec![(main[2].block_hash(), fork[2].block_hash(), 2)]);
	});
}

#[test]
fn a_transaction_in_a_block_that_left_the_best_chain_is_not_proven() {
	new_test_ext().execute_with(|| {
		let checkpoint = init_regtest(REGTEST_MIN_DIFFICULTY_BITS);
		let tx = Transaction {
			version: 2,
			inputs: vec![tapchain_primitives::bitcoin::TxIn {
				previous_output: tapchain_primitives::bitcoin::OutPoint {
					txid: tapchain_primitives::bitcoin::Txid([9; 32]),
					vout: 1,
				},
				script_sig: vec![],
				sequence: u32::MAX,
				witness: vec![vec![1; 72]],
			}],
			outputs: vec![tapchain_primitives::bitcoin::TxOut {
				value_sats: 50_000,
				script_pubkey: vec![0x51, 0x20],
			}],
			lock_time: 0,
		};
		let raw = tx.to_bytes();
		let mut block = child(&checkpoint, 600, REGTEST_MIN_DIFFICULTY_BITS, 1);
		block.merkle_root = tapchain_primitives::bitcoin::TxMerkleNode(tx.txid().0);
		let block = mine(block);
		assert_ok!(submit(&[block]));
		let proof = MerkleProof { tx_index: 0, branch: BoundedVec::default() };
		assert_eq!(
			BtcLightClient::verify_inclusion(&raw, &proof, block.block_hash())
				.unwrap()
				.confirmations,
			1
		);

		let rival = chain(&checkpoint, 2, REGTEST_MIN_DIFFICULTY_BITS, 2);
		assert_ok!(submit(&rival));
		assert_eq!(
			BtcLightClient::verify_inclusion(&raw, &proof, block.block_hash()).unwrap_err(),
			SpvError::BlockNotInBestChain
		);
		assert_eq!(
			BtcLightClient::verify_inclusion(&raw, &proof, BlockHash([1; 32])).unwrap_err(),
			SpvError::UnknownBlock
		);
	});
}

#[test]
fn sixty_four_byte_transactions_and_inner_nodes_are_never_proven() {
	new_test_ext().execute_with(|| {
		let checkpoint = init_regtest(REGTEST_MIN_DIFFICULTY_BITS);
		// A block whose root is the hash of two 32-byte "txids": presenting the 64 bytes as
		// a transaction would prove a node, not a transaction.
		let left = [3u8; 32];
		let right = [4u8; 32];
		let mut inner = [0u8; 64];
		inner[..32].copy_from_slice(&left);
		inner[32..].copy_from_slice(&right);
		let mut block = child(&checkpoint, 600, REGTEST_MIN_DIFFICULTY_BITS, 1);
		block.merkle_root = tapchain_primitives::bitcoin::TxMerkleNode(
			tapchain_primitives::bitcoin::sha256d(&inner),
		);
		let block = mine(block);
		assert_ok!(submit(&[block]));
		let proof = MerkleProof { tx_index: 0, branch: BoundedVec::default() };
		assert_eq!(
			BtcLightClient::verify_inclusion(&inner, &proof, block.block_hash()).unwrap_err(),
			SpvError::SixtyFourByteTransaction
		);
		assert_eq!(
			BtcLightClient::verify_inclusion(&[0u8; 10], &proof, block.block_hash()).unwrap_err(),
			SpvError::MalformedTransaction
		);
		let too_deep =
			MerkleProof { tx_index: 0, branch: BoundedVec::try_from(vec![[0u8; 32]; 24]).unwrap() };
		assert!(
			BtcLightClient::verify_inclusion(&[0u8; 10], &too_deep, block.block_hash()).is_err()
		);
	});
}

#[test]
fn forks_deeper_than_the_limit_are_refused() {
	new_test_ext().execute_with(|| {
		MaxForkDepth::set(5);
		let checkpoint = init_regtest(REGTEST_MIN_DIFFICULTY_BITS);
		let main = chain(&checkpoint, 10, REGTEST_MIN_DIFFICULTY_BITS, 1);
		assert_ok!(submit(&main));
		// Tip at 10: a branch off height 4 is 6 deep, off height 5 is 5 deep.
		let too_deep = child(&main[3], 600, REGTEST_MIN_DIFFICULTY_BITS, 2);
		assert_noop!(submit(&[too_deep]), Error::<Test>::ForkTooDeep);
		let deep_enough = chain(&main[4], 2, REGTEST_MIN_DIFFICULTY_BITS, 2);
		assert_ok!(submit(&deep_enough));
		MaxForkDepth::set(100);
	});
}

#[test]
fn old_headers_are_pruned_in_idle_time_and_storage_stays_bounded() {
	new_test_ext().execute_with(|| {
		let checkpoint = init_regtest(REGTEST_MIN_DIFFICULTY_BITS);
		let main = chain(&checkpoint, 2_300, REGTEST_MIN_DIFFICULTY_BITS, 1);
		let fork = child(&main[0], 60, REGTEST_MIN_DIFFICULTY_BITS, 2);
		submit_in_batches(&main[..10]);
		assert_ok!(submit(&[fork]));
		submit_in_batches(&main[10..]);
		assert_eq!(Headers::<Test>::iter().count(), 2_302, "nothing pruned while relaying");

		// No spare weight: nothing happens.
		BtcLightClient::on_idle(1, Weight::zero());
		assert_eq!(Headers::<Test>::iter().count(), 2_302);

		BtcLightClient::on_idle(1, Weight::MAX);
		let keep_from = 2_300 - PruningDepth::get();
		assert_eq!(LowestStoredHeight::<Test>::get(), keep_from);
		assert_eq!(Headers::<Test>::iter().count() as u32, 2_300 - keep_from + 1);
		assert!(Headers::<Test>::get(fork.block_hash()).is_none(), "forks are pruned too");
		assert!(BtcLightClient::header_at(keep_from - 1).is_none());
		assert_eq!(BtcLightClient::header_at(keep_from), Some(main[keep_from as usize - 1]));
		// A header on top of a pruned one has no parent any more.
		let orphan = child(&main[5], 60, REGTEST_MIN_DIFFICULTY_BITS, 3);
		assert_noop!(submit(&[orphan]), Error::<Test>::UnknownParent);
	});
}

#[test]
fn genesis_config_reads_a_checkpoint_from_json() {
	let (header, _) = regtest_checkpoint(1_700_000_000, REGTEST_MIN_DIFFICULTY_BITS);
	let json = serde_json::json!({
		"network": "regtest",
		"checkpoint": {
			"header": format!("0x{}", hex::encode(header.to_bytes())),
			"height": 0,
		}
	});
	let config: GenesisConfig<Test> = serde_json::from_value(json).unwrap();
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	sp_runtime::BuildStorage::assimilate_storage(&config, &mut storage).unwrap();
	sp_io::TestExternalities::new(storage).execute_with(|| {
		assert_eq!(tip().hash, header.block_hash());
		assert_eq!(BitcoinNetwork::<Test>::get(), Network::Regtest);
	});
}

#[test]
#[should_panic(expected = "invalid Bitcoin light client checkpoint")]
fn a_malformed_genesis_checkpoint_stops_the_chain_from_starting() {
	let json = serde_json::json!({
		"network": "mainnet",
		"checkpoint": { "header": "0x0102", "height": 0 }
	});
	let config: GenesisConfig<Test> = serde_json::from_value(json).unwrap();
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let _ = sp_runtime::BuildStorage::assimilate_storage(&config, &mut storage);
}

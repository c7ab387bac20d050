//! Bitcoin wire code checked against the `bitcoin` crate and real mainnet data.

mod fixtures;

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash as _;
use proptest::prelude::*;
use tapchain_primitives::bitcoin::{
	merkle::merkle_branch, merkle_root, network::ParentContext, verify_merkle_branch, BlockHeader,
	CompactTarget, DecodeError, MerkleError, Network, Target, Transaction, TxMerkleNode, Txid,
};

fn real_headers() -> Vec<Vec<u8>> {
	let mut all = Vec::new();
	for file in [
		"mainnet-headers-0.hex",
		"mainnet-headers-437466.hex",
		"mainnet-headers-554390.hex",
		"mainnet-headers-562621.hex",
		"mainnet-headers-831328.hex",
		"testnet3-headers-0.hex",
		"testnet4-headers-0.hex",
	] {
		all.extend(fixtures::header_lines(file).unwrap_or_default());
	}
	all
}

#[test]
fn real_headers_parse_hash_and_round_trip_like_the_bitcoin_crate() {
	let headers = real_headers();
	if headers.is_empty() {
		return;
	}
	for bytes in headers {
		let ours = BlockHeader::from_bytes(&bytes).unwrap();
		let theirs: bitcoin::block::Header = deserialize(&bytes).unwrap();
		assert_eq!(ours.to_bytes().to_vec(), bytes);
		assert_eq!(ours.block_hash().to_display_hex(), theirs.block_hash().to_string());
		assert_eq!(ours.bits.0, theirs.bits.to_consensus());
		let target = ours.bits.to_target(Network::Mainnet.params().pow_limit).unwrap();
		assert_eq!(target.0.to_big_endian(), theirs.target().to_be_bytes());
		assert_eq!(target.to_work().0.to_big_endian(), theirs.work().to_be_bytes());
		assert!(target.is_met_by(&ours.block_hash().0), "real header meets its target");
		assert_eq!(target.to_compact(), ours.bits);
	}
}

#[test]
fn genesis_hashes_match_the_network_parameters() {
	for (file, network) in [
		("mainnet-headers-0.hex", Network::Mainnet),
		("testnet3-headers-0.hex", Network::Testnet3),
		("testnet4-headers-0.hex", Network::Testnet4),
	] {
		let Some(lines) = fixtures::header_lines(file) else { return };
		let genesis = BlockHeader::from_bytes(&lines[0]).unwrap();
		assert_eq!(genesis.block_hash(), network.params().genesis_hash);
	}
	let regtest_genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
	assert_eq!(
		Network::Regtest.params().genesis_hash.to_display_hex(),
		regtest_genesis.block_hash().to_string()
	);
	let limit = Network::Regtest.params().pow_limit;
	assert_eq!(limit.to_compact().0, regtest_genesis.header.bits.to_consensus());
}

#[test]
fn malformed_headers_are_refused() {
	assert_eq!(BlockHeader::from_bytes(&[0u8; 79]), Err(DecodeError::UnexpectedEnd));
	assert_eq!(BlockHeader::from_bytes(&[0u8; 81]), Err(DecodeError::TrailingBytes));
}

#[test]
fn every_mainnet_retarget_is_recomputed_exactly() {
	let Some(retargets) = fixtures::json("mainnet-retargets.json") else { return };
	let params = Network::Mainnet.params();
	let parse = |hex: &serde_json::Value| {
		BlockHeader::from_bytes(&hex::decode(hex.as_str().unwrap()).unwrap()).unwrap()
	};
	let entries = retargets["boundaries"]
		.as_array()
		.or_else(|| retargets["retargets"].as_array())
		.expect("list of boundaries");
	assert!(entries.len() > 400);
	for entry in entries {
		let first = parse(&entry["period_first_header"]);
		let last = parse(&entry["period_last_header"]);
		let new = parse(&entry["new_period_first_header"]);
		let height = entry["height"].as_u64().unwrap() as u32;
		let parent = ParentContext {
			height: height - 1,
			bits: last.bits,
			time: last.time,
			period_first_time: first.time,
			period_first_bits: first.bits,
			last_non_min_difficulty_bits: last.bits,
		};
		let required =
			tapchain_primitives::bitcoin::network::required_bits(&params, &parent, new.time);
		assert_eq!(required, new.bits, "retarget at {height}");
		// Bitcoin Core's chainwork grows by exactly the new header's work.
		let work = |key: &str| {
			primitive_types::U256::from_big_endian(
				&hex::decode(entry[key].as_str().unwrap().trim_start_matches("0x")).unwrap(),
			)
		};
		let new_work = new.bits.to_target(params.pow_limit).unwrap().to_work().0;
		assert_eq!(
			work("chainwork_at_period_last") + new_work,
			work("chainwork_at_new_period_first")
		);
	}
}

#[test]
fn compact_targets_decode_like_bitcoin_core() {
	let limit = Target(primitive_types::U256::MAX);
	// Negative, overflowing and zero encodings are refused (Core's DeriveTarget).
	assert!(CompactTarget(0x04923456).to_target(limit).is_err());
	assert!(CompactTarget(0xff123456).to_target(limit).is_err());
	assert!(CompactTarget(0x00000000).to_target(limit).is_err());
	assert!(CompactTarget(0x1d00ffff).to_target(Target(primitive_types::U256::one())).is_err());
	// Values from Bitcoin Core's arith_uint256 tests.
	for (bits, expect) in [
		(0x01123456u32, 0x12u64),
		(0x02123456, 0x1234),
		(0x03123456, 0x123456),
		(0x04123456, 0x12345600),
	] {
		assert_eq!(CompactTarget(bits).to_target(limit).unwrap().0.low_u64(), expect);
	}
}

proptest! {
	#[test]
	fn compact_round_trip_matches_the_bitcoin_crate(bits in any::<u32>()) {
		let (value, negative, overflow) = CompactTarget(bits).decode_raw();
		let theirs = bitcoin::Target::from_compact(bitcoin::CompactTarget::from_consensus(bits));
		if !negative && !overflow {
			prop_assert_eq!(value.to_big_endian(), theirs.to_be_bytes());
			prop_assert_eq!(Target(value).to_compact().0, theirs.to_compact_lossy().to_consensus());
		}
	}

	#[test]
	fn random_headers_round_trip(bytes in proptest::collection::vec(any::<u8>(), 80)) {
		let ours = BlockHeader::from_bytes(&bytes).unwrap();
		let theirs: bitcoin::block::Header = deserialize(&bytes).unwrap();
		prop_assert_eq!(ours.to_bytes().to_vec(), bytes);
		prop_assert_eq!(ours.block_hash().to_display_hex(), theirs.block_hash().to_string());
	}

	#[test]
	fn merkle_branches_of_random_trees_verify(
		leaves in proptest::collection::vec(any::<[u8; 32]>(), 1..70),
		pick in any::<prop::sample::Index>(),
	) {
		let txids: Vec<Txid> = leaves.iter().map(|l| Txid(*l)).collect();
		let root = merkle_root(&txids).unwrap();
		let theirs = bitcoin::merkle_tree::calculate_root(
			leaves.iter().map(|l| bitcoin::Txid::from_byte_array(*l))
		).unwrap();
		prop_assert_eq!(root.0, theirs.to_byte_array());
		let index = pick.index(txids.len());
		let branch = merkle_branch(&txids, index).unwrap();
		prop_assert_eq!(verify_merkle_branch(txids[index], index as u32, &branch, root), Ok(()));
		// Any other leaf, or the right leaf at another index, fails.
		let other = Txid([0xee; 32]);
		prop_assert!(verify_merkle_branch(other, index as u32, &branch, root).is_err());
		if txids.len() > 1 {
			let wrong_index = (index as u32) ^ 1;
			prop_assert!(verify_merkle_branch(txids[index], wrong_index, &branch, root).is_err());
		}
	}
}

#[test]
fn a_phantom_index_past_the_last_transaction_is_refused() {
	// Three leaves: the last is paired with itself, so "index 3" would prove leaf 2 again.
	let txids = [Txid([1; 32]), Txid([2; 32]), Txid([3; 32])];
	let root = merkle_root(&txids).unwrap();
	let branch = merkle_branch(&txids, 2).unwrap();
	assert_eq!(verify_merkle_branch(txids[2], 2, &branch, root), Ok(()));
	assert_eq!(
		verify_merkle_branch(txids[2], 3, &branch, root),
		Err(MerkleError::DuplicatedRightNode)
	);
	assert_eq!(verify_merkle_branch(txids[2], 6, &branch, root), Err(MerkleError::IndexOutOfRange));
	assert_eq!(
		verify_merkle_branch(txids[2], 0, &[[0u8; 32]; 25], TxMerkleNode([0; 32])),
		Err(MerkleError::TooDeep)
	);
}

#[test]
fn real_transactions_and_proofs_match_the_bitcoin_crate() {
	let Some(cases) = fixtures::json("spv-cases.json") else { return };
	let cases = cases["cases"].as_array().expect("cases");
	assert!(cases.len() >= 13);
	for case in cases {
		let raw = hex::decode(case["raw_tx"].as_str().unwrap()).unwrap();
		let ours = Transaction::from_bytes(&raw).unwrap();
		let theirs: bitcoin::Transaction = deserialize(&raw).unwrap();
		assert_eq!(ours.to_bytes(), raw, "round trip");
		assert_eq!(ours.to_bytes(), serialize(&theirs));
		assert_eq!(ours.txid().to_display_hex(), case["txid"].as_str().unwrap());
		assert_eq!(ours.txid().to_display_hex(), theirs.compute_txid().to_string());
		assert_eq!(ours.wtxid().to_display_hex(), theirs.compute_wtxid().to_string());
		assert_eq!(ours.vsize(), theirs.vsize() as u64);
		let header =
			BlockHeader::from_bytes(&hex::decode(case["header"].as_str().unwrap()).unwrap())
				.unwrap();
		let branch: Vec<[u8; 32]> = case["merkle_branch"]
			.as_array()
			.unwrap()
			.iter()
			.map(|h| hex::decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
			.collect();
		let index = case["tx_index"].as_u64().unwrap() as u32;
		assert_eq!(verify_merkle_branch(ours.txid(), index, &branch, header.merkle_root), Ok(()));
	}
}

#[test]
fn malformed_transactions_are_refused_with_their_reason() {
	let tx = bitcoin::Transaction {
		version: bitcoin::transaction::Version::TWO,
		lock_time: bitcoin::absolute::LockTime::ZERO,
		input: vec![bitcoin::TxIn {
			witness: bitcoin::Witness::from_slice(&[[1u8; 64]]),
			..Default::default()
		}],
		output: vec![bitcoin::TxOut {
			value: bitcoin::Amount::from_sat(5000),
			script_pubkey: bitcoin::ScriptBuf::new(),
		}],
	};
	let raw = serialize(&tx);
	assert!(Transaction::from_bytes(&raw).is_ok());
	assert_eq!(Transaction::from_bytes(&raw[..raw.len() - 1]), Err(DecodeError::UnexpectedEnd));
	let mut trailing = raw.clone();
	trailing.push(0);
	assert_eq!(Transaction::from_bytes(&trailing), Err(DecodeError::TrailingBytes));
	let mut bad_flag = raw.clone();
	bad_flag[5] = 2;
	assert_eq!(Transaction::from_bytes(&bad_flag), Err(DecodeError::UnknownSegwitFlag));
	// A non-canonical CompactSize (0xfd 0x01 0x00 for 1 input).
	let legacy = serialize(&bitcoin::Transaction { input: vec![Default::default()], ..tx.clone() });
	let mut non_canonical = legacy[..4].to_vec();
	non_canonical.extend_from_slice(&[0xfd, 0x01, 0x00]);
	non_canonical.extend_from_slice(&legacy[5..]);
	assert_eq!(Transaction::from_bytes(&non_canonical), Err(DecodeError::NonCanonicalCompactSize));
}

proptest! {
	#[test]
	fn random_transactions_round_trip(
		inputs in proptest::collection::vec((any::<[u8; 32]>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..80), any::<u32>(), proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..4)), 1..4),
		outputs in proptest::collection::vec((0u64..2_100_000_000_000_000, proptest::collection::vec(any::<u8>(), 0..60)), 1..4),
		lock_time in any::<u32>(),
	) {
		let tx = bitcoin::Transaction {
			version: bitcoin::transaction::Version::TWO,
			lock_time: bitcoin::absolute::LockTime::from_consensus(lock_time),
			input: inputs.into_iter().map(|(txid, vout, script, sequence, witness)| bitcoin::TxIn {
				previous_output: bitcoin::OutPoint { txid: bitcoin::Txid::from_byte_array(txid), vout },
				script_sig: bitcoin::ScriptBuf::from_bytes(script),
				sequence: bitcoin::Sequence(sequence),
				witness: bitcoin::Witness::from_slice(&witness),
			}).collect(),
			output: outputs.into_iter().map(|(value, script)| bitcoin::TxOut {
				value: bitcoin::Amount::from_sat(value),
				script_pubkey: bitcoin::ScriptBuf::from_bytes(script),
			}).collect(),
		};
		let raw = serialize(&tx);
		let ours = Transaction::from_bytes(&raw).unwrap();
		prop_assert_eq!(ours.to_bytes(), raw);
		prop_assert_eq!(ours.txid().0, tx.compute_txid().to_byte_array());
		prop_assert_eq!(ours.wtxid().0, tx.compute_wtxid().to_byte_array());
	}
}

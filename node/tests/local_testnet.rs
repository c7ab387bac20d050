//! Starts the 4-validator `local_testnet` as 4 processes on loopback and checks that every
//! validator authors blocks and that every node sees them finalized.

mod common;

use common::{aura_slot, start_local_testnet, Node};
use serde_json::json;
use std::{collections::BTreeSet, time::Duration};

#[test]
fn four_validators_author_and_finalize() {
	let nodes = start_local_testnet();

	for node in &nodes {
		node.wait_until("3 peers", Duration::from_secs(120), |n| {
			n.rpc("system_health", json!([]))
				.map(|h| h["peers"].as_u64().unwrap_or(0) >= 3)
				.unwrap_or(false)
		});
	}

	// Aura gives each of the 4 authorities every 4th slot: once 8 blocks are in, every
	// authority must have authored one unless some validator is not taking part.
	nodes[0].wait_until("blocks from all 4 authorities", Duration::from_secs(240), |n| {
		authors_of_recent_blocks(n).len() == 4
	});

	// GRANDPA needs 3 of 4 votes; every node must see finality move on.
	for node in &nodes {
		node.wait_until("2 finalized blocks", Duration::from_secs(120), |n| {
			n.finalized_number().unwrap_or(0) >= 2
		});
	}

	let authorities =
		nodes[0].rpc("state_call", json!(["GrandpaApi_grandpa_authorities", "0x"])).unwrap();
	// SCALE: compact length 4 (0x10) followed by 4 * (32-byte key + u64 weight).
	let encoded = authorities.as_str().unwrap();
	assert!(encoded.starts_with("0x10"), "4 GRANDPA authorities, got {encoded}");
	assert_eq!(encoded.len(), 2 + 2 + 4 * 2 * (32 + 8));
}

/// Authority indexes (slot mod 4) of the blocks from genesis to the best block.
fn authors_of_recent_blocks(node: &Node) -> BTreeSet<u64> {
	let Ok(best) = node.best_number() else { return BTreeSet::new() };
	(1..=best)
		.filter_map(|number| {
			let hash = node.rpc("chain_getBlockHash", json!([number])).ok()?;
			let header = node.rpc("chain_getHeader", json!([hash])).ok()?;
			aura_slot(&header).map(|slot| slot % 4)
		})
		.collect()
}

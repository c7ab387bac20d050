//! Four validators of `local_testnet` (four processes on loopback) register their custody
//! keys, run a FROST DKG through the chain, and sign a message requested by sudo; with one
//! validator stopped, the other three still sign.

mod common;

use codec::Encode;
use common::{start_local_testnet, state_call, state_call_finalized, submit_signed, Node};
use sp_keyring::Sr25519Keyring;
use std::time::Duration;
use tapchain_runtime::RuntimeCall;

fn custody_key(node: &Node) -> Option<(u32, u64, [u8; 32])> {
	state_call(node, "BtcCustodyApi_current_custody_key", &[]).ok().flatten()
}

fn signatures(node: &Node, session_id: u64) -> Option<Vec<[u8; 64]>> {
	state_call(node, "BtcCustodyApi_signatures", &session_id.encode()).ok().flatten()
}

/// Alice (sudo) asks the custody key to sign `message`.
fn request_signature(node: &Node, message: [u8; 32]) {
	let call = RuntimeCall::Sudo(pallet_sudo::Call::sudo {
		call: Box::new(RuntimeCall::BtcCustody(
			pallet_btc_custody::Call::request_test_signatures { messages: vec![message] },
		)),
	});
	submit_signed(node, Sr25519Keyring::Alice, call)
		.unwrap_or_else(|e| panic!("sudo request refused: {e}\n{}", node.log_tail(40)));
}

fn assert_bip340(output_key: &[u8; 32], message: &[u8; 32], signature: &[u8; 64]) {
	let key = k256::schnorr::VerifyingKey::from_bytes(output_key).unwrap();
	let signature = k256::schnorr::Signature::try_from(&signature[..]).unwrap();
	key.verify_raw(message, &signature).expect("a BIP-340 signature of the custody key");
}

/// Prints every node's custody log lines if the test fails.
struct CustodyLogsOnPanic<'a>(&'a [Node]);
impl Drop for CustodyLogsOnPanic<'_> {
	fn drop(&mut self) {
		if std::thread::panicking() {
			for node in self.0 {
				let log = node.log_tail(5000);
				let lines: Vec<_> = log.lines().filter(|l| l.contains("ustody")).collect();
				eprintln!("{}'s custody log:\n{}", node.name, lines.join("\n"));
			}
		}
	}
}

#[test]
fn four_validators_run_a_dkg_and_sign_even_with_one_stopped() {
	let mut nodes = start_local_testnet();
	let guard = CustodyLogsOnPanic(&nodes);
	// Registration, three DKG rounds and the attestations go through blocks.
	nodes[0]
		.wait_until("a custody key epoch", Duration::from_secs(300), |n| custody_key(n).is_some());
	let epoch_block = nodes[0].best_number().unwrap();
	// Compared once final: a best block may still be replaced (every participant's
	// attestation starts the key, and a fork may carry them in other blocks).
	let finalized_key = |n: &Node| {
		state_call_finalized::<Option<(u32, u64, [u8; 32])>>(
			n,
			"BtcCustodyApi_current_custody_key",
			&[],
		)
		.ok()
		.flatten()
	};
	nodes[0].wait_until("the custody key finalized", Duration::from_secs(120), |n| {
		finalized_key(n).is_some()
	});
	let (epoch, dkg_id, output_key) = finalized_key(&nodes[0]).unwrap();
	assert_eq!(epoch, 0);
	for node in &nodes[1..] {
		node.wait_until("the same custody key", Duration::from_secs(120), |n| {
			let key = finalized_key(n);
			if key.is_some() && key != Some((epoch, dkg_id, output_key)) {
				eprintln!("{} has another custody key: {key:?}", n.name);
			}
			key == Some((epoch, dkg_id, output_key))
		});
	}
	// Every validator's worker reports what it submitted.
	for node in &nodes {
		let log = node.log_tail(2000);
		eprintln!(
			"{}'s custody log:\n{}",
			node.name,
			log.lines().filter(|l| l.contains("ustody")).collect::<Vec<_>>().join("\n")
		);
		let metrics = node.metrics().unwrap();
		let commitments = metrics
			.lines()
			.find(|l| {
				l.starts_with("tapchain_custody_messages_submitted{")
					&& l.contains("kind=\"dkg_commitment\"")
			})
			.and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok());
		assert!(
			commitments.is_some_and(|c| c >= 1),
			"{}",
			metrics.lines().filter(|l| l.contains("custody")).collect::<Vec<_>>().join("\n")
		);
	}

	let first = [0x11; 32];
	let requested_at = nodes[0].best_number().unwrap();
	request_signature(&nodes[0], first);
	nodes[0].wait_until("signature 1", Duration::from_secs(180), |n| signatures(n, 1).is_some());
	// A figure for the record (not a pass/fail condition): blocks from request to signature.
	eprintln!(
		"custody figures: key epoch at #{}, signature 1 requested at #{requested_at}, ready by #{}",
		epoch_block,
		nodes[0].best_number().unwrap()
	);
	assert_bip340(&output_key, &first, &signatures(&nodes[0], 1).unwrap()[0]);

	// Dave stops: 3 of 4 remain, the threshold.
	drop(guard);
	drop(nodes.pop());
	let _guard = CustodyLogsOnPanic(&nodes);
	let second = [0x22; 32];
	let requested_at = nodes[0].best_number().unwrap();
	request_signature(&nodes[0], second);
	nodes[0].wait_until("signature 2 without Dave", Duration::from_secs(240), |n| {
		signatures(n, 2).is_some()
	});
	eprintln!(
		"custody figures: signature 2 (Dave stopped) requested at #{requested_at}, ready by #{}",
		nodes[0].best_number().unwrap()
	);
	assert_bip340(&output_key, &second, &signatures(&nodes[0], 2).unwrap()[0]);
}

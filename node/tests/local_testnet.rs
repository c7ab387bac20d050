//! The 4-validator `local_testnet` as 4 processes on loopback, one network for everything a
//! validator set does (one start-up and one DKG instead of three, which keeps CI short):
//!
//! 1. every validator authors blocks and every node sees them finalized;
//! 2. the validators register their custody keys and run a FROST DKG through the chain, every
//!    node finalizes the same key, and the key signs a message sudo asks for;
//! 3. the bridge: each validator reports its Bitcoin node's fee estimate and the bridge uses
//!    their median; regtest headers and deposit proofs go in as a relayer would send them, a
//!    deposit credits an EVM account and another a native one, a withdrawal requested through
//!    the EVM precompile is proposed, approved by the validators' own checks, signed by the
//!    custody key, passes Bitcoin Core's script interpreter, and is marked paid once its
//!    confirmation is proven;
//! 4. with one validator stopped, the other three still sign.

mod common;

use base64::Engine as _;
use codec::{Decode, Encode};
use common::{
	aura_slot, hex_decode, start_local_testnet_with, state_call, state_call_finalized,
	submit_signed, Node, ValidatorBitcoind,
};
use pallet_revive::precompiles::alloy::{primitives::U256, sol_types::SolCall};
use serde_json::{json, Value};
use sp_keyring::Sr25519Keyring;
use std::{collections::BTreeSet, time::Duration};
use tapchain_primitives::{
	bitcoin::{
		merkle::merkle_branch, merkle_root, BlockHash, BlockHeader, CompactTarget, OutPoint,
		Target, Transaction, TxIn, TxOut, Txid,
	},
	bridge::DepositRecipient,
	custody::SigningSessionId,
	sats_to_base_units,
};
use tapchain_runtime::{
	precompiles::{IBtcWithdrawal, BTC_WITHDRAWAL_ADDRESS},
	AccountId, RuntimeCall,
};

/// Bitcoin regtest as a relayer sees it: headers mined on the light client's tip.
struct Regtest {
	tip: BlockHeader,
	height: u64,
	tag: u8,
}

/// nBits at regtest's pow limit.
const REGTEST_BITS: CompactTarget = CompactTarget(0x207f_ffff);

impl Regtest {
	fn from_light_client(node: &Node) -> Regtest {
		let tip = node.rpc("btc_bestTip", json!([])).unwrap();
		let height = tip["height"].as_u64().unwrap();
		let header = node.rpc("btc_headerAt", json!([height])).unwrap();
		let tip = BlockHeader::from_bytes(&hex_decode(&header)).unwrap();
		Regtest { tip, height, tag: 0 }
	}

	/// Mines a block holding `transactions`; returns its hash and each one's proof.
	fn mine(
		&mut self,
		transactions: &[&Transaction],
	) -> (BlockHash, Vec<pallet_btc_light_client::MerkleProof>) {
		self.tag += 1;
		let mut txids = vec![Txid([self.tag; 32])];
		txids.extend(transactions.iter().map(|tx| tx.txid()));
		let mut header = BlockHeader {
			version: 4,
			prev_blockhash: self.tip.block_hash(),
			merkle_root: merkle_root(&txids).unwrap(),
			time: self.tip.time + 600,
			bits: REGTEST_BITS,
			nonce: 0,
		};
		let target = REGTEST_BITS.to_target(Target(sp_core::U256::MAX)).unwrap();
		while !target.is_met_by(&header.block_hash().0) {
			header.nonce += 1;
		}
		self.tip = header;
		self.height += 1;
		let proofs = (1..txids.len())
			.map(|i| pallet_btc_light_client::MerkleProof {
				tx_index: i as u32,
				branch: merkle_branch(&txids, i).unwrap().try_into().unwrap(),
			})
			.collect();
		(header.block_hash(), proofs)
	}
}

/// Submits headers (Bob relays) and waits until the light client has them.
fn relay(node: &Node, headers: Vec<BlockHeader>, tip_height: u64) {
	let call = RuntimeCall::BtcLightClient(pallet_btc_light_client::Call::submit_headers {
		headers: headers.try_into().unwrap(),
	});
	submit_signed(node, Sr25519Keyring::Bob, call).unwrap();
	node.wait_until("headers relayed", Duration::from_secs(60), |n| {
		n.rpc("btc_bestTip", json!([])).is_ok_and(|tip| tip["height"].as_u64() == Some(tip_height))
	});
}

/// A wallet's transaction paying `script_pubkey` with a memo naming `recipient`.
fn deposit_tx(
	tag: u8,
	script_pubkey: &[u8],
	sats: u64,
	recipient: DepositRecipient,
) -> Transaction {
	Transaction {
		version: 2,
		inputs: vec![TxIn {
			previous_output: OutPoint { txid: Txid([tag; 32]), vout: 1 },
			script_sig: Vec::new(),
			sequence: 0xffff_fffd,
			witness: vec![vec![tag; 64]],
		}],
		outputs: vec![
			TxOut { value_sats: sats, script_pubkey: script_pubkey.to_vec() },
			TxOut { value_sats: 0, script_pubkey: recipient.memo_script() },
		],
		lock_time: 0,
	}
}

fn withdrawal(node: &Node, id: u64) -> Value {
	node.rpc("bridge_withdrawal", json!([id])).unwrap()
}

fn custody_key(node: &Node) -> Option<(u32, u64, [u8; 32])> {
	state_call(node, "BtcCustodyApi_current_custody_key", &[]).ok().flatten()
}

fn signatures(node: &Node, session_id: u64) -> Option<Vec<[u8; 64]>> {
	state_call(node, "BtcCustodyApi_signatures", &session_id.encode()).ok().flatten()
}

/// The id the next signing session gets (`BtcCustody::NextSessionId`, from 1).
fn next_session_id(node: &Node) -> SigningSessionId {
	let key = [sp_io::hashing::twox_128(b"BtcCustody"), sp_io::hashing::twox_128(b"NextSessionId")]
		.concat();
	let value = node.rpc("state_getStorage", json!([format!("0x{}", hex::encode(key))])).unwrap();
	if value.is_null() {
		return 1;
	}
	SigningSessionId::decode(&mut &hex_decode(&value)[..]).unwrap().max(1)
}

/// Alice (sudo) asks the custody key to sign `message`; returns the signing session's id
/// (nothing else opens a session meanwhile: no withdrawal is pending).
fn request_signature(node: &Node, message: [u8; 32]) -> SigningSessionId {
	let session_id = next_session_id(node);
	let call = RuntimeCall::Sudo(pallet_sudo::Call::sudo {
		call: Box::new(RuntimeCall::BtcCustody(
			pallet_btc_custody::Call::request_test_signatures { messages: vec![message] },
		)),
	});
	submit_signed(node, Sr25519Keyring::Alice, call)
		.unwrap_or_else(|e| panic!("sudo request refused: {e}\n{}", node.log_tail(40)));
	session_id
}

fn assert_bip340(output_key: &[u8; 32], message: &[u8; 32], signature: &[u8; 64]) {
	let key = k256::schnorr::VerifyingKey::from_bytes(output_key).unwrap();
	let signature = k256::schnorr::Signature::try_from(&signature[..]).unwrap();
	key.verify_raw(message, &signature).expect("a BIP-340 signature of the custody key");
}

/// Prints every node's custody/bridge log lines if the test fails.
struct LogsOnPanic<'a>(&'a [Node]);
impl Drop for LogsOnPanic<'_> {
	fn drop(&mut self) {
		if std::thread::panicking() {
			for node in self.0 {
				let log = node.log_tail(5000);
				let lines: Vec<_> =
					log.lines().filter(|l| l.contains("ustody") || l.contains("ridge")).collect();
				eprintln!("{}'s custody/bridge log:\n{}", node.name, lines.join("\n"));
			}
		}
	}
}

#[test]
fn four_validators_author_finalize_hold_custody_and_run_the_bridge() {
	// Each validator's "own Bitcoin node" estimates a different fee rate.
	let fees = [("alice", 9u64), ("bob", 14), ("charlie", 12), ("dave", 80)]
		.map(|(name, rate)| (name, ValidatorBitcoind::start(rate)));
	let mut nodes = start_local_testnet_with(|name| {
		let (_, bitcoind) = fees.iter().find(|(n, _)| *n == name).unwrap();
		vec!["--bitcoind-rpc-url".into(), bitcoind.url()]
	});
	let logs = LogsOnPanic(&nodes);

	// 1. Blocks and finality.
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

	// 2. Custody.
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
	let session = request_signature(&nodes[0], first);
	nodes[0]
		.wait_until("signature 1", Duration::from_secs(180), |n| signatures(n, session).is_some());
	// A figure for the record (not a pass/fail condition): blocks from request to signature.
	eprintln!(
		"custody figures: key epoch at #{}, signature 1 requested at #{requested_at}, ready by #{}",
		epoch_block,
		nodes[0].best_number().unwrap()
	);
	assert_bip340(&output_key, &first, &signatures(&nodes[0], session).unwrap()[0]);

	// 3. The bridge.
	let node = &nodes[0];
	// The bridge pays the upper median of the four reports: 14 sat/vB.
	node.wait_until("the validators' fee reports", Duration::from_secs(120), |n| {
		state_call::<u64>(n, "BtcBridgeApi_fee_rate", &[]) == Ok(14)
	});
	node.wait_until("a deposit address", Duration::from_secs(300), |n| {
		n.rpc("bridge_depositAddress", json!([])).is_ok_and(|a| !a.is_null())
	});
	let address = node.rpc("bridge_depositAddress", json!([])).unwrap();
	let custody_script = hex_decode(&address["scriptPubKey"]);
	assert!(address["address"].as_str().unwrap().starts_with("bcrt1p"), "{address}");
	// One key so far: the scripts a relayer watches are that key's.
	let watched = node.rpc("bridge_depositScripts", json!([])).unwrap();
	assert_eq!(
		watched,
		json!([{ "epoch": address["epoch"], "scriptPubKey": address["scriptPubKey"] }]),
		"{watched}"
	);

	// Two deposits in one Bitcoin block: one names an EVM account, one Ferdie's account.
	let evm = hex::decode("f39fd6e51aad88f6f4ce6ab8827279cfffb92266").unwrap();
	let evm_deposit = deposit_tx(
		1,
		&custody_script,
		250_000,
		DepositRecipient::Evm(evm.clone().try_into().unwrap()),
	);
	let ferdie: AccountId = Sr25519Keyring::Ferdie.to_account_id();
	let ferdie_bytes: [u8; 32] = *ferdie.as_ref();
	let native_deposit =
		deposit_tx(2, &custody_script, 100_000_000, DepositRecipient::Native(ferdie_bytes));
	let mut bitcoin = Regtest::from_light_client(node);
	let (block, proofs) = bitcoin.mine(&[&evm_deposit, &native_deposit]);
	let mut headers = vec![bitcoin.tip];
	for _ in 0..2 {
		bitcoin.mine(&[]);
		headers.push(bitcoin.tip);
	}
	relay(node, headers, bitcoin.height);
	for (tx, proof) in [(&evm_deposit, &proofs[0]), (&native_deposit, &proofs[1])] {
		let call = RuntimeCall::BtcBridge(pallet_btc_bridge::Call::submit_deposit {
			raw_tx: tx.to_bytes(),
			proof: proof.clone(),
			block_hash: block,
		});
		submit_signed(node, Sr25519Keyring::Bob, call).unwrap();
	}
	let record = |tx: &Transaction| {
		state_call::<Option<pallet_btc_bridge::DepositRecord<AccountId>>>(
			node,
			"BtcBridgeApi_deposit",
			&OutPoint { txid: tx.txid(), vout: 0 }.encode(),
		)
		.ok()
		.flatten()
	};
	node.wait_until("both deposits credited", Duration::from_secs(60), |_| {
		record(&evm_deposit).is_some() && record(&native_deposit).is_some()
	});
	// The EVM address's account is pallet-revive's fallback account for it.
	let mut evm_account = [0xee; 32];
	evm_account[..20].copy_from_slice(&evm);
	assert_eq!(
		record(&evm_deposit).unwrap().outcome,
		pallet_btc_bridge::DepositOutcome::Credited { account: AccountId::from(evm_account) }
	);
	assert_eq!(
		record(&native_deposit).unwrap().outcome,
		pallet_btc_bridge::DepositOutcome::Credited { account: ferdie.clone() }
	);
	// Four validators fit one vault: it holds both deposits, under its members' stake.
	let vaults = node.rpc("bridge_vaults", json!([])).unwrap();
	let vault = &vaults.as_array().expect("a list")[..];
	assert_eq!(vault.len(), 1, "{vaults}");
	assert_eq!(vault[0]["epoch"], address["epoch"], "{vaults}");
	assert_eq!(vault[0]["address"], address["address"], "{vaults}");
	assert_eq!(vault[0]["holdingsSats"], json!(100_250_000u64), "{vaults}");
	let capacity = vault[0]["capacitySats"].as_u64().unwrap();
	assert!(capacity > 100_250_000, "four validators' bonds back the vault: {vaults}");
	assert_eq!(vault[0]["freeSats"], json!(capacity - 100_250_000), "{vaults}");
	assert_eq!(vault[0]["overCapacitySats"], json!(0), "{vaults}");

	// Ferdie withdraws 0.4 BTC to a regtest P2WPKH address through the EVM precompile.
	let secp = bitcoin::secp256k1::Secp256k1::new();
	let key = bitcoin::secp256k1::SecretKey::from_slice(&[5; 32]).unwrap();
	let destination = bitcoin::Address::p2wpkh(
		&bitcoin::CompressedPublicKey(key.public_key(&secp)),
		bitcoin::Network::Regtest,
	);
	let requested_at = node.best_number().unwrap();
	let calldata = IBtcWithdrawal::requestWithdrawalCall {
		btcAddress: destination.to_string(),
		amount: U256::from(sats_to_base_units(40_000_000)),
	}
	.abi_encode();
	submit_signed(
		node,
		Sr25519Keyring::Ferdie,
		RuntimeCall::Revive(pallet_revive::Call::call {
			dest: sp_core::H160(BTC_WITHDRAWAL_ADDRESS),
			value: 0,
			weight_limit: sp_runtime::Weight::from_parts(100_000_000_000, 1_000_000),
			storage_deposit_limit: tapchain_primitives::BASE_UNITS_PER_BTC,
			data: calldata,
		}),
	)
	.unwrap();
	node.wait_until("the withdrawal requested", Duration::from_secs(60), |n| {
		!withdrawal(n, 1).is_null()
	});
	assert_eq!(
		withdrawal(node, 1)["owner"].as_str().unwrap(),
		format!("0x{}", hex::encode(ferdie_bytes)),
		"the precompile burned from its caller"
	);
	node.wait_until("the withdrawal signed", Duration::from_secs(240), |n| {
		withdrawal(n, 1)["status"] == "signed"
	});
	let signed_at = node.best_number().unwrap();
	let proposal_id = withdrawal(node, 1)["proposalId"].as_u64().unwrap();
	let proposal = node.rpc("bridge_proposal", json!([proposal_id])).unwrap();
	// floor(2*4/3)+1 = 3 approvals decide; the fourth vote may still be recorded (votes count
	// for the whole window, against silence).
	assert!(proposal["approvals"].as_u64().unwrap() >= 3, "floor(2*4/3)+1 approvals: {proposal}");
	// Dave's Bitcoin node estimates 80 sat/vB: his node refuses a rate more than twice away
	// from it (14); the three others approve, and one rejection of four decides nothing.
	assert!(proposal["rejections"].as_u64().unwrap() <= 1, "{proposal}");
	assert_eq!(proposal["feeRateSatPerVb"].as_u64().unwrap(), 14, "the validators' median rate");
	let signed = node.rpc("bridge_signedTransaction", json!([proposal_id])).unwrap();
	let raw = hex_decode(&signed["hex"]);

	// Bitcoin Core's interpreter accepts every input, with the spent outputs the PSBT names.
	let psbt_bytes =
		base64::engine::general_purpose::STANDARD.decode(signed["psbt"].as_str().unwrap()).unwrap();
	let psbt = bitcoin::psbt::Psbt::deserialize(&psbt_bytes).unwrap();
	let decoded: bitcoin::Transaction = bitcoin::consensus::deserialize(&raw).unwrap();
	assert_eq!(psbt.clone().extract_tx().unwrap(), decoded, "the PSBT finalizes to the same tx");
	assert_eq!(decoded.compute_txid().to_string(), signed["txid"].as_str().unwrap());
	let spent: Vec<bitcoin::TxOut> =
		psbt.inputs.iter().map(|i| i.witness_utxo.clone().unwrap()).collect();
	for output in &spent {
		assert_eq!(output.script_pubkey.as_bytes(), custody_script.as_slice());
	}
	btc_sim::chain::verify_scripts(&decoded, &spent)
		.unwrap_or_else(|e| panic!("refused by Bitcoin Core's interpreter: {}", e.message()));
	assert_eq!(decoded.output[0].script_pubkey, destination.script_pubkey());
	let fee_sats = proposal["feeSats"].as_u64().unwrap();
	assert_eq!(decoded.output[0].value.to_sat(), 40_000_000 - fee_sats, "one request pays the fee");

	// Mined and confirmed on Bitcoin: the withdrawal is paid.
	let signed_tx = Transaction::from_bytes(&raw).unwrap();
	let (block, proofs) = bitcoin.mine(&[&signed_tx]);
	let mut headers = vec![bitcoin.tip];
	for _ in 0..2 {
		bitcoin.mine(&[]);
		headers.push(bitcoin.tip);
	}
	relay(node, headers, bitcoin.height);
	submit_signed(
		node,
		Sr25519Keyring::Bob,
		RuntimeCall::BtcBridge(pallet_btc_bridge::Call::submit_withdrawal_proof {
			proposal_id,
			raw_tx: raw.clone(),
			proof: proofs[0].clone(),
			block_hash: block,
		}),
	)
	.unwrap();
	node.wait_until("the withdrawal paid", Duration::from_secs(60), |n| {
		withdrawal(n, 1)["status"] == "paid"
	});
	eprintln!(
		"bridge figures: withdrawal requested at #{requested_at}, signed by #{signed_at} \
		 ({} blocks), fee {fee_sats} sats at {} sat/vB, vsize {}",
		signed_at - requested_at,
		proposal["feeRateSatPerVb"],
		proposal["vsize"]
	);
	// 4. Dave stops: 3 of 4 remain, the threshold.
	drop(logs);
	drop(nodes.pop());
	let _logs = LogsOnPanic(&nodes);
	let second = [0x22; 32];
	let requested_at = nodes[0].best_number().unwrap();
	let session = request_signature(&nodes[0], second);
	nodes[0].wait_until("signature 2 without Dave", Duration::from_secs(240), |n| {
		signatures(n, session).is_some()
	});
	eprintln!(
		"custody figures: signature 2 (Dave stopped) requested at #{requested_at}, ready by #{}",
		nodes[0].best_number().unwrap()
	);
	assert_bip340(&output_key, &second, &signatures(&nodes[0], session).unwrap()[0]);
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

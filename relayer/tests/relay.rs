//! The relayer between btc-sim and four Tapchain validators (`local_testnet`, whose validators
//! also take their fee estimate from btc-sim): 200 headers catch up, a reorg on Bitcoin is
//! followed, a deposit with a memo is proven once it has the bridge's confirmations (by a
//! relayer restarted mid-way, running beside a second one, without double credit), and a
//! withdrawal leaves: broadcast to btc-sim, accepted by Bitcoin Core's interpreter there, held
//! out of blocks by a fee rate too low for btc-sim's miners, bumped by the bridge (BIP-125
//! replacement, extra fee from the reserve), mined, proven, paid. Then three of the four
//! validators, a threshold of the custody key, sign away the bridge's change with their real
//! key shares outside the chain: the relayers prove the theft, the key's members are slashed
//! and the backing is whole again.

#[path = "../../node/tests/common/mod.rs"]
mod common;

use bitcoin::{consensus::deserialize, Address, Amount};
use btc_sim::{RpcAuth, RpcServer, SimConfig, SimNode};
use codec::Decode;
use common::{
	free_port, hex_decode, start_local_testnet_with, state_call, submit_signed, LoggedProcess, Node,
};
use serde_json::{json, Value};
use sp_keyring::Sr25519Keyring;
use std::{
	net::TcpListener,
	process::Command,
	str::FromStr,
	sync::Arc,
	time::{Duration, Instant},
};
use tapchain_primitives::{bitcoin::OutPoint, BASE_UNITS_PER_BTC};
use tapchain_runtime::{AccountId, RuntimeCall};

/// A running `tapchain-relayer`, killed when dropped.
struct RelayerProcess {
	process: LoggedProcess,
	metrics_port: u16,
}

impl RelayerProcess {
	fn start(bitcoind_url: &str, node: &Node, signer: &str) -> RelayerProcess {
		let metrics_port = free_port();
		let mut command = Command::new(env!("CARGO_BIN_EXE_tapchain-relayer"));
		command.args([
			"--bitcoind-url",
			bitcoind_url,
			"--node-url",
			&format!("http://127.0.0.1:{}", node.rpc_port),
			"--signer",
			signer,
			"--poll-interval-ms",
			"500",
			"--rebroadcast-secs",
			"10",
			"--prometheus-port",
			&metrics_port.to_string(),
		]);
		RelayerProcess { process: LoggedProcess::spawn(command), metrics_port }
	}

	/// A metric's value from the relayer's `/metrics` page.
	fn metric(&self, name: &str) -> Option<f64> {
		use std::io::{Read, Write};
		let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).ok()?;
		stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
		let mut page = String::new();
		stream.read_to_string(&mut page).ok()?;
		page.lines().find_map(|line| line.strip_prefix(&format!("{name} "))?.trim().parse().ok())
	}

	fn assert_running(&self) {
		assert!(
			self.process.exited().is_none(),
			"the relayer exited:\n{}",
			self.process.log_tail(40)
		);
	}
}

impl Drop for RelayerProcess {
	fn drop(&mut self) {
		if std::thread::panicking() {
			eprintln!("relayer log:\n{}", self.process.log_tail(60));
		}
	}
}

fn light_client_tip(node: &Node) -> (String, u64) {
	let tip = node.rpc("btc_bestTip", json!([])).unwrap();
	(tip["hash"].as_str().unwrap().to_string(), tip["height"].as_u64().unwrap())
}

fn free_balance(node: &Node, account: &AccountId) -> u128 {
	let key = frame_system::Account::<tapchain_runtime::Runtime>::hashed_key_for(account);
	let value = node.rpc("state_getStorage", json!([format!("0x{}", hex::encode(key))])).unwrap();
	let info = frame_system::AccountInfo::<u32, pallet_balances::AccountData<u128>>::decode(
		&mut hex_decode(&value).as_slice(),
	)
	.unwrap();
	info.data.free
}

fn deposit_recorded(node: &Node, txid: &bitcoin::Txid, vout: u32) -> bool {
	use bitcoin::hashes::Hash;
	let outpoint =
		OutPoint { txid: tapchain_primitives::bitcoin::Txid(txid.to_byte_array()), vout };
	state_call::<Option<pallet_btc_bridge::DepositRecord<AccountId>>>(
		node,
		"BtcBridgeApi_deposit",
		&codec::Encode::encode(&outpoint),
	)
	.ok()
	.flatten()
	.is_some()
}

/// A storage value at the node's best block, if set.
fn storage<T: Decode>(node: &Node, key: Vec<u8>) -> Option<T> {
	let value = node.rpc("state_getStorage", json!([format!("0x{}", hex::encode(key))])).unwrap();
	(!value.is_null()).then(|| T::decode(&mut hex_decode(&value).as_slice()).unwrap())
}

/// The custody signer's key store of a node started with `--tmp` (the base path is in the
/// database path the node logs, `💾 Database: ParityDb at <base>/chains/<chain>/paritydb/full`):
/// `<base>/chains/<chain>/custody`.
fn custody_dir(node: &Node) -> std::path::PathBuf {
	let log = node.log_tail(usize::MAX);
	let database = log
		.lines()
		.filter(|line| line.contains("Database: "))
		.find_map(|line| line.split(" at ").nth(1))
		.expect("the node logs its database path")
		.trim();
	let chain_dir = std::path::Path::new(database).parent().and_then(|db| db.parent());
	chain_dir.expect("<base>/chains/<chain>/<database>/full").join("custody")
}

/// What a threshold of the key's members sign outside the chain: `tx`'s key-path inputs
/// (spending `prevouts`), each with its BIP-341 signature aggregated from their shares.
fn sign_as_thieves(
	thieves: &mut [(u16, tapchain_signer::Signer)],
	epoch: &pallet_btc_custody::EpochOf<tapchain_runtime::Runtime>,
	tx: &mut bitcoin::Transaction,
	prevouts: &[bitcoin::TxOut],
) {
	use bitcoin::hashes::Hash;
	use std::collections::BTreeMap;
	use tapchain_primitives::custody::CustodyMessage;
	let messages: Vec<[u8; 32]> = (0..tx.input.len())
		.map(|i| {
			bitcoin::sighash::SighashCache::new(&*tx)
				.taproot_key_spend_signature_hash(
					i,
					&bitcoin::sighash::Prevouts::All(prevouts),
					bitcoin::TapSighashType::Default,
				)
				.unwrap()
				.to_byte_array()
		})
		.collect();
	// No session of the chain: an id it never gives out.
	let session_id = u64::MAX;
	let mut commitments = BTreeMap::new();
	for (index, signer) in thieves.iter_mut() {
		let signed =
			signer.signing_commit(epoch.dkg_id, *index, session_id, 0, messages.len()).unwrap();
		let CustodyMessage::SigningCommitment(m) = signed.message else { panic!("a commitment") };
		commitments.insert(*index, m.commitments);
	}
	let merkle_root = epoch.recovery.map(|leaf| leaf.leaf_hash());
	let mut shares = BTreeMap::new();
	for (index, signer) in thieves.iter_mut() {
		let signed = signer
			.signing_shares(
				epoch.dkg_id,
				*index,
				session_id,
				0,
				&messages,
				&commitments,
				merkle_root.as_ref(),
			)
			.unwrap();
		let CustodyMessage::SignatureShares(m) = signed.message else { panic!("shares") };
		shares.insert(*index, m.shares);
	}
	let package =
		frost_secp256k1_tr::keys::PublicKeyPackage::deserialize(&epoch.public_key_package).unwrap();
	for (position, message) in messages.iter().enumerate() {
		let signature = pallet_btc_custody::frost_checks::aggregate(
			&package,
			message,
			position,
			&commitments,
			&shares,
			merkle_root.as_ref(),
		)
		.unwrap();
		tx.input[position].witness = bitcoin::Witness::from_slice(&[signature.to_vec()]);
	}
}

fn sim_call(sim: &SimNode, method: &str, params: Value) -> Value {
	sim.call(method, &params).unwrap_or_else(|e| panic!("btc-sim {method}: {e:?}"))
}

#[test]
fn the_relayer_carries_headers_reorgs_deposits_and_withdrawals_between_btc_sim_and_the_chain() {
	let sim =
		Arc::new(SimNode::new(SimConfig { fee_rate_sat_per_vb: Some(3), ..SimConfig::default() }));
	let auth = RpcAuth { user: "relayer".into(), password: "secret".into() };
	let server =
		RpcServer::start(sim.clone(), TcpListener::bind("127.0.0.1:0").unwrap(), Some(auth));
	let bitcoind_url = format!("http://relayer:secret@{}", server.address);
	let wallet = sim.wallet_address().script_pubkey();
	sim.mine(200, &wallet);

	// The validators report btc-sim's fee estimate (3 sat/vB) through the same client.
	let nodes =
		start_local_testnet_with(|_| vec!["--bitcoind-rpc-url".into(), bitcoind_url.clone()]);
	let node = &nodes[0];
	assert_eq!(light_client_tip(node).1, 0, "the light client starts at regtest's genesis");

	// Headers: 0 -> 200.
	eprintln!("relayer starts at chain block #{}", node.best_number().unwrap());
	let started = Instant::now();
	let relayer = RelayerProcess::start(&bitcoind_url, node, "//Bob");
	let best = sim.chain().tip_hash().to_string();
	node.wait_until("the light client at bitcoind's tip", Duration::from_secs(180), |n| {
		light_client_tip(n) == (best.clone(), 200)
	});
	let catch_up = started.elapsed();
	eprintln!("catch-up ended at chain block #{}", node.best_number().unwrap());
	relayer.assert_running();
	assert_eq!(relayer.metric("tapchain_relayer_headers_submitted_total"), Some(200.0));

	// A reorg: the blocks from 198 up are replaced by a heavier branch.
	let old_198 = sim.chain().hash_at(198).unwrap();
	sim_call(&sim, "invalidateblock", json!([old_198.to_string()]));
	sim.mine(4, &wallet);
	let new_best = sim.chain().tip_hash().to_string();
	assert_eq!(sim.chain().height(), 201);
	node.wait_until("the light client on the new branch", Duration::from_secs(120), |n| {
		light_client_tip(n) == (new_best.clone(), 201)
	});
	let header_198 = node.rpc("btc_headerAt", json!([198])).unwrap();
	let header_198: bitcoin::block::Header = deserialize(&hex_decode(&header_198)).unwrap();
	assert_ne!(
		header_198.block_hash(),
		old_198,
		"the stale block left the light client's best chain"
	);
	assert_eq!(header_198.block_hash(), sim.chain().hash_at(198).unwrap());

	// Throughput on a running chain: 1,000 more headers.
	sim.mine(1000, &wallet);
	let started = Instant::now();
	let best = sim.chain().tip_hash().to_string();
	node.wait_until("the light client 1,000 headers further", Duration::from_secs(180), |n| {
		light_client_tip(n) == (best.clone(), 1201)
	});
	let thousand = started.elapsed();

	// A deposit for Ferdie, once there is a custody key.
	node.wait_until("a deposit address", Duration::from_secs(300), |n| {
		n.rpc("bridge_depositAddress", json!([])).is_ok_and(|a| !a.is_null())
	});
	let address = node.rpc("bridge_depositAddress", json!([])).unwrap();
	let ferdie: AccountId = Sr25519Keyring::Ferdie.to_account_id();
	let memo_script = hex_decode(
		&node
			.rpc(
				"bridge_depositMemo",
				json!([format!("0x{}", hex::encode(<[u8; 32]>::from(ferdie.clone())))]),
			)
			.unwrap(),
	);
	let sent = sim_call(
		&sim,
		"send",
		json!([[{ address["address"].as_str().unwrap(): 1.0 }, { "data": hex::encode(&memo_script[2..]) }]]),
	);
	let deposit_txid = bitcoin::Txid::from_str(sent["txid"].as_str().unwrap()).unwrap();
	let balance_before = free_balance(node, &ferdie);
	sim.mine(1, &wallet);
	// The relayer sees it, and is stopped before it has the confirmations.
	std::thread::sleep(Duration::from_secs(3));
	relayer.assert_running();
	assert_eq!(relayer.metric("tapchain_relayer_pending_deposits"), Some(1.0));
	drop(relayer);

	sim.mine(1, &wallet);
	// Restarted, and a second relayer beside it.
	let relayer = RelayerProcess::start(&bitcoind_url, node, "//Bob");
	let second = RelayerProcess::start(&bitcoind_url, node, "//Charlie");
	std::thread::sleep(Duration::from_secs(8));
	assert!(!deposit_recorded(node, &deposit_txid, 0), "two confirmations are not enough");
	assert_eq!(free_balance(node, &ferdie), balance_before);

	sim.mine(1, &wallet);
	let third_confirmation = Instant::now();
	node.wait_until("the deposit credited", Duration::from_secs(120), |n| {
		deposit_recorded(n, &deposit_txid, 0)
	});
	let credit_delay = third_confirmation.elapsed();
	// Both relayers keep going; the deposit is credited once.
	std::thread::sleep(Duration::from_secs(8));
	relayer.assert_running();
	second.assert_running();
	assert_eq!(free_balance(node, &ferdie) - balance_before, BASE_UNITS_PER_BTC);
	assert_eq!(relayer.metric("tapchain_relayer_pending_deposits"), Some(0.0));

	// Fee bumping: governance bumps a transaction not mined in two Bitcoin blocks (counted
	// beyond the three confirmations its proof needs), by at most 0.001 BTC, and Ferdie funds
	// the reserve that pays the extra.
	submit_signed(
		node,
		Sr25519Keyring::Alice,
		RuntimeCall::Sudo(pallet_sudo::Call::sudo {
			call: Box::new(RuntimeCall::BtcBridge(pallet_btc_bridge::Call::set_fee_bump_policy {
				settings: pallet_btc_bridge::FeeBumpSettings {
					after_bitcoin_blocks: 2,
					max_extra_sats: 100_000,
				},
			})),
		}),
	)
	.unwrap();
	let reserve = |n: &Node| n.rpc("bridge_backing", json!([])).unwrap()["reserveSats"].as_u64();
	let reserve_before = reserve(node).unwrap();
	submit_signed(
		node,
		Sr25519Keyring::Ferdie,
		RuntimeCall::BtcBridge(pallet_btc_bridge::Call::fund_fee_reserve {
			amount: BASE_UNITS_PER_BTC / 100,
		}),
	)
	.unwrap();
	node.wait_until("the fee reserve funded", Duration::from_secs(60), |n| {
		reserve(n) == Some(reserve_before + 1_000_000)
	});
	// btc-sim's miners now leave out transactions below 4 sat/vB: the validators' estimate
	// (3 sat/vB) is too low to be mined.
	sim.chain().block_min_fee_rate_sat_per_kvb = 4_000;

	// Ferdie withdraws 0.3 BTC to a btc-sim address; the relayers broadcast it.
	let destination =
		Address::from_str("bcrt1q6rhpng9evdsfnn833a4f4vej0asu6dk5srld6x").unwrap().assume_checked();
	submit_signed(
		node,
		Sr25519Keyring::Ferdie,
		RuntimeCall::BtcBridge(pallet_btc_bridge::Call::request_withdrawal {
			address: destination.to_string().into_bytes().try_into().unwrap(),
			amount: 30 * BASE_UNITS_PER_BTC / 100,
		}),
	)
	.unwrap();
	node.wait_until("the withdrawal signed", Duration::from_secs(300), |n| {
		n.rpc("bridge_withdrawal", json!([1])).is_ok_and(|w| w["status"] == "signed")
	});
	let withdrawal = node.rpc("bridge_withdrawal", json!([1])).unwrap();
	let first_proposal = withdrawal["proposalId"].as_u64().unwrap();
	let first_txid = bitcoin::Txid::from_str(withdrawal["txid"].as_str().unwrap()).unwrap();
	node.wait_until("the withdrawal in btc-sim's mempool", Duration::from_secs(60), |_| {
		sim.chain().mempool_entry(&first_txid).is_some()
	});
	let first = node.rpc("bridge_proposal", json!([first_proposal])).unwrap();
	assert_eq!(
		first["feeRateSatPerVb"],
		json!(3),
		"btc-sim's estimate, as the validators reported it"
	);
	let first_fee_sats = first["feeSats"].as_u64().unwrap();
	let vsize = first["vsize"].as_u64().unwrap();

	// Five blocks pass without it; the bridge bumps it, the validators vote and sign, and the
	// relayers broadcast the replacement, which btc-sim takes in its place (BIP-125).
	sim.mine(5, &wallet);
	assert!(sim.chain().confirmed_tx(&first_txid).is_none(), "3 sat/vB is below 4");
	node.wait_until("the bump signed", Duration::from_secs(300), |n| {
		n.rpc("bridge_withdrawal", json!([1])).is_ok_and(|w| {
			w["status"] == "signed" && w["proposalId"].as_u64() != Some(first_proposal)
		})
	});
	let withdrawal = node.rpc("bridge_withdrawal", json!([1])).unwrap();
	let bump_proposal = withdrawal["proposalId"].as_u64().unwrap();
	let txid = bitcoin::Txid::from_str(withdrawal["txid"].as_str().unwrap()).unwrap();
	let bump = node.rpc("bridge_proposal", json!([bump_proposal])).unwrap();
	assert_eq!(bump["kind"], json!(format!("fee bump of {first_proposal}")));
	assert_eq!(bump["feeRateSatPerVb"], json!(4), "one sat/vB above the replaced transaction");
	assert_eq!(bump["feeSats"].as_u64().unwrap(), first_fee_sats + vsize);
	node.wait_until("the replacement in btc-sim's mempool", Duration::from_secs(60), |_| {
		let chain = sim.chain();
		chain.mempool_entry(&txid).is_some() && chain.mempool_entry(&first_txid).is_none()
	});
	sim.mine(3, &wallet);
	node.wait_until("the withdrawal paid", Duration::from_secs(120), |n| {
		n.rpc("bridge_withdrawal", json!([1])).is_ok_and(|w| w["status"] == "paid")
	});
	let first = node.rpc("bridge_proposal", json!([first_proposal])).unwrap();
	assert_eq!(first["status"], json!("superseded"));
	// Ferdie is paid what the first transaction paid him; the reserve paid the extra fee.
	let paid = sim_call(&sim, "gettxout", json!([txid.to_string(), 0]));
	assert_eq!(paid["scriptPubKey"]["address"], json!(destination.to_string()));
	assert_eq!(
		Amount::from_btc(paid["value"].as_f64().unwrap()).unwrap(),
		Amount::from_sat(30_000_000 - first_fee_sats)
	);
	assert!(sim.chain().confirmed_tx(&txid).is_some());
	let backing = node.rpc("bridge_backing", json!([])).unwrap();
	assert_eq!(backing["reserveSats"], json!(reserve_before + 1_000_000 - vsize));
	assert_eq!(backing["reserveCommittedSats"], json!(0));
	relayer.assert_running();
	second.assert_running();

	// A theft: Alice's, Bob's and Charlie's nodes (a threshold of the key, t = 3 of 4) sign a
	// transaction paying the bridge's change to themselves, with their real key shares and
	// no session of the chain. Bitcoin Core's interpreter accepts it; the relayers prove it.
	let epoch: pallet_btc_custody::EpochOf<tapchain_runtime::Runtime> =
		storage(node, pallet_btc_custody::Epochs::<tapchain_runtime::Runtime>::hashed_key_for(0))
			.expect("key epoch 0");
	let genesis: [u8; 32] =
		hex_decode(&node.rpc("chain_getBlockHash", json!([0])).unwrap()).try_into().unwrap();
	let mut thieves: Vec<(u16, tapchain_signer::Signer)> = nodes[..3]
		.iter()
		.map(|n| {
			let signer = tapchain_signer::Signer::open(custody_dir(n), genesis).unwrap();
			let index = epoch.members.iter().position(|(_, id)| *id == signer.identity()).unwrap();
			(index as u16 + 1, signer)
		})
		.collect();
	let payout = sim.chain().confirmed_tx(&txid).unwrap().0.clone();
	let custody_script = bitcoin::ScriptBuf::from_bytes(hex_decode(&address["scriptPubKey"]));
	let change_vout = payout.output.iter().position(|o| o.script_pubkey == custody_script);
	let change_vout = change_vout.expect("the payout's change to custody") as u32;
	let change = payout.output[change_vout as usize].clone();
	let thieves_address =
		Address::from_str("bcrt1qq6hag67dl53wl99vzg42z8eyzfz2xlkvwk6f7m").unwrap().assume_checked();
	let mut theft = bitcoin::Transaction {
		version: bitcoin::transaction::Version::TWO,
		lock_time: bitcoin::absolute::LockTime::ZERO,
		input: vec![bitcoin::TxIn {
			previous_output: bitcoin::OutPoint { txid, vout: change_vout },
			sequence: bitcoin::Sequence::ENABLE_RBF_NO_LOCKTIME,
			..Default::default()
		}],
		output: vec![bitcoin::TxOut {
			value: change.value - Amount::from_sat(5_000),
			script_pubkey: thieves_address.script_pubkey(),
		}],
	};
	sign_as_thieves(&mut thieves, &epoch, &mut theft, std::slice::from_ref(&change));
	let backing_before = node.rpc("bridge_backing", json!([])).unwrap();
	let issuance_key = pallet_balances::TotalIssuance::<tapchain_runtime::Runtime>::hashed_key();
	let issuance_before: u128 = storage(node, issuance_key.to_vec()).unwrap();
	sim_call(
		&sim,
		"sendrawtransaction",
		json!([bitcoin::consensus::encode::serialize_hex(&theft)]),
	);
	let theft_txid = theft.compute_txid();
	sim.mine(3, &wallet);
	let stolen_sats = change.value.to_sat();
	let theft_key = pallet_btc_bridge::ProvenThefts::<tapchain_runtime::Runtime>::hashed_key_for(
		tapchain_primitives::bitcoin::Txid(bitcoin::hashes::Hash::to_byte_array(theft_txid)),
	);
	node.wait_until("the theft proven by a relayer", Duration::from_secs(120), |n| {
		storage::<pallet_btc_bridge::TheftRecord>(n, theft_key.clone()).is_some()
	});
	let record: pallet_btc_bridge::TheftRecord = storage(node, theft_key).unwrap();
	assert_eq!(record.restored_sats, stolen_sats, "the members' bonds cover it");
	let backing = node.rpc("bridge_backing", json!([])).unwrap();
	assert_eq!(backing["theftShortfallSats"], json!(0), "the backing is whole again");
	// Everything left was Ferdie's bridged BTC and the fee reserve: the slashed bonds were
	// burned against both.
	let owed = |b: &Value| b["issuedSats"].as_u64().unwrap() + b["reserveSats"].as_u64().unwrap();
	assert_eq!(owed(&backing), owed(&backing_before) - stolen_sats);
	assert_eq!(backing["utxoSats"], json!(0));
	assert_eq!(
		backing["utxoSats"].as_u64().unwrap(),
		backing_before["utxoSats"].as_u64().unwrap() - stolen_sats
	);
	// Any three of the four members could have signed, so they lose a penalty of at least
	// 4/3 of the theft (more if the poorest three hold less than three quarters of the
	// stake): whichever three signed lose what they took.
	let issuance: u128 = storage(node, issuance_key.to_vec()).unwrap();
	let penalty_sats = (stolen_sats as u128 * 4).div_ceil(3);
	assert!(
		issuance_before - issuance >= penalty_sats * tapchain_primitives::BASE_UNITS_PER_SAT,
		"the slashed BTC is burned, the penalty of {penalty_sats} sats for {stolen_sats} stolen \
		 (fees are burned too): {} base units less",
		issuance_before - issuance
	);
	let reported = relayer.metric("tapchain_relayer_theft_proofs_submitted_total").unwrap_or(0.0)
		+ second.metric("tapchain_relayer_theft_proofs_submitted_total").unwrap_or(0.0);
	assert!(reported >= 1.0, "a relayer proved it");

	eprintln!(
		"relayer figures: 200 headers on a new chain in {:.1} s (from the relayer's start to the \
		 light client's tip); 1,000 headers on a running chain in {:.1} s ({:.0} headers/s end to \
		 end); deposit credited {:.1} s after its third confirmation; the fee bump of a {vsize} vB \
		 withdrawal from 3 to 4 sat/vB ({first_fee_sats} to {} sats) took {vsize} sats from the \
		 reserve; a theft of {stolen_sats} sats was proven and slashed",
		catch_up.as_secs_f64(),
		thousand.as_secs_f64(),
		1000.0 / thousand.as_secs_f64(),
		credit_delay.as_secs_f64(),
		first_fee_sats + vsize,
	);
}

//! btc-sim checked against the `bitcoin` crate: what it serves decodes and links, what it
//! refuses carries Bitcoin Core's codes, and a real Taproot key-path spend is accepted.

use bitcoin::{
	absolute::LockTime,
	consensus::{deserialize, serialize},
	hashes::Hash,
	key::{Keypair, TapTweak},
	secp256k1::{Message, Secp256k1, SecretKey},
	sighash::{Prevouts, SighashCache, TapSighashType},
	transaction, Address, Amount, Block, BlockHash, Network, OutPoint, ScriptBuf, Sequence,
	Transaction, TxIn, TxOut, Txid, Witness,
};
use btc_sim::{RpcAuth, RpcServer, SimConfig, SimNode};
use serde_json::{json, Value};
use std::{
	io::{Read, Write},
	net::{TcpListener, TcpStream},
	str::FromStr,
	sync::Arc,
};

fn node() -> SimNode {
	SimNode::new(SimConfig::default())
}

fn call(node: &SimNode, method: &str, params: Value) -> Value {
	node.call(method, &params).unwrap_or_else(|e| panic!("{method} failed: {e:?}"))
}

fn error_of(node: &SimNode, method: &str, params: Value) -> (i64, String) {
	let error = node.call(method, &params).expect_err(method);
	(error.code, error.message)
}

fn block_at(node: &SimNode, height: u64) -> Block {
	let hash = call(node, "getblockhash", json!([height]));
	let raw = call(node, "getblock", json!([hash, 0]));
	deserialize(&hex::decode(raw.as_str().unwrap()).unwrap()).unwrap()
}

/// A Taproot key the test holds, and its key-path output script.
struct TaprootKey {
	keypair: Keypair,
	address: Address,
}

impl TaprootKey {
	fn new(seed: u8) -> TaprootKey {
		let secp = Secp256k1::new();
		let keypair = Keypair::from_secret_key(&secp, &SecretKey::from_slice(&[seed; 32]).unwrap());
		let (internal, _) = keypair.x_only_public_key();
		let address = Address::p2tr(&secp, internal, None, Network::Regtest);
		TaprootKey { keypair, address }
	}

	/// Spends `outpoint` (holding `value`) to `to`, paying `fee_sats`, signed on the key path.
	fn spend(
		&self,
		outpoint: OutPoint,
		value: Amount,
		to: &ScriptBuf,
		fee_sats: u64,
	) -> Transaction {
		self.spend_all(&[(outpoint, value)], to, fee_sats)
	}

	/// Spends every `(outpoint, value)` (all paying this key) to one output to `to`, paying
	/// `fee_sats`.
	fn spend_all(
		&self,
		coins: &[(OutPoint, Amount)],
		to: &ScriptBuf,
		fee_sats: u64,
	) -> Transaction {
		let total: Amount = coins.iter().map(|(_, value)| *value).sum();
		let mut tx = Transaction {
			version: transaction::Version::TWO,
			lock_time: LockTime::ZERO,
			input: coins
				.iter()
				.map(|(outpoint, _)| TxIn {
					previous_output: *outpoint,
					script_sig: ScriptBuf::new(),
					sequence: Sequence::MAX,
					witness: Witness::new(),
				})
				.collect(),
			output: vec![TxOut {
				value: total - Amount::from_sat(fee_sats),
				script_pubkey: to.clone(),
			}],
		};
		let spent: Vec<TxOut> = coins
			.iter()
			.map(|(_, value)| TxOut { value: *value, script_pubkey: self.address.script_pubkey() })
			.collect();
		let secp = Secp256k1::new();
		let tweaked = self.keypair.tap_tweak(&secp, None);
		for index in 0..coins.len() {
			let sighash = SighashCache::new(&tx)
				.taproot_key_spend_signature_hash(
					index,
					&Prevouts::All(&spent),
					TapSighashType::Default,
				)
				.unwrap();
			let signature =
				secp.sign_schnorr_no_aux_rand(&Message::from(sighash), &tweaked.to_keypair());
			tx.input[index].witness = Witness::from_slice(&[signature.as_ref().to_vec()]);
		}
		tx
	}
}

#[test]
fn a_taproot_key_path_spend_is_accepted_and_a_tampered_one_refused_with_cores_codes() {
	let node = node();
	let key = TaprootKey::new(9);
	let wallet = call(&node, "getnewaddress", json!([]));
	// A coinbase paying the test's Taproot key, then 100 blocks for it to mature.
	let first = call(&node, "generatetoaddress", json!([1, key.address.to_string()]));
	let block: Block = {
		let raw = call(&node, "getblock", json!([first[0], 0]));
		deserialize(&hex::decode(raw.as_str().unwrap()).unwrap()).unwrap()
	};
	let coinbase = OutPoint { txid: block.txdata[0].compute_txid(), vout: 0 };
	let value = block.txdata[0].output[0].value;
	assert_eq!(value, Amount::from_btc(50.0).unwrap());
	let destination =
		Address::from_str(wallet.as_str().unwrap()).unwrap().assume_checked().script_pubkey();

	// One block short of maturity.
	call(&node, "generatetoaddress", json!([98, wallet]));
	let spend = key.spend(coinbase, value, &destination, 1_000);
	let (code, message) =
		error_of(&node, "sendrawtransaction", json!([hex::encode(serialize(&spend))]));
	assert_eq!(
		(code, message.as_str()),
		(-26, "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 99")
	);
	call(&node, "generatetoaddress", json!([1, wallet]));

	// Tampered after signing: Bitcoin Core's interpreter refuses the signature.
	let mut tampered = spend.clone();
	tampered.output[0].value -= Amount::from_sat(1);
	let (code, message) =
		error_of(&node, "sendrawtransaction", json!([hex::encode(serialize(&tampered))]));
	assert_eq!(code, -26);
	assert!(message.starts_with("mandatory-script-verify-flag-failed"), "{message}");

	// Garbage, extra bytes and no such input.
	let (code, _) = error_of(&node, "sendrawtransaction", json!(["00ff"]));
	assert_eq!(code, -22);
	let mut trailing = serialize(&spend);
	trailing.push(0);
	assert_eq!(error_of(&node, "sendrawtransaction", json!([hex::encode(trailing)])).0, -22);
	let orphan =
		key.spend(OutPoint { txid: Txid::all_zeros(), vout: 5 }, value, &destination, 1_000);
	assert_eq!(
		error_of(&node, "sendrawtransaction", json!([hex::encode(serialize(&orphan))])),
		(-25, "bad-txns-inputs-missingorspent".to_string())
	);
	// Too high a fee for the default maxfeerate (0.10 BTC/kvB), then allowed with 0.
	let greedy = key.spend(coinbase, value, &destination, 100_000_000);
	assert_eq!(
		error_of(&node, "sendrawtransaction", json!([hex::encode(serialize(&greedy))])).0,
		-25
	);
	assert_eq!(
		call(&node, "getrawmempool", json!([])),
		json!([]),
		"nothing refused entered the mempool"
	);

	// testmempoolaccept agrees and adds nothing; then the real spend is accepted, twice harmlessly.
	let verdict = call(&node, "testmempoolaccept", json!([[hex::encode(serialize(&spend))]]));
	assert_eq!(verdict[0]["allowed"], json!(true));
	assert_eq!(call(&node, "getrawmempool", json!([])), json!([]));
	let txid = call(&node, "sendrawtransaction", json!([hex::encode(serialize(&spend))]));
	assert_eq!(txid, json!(spend.compute_txid().to_string()));
	assert_eq!(call(&node, "sendrawtransaction", json!([hex::encode(serialize(&spend))])), txid);
	// A double spend paying no more is refused (replacements: see the RBF test).
	let double = key.spend(coinbase, value, &key.address.script_pubkey(), 1_000);
	let (code, message) =
		error_of(&node, "sendrawtransaction", json!([hex::encode(serialize(&double))]));
	assert_eq!(code, -26);
	assert!(message.starts_with("insufficient fee, rejecting replacement"), "{message}");
	let unconfirmed = call(&node, "gettxout", json!([txid, 0]));
	assert_eq!(unconfirmed["confirmations"], json!(0));
	assert_eq!(
		call(&node, "gettxout", json!([coinbase.txid.to_string(), 0])),
		Value::Null,
		"spent in the mempool"
	);

	call(&node, "generatetoaddress", json!([1, wallet]));
	let confirmed = call(&node, "gettxout", json!([txid, 0]));
	assert_eq!(confirmed["confirmations"], json!(1));
	assert_eq!(confirmed["value"], json!(49.99999));
	assert_eq!(confirmed["scriptPubKey"]["type"], json!("witness_v0_keyhash"));
	assert_eq!(
		error_of(&node, "sendrawtransaction", json!([hex::encode(serialize(&spend))])),
		(-27, "Transaction outputs already in utxo set".to_string())
	);
	assert_eq!(
		error_of(&node, "sendrawtransaction", json!([hex::encode(serialize(&greedy))])).1,
		"bad-txns-inputs-missingorspent"
	);
}

#[test]
fn the_wallet_pays_with_an_op_return_memo_and_refuses_what_it_cannot_pay() {
	let node = node();
	let wallet = call(&node, "getnewaddress", json!([]));
	let key = TaprootKey::new(3);
	assert_eq!(
		error_of(&node, "sendtoaddress", json!([key.address.to_string(), 1])),
		(-6, "Insufficient funds".to_string())
	);
	call(&node, "generatetoaddress", json!([101, wallet]));
	assert_eq!(call(&node, "getbalance", json!([])), json!(50.0));

	let memo = "5443".to_string() + &"ab".repeat(20);
	let sent = call(&node, "send", json!([[{ key.address.to_string(): 0.25 }, { "data": memo }]]));
	assert_eq!(sent["complete"], json!(true));
	let tx = call(&node, "getrawtransaction", json!([sent["txid"], true]));
	let outputs = tx["vout"].as_array().unwrap();
	assert_eq!(outputs[0]["value"], json!(0.25));
	assert_eq!(outputs[0]["scriptPubKey"]["address"], json!(key.address.to_string()));
	assert_eq!(outputs[0]["scriptPubKey"]["type"], json!("witness_v1_taproot"));
	assert_eq!(outputs[1]["scriptPubKey"]["type"], json!("nulldata"));
	assert_eq!(outputs[1]["scriptPubKey"]["hex"], json!(format!("6a16{memo}")));
	assert_eq!(outputs[2]["scriptPubKey"]["address"], wallet, "change");

	// Named parameters as bitcoin-cli -named sends them; unconfirmed change is spendable.
	let txid = call(
		&node,
		"sendtoaddress",
		json!({ "address": key.address.to_string(), "amount": "0.1" }),
	);
	assert_eq!(call(&node, "getrawmempool", json!([])).as_array().unwrap().len(), 2);
	assert!(call(&node, "getrawtransaction", json!([txid])).is_string());

	assert_eq!(error_of(&node, "sendtoaddress", json!(["bc1qnotregtest", 1])).0, -5);
	let mainnet = "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297";
	assert_eq!(error_of(&node, "sendtoaddress", json!([mainnet, 1])).0, -5, "wrong network");
	assert_eq!(
		error_of(&node, "sendtoaddress", json!([key.address.to_string(), 0.00000001])).0,
		-3,
		"dust"
	);
	assert_eq!(error_of(&node, "send", json!([[{ "data": "00".repeat(81) }]])).0, -8);
	assert_eq!(
		error_of(&node, "getblockhash", json!([1000])),
		(-8, "Block height out of range".to_string())
	);
	assert_eq!(
		error_of(&node, "getblockheader", json!(["00".repeat(32)])),
		(-5, "Block not found".to_string())
	);
	assert_eq!(error_of(&node, "getblockheader", json!(["xyz"])).0, -8);
	assert_eq!(
		error_of(&node, "nosuchmethod", json!([])),
		(-32601, "Method not found".to_string())
	);
	assert_eq!(error_of(&node, "getblockcount", json!([1])).0, -1, "too many parameters");

	let estimate = call(&node, "estimatesmartfee", json!([6]));
	assert_eq!(estimate, json!({ "feerate": 0.00002, "blocks": 6 }));
	node.set_fee_rate(None);
	assert_eq!(
		call(&node, "estimatesmartfee", json!([6]))["errors"][0],
		json!("Insufficient data or no feerate found")
	);
}

#[test]
fn invalidating_a_block_reorganises_to_a_heavier_branch_and_returns_its_transactions() {
	let node = node();
	let wallet = call(&node, "getnewaddress", json!([]));
	call(&node, "generatetoaddress", json!([101, wallet]));
	let key = TaprootKey::new(5);
	let paid = call(&node, "sendtoaddress", json!([key.address.to_string(), 2]));
	let old_branch = call(&node, "generatetoaddress", json!([3, wallet]));
	let paid_in: BlockHash = old_branch[0].as_str().unwrap().parse().unwrap();
	assert_eq!(
		call(&node, "getrawtransaction", json!([paid, true]))["blockhash"],
		json!(paid_in.to_string())
	);

	call(&node, "invalidateblock", json!([paid_in.to_string()]));
	assert_eq!(call(&node, "getblockcount", json!([])), json!(101));
	assert_eq!(call(&node, "getrawmempool", json!([])), json!([paid]), "back in the mempool");
	assert_eq!(
		call(&node, "getblockheader", json!([paid_in.to_string()]))["confirmations"],
		json!(-1)
	);

	let new_branch = call(&node, "generatetoaddress", json!([4, wallet]));
	assert_eq!(call(&node, "getblockcount", json!([])), json!(105));
	let info = call(&node, "getblockchaininfo", json!([]));
	assert_eq!(info["bestblockhash"], new_branch[3]);
	assert_eq!(info["chain"], json!("regtest"));
	let moved = call(&node, "getrawtransaction", json!([paid, true]));
	assert_eq!(moved["blockhash"], new_branch[0], "confirmed again on the new branch");
	for hash in old_branch.as_array().unwrap() {
		assert_eq!(call(&node, "getblockheader", json!([hash]))["confirmations"], json!(-1));
	}

	// generateblock mines exactly what it is given: an empty block leaves the mempool alone.
	let key_payment = call(&node, "sendtoaddress", json!([key.address.to_string(), 1]));
	let empty = call(&node, "generateblock", json!([wallet, []]));
	assert_eq!(
		call(&node, "getblock", json!([empty["hash"], 1]))["tx"].as_array().unwrap().len(),
		1
	);
	assert_eq!(call(&node, "getrawmempool", json!([])), json!([key_payment]));
	let with_it = call(&node, "generateblock", json!([wallet, [key_payment]]));
	assert_eq!(call(&node, "getblock", json!([with_it["hash"], 1]))["tx"][1], key_payment);
	assert_eq!(error_of(&node, "generateblock", json!([wallet, ["00".repeat(32)]])).0, -5);
	call(&node, "invalidateblock", json!([empty["hash"]]));
	assert_eq!(call(&node, "getbestblockhash", json!([])), new_branch[3]);
	assert_eq!(
		call(&node, "getrawmempool", json!([])),
		json!([key_payment]),
		"back from the block"
	);
	let tip = call(&node, "generatetoaddress", json!([1, wallet]))[0].clone();

	// Reconsidering the old branch does not switch back: it has less work.
	call(&node, "reconsiderblock", json!([paid_in.to_string()]));
	assert_eq!(call(&node, "getbestblockhash", json!([])), tip);
	// Invalidating the new branch makes the old one (now valid again) the best.
	call(&node, "invalidateblock", json!([new_branch[0]]));
	assert_eq!(call(&node, "getbestblockhash", json!([])), old_branch[2]);
	assert_eq!(
		call(&node, "getrawtransaction", json!([paid, true]))["blockhash"],
		json!(paid_in.to_string())
	);
	// The payment mined only on the new branch is pending again; `paid` is confirmed.
	assert_eq!(call(&node, "getrawmempool", json!([])), json!([key_payment]));
}

/// Sends raw HTTP and returns the status code and body.
fn http(port: u16, authorization: Option<&str>, body: &str) -> (u16, String) {
	let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
	let mut request = format!(
		"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n",
		body.len()
	);
	if let Some(authorization) = authorization {
		request.push_str(&format!("Authorization: {authorization}\r\n"));
	}
	request.push_str("\r\n");
	request.push_str(body);
	stream.write_all(request.as_bytes()).unwrap();
	let mut reply = String::new();
	stream.read_to_string(&mut reply).unwrap();
	let (head, body) = reply.split_once("\r\n\r\n").unwrap();
	(head.split_whitespace().nth(1).unwrap().parse().unwrap(), body.to_string())
}

#[test]
fn the_http_transport_authenticates_and_answers_like_bitcoind() {
	let node = Arc::new(node());
	let listener = TcpListener::bind("127.0.0.1:0").unwrap();
	let datadir = std::env::temp_dir().join(format!("btc-sim-test-{}", std::process::id()));
	let cookie = RpcAuth::random_cookie();
	let path = cookie.write_cookie(&datadir).unwrap();
	let server = RpcServer::start(node, listener, Some(cookie));
	let port = server.address.port();

	let contents = std::fs::read_to_string(&path).unwrap();
	assert!(contents.starts_with("__cookie__:"));
	#[cfg(unix)]
	{
		use std::os::unix::fs::PermissionsExt;
		assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
	}
	use base64::Engine as _;
	let good = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&contents));
	let bad =
		format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("__cookie__:wrong"));

	let request = r#"{"jsonrpc":"1.0","id":"t","method":"getblockcount","params":[]}"#;
	assert_eq!(http(port, None, request).0, 401);
	assert_eq!(http(port, Some(&bad), request).0, 401);
	let (status, body) = http(port, Some(&good), request);
	assert_eq!(
		(status, serde_json::from_str::<Value>(&body).unwrap()),
		(200, json!({ "result": 0, "error": null, "id": "t" }))
	);

	// Legacy errors come with HTTP 500 (404 for an unknown method); JSON-RPC 2.0 with 200.
	let (status, body) =
		http(port, Some(&good), r#"{"id":1,"method":"getblockhash","params":[9]}"#);
	assert_eq!(status, 500);
	assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], json!(-8));
	assert_eq!(http(port, Some(&good), r#"{"id":1,"method":"nope","params":[]}"#).0, 404);
	let (status, body) = http(port, Some(&good), r#"{"jsonrpc":"2.0","id":2,"method":"nope"}"#);
	assert_eq!(status, 200);
	assert_eq!(
		serde_json::from_str::<Value>(&body).unwrap(),
		json!({ "jsonrpc": "2.0", "error": { "code": -32601, "message": "Method not found" }, "id": 2 })
	);
	let (status, body) = http(port, Some(&good), "not json");
	assert_eq!(
		(status, serde_json::from_str::<Value>(&body).unwrap()["error"]["code"].clone()),
		(500, json!(-32700))
	);
	// A batch.
	let (status, body) = http(
		port,
		Some(&good),
		r#"[{"id":1,"method":"getblockcount"},{"id":2,"method":"getbestblockhash"}]"#,
	);
	let replies: Value = serde_json::from_str(&body).unwrap();
	assert_eq!(status, 200);
	assert_eq!(replies[0]["result"], json!(0));
	assert_eq!(
		replies[1]["result"],
		json!("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"),
		"regtest's genesis block"
	);
	let _ = std::fs::remove_dir_all(datadir);
}

/// One reply, deserialized into Bitcoin Core 30's type for it (`corepc-types`), with the reply
/// in the message when its shape differs from Core's.
fn as_core<T: serde::de::DeserializeOwned>(node: &SimNode, method: &str, params: Value) -> T {
	let reply = call(node, method, params);
	serde_json::from_value(reply.clone()).unwrap_or_else(|e| {
		panic!("{method}: the reply is not Bitcoin Core 30's shape ({e}):\n{reply:#}")
	})
}

#[test]
fn every_reply_has_bitcoin_core_30s_shape_and_converts_to_bitcoin_types() {
	use corepc_types::v30 as core;
	let node = node();
	let address = node.wallet_address().clone();
	call(&node, "generatetoaddress", json!([110, address.to_string()]));
	node.set_fee_rate(Some(3));

	// Chain state.
	let info = as_core::<core::GetBlockchainInfo>(&node, "getblockchaininfo", json!([]));
	let info = info.into_model().expect("getblockchaininfo converts");
	assert_eq!(info.chain, Network::Regtest);
	assert_eq!(info.blocks, 110);
	let tip = as_core::<core::GetBestBlockHash>(&node, "getbestblockhash", json!([]));
	assert_eq!(tip.block_hash().unwrap(), info.best_block_hash);
	assert_eq!(as_core::<core::GetBlockCount>(&node, "getblockcount", json!([])).0, 110);
	let hash =
		as_core::<core::GetBlockHash>(&node, "getblockhash", json!([110])).block_hash().unwrap();
	assert_eq!(hash, info.best_block_hash);

	// Headers and blocks, raw and verbose.
	let header =
		as_core::<core::GetBlockHeader>(&node, "getblockheader", json!([hash.to_string(), false]));
	assert_eq!(header.block_header().unwrap().block_hash(), hash);
	let verbose =
		as_core::<core::GetBlockHeaderVerbose>(&node, "getblockheader", json!([hash.to_string()]));
	let verbose = verbose.into_model().expect("getblockheader converts");
	assert_eq!((verbose.hash, verbose.height), (hash, 110));
	let raw = as_core::<core::GetBlockVerboseZero>(&node, "getblock", json!([hash.to_string(), 0]));
	let block = raw.block().unwrap();
	assert_eq!(block.block_hash(), hash);
	let one = as_core::<core::GetBlockVerboseOne>(&node, "getblock", json!([hash.to_string(), 1]));
	let one = one.into_model().expect("getblock 1 converts");
	assert_eq!(one.tx, vec![block.txdata[0].compute_txid()]);

	// A wallet payment, through the mempool into a block.
	let to = Address::p2tr_tweaked(
		bitcoin::key::TweakedPublicKey::dangerous_assume_tweaked(
			bitcoin::XOnlyPublicKey::from_str(
				"50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0",
			)
			.unwrap(),
		),
		Network::Regtest,
	);
	let sent = as_core::<core::SendToAddress>(&node, "sendtoaddress", json!([to.to_string(), 0.5]));
	let txid = sent.txid().unwrap();
	let mempool = as_core::<core::GetRawMempool>(&node, "getrawmempool", json!([]));
	assert_eq!(mempool.into_model().unwrap().0, vec![txid]);
	let pool = as_core::<core::GetMempoolInfo>(&node, "getmempoolinfo", json!([]));
	assert_eq!(pool.into_model().expect("getmempoolinfo converts").size, 1);
	let fee = as_core::<core::EstimateSmartFee>(&node, "estimatesmartfee", json!([6]));
	let fee = fee.into_model().expect("estimatesmartfee converts");
	assert_eq!(fee.fee_rate.map(|rate| rate.to_sat_per_vb_ceil()), Some(3));
	let mined = as_core::<core::GenerateToAddress>(
		&node,
		"generatetoaddress",
		json!([1, address.to_string()]),
	);
	let mined = mined.into_model().expect("generatetoaddress converts").0;
	let tx = as_core::<core::GetRawTransactionVerbose>(
		&node,
		"getrawtransaction",
		json!([txid.to_string(), true]),
	);
	let tx = tx.into_model().expect("getrawtransaction converts");
	assert_eq!((tx.transaction.compute_txid(), tx.block_hash), (txid, Some(mined[0])));
	let raw_tx =
		as_core::<core::GetRawTransaction>(&node, "getrawtransaction", json!([txid.to_string()]));
	assert_eq!(raw_tx.clone().transaction().unwrap().compute_txid(), txid);
	let vout =
		tx.transaction.output.iter().position(|o| o.script_pubkey == to.script_pubkey()).unwrap();
	let out = as_core::<core::GetTxOut>(&node, "gettxout", json!([txid.to_string(), vout]));
	let out = out.into_model().expect("gettxout converts");
	assert_eq!((out.tx_out.value, out.confirmations), (Amount::from_sat(50_000_000), 1));

	// Submitting: what the relayer sends and what a test mines on demand.
	let balance = as_core::<core::GetBalance>(&node, "getbalance", json!([]));
	assert!(balance.balance().unwrap() > Amount::ZERO);
	let send = as_core::<core::Send>(&node, "send", json!([[{ to.to_string(): 0.1 }]]));
	let sent_txid = send.into_model().expect("send converts").txid.expect("complete");
	let accept =
		as_core::<core::TestMempoolAccept>(&node, "testmempoolaccept", json!([[raw_tx.0]]));
	assert_eq!(accept.0.len(), 1);
	let block = as_core::<core::GenerateBlock>(
		&node,
		"generateblock",
		json!([address.to_string(), [sent_txid.to_string()]]),
	);
	assert!(block.into_model().is_ok());
	let new_address = as_core::<core::GetNewAddress>(&node, "getnewaddress", json!([]));
	assert!(new_address.into_model().is_ok());
}

/// A coinbase of 50 BTC paying `key`, matured.
fn mature_coin(node: &SimNode, key: &TaprootKey) -> (OutPoint, Amount) {
	let wallet = call(node, "getnewaddress", json!([]));
	let hashes = call(node, "generatetoaddress", json!([1, key.address.to_string()]));
	let height = call(node, "getblockheader", json!([hashes[0]]))["height"].as_u64().unwrap();
	let coinbase = &block_at(node, height).txdata[0];
	call(node, "generatetoaddress", json!([100, wallet]));
	(OutPoint { txid: coinbase.compute_txid(), vout: 0 }, coinbase.output[0].value)
}

fn send(node: &SimNode, tx: &Transaction) -> Result<Value, (i64, String)> {
	node.call("sendrawtransaction", &json!([hex::encode(serialize(tx))]))
		.map_err(|e| (e.code, e.message))
}

fn mempool(node: &SimNode) -> Vec<String> {
	let mut txids: Vec<String> =
		serde_json::from_value(call(node, "getrawmempool", json!([]))).unwrap();
	txids.sort();
	txids
}

#[test]
fn a_conflicting_transaction_replaces_under_cores_rules_with_cores_reasons() {
	let node = node();
	let key = TaprootKey::new(21);
	let other = TaprootKey::new(22);
	let (coin, value) = mature_coin(&node, &key);
	let (second_coin, second_value) = mature_coin(&node, &key);
	let to_key = key.address.script_pubkey();
	assert_eq!(call(&node, "getmempoolinfo", json!([]))["fullrbf"], json!(true));

	// 1 input, 1 P2TR output: 111 vB; 1,110 sats is 10 sat/vB.
	let original = key.spend(coin, value, &to_key, 1_110);
	assert_eq!(original.vsize(), 111);
	send(&node, &original).unwrap();

	// Rule 6: the fee rate must rise (same fee, same size).
	let same_rate = key.spend(coin, value, &other.address.script_pubkey(), 1_110);
	assert_eq!(
		send(&node, &same_rate),
		Err((
			-26,
			format!(
				"insufficient fee, rejecting replacement {}; new feerate 0.00010000 BTC/kvB <= old feerate 0.00010000 BTC/kvB",
				same_rate.compute_txid()
			)
		))
	);
	// Rule 4: 110 sats more is below the incremental relay fee for 111 vB.
	let too_little = key.spend(coin, value, &to_key, 1_220);
	assert_eq!(
		send(&node, &too_little),
		Err((
			-26,
			format!(
				"insufficient fee, rejecting replacement {}, not enough additional fees to relay; 0.0000011 < 0.00000111",
				too_little.compute_txid()
			)
		))
	);
	// Rule 2: no unconfirmed input the originals did not spend. A child of the original
	// first, then a replacement of that child that also spends an unrelated mempool output.
	let unrelated = key.spend(second_coin, second_value, &to_key, 2_000);
	send(&node, &unrelated).unwrap();
	let original_out =
		(OutPoint { txid: original.compute_txid(), vout: 0 }, original.output[0].value);
	let child = key.spend(original_out.0, original_out.1, &to_key, 1_110);
	send(&node, &child).unwrap();
	let unrelated_out =
		(OutPoint { txid: unrelated.compute_txid(), vout: 0 }, unrelated.output[0].value);
	let adds_unconfirmed = key.spend_all(&[original_out, unrelated_out], &to_key, 50_000);
	assert_eq!(
		send(&node, &adds_unconfirmed),
		Err((
			-26,
			format!(
				"replacement-adds-unconfirmed, replacement {} adds unconfirmed input, idx 1",
				adds_unconfirmed.compute_txid()
			)
		))
	);
	// A replacement cannot spend what it evicts.
	let spends_evicted = key.spend_all(&[(coin, value), original_out], &to_key, 50_000);
	assert_eq!(
		send(&node, &spends_evicted),
		Err((
			-26,
			format!(
				"bad-txns-spends-conflicting-tx, {} spends conflicting transaction {}",
				spends_evicted.compute_txid(),
				original.compute_txid()
			)
		))
	);
	// Rule 3: replacing the original evicts its child too, so it must pay for both.
	let below_both = key.spend(coin, value, &to_key, 2_000);
	assert_eq!(
		send(&node, &below_both),
		Err((
			-26,
			format!(
				"insufficient fee, rejecting replacement {}, less fees than conflicting txs; 0.00002 < 0.0000222",
				below_both.compute_txid()
			)
		))
	);
	let mut expected = vec![
		original.compute_txid().to_string(),
		child.compute_txid().to_string(),
		unrelated.compute_txid().to_string(),
	];
	expected.sort();
	assert_eq!(mempool(&node), expected, "nothing refused changed the mempool");
	let verdict = call(&node, "testmempoolaccept", json!([[hex::encode(serialize(&below_both))]]));
	assert_eq!(verdict[0]["allowed"], json!(false));

	// Both fees plus 111 sats: accepted, and the original and its child are gone.
	let replacement = key.spend(coin, value, &to_key, 1_110 + 1_110 + 111);
	send(&node, &replacement).unwrap();
	let mut expected =
		vec![replacement.compute_txid().to_string(), unrelated.compute_txid().to_string()];
	expected.sort();
	assert_eq!(mempool(&node), expected);
	assert_eq!(
		call(&node, "gettxout", json!([original.compute_txid().to_string(), 0])),
		Value::Null
	);
	call(&node, "generatetoaddress", json!([1, other.address.to_string()]));
	assert_eq!(mempool(&node), Vec::<String>::new());
	let mined = call(&node, "gettxout", json!([replacement.compute_txid().to_string(), 0]));
	assert_eq!(mined["confirmations"], json!(1));
	// The original can never come back.
	assert_eq!(send(&node, &original).unwrap_err().1, "bad-txns-inputs-missingorspent");
}

#[test]
fn blocks_leave_out_what_pays_below_the_block_minimum_until_replaced_or_paid_for() {
	let node = node();
	let key = TaprootKey::new(23);
	let (coin, value) = mature_coin(&node, &key);
	let (second_coin, second_value) = mature_coin(&node, &key);
	let to_key = key.address.script_pubkey();
	let miner = TaprootKey::new(24).address.to_string();
	node.chain().block_min_fee_rate_sat_per_kvb = 20_000;

	// 10 sat/vB waits; so does its 10 sat/vB child.
	let stuck = key.spend(coin, value, &to_key, 1_110);
	send(&node, &stuck).unwrap();
	let other_stuck = key.spend(second_coin, second_value, &to_key, 1_110);
	send(&node, &other_stuck).unwrap();
	call(&node, "generatetoaddress", json!([3, miner]));
	assert_eq!(mempool(&node).len(), 2, "nothing under 20 sat/vB was mined");

	// A replacement at 30 sat/vB is mined.
	let bumped = key.spend(coin, value, &to_key, 3_330);
	send(&node, &bumped).unwrap();
	// A child at 40 sat/vB lifts its parent's package to 25 sat/vB (CPFP).
	let parent_out =
		(OutPoint { txid: other_stuck.compute_txid(), vout: 0 }, other_stuck.output[0].value);
	let child = key.spend(parent_out.0, parent_out.1, &to_key, 4_440);
	send(&node, &child).unwrap();
	let hashes = call(&node, "generatetoaddress", json!([1, miner]));
	let height = call(&node, "getblockheader", json!([hashes[0]]))["height"].as_u64().unwrap();
	let txids: Vec<Txid> =
		block_at(&node, height).txdata.iter().map(|tx| tx.compute_txid()).collect();
	assert_eq!(txids.len(), 4, "the coinbase, the replacement, the parent and its child");
	assert!(txids.contains(&bumped.compute_txid()));
	let position = |txid: Txid| txids.iter().position(|t| *t == txid).unwrap();
	assert!(
		position(other_stuck.compute_txid()) < position(child.compute_txid()),
		"parents before children"
	);
	assert_eq!(mempool(&node), Vec::<String>::new());
}

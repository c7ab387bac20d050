//! bitcoind's JSON-RPC methods over the simulated node, with Bitcoin Core's JSON shapes,
//! parameter names and error codes.

use crate::{
	chain::{
		Chain, TxRejection, DEFAULT_MAX_FEE_RATE_SAT_PER_KVB, INCREMENTAL_RELAY_FEE_SAT_PER_KVB,
		MIN_RELAY_FEE_SAT_PER_KVB,
	},
	wallet::{Wallet, WalletError},
};
use bitcoin::{
	consensus::{self, Decodable},
	script::PushBytesBuf,
	Address, Amount, Block, BlockHash, Denomination, Network, OutPoint, Script, ScriptBuf,
	Transaction, TxOut, Txid,
};
use serde_json::{json, Map, Value};
use std::{
	str::FromStr,
	sync::{Mutex, MutexGuard},
};

/// A JSON-RPC error as Bitcoin Core reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
	pub code: i64,
	pub message: String,
}

impl RpcError {
	pub fn new(code: i64, message: impl Into<String>) -> Self {
		RpcError { code, message: message.into() }
	}
}

/// Bitcoin Core's error codes used here.
pub mod code {
	pub const MISC_ERROR: i64 = -1;
	pub const TYPE_ERROR: i64 = -3;
	pub const INVALID_ADDRESS_OR_KEY: i64 = -5;
	pub const WALLET_INSUFFICIENT_FUNDS: i64 = -6;
	pub const INVALID_PARAMETER: i64 = -8;
	pub const DESERIALIZATION_ERROR: i64 = -22;
	pub const METHOD_NOT_FOUND: i64 = -32601;
}

impl From<TxRejection> for RpcError {
	fn from(rejection: TxRejection) -> Self {
		RpcError::new(rejection.code(), rejection.message())
	}
}

/// Settings of a simulated node.
#[derive(Debug, Clone)]
pub struct SimConfig {
	/// What `estimatesmartfee` answers, sat/vB; `None` answers "Insufficient data" as a
	/// fresh regtest bitcoind does.
	pub fee_rate_sat_per_vb: Option<u64>,
	/// Fee rate of the wallet's own payments, sat/vB.
	pub wallet_fee_rate_sat_per_vb: u64,
	/// The wallet key is SHA-256 of this seed.
	pub wallet_seed: Vec<u8>,
}

impl Default for SimConfig {
	fn default() -> Self {
		SimConfig {
			fee_rate_sat_per_vb: Some(2),
			wallet_fee_rate_sat_per_vb: 2,
			wallet_seed: b"btc-sim wallet".to_vec(),
		}
	}
}

/// The simulated node: chain, mempool and wallet behind one lock.
pub struct SimNode {
	chain: Mutex<Chain>,
	wallet: Wallet,
	fee_rate_sat_per_vb: Mutex<Option<u64>>,
	wallet_fee_rate_sat_per_vb: u64,
}

/// Parameter names of each method, in position order (named parameters map onto these).
const METHODS: &[(&str, &[&str])] = &[
	("getblockchaininfo", &[]),
	("getblockcount", &[]),
	("getbestblockhash", &[]),
	("getblockhash", &["height"]),
	("getblockheader", &["blockhash", "verbose"]),
	("getblock", &["blockhash", "verbosity"]),
	("getrawtransaction", &["txid", "verbose", "blockhash"]),
	("gettxout", &["txid", "n", "include_mempool"]),
	("sendrawtransaction", &["hexstring", "maxfeerate"]),
	("testmempoolaccept", &["rawtxs", "maxfeerate"]),
	("getrawmempool", &["verbose"]),
	("getmempoolinfo", &[]),
	("estimatesmartfee", &["conf_target", "estimate_mode"]),
	("generatetoaddress", &["nblocks", "address", "maxtries"]),
	("generateblock", &["output", "transactions", "submit"]),
	("generate", &["nblocks"]),
	("getnewaddress", &["label", "address_type"]),
	("getbalance", &[]),
	(
		"sendtoaddress",
		&[
			"address",
			"amount",
			"comment",
			"comment_to",
			"subtractfeefromamount",
			"replaceable",
			"conf_target",
			"estimate_mode",
			"avoid_reuse",
			"fee_rate",
			"verbose",
		],
	),
	("send", &["outputs", "conf_target", "estimate_mode", "fee_rate", "options"]),
	("invalidateblock", &["blockhash"]),
	("reconsiderblock", &["blockhash"]),
	("setmocktimeoffset", &["seconds"]),
	("uptime", &[]),
];

/// Positional or named parameters, read by position.
struct Params(Vec<Value>);

impl Params {
	fn get(&self, index: usize) -> Option<&Value> {
		self.0.get(index).filter(|v| !v.is_null())
	}

	fn required(&self, index: usize, name: &str) -> Result<&Value, RpcError> {
		self.get(index).ok_or_else(|| {
			RpcError::new(code::INVALID_PARAMETER, format!("Missing required parameter: {name}"))
		})
	}

	fn str(&self, index: usize, name: &str) -> Result<&str, RpcError> {
		self.required(index, name)?.as_str().ok_or_else(|| type_error(name, "string"))
	}

	fn u64(&self, index: usize, name: &str) -> Result<u64, RpcError> {
		self.required(index, name)?.as_u64().ok_or_else(|| type_error(name, "number"))
	}

	fn optional_u64(&self, index: usize, name: &str) -> Result<Option<u64>, RpcError> {
		self.get(index).map(|v| v.as_u64().ok_or_else(|| type_error(name, "number"))).transpose()
	}

	/// Booleans may also be given as 0/1, as Core's verbosity arguments allow.
	fn flag(&self, index: usize) -> Option<u64> {
		self.get(index).and_then(|v| v.as_u64().or_else(|| v.as_bool().map(u64::from)))
	}
}

fn type_error(name: &str, expected: &str) -> RpcError {
	RpcError::new(code::TYPE_ERROR, format!("Expected type {expected} for {name}"))
}

fn parse_hash<T: FromStr>(text: &str, name: &str) -> Result<T, RpcError> {
	if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
		return Err(RpcError::new(
			code::INVALID_PARAMETER,
			format!("{name} must be of length 64 (not {}, for '{text}')", text.len()),
		));
	}
	T::from_str(text).map_err(|_| {
		RpcError::new(code::INVALID_PARAMETER, format!("{name} must be hexadecimal string"))
	})
}

/// An amount given in BTC as a JSON number or string, exactly (no float rounding).
fn parse_btc_amount(value: &Value) -> Result<Amount, RpcError> {
	let text = match value {
		Value::Number(number) => number.to_string(),
		Value::String(text) => text.clone(),
		_ => return Err(RpcError::new(code::TYPE_ERROR, "Amount is not a number or string")),
	};
	Amount::from_str_in(&text, Denomination::Bitcoin)
		.map_err(|_| RpcError::new(code::TYPE_ERROR, "Invalid amount"))
}

fn btc(amount: Amount) -> Value {
	json!(amount.to_btc())
}

fn parse_address(text: &str) -> Result<Address, RpcError> {
	Address::from_str(text)
		.ok()
		.and_then(|address| address.require_network(Network::Regtest).ok())
		.ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Error: Invalid address"))
}

/// Bitcoin Core's `type` of an output script.
fn script_type(script: &Script) -> &'static str {
	if script.is_p2pkh() {
		"pubkeyhash"
	} else if script.is_p2sh() {
		"scripthash"
	} else if script.is_p2wpkh() {
		"witness_v0_keyhash"
	} else if script.is_p2wsh() {
		"witness_v0_scripthash"
	} else if script.is_p2tr() {
		"witness_v1_taproot"
	} else if script.is_op_return() {
		"nulldata"
	} else if script.is_p2pk() {
		"pubkey"
	} else if script.is_multisig() {
		"multisig"
	} else if script.is_witness_program() {
		"witness_unknown"
	} else {
		"nonstandard"
	}
}

fn script_pubkey_json(script: &Script) -> Value {
	let mut object = json!({
		"asm": script.to_asm_string(),
		"desc": "",
		"hex": hex::encode(script.as_bytes()),
		"type": script_type(script),
	});
	if let Ok(address) = Address::from_script(script, Network::Regtest) {
		object["address"] = json!(address.to_string());
	}
	object
}

/// A transaction as `decoderawtransaction` shows it.
fn tx_json(tx: &Transaction) -> Value {
	let vin: Vec<Value> = tx
		.input
		.iter()
		.map(|input| {
			let mut object = if tx.is_coinbase() {
				json!({ "coinbase": hex::encode(input.script_sig.as_bytes()) })
			} else {
				json!({
					"txid": input.previous_output.txid.to_string(),
					"vout": input.previous_output.vout,
					"scriptSig": {
						"asm": input.script_sig.to_asm_string(),
						"hex": hex::encode(input.script_sig.as_bytes()),
					},
				})
			};
			if !input.witness.is_empty() {
				object["txinwitness"] =
					json!(input.witness.iter().map(hex::encode).collect::<Vec<_>>());
			}
			object["sequence"] = json!(input.sequence.0);
			object
		})
		.collect();
	let vout: Vec<Value> = tx
		.output
		.iter()
		.enumerate()
		.map(|(n, output)| {
			json!({
				"value": btc(output.value),
				"n": n,
				"scriptPubKey": script_pubkey_json(&output.script_pubkey),
			})
		})
		.collect();
	json!({
		"txid": tx.compute_txid().to_string(),
		"hash": tx.compute_wtxid().to_string(),
		"version": tx.version.0,
		"size": tx.total_size(),
		"vsize": tx.vsize(),
		"weight": tx.weight().to_wu(),
		"locktime": tx.lock_time.to_consensus_u32(),
		"vin": vin,
		"vout": vout,
	})
}

/// Difficulty of regtest's nBits, as Core prints it.
const REGTEST_DIFFICULTY: f64 = 4.656542373906925e-10;

impl SimNode {
	pub fn new(config: SimConfig) -> SimNode {
		SimNode {
			chain: Mutex::new(Chain::new()),
			wallet: Wallet::from_seed(&config.wallet_seed),
			fee_rate_sat_per_vb: Mutex::new(config.fee_rate_sat_per_vb),
			wallet_fee_rate_sat_per_vb: config.wallet_fee_rate_sat_per_vb,
		}
	}

	/// The chain, for tests and the miner.
	pub fn chain(&self) -> MutexGuard<'_, Chain> {
		self.chain.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
	}

	/// The wallet's address.
	pub fn wallet_address(&self) -> &Address {
		&self.wallet.address
	}

	/// Changes what `estimatesmartfee` answers.
	pub fn set_fee_rate(&self, sat_per_vb: Option<u64>) {
		*self.fee_rate_sat_per_vb.lock().unwrap_or_else(|p| p.into_inner()) = sat_per_vb;
	}

	/// Mines `count` blocks paying `script`.
	pub fn mine(&self, count: u32, script: &ScriptBuf) -> Vec<BlockHash> {
		let mut chain = self.chain();
		(0..count).map(|_| chain.mine_block(script)).collect()
	}

	/// Serves one call; `params` is an array or an object of named parameters.
	pub fn call(&self, method: &str, params: &Value) -> Result<Value, RpcError> {
		let names = METHODS
			.iter()
			.find(|(name, _)| *name == method)
			.map(|(_, names)| *names)
			.ok_or_else(|| RpcError::new(code::METHOD_NOT_FOUND, "Method not found"))?;
		let params = match params {
			Value::Null => Params(Vec::new()),
			Value::Array(values) => {
				if values.len() > names.len() {
					return Err(RpcError::new(
						code::MISC_ERROR,
						format!("too many parameters for {method}"),
					));
				}
				Params(values.clone())
			},
			Value::Object(named) => {
				if let Some(unknown) = named.keys().find(|key| !names.contains(&key.as_str())) {
					return Err(RpcError::new(
						code::MISC_ERROR,
						format!("Unknown named parameter {unknown}"),
					));
				}
				Params(
					names
						.iter()
						.map(|name| named.get(*name).cloned().unwrap_or(Value::Null))
						.collect(),
				)
			},
			_ => return Err(RpcError::new(code::MISC_ERROR, "Params must be an array or object")),
		};
		self.dispatch(method, &params)
	}

	fn dispatch(&self, method: &str, params: &Params) -> Result<Value, RpcError> {
		match method {
			"getblockchaininfo" => {
				let chain = self.chain();
				let tip = chain.tip();
				Ok(json!({
					"chain": "regtest",
					"blocks": chain.height(),
					"headers": chain.height(),
					"bestblockhash": chain.tip_hash().to_string(),
					"bits": format!("{:08x}", tip.block.header.bits.to_consensus()),
					"target": hex::encode(tip.block.header.target().to_be_bytes()),
					"difficulty": REGTEST_DIFFICULTY,
					"time": tip.block.header.time,
					"mediantime": chain.median_time_past(&chain.tip_hash()),
					"verificationprogress": 1,
					"initialblockdownload": false,
					"chainwork": format!("{:064x}", tip.chain_work),
					"size_on_disk": 0,
					"pruned": false,
					// An array since Core 28.
					"warnings": [],
				}))
			},
			"getblockcount" => Ok(json!(self.chain().height())),
			"getbestblockhash" => Ok(json!(self.chain().tip_hash().to_string())),
			"getblockhash" => {
				let height = params.u64(0, "height")?;
				let chain = self.chain();
				u32::try_from(height)
					.ok()
					.and_then(|h| chain.hash_at(h))
					.map(|hash| json!(hash.to_string()))
					.ok_or_else(|| RpcError::new(code::INVALID_PARAMETER, "Block height out of range"))
			},
			"getblockheader" => {
				let hash: BlockHash = parse_hash(params.str(0, "blockhash")?, "blockhash")?;
				let verbose = params.flag(1).unwrap_or(1) != 0;
				let chain = self.chain();
				let entry = chain.block(&hash).ok_or_else(block_not_found)?;
				if !verbose {
					return Ok(json!(hex::encode(consensus::serialize(&entry.block.header))));
				}
				Ok(self.header_json(&chain, &hash))
			},
			"getblock" => {
				let hash: BlockHash = parse_hash(params.str(0, "blockhash")?, "blockhash")?;
				let verbosity = params.flag(1).unwrap_or(1);
				let chain = self.chain();
				let entry = chain.block(&hash).ok_or_else(block_not_found)?;
				let block: &Block = &entry.block;
				if verbosity == 0 {
					return Ok(json!(hex::encode(consensus::serialize(block))));
				}
				let mut object = self.header_json(&chain, &hash);
				object["strippedsize"] = json!((block.weight().to_wu() as usize - block.total_size()) / 3);
				object["size"] = json!(block.total_size());
				object["weight"] = json!(block.weight().to_wu());
				object["tx"] = if verbosity == 1 {
					json!(block.txdata.iter().map(|tx| tx.compute_txid().to_string()).collect::<Vec<_>>())
				} else {
					json!(block
						.txdata
						.iter()
						.map(|tx| {
							let mut object = tx_json(tx);
							object["hex"] = json!(hex::encode(consensus::serialize(tx)));
							object
						})
						.collect::<Vec<_>>())
				};
				Ok(object)
			},
			"getrawtransaction" => {
				let txid: Txid = parse_hash(params.str(0, "txid")?, "parameter 1")?;
				let verbose = params.flag(1).unwrap_or(0) != 0;
				let in_block: Option<BlockHash> =
					params.get(2).map(|v| parse_hash(v.as_str().unwrap_or_default(), "parameter 3")).transpose()?;
				let chain = self.chain();
				let found: Option<(Transaction, Option<BlockHash>)> = match in_block {
					Some(block_hash) => {
						let entry = chain.block(&block_hash).ok_or_else(|| {
							RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block hash not found")
						})?;
						entry
							.block
							.txdata
							.iter()
							.find(|tx| tx.compute_txid() == txid)
							.map(|tx| (tx.clone(), Some(block_hash)))
					},
					None => chain
						.mempool_entry(&txid)
						.map(|entry| (entry.tx.clone(), None))
						.or_else(|| chain.confirmed_tx(&txid).map(|(tx, hash)| (tx.clone(), Some(hash)))),
				};
				let (tx, block_hash) = found.ok_or_else(|| {
					RpcError::new(
						code::INVALID_ADDRESS_OR_KEY,
						if in_block.is_some() {
							"No such transaction found in the provided block. Use gettransaction for wallet transactions."
						} else {
							"No such mempool or blockchain transaction. Use gettransaction for wallet transactions."
						},
					)
				})?;
				let raw = hex::encode(consensus::serialize(&tx));
				if !verbose {
					return Ok(json!(raw));
				}
				let mut object = tx_json(&tx);
				object["hex"] = json!(raw);
				if let Some(block_hash) = block_hash {
					let entry = chain.block(&block_hash).expect("found in it");
					object["blockhash"] = json!(block_hash.to_string());
					object["confirmations"] = json!(chain.confirmations(&block_hash).max(0));
					object["time"] = json!(entry.block.header.time);
					object["blocktime"] = json!(entry.block.header.time);
					object["in_active_chain"] = json!(chain.is_active(&block_hash));
				}
				Ok(object)
			},
			"gettxout" => {
				let txid: Txid = parse_hash(params.str(0, "txid")?, "txid")?;
				let vout = u32::try_from(params.u64(1, "n")?)
					.map_err(|_| RpcError::new(code::INVALID_PARAMETER, "Invalid n"))?;
				let include_mempool = params.flag(2).unwrap_or(1) != 0;
				let outpoint = OutPoint { txid, vout };
				let chain = self.chain();
				let (output, confirmations, coinbase) = if let Some(coin) = chain.utxo(&outpoint) {
					if include_mempool && chain.spent_in_mempool(&outpoint) {
						return Ok(Value::Null);
					}
					(coin.output.clone(), chain.height() - coin.height + 1, coin.is_coinbase)
				} else if include_mempool && !chain.spent_in_mempool(&outpoint) {
					match chain.mempool_entry(&txid).and_then(|e| e.tx.output.get(vout as usize)) {
						Some(output) => (output.clone(), 0, false),
						None => return Ok(Value::Null),
					}
				} else {
					return Ok(Value::Null);
				};
				Ok(json!({
					"bestblock": chain.tip_hash().to_string(),
					"confirmations": confirmations,
					"value": btc(output.value),
					"scriptPubKey": script_pubkey_json(&output.script_pubkey),
					"coinbase": coinbase,
				}))
			},
			"sendrawtransaction" => {
				let tx = decode_tx(params.str(0, "hexstring")?)?;
				let max_fee_rate = self.max_fee_rate(params)?;
				let txid = self.chain().accept_to_mempool(tx, max_fee_rate)?;
				Ok(json!(txid.to_string()))
			},
			"testmempoolaccept" => {
				let raw = params.required(0, "rawtxs")?.as_array().ok_or_else(|| type_error("rawtxs", "array"))?;
				if raw.len() != 1 {
					return Err(RpcError::new(code::INVALID_PARAMETER, "btc-sim tests one transaction at a time"));
				}
				let tx = decode_tx(raw[0].as_str().unwrap_or_default())?;
				let max_fee_rate = self.max_fee_rate(params)?;
				let txid = tx.compute_txid();
				let wtxid = tx.compute_wtxid();
				let chain = self.chain();
				let result = if chain.mempool_entry(&txid).is_some() {
					Err(RpcError::new(-26, "txn-already-in-mempool"))
				} else {
					chain.check_for_mempool(&tx, max_fee_rate).map_err(RpcError::from)
				};
				let mut object = json!({ "txid": txid.to_string(), "wtxid": wtxid.to_string() });
				match result {
					Ok(_) => object["allowed"] = json!(true),
					Err(error) => {
						object["allowed"] = json!(false);
						object["reject-reason"] = json!(error.message);
					},
				}
				Ok(json!([object]))
			},
			"getrawmempool" => {
				let chain = self.chain();
				Ok(json!(chain.mempool().iter().map(|e| e.tx.compute_txid().to_string()).collect::<Vec<_>>()))
			},
			"getmempoolinfo" => {
				let chain = self.chain();
				let bytes: usize = chain.mempool().iter().map(|e| e.tx.vsize()).sum();
				Ok(json!({
					"loaded": true,
					"size": chain.mempool().len(),
					"bytes": bytes,
					// btc-sim does not measure memory: the serialized size stands in for it.
					"usage": bytes,
					"total_fee": btc(Amount::from_sat(chain.mempool().iter().map(|e| e.fee_sats).sum())),
					"maxmempool": 300_000_000,
					"mempoolminfee": btc(Amount::from_sat(MIN_RELAY_FEE_SAT_PER_KVB)),
					"minrelaytxfee": btc(Amount::from_sat(MIN_RELAY_FEE_SAT_PER_KVB)),
					"incrementalrelayfee": btc(Amount::from_sat(INCREMENTAL_RELAY_FEE_SAT_PER_KVB)),
					"unbroadcastcount": 0,
					// Core 28's default, the only policy since: any transaction is replaceable.
					"fullrbf": true,
					"permitbaremultisig": true,
					// Core 30's default: OP_RETURN outputs are not limited.
					"maxdatacarriersize": 100_000,
				}))
			},
			"estimatesmartfee" => {
				let target = params.u64(0, "conf_target")?;
				if !(1..=1008).contains(&target) {
					return Err(RpcError::new(code::INVALID_PARAMETER, "Invalid conf_target, must be between 1 and 1008"));
				}
				match *self.fee_rate_sat_per_vb.lock().unwrap_or_else(|p| p.into_inner()) {
					// sat/vB -> BTC/kvB.
					Some(rate) => Ok(json!({ "feerate": btc(Amount::from_sat(rate * 1000)), "blocks": target.max(2) })),
					None => Ok(json!({ "errors": ["Insufficient data or no feerate found"], "blocks": 0 })),
				}
			},
			"generatetoaddress" => {
				let count = params.u64(0, "nblocks")?;
				let address = parse_address(params.str(1, "address")?)?;
				let hashes = self.mine(count.min(10_000) as u32, &address.script_pubkey());
				Ok(json!(hashes.iter().map(ToString::to_string).collect::<Vec<_>>()))
			},
			"generateblock" => {
				let address = parse_address(params.str(0, "output")?)?;
				let listed = params.required(1, "transactions")?.as_array().ok_or_else(|| type_error("transactions", "array"))?;
				let mut chain = self.chain();
				let mut txids = Vec::with_capacity(listed.len());
				for item in listed {
					let text = item.as_str().ok_or_else(|| type_error("transactions", "string"))?;
					// A txid of the mempool, or a raw transaction (checked as sendrawtransaction does).
					let txid = if text.len() == 64 {
						parse_hash(text, "txid")?
					} else {
						chain.accept_to_mempool(decode_tx(text)?, 0)?
					};
					txids.push(txid);
				}
				let hash = chain
					.mine_block_with(&address.script_pubkey(), &txids)
					.map_err(|message| RpcError::new(code::INVALID_ADDRESS_OR_KEY, message))?;
				Ok(json!({ "hash": hash.to_string() }))
			},
			"generate" => Err(RpcError::new(
				code::METHOD_NOT_FOUND,
				"generate\n\nhas been replaced by the -generate cli option. Refer to -help for more information.",
			)),
			"getnewaddress" => Ok(json!(self.wallet.address.to_string())),
			"getbalance" => Ok(btc(self.wallet.balance(&self.chain()))),
			"sendtoaddress" => {
				let address = parse_address(params.str(0, "address")?)?;
				let amount = parse_btc_amount(params.required(1, "amount")?)?;
				let fee_rate = params.optional_u64(9, "fee_rate")?;
				let output = TxOut { value: amount, script_pubkey: address.script_pubkey() };
				let txid = self.pay(vec![output], fee_rate)?;
				Ok(json!(txid.to_string()))
			},
			"send" => {
				let outputs = params.required(0, "outputs")?;
				let outputs = parse_send_outputs(outputs)?;
				let fee_rate = params.optional_u64(3, "fee_rate")?;
				let txid = self.pay(outputs, fee_rate)?;
				Ok(json!({ "txid": txid.to_string(), "complete": true }))
			},
			"invalidateblock" | "reconsiderblock" => {
				let hash: BlockHash = parse_hash(params.str(0, "blockhash")?, "blockhash")?;
				let mut chain = self.chain();
				let result =
					if method == "invalidateblock" { chain.invalidate_block(&hash) } else { chain.reconsider_block(&hash) };
				result.map_err(|message| RpcError::new(code::INVALID_ADDRESS_OR_KEY, message))?;
				Ok(Value::Null)
			},
			"setmocktimeoffset" => {
				self.chain().time_offset_secs = params.u64(0, "seconds")?;
				Ok(Value::Null)
			},
			"uptime" => Ok(json!(0)),
			_ => Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found")),
		}
	}

	fn max_fee_rate(&self, params: &Params) -> Result<u64, RpcError> {
		match params.get(1) {
			// BTC/kvB -> sat/kvB; 0 disables the check, as in Core.
			Some(value) => Ok(parse_btc_amount(value)?.to_sat()),
			None => Ok(DEFAULT_MAX_FEE_RATE_SAT_PER_KVB),
		}
	}

	fn pay(&self, outputs: Vec<TxOut>, fee_rate: Option<u64>) -> Result<Txid, RpcError> {
		let mut chain = self.chain();
		let tx = self
			.wallet
			.pay(&chain, outputs, fee_rate.unwrap_or(self.wallet_fee_rate_sat_per_vb))
			.map_err(|error| match error {
				WalletError::InsufficientFunds { .. } => {
					RpcError::new(code::WALLET_INSUFFICIENT_FUNDS, "Insufficient funds")
				},
				WalletError::InvalidAmount => RpcError::new(code::TYPE_ERROR, "Invalid amount"),
				WalletError::MemoTooLarge => {
					RpcError::new(code::INVALID_PARAMETER, "Data must be at most 80 bytes")
				},
			})?;
		// The wallet's transaction goes through the same checks as any other.
		Ok(chain.accept_to_mempool(tx, DEFAULT_MAX_FEE_RATE_SAT_PER_KVB)?)
	}

	fn header_json(&self, chain: &Chain, hash: &BlockHash) -> Value {
		let entry = chain.block(hash).expect("callers found it");
		let header = &entry.block.header;
		let mut object = json!({
			"hash": hash.to_string(),
			"confirmations": chain.confirmations(hash),
			"height": entry.height,
			"version": header.version.to_consensus(),
			"versionHex": format!("{:08x}", header.version.to_consensus()),
			"merkleroot": header.merkle_root.to_string(),
			"time": header.time,
			"mediantime": chain.median_time_past(hash),
			"nonce": header.nonce,
			"bits": format!("{:08x}", header.bits.to_consensus()),
			"target": hex::encode(header.target().to_be_bytes()),
			"difficulty": REGTEST_DIFFICULTY,
			"chainwork": format!("{:064x}", entry.chain_work),
			"nTx": entry.block.txdata.len(),
		});
		if entry.height > 0 {
			object["previousblockhash"] = json!(header.prev_blockhash.to_string());
		}
		if chain.is_active(hash) {
			if let Some(next) = chain.hash_at(entry.height + 1) {
				object["nextblockhash"] = json!(next.to_string());
			}
		}
		object
	}
}

fn block_not_found() -> RpcError {
	RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found")
}

fn decode_tx(hex_text: &str) -> Result<Transaction, RpcError> {
	let decode_failed = || RpcError::from(TxRejection::Decode);
	let bytes = hex::decode(hex_text).map_err(|_| decode_failed())?;
	let mut reader = bytes.as_slice();
	let tx = Transaction::consensus_decode(&mut reader).map_err(|_| decode_failed())?;
	if !reader.is_empty() {
		return Err(decode_failed());
	}
	Ok(tx)
}

/// `send`'s outputs: `[{"address": amount}, {"data": "hex"}]` or one object holding both.
fn parse_send_outputs(value: &Value) -> Result<Vec<TxOut>, RpcError> {
	let entries: Vec<(String, Value)> = match value {
		Value::Array(items) => items
			.iter()
			.map(|item| {
				let object: &Map<String, Value> =
					item.as_object().ok_or_else(|| type_error("outputs", "object"))?;
				Ok(object.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>())
			})
			.collect::<Result<Vec<_>, RpcError>>()?
			.into_iter()
			.flatten()
			.collect(),
		Value::Object(object) => object.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
		_ => return Err(type_error("outputs", "array")),
	};
	if entries.is_empty() {
		return Err(RpcError::new(
			code::INVALID_PARAMETER,
			"Invalid parameter, output argument cannot be an empty array",
		));
	}
	let mut outputs = Vec::with_capacity(entries.len());
	for (key, value) in entries {
		if key == "data" {
			let data = hex::decode(value.as_str().unwrap_or_default()).map_err(|_| {
				RpcError::new(code::INVALID_PARAMETER, "Data must be hexadecimal string")
			})?;
			if data.len() > 80 {
				return Err(RpcError::new(
					code::INVALID_PARAMETER,
					"Data must be at most 80 bytes",
				));
			}
			let push = PushBytesBuf::try_from(data).expect("at most 80 bytes");
			outputs
				.push(TxOut { value: Amount::ZERO, script_pubkey: ScriptBuf::new_op_return(push) });
		} else {
			let address = Address::from_str(&key)
				.ok()
				.and_then(|a| a.require_network(Network::Regtest).ok())
				.ok_or_else(|| {
					RpcError::new(
						code::INVALID_ADDRESS_OR_KEY,
						format!("Invalid Bitcoin address: {key}"),
					)
				})?;
			outputs.push(TxOut {
				value: parse_btc_amount(&value)?,
				script_pubkey: address.script_pubkey(),
			});
		}
	}
	Ok(outputs)
}

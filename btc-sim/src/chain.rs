//! The block tree, the UTXO set and the mempool of a regtest node.
//!
//! Blocks carry real regtest proof of work (nBits `0x207fffff`) and Merkle roots (and the
//! BIP-141 witness commitment when they hold witness transactions); the active chain is the
//! valid chain with the most work, as in Bitcoin Core. Every transaction entering the mempool
//! is checked against the UTXO set and has each input run through Bitcoin Core's script
//! interpreter (`bitcoinconsensus`, with Taproot and every spent output). A transaction
//! that conflicts with mempool transactions replaces them under Bitcoin Core's full-RBF rules
//! (`doc/policy/mempool-replacements.md`, Core 28 to 30), with Core's reject reasons; blocks
//! leave out packages below `block_min_fee_rate_sat_per_kvb` (Core's `-blockmintxfee`).

use bitcoin::{
	absolute::LockTime,
	block::{Header, Version},
	blockdata::constants::genesis_block,
	consensus,
	hashes::Hash,
	script::{Builder, PushBytesBuf},
	transaction, Amount, Block, BlockHash, CompactTarget, Network, OutPoint, ScriptBuf, Sequence,
	Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness, Work,
};
use std::collections::{HashMap, HashSet};

/// Blocks a coinbase output must wait before it can be spent.
pub const COINBASE_MATURITY: u32 = 100;
/// Regtest halves the subsidy every 150 blocks.
pub const SUBSIDY_HALVING_INTERVAL: u32 = 150;
/// Regtest's proof-of-work limit, the nBits of every block.
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// Bitcoin Core's default minimum relay fee: 1 sat/vB.
pub const MIN_RELAY_FEE_SAT_PER_KVB: u64 = 1_000;
/// Bitcoin Core's default incremental relay fee: what a replacement adds per kvB at least.
pub const INCREMENTAL_RELAY_FEE_SAT_PER_KVB: u64 = 1_000;
/// Bitcoin Core's `MAX_REPLACEMENT_CANDIDATES`: transactions one replacement may evict.
pub const MAX_REPLACEMENT_CANDIDATES: usize = 100;
/// `sendrawtransaction`'s default `maxfeerate`: 0.10 BTC/kvB.
pub const DEFAULT_MAX_FEE_RATE_SAT_PER_KVB: u64 = 10_000_000;

/// An unspent output and where it was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
	pub output: TxOut,
	/// Height of the block that created it (the next block's height for mempool outputs).
	pub height: u32,
	pub is_coinbase: bool,
}

/// Why a transaction is refused, with Bitcoin Core's RPC error code and reject reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxRejection {
	/// The bytes are not a transaction.
	Decode,
	/// Its outputs are already in the UTXO set (it is confirmed).
	AlreadyInChain,
	/// A coinbase cannot be relayed.
	Coinbase,
	/// No inputs or no outputs.
	Empty,
	/// The same outpoint is spent twice.
	DuplicateInputs,
	/// An input is neither in the UTXO set nor created by a mempool transaction.
	MissingInputs,
	/// A replacement whose fee rate is not above a transaction it directly conflicts with
	/// (rule 6).
	ReplacementFeeRateNotHigher { replacement: Txid, new_sat_per_kvb: u64, old_sat_per_kvb: u64 },
	/// A replacement paying less than the transactions it evicts (rule 3).
	ReplacementFeeBelowOriginals { replacement: Txid, fee_sats: u64, original_sats: u64 },
	/// A replacement whose extra fee does not pay for its own relay (rule 4).
	ReplacementAdditionalFeeTooLow { replacement: Txid, additional_sats: u64, required_sats: u64 },
	/// A replacement evicting more than `MAX_REPLACEMENT_CANDIDATES` transactions (rule 5).
	TooManyReplacements { replacement: Txid, count: usize },
	/// A replacement spending an unconfirmed output no original spent (rule 2).
	ReplacementAddsUnconfirmed { replacement: Txid, input: usize },
	/// A transaction spending an output of a transaction it would evict.
	SpendsConflictingTx { replacement: Txid, conflicting: Txid },
	/// A coinbase output is spent before 100 confirmations.
	PrematureCoinbaseSpend { depth: u32 },
	/// Outputs exceed inputs.
	InBelowOut { in_sats: u64, out_sats: u64 },
	/// An output or their sum exceeds 21 million BTC.
	OutputTooLarge,
	/// Bitcoin Core's interpreter refused an input.
	Script { input: usize, error: String },
	/// The fee is below 1 sat/vB.
	MinRelayFee { fee_sats: u64, min_sats: u64 },
	/// An output is below the dust limit of its script.
	Dust,
	/// The fee rate is above `maxfeerate`.
	MaxFeeRate,
}

impl TxRejection {
	/// Bitcoin Core's RPC error code for this refusal.
	pub fn code(&self) -> i64 {
		match self {
			TxRejection::Decode => -22,
			TxRejection::AlreadyInChain => -27,
			TxRejection::MissingInputs | TxRejection::MaxFeeRate => -25,
			_ => -26,
		}
	}

	/// Bitcoin Core's message for this refusal.
	pub fn message(&self) -> String {
		match self {
			TxRejection::Decode => {
				"TX decode failed. Make sure the tx has at least one input.".into()
			},
			TxRejection::AlreadyInChain => "Transaction outputs already in utxo set".into(),
			TxRejection::Coinbase => "coinbase".into(),
			TxRejection::Empty => "bad-txns-vin-empty".into(),
			TxRejection::DuplicateInputs => "bad-txns-inputs-duplicate".into(),
			TxRejection::MissingInputs => "bad-txns-inputs-missingorspent".into(),
			TxRejection::ReplacementFeeRateNotHigher { replacement, new_sat_per_kvb, old_sat_per_kvb } => format!(
				"insufficient fee, rejecting replacement {replacement}; new feerate {} <= old feerate {}",
				fee_rate_string(*new_sat_per_kvb),
				fee_rate_string(*old_sat_per_kvb)
			),
			TxRejection::ReplacementFeeBelowOriginals { replacement, fee_sats, original_sats } => format!(
				"insufficient fee, rejecting replacement {replacement}, less fees than conflicting txs; {} < {}",
				format_money(*fee_sats),
				format_money(*original_sats)
			),
			TxRejection::ReplacementAdditionalFeeTooLow { replacement, additional_sats, required_sats } => format!(
				"insufficient fee, rejecting replacement {replacement}, not enough additional fees to relay; {} < {}",
				format_money(*additional_sats),
				format_money(*required_sats)
			),
			TxRejection::TooManyReplacements { replacement, count } => format!(
				"too many potential replacements, rejecting replacement {replacement}; too many potential replacements ({count} > {MAX_REPLACEMENT_CANDIDATES})"
			),
			TxRejection::ReplacementAddsUnconfirmed { replacement, input } => format!(
				"replacement-adds-unconfirmed, replacement {replacement} adds unconfirmed input, idx {input}"
			),
			TxRejection::SpendsConflictingTx { replacement, conflicting } => format!(
				"bad-txns-spends-conflicting-tx, {replacement} spends conflicting transaction {conflicting}"
			),
			TxRejection::PrematureCoinbaseSpend { depth } => format!(
				"bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth {depth}"
			),
			TxRejection::InBelowOut { in_sats, out_sats } => format!(
				"bad-txns-in-belowout, value in ({}) < value out ({})",
				Amount::from_sat(*in_sats).to_btc(),
				Amount::from_sat(*out_sats).to_btc()
			),
			TxRejection::OutputTooLarge => "bad-txns-vout-toolarge".into(),
			TxRejection::Script { input, error } => format!(
				"mandatory-script-verify-flag-failed (Script evaluation of input {input} failed: {error})"
			),
			TxRejection::MinRelayFee { fee_sats, min_sats } => {
				format!("min relay fee not met, {fee_sats} < {min_sats}")
			},
			TxRejection::Dust => "dust".into(),
			TxRejection::MaxFeeRate => {
				"Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)".into()
			},
		}
	}
}

/// Bitcoin Core's `FormatMoney`: BTC with trailing zeros trimmed to two decimals.
fn format_money(sats: u64) -> String {
	let text = format!("{}.{:08}", sats / 100_000_000, sats % 100_000_000);
	let trimmed = text.trim_end_matches('0');
	let decimals = trimmed.len() - trimmed.find('.').expect("a point") - 1;
	format!("{trimmed}{}", "0".repeat(2usize.saturating_sub(decimals)))
}

/// Bitcoin Core's `CFeeRate::ToString`: BTC per kvB with eight decimals.
fn fee_rate_string(sat_per_kvb: u64) -> String {
	format!("{}.{:08} BTC/kvB", sat_per_kvb / 100_000_000, sat_per_kvb % 100_000_000)
}

/// What a transaction would do to the mempool: the fee it pays and the transactions it
/// evicts (its direct conflicts and their descendants), in mempool order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MempoolAcceptance {
	pub fee_sats: u64,
	pub replaces: Vec<Txid>,
}

/// A transaction waiting to be mined.
#[derive(Debug, Clone)]
pub struct MempoolEntry {
	pub tx: Transaction,
	pub fee_sats: u64,
	/// Unix time it was accepted.
	pub time: u64,
}

/// A block the node knows, on the active chain or not.
#[derive(Debug, Clone)]
pub struct BlockEntry {
	pub block: Block,
	pub height: u32,
	pub chain_work: Work,
	/// Marked by `invalidateblock` (or a descendant of such a block).
	pub invalid: bool,
	/// The coins its transactions spent, while it is connected (to disconnect it).
	undo: Option<Vec<(OutPoint, Coin)>>,
}

/// The node's state: every block seen, the active chain, its UTXO set and the mempool.
pub struct Chain {
	blocks: HashMap<BlockHash, BlockEntry>,
	/// Hashes of the active chain by height.
	active: Vec<BlockHash>,
	utxos: HashMap<OutPoint, Coin>,
	/// Where each transaction of the active chain was confirmed (`-txindex`).
	tx_index: HashMap<Txid, BlockHash>,
	/// In arrival order, so parents come before children.
	mempool: Vec<MempoolEntry>,
	/// Outpoints spent by mempool transactions.
	mempool_spends: HashMap<OutPoint, Txid>,
	/// Seconds added to the wall clock for block times (tests can move time forward).
	pub time_offset_secs: u64,
	/// The clock block times follow instead of the wall clock, if set (Core's `setmocktime`):
	/// a deterministic simulation mines the same blocks on every run.
	pub mock_time_secs: Option<u64>,
	/// Counts mined blocks, so a block mined again on the same parent is a new block.
	extra_nonce: u64,
	/// Core's `-blockmintxfee`: mined blocks leave out packages (a transaction with its
	/// unconfirmed ancestors) paying less per kvB. 0 (the default here) mines everything.
	pub block_min_fee_rate_sat_per_kvb: u64,
}

fn now_secs() -> u64 {
	std::time::SystemTime::now()
		.duration_since(std::time::UNIX_EPOCH)
		.map(|d| d.as_secs())
		.unwrap_or_default()
}

/// Block subsidy at `height` on regtest.
pub fn block_subsidy(height: u32) -> Amount {
	let halvings = height / SUBSIDY_HALVING_INTERVAL;
	if halvings >= 64 {
		return Amount::ZERO;
	}
	Amount::from_sat((50 * 100_000_000) >> halvings)
}

impl Default for Chain {
	fn default() -> Self {
		Self::new()
	}
}

impl Chain {
	/// A chain holding only regtest's genesis block.
	pub fn new() -> Self {
		let genesis = genesis_block(Network::Regtest);
		let hash = genesis.block_hash();
		let entry = BlockEntry {
			chain_work: genesis.header.work(),
			block: genesis,
			height: 0,
			invalid: false,
			// The genesis coinbase is not spendable, as in Bitcoin Core.
			undo: Some(Vec::new()),
		};
		Chain {
			blocks: HashMap::from([(hash, entry)]),
			active: vec![hash],
			utxos: HashMap::new(),
			tx_index: HashMap::new(),
			mempool: Vec::new(),
			mempool_spends: HashMap::new(),
			time_offset_secs: 0,
			mock_time_secs: None,
			extra_nonce: 0,
			block_min_fee_rate_sat_per_kvb: 0,
		}
	}

	/// Height of the active tip.
	pub fn height(&self) -> u32 {
		(self.active.len() - 1) as u32
	}

	/// Hash of the active tip.
	pub fn tip_hash(&self) -> BlockHash {
		*self.active.last().expect("the genesis block is always active")
	}

	/// The active tip.
	pub fn tip(&self) -> &BlockEntry {
		&self.blocks[&self.tip_hash()]
	}

	/// Hash of the active block at `height`.
	pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
		self.active.get(height as usize).copied()
	}

	/// Any known block.
	pub fn block(&self, hash: &BlockHash) -> Option<&BlockEntry> {
		self.blocks.get(hash)
	}

	/// Whether `hash` is on the active chain.
	pub fn is_active(&self, hash: &BlockHash) -> bool {
		self.blocks.get(hash).is_some_and(|entry| self.hash_at(entry.height) == Some(*hash))
	}

	/// Confirmations of a block: -1 if it is not on the active chain.
	pub fn confirmations(&self, hash: &BlockHash) -> i64 {
		match self.blocks.get(hash) {
			Some(entry) if self.is_active(hash) => (self.height() - entry.height) as i64 + 1,
			_ => -1,
		}
	}

	/// Median of the timestamps of the 11 blocks ending at `hash`.
	pub fn median_time_past(&self, hash: &BlockHash) -> u32 {
		let mut times = Vec::with_capacity(11);
		let mut cursor = Some(*hash);
		while let Some(hash) = cursor {
			if times.len() == 11 {
				break;
			}
			let Some(entry) = self.blocks.get(&hash) else { break };
			times.push(entry.block.header.time);
			cursor = (entry.height > 0).then_some(entry.block.header.prev_blockhash);
		}
		times.sort_unstable();
		times[times.len() / 2]
	}

	/// Where a confirmed transaction of the active chain is.
	pub fn tx_block(&self, txid: &Txid) -> Option<BlockHash> {
		self.tx_index.get(txid).copied()
	}

	/// A confirmed transaction of the active chain.
	pub fn confirmed_tx(&self, txid: &Txid) -> Option<(&Transaction, BlockHash)> {
		let block_hash = self.tx_index.get(txid)?;
		let tx =
			self.blocks[block_hash].block.txdata.iter().find(|tx| tx.compute_txid() == *txid)?;
		Some((tx, *block_hash))
	}

	/// The mempool, in arrival order.
	pub fn mempool(&self) -> &[MempoolEntry] {
		&self.mempool
	}

	/// A mempool transaction.
	pub fn mempool_entry(&self, txid: &Txid) -> Option<&MempoolEntry> {
		self.mempool.iter().find(|entry| entry.tx.compute_txid() == *txid)
	}

	/// A coin of the UTXO set (confirmed outputs only).
	pub fn utxo(&self, outpoint: &OutPoint) -> Option<&Coin> {
		self.utxos.get(outpoint)
	}

	/// Whether a mempool transaction spends `outpoint`.
	pub fn spent_in_mempool(&self, outpoint: &OutPoint) -> bool {
		self.mempool_spends.contains_key(outpoint)
	}

	/// Every output spendable now, confirmed or in the mempool, whose script is `script`.
	/// Coinbase outputs are listed only once mature.
	pub fn spendable_coins(&self, script: &ScriptBuf) -> Vec<(OutPoint, Coin)> {
		let next_height = self.height() + 1;
		let mut coins: Vec<(OutPoint, Coin)> = self
			.utxos
			.iter()
			.filter(|(outpoint, coin)| {
				coin.output.script_pubkey == *script &&
					!self.mempool_spends.contains_key(outpoint) &&
					// As Bitcoin Core's wallet: 101 confirmations for a coinbase.
					(!coin.is_coinbase || self.height() - coin.height >= COINBASE_MATURITY)
			})
			.map(|(outpoint, coin)| (*outpoint, coin.clone()))
			.collect();
		for entry in &self.mempool {
			let txid = entry.tx.compute_txid();
			for (vout, output) in entry.tx.output.iter().enumerate() {
				let outpoint = OutPoint { txid, vout: vout as u32 };
				if output.script_pubkey == *script && !self.mempool_spends.contains_key(&outpoint) {
					coins.push((
						outpoint,
						Coin { output: output.clone(), height: next_height, is_coinbase: false },
					));
				}
			}
		}
		// A stable order, so the wallet's coin selection is deterministic.
		coins.sort_by_key(|(outpoint, coin)| (coin.height, outpoint.txid, outpoint.vout));
		coins
	}

	/// The coin an input spends: from the UTXO set or a mempool transaction's outputs.
	fn coin_for_input(&self, outpoint: &OutPoint) -> Option<Coin> {
		if let Some(coin) = self.utxos.get(outpoint) {
			return Some(coin.clone());
		}
		self.mempool
			.iter()
			.find(|entry| entry.tx.compute_txid() == outpoint.txid)
			.and_then(|entry| entry.tx.output.get(outpoint.vout as usize))
			.map(|output| Coin {
				output: output.clone(),
				height: self.height() + 1,
				is_coinbase: false,
			})
	}

	/// Checks `tx` as Bitcoin Core's `sendrawtransaction` does and adds it to the mempool,
	/// evicting what it replaces. A transaction already in the mempool is accepted again
	/// without change.
	pub fn accept_to_mempool(
		&mut self,
		tx: Transaction,
		max_fee_rate_sat_per_kvb: u64,
	) -> Result<Txid, TxRejection> {
		let txid = tx.compute_txid();
		if self.mempool_entry(&txid).is_some() {
			return Ok(txid);
		}
		let MempoolAcceptance { fee_sats, replaces } =
			self.check_for_mempool(&tx, max_fee_rate_sat_per_kvb)?;
		if !replaces.is_empty() {
			self.mempool.retain(|entry| !replaces.contains(&entry.tx.compute_txid()));
			self.mempool_spends.retain(|_, spender| !replaces.contains(spender));
		}
		for input in &tx.input {
			self.mempool_spends.insert(input.previous_output, txid);
		}
		self.mempool.push(MempoolEntry { tx, fee_sats, time: now_secs() });
		Ok(txid)
	}

	/// The checks of `accept_to_mempool` without changing anything: the fee and what the
	/// transaction would replace.
	pub fn check_for_mempool(
		&self,
		tx: &Transaction,
		max_fee_rate_sat_per_kvb: u64,
	) -> Result<MempoolAcceptance, TxRejection> {
		let txid = tx.compute_txid();
		if tx.is_coinbase() {
			return Err(TxRejection::Coinbase);
		}
		if tx.input.is_empty() || tx.output.is_empty() {
			return Err(TxRejection::Empty);
		}
		if (0..tx.output.len() as u32).any(|vout| self.utxos.contains_key(&OutPoint { txid, vout }))
			|| self.tx_index.contains_key(&txid)
		{
			return Err(TxRejection::AlreadyInChain);
		}
		let mut seen = HashSet::new();
		if !tx.input.iter().all(|input| seen.insert(input.previous_output)) {
			return Err(TxRejection::DuplicateInputs);
		}
		let max_money = Amount::MAX_MONEY.to_sat();
		let mut out_sats = 0u64;
		for output in &tx.output {
			out_sats = out_sats.saturating_add(output.value.to_sat());
			if output.value.to_sat() > max_money || out_sats > max_money {
				return Err(TxRejection::OutputTooLarge);
			}
		}

		let next_height = self.height() + 1;
		let mut spent = Vec::with_capacity(tx.input.len());
		let mut direct_conflicts = Vec::new();
		for input in &tx.input {
			if let Some(other) = self.mempool_spends.get(&input.previous_output) {
				if !direct_conflicts.contains(other) {
					direct_conflicts.push(*other);
				}
			}
			let coin =
				self.coin_for_input(&input.previous_output).ok_or(TxRejection::MissingInputs)?;
			if coin.is_coinbase && next_height - coin.height < COINBASE_MATURITY {
				return Err(TxRejection::PrematureCoinbaseSpend {
					depth: next_height - coin.height,
				});
			}
			spent.push(coin.output);
		}
		let in_sats: u64 = spent.iter().map(|output| output.value.to_sat()).sum();
		if in_sats < out_sats {
			return Err(TxRejection::InBelowOut { in_sats, out_sats });
		}

		let fee_sats = in_sats - out_sats;
		let vsize = tx.vsize() as u64;
		let min_sats = (MIN_RELAY_FEE_SAT_PER_KVB * vsize).div_ceil(1000);
		if fee_sats < min_sats {
			return Err(TxRejection::MinRelayFee { fee_sats, min_sats });
		}
		if max_fee_rate_sat_per_kvb > 0 && fee_sats * 1000 > max_fee_rate_sat_per_kvb * vsize {
			return Err(TxRejection::MaxFeeRate);
		}
		if tx.output.iter().any(|output| {
			!output.script_pubkey.is_op_return()
				&& output.value < output.script_pubkey.minimal_non_dust()
		}) {
			return Err(TxRejection::Dust);
		}
		let replaces = self.check_replacement(tx, fee_sats, &direct_conflicts)?;
		// Scripts last, as Core's policy and consensus script checks come after the rest.
		verify_scripts(tx, &spent)?;
		Ok(MempoolAcceptance { fee_sats, replaces })
	}

	/// Bitcoin Core's replacement checks (full RBF: no signal needed), in Core's order;
	/// returns the transactions `tx` evicts.
	fn check_replacement(
		&self,
		tx: &Transaction,
		fee_sats: u64,
		direct_conflicts: &[Txid],
	) -> Result<Vec<Txid>, TxRejection> {
		if direct_conflicts.is_empty() {
			return Ok(Vec::new());
		}
		let replacement = tx.compute_txid();
		// The direct conflicts and their descendants (children follow parents in the mempool),
		// each with its txid.
		let mut evicted: Vec<(Txid, &MempoolEntry)> = Vec::new();
		for entry in &self.mempool {
			let txid = entry.tx.compute_txid();
			if direct_conflicts.contains(&txid)
				|| entry.tx.input.iter().any(|input| {
					evicted.iter().any(|(evicted, _)| *evicted == input.previous_output.txid)
				}) {
				evicted.push((txid, entry));
			}
		}
		if evicted.len() > MAX_REPLACEMENT_CANDIDATES {
			return Err(TxRejection::TooManyReplacements { replacement, count: evicted.len() });
		}
		let conflicts: Vec<&MempoolEntry> = evicted
			.iter()
			.filter(|(txid, _)| direct_conflicts.contains(txid))
			.map(|(_, entry)| *entry)
			.collect();
		let parents_of_conflicts: HashSet<Txid> = conflicts
			.iter()
			.flat_map(|e| e.tx.input.iter().map(|input| input.previous_output.txid))
			.collect();
		for (index, input) in tx.input.iter().enumerate() {
			let unconfirmed = !self.utxos.contains_key(&input.previous_output);
			if unconfirmed && !parents_of_conflicts.contains(&input.previous_output.txid) {
				return Err(TxRejection::ReplacementAddsUnconfirmed { replacement, input: index });
			}
		}
		for input in &tx.input {
			if let Some((conflicting, _)) =
				evicted.iter().find(|(txid, _)| *txid == input.previous_output.txid)
			{
				return Err(TxRejection::SpendsConflictingTx {
					replacement,
					conflicting: *conflicting,
				});
			}
		}
		let new_sat_per_kvb = fee_sats * 1000 / tx.vsize() as u64;
		for conflict in &conflicts {
			let old_sat_per_kvb = conflict.fee_sats * 1000 / conflict.tx.vsize() as u64;
			if new_sat_per_kvb <= old_sat_per_kvb {
				return Err(TxRejection::ReplacementFeeRateNotHigher {
					replacement,
					new_sat_per_kvb,
					old_sat_per_kvb,
				});
			}
		}
		let original_sats: u64 = evicted.iter().map(|(_, e)| e.fee_sats).sum();
		if fee_sats < original_sats {
			return Err(TxRejection::ReplacementFeeBelowOriginals {
				replacement,
				fee_sats,
				original_sats,
			});
		}
		let additional_sats = fee_sats - original_sats;
		let required_sats = INCREMENTAL_RELAY_FEE_SAT_PER_KVB * tx.vsize() as u64 / 1000;
		if additional_sats < required_sats {
			return Err(TxRejection::ReplacementAdditionalFeeTooLow {
				replacement,
				additional_sats,
				required_sats,
			});
		}
		Ok(evicted.into_iter().map(|(txid, _)| txid).collect())
	}

	/// The mempool transactions a block template takes: every package (a transaction with
	/// its ancestors still in the mempool) paying at least `block_min_fee_rate_sat_per_kvb`,
	/// so a child can pay for its parent (CPFP) as in Core's ancestor-feerate selection.
	pub fn block_template(&self) -> Vec<Txid> {
		let txids: Vec<Txid> = self.mempool.iter().map(|e| e.tx.compute_txid()).collect();
		let mut selected: Vec<Txid> = Vec::new();
		loop {
			let mut added = false;
			for index in 0..self.mempool.len() {
				if selected.contains(&txids[index]) {
					continue;
				}
				// The package: this transaction and its unselected mempool ancestors.
				let mut package = vec![index];
				let mut cursor = 0;
				while cursor < package.len() {
					for input in &self.mempool[package[cursor]].tx.input {
						if let Some(parent) =
							txids.iter().position(|txid| *txid == input.previous_output.txid)
						{
							if !selected.contains(&txids[parent]) && !package.contains(&parent) {
								package.push(parent);
							}
						}
					}
					cursor += 1;
				}
				let fee_sats: u64 = package.iter().map(|i| self.mempool[*i].fee_sats).sum();
				let vsize: u64 = package.iter().map(|i| self.mempool[*i].tx.vsize() as u64).sum();
				if fee_sats * 1000 >= self.block_min_fee_rate_sat_per_kvb * vsize {
					package.sort_unstable();
					selected.extend(package.into_iter().map(|i| txids[i]));
					added = true;
				}
			}
			if !added {
				break;
			}
		}
		// Mempool order keeps parents before children.
		txids.into_iter().filter(|txid| selected.contains(txid)).collect()
	}

	/// Mines one block on the active tip holding the block template (the whole mempool
	/// unless `block_min_fee_rate_sat_per_kvb` leaves some out), its coinbase paying the
	/// subsidy and fees to `payout`. Returns its hash.
	pub fn mine_block(&mut self, payout: &ScriptBuf) -> BlockHash {
		let template = self.block_template();
		self.mine_block_with(payout, &template).expect("the template is a valid block")
	}

	/// Mines one block holding exactly the mempool transactions `txids` (Core's
	/// `generateblock`); the rest stay in the mempool. A transaction whose unconfirmed parent
	/// is left out is refused.
	pub fn mine_block_with(
		&mut self,
		payout: &ScriptBuf,
		txids: &[Txid],
	) -> Result<BlockHash, String> {
		let height = self.height() + 1;
		let selected: Vec<&MempoolEntry> =
			self.mempool.iter().filter(|e| txids.contains(&e.tx.compute_txid())).collect();
		if let Some(missing) =
			txids.iter().find(|txid| !selected.iter().any(|e| e.tx.compute_txid() == **txid))
		{
			return Err(format!("Transaction {missing} not in mempool."));
		}
		for entry in &selected {
			for input in &entry.tx.input {
				let parent = input.previous_output.txid;
				if !self.utxos.contains_key(&input.previous_output) && !txids.contains(&parent) {
					return Err(format!("Transaction {} spends {parent}, which is neither confirmed nor in the block", entry.tx.compute_txid()));
				}
			}
		}
		let transactions: Vec<Transaction> = selected.iter().map(|e| e.tx.clone()).collect();
		let fees: u64 = selected.iter().map(|e| e.fee_sats).sum();
		let has_witness =
			transactions.iter().any(|tx| tx.input.iter().any(|i| !i.witness.is_empty()));

		// BIP-34 height, then a tag and an extra nonce (which also keeps the script at least
		// 2 bytes at heights 1..16).
		self.extra_nonce += 1;
		let mut tag = b"btc-sim".to_vec();
		tag.extend_from_slice(&self.extra_nonce.to_le_bytes());
		let coinbase_script = Builder::new()
			.push_int(height as i64)
			.push_slice(PushBytesBuf::try_from(tag).expect("15 bytes"));
		let mut coinbase = Transaction {
			version: transaction::Version::TWO,
			lock_time: LockTime::ZERO,
			input: vec![TxIn {
				previous_output: OutPoint::null(),
				script_sig: coinbase_script.into_script(),
				sequence: Sequence::MAX,
				witness: Witness::new(),
			}],
			output: vec![TxOut {
				value: block_subsidy(height) + Amount::from_sat(fees),
				script_pubkey: payout.clone(),
			}],
		};
		if has_witness {
			// The BIP-141 reserved value is all zeros; the commitment goes in an OP_RETURN.
			coinbase.input[0].witness = Witness::from_slice(&[[0u8; 32]]);
		}
		let mut txdata = Vec::with_capacity(transactions.len() + 1);
		txdata.push(coinbase);
		txdata.extend(transactions);

		let tip = self.tip_hash();
		let clock = self.mock_time_secs.unwrap_or_else(now_secs) + self.time_offset_secs;
		let time = clock.max(self.median_time_past(&tip) as u64 + 1) as u32;
		let mut block = Block {
			header: Header {
				version: Version::from_consensus(0x2000_0000),
				prev_blockhash: tip,
				merkle_root: TxMerkleNode::all_zeros(),
				time,
				bits: CompactTarget::from_consensus(REGTEST_BITS),
				nonce: 0,
			},
			txdata,
		};
		if has_witness {
			let witness_root = block.witness_root().expect("the block has transactions");
			let commitment = Block::compute_witness_commitment(&witness_root, &[0u8; 32]);
			let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
			script.extend_from_slice(commitment.as_byte_array());
			block.txdata[0]
				.output
				.push(TxOut { value: Amount::ZERO, script_pubkey: ScriptBuf::from_bytes(script) });
		}
		block.header.merkle_root = block.compute_merkle_root().expect("the block has transactions");
		let target = block.header.target();
		while !target.is_met_by(block.header.block_hash()) {
			block.header.nonce += 1;
		}
		let hash = block.block_hash();
		self.add_block(block).expect("a block mined on the active tip connects");
		Ok(hash)
	}

	/// Stores a block whose parent is known and activates the most-work chain.
	pub fn add_block(&mut self, block: Block) -> Result<(), String> {
		let hash = block.block_hash();
		if self.blocks.contains_key(&hash) {
			return Ok(());
		}
		let parent = self
			.blocks
			.get(&block.header.prev_blockhash)
			.ok_or_else(|| "prev-blk-not-found".to_string())?;
		if !block.header.target().is_met_by(hash) {
			return Err("high-hash".into());
		}
		let entry = BlockEntry {
			height: parent.height + 1,
			chain_work: parent.chain_work + block.header.work(),
			invalid: parent.invalid,
			undo: None,
			block,
		};
		self.blocks.insert(hash, entry);
		self.activate_best_chain();
		Ok(())
	}

	/// `invalidateblock`: marks `hash` and its descendants invalid and moves the active chain
	/// to the most-work valid block; the disconnected transactions go back to the mempool.
	pub fn invalidate_block(&mut self, hash: &BlockHash) -> Result<(), String> {
		let height = self.blocks.get(hash).ok_or("Block not found")?.height;
		if height == 0 {
			return Err("the genesis block cannot be invalidated".into());
		}
		for descendant in self.descendants_of(hash) {
			self.blocks.get_mut(&descendant).expect("listed from the map").invalid = true;
		}
		self.activate_best_chain();
		Ok(())
	}

	/// `reconsiderblock`: clears the mark of `hash`, its ancestors and descendants.
	pub fn reconsider_block(&mut self, hash: &BlockHash) -> Result<(), String> {
		if !self.blocks.contains_key(hash) {
			return Err("Block not found".into());
		}
		for descendant in self.descendants_of(hash) {
			self.blocks.get_mut(&descendant).expect("listed from the map").invalid = false;
		}
		let mut cursor = *hash;
		while let Some(entry) = self.blocks.get_mut(&cursor) {
			entry.invalid = false;
			if entry.height == 0 {
				break;
			}
			cursor = entry.block.header.prev_blockhash;
		}
		self.activate_best_chain();
		Ok(())
	}

	/// `hash` and every known block built on it.
	fn descendants_of(&self, hash: &BlockHash) -> Vec<BlockHash> {
		let mut found = vec![*hash];
		let mut entries: Vec<(&BlockHash, &BlockEntry)> = self.blocks.iter().collect();
		entries.sort_by_key(|(_, entry)| entry.height);
		for (candidate, entry) in entries {
			if found.contains(&entry.block.header.prev_blockhash) && !found.contains(candidate) {
				found.push(*candidate);
			}
		}
		found
	}

	/// Switches to the valid block with the most work (the current tip wins ties: first seen).
	fn activate_best_chain(&mut self) {
		loop {
			let tip = self.tip_hash();
			let tip_valid = !self.blocks[&tip].invalid;
			let best = self
				.blocks
				.iter()
				.filter(|(_, entry)| !entry.invalid)
				.max_by(|(a_hash, a), (b_hash, b)| {
					a.chain_work
						.cmp(&b.chain_work)
						.then_with(|| (**a_hash == tip).cmp(&(**b_hash == tip)))
				})
				.map(|(hash, _)| *hash)
				.expect("the genesis block is never invalid");
			if best == tip && tip_valid {
				return;
			}
			if tip_valid && self.blocks[&best].chain_work <= self.blocks[&tip].chain_work {
				return;
			}
			// The branch from the fork point up to `best`.
			let mut branch = Vec::new();
			let mut cursor = best;
			while !self.is_active(&cursor) {
				branch.push(cursor);
				cursor = self.blocks[&cursor].block.header.prev_blockhash;
			}
			let fork = cursor;
			let mut disconnected = Vec::new();
			while self.tip_hash() != fork {
				disconnected.push(self.disconnect_tip());
			}
			let mut failed = None;
			for hash in branch.into_iter().rev() {
				if self.connect(&hash).is_err() {
					failed = Some(hash);
					break;
				}
			}
			self.refill_mempool(disconnected.into_iter().rev().flatten().collect());
			match failed {
				// A block that does not connect is invalid, as are its descendants; look again.
				Some(hash) => {
					for descendant in self.descendants_of(&hash) {
						self.blocks.get_mut(&descendant).expect("listed").invalid = true;
					}
				},
				None => return,
			}
		}
	}

	/// Applies a block whose parent is the active tip to the UTXO set.
	fn connect(&mut self, hash: &BlockHash) -> Result<(), ()> {
		let entry = &self.blocks[hash];
		debug_assert_eq!(entry.block.header.prev_blockhash, self.tip_hash());
		let height = entry.height;
		let block = entry.block.clone();
		let mut undo = Vec::new();
		let mut created = Vec::new();
		for tx in &block.txdata {
			let txid = tx.compute_txid();
			if !tx.is_coinbase() {
				for input in &tx.input {
					match self.utxos.remove(&input.previous_output) {
						Some(coin) => undo.push((input.previous_output, coin)),
						None => {
							// Put back what this block already changed, then refuse it.
							for (vout_point, _) in created.drain(..) {
								self.utxos.remove(&vout_point);
							}
							for (outpoint, coin) in undo.drain(..) {
								self.utxos.insert(outpoint, coin);
							}
							return Err(());
						},
					}
				}
			}
			for (vout, output) in tx.output.iter().enumerate() {
				if output.script_pubkey.is_op_return() {
					continue;
				}
				let outpoint = OutPoint { txid, vout: vout as u32 };
				let coin = Coin { output: output.clone(), height, is_coinbase: tx.is_coinbase() };
				self.utxos.insert(outpoint, coin.clone());
				created.push((outpoint, coin));
			}
		}
		for tx in &block.txdata {
			self.tx_index.insert(tx.compute_txid(), *hash);
		}
		self.blocks.get_mut(hash).expect("present").undo = Some(undo);
		self.active.push(*hash);
		// Mempool transactions now confirmed or in conflict with the block leave.
		let pending = std::mem::take(&mut self.mempool);
		self.mempool_spends.clear();
		let confirmed: HashSet<Txid> = block.txdata.iter().map(|tx| tx.compute_txid()).collect();
		self.refill_mempool(
			pending
				.into_iter()
				.map(|e| e.tx)
				.filter(|tx| !confirmed.contains(&tx.compute_txid()))
				.collect(),
		);
		Ok(())
	}

	/// Takes the tip off the active chain; returns its non-coinbase transactions.
	fn disconnect_tip(&mut self) -> Vec<Transaction> {
		let hash = self.active.pop().expect("never called on genesis");
		let entry = self.blocks.get_mut(&hash).expect("active blocks are stored");
		let undo = entry.undo.take().unwrap_or_default();
		let block = entry.block.clone();
		for tx in &block.txdata {
			let txid = tx.compute_txid();
			for vout in 0..tx.output.len() as u32 {
				self.utxos.remove(&OutPoint { txid, vout });
			}
			self.tx_index.remove(&txid);
		}
		for (outpoint, coin) in undo {
			self.utxos.insert(outpoint, coin);
		}
		block.txdata.into_iter().filter(|tx| !tx.is_coinbase()).collect()
	}

	/// Puts transactions back in front of the mempool (disconnected blocks' transactions come
	/// first, as in Bitcoin Core); those no longer valid are dropped.
	fn refill_mempool(&mut self, mut transactions: Vec<Transaction>) {
		let pending = std::mem::take(&mut self.mempool);
		self.mempool_spends.clear();
		transactions.extend(pending.into_iter().map(|e| e.tx));
		for tx in transactions {
			let _ = self.accept_to_mempool(tx, 0);
		}
	}
}

/// Runs every input of `tx` through Bitcoin Core's interpreter with the consensus flags of
/// a current block (P2SH, strict DER, CLTV, CSV, witness, Taproot) and every spent output.
pub fn verify_scripts(tx: &Transaction, spent: &[TxOut]) -> Result<(), TxRejection> {
	let bytes = consensus::serialize(tx);
	let utxos: Vec<bitcoinconsensus::Utxo> = spent
		.iter()
		.map(|output| bitcoinconsensus::Utxo {
			script_pubkey: output.script_pubkey.as_bytes().as_ptr(),
			script_pubkey_len: output.script_pubkey.len() as u32,
			value: output.value.to_sat() as i64,
		})
		.collect();
	for (input, output) in spent.iter().enumerate() {
		bitcoinconsensus::verify_with_flags(
			output.script_pubkey.as_bytes(),
			output.value.to_sat(),
			&bytes,
			Some(&utxos),
			input,
			bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT,
		)
		.map_err(|error| TxRejection::Script { input, error: format!("{error:?}") })?;
	}
	Ok(())
}

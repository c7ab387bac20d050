//! One relaying round: headers in, deposit proofs in, signed withdrawals out and their proofs
//! back in, and the proof of any transaction that spends the bridge's coins without approval
//! (a theft). Every decision is taken from what the chain says now (the light client's tip,
//! the bridge's records, its required confirmations), so a restarted relayer, or several at
//! once, only ever repeat work the chain refuses or ignores.

use crate::{
	bitcoind::{error_code, BitcoindClient, BitcoindError},
	metrics::Metrics,
	tapchain::{chain_block_hash, merkle_proof, ChainError, MerkleProof, TapchainClient},
};
use bitcoin::{hashes::Hash, Block};
use std::{
	collections::{BTreeMap, BTreeSet},
	time::{Duration, Instant},
};
use tapchain_primitives::bitcoin::{
	merkle::merkle_branch, BlockHeader, Network, Txid, MAX_MERKLE_DEPTH,
};

/// Block hashes and txids as bitcoind and the `bitcoin` crate give them (the runtime's own
/// types, `BlockHash` and `Txid`, are what calls carry).
type BitcoinBlockHash = bitcoin::BlockHash;
type BitcoinTxid = bitcoin::Txid;

const LOG_TARGET: &str = "relayer";

/// Why a round stopped.
#[derive(Debug)]
pub enum RelayError {
	Bitcoind(BitcoindError),
	Chain(ChainError),
	/// Something the relayer cannot fix by retrying (named).
	Fatal(String),
}

impl std::fmt::Display for RelayError {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			RelayError::Bitcoind(error) => write!(f, "bitcoind: {error}"),
			RelayError::Chain(error) => write!(f, "{error}"),
			RelayError::Fatal(message) => write!(f, "{message}"),
		}
	}
}

impl From<BitcoindError> for RelayError {
	fn from(error: BitcoindError) -> Self {
		RelayError::Bitcoind(error)
	}
}

impl From<ChainError> for RelayError {
	fn from(error: ChainError) -> Self {
		match error {
			// Retrying will not make the chain's runtime fit this relayer.
			ChainError::IncompatibleRuntime(message) => RelayError::Fatal(message),
			error => RelayError::Chain(error),
		}
	}
}

/// How the relayer paces itself.
#[derive(Debug, Clone)]
pub struct RelayConfig {
	/// Headers per `submit_headers` (the runtime takes up to 2016).
	pub batch_size: u32,
	/// Blocks below bitcoind's tip searched for deposits and withdrawals at start.
	pub scan_depth: u32,
	/// Blocks read per round (keeps rounds short while catching up).
	pub max_blocks_per_round: u32,
	/// A submission that has not taken effect after this long is sent again.
	pub resubmit_after: Duration,
	/// A signed withdrawal not yet confirmed is sent to bitcoind again after this long.
	pub rebroadcast_after: Duration,
}

impl Default for RelayConfig {
	fn default() -> Self {
		RelayConfig {
			batch_size: 1000,
			scan_depth: 1008,
			max_blocks_per_round: 500,
			resubmit_after: Duration::from_secs(120),
			rebroadcast_after: Duration::from_secs(60),
		}
	}
}

/// A transaction found in a block, with what proves it there.
#[derive(Debug, Clone)]
struct FoundTx {
	raw: Vec<u8>,
	block_hash: BitcoinBlockHash,
	tx_index: u32,
	branch: Vec<[u8; 32]>,
	/// Outputs of interest (deposit outputs), or for a suspected theft the bridge coins it
	/// spends (input indices).
	vouts: Vec<u32>,
	/// The relayer's last submission of its proof.
	submitted: Option<Submission>,
	/// Proofs submitted so far without effect.
	attempts: u32,
}

/// Submissions of one proof without effect before the relayer stops trying (the chain
/// refuses it for a reason a retry will not change; the log says which transaction).
const MAX_ATTEMPTS: u32 = 3;

/// A submitted extrinsic, until the chain shows its effect.
#[derive(Debug, Clone, Copy)]
struct Submission {
	nonce: u32,
	at: Instant,
}

impl Submission {
	/// Whether the same content may be sent again: once the earlier extrinsic was included
	/// without the effect (the account's nonce moved past it: another relayer was first, or
	/// the chain refused it), or after `resubmit_after` out of every block (dropped from the
	/// pool). A slow chain never gets the same proof twice.
	fn may_resubmit(&self, account_nonce: u32, resubmit_after: Duration) -> bool {
		account_nonce > self.nonce || self.at.elapsed() >= resubmit_after
	}
}

/// A signed withdrawal transaction being carried out.
#[derive(Debug, Clone)]
struct Withdrawal {
	proposal_id: u64,
	txid: BitcoinTxid,
	tx: bitcoin::Transaction,
	last_broadcast: Option<Instant>,
	confirmed_in: Option<FoundTx>,
	/// Whether the recent blocks were searched for it (once, when first seen).
	searched: bool,
}

/// The relayer's working state; all of it can be rebuilt from bitcoind and the chain.
pub struct Relayer {
	pub bitcoind: BitcoindClient,
	pub chain: TapchainClient,
	config: RelayConfig,
	metrics: Metrics,
	/// Last header submitted, until the light client has it.
	headers_in_flight: Option<(BitcoinBlockHash, Submission)>,
	/// The relayer account's nonce on chain at the start of the round.
	account_nonce: u32,
	/// Last block scanned: height and hash.
	scanned_to: Option<(u32, BitcoinBlockHash)>,
	deposit_scripts: Vec<Vec<u8>>,
	/// Deposits seen on bitcoind's best chain and not yet recorded by the bridge, by txid.
	pending_deposits: BTreeMap<BitcoinTxid, FoundTx>,
	/// The signed transactions in flight, newest first: the proposal in flight and those its
	/// fee bumps replace. They spend the same inputs, so at most one confirms; the newest is
	/// broadcast, and whichever is mined is proven.
	withdrawals: Vec<Withdrawal>,
	/// Outpoints the bridge holds or may come to hold: its UTXO set when the relayer started,
	/// and every output to a custody script seen since. A transaction spending one that is no
	/// approved proposal's is a theft candidate (the chain decides).
	custody_outpoints: BTreeSet<bitcoin::OutPoint>,
	custody_outpoints_loaded: bool,
	/// Suspected thefts seen in blocks, until proven or cleared.
	suspected_thefts: BTreeMap<BitcoinTxid, FoundTx>,
}

/// What a round did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoundReport {
	pub headers_submitted: u32,
	pub deposits_submitted: u32,
	pub broadcasts: u32,
	pub withdrawal_proofs_submitted: u32,
	pub theft_proofs_submitted: u32,
}

/// bitcoind's `chain` name for a network.
pub fn bitcoind_chain_name(network: Network) -> &'static str {
	match network {
		Network::Mainnet => "main",
		Network::Testnet3 => "test",
		Network::Testnet4 => "testnet4",
		Network::Regtest => "regtest",
	}
}

impl Relayer {
	pub fn new(
		bitcoind: BitcoindClient,
		chain: TapchainClient,
		config: RelayConfig,
		metrics: Metrics,
	) -> Relayer {
		Relayer {
			bitcoind,
			chain,
			config,
			metrics,
			headers_in_flight: None,
			account_nonce: 0,
			scanned_to: None,
			deposit_scripts: Vec::new(),
			pending_deposits: BTreeMap::new(),
			withdrawals: Vec::new(),
			custody_outpoints: BTreeSet::new(),
			custody_outpoints_loaded: false,
			suspected_thefts: BTreeMap::new(),
		}
	}

	/// Refuses to relay between different networks (a configuration error).
	pub fn check_networks(&self) -> Result<(), RelayError> {
		// bitcoind first: refused credentials are a configuration error worth stopping for.
		let bitcoind_chain = self.bitcoind.network()?.to_core_arg();
		let network = self.chain.bitcoin_network()?;
		let expected = bitcoind_chain_name(network);
		if bitcoind_chain != expected {
			return Err(RelayError::Fatal(format!(
				"bitcoind at {} follows '{bitcoind_chain}' but the chain's light client follows '{expected}'",
				self.bitcoind.endpoint()
			)));
		}
		Ok(())
	}

	/// One round: headers, then blocks, then deposits and the withdrawal.
	pub fn round(&mut self) -> Result<RoundReport, RelayError> {
		let mut report = RoundReport::default();
		self.account_nonce = self.chain.account_nonce()?;
		report.headers_submitted = self.sync_headers()?;
		self.load_custody_outpoints()?;
		self.scan_blocks()?;
		report.deposits_submitted = self.process_deposits()?;
		let (broadcasts, proofs) = self.process_withdrawal()?;
		report.broadcasts = broadcasts;
		report.withdrawal_proofs_submitted = proofs;
		report.theft_proofs_submitted = self.process_thefts()?;
		Ok(report)
	}

	/// Once per process: the bridge's UTXO set, before blocks are scanned (later coins are
	/// seen as outputs to a custody script in the blocks scanned).
	fn load_custody_outpoints(&mut self) -> Result<(), RelayError> {
		if self.custody_outpoints_loaded {
			return Ok(());
		}
		for outpoint in self.chain.bridge_utxos()? {
			self.custody_outpoints.insert(bitcoin::OutPoint {
				txid: BitcoinTxid::from_byte_array(outpoint.txid.0),
				vout: outpoint.vout,
			});
		}
		log::info!(target: LOG_TARGET, "watching {} custody outputs for unapproved spends", self.custody_outpoints.len());
		self.custody_outpoints_loaded = true;
		Ok(())
	}

	/// Submits the headers the light client misses, from the last block it shares with
	/// bitcoind's best chain (so a reorg on bitcoind's side is relayed as the heavier branch).
	fn sync_headers(&mut self) -> Result<u32, RelayError> {
		let tip = self.chain.light_client_tip()?.ok_or_else(|| {
			RelayError::Fatal("the chain's light client has no checkpoint (not initialized)".into())
		})?;
		let bitcoind_height = self.bitcoind.block_count()?;
		self.metrics.header_lag.set(bitcoind_height.saturating_sub(tip.height) as i64);

		if let Some((hash, submission)) = &self.headers_in_flight {
			let imported = self.chain.light_client_height_of(hash)?;
			if imported.is_none()
				&& !submission.may_resubmit(self.account_nonce, self.config.resubmit_after)
			{
				return Ok(0);
			}
			self.headers_in_flight = None;
		}

		// The highest light-client block on bitcoind's best chain.
		let on_best = match self.bitcoind.block_confirmations(&tip.hash) {
			Ok(confirmations) => confirmations >= 1,
			Err(BitcoindError::Rpc { code: error_code::INVALID_ADDRESS_OR_KEY, .. }) => false,
			Err(error) => return Err(error.into()),
		};
		let mut ancestor = tip.height.min(bitcoind_height);
		if !on_best {
			loop {
				let Some(header) = self.chain.light_client_header(ancestor)? else {
					return Err(RelayError::Fatal(format!(
						"no block shared with bitcoind's chain down to height {ancestor}: wrong network or a fork deeper than the light client keeps"
					)));
				};
				if header.block_hash() == chain_block_hash(&self.bitcoind.block_hash(ancestor)?) {
					break;
				}
				ancestor = ancestor.checked_sub(1).ok_or_else(|| {
					RelayError::Fatal("bitcoind and the light client share no block".into())
				})?;
			}
			log::info!(target: LOG_TARGET, "bitcoind reorganised: light client tip {} at {} left bitcoind's best chain; relaying the branch from {ancestor}", tip.hash, tip.height);
		}
		if ancestor >= bitcoind_height {
			return Ok(0);
		}

		let last = bitcoind_height.min(ancestor + self.config.batch_size);
		let mut headers = Vec::with_capacity((last - ancestor) as usize);
		let mut last_hash = None;
		for height in ancestor + 1..=last {
			let hash = self.bitcoind.block_hash(height)?;
			let raw = bitcoin::consensus::serialize(&self.bitcoind.header(&hash)?);
			last_hash = Some(hash);
			headers.push(BlockHeader::from_bytes(&raw).map_err(|e| {
				RelayError::Fatal(format!("bitcoind served a malformed header at {height}: {e:?}"))
			})?);
		}
		let count = headers.len() as u32;
		let limit = self.chain.max_headers_per_submission()?;
		if count > limit {
			return Err(RelayError::Fatal(format!(
				"--batch-size {} is above the runtime's limit of {limit} headers per submission",
				self.config.batch_size
			)));
		}
		let nonce = self.chain.submit_headers(headers)?;
		self.metrics.headers_submitted.inc_by(count as u64);
		log::info!(target: LOG_TARGET, "submitted {count} headers {}..={last} (bitcoind at {bitcoind_height}, light client at {})", ancestor + 1, tip.height);
		if let Some(last_hash) = last_hash {
			self.headers_in_flight = Some((last_hash, Submission { nonce, at: Instant::now() }));
		}
		Ok(count)
	}

	/// Reads the blocks bitcoind added since the last round (after a reorg: again from below
	/// the fork), noting deposits to any live custody key and the withdrawal transaction.
	fn scan_blocks(&mut self) -> Result<(), RelayError> {
		let scripts = self.chain.deposit_scripts()?;
		if scripts != self.deposit_scripts {
			if !scripts.is_empty() {
				log::info!(target: LOG_TARGET, "deposit scripts now {:?}", scripts.iter().map(hex::encode).collect::<Vec<_>>());
			}
			self.deposit_scripts = scripts;
			// A custody key came or went: look through the recent blocks again.
			self.scanned_to = None;
		}
		let bitcoind_height = self.bitcoind.block_count()?;
		let mut next = match &self.scanned_to {
			Some((height, hash)) => {
				let still_best =
					*height <= bitcoind_height && self.bitcoind.block_hash(*height)? == *hash;
				if still_best {
					height + 1
				} else {
					log::info!(target: LOG_TARGET, "block {hash} at {height} left bitcoind's best chain; scanning again from below it");
					height.saturating_sub(self.config.scan_depth.min(100))
				}
			},
			None => bitcoind_height.saturating_sub(self.config.scan_depth),
		};
		let stop = bitcoind_height.min(next + self.config.max_blocks_per_round);
		while next <= stop {
			let hash = self.bitcoind.block_hash(next)?;
			let block = self.bitcoind.block(&hash)?;
			self.note_block(&block, &hash);
			self.scanned_to = Some((next, hash));
			next += 1;
		}
		Ok(())
	}

	fn note_block(&mut self, block: &Block, hash: &BitcoinBlockHash) {
		let txids: Vec<Txid> =
			block.txdata.iter().map(|tx| Txid(tx.compute_txid().to_byte_array())).collect();
		for (index, tx) in block.txdata.iter().enumerate() {
			let txid = tx.compute_txid();
			let spent_custody = spent_custody_inputs(tx, &self.custody_outpoints);
			let vouts: Vec<u32> = tx
				.output
				.iter()
				.enumerate()
				.filter(|(_, output)| {
					self.deposit_scripts
						.iter()
						.any(|script| script.as_slice() == output.script_pubkey.as_bytes())
				})
				.map(|(vout, _)| vout as u32)
				.collect();
			for vout in &vouts {
				self.custody_outpoints.insert(bitcoin::OutPoint { txid, vout: *vout });
			}
			let is_withdrawal = self.withdrawals.iter().any(|w| w.txid == txid);
			if !spent_custody.is_empty() && !is_withdrawal {
				// Checked against the chain before anything is submitted: a bridge
				// transaction the relayer does not carry (another relayer's) is not a theft.
				log::warn!(target: LOG_TARGET, "transaction {txid} in block {hash} spends custody outputs; checking whether the bridge approved it");
				self.suspected_thefts.insert(
					txid,
					FoundTx {
						raw: bitcoin::consensus::serialize(tx),
						block_hash: *hash,
						tx_index: index as u32,
						branch: merkle_branch(&txids, index).expect("index is in the block"),
						vouts: spent_custody.clone(),
						submitted: None,
						attempts: 0,
					},
				);
			}
			if vouts.is_empty() && !is_withdrawal {
				continue;
			}
			let found = FoundTx {
				raw: bitcoin::consensus::serialize(tx),
				block_hash: *hash,
				tx_index: index as u32,
				branch: merkle_branch(&txids, index).expect("index is in the block"),
				vouts,
				submitted: None,
				attempts: 0,
			};
			if is_withdrawal {
				log::info!(target: LOG_TARGET, "withdrawal transaction {txid} is in block {hash}");
				if let Some(withdrawal) = self.withdrawals.iter_mut().find(|w| w.txid == txid) {
					withdrawal.confirmed_in = Some(found);
				}
			} else if !self.pending_deposits.contains_key(&txid)
				|| self.pending_deposits[&txid].block_hash != *hash
			{
				log::info!(target: LOG_TARGET, "deposit {txid} found in block {hash}");
				self.pending_deposits.insert(txid, found);
			}
		}
	}

	/// Submits the proof of every deposit the light client sees with the confirmations the
	/// bridge requires, unless the bridge has recorded it already.
	fn process_deposits(&mut self) -> Result<u32, RelayError> {
		let required = self.chain.required_confirmations()?;
		let mut submitted = 0;
		let txids: Vec<BitcoinTxid> = self.pending_deposits.keys().cloned().collect();
		for txid in txids {
			let found = self.pending_deposits[&txid].clone();
			if self.bitcoind.block_confirmations(&found.block_hash)? < 1 {
				// Reorganised away; found again if mined on the new branch.
				log::info!(target: LOG_TARGET, "deposit {txid} left bitcoind's best chain with block {}", found.block_hash);
				self.pending_deposits.remove(&txid);
				continue;
			}
			let chain_txid = Txid(txid.to_byte_array());
			if self.chain.is_bridge_transaction(chain_txid)? {
				log::debug!(target: LOG_TARGET, "{txid} is a bridge transaction, not a deposit");
				self.pending_deposits.remove(&txid);
				continue;
			}
			let mut recorded = true;
			for vout in &found.vouts {
				recorded &= self.chain.deposit_recorded(chain_txid, *vout)?;
			}
			if recorded {
				log::info!(target: LOG_TARGET, "deposit {txid} is recorded by the bridge");
				if found.submitted.is_some() {
					self.metrics.deposits_credited.inc();
				}
				self.pending_deposits.remove(&txid);
				continue;
			}
			let confirmations = self.light_client_confirmations(&found)?;
			if confirmations.is_none_or(|c| c < required) {
				continue;
			}
			if found
				.submitted
				.is_some_and(|s| !s.may_resubmit(self.account_nonce, self.config.resubmit_after))
			{
				continue;
			}
			if found.attempts >= MAX_ATTEMPTS {
				log::error!(target: LOG_TARGET, "deposit {txid} in block {} is still not recorded after {MAX_ATTEMPTS} proofs; giving up on it (see the chain's events for the reason)", found.block_hash);
				self.metrics.errors.with_label_values(&["deposit"]).inc();
				self.pending_deposits.remove(&txid);
				continue;
			}
			let proof = self.proof(&found)?;
			let submitted = match self.chain.submit_deposit(
				found.raw.clone(),
				proof,
				&found.block_hash,
			) {
				Ok(nonce) => {
					log::info!(target: LOG_TARGET, "submitted deposit {txid} ({} confirmations)", confirmations.unwrap_or_default());
					self.metrics.deposits_submitted.inc();
					submitted += 1;
					Submission { nonce, at: Instant::now() }
				},
				Err(error) => {
					log::warn!(target: LOG_TARGET, "deposit {txid} not submitted: {error}");
					// Tried again after `resubmit_after`.
					Submission { nonce: u32::MAX, at: Instant::now() }
				},
			};
			let pending = self.pending_deposits.get_mut(&txid).expect("listed");
			pending.submitted = Some(submitted);
			pending.attempts += 1;
		}
		self.metrics.pending_deposits.set(self.pending_deposits.len() as i64);
		Ok(submitted)
	}

	/// Proves every suspected theft the light client sees with the bridge's confirmations,
	/// unless it is the bridge's own transaction, already proven, or spends nothing the bridge
	/// still holds.
	fn process_thefts(&mut self) -> Result<u32, RelayError> {
		let required = self.chain.required_confirmations()?;
		let mut submitted = 0;
		let txids: Vec<BitcoinTxid> = self.suspected_thefts.keys().cloned().collect();
		for txid in txids {
			let found = self.suspected_thefts[&txid].clone();
			if self.bitcoind.block_confirmations(&found.block_hash)? < 1 {
				log::info!(target: LOG_TARGET, "suspected theft {txid} left bitcoind's best chain with block {}", found.block_hash);
				self.suspected_thefts.remove(&txid);
				continue;
			}
			let chain_txid = Txid(txid.to_byte_array());
			if self.chain.is_bridge_transaction(chain_txid)? {
				log::info!(target: LOG_TARGET, "{txid} is a bridge transaction: approved, not a theft");
				self.suspected_thefts.remove(&txid);
				continue;
			}
			if self.chain.theft_proven(chain_txid)? {
				if found.submitted.is_some() {
					log::error!(target: LOG_TARGET, "THEFT proven: transaction {txid} spent bridge coins without approval; the key's members are slashed");
				}
				self.suspected_thefts.remove(&txid);
				continue;
			}
			let tx: bitcoin::Transaction =
				bitcoin::consensus::deserialize(&found.raw).map_err(|e| {
					RelayError::Fatal(format!("a block transaction re-encoded badly: {e}"))
				})?;
			let mut holds_any = false;
			for input in &found.vouts {
				let outpoint = tx.input[*input as usize].previous_output;
				holds_any |= self.chain.is_bridge_utxo(tapchain_primitives::bitcoin::OutPoint {
					txid: Txid(outpoint.txid.to_byte_array()),
					vout: outpoint.vout,
				})?;
			}
			if !holds_any {
				log::info!(target: LOG_TARGET, "{txid} spends no coin the bridge holds now");
				self.suspected_thefts.remove(&txid);
				continue;
			}
			let confirmations = self.light_client_confirmations(&found)?;
			if confirmations.is_none_or(|c| c < required)
				|| found.submitted.is_some_and(|s| {
					!s.may_resubmit(self.account_nonce, self.config.resubmit_after)
				}) {
				continue;
			}
			if found.attempts >= MAX_ATTEMPTS {
				log::error!(target: LOG_TARGET, "transaction {txid} spends bridge coins and its theft proof was not accepted after {MAX_ATTEMPTS} tries; giving up on it (see the chain's events for the reason)");
				self.metrics.errors.with_label_values(&["theft"]).inc();
				self.suspected_thefts.remove(&txid);
				continue;
			}
			let proof = self.proof(&found)?;
			let submission = match self.chain.report_theft(
				found.raw.clone(),
				proof,
				&found.block_hash,
			) {
				Ok(nonce) => {
					log::error!(target: LOG_TARGET, "THEFT: transaction {txid} spends bridge coins without approval; proof submitted");
					self.metrics.theft_proofs_submitted.inc();
					submitted += 1;
					Submission { nonce, at: Instant::now() }
				},
				Err(error) => {
					log::warn!(target: LOG_TARGET, "theft proof of {txid} not submitted: {error}");
					Submission { nonce: u32::MAX, at: Instant::now() }
				},
			};
			let pending = self.suspected_thefts.get_mut(&txid).expect("listed");
			pending.submitted = Some(submission);
			pending.attempts += 1;
		}
		self.metrics.suspected_thefts.set(self.suspected_thefts.len() as i64);
		Ok(submitted)
	}

	/// Confirmations the light client counts for `found`; `None` while its block is not on
	/// the light client's best chain.
	fn light_client_confirmations(&self, found: &FoundTx) -> Result<Option<u32>, RelayError> {
		Ok(self.chain.confirmations(&found.raw, self.proof(found)?, &found.block_hash)?)
	}

	fn proof(&self, found: &FoundTx) -> Result<MerkleProof, RelayError> {
		if found.branch.len() > MAX_MERKLE_DEPTH {
			return Err(RelayError::Fatal("a Merkle branch deeper than any block".into()));
		}
		Ok(merkle_proof(found.tx_index, found.branch.clone()))
	}

	/// Broadcasts the newest signed withdrawal transaction until one of its family confirms,
	/// then proves that one to the bridge.
	fn process_withdrawal(&mut self) -> Result<(u32, u32), RelayError> {
		let signed = self.chain.signed_in_flight()?;
		let mut known = std::mem::take(&mut self.withdrawals);
		for gone in known.iter().filter(|w| !signed.iter().any(|(id, _)| *id == w.proposal_id)) {
			let stage = self.chain.proposal_stage(gone.proposal_id)?;
			log::info!(target: LOG_TARGET, "withdrawal proposal {} is {}", gone.proposal_id, stage.map_or("gone".to_string(), |stage| stage.to_string()));
		}
		let mut family = Vec::with_capacity(signed.len());
		for (proposal_id, tx) in signed {
			match known.iter().position(|w| w.proposal_id == proposal_id) {
				Some(index) => family.push(known.swap_remove(index)),
				None => {
					let txid = tx.compute_txid();
					log::info!(target: LOG_TARGET, "proposal {proposal_id} is signed: transaction {txid}");
					family.push(Withdrawal {
						proposal_id,
						txid,
						tx,
						last_broadcast: None,
						confirmed_in: None,
						searched: false,
					});
				},
			}
		}
		self.metrics.pending_broadcasts.set(!family.is_empty() as i64);
		if family.is_empty() {
			return Ok((0, 0));
		}
		let result = self.carry_withdrawals(&mut family);
		self.withdrawals = family;
		result
	}

	fn carry_withdrawals(&mut self, family: &mut [Withdrawal]) -> Result<(u32, u32), RelayError> {
		for withdrawal in family.iter_mut() {
			if !withdrawal.searched {
				// Already mined before this relayer saw it (another relayer, or a restart)?
				withdrawal.searched = true;
				self.search_recent_blocks(withdrawal)?;
			}
			if let Some(found) = &withdrawal.confirmed_in {
				if self.bitcoind.block_confirmations(&found.block_hash)? < 1 {
					log::info!(target: LOG_TARGET, "withdrawal {} left bitcoind's best chain", withdrawal.txid);
					withdrawal.confirmed_in = None;
				}
			}
		}
		match family.iter().position(|w| w.confirmed_in.is_some()) {
			Some(mined) => self.carry_withdrawal(&mut family[mined]),
			// None mined: the newest is the one to broadcast (a replacement evicts the rest).
			None => self.carry_withdrawal(&mut family[0]),
		}
	}

	/// Broadcasts `withdrawal` while it is not mined, proves it once it is confirmed.
	fn carry_withdrawal(&mut self, withdrawal: &mut Withdrawal) -> Result<(u32, u32), RelayError> {
		let mut broadcasts = 0;
		if withdrawal.confirmed_in.is_none() {
			let due = withdrawal
				.last_broadcast
				.is_none_or(|at| at.elapsed() >= self.config.rebroadcast_after);
			if due {
				withdrawal.last_broadcast = Some(Instant::now());
				match self.bitcoind.send_raw_transaction(&withdrawal.tx) {
					Ok(_) => {
						log::info!(target: LOG_TARGET, "broadcast withdrawal {} (proposal {})", withdrawal.txid, withdrawal.proposal_id);
						self.metrics.broadcasts.inc();
						broadcasts += 1;
					},
					Err(BitcoindError::Rpc {
						code: error_code::VERIFY_ALREADY_IN_CHAIN, ..
					}) => {
						self.search_recent_blocks(withdrawal)?;
					},
					Err(BitcoindError::Rpc { code, message }) => {
						self.metrics.errors.with_label_values(&["broadcast"]).inc();
						log::error!(target: LOG_TARGET, "bitcoind refused withdrawal {}: {code} {message}", withdrawal.txid);
					},
					Err(error) => return Err(error.into()),
				}
			}
			return Ok((broadcasts, 0));
		}
		let found = withdrawal.confirmed_in.clone().expect("checked above");
		let required = self.chain.required_confirmations()?;
		let confirmations = self.light_client_confirmations(&found)?;
		if confirmations.is_none_or(|c| c < required)
			|| found
				.submitted
				.is_some_and(|s| !s.may_resubmit(self.account_nonce, self.config.resubmit_after))
		{
			return Ok((broadcasts, 0));
		}
		let proof = self.proof(&found)?;
		match self.chain.submit_withdrawal_proof(
			withdrawal.proposal_id,
			found.raw.clone(),
			proof,
			&found.block_hash,
		) {
			Ok(nonce) => {
				log::info!(target: LOG_TARGET, "submitted the proof of withdrawal {} (proposal {})", withdrawal.txid, withdrawal.proposal_id);
				self.metrics.withdrawal_proofs_submitted.inc();
				if let Some(found) = withdrawal.confirmed_in.as_mut() {
					found.submitted = Some(Submission { nonce, at: Instant::now() });
				}
				Ok((broadcasts, 1))
			},
			Err(error) => {
				log::warn!(target: LOG_TARGET, "withdrawal proof not submitted: {error}");
				if let Some(found) = withdrawal.confirmed_in.as_mut() {
					found.submitted = Some(Submission { nonce: u32::MAX, at: Instant::now() });
				}
				Ok((broadcasts, 0))
			},
		}
	}

	/// Looks for the withdrawal transaction in bitcoind's recent blocks: by `getrawtransaction`
	/// first (works for mempool transactions and with `-txindex`), else block by block.
	fn search_recent_blocks(&mut self, withdrawal: &mut Withdrawal) -> Result<(), RelayError> {
		let block_hash = match self.bitcoind.transaction_block(&withdrawal.txid) {
			Ok(Some(hash)) => Some(hash),
			// In the mempool: not mined yet.
			Ok(None) => return Ok(()),
			Err(BitcoindError::Rpc { code: error_code::INVALID_ADDRESS_OR_KEY, .. }) => {
				let tip = self.bitcoind.block_count()?;
				let mut found = None;
				for height in (tip.saturating_sub(self.config.scan_depth)..=tip).rev() {
					let hash = self.bitcoind.block_hash(height)?;
					if self.bitcoind.block_txids(&hash)?.contains(&withdrawal.txid) {
						found = Some(hash);
						break;
					}
				}
				found
			},
			Err(error) => return Err(error.into()),
		};
		if let Some(hash) = block_hash {
			let block = self.bitcoind.block(&hash)?;
			// `note_block` looks among the withdrawals being carried; this one is taken out.
			let others = std::mem::replace(&mut self.withdrawals, vec![withdrawal.clone()]);
			self.note_block(&block, &hash);
			if let Some(noted) = std::mem::replace(&mut self.withdrawals, others).pop() {
				withdrawal.confirmed_in = noted.confirmed_in;
			}
		}
		Ok(())
	}
}

/// The inputs of `tx` spending one of `custody` by the key path (a script-path spend is the
/// recovery committee's, not a theft), as indices.
fn spent_custody_inputs(
	tx: &bitcoin::Transaction,
	custody: &BTreeSet<bitcoin::OutPoint>,
) -> Vec<u32> {
	if tx.is_coinbase() {
		return Vec::new();
	}
	tx.input
		.iter()
		.enumerate()
		.filter(|(_, input)| custody.contains(&input.previous_output))
		.filter(|(_, input)| {
			let witness: Vec<&[u8]> = input.witness.iter().collect();
			let signature = |item: &[u8]| matches!(item.len(), 64 | 65);
			match witness[..] {
				[sig] => signature(sig),
				[sig, annex] => signature(sig) && annex.first() == Some(&0x50),
				_ => false,
			}
		})
		.map(|(index, _)| index as u32)
		.collect()
}

#[cfg(test)]
mod tests {
	use super::*;
	use bitcoin::{OutPoint, Sequence, TxIn, Witness};

	fn spend(outpoints: &[(OutPoint, Vec<Vec<u8>>)]) -> bitcoin::Transaction {
		bitcoin::Transaction {
			version: bitcoin::transaction::Version::TWO,
			lock_time: bitcoin::absolute::LockTime::ZERO,
			input: outpoints
				.iter()
				.map(|(outpoint, witness)| TxIn {
					previous_output: *outpoint,
					sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
					witness: Witness::from_slice(witness),
					..Default::default()
				})
				.collect(),
			output: vec![],
		}
	}

	#[test]
	fn a_key_path_spend_of_a_custody_output_is_suspected_and_nothing_else() {
		let custody_coin = OutPoint { txid: bitcoin::Txid::from_byte_array([1; 32]), vout: 0 };
		let other_coin = OutPoint { txid: bitcoin::Txid::from_byte_array([2; 32]), vout: 0 };
		let custody: BTreeSet<OutPoint> = [custody_coin].into();
		let key_path = vec![vec![7u8; 64]];
		let tx = spend(&[(other_coin, key_path.clone()), (custody_coin, key_path.clone())]);
		assert_eq!(spent_custody_inputs(&tx, &custody), vec![1]);
		// With an annex, and a 65-byte signature (a sighash type byte).
		let tx = spend(&[(custody_coin, vec![vec![7; 65], vec![0x50, 1]])]);
		assert_eq!(spent_custody_inputs(&tx, &custody), vec![0]);
		// The recovery leaf's script path, and spends of other coins, are not suspected.
		let script_path = vec![vec![7; 64], vec![0x20; 34], vec![0xc0; 33]];
		assert!(spent_custody_inputs(&spend(&[(custody_coin, script_path)]), &custody).is_empty());
		assert!(spent_custody_inputs(&spend(&[(other_coin, key_path)]), &custody).is_empty());
	}
}

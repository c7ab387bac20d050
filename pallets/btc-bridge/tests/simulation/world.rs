//! One simulated world: the chain (real pallets), Bitcoin (btc-sim's regtest chain: real PoW,
//! Bitcoin Core's script interpreter on every transaction), the validators' nodes (real
//! `tapchain-signer` signers, some of them faulty), a relayer and users. Everything random is
//! drawn from one seed, so a seed replays exactly.

use crate::{
	faults::{Fault, FaultKind},
	runtime::*,
};
use bitcoin::{hashes::Hash as _, Amount, ScriptBuf, TxOut};
use codec::Encode;
use frame_support::traits::{fungible::Inspect, Hooks, UnfilteredDispatchable};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sp_runtime::{
	testing::{TestSignature, UintAuthorityId},
	traits::ValidateUnsigned,
	transaction_validity::TransactionSource,
};
use std::collections::{BTreeMap, BTreeSet};
use tapchain_primitives::{
	bitcoin::{merkle::merkle_branch, BlockHeader, Txid},
	bridge::{BridgeMessage, DepositRecipient, FeeRateReport, ProposalVote},
	custody::{CustodyMessage, CustodyTask},
	sats_to_base_units,
};
use tapchain_signer::{proposal_check::check_proposal, SignedMessage, Signer};

/// Blocks after which a burned withdrawal must be paid or refunded (with at most the tolerated
/// number of faulty validators): the queue timeout, a voting period, a proposal after a
/// dropped one, the signing bound for the largest fault budget of these sizes, and Bitcoin
/// confirmations with the relayer's pace.
pub fn liveness_bound_blocks(validators: usize) -> u64 {
	let f = (validators - (2 * validators / 3 + 1)) as u64;
	WithdrawalTimeoutBlocks::get()
		+ 2 * VotingBlocks::get()
		+ (f + 1) * 2 * SigningAttemptBlocks::get()
		+ 40
}

/// What the simulation asks of one run.
#[derive(Clone, Debug)]
pub struct Scenario {
	pub validators: u64,
	pub blocks: u32,
	pub faults: Vec<Fault>,
	/// Validators that join (and the block they do) or leave.
	pub joins: Vec<(u32, u64)>,
	pub leaves: Vec<(u32, u64)>,
	/// Chance per block that a user acts, in percent.
	pub activity_percent: u32,
	/// Dust deposits to old custody addresses, header spam, reorgs.
	pub adversarial_users: bool,
	/// A Bitcoin fee spike: transactions below its rate are not mined while it lasts.
	pub fee_spike: Option<FeeSpike>,
	/// From this block on, as soon as they can, a threshold of the current key's members
	/// steal: their signers sign, off the chain, a transaction paying up to two of the key's
	/// coins to themselves. Anyone then proves it; the key's members are slashed.
	pub theft_from_block: Option<u32>,
	/// Members per custody vault (governance sets it at genesis): with fewer than the
	/// validators, custody runs as several vaults, each its own key, dealt by a Bitcoin
	/// block hash.
	pub vault_size: Option<u32>,
}

/// From `from_block` to `until_block` the Bitcoin market asks `sat_per_vb` (honest validators
/// estimate it) and miners leave out whatever pays less: a transaction signed before at the
/// old rate is mined only once its fee is bumped (or the spike ends).
#[derive(Clone, Copy, Debug)]
pub struct FeeSpike {
	pub from_block: u32,
	pub until_block: u32,
	pub sat_per_vb: u64,
}

/// The Bitcoin market's fee rate outside spikes, sat/vB.
const CALM_FEE_RATE: u64 = 2;

/// A validator's node: its signer (gone while crashed), what it answered and its fault.
pub struct Node {
	pub account: u64,
	dir: tempfile::TempDir,
	signer: Option<Signer>,
	seed: u64,
	starts: u64,
	pub fault: Option<Fault>,
	answered: BTreeMap<Vec<u8>, u32>,
	voted: BTreeMap<u64, u32>,
	fee_reported_at: Option<u32>,
	/// Whether its operator gave it a Bitcoin node (`--bitcoind-rpc-url`): only then does it
	/// report fee estimates and check proposals' rates against its own; from which block.
	bitcoind_from: Option<u32>,
	/// Everything it ever sent, for replays.
	sent: Vec<RuntimeCall>,
}

impl Node {
	fn open(account: u64, seed: u64, genesis: [u8; 32], fault: Option<Fault>) -> Node {
		// Key stores on a memory file system where there is one: every write is synced.
		let dir = match std::path::Path::new("/dev/shm").is_dir() {
			true => tempfile::tempdir_in("/dev/shm"),
			false => tempfile::tempdir(),
		}
		.expect("a temporary key store");
		let mut node = Node {
			account,
			dir,
			signer: None,
			seed,
			starts: 0,
			fault,
			answered: BTreeMap::new(),
			voted: BTreeMap::new(),
			fee_reported_at: None,
			bitcoind_from: None,
			sent: Vec::new(),
		};
		node.start(genesis);
		node
	}

	/// (Re)starts the node: the signer reopens its key store; nonces are gone.
	fn start(&mut self, genesis: [u8; 32]) {
		self.starts += 1;
		let rng = ChaCha20Rng::seed_from_u64(self.seed ^ (self.account << 32) ^ self.starts);
		self.signer = Some(
			Signer::open_with_rng(self.dir.path(), genesis, Box::new(rng)).expect("key store"),
		);
		self.answered.clear();
	}

	fn is(&self, kind: FaultKind, now: u32) -> bool {
		self.fault.as_ref().is_some_and(|f| f.kind == kind && now >= f.from_block)
	}
}

/// A theft: what a threshold of a key's members signed without the chain.
struct Theft {
	tx: bitcoin::Transaction,
	epoch: u32,
	/// The members who signed it.
	thieves: Vec<u64>,
	/// The bridge's coins it spends, with their sats.
	stolen: Vec<(bitcoin::OutPoint, u64)>,
	signed_at: u32,
	proven_at: Option<u32>,
}

/// A user's withdrawal as the simulation tracks it.
struct TrackedWithdrawal {
	requested_at: u32,
	script: ScriptBuf,
}

/// Counts of what happened, for the report.
#[derive(Default, Debug, Clone)]
pub struct Stats {
	pub blocks: u64,
	pub faults_injected: BTreeMap<&'static str, u64>,
	pub messages_included: u64,
	pub messages_refused_by_pool: u64,
	pub deposits: u64,
	pub withdrawals: u64,
	pub paid: u64,
	pub refunded: u64,
	pub key_epochs: u64,
	pub reorgs: u64,
	/// Fee bumps proposed, and transactions replaced by a confirmed bump (or the reverse).
	pub fee_bumps: u64,
	pub superseded: u64,
	/// Thefts proven, the sats they took and the sats their slashing restored.
	pub thefts: u64,
	pub stolen_sats: u64,
	pub restored_sats: u64,
	/// Bridge transactions a theft made invalid (they spent a stolen coin).
	pub ended_by_theft: u64,
	/// Most vaults at once, and bridge transactions spending more than one vault's coins.
	pub most_vaults: u64,
	pub multi_vault_transactions: u64,
	/// Seeds whose custody ran as more than one vault.
	pub vault_seeds: u64,
	/// Rebalances confirmed: coins moved from a vault over its capacity to one with room.
	pub rebalances: u64,
}

impl Stats {
	pub fn fault(&mut self, name: &'static str) {
		*self.faults_injected.entry(name).or_default() += 1;
	}

	pub fn add(&mut self, other: &Stats) {
		self.blocks += other.blocks;
		for (k, v) in &other.faults_injected {
			*self.faults_injected.entry(k).or_default() += v;
		}
		self.messages_included += other.messages_included;
		self.messages_refused_by_pool += other.messages_refused_by_pool;
		self.deposits += other.deposits;
		self.withdrawals += other.withdrawals;
		self.paid += other.paid;
		self.refunded += other.refunded;
		self.key_epochs += other.key_epochs;
		self.reorgs += other.reorgs;
		self.fee_bumps += other.fee_bumps;
		self.superseded += other.superseded;
		self.thefts += other.thefts;
		self.stolen_sats += other.stolen_sats;
		self.restored_sats += other.restored_sats;
		self.ended_by_theft += other.ended_by_theft;
		self.most_vaults = self.most_vaults.max(other.most_vaults);
		self.vault_seeds += other.vault_seeds.max((other.most_vaults >= 2) as u64);
		self.rebalances += other.rebalances;
		self.multi_vault_transactions += other.multi_vault_transactions;
	}
}

pub struct World {
	seed: u64,
	rng: ChaCha20Rng,
	scenario: Scenario,
	genesis: [u8; 32],
	bitcoin: btc_sim::Chain,
	btc_time: u64,
	relayed: Vec<bitcoin::BlockHash>,
	faucet: btc_sim::wallet::Wallet,
	miner: ScriptBuf,
	pub nodes: BTreeMap<u64, Node>,
	/// Unsigned messages in the pool, by tag (one per tag, as the pool keeps them).
	pool: Vec<(Vec<u8>, RuntimeCall)>,
	users: Vec<u64>,
	/// Deposits sent to Bitcoin and not yet proven (or refused for good).
	unproven: BTreeSet<bitcoin::Txid>,
	withdrawals: BTreeMap<u64, TrackedWithdrawal>,
	/// What each user burned into the fee reserve, base units.
	reserve_funded: BTreeMap<u64, u128>,
	pub stats: Stats,
	/// Fee rate of the Bitcoin "market", sat/vB (what honest nodes estimate).
	market_fee_rate: u64,
	thefts: Vec<Theft>,
}

fn fail(seed: u64, block: u64, what: impl std::fmt::Display) -> ! {
	panic!("simulation seed {seed} failed at block {block}: {what}\n  replay: SIM_SEED={seed} cargo test --release -p pallet-btc-bridge --test simulation -- --nocapture")
}

fn header_of(block: &bitcoin::Block) -> BlockHeader {
	BlockHeader::from_bytes(&bitcoin::consensus::serialize(&block.header))
		.expect("an 80-byte header")
}

fn txid_of(txid: bitcoin::Txid) -> Txid {
	Txid(txid.to_byte_array())
}

impl World {
	pub fn new(seed: u64, scenario: Scenario) -> (World, sp_io::TestExternalities) {
		let bitcoin = btc_sim::Chain::new();
		let genesis_header = header_of(&bitcoin.tip().block);
		let validators: Vec<u64> = (1..=scenario.validators).collect();
		let ext = new_chain(&validators, &genesis_header);
		let first_user = 1_000.max(10 * validators.len() as u64);
		let world = World {
			seed,
			rng: ChaCha20Rng::seed_from_u64(seed),
			scenario,
			genesis: [0; 32],
			btc_time: genesis_header.time as u64,
			bitcoin,
			relayed: Vec::new(),
			faucet: btc_sim::wallet::Wallet::from_seed(b"simulation faucet"),
			miner: btc_sim::wallet::Wallet::from_seed(b"simulation miner").script_pubkey(),
			nodes: BTreeMap::new(),
			pool: Vec::new(),
			// Users' accounts never meet a validator's (joiners included).
			users: (first_user..first_user + 6).collect(),
			unproven: BTreeSet::new(),
			withdrawals: BTreeMap::new(),
			reserve_funded: BTreeMap::new(),
			stats: Stats::default(),
			market_fee_rate: CALM_FEE_RATE,
			thefts: Vec::new(),
		};
		(world, ext)
	}

	fn now(&self) -> u32 {
		System::block_number() as u32
	}

	fn fail(&self, what: impl std::fmt::Display) -> ! {
		fail(self.seed, System::block_number(), what)
	}

	fn chance(&mut self, percent: u32) -> bool {
		self.rng.next_u32() % 100 < percent
	}

	fn below(&mut self, n: u64) -> u64 {
		self.rng.next_u64() % n.max(1)
	}

	/// Runs the scenario, checking every promise after every block, then lets the world
	/// settle (no new requests) and checks that every withdrawal ended.
	pub fn run(&mut self) {
		self.genesis = System::block_hash(0).into();
		if let Some(size) = self.scenario.vault_size {
			if let Err(error) = BtcCustody::set_vault_size(RuntimeOrigin::root(), size) {
				self.fail(format!("vault size {size}: {error:?}"));
			}
			// Each key may hold 2% of its members' stake (a few of the users' deposits), so
			// vaults fill up and rebalance.
			let ratio = sp_runtime::Perbill::from_percent(2);
			if let Err(error) = BtcBridge::set_vault_capacity_ratio(RuntimeOrigin::root(), ratio) {
				self.fail(format!("capacity ratio: {error:?}"));
			}
		}
		let faults: BTreeMap<u64, Fault> =
			self.scenario.faults.iter().map(|f| (f.validator, f.clone())).collect();
		for v in 1..=self.scenario.validators {
			let mut node = Node::open(v, self.seed, self.genesis, faults.get(&v).cloned());
			// Some operators run no Bitcoin node; the others start reporting at different
			// times (a faulty one reports from the start).
			node.bitcoind_from = match node.fault.is_some() || self.chance(70) {
				true if node.fault.is_some() => Some(0),
				true => Some(self.below(30) as u32),
				false => None,
			};
			self.nodes.insert(v, node);
		}
		// The faucet's coins mature.
		for _ in 0..101 {
			self.mine_bitcoin_block(self.faucet.script_pubkey());
		}
		// A key signs with its own vault's members: the faults one vault tolerates bound the
		// signing attempts.
		let signers = match self.scenario.vault_size {
			Some(size) => (size as u64).min(self.scenario.validators),
			None => self.scenario.validators,
		};
		let settle = liveness_bound_blocks(signers as usize + 2) as u32;
		let total = self.scenario.blocks + settle;
		// Large worlds are long runs: say how far they got.
		let started = std::time::Instant::now();
		let report_every = if self.scenario.validators >= 100 { 10 } else { u32::MAX };
		for _ in 0..total {
			let settling = self.now() >= self.scenario.blocks;
			self.step(!settling);
			if self.now().is_multiple_of(report_every) {
				println!(
					"block {}/{total} at {:.0} s: {} vaults, {} key epochs, {} deposits, {} \
					 withdrawals requested",
					self.now(),
					started.elapsed().as_secs_f64(),
					pallet_btc_custody::VaultCount::<Runtime>::get(),
					self.stats.key_epochs,
					self.stats.deposits,
					self.stats.withdrawals,
				);
			}
		}
		self.check_everything_ended();
	}

	/// One block: hooks, the pool's messages, invariants; then everyone acts on it.
	fn step(&mut self, users_act: bool) {
		let number = System::block_number() + 1;
		System::set_block_number(number);
		System::reset_events();
		BtcCustody::on_initialize(number);
		BtcBridge::on_initialize(number);
		self.include_pool();
		self.check_invariants();
		self.stats.blocks += 1;
		self.stats.key_epochs =
			pallet_btc_custody::CurrentEpoch::<Runtime>::get().map_or(0, |e| e as u64 + 1);
		self.stats.most_vaults =
			self.stats.most_vaults.max(pallet_btc_custody::VaultCount::<Runtime>::get() as u64);

		self.follow_fee_market();
		self.change_validator_set();
		self.nodes_act();
		self.steal();
		self.relay();
		if users_act {
			self.users_act();
		}
		self.count_multi_vault_transactions();
	}

	/// Counts the bridge transactions confirmed in this block that spent coins of more
	/// than one vault.
	fn count_multi_vault_transactions(&mut self) {
		for record in System::events() {
			let RuntimeEvent::BtcBridge(pallet_btc_bridge::Event::ProposalConfirmed {
				proposal_id,
				..
			}) = record.event
			else {
				continue;
			};
			let Some(proposal) = pallet_btc_bridge::Proposals::<Runtime>::get(proposal_id) else {
				continue;
			};
			if matches!(proposal.kind, tapchain_primitives::bridge::ProposalKind::Rebalance { .. })
			{
				self.stats.rebalances += 1;
			}
			let vaults: BTreeSet<u32> = proposal
				.input_epochs()
				.into_iter()
				.filter_map(pallet_btc_custody::Epochs::<Runtime>::get)
				.map(|key| key.vault)
				.collect();
			if vaults.len() > 1 {
				self.stats.multi_vault_transactions += 1;
			}
		}
	}

	/// The market's fee rate and what miners take, per the scenario's spike.
	fn follow_fee_market(&mut self) {
		let now = self.now();
		let spike =
			self.scenario.fee_spike.filter(|s| (s.from_block..s.until_block).contains(&now));
		self.market_fee_rate = spike.map_or(CALM_FEE_RATE, |s| s.sat_per_vb);
		self.bitcoin.block_min_fee_rate_sat_per_kvb = spike.map_or(0, |s| s.sat_per_vb * 1000);
		if spike.is_some() {
			self.stats.fault("fee spike block");
		}
	}

	/// Block inclusion: each pooled message is checked again against the state it now
	/// meets (`pre_dispatch`), dropped if it fails, dispatched otherwise. A message that
	/// passed must have an effect: its dispatch may not fail.
	fn include_pool(&mut self) {
		let pool = std::mem::take(&mut self.pool);
		for (_, call) in pool {
			let valid = match &call {
				RuntimeCall::BtcCustody(c) => BtcCustody::pre_dispatch(c).is_ok(),
				RuntimeCall::BtcBridge(c) => BtcBridge::pre_dispatch(c).is_ok(),
				_ => false,
			};
			if !valid {
				continue;
			}
			if let Err(e) = call.clone().dispatch_bypass_filter(RuntimeOrigin::none()) {
				self.fail(format!("{call:?} passed pre_dispatch but failed at dispatch: {e:?}"));
			}
			self.stats.messages_included += 1;
		}
	}

	/// The pool's check of a new unsigned message; refused ones are dropped, as is a second
	/// message with a tag already in the pool.
	fn submit(&mut self, call: RuntimeCall) -> bool {
		let validity = match &call {
			RuntimeCall::BtcCustody(c) => {
				BtcCustody::validate_unsigned(TransactionSource::External, c)
			},
			RuntimeCall::BtcBridge(c) => {
				BtcBridge::validate_unsigned(TransactionSource::External, c)
			},
			_ => return false,
		};
		let Ok(valid) = validity else {
			self.stats.messages_refused_by_pool += 1;
			return false;
		};
		let tag = valid.provides.first().cloned().unwrap_or_default();
		if self.pool.iter().any(|(t, _)| *t == tag) {
			self.stats.messages_refused_by_pool += 1;
			return false;
		}
		self.pool.push((tag, call));
		true
	}

	fn custody_call(signed: SignedMessage) -> RuntimeCall {
		RuntimeCall::BtcCustody(pallet_btc_custody::Call::from_message(
			signed.message,
			signed.signature,
		))
	}

	fn change_validator_set(&mut self) {
		let now = self.now();
		let joins: Vec<u64> =
			self.scenario.joins.iter().filter(|(at, _)| *at == now).map(|(_, v)| *v).collect();
		let leaves: Vec<u64> =
			self.scenario.leaves.iter().filter(|(at, _)| *at == now).map(|(_, v)| *v).collect();
		if joins.is_empty() && leaves.is_empty() {
			return;
		}
		Validators::mutate(|set| {
			set.retain(|v| !leaves.contains(v));
			for v in &joins {
				if !set.contains(v) {
					set.push(*v);
				}
			}
		});
		let (seed, genesis) = (self.seed, self.genesis);
		for v in joins {
			self.nodes.entry(v).or_insert_with(|| Node::open(v, seed, genesis, None));
		}
	}

	/// Every node's turn, honest or not.
	fn nodes_act(&mut self) {
		let now = self.now();
		let accounts: Vec<u64> = self.nodes.keys().copied().collect();
		for account in accounts {
			let mut node = self.nodes.remove(&account).expect("listed");
			self.node_act(&mut node, now);
			self.nodes.insert(account, node);
		}
	}

	fn node_act(&mut self, node: &mut Node, now: u32) {
		// Crash and come back: the key store survives, nonces do not.
		if let Some(fault) = node.fault.clone() {
			if fault.kind == FaultKind::Crash {
				if now == fault.from_block && node.signer.is_some() {
					node.signer = None;
					self.stats.fault("crash");
				}
				if now == fault.until_block && node.signer.is_none() {
					node.start(self.genesis);
				}
			}
		}
		if node.signer.is_none() || node.is(FaultKind::Silent, now) {
			if node.is(FaultKind::Silent, now) && now == node.fault.as_ref().unwrap().from_block {
				self.stats.fault("silent");
			}
			return;
		}
		if !Validators::get().contains(&node.account)
			&& !pallet_btc_custody::LiveEpochs::<Runtime>::iter_keys().any(|e| {
				pallet_btc_custody::Epochs::<Runtime>::get(e)
					.is_some_and(|k| k.members.iter().any(|m| m.0 == node.account))
			}) {
			return;
		}
		self.register(node);
		if node.is(FaultKind::Replayer, now) && !node.sent.is_empty() {
			let index = self.below(node.sent.len() as u64) as usize;
			let replay = node.sent[index].clone();
			self.stats.fault("replay");
			self.submit(replay);
		}
		self.answer_tasks(node, now);
		self.vote(node, now);
		self.report_fee(node, now);
	}

	fn register(&mut self, node: &mut Node) {
		let validator = node.account;
		if !Validators::get().contains(&validator) {
			return;
		}
		let signer = node.signer.as_ref().expect("running");
		let registered = pallet_btc_custody::Registrations::<Runtime>::get(validator);
		if registered.is_some_and(|r| r.identity == signer.identity()) {
			return;
		}
		let nonce = pallet_btc_custody::RegistrationNonces::<Runtime>::get(validator);
		let (payload, identity_signature) = signer.registration(validator, nonce);
		let call = RuntimeCall::BtcCustody(pallet_btc_custody::Call::register_custody_keys {
			session_signature: TestSignature(validator, payload.encode()),
			payload,
			session_key: UintAuthorityId(validator),
			identity_signature,
		});
		node.sent.push(call.clone());
		self.submit(call);
	}

	fn answer_tasks(&mut self, node: &mut Node, now: u32) {
		let tasks = BtcCustody::pending_tasks(&node.account);
		node.answered.retain(|_, at| now < *at + 3);
		for task in tasks {
			let key = (task_key(&task), node.starts).encode();
			if node.answered.contains_key(&key) {
				continue;
			}
			node.answered.insert(key, now);
			let signing = matches!(
				task,
				CustodyTask::SigningCommit { .. } | CustodyTask::SigningShare { .. }
			);
			if signing && node.is(FaultKind::VoteThenSilent, now) {
				self.stats.fault("vote-then-silent");
				continue;
			}
			let signer = node.signer.as_mut().expect("running");
			let signed = match signer.handle_task(&task) {
				Ok(signed) => signed,
				// A restart lost the attempt's nonces: the chain's deadline moves on.
				Err(_) => continue,
			};
			let signed = self.corrupt(node, signed, now);
			let call = Self::custody_call(signed.clone());
			node.sent.push(call.clone());
			self.submit(call.clone());
			if node.is(FaultKind::Spammer, now) {
				self.spam(node, &signed);
			}
		}
	}

	/// What a dishonest node does to its honest message.
	fn corrupt(&mut self, node: &Node, signed: SignedMessage, now: u32) -> SignedMessage {
		let signer = node.signer.as_ref().expect("running");
		match signed.message {
			CustodyMessage::DkgShares(mut message) if node.is(FaultKind::BadDkgShare, now) => {
				let victim = self.below(message.shares.len() as u64) as usize;
				message.shares[victim].0[5] ^= 0x40;
				self.stats.fault("bad DKG share");
				signer.sign_message(CustodyMessage::DkgShares(message))
			},
			CustodyMessage::SignatureShares(mut message)
				if node.is(FaultKind::BadSignatureShare, now) =>
			{
				for share in message.shares.iter_mut() {
					share[31] ^= 1;
				}
				self.stats.fault("bad signature share");
				signer.sign_message(CustodyMessage::SignatureShares(message))
			},
			CustodyMessage::DkgKeyAttestation(mut message)
				if node.is(FaultKind::WrongAttestation, now) =>
			{
				let package = frost_secp256k1_tr::keys::PublicKeyPackage::deserialize(
					&message.public_key_package,
				)
				.expect("its own package");
				let mut shares: Vec<_> = package.verifying_shares().clone().into_iter().collect();
				if shares.len() >= 2 {
					let (a, b) = (shares[0].1, shares[1].1);
					shares[0].1 = b;
					shares[1].1 = a;
				}
				let swapped = frost_secp256k1_tr::keys::PublicKeyPackage::new(
					shares.into_iter().collect(),
					*package.verifying_key(),
					package.min_signers(),
				);
				message.public_key_package = swapped.serialize().expect("serializes");
				self.stats.fault("wrong attestation");
				signer.sign_message(CustodyMessage::DkgKeyAttestation(message))
			},
			CustodyMessage::DkgKeyAttestation(message)
				if node.is(FaultKind::FalseComplaint, now) =>
			{
				let n = pallet_btc_custody::ActiveDkg::<Runtime>::get()
					.map_or(2, |r| r.participants.len() as u16);
				let accused = if message.sender == 1 { n } else { 1 };
				self.stats.fault("false complaint");
				signer.sign_message(CustodyMessage::DkgComplaint(
					tapchain_primitives::custody::DkgComplaint {
						dkg_id: message.dkg_id,
						sender: message.sender,
						accused,
						shared_point: tapchain_primitives::custody::SharedPoint(
							signer.encryption_key().0,
						),
						proof: tapchain_primitives::custody::DleqProof([7; 64]),
					},
				))
			},
			message => SignedMessage { message, signature: signed.signature },
		}
	}

	/// Spam: the same message again, another attempt's number, garbage commitments.
	fn spam(&mut self, node: &Node, signed: &SignedMessage) {
		let signer = node.signer.as_ref().expect("running");
		self.stats.fault("spam");
		self.submit(Self::custody_call(signed.clone()));
		let variant = match signed.message.clone() {
			CustodyMessage::SigningCommitment(mut m) => {
				if self.chance(50) {
					m.attempt += 1;
				} else {
					m.commitments = vec![vec![1, 2, 3]; m.commitments.len()];
				}
				CustodyMessage::SigningCommitment(m)
			},
			CustodyMessage::SignatureShares(mut m) => {
				m.shares.push([9; 32]);
				CustodyMessage::SignatureShares(m)
			},
			CustodyMessage::DkgCommitment(mut m) => {
				m.package.truncate(m.package.len() / 2);
				CustodyMessage::DkgCommitment(m)
			},
			other => other,
		};
		self.submit(Self::custody_call(signer.sign_message(variant)));
	}

	fn vote(&mut self, node: &mut Node, now: u32) {
		let Some(id) = pallet_btc_bridge::ActiveProposal::<Runtime>::get() else { return };
		let Some(proposal) = pallet_btc_bridge::Proposals::<Runtime>::get(id) else { return };
		if pallet_btc_bridge::ProposalVotes::<Runtime>::contains_key(id, node.account) {
			return;
		}
		if node.voted.get(&id).is_some_and(|at| now < at + 3) {
			return;
		}
		if let Some(fault) = &node.fault {
			if fault.kind == FaultKind::LateVoter
				&& now < proposal.created_at as u32 + fault.delay_blocks
			{
				return;
			}
		}
		let Some(check) = BtcBridge::proposal_check(id) else { return };
		let approve = if node.is(FaultKind::RejectAll, now) {
			self.stats.fault("reject everything");
			false
		} else {
			let estimate =
				node.bitcoind_from.is_some_and(|from| now >= from).then_some(self.market_fee_rate);
			match check_proposal(&check, estimate) {
				Ok(()) => true,
				Err(reason) => self.fail(format!(
					"honest validator {} rejects proposal {id} ({:?} at {} sat/vB, market {} \
					 sat/vB): {reason}",
					node.account, proposal.kind, proposal.fee_rate_sat_per_vb, self.market_fee_rate,
				)),
			}
		};
		let signer = node.signer.as_ref().expect("running");
		let vote = ProposalVote {
			proposal_id: id,
			txid: proposal.txid.0,
			voter: signer.identity().0,
			approve,
		};
		let signature = signer.sign_bridge_message(&BridgeMessage::ProposalVote(vote.clone()));
		let call =
			RuntimeCall::BtcBridge(pallet_btc_bridge::Call::vote_on_proposal { vote, signature });
		node.voted.insert(id, now);
		node.sent.push(call.clone());
		if node.is(FaultKind::LateVoter, now) {
			self.stats.fault("late vote");
		}
		self.submit(call);
	}

	fn report_fee(&mut self, node: &mut Node, now: u32) {
		if node.bitcoind_from.is_none_or(|from| now < from)
			|| node.fee_reported_at.is_some_and(|at| now < at + 10)
		{
			return;
		}
		node.fee_reported_at = Some(now);
		let signer = node.signer.as_ref().expect("running");
		// A dishonest reporter names an absurd rate; it must not move the median.
		let rate = if node.fault.is_some() && self.chance(50) {
			self.stats.fault("absurd fee report");
			150
		} else {
			self.market_fee_rate
		};
		let report =
			FeeRateReport { reporter: signer.identity().0, sat_per_vbyte: rate, at_block: now };
		let signature = signer.sign_bridge_message(&BridgeMessage::FeeRateReport(report.clone()));
		let call =
			RuntimeCall::BtcBridge(pallet_btc_bridge::Call::report_fee_rate { report, signature });
		node.sent.push(call.clone());
		self.submit(call);
	}

	fn mine_bitcoin_block(&mut self, payout: ScriptBuf) {
		self.btc_time += 600;
		self.bitcoin.mock_time_secs = Some(self.btc_time);
		NowSecs::set(self.btc_time + 60);
		self.bitcoin.mine_block(&payout);
	}

	/// The relayer: mines, relays headers, proves deposits, broadcasts and proves the
	/// bridge's transactions.
	fn relay(&mut self) {
		if self.chance(50) {
			if self.scenario.adversarial_users && self.chance(3) && self.bitcoin.height() > 110 {
				// A one-block reorg: the tip is replaced; its transactions go back to the
				// mempool and are mined again.
				let tip = self.bitcoin.tip_hash();
				self.bitcoin.invalidate_block(&tip).expect("not the genesis");
				self.mine_bitcoin_block(self.miner.clone());
				self.mine_bitcoin_block(self.miner.clone());
				self.stats.reorgs += 1;
				self.stats.fault("bitcoin reorg");
			} else {
				self.mine_bitcoin_block(self.miner.clone());
			}
		}
		self.relay_headers();
		self.prove_deposits();
		self.broadcast_and_prove();
		self.prove_thefts();
	}

	fn relay_headers(&mut self) {
		let tip_height = self.bitcoin.height();
		// From the first height the light client's best chain disagrees on.
		let mut from = 1;
		while from <= tip_height {
			let ours = self.bitcoin.hash_at(from).expect("active");
			let theirs = pallet_btc_light_client::Pallet::<Runtime>::best_hash_at(from);
			if theirs.map(|h| h.0) != Some(ours.to_byte_array()) {
				break;
			}
			from += 1;
		}
		if from > tip_height {
			return;
		}
		let headers: Vec<BlockHeader> = (from..=tip_height)
			.map(|h| {
				header_of(&self.bitcoin.block(&self.bitcoin.hash_at(h).unwrap()).unwrap().block)
			})
			.collect();
		for batch in headers.chunks(2016) {
			if let Err(e) = BtcLightClient::submit_headers(
				RuntimeOrigin::signed(99),
				batch.to_vec().try_into().expect("within the limit"),
			) {
				self.fail(format!("the light client refused Bitcoin's own headers: {e:?}"));
			}
		}
		if self.scenario.adversarial_users && self.chance(10) {
			// Header spam: a cheap sibling of the tip (regtest difficulty). It may be stored
			// or refused; it must never lock out the honest chain (checked by relaying).
			let tip = self.bitcoin.tip().block.header;
			let mut spam = tip;
			spam.time += 1 + self.below(60) as u32;
			spam.merkle_root =
				bitcoin::TxMerkleNode::from_byte_array([self.rng.next_u32() as u8; 32]);
			let parent = self.bitcoin.block(&tip.prev_blockhash).map(|p| p.block.header);
			if let Some(parent) = parent {
				spam.prev_blockhash = parent.block_hash();
				while !spam.target().is_met_by(spam.block_hash()) {
					spam.nonce += 1;
				}
				let header =
					BlockHeader::from_bytes(&bitcoin::consensus::serialize(&spam)).unwrap();
				let _ = BtcLightClient::submit_headers(
					RuntimeOrigin::signed(98),
					vec![header].try_into().unwrap(),
				);
				self.stats.fault("header spam");
			}
		}
		self.relayed = (0..=tip_height).filter_map(|h| self.bitcoin.hash_at(h)).collect();
	}

	/// A Merkle proof of `txid` in the active block `block`.
	fn proof(
		&self,
		block: &bitcoin::Block,
		txid: bitcoin::Txid,
	) -> Option<pallet_btc_light_client::MerkleProof> {
		let txids: Vec<Txid> = block.txdata.iter().map(|tx| txid_of(tx.compute_txid())).collect();
		let index = txids.iter().position(|t| *t == txid_of(txid))?;
		Some(pallet_btc_light_client::MerkleProof {
			tx_index: index as u32,
			branch: merkle_branch(&txids, index)?.try_into().ok()?,
		})
	}

	fn prove_deposits(&mut self) {
		let unproven: Vec<bitcoin::Txid> = self.unproven.iter().copied().collect();
		for txid in unproven {
			let Some((tx, block_hash)) =
				self.bitcoin.confirmed_tx(&txid).map(|(t, b)| (t.clone(), b))
			else {
				continue;
			};
			if self.bitcoin.confirmations(&block_hash) < 3 {
				continue;
			}
			let block = self.bitcoin.block(&block_hash).unwrap().block.clone();
			let Some(proof) = self.proof(&block, txid) else { continue };
			let result = BtcBridge::submit_deposit(
				RuntimeOrigin::signed(97),
				bitcoin::consensus::serialize(&tx),
				proof,
				tapchain_primitives::bitcoin::BlockHash(block_hash.to_byte_array()),
			);
			match result {
				Ok(()) => {
					self.stats.deposits += 1;
					self.unproven.remove(&txid);
				},
				Err(e) => {
					let final_refusal = e
						== pallet_btc_bridge::Error::<Runtime>::AlreadyCredited.into()
						|| e == pallet_btc_bridge::Error::<Runtime>::NoCustodyOutput.into();
					if final_refusal {
						self.unproven.remove(&txid);
					}
				},
			}
		}
	}

	/// Broadcasts the newest signed transaction in flight (a fee bump replaces the one before
	/// it in the mempool, by Core's rules) and proves whichever of them confirms.
	fn broadcast_and_prove(&mut self) {
		let signed = BtcBridge::signed_in_flight();
		let family: Vec<(u64, bitcoin::Transaction)> = signed
			.into_iter()
			.map(|(id, tx)| {
				(id, bitcoin::consensus::deserialize(&tx).expect("a signed transaction"))
			})
			.collect();
		if let Some((_, newest)) = family.first() {
			let txid = newest.compute_txid();
			let older_confirmed = family[1..]
				.iter()
				.any(|(_, tx)| self.bitcoin.confirmed_tx(&tx.compute_txid()).is_some());
			if self.bitcoin.confirmed_tx(&txid).is_none()
				&& self.bitcoin.mempool_entry(&txid).is_none()
				&& !older_confirmed
			{
				// Replaces an older one waiting in the mempool (BIP-125), if there is one.
				// Coins stolen before anyone proved it make it invalid: the proof ends it.
				if let Err(e) = self.bitcoin.accept_to_mempool(newest.clone(), 0) {
					if !newest.input.iter().any(|i| self.is_stolen(&i.previous_output)) {
						self.fail(format!(
							"Bitcoin refused the bridge's signed transaction {txid}: {e:?}"
						));
					}
				}
			}
		}
		for (id, tx) in family {
			let txid = tx.compute_txid();
			let Some(block_hash) = self.bitcoin.confirmed_tx(&txid).map(|(_, b)| b) else {
				continue;
			};
			if self.bitcoin.confirmations(&block_hash) < 3 {
				return;
			}
			let block = self.bitcoin.block(&block_hash).unwrap().block.clone();
			let proof = self.proof(&block, txid).expect("in its block");
			let result = BtcBridge::submit_withdrawal_proof(
				RuntimeOrigin::signed(97),
				id,
				bitcoin::consensus::serialize(&tx),
				proof,
				tapchain_primitives::bitcoin::BlockHash(block_hash.to_byte_array()),
			);
			if let Err(e) = result {
				self.fail(format!("the proof of confirmed proposal {id} was refused: {e:?}"));
			}
			return;
		}
	}

	/// Whether a theft (proven or not) spends `outpoint`.
	fn is_stolen(&self, outpoint: &bitcoin::OutPoint) -> bool {
		self.thefts.iter().any(|t| t.stolen.iter().any(|(o, _)| o == outpoint))
	}

	/// The thieves: once the scenario's block has come, the first `threshold` members of the
	/// current key whose nodes run sign, with their real key shares and the signer's own FROST
	/// rounds but no session of the chain, a transaction paying up to two of the key's coins
	/// to themselves at a fee that outbids anything (coins a bridge transaction already
	/// spends in the mempool are left alone). Bitcoin Core's interpreter checks it.
	fn steal(&mut self) {
		let now = self.now();
		if self.scenario.theft_from_block.is_none_or(|from| now < from) || !self.thefts.is_empty() {
			return;
		}
		let Some(epoch) = pallet_btc_custody::CurrentEpoch::<Runtime>::get() else { return };
		let Some(key) = pallet_btc_custody::Epochs::<Runtime>::get(epoch) else { return };
		let thieves: Vec<(u64, u16)> = key
			.members
			.iter()
			.enumerate()
			.filter(|(_, (account, _))| {
				self.nodes
					.get(account)
					.and_then(|n| n.signer.as_ref())
					.is_some_and(|signer| signer.has_key_share(key.dkg_id).unwrap_or(false))
			})
			.map(|(i, (account, _))| (*account, i as u16 + 1))
			.take(key.threshold as usize)
			.collect();
		if thieves.len() < key.threshold as usize {
			return;
		}
		let in_mempool: BTreeSet<bitcoin::OutPoint> = BtcBridge::signed_in_flight()
			.into_iter()
			.filter_map(|(_, raw)| {
				bitcoin::consensus::deserialize::<bitcoin::Transaction>(&raw).ok()
			})
			.filter(|tx| self.bitcoin.mempool_entry(&tx.compute_txid()).is_some())
			.flat_map(|tx| tx.input.into_iter().map(|i| i.previous_output))
			.collect();
		let mut coins: Vec<(bitcoin::OutPoint, TxOut)> =
			pallet_btc_bridge::Utxos::<Runtime>::iter()
				.filter(|(_, utxo)| utxo.epoch == epoch && utxo.value_sats >= 50_000)
				.map(|(o, _)| bitcoin::OutPoint {
					txid: bitcoin::Txid::from_byte_array(o.txid.0),
					vout: o.vout,
				})
				.filter(|o| !in_mempool.contains(o))
				.filter_map(|o| self.bitcoin.utxo(&o).map(|coin| (o, coin.output.clone())))
				.collect();
		if coins.is_empty() {
			return;
		}
		coins.sort_by_key(|(o, _)| *o);
		coins.truncate(2);
		let taken: u64 = coins.iter().map(|(_, out)| out.value.to_sat()).sum();
		let mut tx = bitcoin::Transaction {
			version: bitcoin::transaction::Version::TWO,
			lock_time: bitcoin::absolute::LockTime::ZERO,
			input: coins
				.iter()
				.map(|(o, _)| bitcoin::TxIn {
					previous_output: *o,
					sequence: bitcoin::Sequence::ENABLE_RBF_NO_LOCKTIME,
					..Default::default()
				})
				.collect(),
			output: vec![TxOut {
				value: Amount::from_sat(taken - 30_000),
				script_pubkey: btc_sim::wallet::Wallet::from_seed(b"thieves").script_pubkey(),
			}],
		};
		let prevouts: Vec<TxOut> = coins.iter().map(|(_, out)| out.clone()).collect();
		let messages: Vec<[u8; 32]> = {
			let mut cache = bitcoin::sighash::SighashCache::new(&tx);
			(0..tx.input.len())
				.map(|i| {
					cache
						.taproot_key_spend_signature_hash(
							i,
							&bitcoin::sighash::Prevouts::All(&prevouts),
							bitcoin::TapSighashType::Default,
						)
						.expect("prevouts for every input")
						.to_byte_array()
				})
				.collect()
		};
		// FROST among the thieves: no session of the chain, an id it never gives out.
		let session_id = u64::MAX;
		let merkle_root = key.recovery.map(|leaf| leaf.leaf_hash());
		let mut commitments = BTreeMap::new();
		for (account, index) in &thieves {
			let signer = self.nodes.get_mut(account).unwrap().signer.as_mut().unwrap();
			match signer.signing_commit(key.dkg_id, *index, session_id, 0, messages.len()) {
				Ok(SignedMessage { message: CustodyMessage::SigningCommitment(m), .. }) => {
					commitments.insert(*index, m.commitments);
				},
				other => self.fail(format!("thief {account} could not commit: {other:?}")),
			}
		}
		let mut shares = BTreeMap::new();
		for (account, index) in &thieves {
			let signer = self.nodes.get_mut(account).unwrap().signer.as_mut().unwrap();
			let signed = signer.signing_shares(
				key.dkg_id,
				*index,
				session_id,
				0,
				&messages,
				&commitments,
				merkle_root.as_ref(),
			);
			match signed {
				Ok(SignedMessage { message: CustodyMessage::SignatureShares(m), .. }) => {
					shares.insert(*index, m.shares);
				},
				other => self.fail(format!("thief {account} could not sign: {other:?}")),
			}
		}
		let package =
			frost_secp256k1_tr::keys::PublicKeyPackage::deserialize(&key.public_key_package)
				.expect("an attested package");
		for (position, message) in messages.iter().enumerate() {
			let signature = pallet_btc_custody::frost_checks::aggregate(
				&package,
				message,
				position,
				&commitments,
				&shares,
				merkle_root.as_ref(),
			)
			.unwrap_or_else(|e| self.fail(format!("the thieves' signature: {e:?}")));
			tx.input[position].witness = bitcoin::Witness::from_slice(&[signature.to_vec()]);
		}
		if let Err(e) = self.bitcoin.accept_to_mempool(tx.clone(), 0) {
			self.fail(format!("Bitcoin refused the thieves' transaction: {e:?}"));
		}
		self.stats.fault("theft by a threshold");
		self.thefts.push(Theft {
			tx,
			epoch,
			thieves: thieves.iter().map(|(account, _)| *account).collect(),
			stolen: coins.iter().map(|(o, out)| (*o, out.value.to_sat())).collect(),
			signed_at: now,
			proven_at: None,
		});
	}

	/// Anyone proves a confirmed theft: it is accepted, the key's members lose exactly their
	/// pro rata share of the penalty for what it took (up to their stake; the amount is capped
	/// at what is issued plus the fee reserve), the thieves lose at least what they took
	/// unless everything at stake went, and the books' shortfall is what slashing did not
	/// restore.
	fn prove_thefts(&mut self) {
		for i in 0..self.thefts.len() {
			if self.thefts[i].proven_at.is_some() {
				continue;
			}
			let txid = self.thefts[i].tx.compute_txid();
			let Some(block_hash) = self.bitcoin.confirmed_tx(&txid).map(|(_, b)| b) else {
				continue;
			};
			if self.bitcoin.confirmations(&block_hash) < 3 {
				continue;
			}
			let block = self.bitcoin.block(&block_hash).unwrap().block.clone();
			let proof = self.proof(&block, txid).expect("in its block");
			let epoch = self.thefts[i].epoch;
			let key = pallet_btc_custody::Epochs::<Runtime>::get(epoch).expect("a live epoch");
			let members: Vec<u64> = key.members.iter().map(|(account, _)| *account).collect();
			let stake =
				|v: &u64| <RecordStake as pallet_btc_custody::CustodyStake<u64>>::at_stake_sats(v);
			let stakes_before: Vec<u64> = members.iter().map(stake).collect();
			let ledger = pallet_btc_bridge::Ledger::<Runtime>::get();
			// A proposal in flight over a stolen coin is ended first: the reserve it
			// committed comes back and is restorable too.
			let ends_in_flight = pallet_btc_bridge::ActiveProposal::<Runtime>::get()
				.and_then(pallet_btc_bridge::Proposals::<Runtime>::get)
				.is_some_and(|p| {
					p.inputs.iter().any(|(o, _, _)| {
						self.thefts[i]
							.stolen
							.iter()
							.any(|(s, _)| s.txid.to_byte_array() == o.txid.0 && s.vout == o.vout)
					})
				});
			let committed = if ends_in_flight { ledger.reserve_committed_sats } else { 0 };
			let restorable = ledger.issued_sats + ledger.reserve_sats + committed;
			let shortfall_before = pallet_btc_bridge::TheftShortfall::<Runtime>::get();
			let stolen_sats: u64 = self.thefts[i].stolen.iter().map(|(_, sats)| sats).sum();
			let result = BtcBridge::report_theft(
				RuntimeOrigin::signed(96),
				bitcoin::consensus::serialize(&self.thefts[i].tx),
				proof,
				tapchain_primitives::bitcoin::BlockHash(block_hash.to_byte_array()),
			);
			if let Err(e) = result {
				self.fail(format!("the proof of theft {txid} was refused: {e:?}"));
			}
			let owed = stolen_sats.min(restorable);
			let penalty = pallet_btc_custody::slashing::theft_penalty_sats(
				&stakes_before,
				key.threshold,
				owed,
			);
			let shares = pallet_btc_custody::slashing::theft_shares(&stakes_before, penalty);
			let restored: u64 = shares.iter().sum::<u64>().min(owed);
			// Theft does not pay: the members who signed lose what they took (short by less
			// than a sat each of rounding), or all they had at stake.
			let thieves_lost: u64 = members
				.iter()
				.zip(&stakes_before)
				.filter(|(member, _)| self.thefts[i].thieves.contains(member))
				.map(|(member, before)| before - stake(member))
				.sum();
			let everything_went = members.iter().all(|member| stake(member) == 0);
			let thieves = self.thefts[i].thieves.len() as u64;
			if thieves_lost + thieves <= owed && !everything_went {
				self.fail(format!(
					"the thieves of epoch {epoch} took {owed} sats and lost only {thieves_lost} of their stake"
				));
			}
			for ((member, before), share) in members.iter().zip(&stakes_before).zip(&shares) {
				if stake(member) != before - share {
					self.fail(format!(
						"member {member} of epoch {epoch} had {before} sats at stake and was to lose {share}, it has {} (stolen {stolen_sats}, restorable {restorable})",
						stake(member)
					));
				}
			}
			let record =
				pallet_btc_bridge::ProvenThefts::<Runtime>::get(txid_of(txid)).expect("recorded");
			let shortfall = pallet_btc_bridge::TheftShortfall::<Runtime>::get();
			if record.restored_sats != restored
				|| shortfall != shortfall_before + stolen_sats - restored
			{
				self.fail(format!(
					"theft of {stolen_sats} sats: {} restored (expected {restored}), shortfall {shortfall} (was {shortfall_before})",
					record.restored_sats
				));
			}
			self.thefts[i].proven_at = Some(self.now());
			self.stats.thefts += 1;
			self.stats.stolen_sats += stolen_sats;
			self.stats.restored_sats += restored;
		}
	}

	fn custody_scripts(&self) -> Vec<(u32, ScriptBuf)> {
		BtcBridge::deposit_scripts()
			.into_iter()
			.map(|(epoch, script)| (epoch, ScriptBuf::from_bytes(script)))
			.collect()
	}

	/// Users: deposits (some without memo, some dust to old keys), withdrawals (some too
	/// small, some too large for any transaction), reserve funding.
	fn users_act(&mut self) {
		if !self.chance(self.scenario.activity_percent) {
			return;
		}
		let index = self.below(self.users.len() as u64) as usize;
		let user = self.users[index];
		let scripts = self.custody_scripts();
		match self.below(10) {
			0..=3 if !scripts.is_empty() => {
				// Most wallets ask for the deposit address; some pay the newest key they
				// remember, whichever vault's it is.
				let (_, newest) = scripts.last().cloned().unwrap();
				let current = match BtcBridge::deposit_address() {
					Some((_, key, _)) if self.chance(70) => ScriptBuf::from_bytes(
						tapchain_primitives::bitcoin::address::p2tr_script_pubkey(&key),
					),
					_ => newest,
				};
				let sats = 20_000 + self.below(2_000_000);
				let memo = DepositRecipient::Native(padded(user)).memo_script();
				let mut outputs =
					vec![TxOut { value: Amount::from_sat(sats), script_pubkey: current }];
				if !self.chance(10) {
					outputs.push(TxOut {
						value: Amount::ZERO,
						script_pubkey: ScriptBuf::from_bytes(memo),
					});
				}
				self.send_deposit(outputs);
			},
			4 if self.scenario.adversarial_users && scripts.len() > 1 => {
				// Dust to an old (still live) key: it must not pin that key.
				let (_, old) = scripts[self.below(scripts.len() as u64 - 1) as usize].clone();
				self.stats.fault("dust to an old key");
				self.send_deposit(vec![TxOut { value: Amount::from_sat(331), script_pubkey: old }]);
			},
			5..=8 => self.withdraw(user),
			_ => {
				let balance = Balances::balance(&user);
				if balance > sats_to_base_units(100_000)
					&& pallet_btc_bridge::Ledger::<Runtime>::get().reserve_sats < 50_000
				{
					let amount = sats_to_base_units(30_000);
					if BtcBridge::fund_fee_reserve(RuntimeOrigin::signed(user), amount).is_ok() {
						*self.reserve_funded.entry(user).or_default() += amount;
					}
				}
			},
		}
	}

	fn send_deposit(&mut self, outputs: Vec<TxOut>) {
		let Ok(tx) = self.faucet.pay(&self.bitcoin, outputs, self.market_fee_rate) else { return };
		let txid = tx.compute_txid();
		if let Err(e) = self.bitcoin.accept_to_mempool(tx, 0) {
			self.fail(format!("the faucet's deposit was refused: {e:?}"));
		}
		self.unproven.insert(txid);
	}

	fn withdraw(&mut self, user: u64) {
		let balance = Balances::balance(&user);
		if balance < sats_to_base_units(2_000) {
			return;
		}
		let id = pallet_btc_bridge::NextWithdrawalId::<Runtime>::get();
		let wallet =
			btc_sim::wallet::Wallet::from_seed(format!("withdrawal {} {id}", self.seed).as_bytes());
		let max_sats = (balance / sats_to_base_units(1)) as u64;
		// Exactly the largest UTXO but for a few sats: the change would be dust.
		let largest = pallet_btc_bridge::Utxos::<Runtime>::iter_values()
			.map(|u| u.value_sats)
			.max()
			.unwrap_or(0);
		let sats = match self.below(10) {
			0 if self.scenario.adversarial_users => 500 + self.below(500), // small: may be refunded
			1 if self.scenario.adversarial_users => max_sats + 1,          // more than held
			2 if self.scenario.adversarial_users && largest > 1_000 && largest - 200 < max_sats => {
				self.stats.fault("dust change");
				largest - 1 - self.below(300)
			},
			_ => 1_000 + self.below(max_sats / 2),
		};
		let address: frame_support::BoundedVec<u8, _> =
			wallet.address.to_string().into_bytes().try_into().expect("short");
		if BtcBridge::request_withdrawal(
			RuntimeOrigin::signed(user),
			address,
			sats_to_base_units(sats),
		)
		.is_ok()
		{
			self.stats.withdrawals += 1;
			self.withdrawals.insert(
				id,
				TrackedWithdrawal { requested_at: self.now(), script: wallet.script_pubkey() },
			);
		}
	}

	/// Faulty validators within the tolerated number for the smallest set of the run.
	fn within_budget(&self) -> bool {
		let n = Validators::get().len();
		let faulty = self
			.nodes
			.values()
			.filter(|node| node.fault.is_some() && Validators::get().contains(&node.account))
			.count();
		faulty <= n - (2 * n / 3 + 1)
	}

	/// The promises, after every block.
	fn check_invariants(&mut self) {
		if let Err(e) = BtcCustody::do_try_state() {
			self.fail(format!("custody try_state: {e:?}"));
		}
		if let Err(e) = BtcBridge::do_try_state() {
			self.fail(format!("bridge try_state: {e:?}"));
		}
		// Every bridge UTXO is unspent on Bitcoin, or spent by the approved transaction in
		// flight: the bridge never counts coins that are gone.
		// (A fee bump in flight spends the same inputs as the transaction it replaces.)
		let in_flight = BtcBridge::family_in_flight()
			.into_iter()
			.filter_map(pallet_btc_bridge::Proposals::<Runtime>::get)
			.find(|p| p.status.is_approved_in_flight());
		for (outpoint, utxo) in pallet_btc_bridge::Utxos::<Runtime>::iter() {
			let bitcoin_outpoint = bitcoin::OutPoint {
				txid: bitcoin::Txid::from_byte_array(outpoint.txid.0),
				vout: outpoint.vout,
			};
			let unspent = self
				.bitcoin
				.utxo(&bitcoin_outpoint)
				.is_some_and(|coin| coin.output.value.to_sat() == utxo.value_sats);
			let spent_by_flight =
				in_flight.as_ref().is_some_and(|p| p.inputs.iter().any(|(o, _, _)| *o == outpoint));
			// Stolen and not proven yet: the books cannot know before someone proves it.
			let stolen = self.is_stolen(&bitcoin_outpoint);
			if !unspent && !spent_by_flight && !stolen {
				self.fail(format!("bridge UTXO {outpoint:?} is not unspent on Bitcoin"));
			}
		}
		// Users' balances are what the bridge's records say they should be.
		for user in self.users.clone() {
			let credited: u128 = pallet_btc_bridge::Deposits::<Runtime>::iter_values()
				.filter(|r| matches!(r.outcome, pallet_btc_bridge::DepositOutcome::Credited { account } if account == user))
				.map(|r| sats_to_base_units(r.value_sats))
				.sum();
			let mut burned = 0u128;
			let mut refunded = 0u128;
			for (_, w) in pallet_btc_bridge::Withdrawals::<Runtime>::iter() {
				if w.owner == user {
					burned += sats_to_base_units(w.amount_sats);
					if w.status == pallet_btc_bridge::WithdrawalStatus::Refunded {
						refunded += sats_to_base_units(w.amount_sats);
					}
				}
			}
			let funded = self.reserve_funded.get(&user).copied().unwrap_or(0);
			let expected = credited + refunded - burned - funded;
			if Balances::balance(&user) != expected {
				self.fail(format!(
					"user {user} holds {} base units, its records say {expected}",
					Balances::balance(&user)
				));
			}
		}
		// Liveness: within the fault budget, no withdrawal stays burned past the bound.
		let now = self.now() as u64;
		let bound = liveness_bound_blocks(Validators::get().len());
		if self.within_budget() {
			for (id, tracked) in &self.withdrawals {
				let Some(w) = pallet_btc_bridge::Withdrawals::<Runtime>::get(id) else { continue };
				let ended = matches!(
					w.status,
					pallet_btc_bridge::WithdrawalStatus::Paid { .. }
						| pallet_btc_bridge::WithdrawalStatus::Refunded
				);
				// Miners take none of the bridge's transactions during a fee spike until a
				// bump outbids it, which the reserve may be too low to pay: then it waits
				// the spike out.
				let spike_wait = self
					.scenario
					.fee_spike
					.filter(|s| tracked.requested_at < s.until_block)
					.map_or(0, |s| (s.until_block - s.from_block) as u64);
				// A transaction spending stolen coins cannot confirm: its requests wait for
				// the theft's proof.
				let theft_wait: u64 = self
					.thefts
					.iter()
					.filter(|t| tracked.requested_at < t.proven_at.unwrap_or(u32::MAX))
					.map(|t| (t.proven_at.unwrap_or(self.now()) - t.signed_at) as u64)
					.sum();
				if !ended && now > tracked.requested_at as u64 + bound + spike_wait + theft_wait {
					self.fail(format!(
						"withdrawal {id} requested at block {} is still {:?} after {bound} blocks",
						tracked.requested_at, w.status
					));
				}
			}
		}
	}

	/// After the settling blocks: every withdrawal ended, and Bitcoin paid each paid one
	/// exactly once, exactly its amount.
	fn check_everything_ended(&mut self) {
		let budget = self.within_budget();
		if let Some(theft) = self.thefts.iter().find(|t| t.proven_at.is_none()) {
			self.fail(format!("theft {} was never proven", theft.tx.compute_txid()));
		}
		for (_, proposal) in pallet_btc_bridge::Proposals::<Runtime>::iter() {
			if matches!(proposal.kind, pallet_btc_bridge::ProposalKind::FeeBump { .. }) {
				self.stats.fee_bumps += 1;
			}
			if matches!(proposal.status, pallet_btc_bridge::ProposalStatus::Superseded { .. }) {
				self.stats.superseded += 1;
			}
			if proposal.status == pallet_btc_bridge::ProposalStatus::SpentByTheft {
				self.stats.ended_by_theft += 1;
			}
		}
		let mut received: BTreeMap<ScriptBuf, u64> = BTreeMap::new();
		for height in 0..=self.bitcoin.height() {
			let hash = self.bitcoin.hash_at(height).unwrap();
			for tx in &self.bitcoin.block(&hash).unwrap().block.txdata {
				for output in &tx.output {
					*received.entry(output.script_pubkey.clone()).or_default() +=
						output.value.to_sat();
				}
			}
		}
		for (id, tracked) in &self.withdrawals {
			let w = pallet_btc_bridge::Withdrawals::<Runtime>::get(id).expect("recorded");
			let got = received.get(&tracked.script).copied().unwrap_or(0);
			match w.status {
				pallet_btc_bridge::WithdrawalStatus::Paid { proposal_id, .. } => {
					let paid = pallet_btc_bridge::Proposals::<Runtime>::get(proposal_id)
						.and_then(|p| p.payouts.iter().find(|(w, _)| w == id).map(|(_, s)| *s))
						.expect("a paid withdrawal is in its proposal");
					if got != paid {
						self.fail(format!(
							"withdrawal {id}: Bitcoin paid {got} sats, the chain says {paid}"
						));
					}
					self.stats.paid += 1;
				},
				pallet_btc_bridge::WithdrawalStatus::Refunded => {
					if got != 0 {
						self.fail(format!("withdrawal {id} was refunded and also paid {got} sats"));
					}
					self.stats.refunded += 1;
				},
				status if budget => self.fail(format!("withdrawal {id} never ended: {status:?}")),
				_ => {},
			}
		}
	}
}

/// A 32-byte native account id whose first 8 bytes are `account` (the mock's mapping).
fn padded(account: u64) -> [u8; 32] {
	let mut bytes = [0u8; 32];
	bytes[..8].copy_from_slice(&account.to_le_bytes());
	bytes
}

/// What identifies a task for de-duplication, as the node worker keys them.
fn task_key(task: &CustodyTask) -> Vec<u8> {
	match task {
		CustodyTask::DkgCommit { dkg, .. } => (0u8, dkg.dkg_id).encode(),
		CustodyTask::DkgShare { dkg, .. } => (1u8, dkg.dkg_id).encode(),
		CustodyTask::DkgFinish { dkg, .. } => (2u8, dkg.dkg_id).encode(),
		CustodyTask::SigningCommit { session_id, attempt, .. } => {
			(3u8, *session_id, *attempt).encode()
		},
		CustodyTask::SigningShare { session_id, attempt, .. } => {
			(4u8, *session_id, *attempt).encode()
		},
	}
}

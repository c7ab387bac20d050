//! The custody signer worker of a validator node.
//!
//! Follows the best chain; at each new best block it finds which validator this node is (the
//! validator owning one of the keystore's Aura keys), registers the custody signer's keys if
//! the chain does not hold them (or holds them under an older session key), asks the runtime
//! for the validator's custody tasks (DKG rounds, signing rounds), lets the signer
//! (`tapchain-signer`) do them and submits the resulting unsigned extrinsics to the pool,
//! once the pool and (after `SUBMIT_DELAY`) the other validators have the block: a signing
//! round then takes one block per FROST round, a signature 2 blocks after its request.
//! Logs (target `custody`) and Prometheus metrics cover every step.
//!
//! It also votes on the bridge's transaction proposals: the signer's independent check
//! (`tapchain_signer::proposal_check`, the `bitcoin` crate) decides approve or reject, and
//! the vote is signed with the custody identity. With `--bitcoind-rpc-url` it reports its
//! own Bitcoin node's fee estimate to the bridge every [`FEE_REPORT_INTERVAL_BLOCKS`], and
//! refuses a proposal whose fee rate is far from that estimate.
//!
//! Once a key epoch is retired in a finalized block (its funds have moved), the worker
//! deletes its key share from the signer's key store.

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use codec::{Decode, Encode};
use futures::StreamExt;
use sc_client_api::BlockchainEvents;
use sc_transaction_pool_api::{
	error::{Error as PoolError, IntoPoolError},
	TransactionPool, TransactionSource,
};
use sp_api::ProvideRuntimeApi;
use sp_consensus_aura::sr25519::{AuthorityId as AuraId, AuthoritySignature as AuraSignature};
use sp_core::crypto::key_types::AURA;
use sp_keystore::KeystorePtr;
use sp_runtime::{
	traits::{Block as BlockT, Header as _},
	transaction_validity::InvalidTransaction,
};
use substrate_prometheus_endpoint::{
	register, Counter, CounterVec, Gauge, Opts, PrometheusError, Registry, U64,
};
use tapchain_primitives::custody::{CustodyMessage, CustodyTask};
use tapchain_runtime::{opaque::Block, AccountId, RuntimeCall};
use tapchain_signer::{SignedMessage, Signer, SignerError};

use pallet_btc_bridge::{runtime_api::BtcBridgeApi, ProposalStatus};
use pallet_btc_custody::runtime_api::BtcCustodyApi;
use tapchain_bitcoind::BitcoindClient;
use tapchain_primitives::bridge::{BridgeMessage, FeeRateReport, ProposalVote};
use tapchain_signer::proposal_check::check_proposal;

use crate::service::FullClient;

const LOG_TARGET: &str = "custody";

/// A task that was answered is not answered again for this many blocks (the pool or the
/// next block takes it in the meantime).
const RESUBMIT_AFTER_BLOCKS: u32 = 5;

/// Longest wait for the transaction pool to take in a new best block before submitting.
const POOL_SYNC_TIMEOUT: Duration = Duration::from_secs(2);

/// Wait after a new best block before submitting what it asks for, so that the other
/// validators have imported the block too. A message gossiped to a node that has not yet
/// seen the block refers to a session it does not know: its pool refuses it as stale and
/// bans it, and if that node authors next, the message misses the block.
const SUBMIT_DELAY: Duration = Duration::from_millis(1_000);

/// What the pool did with a submitted message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Submission {
	Accepted,
	/// The same message is in the pool already.
	AlreadyInPool,
	/// Refused; `retry` when the refusal may be the pool's view lagging behind the chain
	/// (stale or future), so the next block should try again.
	Refused {
		retry: bool,
	},
}

/// A validator with a Bitcoin node reports its fee estimate this often.
pub const FEE_REPORT_INTERVAL_BLOCKS: u32 = 10;

/// Confirmation target of the fee estimate, in Bitcoin blocks (about an hour).
const FEE_ESTIMATE_TARGET_BLOCKS: u16 = 6;

struct Metrics {
	messages_submitted: CounterVec<U64>,
	task_failures: CounterVec<U64>,
	registrations: Counter<U64>,
	key_epoch: Gauge<U64>,
}

impl Metrics {
	fn register(registry: &Registry) -> Result<Self, PrometheusError> {
		Ok(Self {
			messages_submitted: register(
				CounterVec::new(
					Opts::new(
						"tapchain_custody_messages_submitted",
						"Custody messages submitted to the pool, by kind",
					),
					&["kind"],
				)?,
				registry,
			)?,
			task_failures: register(
				CounterVec::new(
					Opts::new(
						"tapchain_custody_task_failures",
						"Custody tasks the signer or the pool refused, by kind",
					),
					&["kind"],
				)?,
				registry,
			)?,
			registrations: register(
				Counter::new(
					"tapchain_custody_registrations",
					"Custody key registrations submitted",
				)?,
				registry,
			)?,
			key_epoch: register(
				Gauge::new(
					"tapchain_custody_key_epoch",
					"Index of the current custody key epoch (0 = none yet or the first)",
				)?,
				registry,
			)?,
		})
	}
}

fn message_kind(message: &CustodyMessage) -> &'static str {
	match message {
		CustodyMessage::DkgCommitment(_) => "dkg_commitment",
		CustodyMessage::DkgShares(_) => "dkg_shares",
		CustodyMessage::DkgComplaint(_) => "dkg_complaint",
		CustodyMessage::DkgKeyAttestation(_) => "dkg_attestation",
		CustodyMessage::SigningCommitment(_) => "signing_commitment",
		CustodyMessage::SignatureShares(_) => "signature_shares",
	}
}

fn task_kind(task: &CustodyTask) -> &'static str {
	match task {
		CustodyTask::DkgCommit { .. } => "dkg_commit",
		CustodyTask::DkgShare { .. } => "dkg_share",
		CustodyTask::DkgFinish { .. } => "dkg_finish",
		CustodyTask::SigningCommit { .. } => "signing_commit",
		CustodyTask::SigningShare { .. } => "signing_share",
	}
}

/// What identifies a task for de-duplication: its kind and protocol ids.
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

fn custody_call(signed: SignedMessage) -> RuntimeCall {
	RuntimeCall::BtcCustody(pallet_btc_custody::Call::from_message(
		signed.message,
		signed.signature,
	))
}

/// The custody worker of one validator node.
pub struct CustodyWorker<P> {
	client: Arc<FullClient>,
	pool: Arc<P>,
	keystore: KeystorePtr,
	signer_dir: PathBuf,
	metrics: Option<Metrics>,
	/// Task key -> block number it was last answered at.
	answered: HashMap<Vec<u8>, u32>,
	/// Block number the last registration was submitted at.
	registered_at: Option<u32>,
	/// Bridge proposal -> block number this node last voted on it at.
	voted: HashMap<u64, u32>,
	/// This validator's own Bitcoin node, for fee estimates.
	bitcoind: Option<BitcoindClient>,
	/// Block number of the last fee report.
	fee_reported_at: Option<u32>,
	/// This validator's Bitcoin node's latest fee estimate, sat/vB.
	fee_estimate: Option<u64>,
	/// Block number retired key shares were last looked for at.
	shares_pruned_at: Option<u32>,
}

/// Retired key epochs' shares are looked for (and deleted) this often.
const SHARE_PRUNING_INTERVAL_BLOCKS: u32 = 10;

impl<P> CustodyWorker<P>
where
	P: TransactionPool<Block = Block> + 'static,
{
	pub fn new(
		client: Arc<FullClient>,
		pool: Arc<P>,
		keystore: KeystorePtr,
		signer_dir: PathBuf,
		bitcoind: Option<BitcoindClient>,
		registry: Option<&Registry>,
	) -> Self {
		let metrics = registry.and_then(|r| {
			Metrics::register(r)
				.map_err(|e| log::warn!(target: LOG_TARGET, "Custody metrics not registered: {e}"))
				.ok()
		});
		Self {
			client,
			pool,
			keystore,
			signer_dir,
			metrics,
			answered: HashMap::new(),
			registered_at: None,
			voted: HashMap::new(),
			bitcoind,
			fee_reported_at: None,
			fee_estimate: None,
			shares_pruned_at: None,
		}
	}

	/// Runs until the node stops.
	pub async fn run(mut self) {
		let genesis: [u8; 32] =
			sc_client_api::HeaderBackend::info(&*self.client).genesis_hash.into();
		let mut signer = match Signer::open(&self.signer_dir, genesis) {
			Ok(signer) => signer,
			Err(e) => {
				log::error!(target: LOG_TARGET, "Custody signer not started: {e}");
				return;
			},
		};
		log::info!(
			target: LOG_TARGET,
			"Custody signer identity {} (key store {})",
			hex_bytes(&signer.identity().0),
			self.signer_dir.display()
		);
		let mut imports = self.client.import_notification_stream();
		while let Some(notification) = imports.next().await {
			// Only the newest best block matters (during a sync, or while this loop waited
			// for an earlier one, several arrive at once).
			if !notification.is_new_best
				|| sc_client_api::HeaderBackend::info(&*self.client).best_hash != notification.hash
			{
				continue;
			}
			let number = *notification.header.number();
			self.on_best_block(&mut signer, notification.hash, number).await;
		}
	}

	async fn on_best_block(
		&mut self,
		signer: &mut Signer,
		at: <Block as BlockT>::Hash,
		number: u32,
	) {
		let api = self.client.runtime_api();
		let Some((session_key, validator)) =
			self.keystore.sr25519_public_keys(AURA).into_iter().map(AuraId::from).find_map(|key| {
				api.validator_of_session_key(at, key.encode())
					.ok()
					.flatten()
					.map(|validator| (key, validator))
			})
		else {
			return;
		};
		if let (Some(metrics), Ok(Some((index, _, _)))) =
			(&self.metrics, api.current_custody_key(at))
		{
			metrics.key_epoch.set(index as u64);
		}

		let registered = api.registration(at, validator.clone()).ok().flatten();
		let current = (signer.identity(), signer.encryption_key(), session_key.encode());
		if registered.as_ref() != Some(&current) {
			if self.registered_at.is_none_or(|n| number >= n + RESUBMIT_AFTER_BLOCKS) {
				self.registered_at = Some(number);
				self.register(signer, &session_key, validator.clone(), at).await;
			}
			return;
		}

		// The pool validates against the blocks it has processed: wait until it has this one
		// and the other validators have imported it (see `SUBMIT_DELAY`).
		let _ = self.pool.ready_at_with_timeout(at, POOL_SYNC_TIMEOUT).await;
		tokio::time::sleep(SUBMIT_DELAY).await;

		let tasks = match api.pending_tasks(at, validator.clone()) {
			Ok(tasks) => tasks,
			Err(e) => {
				log::warn!(target: LOG_TARGET, "Custody tasks unavailable at #{number}: {e}");
				return;
			},
		};
		self.vote_on_bridge_proposal(signer, &validator, at, number).await;
		self.report_fee_rate(signer, at, number).await;
		self.delete_retired_key_shares(signer, number);
		self.answered.retain(|_, n| number < *n + RESUBMIT_AFTER_BLOCKS);
		for task in tasks {
			let key = task_key(&task);
			if self.answered.contains_key(&key) {
				continue;
			}
			self.answered.insert(key.clone(), number);
			let kind = task_kind(&task);
			match signer.handle_task(&task) {
				Ok(signed) => {
					let message_kind = message_kind(&signed.message);
					log::info!(target: LOG_TARGET, "Custody: {kind} at #{number} -> submitting {message_kind}");
					let submission = self.submit(custody_call(signed), message_kind, at).await;
					if submission == (Submission::Refused { retry: true }) {
						self.answered.remove(&key);
					}
				},
				Err(
					e @ (SignerError::NoncesAlreadyCommitted { .. } | SignerError::NoNonces { .. }),
				) => {
					// A restart (or a re-org) abandoned the attempt; the chain's timeout starts
					// a new one.
					log::info!(target: LOG_TARGET, "Custody: {kind} at #{number} skipped: {e}");
				},
				Err(e) => {
					log::warn!(target: LOG_TARGET, "Custody: {kind} at #{number} failed: {e}");
					if let Some(m) = &self.metrics {
						m.task_failures.with_label_values(&[kind]).inc();
					}
				},
			}
		}
	}

	/// Checks the bridge proposal being voted on (if this validator has not voted) and votes.
	async fn vote_on_bridge_proposal(
		&mut self,
		signer: &Signer,
		validator: &AccountId,
		at: <Block as BlockT>::Hash,
		number: u32,
	) {
		let api = self.client.runtime_api();
		let Ok(Some((proposal_id, proposal))) = api.active_proposal(at) else { return };
		// Votes count until the window closes, even after the decision: a validator that
		// never votes within it is reported silent.
		let voting_blocks = <<tapchain_runtime::Runtime as pallet_btc_bridge::Config>::VotingBlocks as sp_core::Get<u32>>::get();
		let window_end = proposal.created_at.saturating_add(voting_blocks);
		let window_open =
			matches!(proposal.status, ProposalStatus::Voting { .. }) || number <= window_end;
		if !window_open || api.ballot(at, proposal_id, validator.clone()).ok().flatten().is_some() {
			return;
		}
		self.voted.retain(|_, n| number < *n + RESUBMIT_AFTER_BLOCKS);
		if self.voted.contains_key(&proposal_id) {
			return;
		}
		let Ok(Some(check)) = api.proposal_check(at, proposal_id) else { return };
		let verdict = check_proposal(&check, self.fee_estimate);
		let approve = verdict.is_ok();
		match &verdict {
			Ok(()) => log::info!(
				target: LOG_TARGET,
				"Bridge: proposal {proposal_id} (txid {}) checks out: approving",
				proposal.txid.to_display_hex()
			),
			Err(reason) => log::warn!(
				target: LOG_TARGET,
				"Bridge: proposal {proposal_id} (txid {}) rejected: {reason}",
				proposal.txid.to_display_hex()
			),
		}
		let vote = ProposalVote {
			proposal_id,
			txid: proposal.txid.0,
			voter: signer.identity().0,
			approve,
		};
		let signature = signer.sign_bridge_message(&BridgeMessage::ProposalVote(vote.clone()));
		let call =
			RuntimeCall::BtcBridge(pallet_btc_bridge::Call::vote_on_proposal { vote, signature });
		let kind = if approve { "bridge_approve" } else { "bridge_reject" };
		if self.submit(call, kind, at).await != (Submission::Refused { retry: true }) {
			self.voted.insert(proposal_id, number);
		}
	}

	/// Every [`FEE_REPORT_INTERVAL_BLOCKS`], asks the validator's Bitcoin node for its fee
	/// estimate and reports it to the bridge.
	async fn report_fee_rate(&mut self, signer: &Signer, at: <Block as BlockT>::Hash, number: u32) {
		let Some(bitcoind) = self.bitcoind.clone() else { return };
		if self.fee_reported_at.is_some_and(|n| number < n + FEE_REPORT_INTERVAL_BLOCKS) {
			return;
		}
		self.fee_reported_at = Some(number);
		// The call blocks (up to its 10 s timeout): off the async executor.
		let estimate = tokio::task::spawn_blocking(move || {
			bitcoind.estimate_fee_rate_sat_per_vb(FEE_ESTIMATE_TARGET_BLOCKS)
		})
		.await;
		let sat_per_vbyte = match estimate {
			Ok(Ok(rate)) => {
				self.fee_estimate = Some(rate);
				rate
			},
			Ok(Err(e)) => {
				log::warn!(target: LOG_TARGET, "Bridge: no fee estimate from bitcoind: {e}");
				if let Some(m) = &self.metrics {
					m.task_failures.with_label_values(&["fee_rate_report"]).inc();
				}
				return;
			},
			Err(e) => {
				log::warn!(target: LOG_TARGET, "Bridge: fee estimate task failed: {e}");
				return;
			},
		};
		let report =
			FeeRateReport { reporter: signer.identity().0, sat_per_vbyte, at_block: number };
		let signature = signer.sign_bridge_message(&BridgeMessage::FeeRateReport(report.clone()));
		log::info!(target: LOG_TARGET, "Bridge: reporting a fee rate of {sat_per_vbyte} sat/vB at #{number}");
		let call =
			RuntimeCall::BtcBridge(pallet_btc_bridge::Call::report_fee_rate { report, signature });
		self.submit(call, "fee_rate_report", at).await;
	}

	/// Every [`SHARE_PRUNING_INTERVAL_BLOCKS`], deletes the key shares of the epochs retired in
	/// the finalized chain (a best block's retirement could still be reverted).
	fn delete_retired_key_shares(&mut self, signer: &mut Signer, number: u32) {
		if self.shares_pruned_at.is_some_and(|n| number < n + SHARE_PRUNING_INTERVAL_BLOCKS) {
			return;
		}
		self.shares_pruned_at = Some(number);
		let finalized = sc_client_api::HeaderBackend::info(&*self.client).finalized_hash;
		let retired = match self.client.runtime_api().retired_key_dkg_ids(finalized) {
			Ok(retired) => retired,
			Err(e) => {
				log::warn!(target: LOG_TARGET, "Custody: retired keys unavailable: {e}");
				return;
			},
		};
		for dkg_id in retired {
			match signer.delete_key_share(dkg_id) {
				Ok(true) => {
					log::info!(target: LOG_TARGET, "Custody: deleted the key share of retired DKG {dkg_id}")
				},
				Ok(false) => {},
				Err(e) => {
					log::warn!(target: LOG_TARGET, "Custody: key share of DKG {dkg_id} not deleted: {e}")
				},
			}
		}
	}

	async fn register(
		&self,
		signer: &Signer,
		session_key: &AuraId,
		validator: AccountId,
		at: <Block as BlockT>::Hash,
	) {
		let nonce = match self.client.runtime_api().next_registration_nonce(at, validator.clone()) {
			Ok(nonce) => nonce,
			Err(e) => {
				log::warn!(target: LOG_TARGET, "Custody registration nonce unavailable: {e}");
				return;
			},
		};
		let (payload, identity_signature) = signer.registration(validator, nonce);
		let signature = match self.keystore.sr25519_sign(
			AURA,
			session_key.as_ref(),
			&payload.encode(),
		) {
			Ok(Some(signature)) => AuraSignature::from(signature),
			other => {
				log::warn!(target: LOG_TARGET, "Custody registration not signed by the session key: {other:?}");
				return;
			},
		};
		let call = RuntimeCall::BtcCustody(pallet_btc_custody::Call::register_custody_keys {
			payload,
			session_key: session_key.clone(),
			session_signature: signature,
			identity_signature,
		});
		log::info!(target: LOG_TARGET, "Custody: registering identity {}", hex_bytes(&signer.identity().0));
		if self.submit(call, "registration", at).await == Submission::Accepted {
			if let Some(m) = &self.metrics {
				m.registrations.inc();
			}
		}
	}

	async fn submit(
		&self,
		call: RuntimeCall,
		kind: &str,
		at: <Block as BlockT>::Hash,
	) -> Submission {
		let xt: tapchain_runtime::UncheckedExtrinsic =
			sp_runtime::generic::UncheckedExtrinsic::new_bare(call).into();
		let opaque = match <Block as BlockT>::Extrinsic::decode(&mut &xt.encode()[..]) {
			Ok(opaque) => opaque,
			Err(e) => {
				log::error!(target: LOG_TARGET, "Custody {kind} does not encode as an extrinsic: {e}");
				return Submission::Refused { retry: false };
			},
		};
		match self.pool.submit_one(at, TransactionSource::Local, opaque).await {
			Ok(_) => {
				if let Some(m) = &self.metrics {
					m.messages_submitted.with_label_values(&[kind]).inc();
				}
				Submission::Accepted
			},
			Err(e) => match e.into_pool_error() {
				// Submitted before and not in a block yet: nothing lost.
				Ok(PoolError::AlreadyImported(_) | PoolError::TemporarilyBanned) => {
					log::debug!(target: LOG_TARGET, "Custody {kind} is already in the pool");
					Submission::AlreadyInPool
				},
				error => {
					let retry = matches!(
						error,
						Ok(PoolError::InvalidTransaction(
							InvalidTransaction::Stale | InvalidTransaction::Future
						))
					);
					let error = error.map_or_else(|e| e.to_string(), |e| format!("{e:?}"));
					log::warn!(target: LOG_TARGET, "Custody {kind} refused by the pool: {error}");
					if let Some(m) = &self.metrics {
						m.task_failures.with_label_values(&[kind]).inc();
					}
					Submission::Refused { retry }
				},
			},
		}
	}
}

fn hex_bytes(bytes: &[u8]) -> String {
	bytes.iter().map(|b| format!("{b:02x}")).collect()
}

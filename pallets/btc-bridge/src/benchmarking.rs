//! Benchmarks of `pallet-btc-bridge`: a deposit proof, a theft proof with its slashing,
//! building a payout proposal for `n` withdrawals from `u` bridge UTXOs, the deciding vote of
//! `n` validators (approval opens signing, rejection queues the requests again), and closing a
//! voting window of `v` voters and `s` silent validators.

use super::*;
use crate::Pallet as BtcBridge;
use alloc::{vec, vec::Vec};
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{Get, Hooks},
	BoundedVec,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use pallet_btc_light_client::{test_utils::*, MerkleProof};
use tapchain_primitives::{
	bitcoin::{
		address::p2tr_script_pubkey, merkle::merkle_branch, merkle_root, BitcoinAddress, BlockHash,
		BlockHeader, Network, OutPoint, Transaction, TxIn, TxMerkleNode, TxOut, Txid,
	},
	bridge::{DepositRecipient, ProposalVote},
	custody::AuthSignature,
};

/// What the benchmarks need from the runtime: a custody key epoch to pay.
pub trait BenchmarkHelper<AccountId> {
	/// Makes a key epoch current; returns its output key.
	fn set_up_custody_epoch() -> [u8; 32];
	/// Gives `epoch` `members` members, each with bonded stake a theft slashes.
	fn set_up_epoch_members(epoch: u32, members: u32);
	/// Makes `count` accounts the current validators, each with a registered custody
	/// identity; returns them with their identities.
	fn set_up_validators(count: u32) -> Vec<(AccountId, [u8; 32])>;
}

/// Starts the light client and mines `tx` into a block of 2^12 transactions (the last one)
/// with six confirmations; returns its Merkle proof and block hash.
fn confirmed_in_block<T: Config>(tx: &Transaction) -> (MerkleProof, BlockHash) {
	let (genesis, checkpoint) = regtest_checkpoint(1_000, REGTEST_MIN_DIFFICULTY_BITS);
	pallet_btc_light_client::Pallet::<T>::initialize(Network::Regtest, &checkpoint)
		.expect("valid checkpoint");
	RequiredConfirmations::<T>::put(6);
	let mut txids: Vec<Txid> = (0..4096u32)
		.map(|i| {
			let mut id = [0u8; 32];
			id[..4].copy_from_slice(&i.to_le_bytes());
			Txid(id)
		})
		.collect();
	txids[4095] = tx.txid();
	let block = mine(BlockHeader {
		version: 4,
		prev_blockhash: genesis.block_hash(),
		merkle_root: merkle_root(&txids).unwrap_or(TxMerkleNode([0; 32])),
		time: genesis.time + 1,
		bits: REGTEST_MIN_DIFFICULTY_BITS,
		nonce: 0,
	});
	// Five more headers for six confirmations, one second apart (a benchmark's clock is at
	// 0, and headers may be at most 2 hours ahead of it).
	let mut headers = vec![block];
	for _ in 0..5 {
		let parent = *headers.last().unwrap();
		headers.push(child(&parent, 1, REGTEST_MIN_DIFFICULTY_BITS, 3));
	}
	let relayer: T::AccountId = account("relayer", 0, 0);
	pallet_btc_light_client::Pallet::<T>::submit_headers(
		RawOrigin::Signed(relayer).into(),
		headers.try_into().expect("six headers fit a submission"),
	)
	.expect("valid headers");
	let proof = MerkleProof {
		tx_index: 4095,
		branch: merkle_branch(&txids, 4095).unwrap().try_into().unwrap(),
	};
	(proof, block.block_hash())
}

fn deposit_tx(tag: u32, output_key: &[u8; 32], recipient: DepositRecipient) -> Transaction {
	let mut txid = [0u8; 32];
	txid[..4].copy_from_slice(&tag.to_le_bytes());
	Transaction {
		version: 2,
		inputs: vec![TxIn {
			previous_output: OutPoint { txid: Txid(txid), vout: 0 },
			script_sig: Vec::new(),
			sequence: 0xffff_fffd,
			witness: vec![vec![1; 64]],
		}],
		outputs: vec![
			TxOut { value_sats: 1_000_000, script_pubkey: p2tr_script_pubkey(output_key) },
			TxOut { value_sats: 0, script_pubkey: recipient.memo_script() },
		],
		lock_time: 0,
	}
}

/// Makes a custody epoch current and queues `n` withdrawals the bridge can pay from its
/// `n + u` UTXOs of that epoch (each request needs one of them as an input).
fn queue_withdrawals<T: Config>(n: u32, u: u32) {
	<T as Config>::BenchmarkHelper::set_up_custody_epoch();
	let epoch = *T::Custody::current_epochs().first().expect("the helper made an epoch");
	for i in 0..(n + u) {
		let mut txid = [0u8; 32];
		txid[..4].copy_from_slice(&i.to_le_bytes());
		Utxos::<T>::insert(
			OutPoint { txid: Txid(txid), vout: 0 },
			BridgeUtxo { value_sats: 1_000_000 + i as u64, epoch },
		);
	}
	let owner: T::AccountId = whitelisted_caller();
	let script: BoundedVec<u8, MaxScriptLen> =
		BitcoinAddress::P2wpkh([9; 20]).script_pubkey().try_into().unwrap();
	for id in 1..=n as u64 {
		Withdrawals::<T>::insert(
			id,
			Withdrawal {
				owner: owner.clone(),
				address: BoundedVec::new(),
				script_pubkey: script.clone(),
				amount_sats: 900_000,
				requested_at: BlockNumberFor::<T>::default(),
				status: WithdrawalStatus::Queued,
			},
		);
		BtcBridge::<T>::enqueue(id);
	}
	// The books match what the state holds (UTXOs back the queued requests).
	let held: u64 = Utxos::<T>::iter_values().map(|u| u.value_sats).sum();
	Ledger::<T>::put(BridgeLedger {
		pending_withdrawal_sats: 900_000 * n as u64,
		issued_sats: held - 900_000 * n as u64,
		..Default::default()
	});
}

/// A payout proposal of the most requests, voted on by `n` validators; returns its id and the
/// validators with their custody identities.
fn proposal_with_voters<T: Config>(n: u32) -> (ProposalId, Vec<(T::AccountId, [u8; 32])>) {
	let voters = <T as Config>::BenchmarkHelper::set_up_validators(n);
	queue_withdrawals::<T>(T::MaxWithdrawalsPerProposal::get(), 1);
	BtcBridge::<T>::on_initialize(1u32.into());
	let proposal_id = ActiveProposal::<T>::get().expect("a proposal");
	(proposal_id, voters)
}

/// Records the votes of `voters` as the pallet does.
fn record_votes<T: Config>(
	proposal_id: ProposalId,
	voters: &[(T::AccountId, [u8; 32])],
	ballot: Ballot,
) {
	for (validator, _) in voters {
		ProposalVotes::<T>::insert(proposal_id, validator, ballot);
	}
	Proposals::<T>::mutate(proposal_id, |proposal| {
		let proposal = proposal.as_mut().expect("the proposal exists");
		match ballot {
			Ballot::Approve => proposal.approvals += voters.len() as u32,
			Ballot::Reject => proposal.rejections += voters.len() as u32,
		}
	});
}

/// The vote of `voter` on `proposal_id`.
fn vote_of<T: Config>(proposal_id: ProposalId, voter: [u8; 32], approve: bool) -> ProposalVote {
	let txid = Proposals::<T>::get(proposal_id).expect("the proposal exists").txid.0;
	ProposalVote { proposal_id, txid, voter, approve }
}

#[benchmarks]
mod benchmarks {
	use super::*;

	/// A deposit credited to a native account, proven in a block of 2^12 transactions.
	#[benchmark]
	fn submit_deposit() {
		let output_key = <T as Config>::BenchmarkHelper::set_up_custody_epoch();
		let tx = deposit_tx(1, &output_key, DepositRecipient::Native([7; 32]));
		let (proof, block_hash) = confirmed_in_block::<T>(&tx);
		let caller: T::AccountId = whitelisted_caller();

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), tx.to_bytes(), proof, block_hash);

		assert!(Utxos::<T>::contains_key(OutPoint { txid: tx.txid(), vout: 0 }));
	}

	/// A theft of `i` bridge UTXOs of one key epoch with `m` members, each slashed, proven in
	/// a block of 2^12 transactions.
	#[benchmark]
	fn report_theft(i: Linear<1, MAX_STOLEN_INPUTS>, m: Linear<1, { T::MaxVoters::get() }>) {
		let output_key = <T as Config>::BenchmarkHelper::set_up_custody_epoch();
		let epoch = *T::Custody::current_epochs().first().expect("the helper made an epoch");
		<T as Config>::BenchmarkHelper::set_up_epoch_members(epoch, m);
		let mut inputs = Vec::new();
		for k in 0..i {
			let mut txid = [0xb0; 32];
			txid[..4].copy_from_slice(&k.to_le_bytes());
			let outpoint = OutPoint { txid: Txid(txid), vout: 0 };
			Utxos::<T>::insert(outpoint, BridgeUtxo { value_sats: 1_000_000, epoch });
			inputs.push(TxIn {
				previous_output: outpoint,
				script_sig: Vec::new(),
				sequence: 0xffff_fffd,
				witness: vec![vec![1; 64]],
			});
		}
		Ledger::<T>::put(BridgeLedger { issued_sats: 1_000_000 * i as u64, ..Default::default() });
		let theft = Transaction {
			version: 2,
			inputs,
			outputs: vec![TxOut {
				value_sats: 1_000_000 * i as u64 - 10_000,
				script_pubkey: p2tr_script_pubkey(&output_key),
			}],
			lock_time: 0,
		};
		let (proof, block_hash) = confirmed_in_block::<T>(&theft);
		let caller: T::AccountId = whitelisted_caller();

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), theft.to_bytes(), proof, block_hash);

		assert!(ProvenThefts::<T>::contains_key(theft.txid()));
		assert_eq!(Utxos::<T>::iter().count(), 0);
	}

	/// `on_initialize` building a payout of `n` withdrawals; the bridge holds `n + u` UTXOs
	/// (all are read and sorted) and each request needs one of them as an input (the most
	/// inputs, hence sighashes, a payout of `n` can have).
	#[benchmark]
	fn build_payout_proposal(
		n: Linear<1, { T::MaxWithdrawalsPerProposal::get() }>,
		u: Linear<1, 1_000>,
	) {
		queue_withdrawals::<T>(n, u);
		let now: BlockNumberFor<T> = 1u32.into();

		#[block]
		{
			BtcBridge::<T>::on_initialize(now);
		}

		let proposal = ActiveProposal::<T>::get().expect("a proposal");
		assert_eq!(Proposals::<T>::get(proposal).unwrap().payouts.len() as u32, n);
	}

	/// The approval that decides a payout of the most requests among `n` validators (two
	/// thirds of them less one approved already): it opens custody's signing session.
	#[benchmark]
	fn approve_proposal(n: Linear<3, { T::MaxVoters::get() }>) {
		let (proposal_id, voters) = proposal_with_voters::<T>(n);
		let needed = (n * 2 / 3 + 1) as usize;
		record_votes::<T>(proposal_id, &voters[..needed - 1], Ballot::Approve);
		let vote = vote_of::<T>(proposal_id, voters[needed - 1].1, true);

		#[extrinsic_call]
		vote_on_proposal(RawOrigin::None, vote, AuthSignature([0; 64]));

		let proposal = Proposals::<T>::get(proposal_id).unwrap();
		assert!(!matches!(proposal.status, ProposalStatus::Voting { .. }));
		assert_eq!(proposal.approvals as usize, needed);
	}

	/// The rejection that decides among `n` validators (a third of them rejected already):
	/// the proposal is dropped and its requests are queued again.
	#[benchmark]
	fn reject_proposal(n: Linear<3, { T::MaxVoters::get() }>) {
		let (proposal_id, voters) = proposal_with_voters::<T>(n);
		let rejected = (n / 3) as usize;
		record_votes::<T>(proposal_id, &voters[..rejected], Ballot::Reject);
		let vote = vote_of::<T>(proposal_id, voters[rejected].1, false);

		#[extrinsic_call]
		vote_on_proposal(RawOrigin::None, vote, AuthSignature([0; 64]));

		assert_eq!(Proposals::<T>::get(proposal_id).unwrap().status, ProposalStatus::Rejected);
		assert_eq!(WithdrawalQueue::<T>::count(), T::MaxWithdrawalsPerProposal::get());
	}

	/// Closing a voting window in `on_initialize`: `v` validators voted (their votes are
	/// cleared), `s` never did (reported silent).
	#[benchmark]
	fn close_vote_window(
		v: Linear<0, { T::MaxVoters::get() }>,
		s: Linear<0, { T::MaxVoters::get() }>,
	) {
		let (proposal_id, validators) = proposal_with_voters::<T>(v + s);
		record_votes::<T>(proposal_id, &validators[..v as usize], Ballot::Approve);
		let window_end = VoteWindows::<T>::get(proposal_id).expect("an open window");
		let now = window_end + 1u32.into();

		#[block]
		{
			BtcBridge::<T>::close_vote_windows(now);
		}

		assert!(!VoteWindows::<T>::contains_key(proposal_id));
		assert!(ProposalVotes::<T>::iter_prefix(proposal_id).next().is_none());
	}

	impl_benchmark_test_suite!(BtcBridge, crate::mock::new_bench_ext(), crate::mock::Test);
}

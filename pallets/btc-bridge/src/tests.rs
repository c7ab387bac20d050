#![allow(deprecated)] // `ValidateUnsigned`: see the pallet.

use crate::{mock::*, *};
use bitcoin::hashes::Hash as _;
use frame_support::{
	assert_noop, assert_ok,
	traits::{fungible::Inspect, Hooks},
	BoundedVec,
};
use pallet_btc_light_client::SpvError;
use sp_runtime::{
	traits::ValidateUnsigned,
	transaction_validity::{InvalidTransaction, TransactionSource},
};
use tapchain_primitives::{
	bitcoin::{
		address::p2tr_script_pubkey, AddressError, OutPoint, Transaction, TxIn, TxOut, Txid,
	},
	bridge::{BridgeMessage, DepositRecipient, FeeRateReport, ProposalVote},
	custody::AuthSignature,
	sats_to_base_units,
};

fn run_to_block(n: u64) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		BtcBridge::on_initialize(next);
		BtcBridge::do_try_state().expect("the bridge's invariants hold");
	}
}

fn next_block() {
	run_to_block(System::block_number() + 1);
}

fn bridge_events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|record| match record.event {
			RuntimeEvent::BtcBridge(event) => Some(event),
			_ => None,
		})
		.collect()
}

fn custody_script(epoch: u32) -> Vec<u8> {
	p2tr_script_pubkey(&output_key_of(epoch))
}

/// A transaction from someone's wallet (its input is arbitrary: the light client only
/// proves inclusion).
fn wallet_tx(tag: u8, outputs: Vec<TxOut>) -> Transaction {
	Transaction {
		version: 2,
		inputs: vec![TxIn {
			previous_output: OutPoint { txid: Txid([tag; 32]), vout: 0 },
			script_sig: Vec::new(),
			sequence: 0xffff_fffd,
			witness: vec![vec![tag; 64]],
		}],
		outputs,
		lock_time: 0,
	}
}

fn pay_custody(sats: u64) -> TxOut {
	TxOut { value_sats: sats, script_pubkey: custody_script(0) }
}

fn memo(recipient: DepositRecipient) -> TxOut {
	TxOut { value_sats: 0, script_pubkey: recipient.memo_script() }
}

const ALICE: [u8; 32] = [
	7, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
];
const ALICE_ACCOUNT: u64 = 7;

/// Mines `tx` with `confirmations` and relays the headers; returns the block and proof.
fn confirm(
	chain: &mut BitcoinChain,
	tx: &Transaction,
	confirmations: usize,
) -> (tapchain_primitives::bitcoin::BlockHash, pallet_btc_light_client::MerkleProof) {
	let (block, proofs) = chain.mine_block(&[tx]);
	chain.mine_empty(confirmations - 1);
	chain.relay();
	(block, proofs[0].clone())
}

fn submit_deposit(chain: &mut BitcoinChain, tx: &Transaction) -> sp_runtime::DispatchResult {
	let (block, proof) = confirm(chain, tx, 3);
	BtcBridge::submit_deposit(RuntimeOrigin::signed(99), tx.to_bytes(), proof, block)
}

fn balance(who: u64) -> u128 {
	Balances::balance(&who)
}

fn sign_vote(validator: u64, vote: &ProposalVote) -> AuthSignature {
	let digest = BridgeMessage::ProposalVote(vote.clone()).digest(&BtcBridge::genesis_hash());
	AuthSignature(identity_secret(validator).sign_raw(&digest, &[1; 32]).unwrap().to_bytes())
}

fn vote_of(validator: u64, proposal_id: ProposalId, approve: bool) -> ProposalVote {
	ProposalVote {
		proposal_id,
		txid: Proposals::<Test>::get(proposal_id).unwrap().txid.0,
		voter: identity_of(validator),
		approve,
	}
}

/// Submits a vote or fee report as the pool and the block do: the full check, then
/// dispatch, which must succeed once the check passed (no free block space). Returns what
/// the check refused.
fn submit_unsigned(call: Call<Test>) -> Result<(), sp_runtime::DispatchError> {
	let verified = BtcBridge::verify_bridge_message(&call);
	assert_eq!(
		BtcBridge::validate_unsigned(TransactionSource::External, &call).is_ok(),
		verified.is_ok(),
		"validate_unsigned and the check agree"
	);
	if let Err(error) = verified {
		return Err(error.expect("a bridge message").into());
	}
	use frame_support::traits::UnfilteredDispatchable;
	call.clone()
		.dispatch_bypass_filter(RuntimeOrigin::none())
		.unwrap_or_else(|e| panic!("{call:?} passed the pool's check but failed: {e:?}"));
	Ok(())
}

/// Votes through the pool check and dispatch, as a node's vote arrives.
fn vote(
	validator: u64,
	proposal_id: ProposalId,
	approve: bool,
) -> Result<(), sp_runtime::DispatchError> {
	let vote = vote_of(validator, proposal_id, approve);
	let signature = sign_vote(validator, &vote);
	submit_unsigned(Call::vote_on_proposal { vote, signature })
}

fn address(text: &str) -> BoundedVec<u8, MaxAddressLen> {
	text.as_bytes().to_vec().try_into().unwrap()
}

/// A regtest P2WPKH address made by the `bitcoin` crate.
fn regtest_p2wpkh(seed: u8) -> String {
	let secp = bitcoin::secp256k1::Secp256k1::new();
	let key = bitcoin::secp256k1::SecretKey::from_slice(&[seed; 32]).unwrap();
	let public = bitcoin::CompressedPublicKey(key.public_key(&secp));
	bitcoin::Address::p2wpkh(&public, bitcoin::Network::Regtest).to_string()
}

/// Alice deposits `sats` with a memo naming her native account.
fn fund_alice(chain: &mut BitcoinChain, tag: u8, sats: u64) -> OutPoint {
	let tx = wallet_tx(tag, vec![pay_custody(sats), memo(DepositRecipient::Native(ALICE))]);
	assert_ok!(submit_deposit(chain, &tx));
	OutPoint { txid: tx.txid(), vout: 0 }
}

fn approve_by(validators: &[u64], proposal_id: ProposalId) {
	for validator in validators {
		assert_ok!(vote(*validator, proposal_id, true));
	}
}

/// Bitcoin Core's interpreter (with Taproot rules and every spent output) accepts every
/// input of `signed`.
fn assert_bitcoin_core_accepts(signed: &[u8], prevouts: &[(u64, Vec<u8>)]) {
	let utxos: Vec<bitcoinconsensus::Utxo> = prevouts
		.iter()
		.map(|(value, script)| bitcoinconsensus::Utxo {
			script_pubkey: script.as_ptr(),
			script_pubkey_len: script.len() as u32,
			value: *value as i64,
		})
		.collect();
	for (index, (value, script)) in prevouts.iter().enumerate() {
		bitcoinconsensus::verify_with_flags(
			script,
			*value,
			signed,
			Some(&utxos),
			index,
			bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT,
		)
		.unwrap_or_else(|e| panic!("input {index} refused by Bitcoin Core: {e:?}"));
	}
}

mod deposits {
	use super::*;

	#[test]
	fn a_deposit_is_credited_once_whoever_submits_it() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let tx =
				wallet_tx(1, vec![pay_custody(150_000), memo(DepositRecipient::Native(ALICE))]);
			let (block, proof) = confirm(&mut chain, &tx, 3);
			assert_ok!(BtcBridge::submit_deposit(
				RuntimeOrigin::signed(99),
				tx.to_bytes(),
				proof.clone(),
				block
			));
			assert_eq!(balance(ALICE_ACCOUNT), sats_to_base_units(150_000));
			let outpoint = OutPoint { txid: tx.txid(), vout: 0 };
			assert_eq!(
				Utxos::<Test>::get(outpoint),
				Some(BridgeUtxo { value_sats: 150_000, epoch: 0 })
			);
			assert!(bridge_events().contains(&Event::DepositCredited {
				outpoint,
				account: ALICE_ACCOUNT,
				sats: 150_000,
				epoch: 0
			}));
			// Someone else submits the same proof: refused, nothing changes.
			assert_noop!(
				BtcBridge::submit_deposit(RuntimeOrigin::signed(10), tx.to_bytes(), proof, block),
				Error::<Test>::AlreadyCredited
			);
			assert_eq!(balance(ALICE_ACCOUNT), sats_to_base_units(150_000));
		});
	}

	#[test]
	fn memos_credit_evm_or_native_accounts() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let evm = [0x42u8; 20];
			let tx = wallet_tx(2, vec![memo(DepositRecipient::Evm(evm)), pay_custody(20_000)]);
			assert_ok!(submit_deposit(&mut chain, &tx));
			let evm_account = MockDepositAccounts::evm_account(evm);
			assert_eq!(balance(evm_account), sats_to_base_units(20_000));
			// Two custody outputs in one transaction: both credited to the memo's account.
			let tx = wallet_tx(
				3,
				vec![
					pay_custody(30_000),
					memo(DepositRecipient::Native(ALICE)),
					pay_custody(40_000),
				],
			);
			assert_ok!(submit_deposit(&mut chain, &tx));
			assert_eq!(balance(ALICE_ACCOUNT), sats_to_base_units(70_000));
			assert_eq!(Utxos::<Test>::count(), 3);
		});
	}

	#[test]
	fn deposits_without_a_valid_memo_or_below_the_minimum_are_recorded_unclaimed() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let cases = [
				(wallet_tx(4, vec![pay_custody(50_000)]), UnclaimedReason::NoMemo),
				(
					wallet_tx(
						5,
						vec![
							pay_custody(50_000),
							memo(DepositRecipient::Native(ALICE)),
							memo(DepositRecipient::Evm([1; 20])),
						],
					),
					UnclaimedReason::AmbiguousMemo,
				),
				(
					wallet_tx(
						6,
						vec![
							pay_custody(50_000),
							TxOut { value_sats: 0, script_pubkey: vec![0x6a, 4, b'T', b'C', 1, 2] },
						],
					),
					UnclaimedReason::AmbiguousMemo,
				),
				(
					wallet_tx(7, vec![pay_custody(9_999), memo(DepositRecipient::Native(ALICE))]),
					UnclaimedReason::BelowMinimum,
				),
			];
			let issuance = Balances::total_issuance();
			for (tx, reason) in cases {
				assert_ok!(submit_deposit(&mut chain, &tx));
				let outpoint = OutPoint { txid: tx.txid(), vout: 0 };
				assert_eq!(
					Deposits::<Test>::get(outpoint).unwrap().outcome,
					DepositOutcome::Unclaimed { reason }
				);
				// Not lost: the coins are the bridge's.
				assert!(Utxos::<Test>::contains_key(outpoint));
			}
			assert_eq!(Balances::total_issuance(), issuance, "nothing minted");
			// Governance assigns one later, once.
			let outpoint =
				OutPoint { txid: wallet_tx(4, vec![pay_custody(50_000)]).txid(), vout: 0 };
			assert_noop!(
				BtcBridge::assign_unclaimed_deposit(
					RuntimeOrigin::signed(1),
					outpoint,
					DepositRecipient::Native(ALICE)
				),
				sp_runtime::DispatchError::BadOrigin
			);
			assert_ok!(BtcBridge::assign_unclaimed_deposit(
				RuntimeOrigin::root(),
				outpoint,
				DepositRecipient::Native(ALICE)
			));
			assert_eq!(balance(ALICE_ACCOUNT), sats_to_base_units(50_000));
			assert_noop!(
				BtcBridge::assign_unclaimed_deposit(
					RuntimeOrigin::root(),
					outpoint,
					DepositRecipient::Native(ALICE)
				),
				Error::<Test>::NotUnclaimed
			);
		});
	}

	#[test]
	fn too_few_confirmations_wrong_address_and_malformed_bytes_are_refused() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let tx = wallet_tx(8, vec![pay_custody(50_000), memo(DepositRecipient::Native(ALICE))]);
			let (block, proof) = confirm(&mut chain, &tx, 2);
			assert_noop!(
				BtcBridge::submit_deposit(
					RuntimeOrigin::signed(99),
					tx.to_bytes(),
					proof.clone(),
					block
				),
				Error::<Test>::InvalidProof(SpvError::InsufficientConfirmations)
			);
			chain.mine_empty(1);
			chain.relay();
			assert_ok!(BtcBridge::submit_deposit(
				RuntimeOrigin::signed(99),
				tx.to_bytes(),
				proof,
				block
			));

			// Paying another key is no deposit.
			let elsewhere = wallet_tx(
				9,
				vec![
					TxOut { value_sats: 50_000, script_pubkey: p2tr_script_pubkey(&[0x33; 32]) },
					memo(DepositRecipient::Native(ALICE)),
				],
			);
			let (block, proof) = confirm(&mut chain, &elsewhere, 3);
			assert_noop!(
				BtcBridge::submit_deposit(
					RuntimeOrigin::signed(99),
					elsewhere.to_bytes(),
					proof,
					block
				),
				Error::<Test>::NoCustodyOutput
			);

			// Bytes that do not parse, and a proof for another transaction.
			let good = wallet_tx(10, vec![pay_custody(50_000)]);
			let (block, proof) = confirm(&mut chain, &good, 3);
			let mut bytes = good.to_bytes();
			bytes.truncate(bytes.len() - 1);
			assert_noop!(
				BtcBridge::submit_deposit(RuntimeOrigin::signed(99), bytes, proof.clone(), block),
				Error::<Test>::InvalidProof(SpvError::MalformedTransaction)
			);
			let other = wallet_tx(11, vec![pay_custody(50_000)]);
			assert_noop!(
				BtcBridge::submit_deposit(
					RuntimeOrigin::signed(99),
					other.to_bytes(),
					proof,
					block
				),
				Error::<Test>::InvalidProof(SpvError::MerkleRootMismatch)
			);
		});
	}

	#[test]
	fn a_reorg_that_drops_the_block_before_it_is_confirmed_refuses_the_deposit() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let fork_point = chain.tip;
			let tx =
				wallet_tx(12, vec![pay_custody(80_000), memo(DepositRecipient::Native(ALICE))]);
			let (block, proofs) = chain.mine_block(&[&tx]);
			chain.mine_empty(1);
			chain.relay();
			// A longer branch without the deposit replaces it.
			chain.tip = fork_point;
			chain.mine_empty(4);
			chain.relay();
			assert_noop!(
				BtcBridge::submit_deposit(
					RuntimeOrigin::signed(99),
					tx.to_bytes(),
					proofs[0].clone(),
					block
				),
				Error::<Test>::InvalidProof(SpvError::BlockNotInBestChain)
			);
			assert_eq!(balance(ALICE_ACCOUNT), 0);
		});
	}
}

mod withdrawals {
	use super::*;

	#[test]
	fn requests_are_parsed_for_the_chains_network_burned_and_queued() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			fund_alice(&mut chain, 20, 1_000_000);
			let destination = regtest_p2wpkh(3);
			let amount = sats_to_base_units(100_000);
			assert_ok!(BtcBridge::request_withdrawal(
				RuntimeOrigin::signed(ALICE_ACCOUNT),
				address(&destination),
				amount
			));
			assert_eq!(balance(ALICE_ACCOUNT), sats_to_base_units(900_000));
			let withdrawal = Withdrawals::<Test>::get(1).unwrap();
			assert_eq!(withdrawal.status, WithdrawalStatus::Queued);
			assert_eq!(withdrawal.amount_sats, 100_000);
			let expected: bitcoin::Address<bitcoin::address::NetworkUnchecked> =
				destination.parse().unwrap();
			assert_eq!(
				withdrawal.script_pubkey.to_vec(),
				expected.assume_checked().script_pubkey().to_bytes()
			);
			assert_eq!(BtcBridge::queued_withdrawals(10), vec![1]);
			assert_eq!(Ledger::<Test>::get().pending_withdrawal_sats, 100_000);
			assert_eq!(Ledger::<Test>::get().issued_sats, 900_000);
		});
	}

	#[test]
	fn bad_addresses_and_amounts_are_refused_and_burn_nothing() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			fund_alice(&mut chain, 21, 1_000_000);
			let before = balance(ALICE_ACCOUNT);
			let amount = sats_to_base_units(100_000);
			let request = |text: &str, amount| {
				BtcBridge::request_withdrawal(
					RuntimeOrigin::signed(ALICE_ACCOUNT),
					address(text),
					amount,
				)
			};
			// A mainnet address on a regtest chain.
			assert_noop!(
				request("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", amount),
				Error::<Test>::InvalidAddress(AddressError::WrongNetwork)
			);
			// Testnet bech32 is another network too (regtest uses bcrt).
			assert_noop!(
				request("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", amount),
				Error::<Test>::InvalidAddress(AddressError::WrongNetwork)
			);
			let mut corrupted = regtest_p2wpkh(4);
			let last = corrupted.pop().unwrap();
			corrupted.push(if last == 'q' { 'p' } else { 'q' });
			assert_noop!(
				request(&corrupted, amount),
				Error::<Test>::InvalidAddress(AddressError::InvalidEncoding)
			);
			assert_noop!(
				request("", amount),
				Error::<Test>::InvalidAddress(AddressError::Malformed)
			);
			let good = regtest_p2wpkh(4);
			assert_noop!(request(&good, amount + 1), Error::<Test>::NotWholeSats);
			assert_noop!(
				request(&good, sats_to_base_units(293)),
				Error::<Test>::WithdrawalTooSmall
			);
			// More than was ever bridged in.
			assert_noop!(
				request(&good, sats_to_base_units(2_000_000)),
				Error::<Test>::ExceedsBridgedSupply
			);
			// Account 10 holds BTC that was never bridged (genesis): the bridge pays out only
			// what came in, and Alice's bridged BTC stays withdrawable.
			assert_noop!(
				BtcBridge::request_withdrawal(
					RuntimeOrigin::signed(10),
					address(&good),
					sats_to_base_units(1_000_001)
				),
				Error::<Test>::ExceedsBridgedSupply
			);
			// Everything Alice holds would reap her account: refused, she keeps the minimum.
			assert_noop!(
				request(&good, sats_to_base_units(1_000_000)),
				Error::<Test>::InsufficientBalance
			);
			assert_eq!(balance(ALICE_ACCOUNT), before);
		});
	}

	fn report_call(signer: u64, reporter: u64, at_block: u32, sat_per_vbyte: u64) -> Call<Test> {
		let report = FeeRateReport { reporter: identity_of(reporter), sat_per_vbyte, at_block };
		let digest =
			BridgeMessage::FeeRateReport(report.clone()).digest(&BtcBridge::genesis_hash());
		let signature =
			AuthSignature(identity_secret(signer).sign_raw(&digest, &[2; 32]).unwrap().to_bytes());
		Call::report_fee_rate { report, signature }
	}

	fn report_fee(validator: u64, at_block: u32, sat_per_vbyte: u64) {
		assert_ok!(submit_unsigned(report_call(validator, validator, at_block, sat_per_vbyte)));
	}

	#[test]
	fn the_minimum_follows_the_fee_rate() {
		let (mut ext, _chain) = new_test_ext();
		ext.execute_with(|| {
			let p2wpkh = tapchain_primitives::bitcoin::BitcoinAddress::P2wpkh([1; 20]);
			// 294 dust + 1 sat/vB x (31 vB output + 112 vB shared).
			assert_eq!(BtcBridge::minimum_withdrawal_sats(&p2wpkh), 294 + 31 + 112);
			report_fee(1, 1, 20);
			report_fee(2, 1, 30);
			report_fee(3, 1, 25);
			assert_eq!(BtcBridge::fee_rate(), 25);
			assert_eq!(BtcBridge::minimum_withdrawal_sats(&p2wpkh), 294 + 25 * 143);
		});
	}

	#[test]
	fn fee_rate_needs_two_thirds_of_the_validators_else_the_governed_default() {
		let (mut ext, _chain) = new_test_ext();
		ext.execute_with(|| {
			assert_eq!(BtcBridge::fee_rate(), 1, "no reports: the governed default");
			run_to_block(5);
			// One validator alone (or two of four) sets nothing.
			report_fee(2, 2, 1_000);
			assert_eq!(BtcBridge::fee_rate(), 1, "a single report is not a price");
			report_fee(1, 2, 10);
			assert_eq!(BtcBridge::fee_rate(), 1, "two of four are not two thirds");
			assert_ok!(BtcBridge::set_default_fee_rate(RuntimeOrigin::root(), 8));
			assert_eq!(BtcBridge::fee_rate(), 8);
			report_fee(3, 3, 12);
			assert_eq!(BtcBridge::fee_rate(), 12, "the median of three");
			report_fee(4, 3, 11);
			assert_eq!(BtcBridge::fee_rate(), 12, "upper median of four");
			// The governed default stays within the bounds.
			assert_noop!(
				BtcBridge::set_default_fee_rate(RuntimeOrigin::root(), 501),
				Error::<Test>::InvalidFeeRateBounds
			);
			assert_noop!(
				BtcBridge::set_default_fee_rate(RuntimeOrigin::signed(1), 5),
				sp_runtime::DispatchError::BadOrigin
			);
		});
	}

	#[test]
	fn fee_reports_are_authenticated_fresh_and_rate_limited() {
		let (mut ext, _chain) = new_test_ext();
		ext.execute_with(|| {
			run_to_block(20);
			report_fee(1, 10, 10);
			report_fee(2, 10, 12);
			report_fee(3, 10, 14);
			assert_eq!(BtcBridge::fee_rate(), 12);
			// Replayed, or a newer one within five blocks: no block space for either.
			assert_eq!(
				submit_unsigned(report_call(3, 3, 10, 99)),
				Err(Error::<Test>::StaleReport.into())
			);
			assert_eq!(
				submit_unsigned(report_call(3, 3, 14, 99)),
				Err(Error::<Test>::StaleReport.into())
			);
			// From the future.
			assert_eq!(
				submit_unsigned(report_call(3, 3, 21, 99)),
				Err(Error::<Test>::StaleReport.into())
			);
			// Signed by another identity than the one it names.
			assert_eq!(
				submit_unsigned(report_call(3, 4, 15, 1)),
				Err(Error::<Test>::BadSignature.into())
			);
			// A zero rate; a reporter that is not a validator.
			assert_eq!(
				submit_unsigned(report_call(4, 4, 15, 0)),
				Err(Error::<Test>::InvalidFeeRate.into())
			);
			assert_eq!(
				submit_unsigned(report_call(9, 9, 15, 5)),
				Err(Error::<Test>::NotAValidator.into())
			);
			report_fee(3, 15, 16);
			assert_eq!(BtcBridge::fee_rate(), 12);
			// A validator that left no longer counts: three reports of three validators.
			Validators::set(vec![1, 3, 4]);
			assert_eq!(
				BtcBridge::fee_rate(),
				1,
				"validators 1 and 3 reported: not two thirds of 1, 3, 4"
			);
			report_fee(4, 20, 20);
			assert_eq!(BtcBridge::fee_rate(), 16);
			// Nor does a report older than an hour of blocks.
			System::set_block_number(10 + FEE_REPORT_MAX_AGE_BLOCKS as u64 + 1);
			assert_eq!(BtcBridge::fee_rate(), 1, "only 3's and 4's reports are fresh");
			// Bounds clamp the rate.
			System::set_block_number(25);
			assert_noop!(
				BtcBridge::set_fee_rate_bounds(RuntimeOrigin::root(), 0, 5),
				Error::<Test>::InvalidFeeRateBounds
			);
			assert_ok!(BtcBridge::set_fee_rate_bounds(RuntimeOrigin::root(), 2, 11));
			assert_eq!(BtcBridge::fee_rate(), 11);
		});
	}
}

mod proposals {
	use super::*;

	/// Alice funded with 1 BTC and three queued withdrawals; the proposal is built.
	fn with_queued_withdrawals(chain: &mut BitcoinChain) -> ProposalId {
		fund_alice(chain, 30, 60_000_000);
		fund_alice(chain, 31, 40_000_000);
		for (seed, sats) in [(1u8, 10_000_000u64), (2, 25_000_000), (3, 1_000_000)] {
			assert_ok!(BtcBridge::request_withdrawal(
				RuntimeOrigin::signed(ALICE_ACCOUNT),
				address(&regtest_p2wpkh(seed)),
				sats_to_base_units(sats)
			));
		}
		next_block();
		ActiveProposal::<Test>::get().expect("a proposal was built")
	}

	#[test]
	fn the_same_state_builds_the_same_transaction_bytes() {
		let build = || {
			let (mut ext, mut chain) = new_test_ext();
			ext.execute_with(|| {
				let id = with_queued_withdrawals(&mut chain);
				Proposals::<Test>::get(id).unwrap().unsigned_tx.to_vec()
			})
		};
		let first = build();
		assert_eq!(first, build());
		let tx: bitcoin::Transaction = bitcoin::consensus::deserialize(&first).unwrap();
		// Largest input first covers 36 BTC of requests; three payouts plus change.
		assert_eq!(tx.input.len(), 1);
		assert_eq!(tx.output.len(), 4);
	}

	#[test]
	fn a_payout_goes_from_vote_to_a_transaction_bitcoin_core_accepts_and_is_confirmed() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = with_queued_withdrawals(&mut chain);
			let proposal = Proposals::<Test>::get(id).unwrap();
			assert!(matches!(proposal.status, ProposalStatus::Voting { .. }));
			assert_eq!(proposal.payouts.len(), 3);
			assert!(BtcBridge::queued_withdrawals(10).is_empty());
			assert_eq!(
				Withdrawals::<Test>::get(1).unwrap().status,
				WithdrawalStatus::Proposed { proposal_id: id }
			);

			// 3 of 4 validators needed (floor(2n/3) + 1).
			approve_by(&[1, 2], id);
			assert!(Sessions::get().is_empty());
			approve_by(&[3], id);
			let sessions = Sessions::get();
			assert_eq!(sessions.len(), 1);
			let (epoch, messages, _) = sessions[0].clone().unwrap();
			assert_eq!(
				(epoch, messages),
				(0, proposal.sighashes.to_vec()),
				"custody signs the sighashes"
			);
			// A vote after approval is only recorded (it counts against silence).
			assert_ok!(vote(4, id, true));
			assert_eq!(Sessions::get().len(), 1, "no second signing session");

			sign_pending_sessions();
			next_block();
			let signed = SignedTransactions::<Test>::get(id).expect("signed").to_vec();
			assert!(bridge_events().iter().any(|e| matches!(
				e,
				Event::TransactionSigned { proposal_id, transaction, .. }
					if *proposal_id == id && *transaction == signed
			)));
			let decoded: bitcoin::Transaction = bitcoin::consensus::deserialize(&signed).unwrap();
			assert_eq!(decoded.compute_txid().to_byte_array(), proposal.txid.0);
			let prevouts: Vec<(u64, Vec<u8>)> =
				proposal.inputs.iter().map(|(_, sats, _)| (*sats, custody_script(0))).collect();
			assert_bitcoin_core_accepts(&signed, &prevouts);
			assert_eq!(Sessions::get()[0], None, "custody's session is closed once used");
			// Each payout is the request minus its fee share; the fee is rate x vsize.
			let requested: u64 = [10_000_000u64, 25_000_000, 1_000_000].iter().sum();
			let paid: u64 = proposal.payouts.iter().map(|(_, sats)| sats).sum();
			assert_eq!(requested - paid, proposal.fee_sats);
			assert_eq!(proposal.fee_sats, proposal.vsize * proposal.fee_rate_sat_per_vb);
			assert_eq!(decoded.vsize() as u64, proposal.vsize);

			// The signed transaction is not a deposit, even though its change pays custody.
			let signed_tx = Transaction::from_bytes(&signed).unwrap();
			let (block, proof) = confirm(&mut chain, &signed_tx, 3);
			assert_noop!(
				BtcBridge::submit_deposit(
					RuntimeOrigin::signed(99),
					signed.clone(),
					proof.clone(),
					block
				),
				Error::<Test>::BridgeTransaction
			);
			assert_ok!(BtcBridge::submit_withdrawal_proof(
				RuntimeOrigin::signed(99),
				id,
				signed.clone(),
				proof.clone(),
				block
			));
			for withdrawal in 1..=3 {
				assert_eq!(
					Withdrawals::<Test>::get(withdrawal).unwrap().status,
					WithdrawalStatus::Paid { proposal_id: id, txid: proposal.txid }
				);
			}
			let (change_vout, change_sats, _) = proposal.custody_output.unwrap();
			assert_eq!(change_vout, 3);
			assert!(!Utxos::<Test>::contains_key(proposal.inputs[0].0), "spent input removed");
			assert_eq!(Ledger::<Test>::get().pending_withdrawal_sats, 0);
			assert_eq!(
				Utxos::<Test>::get(OutPoint { txid: proposal.txid, vout: change_vout }),
				Some(BridgeUtxo { value_sats: change_sats, epoch: 0 })
			);
			assert_eq!(ActiveProposal::<Test>::get(), None);
			// Proving it twice does nothing.
			assert_noop!(
				BtcBridge::submit_withdrawal_proof(
					RuntimeOrigin::signed(99),
					id,
					signed,
					proof,
					block
				),
				Error::<Test>::NotAwaitingConfirmation
			);
		});
	}

	#[test]
	fn a_withdrawal_proof_needs_confirmations_and_the_right_transaction() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = with_queued_withdrawals(&mut chain);
			approve_by(&[1, 2, 3], id);
			sign_pending_sessions();
			next_block();
			let signed = SignedTransactions::<Test>::get(id).unwrap().to_vec();
			let signed_tx = Transaction::from_bytes(&signed).unwrap();
			let (block, proof) = confirm(&mut chain, &signed_tx, 2);
			assert_noop!(
				BtcBridge::submit_withdrawal_proof(
					RuntimeOrigin::signed(99),
					id,
					signed.clone(),
					proof,
					block
				),
				Error::<Test>::InvalidProof(SpvError::InsufficientConfirmations)
			);
			let other = wallet_tx(40, vec![pay_custody(1_000)]);
			let (block, proof) = confirm(&mut chain, &other, 3);
			assert_noop!(
				BtcBridge::submit_withdrawal_proof(
					RuntimeOrigin::signed(99),
					id,
					other.to_bytes(),
					proof,
					block
				),
				Error::<Test>::TxidMismatch
			);
		});
	}

	#[test]
	fn votes_are_authenticated_counted_once_and_name_the_exact_transaction() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = with_queued_withdrawals(&mut chain);
			assert_ok!(vote(1, id, true));
			// Replay of the same vote: the pool refuses it as stale.
			let replay = vote_of(1, id, true);
			let signature = sign_vote(1, &replay);
			let call = Call::vote_on_proposal { vote: replay, signature };
			assert_eq!(
				BtcBridge::validate_unsigned(TransactionSource::External, &call),
				Err(InvalidTransaction::Stale.into())
			);
			assert_eq!(submit_unsigned(call), Err(Error::<Test>::AlreadyVoted.into()));
			let with = |vote: ProposalVote, signer: u64| {
				let signature = sign_vote(signer, &vote);
				submit_unsigned(Call::vote_on_proposal { vote, signature })
			};
			// Signed with another validator's identity.
			assert_eq!(with(vote_of(2, id, true), 3), Err(Error::<Test>::BadSignature.into()));
			// For another transaction under the same id.
			let mut wrong = vote_of(2, id, true);
			wrong.txid = [9; 32];
			assert_eq!(with(wrong, 2), Err(Error::<Test>::TxidMismatch.into()));
			// Not a validator (identity 9 is nobody's; 5 is registered but not in the set).
			assert_eq!(with(vote_of(5, id, true), 5), Err(Error::<Test>::NotAValidator.into()));
			let unknown = ProposalVote { proposal_id: id + 1, ..vote_of(1, id, true) };
			assert_eq!(with(unknown, 1), Err(Error::<Test>::UnknownProposal.into()));
			// Signed transactions are not votes.
			assert_noop!(
				BtcBridge::vote_on_proposal(
					RuntimeOrigin::signed(1),
					vote_of(2, id, true),
					sign_vote(2, &vote_of(2, id, true))
				),
				sp_runtime::DispatchError::BadOrigin
			);
		});
	}

	#[test]
	fn more_than_a_third_rejecting_drops_the_proposal_and_requeues_its_requests() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = with_queued_withdrawals(&mut chain);
			assert_ok!(vote(1, id, false));
			assert!(ActiveProposal::<Test>::get().is_some(), "1 of 4 is not more than a third");
			assert_ok!(vote(2, id, false));
			assert_eq!(ActiveProposal::<Test>::get(), None);
			assert_eq!(Proposals::<Test>::get(id).unwrap().status, ProposalStatus::Rejected);
			assert_eq!(BtcBridge::queued_withdrawals(10), vec![1, 2, 3]);
			assert_eq!(Withdrawals::<Test>::get(1).unwrap().status, WithdrawalStatus::Queued);
			assert!(Sessions::get().is_empty(), "nothing signed");
			// A new proposal only after a voting period.
			next_block();
			assert_eq!(ActiveProposal::<Test>::get(), None);
			run_to_block(System::block_number() + VotingBlocks::get());
			let again = ActiveProposal::<Test>::get().expect("rebuilt");
			assert_ne!(again, id);
			assert_eq!(
				Proposals::<Test>::get(again).unwrap().unsigned_tx,
				Proposals::<Test>::get(id).unwrap().unsigned_tx,
				"same state, same transaction"
			);
		});
	}

	#[test]
	fn a_proposal_without_a_decision_expires() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = with_queued_withdrawals(&mut chain);
			assert_ok!(vote(1, id, true));
			run_to_block(System::block_number() + VotingBlocks::get() + 1);
			assert_eq!(Proposals::<Test>::get(id).unwrap().status, ProposalStatus::Expired);
			assert!(bridge_events().contains(&Event::ProposalExpired { proposal_id: id }));
			assert_eq!(BtcBridge::queued_withdrawals(10), vec![1, 2, 3]);
		});
	}

	#[test]
	fn validators_that_never_vote_within_the_window_are_reported_and_late_votes_still_count() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = with_queued_withdrawals(&mut chain);
			let window_end = System::block_number() + VotingBlocks::get();
			approve_by(&[1, 2, 3], id);
			assert_eq!(Sessions::get().len(), 1);
			// Validator 4 votes after the decision: recorded, nothing else happens.
			next_block();
			assert_ok!(vote(4, id, true));
			assert_eq!(Sessions::get().len(), 1, "no second signing session");
			assert_eq!(ProposalVotes::<Test>::get(id, 4), Some(Ballot::Approve));
			assert_eq!(Proposals::<Test>::get(id).unwrap().approvals, 4);
			run_to_block(window_end + 1);
			assert!(SilenceReports::get().is_empty(), "everyone voted in time");
			assert_eq!(VoteWindows::<Test>::iter().count(), 0);
			// The window is closed: a vote now is refused by the pool as stale.
			let late = vote_of(4, id, true);
			let call =
				Call::vote_on_proposal { vote: late.clone(), signature: sign_vote(4, &late) };
			assert_eq!(
				BtcBridge::validate_unsigned(TransactionSource::External, &call),
				Err(InvalidTransaction::Stale.into())
			);
			assert_eq!(submit_unsigned(call), Err(Error::<Test>::NotVoting.into()));
		});

		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = with_queued_withdrawals(&mut chain);
			let window_end = System::block_number() + VotingBlocks::get();
			approve_by(&[1, 2, 3], id);
			run_to_block(window_end);
			assert!(SilenceReports::get().is_empty(), "not before the window closes");
			next_block();
			assert_eq!(SilenceReports::get(), vec![vec![4]], "4 never voted");
			assert!(bridge_events()
				.contains(&Event::VoteSilenceReported { proposal_id: id, validators: vec![4] }));
			run_to_block(window_end + 5);
			assert_eq!(SilenceReports::get().len(), 1, "reported once");
		});
	}

	#[test]
	fn a_thousand_validators_vote_two_thirds_decide_and_the_silent_are_named() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = with_queued_withdrawals(&mut chain);
			let validators: Vec<u64> =
				more_validators(1_000).into_iter().map(|(validator, _)| validator).collect();
			Validators::set(validators.clone());
			MoreIdentities::set(more_validators(1_000));
			let window_end = System::block_number() + VotingBlocks::get();
			// floor(2 * 1000 / 3) + 1 = 667 approvals decide; 300 reject along the way.
			for (index, validator) in validators[..966].iter().enumerate() {
				assert_ok!(vote(*validator, id, index % 3 != 2 || index >= 900));
			}
			let proposal = Proposals::<Test>::get(id).unwrap();
			assert_eq!((proposal.approvals, proposal.rejections), (666, 300));
			assert!(matches!(proposal.status, ProposalStatus::Voting { .. }));
			assert_eq!(
				vote(validators[0], id, true),
				Err(Error::<Test>::AlreadyVoted.into()),
				"one vote per validator"
			);
			assert_ok!(vote(validators[966], id, true));
			let proposal = Proposals::<Test>::get(id).unwrap();
			assert_eq!(proposal.approvals, 667);
			assert_eq!(proposal.status, ProposalStatus::Signing);
			// Late votes are still recorded until the window closes.
			next_block();
			for validator in &validators[967..990] {
				assert_ok!(vote(*validator, id, true));
			}
			assert_eq!(ProposalVotes::<Test>::iter_prefix(id).count(), 990);
			run_to_block(window_end + 1);
			assert_eq!(SilenceReports::get(), vec![validators[990..].to_vec()]);
			assert_eq!(ProposalVotes::<Test>::iter_prefix(id).count(), 0, "votes cleared");
			assert_eq!(Proposals::<Test>::get(id).unwrap().approvals, 690, "the tally stays");
		});
	}

	#[test]
	fn signatures_that_do_not_verify_are_not_used_and_failed_signing_retries() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = with_queued_withdrawals(&mut chain);
			approve_by(&[1, 2, 3], id);
			// Custody returns a garbage signature: the bridge refuses it and asks again.
			Sessions::mutate(|s| s[0].as_mut().unwrap().2 = SigningStatus::Ready(vec![[7; 64]]));
			next_block();
			assert_eq!(SignedTransactions::<Test>::get(id), None);
			assert_eq!(Proposals::<Test>::get(id).unwrap().status, ProposalStatus::Approved);
			next_block();
			assert_eq!(Sessions::get().len(), 2, "a new signing session");
			// That one fails (too few signers): again, for the same messages.
			Sessions::mutate(|s| s[1].as_mut().unwrap().2 = SigningStatus::Failed);
			next_block();
			next_block();
			assert_eq!(Sessions::get().len(), 3);
			assert_eq!(
				Sessions::get()[2].clone().unwrap().1,
				Proposals::<Test>::get(id).unwrap().sighashes.to_vec()
			);
			sign_pending_sessions();
			next_block();
			assert!(SignedTransactions::<Test>::get(id).is_some());
		});
	}

	#[test]
	fn requests_too_small_for_their_fee_share_are_refunded() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			fund_alice(&mut chain, 50, 10_000_000);
			let small = sats_to_base_units(1_000);
			assert_ok!(BtcBridge::request_withdrawal(
				RuntimeOrigin::signed(ALICE_ACCOUNT),
				address(&regtest_p2wpkh(1)),
				small
			));
			assert_ok!(BtcBridge::request_withdrawal(
				RuntimeOrigin::signed(ALICE_ACCOUNT),
				address(&regtest_p2wpkh(2)),
				sats_to_base_units(1_000_000)
			));
			// The fee rate rises before the proposal: 1,000 sats no longer pay their share.
			assert_ok!(BtcBridge::set_fee_rate_bounds(RuntimeOrigin::root(), 50, 100));
			let before = balance(ALICE_ACCOUNT);
			next_block();
			assert_eq!(Withdrawals::<Test>::get(1).unwrap().status, WithdrawalStatus::Refunded);
			assert_eq!(balance(ALICE_ACCOUNT), before + small);
			let id = ActiveProposal::<Test>::get().unwrap();
			assert_eq!(Proposals::<Test>::get(id).unwrap().payouts.len(), 1);
		});
	}
	#[test]
	fn a_request_the_utxos_cannot_pay_waits_without_blocking_and_times_out() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			// 65 deposits of 10,000 sats: 64 inputs at most hold 640,000 sats.
			for tag in 0..65u8 {
				fund_alice(&mut chain, 150u8.wrapping_add(tag), 10_000);
			}
			let request = |seed: u8, sats: u64| {
				assert_ok!(BtcBridge::request_withdrawal(
					RuntimeOrigin::signed(ALICE_ACCOUNT),
					address(&regtest_p2wpkh(seed)),
					sats_to_base_units(sats)
				));
			};
			request(1, 645_000); // more than any transaction can spend
			request(2, 4_000);
			next_block();
			let id = ActiveProposal::<Test>::get().expect("the second request is paid");
			let proposal = Proposals::<Test>::get(id).unwrap();
			assert_eq!(proposal.payouts.iter().map(|p| p.0).collect::<Vec<_>>(), vec![2]);
			assert_eq!(BtcBridge::queued_withdrawals(10), vec![1], "the first still waits");
			confirm_signed_after_approval(&mut chain, id);
			// Not paid within the timeout: refunded, never stuck.
			let before = balance(ALICE_ACCOUNT);
			run_to_block(WithdrawalTimeoutBlocks::get() + 2);
			assert_eq!(Withdrawals::<Test>::get(1).unwrap().status, WithdrawalStatus::Refunded);
			assert_eq!(balance(ALICE_ACCOUNT), before + sats_to_base_units(645_000));
			assert!(bridge_events().contains(&Event::WithdrawalRefunded {
				id: 1,
				owner: ALICE_ACCOUNT,
				sats: 645_000,
				reason: RefundReason::TimedOut
			}));
			assert!(BtcBridge::queued_withdrawals(10).is_empty());
		});
	}

	/// Approves proposal `id`, signs it and confirms it.
	fn confirm_signed_after_approval(chain: &mut BitcoinChain, id: ProposalId) {
		approve_by(&[1, 2, 3], id);
		sign_pending_sessions();
		next_block();
		super::confirm_signed(chain, id);
	}

	#[test]
	fn more_requests_than_one_transaction_pays_all_wait_their_turn() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			fund_alice(&mut chain, 90, 100_000_000);
			// Past any fixed queue length: nothing refuses a request for a full queue.
			for seed in 0..120u64 {
				assert_ok!(BtcBridge::request_withdrawal(
					RuntimeOrigin::signed(ALICE_ACCOUNT),
					address(&regtest_p2wpkh(seed as u8 + 1)),
					sats_to_base_units(100_000 + seed)
				));
			}
			next_block();
			let mut paid = 0;
			while let Some(id) = ActiveProposal::<Test>::get() {
				paid += Proposals::<Test>::get(id).unwrap().payouts.len();
				confirm_signed_after_approval(&mut chain, id);
				next_block();
			}
			assert_eq!(paid, 120);
			assert!(Withdrawals::<Test>::iter()
				.all(|(_, w)| matches!(w.status, WithdrawalStatus::Paid { .. })));
		});
	}

	#[test]
	fn governance_cancels_a_proposal_only_while_no_signature_can_exist() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = with_queued_withdrawals(&mut chain);
			assert_noop!(
				BtcBridge::cancel_proposal(RuntimeOrigin::signed(1), id, false),
				sp_runtime::DispatchError::BadOrigin
			);
			// While voting: requeued.
			assert_ok!(BtcBridge::cancel_proposal(RuntimeOrigin::root(), id, false));
			assert_eq!(Proposals::<Test>::get(id).unwrap().status, ProposalStatus::Cancelled);
			assert_eq!(BtcBridge::queued_withdrawals(10), vec![1, 2, 3]);
			run_to_block(System::block_number() + VotingBlocks::get());
			let id = ActiveProposal::<Test>::get().unwrap();
			approve_by(&[1, 2, 3], id);
			// Signing, no share published yet: cancelled with a refund.
			let before = balance(ALICE_ACCOUNT);
			assert_ok!(BtcBridge::cancel_proposal(RuntimeOrigin::root(), id, true));
			assert_eq!(Sessions::get().last().unwrap(), &None, "custody's session is closed");
			assert_eq!(balance(ALICE_ACCOUNT), before + sats_to_base_units(36_000_000));
			assert!(BtcBridge::queued_withdrawals(10).is_empty());
			// A new set of requests, approved, with shares published: it may be signed
			// off-chain, so it cannot be cancelled.
			for seed in 1..=2u8 {
				assert_ok!(BtcBridge::request_withdrawal(
					RuntimeOrigin::signed(ALICE_ACCOUNT),
					address(&regtest_p2wpkh(seed)),
					sats_to_base_units(1_000_000)
				));
			}
			run_to_block(System::block_number() + VotingBlocks::get());
			let id = ActiveProposal::<Test>::get().unwrap();
			approve_by(&[1, 2, 3], id);
			Sessions::mutate(|s| {
				s.last_mut().unwrap().as_mut().unwrap().2 =
					SigningStatus::Pending { shares_published: true }
			});
			assert_noop!(
				BtcBridge::cancel_proposal(RuntimeOrigin::root(), id, true),
				Error::<Test>::ProposalMayBeSigned
			);
			next_block();
		});
	}

	#[test]
	fn a_transaction_signed_off_chain_is_proven_while_custody_still_signs() {
		// A signer holding every published share (and withholding its own on-chain) can
		// aggregate the signature itself and broadcast: the approved transaction pays exactly
		// what was approved, and its proof completes the withdrawal.
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = with_queued_withdrawals(&mut chain);
			approve_by(&[1, 2, 3], id);
			assert_eq!(Proposals::<Test>::get(id).unwrap().status, ProposalStatus::Signing);
			let proposal = Proposals::<Test>::get(id).unwrap();
			let mut tx = Transaction::from_bytes(&proposal.unsigned_tx).unwrap();
			let key = epoch_key(0).unwrap();
			for (input, sighash) in tx.inputs.iter_mut().zip(&proposal.sighashes) {
				input.witness = vec![key.sign_raw(sighash, &[0; 32]).unwrap().to_bytes().to_vec()];
			}
			let (block, proof) = confirm(&mut chain, &tx, 3);
			assert_ok!(BtcBridge::submit_withdrawal_proof(
				RuntimeOrigin::signed(99),
				id,
				tx.to_bytes(),
				proof,
				block
			));
			assert!(matches!(
				Proposals::<Test>::get(id).unwrap().status,
				ProposalStatus::Confirmed { .. }
			));
			assert_eq!(Sessions::get()[0], None, "custody's session closed");
			next_block();
		});
	}
}

/// Alice burns `sats` of her bridged BTC into the fee reserve.
fn fund_reserve(sats: u64) {
	assert_ok!(BtcBridge::fund_fee_reserve(
		RuntimeOrigin::signed(ALICE_ACCOUNT),
		sats_to_base_units(sats)
	));
}

/// Confirms the signed transaction of proposal `id`.
fn confirm_signed(chain: &mut BitcoinChain, id: ProposalId) {
	let signed = SignedTransactions::<Test>::get(id).expect("signed").to_vec();
	let (block, proof) = confirm(chain, &Transaction::from_bytes(&signed).unwrap(), 3);
	assert_ok!(BtcBridge::submit_withdrawal_proof(
		RuntimeOrigin::signed(99),
		id,
		signed,
		proof,
		block
	));
}

/// Approves, signs and confirms the proposal in flight; returns its id.
fn complete_active_proposal(chain: &mut BitcoinChain) -> ProposalId {
	let id = ActiveProposal::<Test>::get().expect("a proposal in flight");
	approve_by(&[1, 2, 3], id);
	sign_pending_sessions();
	next_block();
	confirm_signed(chain, id);
	id
}

mod rotation {
	use super::*;

	#[test]
	fn a_new_epoch_sweeps_the_old_utxos_then_retires_the_old_key() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			next_block();
			let first = fund_alice(&mut chain, 60, 3_000_000);
			let second = fund_alice(&mut chain, 61, 2_000_000);
			// Custody starts epoch 1; the reserve is empty, so the sweep waits for it.
			Epochs::mutate(|e| e.push((1, [0xe1; 32])));
			next_block();
			assert_eq!(ActiveProposal::<Test>::get(), None);
			let needed = SweepAwaitingReserve::<Test>::get().expect("the sweep waits");
			assert!(bridge_events()
				.contains(&Event::SweepAwaitingReserve { needed_sats: needed, reserve_sats: 0 }));
			fund_reserve(10_000);
			assert_eq!(Ledger::<Test>::get().reserve_sats, 10_000);
			next_block();
			let id = ActiveProposal::<Test>::get().expect("sweep proposed");
			let sweep = Proposals::<Test>::get(id).unwrap();
			assert_eq!(sweep.kind, ProposalKind::Sweep { from_epoch: 0 });
			assert!(sweep.inputs.iter().all(|(_, _, epoch)| *epoch == 0), "the old key signs");
			assert_eq!(sweep.reserve_fee_sats, sweep.fee_sats, "the reserve pays the fee");
			assert_eq!(Ledger::<Test>::get().reserve_committed_sats, sweep.fee_sats);
			let mut spent: Vec<OutPoint> = sweep.inputs.iter().map(|(o, _, _)| *o).collect();
			spent.sort();
			let mut expected = vec![first, second];
			expected.sort();
			assert_eq!(spent, expected);

			// Deposits to the old address are still credited while it is swept.
			let late =
				wallet_tx(62, vec![pay_custody(500_000), memo(DepositRecipient::Native(ALICE))]);
			assert_ok!(submit_deposit(&mut chain, &late));

			approve_by(&[1, 2, 3], id);
			sign_pending_sessions();
			next_block();
			let signed = SignedTransactions::<Test>::get(id).unwrap().to_vec();
			let decoded: bitcoin::Transaction = bitcoin::consensus::deserialize(&signed).unwrap();
			assert_eq!(decoded.output.len(), 1);
			assert_eq!(decoded.output[0].script_pubkey.to_bytes(), custody_script(1));
			let prevouts: Vec<(u64, Vec<u8>)> =
				sweep.inputs.iter().map(|(_, sats, _)| (*sats, custody_script(0))).collect();
			assert_bitcoin_core_accepts(&signed, &prevouts);
			confirm_signed(&mut chain, id);
			assert_eq!(
				Utxos::<Test>::get(OutPoint { txid: sweep.txid, vout: 0 }).unwrap().epoch,
				1
			);
			assert_eq!(Ledger::<Test>::get().reserve_committed_sats, 0);
			// The late deposit is swept next.
			next_block();
			complete_active_proposal(&mut chain);
			// The old key is retired once empty and past its grace period.
			next_block();
			assert_eq!(Retired::get(), Vec::<u32>::new(), "still in its grace period");
			run_to_block(System::block_number() + OldEpochGraceBlocks::get());
			assert_eq!(Retired::get(), vec![0]);
			assert!(bridge_events().contains(&Event::EpochSwept { epoch: 0 }));
			assert!(Utxos::<Test>::iter().all(|(_, utxo)| utxo.epoch == 1));
			// The old address no longer takes deposits.
			let too_late =
				wallet_tx(63, vec![pay_custody(500_000), memo(DepositRecipient::Native(ALICE))]);
			let (block, proof) = confirm(&mut chain, &too_late, 3);
			assert_noop!(
				BtcBridge::submit_deposit(
					RuntimeOrigin::signed(99),
					too_late.to_bytes(),
					proof,
					block
				),
				Error::<Test>::NoCustodyOutput
			);
		});
	}

	#[test]
	fn dust_at_old_addresses_never_pins_an_epoch() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			next_block();
			fund_alice(&mut chain, 64, 3_000_000);
			fund_reserve(50_000);
			// Twenty rotations in a row. After each key's sweep moved everything, its old
			// address is dusted with 300 sats, less than the sweep of it alone would cost: more
			// old keys than any bounded list held, each pinned by dust unless it can move.
			for epoch in 1..=20u32 {
				Epochs::mutate(|e| e.push((epoch, [0xe0 + epoch as u8; 32])));
				next_block();
				while ActiveProposal::<Test>::get().is_some() {
					complete_active_proposal(&mut chain);
					next_block();
				}
				let dust = wallet_tx(
					100 + epoch as u8,
					vec![TxOut { value_sats: 300, script_pubkey: custody_script(epoch - 1) }],
				);
				assert_ok!(submit_deposit(&mut chain, &dust));
				next_block();
				let id = ActiveProposal::<Test>::get().expect("the dust is swept");
				let sweep = Proposals::<Test>::get(id).unwrap();
				assert_eq!(sweep.input_epochs(), vec![epoch - 1, epoch], "topped up");
				complete_active_proposal(&mut chain);
				next_block();
			}
			run_to_block(System::block_number() + OldEpochGraceBlocks::get() + 1);
			// Every old key's dust was swept (topped up with a current UTXO) and every old key
			// retired: nothing held is untracked, nothing tracked is stuck.
			assert_eq!(Retired::get(), (0..20).collect::<Vec<_>>());
			assert!(Utxos::<Test>::iter().all(|(_, utxo)| utxo.epoch == 20));
			let held: u64 = Utxos::<Test>::iter().map(|(_, u)| u.value_sats).sum();
			assert_eq!(held as u128, Ledger::<Test>::get().total_sats());
		});
	}

	#[test]
	fn governance_writes_off_dust_nothing_can_move() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			next_block();
			// Only dust at epoch 0, and nothing at the new key to top it up with.
			let dust = wallet_tx(70, vec![pay_custody(200)]);
			assert_ok!(submit_deposit(&mut chain, &dust));
			Epochs::mutate(|e| e.push((1, [0xe1; 32])));
			run_to_block(System::block_number() + OldEpochGraceBlocks::get() + 2);
			assert_eq!(ActiveProposal::<Test>::get(), None);
			assert!(Retired::get().is_empty(), "it holds something");
			assert_noop!(
				BtcBridge::write_off_drained_epoch(RuntimeOrigin::root(), 1),
				Error::<Test>::EpochNotDrained
			);
			assert_noop!(
				BtcBridge::write_off_drained_epoch(RuntimeOrigin::signed(1), 0),
				sp_runtime::DispatchError::BadOrigin
			);
			assert_ok!(BtcBridge::write_off_drained_epoch(RuntimeOrigin::root(), 0));
			assert_eq!(Retired::get(), vec![0]);
			assert_eq!(Ledger::<Test>::get().unclaimed_sats, 0);
			let outpoint = OutPoint { txid: dust.txid(), vout: 0 };
			assert_eq!(
				Deposits::<Test>::get(outpoint).unwrap().outcome,
				DepositOutcome::WrittenOff
			);
			next_block();
		});
	}
}

#[test]
fn the_books_balance_after_every_kind_of_event() {
	let (mut ext, mut chain) = new_test_ext();
	ext.execute_with(|| {
		let issuance_before = Balances::total_issuance();
		fund_alice(&mut chain, 70, 5_000_000);
		let unclaimed = wallet_tx(71, vec![pay_custody(40_000)]);
		assert_ok!(submit_deposit(&mut chain, &unclaimed));
		assert_ok!(BtcBridge::request_withdrawal(
			RuntimeOrigin::signed(ALICE_ACCOUNT),
			address(&regtest_p2wpkh(9)),
			sats_to_base_units(2_000_000)
		));
		fund_reserve(1_000);
		let ledger = Ledger::<Test>::get();
		assert_eq!(
			ledger,
			BridgeLedger {
				issued_sats: 5_000_000 - 2_000_000 - 1_000,
				pending_withdrawal_sats: 2_000_000,
				unclaimed_sats: 40_000,
				reserve_sats: 1_000,
				reserve_committed_sats: 0,
			}
		);
		let minted = Balances::total_issuance() - issuance_before;
		assert_eq!(minted, sats_to_base_units(ledger.issued_sats));
		assert_eq!(BtcBridge::backing().utxo_sats as u128, ledger.total_sats());
		next_block();
		// The payout in flight, approved: what it takes out is reported as in flight.
		let id = ActiveProposal::<Test>::get().unwrap();
		approve_by(&[1, 2, 3], id);
		let backing = BtcBridge::backing();
		assert_eq!(
			backing.in_flight_outflow_sats,
			Proposals::<Test>::get(id).unwrap().outflow_sats()
		);
		sign_pending_sessions();
		next_block();
		confirm_signed(&mut chain, id);
		let ledger = Ledger::<Test>::get();
		assert_eq!(ledger.pending_withdrawal_sats, 0);
		let held: u64 = Utxos::<Test>::iter().map(|(_, u)| u.value_sats).sum();
		assert_eq!(held as u128, ledger.total_sats());
		next_block();
	});
}

mod validator_check {
	use super::*;
	use tapchain_signer::proposal_check::{check_proposal, Rejection};

	fn honest_payout(chain: &mut BitcoinChain) -> ProposalId {
		fund_alice(chain, 80, 2_900_000);
		fund_alice(chain, 81, 200_000);
		for (seed, sats) in [(1u8, 2_500_000u64), (2, 400_000), (3, 77_777)] {
			assert_ok!(BtcBridge::request_withdrawal(
				RuntimeOrigin::signed(ALICE_ACCOUNT),
				address(&regtest_p2wpkh(seed)),
				sats_to_base_units(sats)
			));
		}
		assert_ok!(BtcBridge::set_fee_rate_bounds(RuntimeOrigin::root(), 7, 100));
		next_block();
		ActiveProposal::<Test>::get().unwrap()
	}

	#[test]
	fn honest_proposals_pass_the_validators_independent_check() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = honest_payout(&mut chain);
			let check = BtcBridge::proposal_check(id).unwrap();
			assert!(check.voting);
			assert_eq!(check.inputs.len(), 2, "both deposits are needed");
			assert_eq!(check_proposal(&check, None), Ok(()));
			// A payout without change (it would be dust).
			let (mut ext, mut chain) = new_test_ext();
			ext.execute_with(|| {
				fund_alice(&mut chain, 82, 1_000_100);
				// Someone else funds the reserve, which pays the 100 sats of dust change.
				let mut other = [0u8; 32];
				other[0] = 8;
				let tx =
					wallet_tx(84, vec![pay_custody(50_000), memo(DepositRecipient::Native(other))]);
				assert_ok!(submit_deposit(&mut chain, &tx));
				assert_ok!(BtcBridge::fund_fee_reserve(
					RuntimeOrigin::signed(8),
					sats_to_base_units(1_000)
				));
				assert_ok!(BtcBridge::request_withdrawal(
					RuntimeOrigin::signed(ALICE_ACCOUNT),
					address(&regtest_p2wpkh(5)),
					sats_to_base_units(1_000_000)
				));
				next_block();
				let id = ActiveProposal::<Test>::get().unwrap();
				let proposal = Proposals::<Test>::get(id).unwrap();
				assert_eq!(proposal.custody_output, None);
				assert_eq!(proposal.reserve_fee_sats, 100, "the reserve pays the dust change");
				assert_eq!(Ledger::<Test>::get().reserve_sats, 900);
				assert_eq!(check_proposal(&BtcBridge::proposal_check(id).unwrap(), None), Ok(()));
			});
			// A sweep.
			let (mut ext, mut chain) = new_test_ext();
			ext.execute_with(|| {
				next_block();
				fund_alice(&mut chain, 83, 700_000);
				fund_reserve(10_000);
				Epochs::mutate(|e| e.push((1, [0xe1; 32])));
				next_block();
				let id = ActiveProposal::<Test>::get().unwrap();
				assert_eq!(check_proposal(&BtcBridge::proposal_check(id).unwrap(), None), Ok(()));
			});
		});
	}

	#[test]
	fn tampered_proposals_are_rejected_with_the_reason() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let id = honest_payout(&mut chain);
			let honest = BtcBridge::proposal_check(id).unwrap();
			let tx = || Transaction::from_bytes(&honest.unsigned_tx).unwrap();

			// Change to someone else's key.
			let mut check = honest.clone();
			let mut stolen = tx();
			stolen.outputs.last_mut().unwrap().script_pubkey =
				p2tr_script_pubkey(&output_key_of(0).map(|b| b ^ 1));
			check.unsigned_tx = stolen.to_bytes();
			assert_eq!(check_proposal(&check, None), Err(Rejection::WrongChange));

			// A payout one sat short of what the rules give.
			let mut check = honest.clone();
			let mut short = tx();
			short.outputs[1].value_sats -= 1;
			check.unsigned_tx = short.to_bytes();
			assert_eq!(check_proposal(&check, None), Err(Rejection::WrongPayout(1)));

			// A payout to another script.
			let mut check = honest.clone();
			let mut redirected = tx();
			redirected.outputs[0].script_pubkey = address(&regtest_p2wpkh(9)).to_vec();
			check.unsigned_tx = redirected.to_bytes();
			assert_eq!(check_proposal(&check, None), Err(Rejection::WrongPayout(0)));

			// A fee rate above the governed maximum.
			let mut check = honest.clone();
			check.fee_rate_sat_per_vb = 101;
			assert_eq!(check_proposal(&check, None), Err(Rejection::FeeRateOutOfBounds(101)));

			// The validator's own Bitcoin node estimates more than twice the proposal's
			// 7 sat/vB: it refuses; within a factor of two it approves. An estimate below the
			// governed minimum (7) counts as the minimum.
			assert_eq!(
				check_proposal(&honest, Some(15)),
				Err(Rejection::FeeRateFarFromEstimate { proposed: 7, estimate: 15 })
			);
			assert_eq!(check_proposal(&honest, Some(14)), Ok(()));
			assert_eq!(check_proposal(&honest, Some(1)), Ok(()));
			// A proposal at 40 sat/vB against an estimate of 19: refused as too high.
			let mut high = honest.clone();
			high.fee_rate_sat_per_vb = 40;
			assert_eq!(
				check_proposal(&high, Some(19)),
				Err(Rejection::FeeRateFarFromEstimate { proposed: 40, estimate: 19 })
			);

			// An input the bridge does not own.
			let mut check = honest.clone();
			check.inputs[1].1 = None;
			assert_eq!(check_proposal(&check, None), Err(Rejection::UnknownInput(1)));

			// An input of a key no longer live.
			let mut check = honest.clone();
			check.epoch_output_keys.clear();
			assert_eq!(check_proposal(&check, None), Err(Rejection::WrongSigningEpoch));

			// Sighashes of another transaction.
			let mut check = honest.clone();
			check.sighashes[0][0] ^= 1;
			assert_eq!(check_proposal(&check, None), Err(Rejection::WrongSighashes));

			// Garbage bytes.
			let mut check = honest.clone();
			check.unsigned_tx.truncate(10);
			assert_eq!(check_proposal(&check, None), Err(Rejection::Undecodable));
		});
	}
}

mod fee_bump {
	use super::*;
	use tapchain_signer::proposal_check::check_proposal;

	/// Three withdrawals paid by a proposal that is approved and signed, bumps after three
	/// light-client blocks, a reserve of 50,000 sats; returns the proposal.
	fn signed_payout(chain: &mut BitcoinChain) -> ProposalId {
		assert_ok!(BtcBridge::set_fee_bump_policy(
			RuntimeOrigin::root(),
			FeeBumpSettings { after_bitcoin_blocks: 3, max_extra_sats: 20_000 }
		));
		fund_alice(chain, 40, 60_000_000);
		fund_reserve(50_000);
		for (seed, sats) in [(1u8, 10_000_000u64), (2, 25_000_000)] {
			assert_ok!(BtcBridge::request_withdrawal(
				RuntimeOrigin::signed(ALICE_ACCOUNT),
				address(&regtest_p2wpkh(seed)),
				sats_to_base_units(sats)
			));
		}
		next_block();
		let id = ActiveProposal::<Test>::get().unwrap();
		approve_by(&[1, 2, 3], id);
		sign_pending_sessions();
		next_block();
		assert_eq!(Proposals::<Test>::get(id).unwrap().status, ProposalStatus::Signed);
		id
	}

	/// Bitcoin moves `blocks` on (without the signed transaction) and the chain one block.
	fn bitcoin_blocks_pass(chain: &mut BitcoinChain, blocks: usize) {
		chain.mine_empty(blocks);
		chain.relay();
		next_block();
	}

	/// Bitcoin blocks after signing at which a transaction is late: its confirmations, then
	/// the three blocks of the policy.
	fn late_after() -> usize {
		RequiredConfirmations::<Test>::get() as usize + 3
	}

	/// The original is late: its confirmations and three Bitcoin blocks later, at 5 sat/vB
	/// instead of 1, the bump is proposed.
	fn bumped(chain: &mut BitcoinChain) -> (ProposalId, ProposalId) {
		let original = signed_payout(chain);
		bitcoin_blocks_pass(chain, late_after() - 1);
		assert_eq!(ActiveProposal::<Test>::get(), Some(original), "not late yet");
		assert_ok!(BtcBridge::set_default_fee_rate(RuntimeOrigin::root(), 5));
		bitcoin_blocks_pass(chain, 1);
		let bump = ActiveProposal::<Test>::get().unwrap();
		assert_ne!(bump, original, "a fee bump is in flight");
		(original, bump)
	}

	#[test]
	fn a_late_transaction_is_replaced_at_a_higher_fee_paid_by_the_reserve() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let (original_id, bump_id) = bumped(&mut chain);
			let original = Proposals::<Test>::get(original_id).unwrap();
			let bump = Proposals::<Test>::get(bump_id).unwrap();
			assert_eq!(bump.kind, ProposalKind::FeeBump { replaces: original_id });
			assert_eq!(original.status, ProposalStatus::Signed, "the original stays provable");
			assert_eq!((&bump.inputs, &bump.payouts), (&original.inputs, &original.payouts));
			assert_eq!(bump.fee_rate_sat_per_vb, 5);
			assert_eq!(bump.fee_sats, 5 * original.vsize);
			let extra = bump.fee_sats - original.fee_sats;
			let (vout, change, epoch) = original.custody_output.unwrap();
			assert_eq!(bump.custody_output, Some((vout, change - extra, epoch)));
			assert_eq!(bump.reserve_fee_sats, original.reserve_fee_sats + extra);
			let ledger = Ledger::<Test>::get();
			assert_eq!(
				(ledger.reserve_sats, ledger.reserve_committed_sats),
				(50_000 - extra, extra)
			);
			assert_eq!(
				Withdrawals::<Test>::get(1).unwrap().status,
				WithdrawalStatus::Proposed { proposal_id: bump_id }
			);
			// Honest validators find it is the original with only its change lowered.
			assert_eq!(
				check_proposal(&BtcBridge::proposal_check(bump_id).unwrap(), Some(5)),
				Ok(())
			);

			approve_by(&[1, 2, 3], bump_id);
			sign_pending_sessions();
			next_block();
			let signed = SignedTransactions::<Test>::get(bump_id).expect("signed").to_vec();
			let prevouts: Vec<(u64, Vec<u8>)> =
				bump.inputs.iter().map(|(_, sats, _)| (*sats, custody_script(0))).collect();
			assert_bitcoin_core_accepts(&signed, &prevouts);

			confirm_signed(&mut chain, bump_id);
			for withdrawal in 1..=2 {
				assert_eq!(
					Withdrawals::<Test>::get(withdrawal).unwrap().status,
					WithdrawalStatus::Paid { proposal_id: bump_id, txid: bump.txid }
				);
			}
			assert_eq!(
				Proposals::<Test>::get(original_id).unwrap().status,
				ProposalStatus::Superseded { confirmed: bump_id }
			);
			assert_eq!(
				Utxos::<Test>::get(OutPoint { txid: bump.txid, vout }),
				Some(BridgeUtxo { value_sats: change - extra, epoch })
			);
			let ledger = Ledger::<Test>::get();
			assert_eq!((ledger.reserve_sats, ledger.reserve_committed_sats), (50_000 - extra, 0));
			assert_eq!(ActiveProposal::<Test>::get(), None);
			next_block();
		});
	}

	#[test]
	fn the_original_confirming_first_ends_the_bump_and_returns_its_extra() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let (original_id, bump_id) = bumped(&mut chain);
			approve_by(&[1, 2, 3], bump_id);
			sign_pending_sessions();
			next_block();
			confirm_signed(&mut chain, original_id);
			let original = Proposals::<Test>::get(original_id).unwrap();
			assert!(matches!(original.status, ProposalStatus::Confirmed { .. }));
			assert_eq!(
				Withdrawals::<Test>::get(1).unwrap().status,
				WithdrawalStatus::Paid { proposal_id: original_id, txid: original.txid }
			);
			assert_eq!(
				Proposals::<Test>::get(bump_id).unwrap().status,
				ProposalStatus::Superseded { confirmed: original_id }
			);
			let ledger = Ledger::<Test>::get();
			assert_eq!((ledger.reserve_sats, ledger.reserve_committed_sats), (50_000, 0));
			assert!(bridge_events().iter().any(|e| matches!(
				e,
				Event::ProposalSuperseded { proposal_id, confirmed }
					if *proposal_id == bump_id && *confirmed == original_id
			)));
			next_block();
		});
	}

	#[test]
	fn a_rejected_bump_leaves_the_original_in_flight_and_a_bump_over_budget_is_reported_once() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let (original_id, bump_id) = bumped(&mut chain);
			assert_ok!(vote(1, bump_id, false));
			assert_ok!(vote(2, bump_id, false));
			assert_eq!(Proposals::<Test>::get(bump_id).unwrap().status, ProposalStatus::Rejected);
			assert_eq!(ActiveProposal::<Test>::get(), Some(original_id));
			assert_eq!(
				Withdrawals::<Test>::get(1).unwrap().status,
				WithdrawalStatus::Proposed { proposal_id: original_id }
			);
			let ledger = Ledger::<Test>::get();
			assert_eq!((ledger.reserve_sats, ledger.reserve_committed_sats), (50_000, 0));

			// The next bump waits the delay again, then the budget stops it (said once).
			assert_ok!(BtcBridge::set_fee_bump_policy(
				RuntimeOrigin::root(),
				FeeBumpSettings { after_bitcoin_blocks: 3, max_extra_sats: 10 }
			));
			bitcoin_blocks_pass(&mut chain, late_after() - 1);
			assert!(!bridge_events().iter().any(|e| matches!(e, Event::FeeBumpBlocked { .. })));
			bitcoin_blocks_pass(&mut chain, 1);
			next_block();
			let blocked: Vec<_> = bridge_events()
				.into_iter()
				.filter(|e| matches!(e, Event::FeeBumpBlocked { .. }))
				.collect();
			assert_eq!(
				blocked,
				vec![Event::FeeBumpBlocked {
					proposal_id: original_id,
					reason: FeeBumpBlocked::OverBudget
				}]
			);
			assert_eq!(ActiveProposal::<Test>::get(), Some(original_id));
			// It is still paid when it confirms.
			confirm_signed(&mut chain, original_id);
			assert_eq!(ActiveProposal::<Test>::get(), None);
		});
	}

	/// A transaction signed before the runtime kept the bump clock (an upgrade) is not bumped
	/// at once: its clock starts at the first block that finds it missing.
	#[test]
	fn a_transaction_signed_without_a_clock_waits_from_when_it_is_found() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let original = signed_payout(&mut chain);
			let signed_at = InFlightSince::<Test>::get().expect("the clock starts at signing");
			InFlightSince::<Test>::kill();
			bitcoin_blocks_pass(&mut chain, late_after());
			assert_eq!(ActiveProposal::<Test>::get(), Some(original), "not bumped at once");
			let found_at = InFlightSince::<Test>::get().expect("the clock starts now");
			assert_eq!(found_at, signed_at + late_after() as u32);
			bitcoin_blocks_pass(&mut chain, late_after() - 1);
			assert_eq!(ActiveProposal::<Test>::get(), Some(original));
			bitcoin_blocks_pass(&mut chain, 1);
			assert_ne!(ActiveProposal::<Test>::get(), Some(original), "bumped once late");
		});
	}
}

mod theft {
	use super::*;
	use frame_support::dispatch::Pays;

	/// A transaction spending `outpoints` to a thief's address, by the key path.
	fn theft_tx(outpoints: &[OutPoint], sats: u64) -> Transaction {
		Transaction {
			version: 2,
			inputs: outpoints
				.iter()
				.map(|outpoint| TxIn {
					previous_output: *outpoint,
					script_sig: Vec::new(),
					sequence: 0xffff_fffd,
					witness: vec![vec![0xee; 64]],
				})
				.collect(),
			outputs: vec![TxOut { value_sats: sats, script_pubkey: vec![0x51, 0x20, 0xaa] }],
			lock_time: 0,
		}
	}

	/// Alice withdraws `sats`; three validators approve and custody signs. Returns the
	/// proposal, signed and in flight.
	fn signed_withdrawal(sats: u64) -> ProposalId {
		assert_ok!(BtcBridge::request_withdrawal(
			RuntimeOrigin::signed(ALICE_ACCOUNT),
			address(&regtest_p2wpkh(1)),
			sats_to_base_units(sats)
		));
		next_block();
		let id = ActiveProposal::<Test>::get().unwrap();
		approve_by(&[1, 2, 3], id);
		sign_pending_sessions();
		next_block();
		assert_eq!(Proposals::<Test>::get(id).unwrap().status, ProposalStatus::Signed);
		id
	}

	/// Mines `tx` with its confirmations, then proves it a theft.
	fn report(chain: &mut BitcoinChain, tx: &Transaction) -> sp_runtime::DispatchResult {
		let (block, proof) = confirm(chain, tx, 3);
		report_mined(tx, proof, block)
	}

	fn report_mined(
		tx: &Transaction,
		proof: pallet_btc_light_client::MerkleProof,
		block: tapchain_primitives::bitcoin::BlockHash,
	) -> sp_runtime::DispatchResult {
		BtcBridge::report_theft(RuntimeOrigin::signed(42), tx.to_bytes(), proof, block)
			.map(|_| ())
			.map_err(|e| e.error)
	}

	/// Mines `tx`, then checks that its proof is refused with `error` and changes nothing.
	fn assert_refused(chain: &mut BitcoinChain, tx: &Transaction, error: Error<Test>) {
		let (block, proof) = confirm(chain, tx, 3);
		assert_noop!(report_mined(tx, proof, block), error);
	}

	#[test]
	fn a_spend_nobody_approved_is_proven_by_anyone_and_slashed_up_to_the_stake_at_risk() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let taken = fund_alice(&mut chain, 50, 40_000_000);
			let kept = fund_alice(&mut chain, 51, 20_000_000);
			assert_eq!(Ledger::<Test>::get().issued_sats, 60_000_000);
			// The members have 30,000,000 sats at stake: 10,000,000 stay short.
			StakeAtRiskSats::set(30_000_000);
			let theft = theft_tx(&[taken], 39_990_000);
			let (block, proof) = confirm(&mut chain, &theft, 3);
			let prove = |who: u64| {
				BtcBridge::report_theft(
					RuntimeOrigin::signed(who),
					theft.to_bytes(),
					proof.clone(),
					block,
				)
				.map(|post| post.pays_fee)
				.map_err(|e| e.error)
			};
			assert_eq!(prove(42), Ok(Pays::No), "free for whoever proves it");
			assert_eq!(Utxos::<Test>::get(taken), None);
			assert!(Utxos::<Test>::get(kept).is_some());
			// Epoch 0's members were slashed for all 40,000,000 sats and had 30,000,000:
			// that much issued BTC is burned, the rest of the theft stays short.
			assert_eq!(TheftSlashes::get(), vec![(0, 40_000_000, 30_000_000)]);
			assert_eq!(TheftShortfall::<Test>::get(), 10_000_000);
			assert_eq!(Ledger::<Test>::get().issued_sats, 30_000_000);
			let record = ProvenThefts::<Test>::get(theft.txid()).unwrap();
			assert_eq!(record.stolen.to_vec(), vec![(taken, 40_000_000, 0)]);
			assert_eq!(record.restored_sats, 30_000_000);
			assert!(bridge_events().contains(&Event::TheftProven {
				txid: theft.txid(),
				stolen_sats: 40_000_000,
				epochs: vec![(0, 40_000_000)],
				ended_proposals: vec![],
				restored_sats: 30_000_000,
			}));
			// The books still add up (`try_state` at every block): the kept UTXO and the
			// shortfall back what is still issued.
			next_block();
			assert_eq!(prove(43), Err(Error::<Test>::TheftAlreadyProven.into()));
			assert_eq!(TheftShortfall::<Test>::get(), 10_000_000);
			assert_eq!(TheftSlashes::get().len(), 1, "slashed once");
		});
	}

	#[test]
	fn a_theft_covered_by_the_stake_leaves_the_backing_whole() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let taken = fund_alice(&mut chain, 56, 40_000_000);
			let kept = fund_alice(&mut chain, 57, 20_000_000);
			let theft = theft_tx(&[taken, kept], 59_990_000);
			assert_ok!(report(&mut chain, &theft));
			// The penalty burns 90,000,000 sats of stake; 60,000,000 of them restore the
			// backing, the rest was nobody's claim on the bridge's coins.
			assert_eq!(TheftSlashes::get(), vec![(0, 60_000_000, 90_000_000)]);
			assert_eq!(TheftShortfall::<Test>::get(), 0, "the backing is whole again");
			assert_eq!(ProvenThefts::<Test>::get(theft.txid()).unwrap().restored_sats, 60_000_000);
			let ledger = Ledger::<Test>::get();
			assert_eq!((ledger.issued_sats, ledger.total_sats()), (0, 0));
			next_block();
		});
	}

	#[test]
	fn the_bridges_own_transactions_and_other_spends_are_not_theft() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let outpoint = fund_alice(&mut chain, 52, 40_000_000);
			// A transaction spending nothing of the bridge's.
			let unrelated = wallet_tx(53, vec![TxOut { value_sats: 5, script_pubkey: vec![0x51] }]);
			assert_refused(&mut chain, &unrelated, Error::<Test>::NotACustodySpend);
			// A script-path spend: the recovery committee's leaf.
			let mut recovery = theft_tx(&[outpoint], 39_990_000);
			recovery.inputs[0].witness = vec![vec![1; 64], vec![0x20; 34], vec![0xc0; 33]];
			assert_refused(&mut chain, &recovery, Error::<Test>::NotAKeyPathSpend);
			// An approved payout's own transaction.
			let id = signed_withdrawal(10_000_000);
			let signed = SignedTransactions::<Test>::get(id).unwrap().to_vec();
			let own = Transaction::from_bytes(&signed).unwrap();
			assert_refused(&mut chain, &own, Error::<Test>::ApprovedTransaction);
			assert_eq!(TheftShortfall::<Test>::get(), 0);
		});
	}

	#[test]
	fn a_theft_of_the_inputs_in_flight_ends_the_proposal_and_its_requests_wait_again() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			let outpoint = fund_alice(&mut chain, 54, 40_000_000);
			let id = signed_withdrawal(10_000_000);
			// A threshold signs away the input of the signed payout instead.
			let theft = theft_tx(&[outpoint], 39_990_000);
			assert_ok!(report(&mut chain, &theft));
			assert_eq!(Proposals::<Test>::get(id).unwrap().status, ProposalStatus::SpentByTheft);
			assert_eq!(ActiveProposal::<Test>::get(), None);
			assert_eq!(Withdrawals::<Test>::get(1).unwrap().status, WithdrawalStatus::Queued);
			assert_eq!(Ledger::<Test>::get().pending_withdrawal_sats, 10_000_000);
			// Nothing left to pay it from: it waits (and times out into a refund, as any).
			next_block();
			assert_eq!(ActiveProposal::<Test>::get(), None);
			// Later coins pay it.
			fund_alice(&mut chain, 55, 30_000_000);
			next_block();
			let next = ActiveProposal::<Test>::get().expect("a new payout");
			assert_eq!(
				Proposals::<Test>::get(next)
					.unwrap()
					.payouts
					.iter()
					.map(|(w, _)| *w)
					.collect::<Vec<_>>(),
				vec![1]
			);
			assert_ne!(next, id);
		});
	}
}

mod vaults {
	use super::*;
	use crate::runtime_api::VaultCapacity;
	use sp_runtime::Perbill;

	/// Two vaults: epoch 0 is vault 0's key, epoch 1 vault 1's.
	fn two_vaults() {
		Epochs::mutate(|e| e.push((1, [0xe1; 32])));
		EpochVaults::set(vec![(1, 1)]);
	}

	/// Alice deposits `sats` to `epoch`'s key.
	fn fund_alice_at(chain: &mut BitcoinChain, tag: u8, sats: u64, epoch: u32) -> OutPoint {
		let pay = TxOut { value_sats: sats, script_pubkey: custody_script(epoch) };
		let tx = wallet_tx(tag, vec![pay, memo(DepositRecipient::Native(ALICE))]);
		assert_ok!(submit_deposit(chain, &tx));
		OutPoint { txid: tx.txid(), vout: 0 }
	}

	fn deposit_epoch() -> u32 {
		BtcBridge::deposit_address().expect("an address").0
	}

	#[test]
	fn deposits_are_pointed_at_the_vault_with_the_most_room_and_credited_at_any_live_key() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			two_vaults();
			BackingStakeSats::set(vec![(0, 1_000_000), (1, 600_000)]);
			next_block();
			assert_eq!(deposit_epoch(), 0, "vault 0 has the most room");
			fund_alice_at(&mut chain, 70, 500_000, 0);
			assert_eq!(deposit_epoch(), 1, "now vault 1 has");
			// A deposit past a vault's capacity is credited all the same.
			let before = balance(ALICE_ACCOUNT);
			fund_alice_at(&mut chain, 71, 800_000, 0);
			assert_eq!(balance(ALICE_ACCOUNT) - before, sats_to_base_units(800_000));
			let key = |epoch| output_key_of(epoch);
			let view = |epoch: u32, capacity_sats, holdings_sats| VaultCapacity {
				epoch,
				output_key: key(epoch),
				address: tapchain_primitives::bitcoin::BitcoinAddress::P2tr(key(epoch))
					.to_address_string(tapchain_primitives::bitcoin::Network::Regtest)
					.into_bytes(),
				capacity_sats,
				holdings_sats,
			};
			assert_eq!(
				BtcBridge::vault_capacities(),
				vec![view(0, 1_000_000, 1_300_000), view(1, 600_000, 0)]
			);
			assert_eq!(deposit_epoch(), 1);

			// Governance lowers what a vault may hold to half its stake.
			assert_noop!(
				BtcBridge::set_vault_capacity_ratio(
					RuntimeOrigin::signed(1),
					Perbill::from_percent(50)
				),
				sp_runtime::DispatchError::BadOrigin
			);
			assert_ok!(BtcBridge::set_vault_capacity_ratio(
				RuntimeOrigin::root(),
				Perbill::from_percent(50)
			));
			assert_eq!(
				BtcBridge::vault_capacities(),
				vec![view(0, 500_000, 1_300_000), view(1, 300_000, 0)]
			);
		});
	}

	#[test]
	fn one_withdrawal_spends_coins_of_two_vaults_each_signing_its_own_inputs() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			two_vaults();
			next_block();
			let from_first = fund_alice_at(&mut chain, 72, 600_000, 0);
			let from_second = fund_alice_at(&mut chain, 73, 600_000, 1);
			assert_ok!(BtcBridge::request_withdrawal(
				RuntimeOrigin::signed(ALICE_ACCOUNT),
				address(&regtest_p2wpkh(9)),
				sats_to_base_units(1_000_000)
			));
			next_block();
			let id = ActiveProposal::<Test>::get().expect("a payout");
			let proposal = Proposals::<Test>::get(id).unwrap();
			let mut spent: Vec<(OutPoint, u32)> =
				proposal.inputs.iter().map(|(o, _, e)| (*o, *e)).collect();
			spent.sort();
			let mut expected = vec![(from_first, 0), (from_second, 1)];
			expected.sort();
			assert_eq!(spent, expected, "both vaults' coins");

			approve_by(&[1, 2, 3], id);
			let sessions: Vec<(u32, Vec<[u8; 32]>)> =
				Sessions::get().into_iter().flatten().map(|(e, m, _)| (e, m)).collect();
			assert_eq!(sessions.len(), 2, "one signing session per vault");
			for (epoch, messages) in &sessions {
				let own: Vec<[u8; 32]> = proposal
					.inputs
					.iter()
					.zip(&proposal.sighashes)
					.filter(|((_, _, e), _)| e == epoch)
					.map(|(_, sighash)| *sighash)
					.collect();
				assert_eq!(messages, &own, "epoch {epoch} signs its own inputs only");
			}
			sign_pending_sessions();
			next_block();
			let signed = SignedTransactions::<Test>::get(id).expect("signed").to_vec();
			let prevouts: Vec<(u64, Vec<u8>)> =
				proposal.inputs.iter().map(|(_, sats, e)| (*sats, custody_script(*e))).collect();
			assert_bitcoin_core_accepts(&signed, &prevouts);
			// Change goes to the vault with the most room (equal here: the first).
			let (vout, change_sats, change_epoch) = proposal.custody_output.expect("change");
			assert_eq!(change_epoch, 0);
			let decoded: bitcoin::Transaction = bitcoin::consensus::deserialize(&signed).unwrap();
			assert_eq!(decoded.output[vout as usize].script_pubkey.to_bytes(), custody_script(0));
			assert_eq!(decoded.output[vout as usize].value.to_sat(), change_sats);
			confirm_signed(&mut chain, id);
			assert!(matches!(
				Withdrawals::<Test>::get(1).unwrap().status,
				WithdrawalStatus::Paid { proposal_id, .. } if proposal_id == id
			));
		});
	}

	#[test]
	fn a_vault_over_its_capacity_gives_its_smallest_coins_to_the_vault_with_room() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			two_vaults();
			BackingStakeSats::set(vec![(0, 1_000_000), (1, 2_000_000)]);
			next_block();
			// Deposits to a stale address put vault 0 500,000 sats over its 1,000,000.
			fund_alice_at(&mut chain, 76, 800_000, 0);
			let small = fund_alice_at(&mut chain, 77, 700_000, 0);
			// Without a reserve for the fee nothing moves.
			next_block();
			assert_eq!(ActiveProposal::<Test>::get(), None);
			fund_reserve(10_000);
			next_block();
			let id = ActiveProposal::<Test>::get().expect("a rebalance");
			let proposal = Proposals::<Test>::get(id).unwrap();
			assert_eq!(proposal.kind, ProposalKind::Rebalance { from_epoch: 0, to_epoch: 1 });
			assert_eq!(
				proposal.inputs.iter().map(|(o, _, e)| (*o, *e)).collect::<Vec<_>>(),
				vec![(small, 0)],
				"the smallest coin that covers the excess"
			);
			assert_eq!(proposal.reserve_fee_sats, proposal.fee_sats, "the reserve pays the fee");
			let (_, moved_sats, to) = proposal.custody_output.unwrap();
			assert_eq!((moved_sats, to), (700_000 - proposal.fee_sats, 1));
			complete_active_proposal(&mut chain);
			let capacities = BtcBridge::vault_capacities();
			assert_eq!(capacities[0].holdings_sats, 800_000);
			assert_eq!(capacities[1].holdings_sats, moved_sats);
			assert!(capacities.iter().all(|v| v.holdings_sats <= v.capacity_sats));
			// Both within capacity: nothing moves back.
			run_to_block(System::block_number() + 3);
			assert_eq!(ActiveProposal::<Test>::get(), None);
		});
	}

	#[test]
	fn no_rebalance_that_would_overfill_the_receiver_or_is_not_worth_a_transaction() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			two_vaults();
			// 5,000 sats over: below the minimum deposit (10,000), not worth moving.
			BackingStakeSats::set(vec![(0, 995_000), (1, 2_000_000)]);
			next_block();
			fund_alice_at(&mut chain, 78, 1_000_000, 0);
			fund_reserve(10_000);
			run_to_block(System::block_number() + 2);
			assert_eq!(ActiveProposal::<Test>::get(), None);
			// 500,000 over, but the only coin (1,000,000) would overfill vault 1's 600,000.
			BackingStakeSats::set(vec![(0, 500_000), (1, 600_000)]);
			run_to_block(System::block_number() + 2);
			assert_eq!(ActiveProposal::<Test>::get(), None);
			// With room for it, it moves.
			BackingStakeSats::set(vec![(0, 500_000), (1, 1_200_000)]);
			next_block();
			let id = ActiveProposal::<Test>::get().expect("a rebalance");
			assert_eq!(
				Proposals::<Test>::get(id).unwrap().kind,
				ProposalKind::Rebalance { from_epoch: 0, to_epoch: 1 }
			);
		});
	}

	#[test]
	fn an_old_key_is_swept_to_its_own_vaults_new_key_and_the_other_vault_is_untouched() {
		let (mut ext, mut chain) = new_test_ext();
		ext.execute_with(|| {
			two_vaults();
			next_block();
			fund_alice_at(&mut chain, 74, 700_000, 0);
			let other = fund_alice_at(&mut chain, 75, 900_000, 1);
			fund_reserve(10_000);
			// Vault 0 re-keys (epoch 2); vault 1 keeps epoch 1.
			Epochs::mutate(|e| e.push((2, [0xe2; 32])));
			EpochVaults::set(vec![(1, 1), (2, 0)]);
			next_block();
			let id = ActiveProposal::<Test>::get().expect("a sweep");
			let sweep = Proposals::<Test>::get(id).unwrap();
			assert_eq!(sweep.kind, ProposalKind::Sweep { from_epoch: 0 });
			assert!(sweep.inputs.iter().all(|(_, _, epoch)| *epoch == 0));
			assert_eq!(sweep.custody_output.map(|(_, _, epoch)| epoch), Some(2));
			complete_active_proposal(&mut chain);
			assert_eq!(Utxos::<Test>::get(other).unwrap().epoch, 1, "vault 1's coins stay");
			run_to_block(System::block_number() + OldEpochGraceBlocks::get() + 1);
			assert_eq!(Retired::get(), vec![0]);
			assert_eq!(MockCustody::current_epochs(), vec![2, 1]);
			assert_eq!(ActiveProposal::<Test>::get(), None, "nothing else to sweep");
		});
	}
}

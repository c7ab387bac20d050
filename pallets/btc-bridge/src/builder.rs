//! Deterministic construction of the bridge's Bitcoin transactions: withdrawal payouts and
//! epoch sweeps. Pure functions of their inputs, so every node builds the same bytes.
//!
//! # Payout rules
//!
//! - Requests are offered in queue order. Inputs are chosen largest first (ties: smaller
//!   outpoint first), at most `max_inputs`. A request is taken if the requests taken so far
//!   and it still fit what those inputs can hold; one that does not fit is skipped and waits
//!   (it never blocks the requests behind it).
//! - Outputs: one per request, in queue order, then the change to the custody address if
//!   it is at least the P2TR dust limit. Change below it goes to the miners: nobody burned
//!   it, so the bridge's fee reserve pays it, up to the allowance the caller gives; beyond
//!   that one more input is taken so that the change can come back, or nothing is built.
//! - Fee = fee rate x virtual size (exact: every input is a 64-byte key-path signature),
//!   shared equally by the requests: each pays `fee / k` sats, and the first `fee % k`
//!   requests one sat more. A request whose output would fall below its dust limit after its
//!   share is left out and refunded.
//! - Version 2, lock time 0, every input signals replaceability (sequence 0xfffffffd) so
//!   that a stuck transaction can be replaced by a higher-fee one.
//!
//! # Sweep rules
//!
//! Old epochs' UTXOs (largest first, at most `max_inputs`) go to the current custody address
//! in one output, minus fee rate x virtual size, which the bridge's fee reserve pays. When
//! they are too little to leave a non-dust output (dust deposits to an old address), current
//! UTXOs are added, largest first, until the output is above the dust limit: so dust never
//! pins an old epoch.

use alloc::vec::Vec;
use tapchain_primitives::bitcoin::{
	address::{dust_limit_sats, p2tr_script_pubkey},
	OutPoint, Transaction, TxIn, TxOut,
};

/// Sequence of every input: final for lock time, but replaceable (BIP-125).
pub const INPUT_SEQUENCE: u32 = 0xffff_fffd;

/// Transaction version of bridge transactions.
pub const TX_VERSION: i32 = 2;

/// A bridge UTXO offered to the builder.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SpendableUtxo {
	pub outpoint: OutPoint,
	pub value_sats: u64,
}

/// A queued withdrawal offered to the builder.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PayoutRequest {
	pub id: u64,
	pub script_pubkey: Vec<u8>,
	pub amount_sats: u64,
}

/// A transaction the bridge will propose.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BuiltTransaction {
	/// Unsigned (no witnesses).
	pub transaction: Transaction,
	/// The inputs' previous outputs, in input order.
	pub inputs: Vec<SpendableUtxo>,
	/// `(request id, sats paid)` in output order.
	pub payouts: Vec<(u64, u64)>,
	/// Requests whose amount cannot pay their fee share and still leave a non-dust output.
	pub too_small: Vec<u64>,
	/// Change back to the custody address, if any (the last output).
	pub change_sats: Option<u64>,
	/// Change below the dust limit, given up to the miners (what the fee reserve pays).
	pub change_given_up_sats: u64,
	/// Sum of inputs minus sum of outputs.
	pub fee_sats: u64,
	/// Virtual size once signed.
	pub vsize: u64,
}

/// Why no transaction can be built.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum BuildError {
	/// Every request that fits is too small to pay its fee share and leave a non-dust
	/// output: these (to be refunded).
	AllTooSmall { too_small: Vec<u64> },
	/// The UTXO set cannot cover any offered request.
	InsufficientFunds,
	/// No UTXO to sweep.
	NothingToSweep,
	/// The change would be dust above the allowance, and no further input can lift it.
	DustChangeUnfunded { needed_sats: u64 },
	/// A sweep's inputs, even topped up, cannot pay its fee and leave a non-dust output.
	SweepBelowDust,
}

/// Orders UTXOs as the builder consumes them: largest first, then by outpoint.
pub fn selection_order(utxos: &mut [SpendableUtxo]) {
	utxos.sort_by(|a, b| b.value_sats.cmp(&a.value_sats).then(a.outpoint.cmp(&b.outpoint)));
}

fn unsigned_transaction(inputs: &[SpendableUtxo], outputs: Vec<TxOut>) -> Transaction {
	Transaction {
		version: TX_VERSION,
		inputs: inputs
			.iter()
			.map(|utxo| TxIn {
				previous_output: utxo.outpoint,
				script_sig: Vec::new(),
				sequence: INPUT_SEQUENCE,
				witness: Vec::new(),
			})
			.collect(),
		outputs,
		lock_time: 0,
	}
}

/// Virtual size of `transaction` once every input carries a 64-byte key-path signature.
pub fn signed_vsize(transaction: &Transaction) -> u64 {
	let mut signed = transaction.clone();
	for input in signed.inputs.iter_mut() {
		input.witness = alloc::vec![alloc::vec![0u8; 64]];
	}
	signed.vsize()
}

/// The requests, in order, that the largest `max_inputs` UTXOs can hold together, at most
/// `max_payouts` of them; the others are skipped (they wait).
fn requests_that_fit(
	utxos: &[SpendableUtxo],
	requests: &[PayoutRequest],
	max_inputs: usize,
	max_payouts: usize,
) -> Vec<PayoutRequest> {
	let capacity: u64 = utxos.iter().take(max_inputs).map(|u| u.value_sats).sum();
	let mut taken = Vec::new();
	let mut total = 0u64;
	for request in requests {
		if taken.len() >= max_payouts {
			break;
		}
		if let Some(with) = total.checked_add(request.amount_sats).filter(|t| *t <= capacity) {
			total = with;
			taken.push(request.clone());
		}
	}
	taken
}

/// The limits of one payout transaction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PayoutLimits {
	pub max_inputs: usize,
	pub max_payouts: usize,
	/// Most change that may be given up as dust (what the fee reserve can pay).
	pub dust_allowance_sats: u64,
}

/// Builds the payout of `requests` (queue order) from `utxos` (in [`selection_order`]),
/// with change to `custody_output_key`'s P2TR address.
pub fn build_payout(
	utxos: &[SpendableUtxo],
	requests: &[PayoutRequest],
	custody_output_key: &[u8; 32],
	fee_rate_sat_per_vb: u64,
	limits: PayoutLimits,
) -> Result<BuiltTransaction, BuildError> {
	let PayoutLimits { max_inputs, max_payouts, dust_allowance_sats } = limits;
	let change_script = p2tr_script_pubkey(custody_output_key);
	let change_dust = dust_limit_sats(&change_script);
	let mut requests = requests_that_fit(utxos, requests, max_inputs, max_payouts);
	if requests.is_empty() {
		return Err(BuildError::InsufficientFunds);
	}
	let mut too_small = Vec::new();
	loop {
		if requests.is_empty() {
			return Err(BuildError::AllTooSmall { too_small });
		}
		let requested: u64 = requests.iter().map(|r| r.amount_sats).sum();
		let mut inputs = Vec::new();
		let mut input_sats = 0u64;
		let mut available = utxos.iter().take(max_inputs);
		for utxo in available.by_ref() {
			inputs.push(*utxo);
			input_sats += utxo.value_sats;
			if input_sats >= requested {
				break;
			}
		}
		// Dust change beyond the allowance: one more input brings the change back instead.
		let dust = |change: u64| change > 0 && change < change_dust;
		if dust(input_sats - requested) && input_sats - requested > dust_allowance_sats {
			match available.next() {
				Some(utxo) => {
					inputs.push(*utxo);
					input_sats += utxo.value_sats;
				},
				None => {
					return Err(BuildError::DustChangeUnfunded {
						needed_sats: input_sats - requested,
					})
				},
			}
		}
		let change_sats = input_sats - requested;
		let change = (change_sats >= change_dust).then_some(change_sats);
		// Outputs with placeholder amounts give the exact size: amounts are fixed-width.
		let mut outputs: Vec<TxOut> = requests
			.iter()
			.map(|r| TxOut { value_sats: r.amount_sats, script_pubkey: r.script_pubkey.clone() })
			.collect();
		if let Some(change_sats) = change {
			outputs.push(TxOut { value_sats: change_sats, script_pubkey: change_script.clone() });
		}
		let mut transaction = unsigned_transaction(&inputs, outputs);
		let vsize = signed_vsize(&transaction);
		let fee = fee_rate_sat_per_vb.saturating_mul(vsize);
		let count = requests.len() as u64;
		let (share, remainder) = (fee / count, fee % count);
		let mut payouts = Vec::with_capacity(requests.len());
		let mut dropped = None;
		for (position, request) in requests.iter().enumerate() {
			let request_share = share + u64::from((position as u64) < remainder);
			let paid = request.amount_sats.saturating_sub(request_share);
			if paid < dust_limit_sats(&request.script_pubkey) {
				dropped = Some(position);
				break;
			}
			payouts.push((request.id, paid));
			transaction.outputs[position].value_sats = paid;
		}
		if let Some(position) = dropped {
			too_small.push(requests.remove(position).id);
			continue;
		}
		let output_sats: u64 = transaction.outputs.iter().map(|o| o.value_sats).sum();
		return Ok(BuiltTransaction {
			transaction,
			inputs,
			payouts,
			too_small,
			change_sats: change,
			change_given_up_sats: if change.is_none() { change_sats } else { 0 },
			fee_sats: input_sats - output_sats,
			vsize,
		});
	}
}

/// Builds a sweep of `old` UTXOs (in [`selection_order`], at most `max_inputs`) to
/// `new_output_key`'s P2TR address, topped up with `top_up` UTXOs (current ones, in
/// selection order) only if needed to leave a non-dust output. The fee comes from the
/// swept amount on Bitcoin and from the fee reserve in the bridge's books.
pub fn build_sweep(
	old: &[SpendableUtxo],
	top_up: &[SpendableUtxo],
	new_output_key: &[u8; 32],
	fee_rate_sat_per_vb: u64,
	max_inputs: usize,
) -> Result<BuiltTransaction, BuildError> {
	let mut inputs: Vec<SpendableUtxo> = old.iter().take(max_inputs).copied().collect();
	if inputs.is_empty() {
		return Err(BuildError::NothingToSweep);
	}
	let script = p2tr_script_pubkey(new_output_key);
	let dust = dust_limit_sats(&script);
	let mut extra = top_up.iter();
	loop {
		let input_sats: u64 = inputs.iter().map(|u| u.value_sats).sum();
		let mut transaction = unsigned_transaction(
			&inputs,
			alloc::vec![TxOut { value_sats: 0, script_pubkey: script.clone() }],
		);
		let vsize = signed_vsize(&transaction);
		let fee = fee_rate_sat_per_vb.saturating_mul(vsize);
		let swept = input_sats.saturating_sub(fee);
		if swept >= dust {
			transaction.outputs[0].value_sats = swept;
			return Ok(BuiltTransaction {
				transaction,
				inputs,
				payouts: Vec::new(),
				too_small: Vec::new(),
				change_sats: Some(swept),
				change_given_up_sats: 0,
				fee_sats: fee,
				vsize,
			});
		}
		match extra.next() {
			Some(utxo) if inputs.len() < max_inputs => inputs.push(*utxo),
			_ => return Err(BuildError::SweepBelowDust),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use tapchain_primitives::bitcoin::{BitcoinAddress, Txid};

	fn utxo(tag: u8, value_sats: u64) -> SpendableUtxo {
		SpendableUtxo { outpoint: OutPoint { txid: Txid([tag; 32]), vout: 0 }, value_sats }
	}

	fn request(id: u64, amount_sats: u64) -> PayoutRequest {
		PayoutRequest {
			id,
			script_pubkey: BitcoinAddress::P2wpkh([id as u8; 20]).script_pubkey(),
			amount_sats,
		}
	}

	const KEY: [u8; 32] = [7; 32];

	fn limits(max_inputs: usize, dust_allowance_sats: u64) -> PayoutLimits {
		PayoutLimits { max_inputs, max_payouts: 50, dust_allowance_sats }
	}

	#[test]
	fn pays_requests_in_order_with_change_and_an_equal_fee_share() {
		let mut utxos = alloc::vec![utxo(1, 40_000), utxo(2, 100_000), utxo(3, 60_000)];
		selection_order(&mut utxos);
		let built = build_payout(
			&utxos,
			&[request(1, 50_000), request(2, 70_000)],
			&KEY,
			10,
			limits(10, 1_000),
		)
		.unwrap();
		// Largest first: 100k then 60k cover 120k.
		assert_eq!(built.inputs, alloc::vec![utxo(2, 100_000), utxo(3, 60_000)]);
		assert_eq!(built.change_sats, Some(40_000));
		assert_eq!(built.fee_sats, 10 * built.vsize);
		let share = built.fee_sats / 2;
		let extra = built.fee_sats % 2;
		assert_eq!(built.payouts, alloc::vec![(1, 50_000 - share - extra), (2, 70_000 - share)]);
		// Two P2TR key-path inputs, two P2WPKH outputs and a P2TR change output.
		assert_eq!(built.vsize, 11 + 2 * 58 + 2 * 31 + 43 - 1);
		assert_eq!(
			built.transaction.outputs.last().unwrap().script_pubkey,
			p2tr_script_pubkey(&KEY)
		);
		assert!(built.transaction.inputs.iter().all(|i| i.sequence == INPUT_SEQUENCE));
	}

	#[test]
	fn the_same_inputs_build_the_same_bytes() {
		let mut a = alloc::vec![utxo(1, 10_000), utxo(2, 10_000), utxo(3, 30_000)];
		let mut b = alloc::vec![utxo(3, 30_000), utxo(2, 10_000), utxo(1, 10_000)];
		selection_order(&mut a);
		selection_order(&mut b);
		let requests = [request(1, 35_000)];
		assert_eq!(
			build_payout(&a, &requests, &KEY, 3, limits(10, 1_000)).unwrap().transaction.to_bytes(),
			build_payout(&b, &requests, &KEY, 3, limits(10, 1_000)).unwrap().transaction.to_bytes()
		);
	}

	#[test]
	fn later_requests_wait_when_funds_or_inputs_run_out() {
		let utxos = [utxo(1, 30_000), utxo(2, 20_000)];
		let built = build_payout(
			&utxos,
			&[request(1, 25_000), request(2, 30_000)],
			&KEY,
			1,
			limits(10, 1_000),
		)
		.unwrap();
		assert_eq!(built.payouts.len(), 1);
		assert_eq!(built.payouts[0].0, 1);
		// One input allowed: only what the largest UTXO covers.
		let built = build_payout(
			&utxos,
			&[request(1, 25_000), request(2, 4_000)],
			&KEY,
			1,
			limits(1, 1_000),
		)
		.unwrap();
		assert_eq!(built.payouts.iter().map(|p| p.0).collect::<Vec<_>>(), alloc::vec![1, 2]);
		assert_eq!(
			build_payout(&utxos, &[request(1, 60_000)], &KEY, 1, limits(10, 1_000)),
			Err(BuildError::InsufficientFunds)
		);
	}

	#[test]
	fn at_most_the_payout_limit_of_requests_is_taken() {
		let requests: Vec<_> = (1..=5).map(|id| request(id, 10_000)).collect();
		let limits = PayoutLimits { max_inputs: 10, max_payouts: 3, dust_allowance_sats: 0 };
		let built = build_payout(&[utxo(1, 100_000)], &requests, &KEY, 1, limits).unwrap();
		assert_eq!(built.payouts.iter().map(|p| p.0).collect::<Vec<_>>(), alloc::vec![1, 2, 3]);
	}

	#[test]
	fn a_request_larger_than_the_inputs_can_hold_is_skipped_not_blocking() {
		// Two inputs at most: 30k + 20k = 50k. The first request (60k) cannot be paid; the
		// ones behind it are.
		let utxos = [utxo(1, 30_000), utxo(2, 20_000), utxo(3, 10_000)];
		let built = build_payout(
			&utxos,
			&[request(1, 60_000), request(2, 25_000), request(3, 20_000)],
			&KEY,
			1,
			limits(2, 1_000),
		)
		.unwrap();
		assert_eq!(built.payouts.iter().map(|p| p.0).collect::<Vec<_>>(), alloc::vec![2, 3]);
	}

	#[test]
	fn dust_change_is_given_up_within_the_allowance_and_dust_requests_are_left_out() {
		let built =
			build_payout(&[utxo(1, 50_100)], &[request(1, 50_000)], &KEY, 1, limits(10, 1_000))
				.unwrap();
		assert_eq!(built.change_sats, None);
		assert_eq!(built.change_given_up_sats, 100);
		assert_eq!(built.fee_sats, 100 + built.vsize);
		assert_eq!(built.transaction.outputs.len(), 1);
		// The request pays its fee share; the 100 sats nobody burned are the allowance's.
		assert_eq!(built.payouts, alloc::vec![(1, 50_000 - built.vsize)]);
		// Without an allowance, one more input brings the change back.
		let built = build_payout(
			&[utxo(1, 50_100), utxo(2, 9_000)],
			&[request(1, 50_000)],
			&KEY,
			1,
			limits(10, 0),
		)
		.unwrap();
		assert_eq!(built.inputs.len(), 2);
		assert_eq!((built.change_sats, built.change_given_up_sats), (Some(9_100), 0));
		// No further input: nothing is built.
		assert_eq!(
			build_payout(&[utxo(1, 50_100)], &[request(1, 50_000)], &KEY, 1, limits(10, 0)),
			Err(BuildError::DustChangeUnfunded { needed_sats: 100 })
		);
		// Request 2 cannot pay a 50 sat/vB share and stay above 294 sats.
		let built = build_payout(
			&[utxo(1, 100_000)],
			&[request(1, 50_000), request(2, 1_000)],
			&KEY,
			50,
			limits(10, 1_000),
		)
		.unwrap();
		assert_eq!(built.too_small, alloc::vec![2]);
		assert_eq!(built.payouts.len(), 1);
		assert_eq!(
			build_payout(&[utxo(1, 100_000)], &[request(2, 1_000)], &KEY, 50, limits(10, 1_000)),
			Err(BuildError::AllTooSmall { too_small: alloc::vec![2] })
		);
	}

	#[test]
	fn sweeps_move_everything_minus_the_fee() {
		let built = build_sweep(&[utxo(1, 10_000), utxo(2, 5_000)], &[], &KEY, 2, 10).unwrap();
		assert_eq!(built.transaction.outputs.len(), 1);
		assert_eq!(built.transaction.outputs[0].value_sats, 15_000 - built.fee_sats);
		assert_eq!(built.fee_sats, 2 * built.vsize);
		assert_eq!(build_sweep(&[utxo(1, 400)], &[], &KEY, 2, 10), Err(BuildError::SweepBelowDust));
		assert_eq!(
			build_sweep(&[], &[utxo(2, 9_000)], &KEY, 2, 10),
			Err(BuildError::NothingToSweep)
		);
	}

	#[test]
	fn dust_in_an_old_epoch_is_swept_with_a_current_utxo() {
		// 400 sats cannot pay a 2 sat/vB sweep and stay above 330: one current UTXO tops it up.
		let built =
			build_sweep(&[utxo(1, 400)], &[utxo(2, 9_000), utxo(3, 5_000)], &KEY, 2, 10).unwrap();
		assert_eq!(built.inputs, alloc::vec![utxo(1, 400), utxo(2, 9_000)]);
		assert_eq!(built.transaction.outputs[0].value_sats, 9_400 - built.fee_sats);
		// No room for a top-up: it waits.
		assert_eq!(
			build_sweep(&[utxo(1, 400)], &[utxo(2, 9_000)], &KEY, 2, 1),
			Err(BuildError::SweepBelowDust)
		);
	}
}

//! A validator's own check of a bridge proposal before it votes.
//!
//! Everything is recomputed with the `bitcoin` crate (libsecp256k1's project, not the
//! runtime's hand-written code), so a bug in the runtime's transaction builder or sighash
//! makes honest validators reject rather than sign: the outputs are exactly the queued
//! requests minus equal fee shares, change and sweeps go to the current custody address,
//! every input is a bridge UTXO of the signing epoch, the fee is the proposal's rate (within
//! the governed bounds, and within a factor of [`FEE_RATE_TOLERANCE`] of the validator's own
//! Bitcoin node's estimate) times the exact signed size, and the sighashes custody will sign
//! are the BIP-341 key-path sighashes of this transaction.

use bitcoin::{
	consensus::deserialize,
	hashes::Hash as _,
	key::TweakedPublicKey,
	sighash::{Prevouts, SighashCache},
	Amount, ScriptBuf, TapSighashType, Transaction, TxOut, XOnlyPublicKey,
};
use tapchain_primitives::bridge::{ProposalCheck, ProposalKind};

/// Why a validator rejects a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
	/// The unsigned transaction does not decode.
	Undecodable,
	/// Not version 2 with lock time 0, or an input that is not replaceable/final as built.
	UnexpectedShape(&'static str),
	/// An input is not a bridge UTXO, or its amount differs from the bridge's record.
	UnknownInput(usize),
	/// An input of an epoch whose key is gone (retired or unknown).
	WrongSigningEpoch,
	/// Output `n` does not pay the request it should, or pays the wrong amount.
	WrongPayout(usize),
	/// An output beyond the payouts does not go to the current custody address.
	WrongChange,
	/// The fee rate is outside the governed bounds.
	FeeRateOutOfBounds(u64),
	/// The fee rate is more than [`FEE_RATE_TOLERANCE`] times away from this validator's
	/// own estimate (clamped to the bounds).
	FeeRateFarFromEstimate { proposed: u64, estimate: u64 },
	/// The fee (or a request's share of it) is not rate x size as the rules say.
	WrongFee { expected_sats: u64, actual_sats: u64 },
	/// The sighashes are not this transaction's.
	WrongSighashes,
	/// A fee bump that is not the transaction it replaces with only its custody output
	/// lowered (named).
	NotAReplacement(&'static str),
}

impl core::fmt::Display for Rejection {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		write!(f, "{self:?}")
	}
}

const P2TR_DUST_SATS: u64 = 330;

/// How far a proposal's fee rate may be from the validator's own estimate: at most this many
/// times higher or lower. Fee estimates of honest nodes differ (mempools differ, estimates
/// move), so this is loose; it stops a rate a few validators pushed far from the market.
pub const FEE_RATE_TOLERANCE: u64 = 2;

fn p2tr(output_key: &[u8; 32]) -> Option<ScriptBuf> {
	let key = XOnlyPublicKey::from_slice(output_key).ok()?;
	Some(ScriptBuf::new_p2tr_tweaked(TweakedPublicKey::dangerous_assume_tweaked(key)))
}

/// Virtual size of `tx` once each input carries a 64-byte key-path signature.
fn signed_vsize(tx: &Transaction) -> u64 {
	let mut signed = tx.clone();
	for input in signed.input.iter_mut() {
		input.witness = bitcoin::Witness::from_slice(&[[0u8; 64]]);
	}
	signed.vsize() as u64
}

/// Checks a proposal; `Ok` means vote to approve. `own_fee_estimate` is the validator's own
/// Bitcoin node's fee estimate, sat/vB, if it has one.
pub fn check_proposal(
	check: &ProposalCheck,
	own_fee_estimate: Option<u64>,
) -> Result<(), Rejection> {
	let tx: Transaction = deserialize(&check.unsigned_tx).map_err(|_| Rejection::Undecodable)?;
	if tx.version != bitcoin::transaction::Version::TWO {
		return Err(Rejection::UnexpectedShape("version"));
	}
	if tx.lock_time != bitcoin::absolute::LockTime::ZERO {
		return Err(Rejection::UnexpectedShape("lock time"));
	}
	if tx.input.iter().any(|i| !i.script_sig.is_empty() || !i.witness.is_empty()) {
		return Err(Rejection::UnexpectedShape("input scripts"));
	}

	// Inputs: bridge UTXOs of live epochs, amounts as recorded.
	if tx.input.len() != check.inputs.len() || tx.input.is_empty() {
		return Err(Rejection::UnknownInput(tx.input.len()));
	}
	let mut prevouts = Vec::with_capacity(tx.input.len());
	for (index, (input, (outpoint, utxo))) in tx.input.iter().zip(&check.inputs).enumerate() {
		let utxo = utxo.ok_or(Rejection::UnknownInput(index))?;
		if input.previous_output.txid.to_byte_array() != outpoint.txid.0
			|| input.previous_output.vout != outpoint.vout
		{
			return Err(Rejection::UnknownInput(index));
		}
		let script = check
			.epoch_output_keys
			.iter()
			.find(|(epoch, _)| *epoch == utxo.epoch)
			.and_then(|(_, key)| p2tr(key))
			.ok_or(Rejection::WrongSigningEpoch)?;
		prevouts.push(TxOut { value: Amount::from_sat(utxo.value_sats), script_pubkey: script });
	}
	let input_sats: u64 = prevouts.iter().map(|p| p.value.to_sat()).sum();

	let (min_rate, max_rate) = check.fee_rate_bounds;
	let rate = check.fee_rate_sat_per_vb;
	if rate < min_rate || rate > max_rate {
		return Err(Rejection::FeeRateOutOfBounds(rate));
	}
	if let Some(estimate) = own_fee_estimate.map(|e| e.clamp(min_rate, max_rate)) {
		if rate > estimate.saturating_mul(FEE_RATE_TOLERANCE)
			|| rate.saturating_mul(FEE_RATE_TOLERANCE) < estimate
		{
			return Err(Rejection::FeeRateFarFromEstimate { proposed: rate, estimate });
		}
	}
	let expected_fee = rate.saturating_mul(signed_vsize(&tx));
	let custody_script =
		check.current_output_key.as_ref().and_then(p2tr).ok_or(Rejection::WrongChange)?;
	let output_sats: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
	let actual_fee = input_sats
		.checked_sub(output_sats)
		.ok_or(Rejection::WrongFee { expected_sats: expected_fee, actual_sats: 0 })?;

	match check.kind {
		ProposalKind::Sweep { .. } | ProposalKind::Rebalance { .. } => {
			if !check.payouts.is_empty()
				|| tx.output.len() != 1
				|| tx.output[0].script_pubkey != custody_script
			{
				return Err(Rejection::WrongChange);
			}
			if actual_fee != expected_fee {
				return Err(Rejection::WrongFee {
					expected_sats: expected_fee,
					actual_sats: actual_fee,
				});
			}
		},
		ProposalKind::FeeBump { .. } => {
			let replaced =
				check.replaced.as_ref().ok_or(Rejection::NotAReplacement("no original"))?;
			let original: Transaction =
				deserialize(&replaced.unsigned_tx).map_err(|_| Rejection::Undecodable)?;
			if original
				.input
				.iter()
				.map(|i| i.previous_output)
				.ne(tx.input.iter().map(|i| i.previous_output))
			{
				return Err(Rejection::NotAReplacement("inputs differ"));
			}
			if original.output.len() != tx.output.len() {
				return Err(Rejection::NotAReplacement("outputs differ"));
			}
			// Every output as approved before, but the custody output, lowered by the extra
			// fee (the withdrawals are paid exactly what they were).
			let mut extra = None;
			for (position, (old, new)) in original.output.iter().zip(&tx.output).enumerate() {
				if old == new {
					continue;
				}
				if extra.is_some()
					|| new.script_pubkey != old.script_pubkey
					|| new.script_pubkey != custody_script
					|| new.value >= old.value
				{
					return Err(Rejection::WrongPayout(position));
				}
				extra = Some(old.value.to_sat() - new.value.to_sat());
			}
			let extra = extra.ok_or(Rejection::NotAReplacement("no higher fee"))?;
			// BIP-125: at least the old fee plus 1 sat/vB of its own size, and the proposal's
			// rate (a higher one) times its size.
			let vsize = signed_vsize(&tx);
			let expected = expected_fee.max(replaced.fee_sats.saturating_add(vsize));
			if actual_fee != replaced.fee_sats.saturating_add(extra) || actual_fee != expected {
				return Err(Rejection::WrongFee {
					expected_sats: expected,
					actual_sats: actual_fee,
				});
			}
		},
		ProposalKind::Payout => {
			let payouts = &check.payouts;
			if payouts.is_empty()
				|| tx.output.len() < payouts.len()
				|| tx.output.len() > payouts.len() + 1
			{
				return Err(Rejection::WrongPayout(tx.output.len()));
			}
			let count = payouts.len() as u64;
			let (share, remainder) = (expected_fee / count, expected_fee % count);
			for (position, (_, script, requested, paid)) in payouts.iter().enumerate() {
				let output = &tx.output[position];
				let expected_share = share + u64::from((position as u64) < remainder);
				if output.script_pubkey.as_bytes() != script.as_slice()
					|| output.value.to_sat() != *paid
					|| requested.checked_sub(*paid) != Some(expected_share)
				{
					return Err(Rejection::WrongPayout(position));
				}
			}
			let requested: u64 = payouts.iter().map(|p| p.2).sum();
			let change = input_sats.checked_sub(requested).ok_or(Rejection::WrongChange)?;
			match tx.output.get(payouts.len()) {
				Some(output)
					if output.script_pubkey != custody_script
						|| output.value.to_sat() != change =>
				{
					return Err(Rejection::WrongChange)
				},
				// Change below the dust limit goes to the miners (the bridge's fee reserve
				// pays it); more must come back.
				None if change >= P2TR_DUST_SATS => return Err(Rejection::WrongChange),
				_ => {},
			}
		},
	}

	let mut cache = SighashCache::new(&tx);
	for (index, expected) in check.sighashes.iter().enumerate() {
		let sighash = cache
			.taproot_key_spend_signature_hash(
				index,
				&Prevouts::All(&prevouts),
				TapSighashType::Default,
			)
			.map_err(|_| Rejection::WrongSighashes)?;
		if sighash.to_byte_array() != *expected {
			return Err(Rejection::WrongSighashes);
		}
	}
	if check.sighashes.len() != tx.input.len() {
		return Err(Rejection::WrongSighashes);
	}
	Ok(())
}

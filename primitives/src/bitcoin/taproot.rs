//! BIP-341 signature hashes for Taproot key-path spends with `SIGHASH_DEFAULT`: the 32-byte
//! messages the custody key signs for every input of a bridge transaction.
//!
//! Hand-written because no no_std crate without C gives it; tested against the `bitcoin`
//! crate, the BIP-341 wallet vectors and real mainnet key-path spends.

use super::{encode::write_var_bytes, Transaction, TxOut};
use alloc::vec::Vec;
use bitcoin_hashes::{sha256, Hash, HashEngine};
use codec::{Decode, DecodeWithMemTracking, Encode};
use scale_info::TypeInfo;

/// Why a signature hash cannot be computed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
pub enum SighashError {
	/// One spent output is needed per input, in input order.
	PrevoutCountMismatch,
	/// The input index is past the last input.
	InputIndexOutOfRange,
}

/// A BIP-340 style tagged hash: `SHA256(SHA256(tag) || SHA256(tag) || data...)`.
pub fn tagged_hash(tag: &[u8], parts: &[&[u8]]) -> [u8; 32] {
	let tag_hash = sha256::Hash::hash(tag).to_byte_array();
	let mut engine = sha256::Hash::engine();
	engine.input(&tag_hash);
	engine.input(&tag_hash);
	for part in parts {
		engine.input(part);
	}
	sha256::Hash::from_engine(engine).to_byte_array()
}

fn sha256_of(bytes: &[u8]) -> [u8; 32] {
	sha256::Hash::hash(bytes).to_byte_array()
}

/// The parts of a BIP-341 signature message shared by every input of a transaction.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TaprootSighashCache {
	sha_prevouts: [u8; 32],
	sha_amounts: [u8; 32],
	sha_script_pubkeys: [u8; 32],
	sha_sequences: [u8; 32],
	sha_outputs: [u8; 32],
}

impl TaprootSighashCache {
	/// Hashes `transaction`'s inputs and outputs with the outputs they spend (`prevouts`,
	/// one per input, in input order: BIP-341 commits to every input's amount and script).
	pub fn new(transaction: &Transaction, prevouts: &[TxOut]) -> Result<Self, SighashError> {
		if prevouts.len() != transaction.inputs.len() {
			return Err(SighashError::PrevoutCountMismatch);
		}
		let mut outpoints = Vec::with_capacity(36 * transaction.inputs.len());
		let mut sequences = Vec::with_capacity(4 * transaction.inputs.len());
		for input in &transaction.inputs {
			outpoints.extend_from_slice(&input.previous_output.txid.0);
			outpoints.extend_from_slice(&input.previous_output.vout.to_le_bytes());
			sequences.extend_from_slice(&input.sequence.to_le_bytes());
		}
		let mut amounts = Vec::with_capacity(8 * prevouts.len());
		let mut scripts = Vec::new();
		for prevout in prevouts {
			amounts.extend_from_slice(&prevout.value_sats.to_le_bytes());
			write_var_bytes(&mut scripts, &prevout.script_pubkey);
		}
		let mut outputs = Vec::new();
		for output in &transaction.outputs {
			outputs.extend_from_slice(&output.value_sats.to_le_bytes());
			write_var_bytes(&mut outputs, &output.script_pubkey);
		}
		Ok(Self {
			sha_prevouts: sha256_of(&outpoints),
			sha_amounts: sha256_of(&amounts),
			sha_script_pubkeys: sha256_of(&scripts),
			sha_sequences: sha256_of(&sequences),
			sha_outputs: sha256_of(&outputs),
		})
	}

	/// The `SIGHASH_DEFAULT` key-path signature hash of input `input_index` (no annex).
	pub fn key_spend_sighash(
		&self,
		transaction: &Transaction,
		input_index: usize,
	) -> Result<[u8; 32], SighashError> {
		if input_index >= transaction.inputs.len() {
			return Err(SighashError::InputIndexOutOfRange);
		}
		const EPOCH: u8 = 0;
		const SIGHASH_DEFAULT: u8 = 0;
		const KEY_PATH_NO_ANNEX: u8 = 0;
		Ok(tagged_hash(
			b"TapSighash",
			&[
				&[EPOCH, SIGHASH_DEFAULT],
				&transaction.version.to_le_bytes(),
				&transaction.lock_time.to_le_bytes(),
				&self.sha_prevouts,
				&self.sha_amounts,
				&self.sha_script_pubkeys,
				&self.sha_sequences,
				&self.sha_outputs,
				&[KEY_PATH_NO_ANNEX],
				&(input_index as u32).to_le_bytes(),
			],
		))
	}
}

/// The `SIGHASH_DEFAULT` key-path sighash of every input, in input order.
pub fn key_spend_sighashes(
	transaction: &Transaction,
	prevouts: &[TxOut],
) -> Result<Vec<[u8; 32]>, SighashError> {
	let cache = TaprootSighashCache::new(transaction, prevouts)?;
	(0..transaction.inputs.len()).map(|index| cache.key_spend_sighash(transaction, index)).collect()
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn prevouts_must_match_inputs() {
		let tx = Transaction {
			version: 2,
			inputs: alloc::vec![super::super::TxIn {
				previous_output: super::super::OutPoint {
					txid: super::super::Txid([1; 32]),
					vout: 0,
				},
				script_sig: Vec::new(),
				sequence: 0xffff_fffd,
				witness: Vec::new(),
			}],
			outputs: alloc::vec![TxOut { value_sats: 1000, script_pubkey: alloc::vec![0x51] }],
			lock_time: 0,
		};
		assert_eq!(key_spend_sighashes(&tx, &[]), Err(SighashError::PrevoutCountMismatch));
		let cache =
			TaprootSighashCache::new(&tx, &[TxOut { value_sats: 5, script_pubkey: alloc::vec![] }])
				.unwrap();
		assert_eq!(cache.key_spend_sighash(&tx, 1), Err(SighashError::InputIndexOutOfRange));
	}
}

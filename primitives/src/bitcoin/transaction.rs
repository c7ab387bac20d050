//! Transactions: legacy and segwit serialization, txid and wtxid.

use super::{
	encode::{write_compact_size, write_var_bytes, Reader},
	sha256d, DecodeError, Txid, Wtxid,
};
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// A reference to an output of an earlier transaction.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	PartialOrd,
	Ord,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct OutPoint {
	/// The transaction that created the output.
	pub txid: Txid,
	/// The output's index in that transaction.
	pub vout: u32,
}

/// A transaction input.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TxIn {
	/// The output being spent.
	pub previous_output: OutPoint,
	/// The unlocking script (empty for segwit spends).
	pub script_sig: Vec<u8>,
	/// Relative lock time / replaceability signal.
	pub sequence: u32,
	/// Witness stack (empty for legacy spends).
	pub witness: Vec<Vec<u8>>,
}

/// A transaction output.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TxOut {
	/// Amount paid, in satoshis.
	pub value_sats: u64,
	/// The locking script.
	pub script_pubkey: Vec<u8>,
}

/// A Bitcoin transaction.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transaction {
	pub version: i32,
	pub inputs: Vec<TxIn>,
	pub outputs: Vec<TxOut>,
	pub lock_time: u32,
}

impl Transaction {
	/// Parses a whole serialized transaction (legacy or segwit) as Bitcoin Core does;
	/// no byte may be left over.
	pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
		let mut reader = Reader::new(bytes);
		let version = reader.i32()?;
		let mut inputs = read_inputs(&mut reader)?;
		let mut has_witness_flag = false;
		let outputs;
		if inputs.is_empty() {
			// An empty input list is how the segwit marker (0x00) reads; the flag follows.
			let flag = reader.u8()?;
			if flag != 1 {
				return Err(DecodeError::UnknownSegwitFlag);
			}
			has_witness_flag = true;
			inputs = read_inputs(&mut reader)?;
			outputs = read_outputs(&mut reader)?;
		} else {
			outputs = read_outputs(&mut reader)?;
		}
		if has_witness_flag {
			for input in inputs.iter_mut() {
				let items = reader.compact_size()?;
				let mut stack = Vec::new();
				for _ in 0..items {
					stack.push(reader.var_bytes()?);
				}
				input.witness = stack;
			}
			if inputs.iter().all(|input| input.witness.is_empty()) {
				return Err(DecodeError::SuperfluousWitness);
			}
		}
		let lock_time = reader.u32()?;
		if !reader.is_empty() {
			return Err(DecodeError::TrailingBytes);
		}
		if inputs.is_empty() || outputs.is_empty() {
			return Err(DecodeError::EmptyInputsOrOutputs);
		}
		Ok(Transaction { version, inputs, outputs, lock_time })
	}

	/// Whether any input carries witness data (then it serializes in segwit form).
	pub fn has_witness(&self) -> bool {
		self.inputs.iter().any(|input| !input.witness.is_empty())
	}

	/// Serialization without witness: what the txid commits to.
	pub fn to_bytes_without_witness(&self) -> Vec<u8> {
		self.serialize(false)
	}

	/// Full serialization (segwit form when any input has a witness).
	pub fn to_bytes(&self) -> Vec<u8> {
		self.serialize(self.has_witness())
	}

	/// The transaction id.
	pub fn txid(&self) -> Txid {
		Txid(sha256d(&self.to_bytes_without_witness()))
	}

	/// The witness transaction id (equal to the txid without witness).
	pub fn wtxid(&self) -> Wtxid {
		Wtxid(sha256d(&self.to_bytes()))
	}

	/// Virtual size in vbytes: weight / 4, rounded up.
	pub fn vsize(&self) -> u64 {
		let base = self.to_bytes_without_witness().len() as u64;
		let total = self.to_bytes().len() as u64;
		(base * 3 + total).div_ceil(4)
	}

	fn serialize(&self, with_witness: bool) -> Vec<u8> {
		let mut out = Vec::new();
		out.extend_from_slice(&self.version.to_le_bytes());
		if with_witness {
			out.extend_from_slice(&[0x00, 0x01]);
		}
		write_compact_size(&mut out, self.inputs.len() as u64);
		for input in &self.inputs {
			out.extend_from_slice(&input.previous_output.txid.0);
			out.extend_from_slice(&input.previous_output.vout.to_le_bytes());
			write_var_bytes(&mut out, &input.script_sig);
			out.extend_from_slice(&input.sequence.to_le_bytes());
		}
		write_compact_size(&mut out, self.outputs.len() as u64);
		for output in &self.outputs {
			out.extend_from_slice(&output.value_sats.to_le_bytes());
			write_var_bytes(&mut out, &output.script_pubkey);
		}
		if with_witness {
			for input in &self.inputs {
				write_compact_size(&mut out, input.witness.len() as u64);
				for item in &input.witness {
					write_var_bytes(&mut out, item);
				}
			}
		}
		out.extend_from_slice(&self.lock_time.to_le_bytes());
		out
	}
}

fn read_inputs(reader: &mut Reader) -> Result<Vec<TxIn>, DecodeError> {
	let count = reader.compact_size()?;
	// Each input takes at least 41 bytes: do not trust the count for the allocation.
	let mut inputs = Vec::new();
	for _ in 0..count {
		inputs.push(TxIn {
			previous_output: OutPoint { txid: Txid(reader.array()?), vout: reader.u32()? },
			script_sig: reader.var_bytes()?,
			sequence: reader.u32()?,
			witness: Vec::new(),
		});
	}
	Ok(inputs)
}

fn read_outputs(reader: &mut Reader) -> Result<Vec<TxOut>, DecodeError> {
	let count = reader.compact_size()?;
	let mut outputs = Vec::new();
	for _ in 0..count {
		outputs.push(TxOut { value_sats: reader.u64()?, script_pubkey: reader.var_bytes()? });
	}
	Ok(outputs)
}

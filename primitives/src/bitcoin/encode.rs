//! Reading and writing Bitcoin's serialization: little-endian integers and CompactSize.

use alloc::vec::Vec;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
	/// The input ended before the value did.
	UnexpectedEnd,
	/// A CompactSize used more bytes than its value needs.
	NonCanonicalCompactSize,
	/// A length was larger than any valid message can hold.
	OversizedLength,
	/// Bytes were left over after the value.
	TrailingBytes,
	/// The segwit flag byte had an unknown value.
	UnknownSegwitFlag,
	/// The segwit flag was set but no input carried witness data.
	SuperfluousWitness,
	/// A transaction without inputs (or outputs) is invalid.
	EmptyInputsOrOutputs,
}

/// Largest length Bitcoin Core accepts in a CompactSize (`MAX_SIZE`).
pub const MAX_COMPACT_SIZE: u64 = 0x0200_0000;

/// A cursor over bytes being decoded.
pub struct Reader<'a> {
	bytes: &'a [u8],
}

impl<'a> Reader<'a> {
	pub fn new(bytes: &'a [u8]) -> Self {
		Self { bytes }
	}

	pub fn is_empty(&self) -> bool {
		self.bytes.is_empty()
	}

	pub fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
		if self.bytes.len() < len {
			return Err(DecodeError::UnexpectedEnd);
		}
		let (head, tail) = self.bytes.split_at(len);
		self.bytes = tail;
		Ok(head)
	}

	pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
		let mut out = [0u8; N];
		out.copy_from_slice(self.take(N)?);
		Ok(out)
	}

	pub fn u8(&mut self) -> Result<u8, DecodeError> {
		Ok(self.array::<1>()?[0])
	}

	pub fn u32(&mut self) -> Result<u32, DecodeError> {
		Ok(u32::from_le_bytes(self.array()?))
	}

	pub fn i32(&mut self) -> Result<i32, DecodeError> {
		Ok(i32::from_le_bytes(self.array()?))
	}

	pub fn u64(&mut self) -> Result<u64, DecodeError> {
		Ok(u64::from_le_bytes(self.array()?))
	}

	/// A CompactSize, canonical and at most [`MAX_COMPACT_SIZE`], as Bitcoin Core reads it.
	pub fn compact_size(&mut self) -> Result<u64, DecodeError> {
		let value = match self.u8()? {
			0xfd => {
				let v = u16::from_le_bytes(self.array()?) as u64;
				if v < 0xfd {
					return Err(DecodeError::NonCanonicalCompactSize);
				}
				v
			},
			0xfe => {
				let v = u32::from_le_bytes(self.array()?) as u64;
				if v <= 0xffff {
					return Err(DecodeError::NonCanonicalCompactSize);
				}
				v
			},
			0xff => {
				let v = self.u64()?;
				if v <= 0xffff_ffff {
					return Err(DecodeError::NonCanonicalCompactSize);
				}
				v
			},
			small => small as u64,
		};
		if value > MAX_COMPACT_SIZE {
			return Err(DecodeError::OversizedLength);
		}
		Ok(value)
	}

	/// A CompactSize-prefixed byte string.
	pub fn var_bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
		let len = self.compact_size()? as usize;
		Ok(self.take(len)?.to_vec())
	}
}

/// Appends a CompactSize.
pub fn write_compact_size(out: &mut Vec<u8>, value: u64) {
	match value {
		0..=0xfc => out.push(value as u8),
		0xfd..=0xffff => {
			out.push(0xfd);
			out.extend_from_slice(&(value as u16).to_le_bytes());
		},
		0x1_0000..=0xffff_ffff => {
			out.push(0xfe);
			out.extend_from_slice(&(value as u32).to_le_bytes());
		},
		_ => {
			out.push(0xff);
			out.extend_from_slice(&value.to_le_bytes());
		},
	}
}

/// Appends a CompactSize-prefixed byte string.
pub fn write_var_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
	write_compact_size(out, bytes.len() as u64);
	out.extend_from_slice(bytes);
}

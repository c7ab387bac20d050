//! Proof of work: compact targets (nBits), 256-bit targets and the work they represent.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use primitive_types::{U256, U512};
use scale_info::TypeInfo;

/// The 32-bit "compact" encoding of a target that headers carry (`nBits`).
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct CompactTarget(pub u32);

/// Why an nBits value does not name a usable target.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
pub enum TargetError {
	/// The sign bit is set on a non-zero mantissa.
	Negative,
	/// The value does not fit in 256 bits.
	Overflow,
	/// The target is zero: no hash can meet it.
	Zero,
	/// The target is easier than the network allows.
	AbovePowLimit,
}

/// A 256-bit target: a header's hash, read as a little-endian number, must not exceed it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
pub struct Target(pub U256);

/// Expected number of hashes to find a header: what fork choice adds up.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	PartialOrd,
	Ord,
	Debug,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct Work(pub U256);

impl Work {
	/// Sum of two amounts of work (saturating: 2^256 hashes will never be done).
	pub fn saturating_add(self, other: Work) -> Work {
		Work(self.0.saturating_add(other.0))
	}
}

impl CompactTarget {
	/// Decodes nBits exactly like Bitcoin Core's `arith_uint256::SetCompact`.
	///
	/// Returns the value and whether the encoding is negative or overflows.
	pub fn decode_raw(self) -> (U256, bool, bool) {
		let bits = self.0;
		let size = bits >> 24;
		let mut word = bits & 0x007f_ffff;
		let value = if size <= 3 {
			word >>= 8 * (3 - size);
			U256::from(word)
		} else {
			let shift = 8 * (size - 3);
			if shift >= 256 {
				U256::zero()
			} else {
				U256::from(word) << shift
			}
		};
		let negative = word != 0 && (bits & 0x0080_0000) != 0;
		let overflow =
			word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32));
		(value, negative, overflow)
	}

	/// The target these bits name, checked like Bitcoin Core's `DeriveTarget`.
	pub fn to_target(self, pow_limit: Target) -> Result<Target, TargetError> {
		let (value, negative, overflow) = self.decode_raw();
		if negative {
			return Err(TargetError::Negative);
		}
		if overflow {
			return Err(TargetError::Overflow);
		}
		if value.is_zero() {
			return Err(TargetError::Zero);
		}
		if value > pow_limit.0 {
			return Err(TargetError::AbovePowLimit);
		}
		Ok(Target(value))
	}
}

impl Target {
	/// Encodes like Bitcoin Core's `arith_uint256::GetCompact` (never negative).
	pub fn to_compact(self) -> CompactTarget {
		let mut size = (self.0.bits() as u32).div_ceil(8);
		let mut compact = if size <= 3 {
			(self.0.low_u64() << (8 * (3 - size))) as u32
		} else {
			(self.0 >> (8 * (size - 3))).low_u64() as u32
		};
		// The mantissa's top bit is the sign: move a byte into the exponent instead.
		if compact & 0x0080_0000 != 0 {
			compact >>= 8;
			size += 1;
		}
		CompactTarget(compact | (size << 24))
	}

	/// The work a header meeting this target proves: `2^256 / (target + 1)`.
	pub fn to_work(self) -> Work {
		// (~target / (target + 1)) + 1 == 2^256 / (target + 1), without 257-bit numbers.
		if self.0 == U256::MAX {
			return Work(U256::one());
		}
		Work((!self.0 / (self.0 + U256::one())) + U256::one())
	}

	/// `self * numerator / denominator`, computed in 512 bits and capped at `limit`.
	pub fn scale(self, numerator: u64, denominator: u64, limit: Target) -> Target {
		let product: U512 = self.0.full_mul(U256::from(numerator));
		let quotient = product / U512::from(denominator.max(1));
		match U256::try_from(quotient) {
			Ok(value) if value <= limit.0 => Target(value),
			_ => limit,
		}
	}

	/// Whether a hash (bytes in internal order, read as a little-endian number) meets it.
	pub fn is_met_by(&self, hash: &[u8; 32]) -> bool {
		U256::from_little_endian(hash) <= self.0
	}
}

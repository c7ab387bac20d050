//! 32-byte hashes with distinct types, stored in internal (serialized) byte order.
//!
//! Bitcoin shows these hashes byte-reversed ("display order"); `from_display_hex` and
//! `to_display_hex` convert.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

macro_rules! hash_newtype {
	($(#[$doc:meta])* $name:ident) => {
		$(#[$doc])*
		#[derive(
			Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode,
			DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
		)]
		pub struct $name(pub [u8; 32]);

		impl $name {
			/// Wraps bytes in internal (serialized) order.
			pub const fn from_byte_array(bytes: [u8; 32]) -> Self {
				Self(bytes)
			}

			/// The bytes in internal (serialized) order.
			pub const fn to_byte_array(self) -> [u8; 32] {
				self.0
			}

			/// Parses the display form (64 hex digits, byte-reversed) that bitcoind shows.
			pub fn from_display_hex(hex: &str) -> Option<Self> {
				let mut bytes = [0u8; 32];
				if hex.len() != 64 {
					return None;
				}
				for (i, byte) in bytes.iter_mut().enumerate() {
					*byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
				}
				bytes.reverse();
				Some(Self(bytes))
			}

			/// The display form (byte-reversed hex) that bitcoind shows.
			pub fn to_display_hex(&self) -> alloc::string::String {
				use core::fmt::Write;
				let mut out = alloc::string::String::with_capacity(64);
				for byte in self.0.iter().rev() {
					let _ = write!(out, "{byte:02x}");
				}
				out
			}
		}

		impl core::fmt::Debug for $name {
			fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
				write!(f, "{}({})", stringify!($name), self.to_display_hex())
			}
		}

		impl core::fmt::Display for $name {
			fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
				f.write_str(&self.to_display_hex())
			}
		}
	};
}

hash_newtype!(
	/// Hash of a block header: double SHA-256 of its 80 bytes.
	BlockHash
);
hash_newtype!(
	/// Transaction id: double SHA-256 of the serialization without witness.
	Txid
);
hash_newtype!(
	/// Witness transaction id: double SHA-256 of the full serialization.
	Wtxid
);
hash_newtype!(
	/// A node of a block's transaction Merkle tree (the root is in the header).
	TxMerkleNode
);

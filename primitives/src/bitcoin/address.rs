//! Bitcoin addresses a withdrawal may pay: parsing for one network, the scriptPubKey each
//! address stands for, and the dust limit of that output.
//!
//! Parsing uses the `bech32` (BIP-173/350) and `bs58` (Base58Check) crates; what is ours is
//! the network and program rules, checked against the `bitcoin` crate in native tests.

use super::Network;
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// Why a string is not an address this chain can pay.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
#[cfg_attr(feature = "pallet-error", derive(frame_support::PalletError))]
pub enum AddressError {
	/// Not valid UTF-8 or longer than any address.
	Malformed,
	/// Neither a valid bech32/bech32m segwit address nor valid Base58Check (bad character,
	/// bad checksum, wrong checksum variant for the witness version, bad padding, ...).
	InvalidEncoding,
	/// A valid address of another network (human-readable part or version byte).
	WrongNetwork,
	/// Base58 payload of the wrong length or an unknown version byte.
	UnknownBase58Version,
	/// A segwit version other than 0 (P2WPKH/P2WSH) or 1 (P2TR): such outputs are
	/// anyone-can-spend today, so paying them would lose the coins.
	UnsupportedWitnessVersion,
	/// Segwit v0 programs are 20 or 32 bytes, v1 (Taproot) 32.
	InvalidProgramLength,
}

/// Longest address string accepted (bech32 segwit addresses are at most 90 characters).
pub const MAX_ADDRESS_LEN: usize = 90;

/// A destination a Bitcoin transaction can pay, reduced to what its output script needs.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum BitcoinAddress {
	/// Pay to public key hash (base58, `1...` / `m...`, `n...`).
	P2pkh([u8; 20]),
	/// Pay to script hash (base58, `3...` / `2...`).
	P2sh([u8; 20]),
	/// Segwit v0 key hash (`bc1q...`, 20-byte program).
	P2wpkh([u8; 20]),
	/// Segwit v0 script hash (`bc1q...`, 32-byte program).
	P2wsh([u8; 32]),
	/// Segwit v1 Taproot output key (`bc1p...`).
	P2tr([u8; 32]),
}

impl Network {
	/// The bech32 human-readable part of this network's segwit addresses.
	pub fn bech32_hrp(self) -> &'static str {
		match self {
			Network::Mainnet => "bc",
			Network::Testnet3 | Network::Testnet4 => "tb",
			Network::Regtest => "bcrt",
		}
	}

	/// Base58Check version bytes of P2PKH and P2SH addresses.
	pub fn base58_versions(self) -> (u8, u8) {
		match self {
			Network::Mainnet => (0x00, 0x05),
			// Bitcoin Core uses the test versions on testnet, signet and regtest alike.
			Network::Testnet3 | Network::Testnet4 | Network::Regtest => (0x6f, 0xc4),
		}
	}
}

const OP_0: u8 = 0x00;
const OP_1: u8 = 0x51;
const OP_DUP: u8 = 0x76;
const OP_HASH160: u8 = 0xa9;
const OP_EQUAL: u8 = 0x87;
const OP_EQUALVERIFY: u8 = 0x88;
const OP_CHECKSIG: u8 = 0xac;

impl BitcoinAddress {
	/// Parses `address` as an address of `network`.
	pub fn parse(address: &str, network: Network) -> Result<Self, AddressError> {
		if address.is_empty() || address.len() > MAX_ADDRESS_LEN {
			return Err(AddressError::Malformed);
		}
		// A bech32 string has a '1' separator after its human-readable part; base58 never
		// contains the letters that would make it ambiguous, but may contain '1', so try
		// segwit first only when the prefix looks like a segwit HRP.
		let lower_prefix = address.split('1').next().unwrap_or_default().to_ascii_lowercase();
		if matches!(lower_prefix.as_str(), "bc" | "tb" | "bcrt") && address.len() >= 14 {
			return Self::parse_segwit(address, network);
		}
		Self::parse_base58(address, network)
	}

	/// Parses bytes holding an address string (what an extrinsic or precompile receives).
	pub fn parse_bytes(address: &[u8], network: Network) -> Result<Self, AddressError> {
		let text = core::str::from_utf8(address).map_err(|_| AddressError::Malformed)?;
		Self::parse(text, network)
	}

	fn parse_segwit(address: &str, network: Network) -> Result<Self, AddressError> {
		let (hrp, version, program) =
			bech32::segwit::decode(address).map_err(|_| AddressError::InvalidEncoding)?;
		if !hrp.to_lowercase().eq_ignore_ascii_case(network.bech32_hrp()) {
			return Err(AddressError::WrongNetwork);
		}
		match version.to_u8() {
			0 => match program.len() {
				20 => Ok(Self::P2wpkh(program.try_into().expect("length checked"))),
				32 => Ok(Self::P2wsh(program.try_into().expect("length checked"))),
				_ => Err(AddressError::InvalidProgramLength),
			},
			1 => match program.len() {
				32 => Ok(Self::P2tr(program.try_into().expect("length checked"))),
				_ => Err(AddressError::InvalidProgramLength),
			},
			_ => Err(AddressError::UnsupportedWitnessVersion),
		}
	}

	fn parse_base58(address: &str, network: Network) -> Result<Self, AddressError> {
		let payload = bs58::decode(address)
			.with_check(None)
			.into_vec()
			.map_err(|_| AddressError::InvalidEncoding)?;
		if payload.len() != 21 {
			return Err(AddressError::UnknownBase58Version);
		}
		let hash: [u8; 20] = payload[1..].try_into().expect("length checked");
		let (p2pkh, p2sh) = network.base58_versions();
		let known = [0x00, 0x05, 0x6f, 0xc4];
		match payload[0] {
			v if v == p2pkh => Ok(Self::P2pkh(hash)),
			v if v == p2sh => Ok(Self::P2sh(hash)),
			v if known.contains(&v) => Err(AddressError::WrongNetwork),
			_ => Err(AddressError::UnknownBase58Version),
		}
	}

	/// The address string for `network`: lower-case bech32 (v0) / bech32m (v1) for segwit,
	/// Base58Check for P2PKH and P2SH.
	pub fn to_address_string(&self, network: Network) -> alloc::string::String {
		let hrp = bech32::Hrp::parse_unchecked(network.bech32_hrp());
		let (p2pkh, p2sh) = network.base58_versions();
		let base58 = |version: u8, hash: &[u8; 20]| {
			let mut payload = alloc::vec![version];
			payload.extend_from_slice(hash);
			bs58::encode(payload).with_check().into_string()
		};
		match self {
			Self::P2pkh(hash) => base58(p2pkh, hash),
			Self::P2sh(hash) => base58(p2sh, hash),
			Self::P2wpkh(program) => {
				bech32::segwit::encode_v0(hrp, program).expect("20-byte v0 program is valid")
			},
			Self::P2wsh(program) => {
				bech32::segwit::encode_v0(hrp, program).expect("32-byte v0 program is valid")
			},
			Self::P2tr(key) => {
				bech32::segwit::encode_v1(hrp, key).expect("32-byte v1 program is valid")
			},
		}
	}

	/// The output script paying this address.
	pub fn script_pubkey(&self) -> Vec<u8> {
		let mut script = Vec::with_capacity(34);
		match self {
			Self::P2pkh(hash) => {
				script.extend_from_slice(&[OP_DUP, OP_HASH160, 20]);
				script.extend_from_slice(hash);
				script.extend_from_slice(&[OP_EQUALVERIFY, OP_CHECKSIG]);
			},
			Self::P2sh(hash) => {
				script.extend_from_slice(&[OP_HASH160, 20]);
				script.extend_from_slice(hash);
				script.push(OP_EQUAL);
			},
			Self::P2wpkh(program) => {
				script.extend_from_slice(&[OP_0, 20]);
				script.extend_from_slice(program);
			},
			Self::P2wsh(program) => {
				script.extend_from_slice(&[OP_0, 32]);
				script.extend_from_slice(program);
			},
			Self::P2tr(output_key) => return p2tr_script_pubkey(output_key),
		}
		script
	}

	/// Bitcoin Core's dust threshold for an output paying this address (at its default
	/// dust relay fee of 3 sat/vB): an output worth less is not relayed.
	pub fn dust_limit_sats(&self) -> u64 {
		dust_limit_sats(&self.script_pubkey())
	}
}

/// `OP_1 <32-byte output key>`: a Taproot (segwit v1) output script.
pub fn p2tr_script_pubkey(output_key: &[u8; 32]) -> Vec<u8> {
	let mut script = Vec::with_capacity(34);
	script.extend_from_slice(&[OP_1, 32]);
	script.extend_from_slice(output_key);
	script
}

/// Bitcoin Core's `GetDustThreshold` at the default dust relay fee (3000 sat/kvB): the
/// cost of the output plus the input that would later spend it.
pub fn dust_limit_sats(script_pubkey: &[u8]) -> u64 {
	if script_pubkey.first() == Some(&0x6a) {
		// OP_RETURN outputs are unspendable and never dust.
		return 0;
	}
	let output_size = 8 + compact_size_len(script_pubkey.len() as u64) + script_pubkey.len() as u64;
	let is_witness_program = script_pubkey.len() >= 4
		&& script_pubkey.len() <= 42
		&& (script_pubkey[0] == OP_0 || (OP_1..=0x60).contains(&script_pubkey[0]))
		&& script_pubkey[1] as usize + 2 == script_pubkey.len();
	// Spending input: outpoint 36 + script length 1 + sequence 4, plus a signature script
	// of 107 bytes, which a witness discounts by 4.
	let spend_size =
		if is_witness_program { 32 + 4 + 1 + 107 / 4 + 4 } else { 32 + 4 + 1 + 107 + 4 };
	(output_size + spend_size) * 3
}

fn compact_size_len(value: u64) -> u64 {
	match value {
		0..=0xfc => 1,
		0xfd..=0xffff => 3,
		0x1_0000..=0xffff_ffff => 5,
		_ => 9,
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn dust_limits_are_bitcoin_cores() {
		assert_eq!(BitcoinAddress::P2pkh([1; 20]).dust_limit_sats(), 546);
		assert_eq!(BitcoinAddress::P2sh([1; 20]).dust_limit_sats(), 540);
		assert_eq!(BitcoinAddress::P2wpkh([1; 20]).dust_limit_sats(), 294);
		assert_eq!(BitcoinAddress::P2wsh([1; 32]).dust_limit_sats(), 330);
		assert_eq!(BitcoinAddress::P2tr([1; 32]).dust_limit_sats(), 330);
	}

	#[test]
	fn oversized_and_empty_strings_are_malformed() {
		assert_eq!(BitcoinAddress::parse("", Network::Mainnet), Err(AddressError::Malformed));
		let long = "bc1".repeat(40);
		assert_eq!(BitcoinAddress::parse(&long, Network::Mainnet), Err(AddressError::Malformed));
		assert_eq!(
			BitcoinAddress::parse_bytes(&[0xff, 0xfe], Network::Mainnet),
			Err(AddressError::Malformed)
		);
	}
}

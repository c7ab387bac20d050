//! Types and units shared by the Tapchain runtime, node, custody signer and relayer.
//!
//! Everything here is `no_std` so that the runtime can use it: units of the native token
//! and, in [`bitcoin`], Bitcoin's wire types and header rules.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod bitcoin;
pub mod bridge;
#[cfg(feature = "custody")]
pub mod custody;
pub mod vault;

/// Balance of an account, in BTC base units (18 decimals: 1 BTC = 10^18 base units).
///
/// 18 decimals make one base unit exactly one wei on the EVM side, so balances need no
/// conversion between the native and the Ethereum view.
pub type Balance = u128;

/// An index to a block.
pub type BlockNumber = u32;

/// Number of decimals of the native token.
pub const TOKEN_DECIMALS: u8 = 18;

/// Symbol of the native token.
pub const TOKEN_SYMBOL: &str = "BTC";

/// Base units in one satoshi (10^18 / 10^8).
pub const BASE_UNITS_PER_SAT: Balance = 10_000_000_000;

/// Satoshis in one bitcoin.
pub const SATS_PER_BTC: u64 = 100_000_000;

/// Base units in one bitcoin.
pub const BASE_UNITS_PER_BTC: Balance = BASE_UNITS_PER_SAT * SATS_PER_BTC as Balance;

/// The total number of satoshis that will ever exist (21 million BTC).
pub const MAX_MONEY_SATS: u64 = 21_000_000 * SATS_PER_BTC;

/// Converts satoshis to base units. Never overflows: even 2^64 sats fit in a `u128`.
pub const fn sats_to_base_units(sats: u64) -> Balance {
	sats as Balance * BASE_UNITS_PER_SAT
}

/// Splits an amount of base units into whole satoshis and the remainder below one sat.
///
/// Returns `None` when the whole satoshis do not fit in a `u64` (far above
/// [`MAX_MONEY_SATS`]), which no honest balance can reach.
pub fn base_units_to_sats(base_units: Balance) -> Option<(u64, Balance)> {
	let sats = u64::try_from(base_units / BASE_UNITS_PER_SAT).ok()?;
	Some((sats, base_units % BASE_UNITS_PER_SAT))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn one_btc_is_ten_to_the_eighteen_base_units() {
		assert_eq!(BASE_UNITS_PER_BTC, 1_000_000_000_000_000_000);
		assert_eq!(sats_to_base_units(SATS_PER_BTC), BASE_UNITS_PER_BTC);
		assert_eq!(10u128.pow(TOKEN_DECIMALS as u32), BASE_UNITS_PER_BTC);
	}

	#[test]
	fn sats_round_trip_through_base_units() {
		for sats in [0u64, 1, 546, 99_999_999, MAX_MONEY_SATS, u64::MAX] {
			assert_eq!(base_units_to_sats(sats_to_base_units(sats)), Some((sats, 0)));
		}
	}

	#[test]
	fn remainder_below_one_sat_is_reported() {
		assert_eq!(base_units_to_sats(BASE_UNITS_PER_SAT + 7), Some((1, 7)));
		assert_eq!(base_units_to_sats(BASE_UNITS_PER_SAT - 1), Some((0, BASE_UNITS_PER_SAT - 1)));
	}

	#[test]
	fn absurd_amounts_do_not_fit_in_sats() {
		assert_eq!(base_units_to_sats(Balance::MAX), None);
	}
}

//! Network parameters and the header rules that depend on them.

use super::{BlockHash, BlockHeader, CompactTarget, Target};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use primitive_types::U256;
use scale_info::TypeInfo;

/// The Bitcoin networks the light client follows.
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
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Network {
	/// Bitcoin mainnet.
	Mainnet,
	/// testnet3 (20-minute minimum-difficulty rule).
	Testnet3,
	/// testnet4 (BIP94).
	Testnet4,
	/// regtest: minimum difficulty, no retargeting.
	#[default]
	Regtest,
}

/// Consensus parameters of one network, as Bitcoin Core's `chainparams.cpp` has them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NetworkParams {
	/// The easiest target any header may have.
	pub pow_limit: Target,
	/// Length of a retarget period, in seconds (two weeks).
	pub target_timespan_secs: u32,
	/// Target block spacing, in seconds.
	pub target_spacing_secs: u32,
	/// testnet: a block more than 2 spacings after its parent may use the pow limit.
	pub allow_min_difficulty_blocks: bool,
	/// regtest: the target never changes.
	pub no_retargeting: bool,
	/// testnet4: BIP94 (retarget from the period's first bits; timewarp protection).
	pub enforce_bip94: bool,
	/// Heights from which versions below 2, 3 and 4 are rejected (BIP34, BIP66, BIP65).
	pub bip34_height: u32,
	pub bip66_height: u32,
	pub bip65_height: u32,
	/// Hash of the genesis block.
	pub genesis_hash: BlockHash,
}

/// BIP94: a retarget block may not be more than this much older than its parent.
pub const MAX_TIMEWARP_SECS: u32 = 600;

/// A header may be at most this far ahead of the chain's own clock.
pub const MAX_FUTURE_BLOCK_TIME_SECS: u64 = 2 * 60 * 60;

/// Number of previous timestamps whose median a new header must exceed.
pub const MEDIAN_TIME_SPAN: usize = 11;

fn hash(display_hex: &str) -> BlockHash {
	BlockHash::from_display_hex(display_hex).expect("constant genesis hash is valid hex")
}

fn pow_limit_from_bits(bits: u32) -> Target {
	Target(CompactTarget(bits).decode_raw().0)
}

impl Network {
	/// This network's consensus parameters.
	pub fn params(self) -> NetworkParams {
		let main_limit = Target(U256::MAX >> 32);
		match self {
			Network::Mainnet => NetworkParams {
				pow_limit: main_limit,
				target_timespan_secs: 14 * 24 * 60 * 60,
				target_spacing_secs: 600,
				allow_min_difficulty_blocks: false,
				no_retargeting: false,
				enforce_bip94: false,
				bip34_height: 227_931,
				bip66_height: 363_725,
				bip65_height: 388_381,
				genesis_hash: hash(
					"000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
				),
			},
			Network::Testnet3 => NetworkParams {
				pow_limit: main_limit,
				target_timespan_secs: 14 * 24 * 60 * 60,
				target_spacing_secs: 600,
				allow_min_difficulty_blocks: true,
				no_retargeting: false,
				enforce_bip94: false,
				bip34_height: 21_111,
				bip66_height: 330_776,
				bip65_height: 581_885,
				genesis_hash: hash(
					"000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
				),
			},
			Network::Testnet4 => NetworkParams {
				pow_limit: main_limit,
				target_timespan_secs: 14 * 24 * 60 * 60,
				target_spacing_secs: 600,
				allow_min_difficulty_blocks: true,
				no_retargeting: false,
				enforce_bip94: true,
				bip34_height: 1,
				bip66_height: 1,
				bip65_height: 1,
				genesis_hash: hash(
					"00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
				),
			},
			Network::Regtest => NetworkParams {
				pow_limit: pow_limit_from_bits(0x207f_ffff),
				target_timespan_secs: 14 * 24 * 60 * 60,
				target_spacing_secs: 600,
				allow_min_difficulty_blocks: true,
				no_retargeting: true,
				enforce_bip94: false,
				bip34_height: 1,
				bip66_height: 1,
				bip65_height: 1,
				genesis_hash: hash(
					"0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
				),
			},
		}
	}
}

impl NetworkParams {
	/// Headers between two retargets (2016).
	pub fn retarget_interval(&self) -> u32 {
		self.target_timespan_secs / self.target_spacing_secs
	}

	/// The minimum block version at `height` (BIP34, BIP66, BIP65).
	pub fn min_version_at(&self, height: u32) -> i32 {
		if height >= self.bip65_height {
			4
		} else if height >= self.bip66_height {
			3
		} else if height >= self.bip34_height {
			2
		} else {
			1
		}
	}
}

/// What the retarget rule needs to know about a header's parent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ParentContext {
	/// The parent's height.
	pub height: u32,
	/// The parent's nBits.
	pub bits: CompactTarget,
	/// The parent's timestamp.
	pub time: u32,
	/// Timestamp of the first header of the parent's retarget period.
	pub period_first_time: u32,
	/// nBits of the first header of the parent's retarget period (BIP94).
	pub period_first_bits: CompactTarget,
	/// nBits of the nearest ancestor-or-self that starts a period or is not at the pow
	/// limit: what testnet's minimum-difficulty rule falls back to.
	pub last_non_min_difficulty_bits: CompactTarget,
}

impl ParentContext {
	/// The context that `header`, a child of this context's header, passes on to its own
	/// children.
	pub fn child(&self, params: &NetworkParams, header: &BlockHeader) -> ParentContext {
		let height = self.height + 1;
		let starts_period = height.is_multiple_of(params.retarget_interval());
		let (period_first_time, period_first_bits) = if starts_period {
			(header.time, header.bits)
		} else {
			(self.period_first_time, self.period_first_bits)
		};
		let last_non_min_difficulty_bits =
			if starts_period || header.bits != params.pow_limit.to_compact() {
				header.bits
			} else {
				self.last_non_min_difficulty_bits
			};
		ParentContext {
			height,
			bits: header.bits,
			time: header.time,
			period_first_time,
			period_first_bits,
			last_non_min_difficulty_bits,
		}
	}
}

/// The nBits a header following `parent` at `time` must carry: Bitcoin Core's
/// `GetNextWorkRequired` and `CalculateNextWorkRequired`.
pub fn required_bits(params: &NetworkParams, parent: &ParentContext, time: u32) -> CompactTarget {
	let pow_limit_bits = params.pow_limit.to_compact();
	let height = parent.height + 1;
	if !height.is_multiple_of(params.retarget_interval()) {
		if params.allow_min_difficulty_blocks {
			if time as u64 > parent.time as u64 + 2 * params.target_spacing_secs as u64 {
				return pow_limit_bits;
			}
			return parent.last_non_min_difficulty_bits;
		}
		return parent.bits;
	}
	if params.no_retargeting {
		return parent.bits;
	}
	let timespan = params.target_timespan_secs as i64;
	let actual = (parent.time as i64 - parent.period_first_time as i64)
		.clamp(timespan / 4, timespan * 4) as u64;
	let base_bits = if params.enforce_bip94 { parent.period_first_bits } else { parent.bits };
	let base = Target(base_bits.decode_raw().0);
	base.scale(actual, timespan as u64, params.pow_limit).to_compact()
}

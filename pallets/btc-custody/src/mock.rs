//! A minimal runtime around the custody pallet: validators are accounts 1..=n whose session
//! key is `UintAuthorityId(account)`.

use crate as pallet_btc_custody;
use crate::{
	CustodyOffence, CustodyStake, PartitionRandomness, ReportCustodyOffence, ValidatorKeys,
};
use frame_support::{derive_impl, parameter_types};
use sp_runtime::{testing::UintAuthorityId, BuildStorage};

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		BtcCustody: pallet_btc_custody,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type BlockWeights = BlockWeights;
}

parameter_types! {
	/// The runtime's limits: 2 s of compute per block, 75% for normal transactions.
	pub BlockWeights: frame_system::limits::BlockWeights =
		frame_system::limits::BlockWeights::with_sensible_defaults(
			frame_support::weights::Weight::from_parts(
				2 * frame_support::weights::constants::WEIGHT_REF_TIME_PER_SECOND,
				u64::MAX,
			),
			sp_runtime::Perbill::from_percent(75),
		);
	/// The current validators.
	pub static Validators: Vec<u64> = vec![];
	/// Offences reported so far.
	pub static Offences: Vec<(CustodyOffence, Vec<u64>)> = vec![];
	/// Validators whose stake custody holds.
	pub static HeldStake: Vec<u64> = vec![];
	/// Each validator's stake at risk, in sats (`DEFAULT_STAKE_SATS` unless set).
	pub static StakeSats: Vec<(u64, u64)> = vec![];
	pub const MaxParticipants: u32 = 100;
	/// The runtime's target: a thousand validators (ten vaults of a hundred).
	pub const MaxValidators: u32 = 1_000;
	pub const MaxMessagesPerSession: u32 = 16;
	pub const MaxOpenSessions: u32 = 8;
	pub const DkgRoundBlocks: u64 = 5;
	pub const SigningAttemptBlocks: u64 = 3;
	pub const UnsignedPriority: u64 = 1 << 20;
	pub const MinRecoveryDelayBlocks: u16 = 1000;
	pub const DefaultVaultSize: u32 = 100;
	/// Most vaults (a test may lower it to see a growing set dealt into larger vaults).
	pub static MaxVaults: u32 = 500;
	/// No re-deals unless a test sets an interval.
	pub const DefaultRedealInterval: u64 = 0;
	/// The light client's best Bitcoin height (`None`: not initialised).
	pub static BitcoinBestHeight: Option<u32> = None;
	/// Confirmations a seed block needs.
	pub const SeedConfirmations: u32 = 3;
}

/// A Bitcoin chain whose block at height `h` has a hash made of `h`.
pub struct MockBitcoin;
impl MockBitcoin {
	pub fn hash_at(height: u32) -> tapchain_primitives::bitcoin::BlockHash {
		let mut bytes = [0x5a; 32];
		bytes[..4].copy_from_slice(&height.to_le_bytes());
		tapchain_primitives::bitcoin::BlockHash(bytes)
	}
}
impl PartitionRandomness for MockBitcoin {
	fn best_height() -> Option<u32> {
		BitcoinBestHeight::get()
	}
	fn buried_block_hash(height: u32) -> Option<tapchain_primitives::bitcoin::BlockHash> {
		let best = BitcoinBestHeight::get()?;
		(best >= height + SeedConfirmations::get() - 1).then(|| Self::hash_at(height))
	}
}

pub struct MockValidators;
impl ValidatorKeys<u64, UintAuthorityId> for MockValidators {
	fn validators() -> Vec<u64> {
		Validators::get()
	}
	fn owner_of(key: &UintAuthorityId) -> Option<u64> {
		Validators::get().into_iter().find(|v| *v == key.0)
	}
}

pub struct RecordOffences;
impl ReportCustodyOffence<u64> for RecordOffences {
	fn report(offence: CustodyOffence, offenders: &[u64]) {
		Offences::mutate(|o| o.push((offence, offenders.to_vec())));
	}
}

pub struct MockStake;
impl CustodyStake<u64> for MockStake {
	fn hold(who: &u64) {
		HeldStake::mutate(|held| {
			if !held.contains(who) {
				held.push(*who)
			}
		});
	}
	fn release(who: &u64) {
		HeldStake::mutate(|held| held.retain(|h| h != who));
	}
	fn is_held(who: &u64) -> bool {
		HeldStake::get().contains(who)
	}
	fn at_stake_sats(who: &u64) -> u64 {
		StakeSats::get()
			.iter()
			.find(|(v, _)| v == who)
			.map_or(DEFAULT_STAKE_SATS, |(_, sats)| *sats)
	}
	fn seize_sats(who: &u64, sats: u64) -> u64 {
		let seized = sats.min(Self::at_stake_sats(who));
		let left = Self::at_stake_sats(who) - seized;
		StakeSats::mutate(|stakes| {
			stakes.retain(|(v, _)| v != who);
			stakes.push((*who, left));
		});
		seized
	}
}

/// A validator's stake at risk unless [`StakeSats`] says otherwise.
pub const DEFAULT_STAKE_SATS: u64 = 1_000_000;

impl pallet_btc_custody::Config for Test {
	type RuntimeEvent = RuntimeEvent;
	type AuthorityId = UintAuthorityId;
	type Validators = MockValidators;
	type OffenceReporter = RecordOffences;
	type MemberStake = MockStake;
	type Randomness = MockBitcoin;
	type MaxParticipants = MaxParticipants;
	type MaxValidators = MaxValidators;
	type DefaultVaultSize = DefaultVaultSize;
	type MaxVaults = MaxVaults;
	type DefaultRedealInterval = DefaultRedealInterval;
	type MaxMessagesPerSession = MaxMessagesPerSession;
	type MaxOpenSessions = MaxOpenSessions;
	type DkgRoundBlocks = DkgRoundBlocks;
	type SigningAttemptBlocks = SigningAttemptBlocks;
	type MinRecoveryDelayBlocks = MinRecoveryDelayBlocks;
	type UnsignedPriority = UnsignedPriority;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = MockBenchmarkHelper;
}

/// Benchmarks' validators: an account's session key is `UintAuthorityId(account)`.
#[cfg(feature = "runtime-benchmarks")]
pub struct MockBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper<u64, UintAuthorityId> for MockBenchmarkHelper {
	fn set_validators(validators: &[u64]) {
		Validators::set(validators.to_vec());
	}
	fn session_key(validator: &u64) -> UintAuthorityId {
		Validators::mutate(|v| {
			if !v.contains(validator) {
				v.push(*validator)
			}
		});
		UintAuthorityId(*validator)
	}
}

/// A chain whose validators are accounts `1..=validators`.
pub fn new_test_ext(validators: u64) -> sp_io::TestExternalities {
	Validators::set((1..=validators).collect());
	Offences::set(vec![]);
	HeldStake::set(vec![]);
	StakeSats::set(vec![]);
	BitcoinBestHeight::set(None);
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_btc_custody::GenesisConfig::<Test>::default().assimilate_storage(&mut storage).unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

//! The simulated chain: the real light client, custody and bridge pallets with balances, as
//! the runtime wires them (custody serves the bridge directly), with the validator set, the
//! clock and the offence/stake records under the simulation's control.

use frame_support::{derive_impl, parameter_types, traits::UnixTime};
use pallet_btc_custody::{CustodyOffence, CustodyStake, ReportCustodyOffence, ValidatorKeys};
use sp_runtime::{testing::UintAuthorityId, BuildStorage};
use tapchain_primitives::{bitcoin::BlockHeader, BASE_UNITS_PER_SAT};

type Block = frame_system::mocking::MockBlock<Runtime>;

frame_support::construct_runtime!(
	pub enum Runtime {
		System: frame_system,
		Balances: pallet_balances,
		BtcLightClient: pallet_btc_light_client,
		BtcCustody: pallet_btc_custody,
		BtcBridge: pallet_btc_bridge,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Runtime {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<u128>;
	type BlockWeights = BlockWeights;
	/// The runtime's database, so the pallets' weights (and their integrity tests) are the
	/// runtime's.
	type DbWeight = frame_support::weights::constants::ParityDbWeight;
}

/// The runtime's existential deposit: 100 sats.
pub const EXISTENTIAL_DEPOSIT: u128 = 100 * BASE_UNITS_PER_SAT;

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Runtime {
	type Balance = u128;
	type AccountStore = System;
	type ExistentialDeposit = frame_support::traits::ConstU128<EXISTENTIAL_DEPOSIT>;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type MaxFreezes = frame_support::traits::VariantCountOf<RuntimeFreezeReason>;
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
	/// Seconds since the epoch, as the chain's timestamp says (the Bitcoin clock plus a bit).
	pub static NowSecs: u64 = 0;
	/// The current validators.
	pub static Validators: Vec<u64> = vec![];
	/// Offences reported, in order.
	pub static Offences: Vec<(CustodyOffence, Vec<u64>)> = vec![];
	/// Validators whose stake custody holds.
	pub static HeldStake: Vec<u64> = vec![];
	/// Validators' stake at risk, in sats, where slashing lowered it from [`DEFAULT_STAKE_SATS`].
	pub static StakeSats: Vec<(u64, u64)> = vec![];
	pub const MaxForkDepth: u32 = 100;
	pub const PruningDepth: u32 = 2016 + 100;
	pub const MaxHeadersPerSubmission: u32 = 2016;
	pub const MaxParticipants: u32 = 100;
	/// The runtime's: a thousand validators, in vaults of at most `MaxParticipants`.
	pub const MaxValidators: u32 = 1_000;
	pub const MaxVaults: u32 = 500;
	pub const MaxMessagesPerSession: u32 = 16;
	pub const MaxOpenSessions: u32 = 16;
	pub const DkgRoundBlocks: u64 = 5;
	pub const SigningAttemptBlocks: u64 = 3;
	pub const UnsignedPriority: u64 = 1 << 20;
	pub const MinRecoveryDelayBlocks: u16 = 1000;
	pub const MinDepositSats: u64 = 10_000;
	pub const MaxWithdrawalsPerProposal: u32 = 20;
	pub const MaxInputsPerProposal: u32 = 16;
	pub const MaxRequestsScanned: u32 = 100;
	pub const WithdrawalTimeoutBlocks: u64 = 60;
	pub const VotingBlocks: u64 = 8;
	pub const OldEpochGraceBlocks: u64 = 15;
}

pub struct SimClock;
impl UnixTime for SimClock {
	fn now() -> core::time::Duration {
		core::time::Duration::from_secs(NowSecs::get())
	}
}

impl pallet_btc_light_client::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type UnixTime = SimClock;
	type MaxHeadersPerSubmission = MaxHeadersPerSubmission;
	type MaxForkDepth = MaxForkDepth;
	type PruningDepth = PruningDepth;
	type WeightInfo = ();
}

/// Validator `v`'s session key is `UintAuthorityId(v)`.
pub struct SimValidators;
impl ValidatorKeys<u64, UintAuthorityId> for SimValidators {
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

pub struct RecordStake;
impl CustodyStake<u64> for RecordStake {
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
		let at_stake = Self::at_stake_sats(who);
		let seized = sats.min(at_stake);
		StakeSats::mutate(|stakes| {
			stakes.retain(|(v, _)| v != who);
			stakes.push((*who, at_stake - seized));
		});
		seized
	}
}

/// Each validator's bonded stake: 1 BTC.
pub const DEFAULT_STAKE_SATS: u64 = 100_000_000;

impl pallet_btc_custody::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type AuthorityId = UintAuthorityId;
	type Validators = SimValidators;
	type OffenceReporter = RecordOffences;
	type MemberStake = RecordStake;
	type Randomness = pallet_btc_bridge::BuriedBitcoinBlocks<Runtime>;
	type MaxParticipants = MaxParticipants;
	type MaxValidators = MaxValidators;
	type DefaultVaultSize = MaxParticipants;
	type MaxVaults = MaxVaults;
	// Re-deals are the custody pallet's tests'; the seeds' rotations come from set changes.
	type DefaultRedealInterval = frame_support::traits::ConstU64<0>;
	type MaxMessagesPerSession = MaxMessagesPerSession;
	type MaxOpenSessions = MaxOpenSessions;
	type DkgRoundBlocks = DkgRoundBlocks;
	type SigningAttemptBlocks = SigningAttemptBlocks;
	type MinRecoveryDelayBlocks = MinRecoveryDelayBlocks;
	type UnsignedPriority = UnsignedPriority;
	type WeightInfo = pallet_btc_custody::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = NoBenchmarks;
}

/// The simulation runs no benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub struct NoBenchmarks;
#[cfg(feature = "runtime-benchmarks")]
impl pallet_btc_custody::BenchmarkHelper<u64, UintAuthorityId> for NoBenchmarks {
	fn set_validators(validators: &[u64]) {
		Validators::set(validators.to_vec());
	}
	fn session_key(validator: &u64) -> UintAuthorityId {
		UintAuthorityId(*validator)
	}
}
#[cfg(feature = "runtime-benchmarks")]
impl pallet_btc_bridge::BenchmarkHelper<u64> for NoBenchmarks {
	fn set_up_custody_epoch() -> [u8; 32] {
		unimplemented!("the simulation runs no benchmarks")
	}
	fn set_up_epoch_members(_: u32, _: u32) {
		unimplemented!("the simulation runs no benchmarks")
	}
	fn set_up_validators(_: u32) -> Vec<(u64, [u8; 32])> {
		unimplemented!("the simulation runs no benchmarks")
	}
}

/// Memo accounts: the first 8 bytes of the EVM address or native account, little endian.
pub struct SimAccounts;
impl pallet_btc_bridge::DepositAccounts<u64> for SimAccounts {
	fn evm_account(address: [u8; 20]) -> u64 {
		u64::from_le_bytes(address[..8].try_into().expect("8 bytes"))
	}
	fn native_account(account: [u8; 32]) -> u64 {
		u64::from_le_bytes(account[..8].try_into().expect("8 bytes"))
	}
}

impl pallet_btc_bridge::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type Currency = Balances;
	type DepositAccounts = SimAccounts;
	type Custody = BtcCustody;
	type MinDepositSats = MinDepositSats;
	type MaxWithdrawalsPerProposal = MaxWithdrawalsPerProposal;
	type MaxInputsPerProposal = MaxInputsPerProposal;
	type MaxRequestsScanned = MaxRequestsScanned;
	type WithdrawalTimeoutBlocks = WithdrawalTimeoutBlocks;
	type MaxVoters = MaxValidators;
	type VotingBlocks = VotingBlocks;
	type OldEpochGraceBlocks = OldEpochGraceBlocks;
	type UnsignedPriority = UnsignedPriority;
	type WeightInfo = pallet_btc_bridge::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = NoBenchmarks;
}

/// A chain whose light client starts at regtest's genesis, `validators` in the set.
pub fn new_chain(validators: &[u64], bitcoin_genesis: &BlockHeader) -> sp_io::TestExternalities {
	Validators::set(validators.to_vec());
	Offences::set(vec![]);
	HeldStake::set(vec![]);
	StakeSats::set(vec![]);
	NowSecs::set(bitcoin_genesis.time as u64);
	let mut storage = frame_system::GenesisConfig::<Runtime>::default().build_storage().unwrap();
	pallet_btc_light_client::GenesisConfig::<Runtime> {
		network: tapchain_primitives::bitcoin::Network::Regtest,
		checkpoint: Some(pallet_btc_light_client::Checkpoint::at_period_start(bitcoin_genesis, 0)),
		_config: Default::default(),
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_btc_custody::GenesisConfig::<Runtime>::default()
		.assimilate_storage(&mut storage)
		.unwrap();
	pallet_btc_bridge::GenesisConfig::<Runtime> {
		required_confirmations: 3,
		fee_rate_bounds: (1, 200),
		default_fee_rate: 2,
		// A signed transaction three Bitcoin blocks late is bumped, by at most 0.001 BTC.
		fee_bump: pallet_btc_bridge::FeeBumpSettings {
			after_bitcoin_blocks: 3,
			max_extra_sats: 100_000,
		},
		_config: Default::default(),
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

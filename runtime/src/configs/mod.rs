//! Pallet configurations of the Tapchain runtime.

use alloc::vec::Vec;
use frame_election_provider_support::{
	bounds::{ElectionBounds, ElectionBoundsBuilder},
	onchain, SequentialPhragmen,
};
use frame_support::{
	derive_impl,
	dispatch::DispatchClass,
	parameter_types,
	traits::{
		fungible::{Balanced, Credit},
		ConstBool, ConstU128, ConstU32, ConstU64, ConstU8, Get, Imbalance, OnUnbalanced,
		VariantCountOf,
	},
	weights::{
		constants::{ParityDbWeight, WEIGHT_REF_TIME_PER_SECOND},
		ConstantMultiplier, Weight,
	},
};
use frame_system::{
	limits::{BlockLength, BlockWeights},
	EnsureRoot, EnsureSigned,
};
use pallet_revive::{evm::fees::BlockRatioFee, AccountId32Mapper, AutoMapper};
use pallet_transaction_payment::{ConstFeeMultiplier, FungibleAdapter, Multiplier};
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_runtime::{traits::One, transaction_validity::TransactionPriority, FixedU128, Perbill};
use sp_staking::{EraIndex, SessionIndex};
use sp_version::RuntimeVersion;

use super::{
	AccountId, Address, Aura, Authorship, Balance, Balances, Block, BlockNumber, BtcCustody,
	EthExtraImpl, Hash, Historical, Nonce, Offences, PalletInfo, Runtime, RuntimeCall,
	RuntimeEvent, RuntimeFreezeReason, RuntimeHoldReason, RuntimeOrigin, RuntimeTask, Session,
	SessionKeys, Signature, Staking, System, Timestamp, DAYS, EXISTENTIAL_DEPOSIT,
	MAX_ELECTED_VALIDATORS, MAX_VALIDATORS, SATS, SESSIONS_PER_ERA, SESSION_PERIOD_IN_BLOCKS,
	SLOT_DURATION, VERSION,
};

const NORMAL_DISPATCH_RATIO: Perbill = Perbill::from_percent(75);
const MAX_BLOCK_LENGTH: u32 = 5 * 1024 * 1024;

parameter_types! {
	pub const BlockHashCount: BlockNumber = 2400;
	pub const Version: RuntimeVersion = VERSION;

	/// We allow for 2 seconds of compute with a 6 second average block time.
	pub RuntimeBlockWeights: BlockWeights = BlockWeights::with_sensible_defaults(
		Weight::from_parts(2u64 * WEIGHT_REF_TIME_PER_SECOND, u64::MAX),
		NORMAL_DISPATCH_RATIO,
	);
	/// 5 MiB blocks, of which 75% for normal transactions.
	pub RuntimeBlockLength: BlockLength = BlockLength::builder()
		.max_length(MAX_BLOCK_LENGTH)
		.modify_max_length_for_class(DispatchClass::Normal, |max| {
			*max = NORMAL_DISPATCH_RATIO * MAX_BLOCK_LENGTH
		})
		.build();
	/// Generic Substrate prefix for SS58 addresses.
	pub const SS58Prefix: u16 = 42;
}

#[derive_impl(frame_system::config_preludes::SolochainDefaultConfig)]
impl frame_system::Config for Runtime {
	type Block = Block;
	type BlockWeights = RuntimeBlockWeights;
	type BlockLength = RuntimeBlockLength;
	type AccountId = AccountId;
	type Nonce = Nonce;
	type Hash = Hash;
	type BlockHashCount = BlockHashCount;
	/// The node stores state in ParityDB (RocksDB is not built).
	type DbWeight = ParityDbWeight;
	type Version = Version;
	type AccountData = pallet_balances::AccountData<Balance>;
	type SS58Prefix = SS58Prefix;
	type MaxConsumers = ConstU32<16>;
	/// Every native account gets its EVM address mapping when it is created (see the crate
	/// docs), and loses it when it is reaped.
	type OnNewAccount = AutoMapper<Runtime>;
	type OnKilledAccount = AutoMapper<Runtime>;
}

impl pallet_timestamp::Config for Runtime {
	/// A timestamp: milliseconds since the unix epoch.
	type Moment = u64;
	type OnTimestampSet = Aura;
	type MinimumPeriod = ConstU64<{ SLOT_DURATION / 2 }>;
	type WeightInfo = ();
}

impl pallet_aura::Config for Runtime {
	type AuthorityId = AuraId;
	/// Validators disabled by an offence in this session do not author.
	type DisabledValidators = Session;
	type MaxAuthorities = ConstU32<MAX_VALIDATORS>;
	type AllowMultipleBlocksPerSlot = ConstBool<false>;
	type SlotDuration = pallet_aura::MinimumPeriodTimesTwo<Runtime>;
}

parameter_types! {
	/// Equivocation reports are valid for as long as the stake can still be slashed.
	pub const ReportLongevity: u64 =
		BondingDuration::get() as u64 * SESSIONS_PER_ERA as u64 * SESSION_PERIOD_IN_BLOCKS as u64;
	pub const MaxSetIdSessionEntries: u64 = BondingDuration::get() as u64 * SESSIONS_PER_ERA as u64;
}

impl pallet_grandpa::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = ();
	type MaxAuthorities = ConstU32<MAX_VALIDATORS>;
	type MaxNominators = MaxNominations;
	type MaxSetIdSessionEntries = MaxSetIdSessionEntries;
	/// Equivocations are proven against the historical session trie and become offences.
	type KeyOwnerProof = sp_session::MembershipProof;
	type EquivocationReportSystem =
		pallet_grandpa::EquivocationReportSystem<Self, Offences, Historical, ReportLongevity>;
}

impl pallet_balances::Config for Runtime {
	type MaxLocks = ConstU32<50>;
	type MaxReserves = ();
	type ReserveIdentifier = [u8; 8];
	type Balance = Balance;
	type RuntimeEvent = RuntimeEvent;
	type DustRemoval = ();
	type ExistentialDeposit = ConstU128<EXISTENTIAL_DEPOSIT>;
	type AccountStore = System;
	type WeightInfo = pallet_balances::weights::SubstrateWeight<Runtime>;
	type FreezeIdentifier = RuntimeFreezeReason;
	type MaxFreezes = VariantCountOf<RuntimeFreezeReason>;
	type RuntimeHoldReason = RuntimeHoldReason;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type DoneSlashHandler = ();
}

/// Base units charged per unit of `ref_time` weight (one picosecond of reference compute):
/// 500 base units, so one second of compute costs 5 * 10^14 base units = 50_000 sats.
pub const WEIGHT_FEE_PER_REF_TIME: Balance = 500;

/// Base units charged per byte of an extrinsic: 10^8 base units = 0.01 sat.
pub const LENGTH_FEE_PER_BYTE: Balance = 100_000_000;

parameter_types! {
	pub FeeMultiplier: Multiplier = Multiplier::one();
	pub const LengthFeePerByte: Balance = LENGTH_FEE_PER_BYTE;
}

/// Weight to fee: [`WEIGHT_FEE_PER_REF_TIME`] per unit of `ref_time`, and proof size at the same
/// price per share of the block. pallet-revive converts between gas and weight through this
/// type, so it must be a `BlockRatioFee`.
pub type WeightToFee = BlockRatioFee<{ WEIGHT_FEE_PER_REF_TIME }, 1, Runtime, Balance>;

/// Transaction fees and tips go to the author of the block that includes them: BTC cannot
/// be minted, so fees are what pays validators.
pub struct FeesToBlockAuthor;
impl OnUnbalanced<Credit<AccountId, Balances>> for FeesToBlockAuthor {
	fn on_unbalanceds(mut fees_then_tips: impl Iterator<Item = Credit<AccountId, Balances>>) {
		if let Some(mut fees) = fees_then_tips.next() {
			if let Some(tips) = fees_then_tips.next() {
				tips.merge_into(&mut fees);
			}
			Self::on_unbalanced(fees);
		}
	}

	fn on_nonzero_unbalanced(amount: Credit<AccountId, Balances>) {
		match Authorship::author() {
			Some(author) => {
				// Crediting fails only if the author's account cannot exist (amount below
				// the existential deposit on a fresh account): the fee is then burned.
				let _ = <Balances as Balanced<AccountId>>::resolve(&author, amount);
			},
			// No author outside of block production (e.g. in some tests): burn.
			None => drop(amount),
		}
	}
}

impl pallet_transaction_payment::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type OnChargeTransaction = FungibleAdapter<Balances, FeesToBlockAuthor>;
	type OperationalFeeMultiplier = ConstU8<5>;
	type WeightToFee = WeightToFee;
	type LengthToFee = ConstantMultiplier<Balance, LengthFeePerByte>;
	type FeeMultiplierUpdate = ConstFeeMultiplier<FeeMultiplier>;
	type WeightInfo = pallet_transaction_payment::weights::SubstrateWeight<Runtime>;
}

impl pallet_authorship::Config for Runtime {
	type FindAuthor = pallet_session::FindAccountFromAuthorIndex<Self, Aura>;
	/// Staking counts authored blocks as era points.
	type EventHandler = Staking;
}

parameter_types! {
	/// The governed session length in blocks, stored under `SessionPeriodSetting::key()`
	/// (`twox128(":SessionPeriodSetting:")`, set with `system.setStorage`); 10 minutes unless
	/// set. Test networks shorten it to see validator-set changes in minutes. On a public
	/// network a shorter session also shortens eras, hence unbonding, in wall-clock time.
	pub storage SessionPeriodSetting: BlockNumber = SESSION_PERIOD_IN_BLOCKS;
	pub const SessionOffset: BlockNumber = 0;
}

/// Shortest session accepted from the setting: a period of 0 would divide by zero in
/// `PeriodicSessions` and halt the chain, and Aura/GRANDPA hand-overs need a few blocks.
pub const MIN_SESSION_PERIOD_IN_BLOCKS: BlockNumber = 5;

/// The session length: the governed setting, never below [`MIN_SESSION_PERIOD_IN_BLOCKS`].
pub struct SessionPeriod;
impl Get<BlockNumber> for SessionPeriod {
	fn get() -> BlockNumber {
		SessionPeriodSetting::get().max(MIN_SESSION_PERIOD_IN_BLOCKS)
	}
}

impl pallet_session::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type ValidatorId = AccountId;
	/// A validator is identified by its stash account.
	type ValidatorIdOf = sp_runtime::traits::ConvertInto;
	type ShouldEndSession = pallet_session::PeriodicSessions<SessionPeriod, SessionOffset>;
	type NextSessionRotation = pallet_session::PeriodicSessions<SessionPeriod, SessionOffset>;
	type SessionManager = pallet_session::historical::NoteHistoricalRoot<Self, Staking>;
	type SessionHandler = <SessionKeys as sp_runtime::traits::OpaqueKeys>::KeyTypeIdProviders;
	type Keys = SessionKeys;
	/// At most a third of the set may be disabled by offences, re-enabling the least
	/// offending when a worse one comes in.
	type DisablingStrategy = pallet_session::disabling::UpToLimitWithReEnablingDisablingStrategy;
	type WeightInfo = pallet_session::weights::SubstrateWeight<Runtime>;
	type Currency = Balances;
	type KeyDeposit = ();
}

impl pallet_session::historical::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type FullIdentification = ();
	type FullIdentificationOf = pallet_staking::UnitIdentificationOf<Self>;
}

/// Most validators one nominator may back.
pub const MAX_NOMINATIONS: u32 = 16;

parameter_types! {
	pub const SessionsPerEra: SessionIndex = SESSIONS_PER_ERA;
	/// Unbonding takes 7 days (168 one-hour eras).
	pub const BondingDuration: EraIndex = 24 * 7;
	/// Slashes can be cancelled by governance for all but the last era of the bonding period.
	pub const SlashDeferDuration: EraIndex = 24 * 7 - 1;
	pub const MaxNominations: u32 = MAX_NOMINATIONS;
	pub const MaxExposurePageSize: u32 = 512;
	pub const HistoryDepth: u32 = 84;
	pub ElectionBoundsOnChain: ElectionBounds = ElectionBoundsBuilder::default()
		.voters_count(5_000.into())
		.targets_count(MAX_VALIDATORS.into())
		.build();
}

/// The on-chain sequential Phragmén election staking runs each era.
pub struct OnChainSeqPhragmen;
impl onchain::Config for OnChainSeqPhragmen {
	type System = Runtime;
	type Solver = SequentialPhragmen<AccountId, Perbill>;
	type DataProvider = Staking;
	type WeightInfo = ();
	type MaxBackersPerWinner = ConstU32<5_000>;
	type MaxWinnersPerPage = ConstU32<MAX_VALIDATORS>;
	type Bounds = ElectionBoundsOnChain;
	type Sort = ConstBool<true>;
}

#[derive_impl(pallet_staking::config_preludes::TestDefaultConfig)]
impl pallet_staking::Config for Runtime {
	type OldCurrency = Balances;
	type Currency = Balances;
	type CurrencyBalance = Balance;
	type RuntimeHoldReason = RuntimeHoldReason;
	type UnixTime = pallet_timestamp::Pallet<Runtime>;
	type CurrencyToVote = sp_staking::currency_to_vote::U128CurrencyToVote;
	type ElectionProvider = onchain::OnChainExecution<OnChainSeqPhragmen>;
	type GenesisElectionProvider = onchain::OnChainExecution<OnChainSeqPhragmen>;
	type NominationsQuota = pallet_staking::FixedNominationsQuota<MAX_NOMINATIONS>;
	type HistoryDepth = HistoryDepth;
	/// Nothing is minted, so there is no reward remainder to route anywhere.
	type RewardRemainder = ();
	type RuntimeEvent = RuntimeEvent;
	/// Slashed stake is burned.
	type Slash = ();
	type Reward = ();
	type SessionsPerEra = SessionsPerEra;
	type BondingDuration = BondingDuration;
	type SlashDeferDuration = SlashDeferDuration;
	type AdminOrigin = EnsureRoot<AccountId>;
	type SessionInterface = Self;
	/// BTC cannot be minted: eras pay no inflation. Validators earn transaction fees.
	type EraPayout = ();
	type NextNewSession = Session;
	type MaxExposurePageSize = MaxExposurePageSize;
	/// Every elected validator must be able to hold a share of the custody key.
	type MaxValidatorSet = ConstU32<MAX_ELECTED_VALIDATORS>;
	type VoterList = pallet_staking::UseNominatorsAndValidatorsMap<Self>;
	type TargetList = pallet_staking::UseValidatorsMap<Self>;
	type MaxUnlockingChunks = ConstU32<32>;
	type MaxControllersInDeprecationBatch = ConstU32<100>;
	type EventListeners = ();
	type Filter = frame_support::traits::Nothing;
	type BenchmarkingConfig = StakingBenchmarkingConfig;
	type WeightInfo = pallet_staking::weights::SubstrateWeight<Runtime>;
}

/// Sizes staking's benchmarks run with.
pub struct StakingBenchmarkingConfig;
impl pallet_staking::BenchmarkingConfig for StakingBenchmarkingConfig {
	type MaxValidators = ConstU32<MAX_VALIDATORS>;
	type MaxNominators = ConstU32<1_000>;
}

impl pallet_offences::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type IdentificationTuple = pallet_session::historical::IdentificationTuple<Self>;
	type OnOffenceHandler = Staking;
}

parameter_types! {
	/// A whole retarget period fits in one submission.
	pub const BtcMaxHeadersPerSubmission: u32 = 2016;
	/// Deeper than any Bitcoin reorganisation since 2013 (24 blocks) by far.
	pub const BtcMaxForkDepth: u32 = 100;
	/// Two retarget periods of history: every rule and every proof the bridge accepts.
	pub const BtcPruningDepth: u32 = 2 * 2016;
}

impl pallet_btc_light_client::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type UnixTime = pallet_timestamp::Pallet<Runtime>;
	type MaxHeadersPerSubmission = BtcMaxHeadersPerSubmission;
	type MaxForkDepth = BtcMaxForkDepth;
	type PruningDepth = BtcPruningDepth;
	type WeightInfo = pallet_btc_light_client::weights::SubstrateWeight<Runtime>;
}

parameter_types! {
	/// Custody DKGs and key epochs take at most this many validators (the target
	/// for on-chain coordination; storage bounds scale with it).
	pub const CustodyMaxParticipants: u32 = 100;
	pub const CustodyMaxMessagesPerSession: u32 = 64;
	pub const CustodyMaxOpenSessions: u32 = 16;
	/// Two minutes per DKG round before silent participants are excluded.
	pub const CustodyDkgRoundBlocks: BlockNumber = 20;
	/// One minute for a signing set to send its shares.
	pub const CustodySigningAttemptBlocks: BlockNumber = 10;
	pub const CustodyUnsignedPriority: TransactionPriority = TransactionPriority::MAX / 2;
	/// Governance cannot set a recovery delay under 30 days of Bitcoin blocks.
	pub const CustodyMinRecoveryDelayBlocks: u16 = 30 * 144;
	/// Vaults of a hundred members, the largest DKG the chain runs well, until governance
	/// says otherwise; up to 50 vaults (a set larger than 50 vaults of the governed size is
	/// dealt into larger vaults: a thousand validators in vaults of at least 20).
	pub const CustodyDefaultVaultSize: u32 = 100;
	pub const CustodyMaxVaults: u32 = 50;
	/// Every seat dealt again from a fresh seed every four weeks: seats an adversary gathered
	/// in one vault by leaving and joining again are scattered at least that often, at the
	/// cost of one DKG per changed vault and a sweep of its coins.
	pub const CustodyDefaultRedealInterval: BlockNumber = 28 * DAYS;
}

/// Validators and session-key owners from pallet-session; the Aura key authenticates a
/// validator's custody registration (zombienet and every chain spec know it).
pub struct SessionValidatorKeys;
impl pallet_btc_custody::ValidatorKeys<AccountId, AuraId> for SessionValidatorKeys {
	fn validators() -> Vec<AccountId> {
		pallet_session::Validators::<Runtime>::get()
	}
	fn owner_of(key: &AuraId) -> Option<AccountId> {
		use sp_runtime::RuntimeAppPublic;
		pallet_session::KeyOwner::<Runtime>::get((
			<AuraId as RuntimeAppPublic>::ID,
			key.to_raw_vec(),
		))
	}
}

/// A custody offence in the form pallet-offences (and through it pallet-staking) takes.
///
/// Silence (a validator offline during a DKG round or a signing attempt) slashes nothing:
/// like im-online's unresponsiveness it is reported so staking can disable and chill. A
/// provably bad DKG share, a false complaint or a bad signature share is deliberate
/// misbehaviour and slashes 1% of the offender's exposure.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CustodyMisbehaviour {
	pub offence: pallet_btc_custody::CustodyOffence,
	pub session_index: SessionIndex,
	pub validator_set_count: u32,
	/// Block the offence was seen at: one report per kind and block.
	pub block: BlockNumber,
	pub offenders: Vec<pallet_session::historical::IdentificationTuple<Runtime>>,
}

impl sp_staking::offence::Offence<pallet_session::historical::IdentificationTuple<Runtime>>
	for CustodyMisbehaviour
{
	const ID: sp_staking::offence::Kind = *b"tapchain:custody";
	type Slot = (u8, BlockNumber);

	fn offenders(&self) -> Vec<pallet_session::historical::IdentificationTuple<Runtime>> {
		self.offenders.clone()
	}

	fn session_index(&self) -> SessionIndex {
		self.session_index
	}

	fn validator_set_count(&self) -> u32 {
		self.validator_set_count
	}

	fn slot(&self) -> Self::Slot {
		(self.offence as u8, self.block)
	}

	fn slash_fraction(&self, _offenders_count: u32) -> Perbill {
		use pallet_btc_custody::CustodyOffence::*;
		match self.offence {
			DkgSilence | SigningSilence | ProposalVoteSilence => Perbill::zero(),
			DkgBadShare | DkgFalseComplaint | DkgWrongKey | BadSignatureShare => {
				Perbill::from_percent(1)
			},
		}
	}
}

/// Reports custody offences through pallet-offences.
pub struct CustodyOffencesToStaking;
impl pallet_btc_custody::ReportCustodyOffence<AccountId> for CustodyOffencesToStaking {
	fn report(offence: pallet_btc_custody::CustodyOffence, offenders: &[AccountId]) {
		use sp_staking::offence::ReportOffence;
		let offenders: Vec<_> = offenders.iter().map(|who| (who.clone(), ())).collect();
		if offenders.is_empty() {
			return;
		}
		let report = CustodyMisbehaviour {
			offence,
			session_index: Session::current_index(),
			validator_set_count: pallet_session::Validators::<Runtime>::decode_len().unwrap_or(0)
				as u32,
			block: System::block_number(),
			offenders,
		};
		// A duplicate (same kind, same block) is already on record.
		let _ = Offences::report_offence(Vec::new(), report);
	}
}

impl pallet_btc_custody::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type AuthorityId = AuraId;
	type Validators = SessionValidatorKeys;
	type OffenceReporter = CustodyOffencesToStaking;
	type MemberStake = CustodyStakeFreeze;
	type Randomness = pallet_btc_bridge::BuriedBitcoinBlocks<Runtime>;
	type MaxParticipants = CustodyMaxParticipants;
	type MaxValidators = ConstU32<MAX_ELECTED_VALIDATORS>;
	type DefaultVaultSize = CustodyDefaultVaultSize;
	type MaxVaults = CustodyMaxVaults;
	type DefaultRedealInterval = CustodyDefaultRedealInterval;
	type MaxMessagesPerSession = CustodyMaxMessagesPerSession;
	type MaxOpenSessions = CustodyMaxOpenSessions;
	type DkgRoundBlocks = CustodyDkgRoundBlocks;
	type SigningAttemptBlocks = CustodySigningAttemptBlocks;
	type MinRecoveryDelayBlocks = CustodyMinRecoveryDelayBlocks;
	type UnsignedPriority = CustodyUnsignedPriority;
	type WeightInfo = pallet_btc_custody::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = CustodyValidatorsForBenchmarks;
}

/// Custody members' bonded BTC stays in their accounts while their key epoch is live: a
/// freeze of what they had staked when the epoch started, lifted when the bridge retires the
/// epoch (its funds moved). Unbonding still completes in staking, but the BTC cannot leave
/// the account before the custody risk it backs is gone. Slashing is not blocked.
pub struct CustodyStakeFreeze;
impl CustodyStakeFreeze {
	fn reason() -> RuntimeFreezeReason {
		RuntimeFreezeReason::BtcCustody(pallet_btc_custody::FreezeReason::CustodyMember)
	}
}
impl pallet_btc_custody::CustodyStake<AccountId> for CustodyStakeFreeze {
	fn hold(who: &AccountId) {
		use frame_support::traits::fungible::MutateFreeze;
		use sp_staking::StakingInterface;
		let stake = <Staking as StakingInterface>::total_stake(who).unwrap_or(0);
		if stake > 0 {
			let _ = Balances::extend_freeze(&Self::reason(), who, stake);
		}
	}
	fn release(who: &AccountId) {
		use frame_support::traits::fungible::MutateFreeze;
		let _ = Balances::thaw(&Self::reason(), who);
	}
	fn is_held(who: &AccountId) -> bool {
		use frame_support::traits::fungible::InspectFreeze;
		use sp_staking::StakingInterface;
		Balances::balance_frozen(&Self::reason(), who) > 0
			|| <Staking as StakingInterface>::total_stake(who).unwrap_or(0) == 0
	}
	/// The bonded stake, or the frozen part of the balance if more (stake unbonded while a
	/// key it holds is live stays frozen), never more than the account holds.
	fn at_stake_sats(who: &AccountId) -> u64 {
		Self::at_stake(who).0
	}
	/// Slashes the bonded stake through staking's own ledger (the validator's `Slashed`
	/// event, unlocking chunks included), then the frozen rest of the balance, and burns it.
	fn seize_sats(who: &AccountId, sats: u64) -> u64 {
		use frame_support::traits::{
			fungible::{InspectFreeze, Mutate, MutateFreeze},
			tokens::{imbalance::Imbalance, Fortitude, Precision, Preservation},
		};
		let (at_stake_sats, bonded) = Self::at_stake(who);
		let wanted = tapchain_primitives::sats_to_base_units(sats.min(at_stake_sats));
		let mut slashed = pallet_staking::NegativeImbalanceOf::<Runtime>::zero();
		if bonded > 0 {
			let era = pallet_staking::ActiveEra::<Runtime>::get().map_or(0, |era| era.index);
			let mut no_reward = 0;
			pallet_staking::slashing::do_slash::<Runtime>(
				who,
				wanted.min(bonded),
				&mut no_reward,
				&mut slashed,
				era,
			);
		}
		let mut taken = slashed.peek();
		// Dropping the imbalance burns it: total issuance falls with the bridge's debt.
		drop(slashed);
		if taken < wanted {
			// Frozen, not bonded: the freeze does not stand in the way of a forced burn.
			taken += Balances::burn_from(
				who,
				wanted - taken,
				Preservation::Preserve,
				Precision::BestEffort,
				Fortitude::Force,
			)
			.unwrap_or(0);
		}
		// What was seized no longer backs the key: the freeze keeps only the rest at stake.
		let frozen = Balances::balance_frozen(&Self::reason(), who);
		if frozen > 0 {
			let _ = match frozen.saturating_sub(taken) {
				0 => Balances::thaw(&Self::reason(), who),
				rest => Balances::set_freeze(&Self::reason(), who, rest),
			};
		}
		tapchain_primitives::base_units_to_sats(taken).map_or(0, |(sats, _)| sats)
	}
}

impl CustodyStakeFreeze {
	/// `who`'s stake at risk in sats, and its bonded stake in base units.
	fn at_stake(who: &AccountId) -> (u64, Balance) {
		use frame_support::traits::fungible::{Inspect, InspectFreeze};
		use sp_staking::StakingInterface;
		let bonded = <Staking as StakingInterface>::total_stake(who).unwrap_or(0);
		let frozen = Balances::balance_frozen(&Self::reason(), who);
		let at_stake = bonded.max(frozen).min(Balances::total_balance(who));
		(
			tapchain_primitives::base_units_to_sats(at_stake).map_or(u64::MAX, |(sats, _)| sats),
			bonded,
		)
	}
}

/// Benchmarks of the custody pallet write the validator set and session-key owners
/// directly; the session keys are made in the benchmark's keystore.
#[cfg(feature = "runtime-benchmarks")]
pub struct CustodyValidatorsForBenchmarks;
#[cfg(feature = "runtime-benchmarks")]
impl pallet_btc_custody::BenchmarkHelper<AccountId, AuraId> for CustodyValidatorsForBenchmarks {
	fn set_validators(validators: &[AccountId]) {
		pallet_session::Validators::<Runtime>::put(validators.to_vec());
	}
	fn session_key(validator: &AccountId) -> AuraId {
		use sp_runtime::RuntimeAppPublic;
		let key = AuraId::generate_pair(None);
		pallet_session::KeyOwner::<Runtime>::insert(
			(<AuraId as RuntimeAppPublic>::ID, key.to_raw_vec()),
			validator,
		);
		key
	}
}

parameter_types! {
	/// Smallest deposit credited: 10,000 sats (smaller ones are recorded as unclaimed).
	pub const BridgeMinDepositSats: u64 = 10_000;
	/// Outputs of one withdrawal transaction.
	pub const BridgeMaxWithdrawalsPerProposal: u32 = 50;
	/// Inputs of one bridge transaction: one custody signing session signs them all.
	pub const BridgeMaxInputsPerProposal: u32 = CustodyMaxMessagesPerSession::get();
	/// Queued requests one proposal considers (oldest first; unpayable ones are skipped).
	pub const BridgeMaxRequestsScanned: u32 = 200;
	/// A queued request is refunded if not paid within a day (14,400 blocks of 6 s).
	pub const BridgeWithdrawalTimeoutBlocks: BlockNumber = DAYS;
	/// An old custody address keeps taking deposits for a day after its key was replaced.
	pub const BridgeOldEpochGraceBlocks: BlockNumber = DAYS;
	pub const BridgeMaxVoters: u32 = MAX_ELECTED_VALIDATORS;
	/// A proposal gets 20 blocks (2 minutes) for its two-thirds decision.
	pub const BridgeVotingBlocks: BlockNumber = 20;
	pub const BridgeUnsignedPriority: TransactionPriority = TransactionPriority::MAX / 2;
}

/// Deposit memos name an EVM address (the account pallet-revive maps it to: the native
/// account it belongs to, or its fallback account) or a native account.
pub struct MemoAccounts;
impl pallet_btc_bridge::DepositAccounts<AccountId> for MemoAccounts {
	fn evm_account(address: [u8; 20]) -> AccountId {
		<AccountId32Mapper<Runtime> as pallet_revive::AddressMapper<Runtime>>::to_account_id(
			&sp_core::H160(address),
		)
	}
	fn native_account(account: [u8; 32]) -> AccountId {
		AccountId::from(account)
	}
}

impl pallet_btc_bridge::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type Currency = Balances;
	type DepositAccounts = MemoAccounts;
	type Custody = BtcCustody;
	type MinDepositSats = BridgeMinDepositSats;
	type MaxWithdrawalsPerProposal = BridgeMaxWithdrawalsPerProposal;
	type MaxInputsPerProposal = BridgeMaxInputsPerProposal;
	type MaxRequestsScanned = BridgeMaxRequestsScanned;
	type WithdrawalTimeoutBlocks = BridgeWithdrawalTimeoutBlocks;
	type MaxVoters = BridgeMaxVoters;
	type VotingBlocks = BridgeVotingBlocks;
	type OldEpochGraceBlocks = BridgeOldEpochGraceBlocks;
	type UnsignedPriority = BridgeUnsignedPriority;
	type WeightInfo = pallet_btc_bridge::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = CustodyEpochForBenchmarks;
}

/// Benchmarks of the bridge need a custody key epoch: one is written directly.
#[cfg(feature = "runtime-benchmarks")]
pub struct CustodyEpochForBenchmarks;
#[cfg(feature = "runtime-benchmarks")]
impl pallet_btc_bridge::BenchmarkHelper<AccountId> for CustodyEpochForBenchmarks {
	fn set_up_custody_epoch() -> [u8; 32] {
		// The x coordinate of secp256k1's generator: a valid x-only key.
		let output_key =
			sp_core::hex2array!("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
		pallet_btc_custody::Epochs::<Runtime>::insert(
			0,
			pallet_btc_custody::KeyEpoch {
				dkg_id: 1,
				vault: 0,
				stake_sats: u64::MAX,
				output_key,
				internal_key: output_key,
				recovery: None,
				members: Default::default(),
				threshold: 1,
				public_key_package: Default::default(),
				started_at: 0,
			},
		);
		pallet_btc_custody::CurrentEpoch::<Runtime>::put(0);
		pallet_btc_custody::VaultCount::<Runtime>::put(1);
		pallet_btc_custody::VaultEpochs::<Runtime>::insert(0, 0);
		pallet_btc_custody::LiveEpochs::<Runtime>::insert(0, ());
		output_key
	}

	/// Each member bonds 10 BTC with staking and has it frozen by custody, as a validator
	/// that took part in the key's DKG.
	fn set_up_epoch_members(epoch: u32, members: u32) {
		use frame_support::traits::fungible::Mutate;
		use pallet_btc_custody::CustodyStake;
		let bond = 10 * tapchain_primitives::BASE_UNITS_PER_BTC;
		let mut accounts = alloc::vec::Vec::new();
		for i in 0..members {
			let member: AccountId = frame_benchmarking::account("member", i, 0);
			let _ = Balances::set_balance(&member, 2 * bond);
			Staking::bond(
				RuntimeOrigin::signed(member.clone()),
				bond,
				pallet_staking::RewardDestination::Stash,
			)
			.expect("a funded account bonds");
			CustodyStakeFreeze::hold(&member);
			let mut identity = [0u8; 32];
			identity[..4].copy_from_slice(&i.to_le_bytes());
			accounts.push((member, pallet_btc_custody::CustodyIdentity(identity)));
		}
		pallet_btc_custody::Epochs::<Runtime>::mutate(epoch, |key| {
			if let Some(key) = key {
				key.members = accounts.try_into().expect("at most MaxParticipants members");
			}
		});
	}
	/// Session validators with registered custody identities (no bond: a vote's cost does not
	/// depend on it).
	fn set_up_validators(count: u32) -> alloc::vec::Vec<(AccountId, [u8; 32])> {
		let validators: alloc::vec::Vec<(AccountId, [u8; 32])> = (0..count)
			.map(|i| {
				let validator: AccountId = frame_benchmarking::account("validator", i, 0);
				let mut identity = [0xbe; 32];
				identity[..4].copy_from_slice(&i.to_le_bytes());
				pallet_btc_custody::IdentityOwners::<Runtime>::insert(
					pallet_btc_custody::CustodyIdentity(identity),
					&validator,
				);
				(validator, identity)
			})
			.collect();
		pallet_session::Validators::<Runtime>::put(
			validators.iter().map(|(v, _)| v.clone()).collect::<alloc::vec::Vec<_>>(),
		);
		validators
	}
}

impl pallet_sudo::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type WeightInfo = pallet_sudo::weights::SubstrateWeight<Runtime>;
}

/// Lets the runtime create unsigned extrinsics (GRANDPA equivocation reports).
impl<C> frame_system::offchain::CreateTransactionBase<C> for Runtime
where
	RuntimeCall: From<C>,
{
	type Extrinsic = super::UncheckedExtrinsic;
	type RuntimeCall = RuntimeCall;
}

impl<C> frame_system::offchain::CreateBare<C> for Runtime
where
	RuntimeCall: From<C>,
{
	fn create_bare(call: RuntimeCall) -> super::UncheckedExtrinsic {
		sp_runtime::generic::UncheckedExtrinsic::new_bare(call).into()
	}
}

/// The EVM chain ID (EIP-155) of the `development` preset, and of a chain whose genesis sets
/// none: 8284242 (0x7e6852), not assigned to any network in the ethereum-lists registry.
/// Each preset has its own ([`crate::genesis_config_presets`]); the chain's is in storage
/// ([`crate::evm_chain_id`]).
pub const EVM_CHAIN_ID: u64 = 8_284_242;

/// Multiplies the default gas price (fee multiplier 1 x `NativeToEthRatio` 1 = 1 wei), so that
/// gas figures come out near Ethereum's: an Ethereum value transfer to an existing account
/// costs about 53 sats of fee, which at this price is just under 21,000 gas (measured: 20,452),
/// so wallets that assume 21,000 gas for a plain send still work. It does not change what a
/// transaction costs, only how many units of gas that cost is expressed in.
pub const EVM_GAS_SCALE: u32 = 26_000_000;

/// The EVM gas price: 2.6 * 10^7 wei = 0.0026 sat per gas (fixed, like the fee multiplier).
pub const EVM_GAS_PRICE_WEI: Balance = EVM_GAS_SCALE as Balance;

parameter_types! {
	/// Deposit held per storage item a contract creates: 10 sats, returned when it is cleared.
	pub const DepositPerItem: Balance = 10 * SATS;
	/// Deposit held per byte of contract storage and code: 0.1 sat (a 5 KB contract: 500 sats).
	pub const DepositPerByte: Balance = SATS / 10;
	/// Child-trie entries are cheap bookkeeping: a hundredth of an item.
	pub const DepositPerChildTrieItem: Balance = 10 * SATS / 100;
	/// Share of a code's deposit locked by each contract instantiated from it, so that code in
	/// use cannot be removed by its uploader.
	pub const CodeHashLockupDepositPercent: Perbill = Perbill::from_percent(30);
	/// One Ethereum transaction may use up to 90% of a block's normal-class weight.
	pub const MaxEthExtrinsicWeight: FixedU128 = FixedU128::from_rational(9, 10);
}

impl crate::evm_chain_id::Config for Runtime {}

impl pallet_revive::Config for Runtime {
	type Time = Timestamp;
	type Balance = Balance;
	type Currency = Balances;
	/// Balance burned by the EVM (e.g. sent to a self-destructed contract) is destroyed.
	type OnBurn = ();
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type RuntimeOrigin = RuntimeOrigin;
	type RuntimeHoldReason = RuntimeHoldReason;
	type WeightInfo = pallet_revive::weights::SubstrateWeight<Runtime>;
	/// The BTC withdrawal precompile (`IBtcWithdrawal.sol`).
	type Precompiles = (crate::precompiles::BtcWithdrawal<Runtime>,);
	/// `block.coinbase` is the stash of the validator that authored the block.
	type FindAuthor = pallet_session::FindAccountFromAuthorIndex<Self, Aura>;
	type DepositPerByte = DepositPerByte;
	type DepositPerItem = DepositPerItem;
	type DepositPerChildTrieItem = DepositPerChildTrieItem;
	type CodeHashLockupDepositPercent = CodeHashLockupDepositPercent;
	type AddressMapper = AccountId32Mapper<Self>;
	/// Plain solc output deploys and runs on the EVM interpreter.
	type AllowEVMBytecode = ConstBool<true>;
	type UploadOrigin = EnsureSigned<AccountId>;
	type InstantiateOrigin = EnsureSigned<AccountId>;
	type RuntimeMemory = ConstU32<{ 128 * 1024 * 1024 }>;
	type PVFMemory = ConstU32<{ 512 * 1024 * 1024 }>;
	/// This network's ID, from genesis: a transaction signed for another network is refused.
	type ChainId = crate::evm_chain_id::GenesisChainId<Runtime>;
	/// 18-decimal BTC: one base unit is one wei.
	type NativeToEthRatio = ConstU32<1>;
	type FeeInfo = pallet_revive::evm::fees::Info<Address, Signature, EthExtraImpl>;
	type Deposit = ();
	type MaxEthExtrinsicWeight = MaxEthExtrinsicWeight;
	type DebugEnabled = ConstBool<false>;
	type AutoMap = ConstBool<true>;
	type GasScale = ConstU32<EVM_GAS_SCALE>;
}

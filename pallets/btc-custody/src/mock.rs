//! A minimal runtime around the custody pallet: validators are accounts 1..=n whose session
//! key is `UintAuthorityId(account)`.

use crate as pallet_btc_custody;
use crate::{CustodyOffence, ReportCustodyOffence, ValidatorKeys};
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
}

parameter_types! {
	/// The current validators.
	pub static Validators: Vec<u64> = vec![];
	/// Offences reported so far.
	pub static Offences: Vec<(CustodyOffence, Vec<u64>)> = vec![];
	pub const MaxParticipants: u32 = 100;
	pub const MaxMessagesPerSession: u32 = 16;
	pub const MaxOpenSessions: u32 = 8;
	pub const DkgRoundBlocks: u64 = 5;
	pub const SigningAttemptBlocks: u64 = 3;
	pub const UnsignedPriority: u64 = 1 << 20;
	pub const MinRecoveryDelayBlocks: u16 = 1000;
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

impl pallet_btc_custody::Config for Test {
	type RuntimeEvent = RuntimeEvent;
	type AuthorityId = UintAuthorityId;
	type Validators = MockValidators;
	type OffenceReporter = RecordOffences;
	type MaxParticipants = MaxParticipants;
	type MaxMessagesPerSession = MaxMessagesPerSession;
	type MaxOpenSessions = MaxOpenSessions;
	type DkgRoundBlocks = DkgRoundBlocks;
	type SigningAttemptBlocks = SigningAttemptBlocks;
	type MinRecoveryDelayBlocks = MinRecoveryDelayBlocks;
	type UnsignedPriority = UnsignedPriority;
}

/// A chain whose validators are accounts `1..=validators`.
pub fn new_test_ext(validators: u64) -> sp_io::TestExternalities {
	Validators::set((1..=validators).collect());
	Offences::set(vec![]);
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_btc_custody::GenesisConfig::<Test>::default().assimilate_storage(&mut storage).unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

//! A minimal runtime around the light client for unit tests.

use crate as pallet_btc_light_client;
use frame_support::{derive_impl, parameter_types, traits::UnixTime};
use sp_runtime::BuildStorage;

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		BtcLightClient: pallet_btc_light_client,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
}

parameter_types! {
	/// The chain's clock in tests, seconds since the epoch.
	pub static NowSecs: u64 = 2_000_000_000;
	pub static MaxForkDepth: u32 = 100;
	pub const PruningDepth: u32 = 2016 + 100;
	pub const MaxHeadersPerSubmission: u32 = 2016;
}

/// A settable clock.
pub struct MockTime;
impl UnixTime for MockTime {
	fn now() -> core::time::Duration {
		core::time::Duration::from_secs(NowSecs::get())
	}
}

impl pallet_btc_light_client::Config for Test {
	type RuntimeEvent = RuntimeEvent;
	type UnixTime = MockTime;
	type MaxHeadersPerSubmission = MaxHeadersPerSubmission;
	type MaxForkDepth = MaxForkDepth;
	type PruningDepth = PruningDepth;
	type WeightInfo = ();
}

/// An empty chain: no checkpoint yet.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

//! A runtime around the bridge with the real light client (regtest headers mined in the
//! tests) and a custody double that signs like FROST would: one BIP-340 key per epoch,
//! whose x-only public key is the epoch's output key (the custody pallet's own tests run
//! the real threshold protocol; a FROST signature is indistinguishable from this one).

use crate as pallet_btc_bridge;
use crate::{DepositAccounts, SigningStatus, TheftSlash, ThresholdCustody};
use frame_support::{derive_impl, parameter_types, traits::UnixTime};
use k256::schnorr::SigningKey;
use pallet_btc_light_client::Checkpoint;
use sp_runtime::BuildStorage;
use tapchain_primitives::bitcoin::{
	merkle::merkle_branch, merkle_root, BlockHash, BlockHeader, CompactTarget, Network, Target,
	Transaction, TxMerkleNode,
};
use tapchain_primitives::custody::SigningRequestError;

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		BtcLightClient: pallet_btc_light_client,
		BtcBridge: pallet_btc_bridge,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<u128>;
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
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = u128;
	type AccountStore = System;
	type ExistentialDeposit = frame_support::traits::ConstU128<1>;
}

parameter_types! {
	pub static NowSecs: u64 = 2_000_000_000;
	pub const MaxForkDepth: u32 = 100;
	pub const PruningDepth: u32 = 2016 + 100;
	pub const MaxHeadersPerSubmission: u32 = 2016;
}

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

parameter_types! {
	/// Validators (accounts) with their custody identity secret `[v as u8; 32]`.
	pub static Validators: Vec<u64> = vec![1, 2, 3, 4];
	/// Key epochs: `(epoch, signing secret)`; the last one is current.
	pub static Epochs: Vec<(u32, [u8; 32])> = vec![(0, [0xe0; 32])];
	pub static Retired: Vec<u32> = vec![];
	/// Each epoch's vault (vault 0 unless listed).
	pub static EpochVaults: Vec<(u32, u32)> = vec![];
	/// Each epoch's backing stake in sats (plenty unless listed).
	pub static BackingStakeSats: Vec<(u32, u64)> = vec![];
	/// Signing sessions: `(epoch, messages, status)`; closed ones are `None`.
	pub static Sessions: Vec<Option<MockSession>> = vec![];
	/// Validators beyond the first twenty, with their identities (benchmarks, large sets).
	pub static MoreIdentities: Vec<(u64, [u8; 32])> = vec![];
	/// Validators reported silent on a vote, in report order.
	pub static SilenceReports: Vec<Vec<u64>> = vec![];
	/// The epochs' members' stake at risk, in sats, all epochs together.
	pub static StakeAtRiskSats: u64 = 100_000_000;
	/// Thefts custody was asked to slash: `(epoch, sats asked, sats burned)`.
	pub static TheftSlashes: Vec<(u32, u64, u64)> = vec![];
	pub const MinDepositSats: u64 = 10_000;
	pub const MaxWithdrawalsPerProposal: u32 = 50;
	pub const MaxInputsPerProposal: u32 = 64;
	pub const MaxRequestsScanned: u32 = 200;
	pub const WithdrawalTimeoutBlocks: u64 = 500;
	pub const MaxVoters: u32 = 1_000;
	pub const VotingBlocks: u64 = 10;
	pub const OldEpochGraceBlocks: u64 = 20;
	pub const UnsignedPriority: u64 = 1 << 20;
}

/// A signing session of the custody double: `(epoch, messages, status)`.
pub type MockSession = (u32, Vec<[u8; 32]>, SigningStatus);

/// A validator's custody identity secret.
pub fn identity_secret(validator: u64) -> SigningKey {
	if validator < 256 {
		return SigningKey::from_bytes(&[validator as u8; 32]).unwrap();
	}
	let mut secret = [0x5a; 32];
	secret[..8].copy_from_slice(&validator.to_le_bytes());
	SigningKey::from_bytes(&secret).unwrap()
}

pub fn identity_of(validator: u64) -> [u8; 32] {
	identity_secret(validator).verifying_key().to_bytes().into()
}

/// The vault an epoch's key belongs to ([`EpochVaults`], vault 0 unless set).
pub fn vault_of(epoch: u32) -> u32 {
	EpochVaults::get().iter().find(|(e, _)| *e == epoch).map_or(0, |(_, vault)| *vault)
}

pub fn epoch_key(epoch: u32) -> Option<SigningKey> {
	Epochs::get()
		.into_iter()
		.find(|(e, _)| *e == epoch)
		.map(|(_, secret)| SigningKey::from_bytes(&secret).unwrap())
}

pub fn output_key_of(epoch: u32) -> [u8; 32] {
	epoch_key(epoch).unwrap().verifying_key().to_bytes().into()
}

pub struct MockCustody;
impl ThresholdCustody<u64> for MockCustody {
	fn current_epochs() -> Vec<u32> {
		let mut current: Vec<(u32, u32)> = Vec::new();
		for (epoch, _) in Epochs::get() {
			let vault = vault_of(epoch);
			current.retain(|(v, _)| *v != vault);
			current.push((vault, epoch));
		}
		current.sort();
		current.into_iter().map(|(_, epoch)| epoch).collect()
	}
	fn successor(epoch: u32) -> Option<u32> {
		Self::current_epochs()
			.into_iter()
			.find(|current| vault_of(*current) == vault_of(epoch))
			.filter(|current| *current != epoch)
	}
	fn backing_stake_sats(epoch: u32) -> u64 {
		BackingStakeSats::get().iter().find(|(e, _)| *e == epoch).map_or(u64::MAX / 4, |(_, s)| *s)
	}
	fn live_epochs() -> Vec<u32> {
		Epochs::get().into_iter().map(|(e, _)| e).filter(|e| !Retired::get().contains(e)).collect()
	}
	fn output_key(epoch: u32) -> Option<[u8; 32]> {
		if Retired::get().contains(&epoch) {
			return None;
		}
		epoch_key(epoch).map(|key| key.verifying_key().to_bytes().into())
	}
	fn validators() -> Vec<u64> {
		Validators::get()
	}
	fn validator_of_identity(identity: &[u8; 32]) -> Option<u64> {
		if let Some((validator, _)) = MoreIdentities::get().iter().find(|(_, i)| i == identity) {
			return Some(*validator);
		}
		(1..=20u64).find(|v| identity_of(*v) == *identity)
	}
	fn request_signatures(epoch: u32, messages: Vec<[u8; 32]>) -> Result<u64, SigningRequestError> {
		if Self::output_key(epoch).is_none() {
			return Err(SigningRequestError::EpochRetired);
		}
		Sessions::mutate(|s| {
			s.push(Some((epoch, messages, SigningStatus::Pending { shares_published: false })));
			Ok(s.len() as u64)
		})
	}
	fn signing_status(session_id: u64) -> SigningStatus {
		Sessions::get()
			.get(session_id as usize - 1)
			.cloned()
			.flatten()
			.map(|s| s.2)
			.unwrap_or(SigningStatus::Failed)
	}
	fn close_session(session_id: u64) {
		Sessions::mutate(|s| {
			if let Some(session) = s.get_mut(session_id as usize - 1) {
				*session = None;
			}
		});
	}
	fn report_vote_silence(validators: &[u64]) {
		SilenceReports::mutate(|reports| reports.push(validators.to_vec()));
	}
	fn slash_for_theft(epoch: u32, stolen_sats: u64) -> TheftSlash {
		// Custody burns a penalty of 3/2 of the theft (any two of three equal stakes lose
		// what they took), up to what is at stake.
		let burned = (stolen_sats.saturating_mul(3) / 2).min(StakeAtRiskSats::get());
		StakeAtRiskSats::mutate(|sats| *sats -= burned);
		TheftSlashes::mutate(|slashes| slashes.push((epoch, stolen_sats, burned)));
		TheftSlash { burned_sats: burned, members: Validators::get().len() as u32 }
	}
	fn retire_epoch(epoch: u32) -> bool {
		if Self::current_epochs().contains(&epoch) || Retired::get().contains(&epoch) {
			return false;
		}
		Retired::mutate(|r| r.push(epoch));
		true
	}
}

/// Custody signs every pending session with its epoch key (what FROST's aggregate is).
pub fn sign_pending_sessions() {
	Sessions::mutate(|sessions| {
		for (epoch, messages, status) in sessions.iter_mut().flatten() {
			if matches!(status, SigningStatus::Pending { .. }) {
				let key = epoch_key(*epoch).unwrap();
				let signatures = messages
					.iter()
					.map(|m| key.sign_raw(m, &[0u8; 32]).unwrap().to_bytes())
					.collect();
				*status = SigningStatus::Ready(signatures);
			}
		}
	});
}

/// Memo accounts: the first 8 bytes of the EVM address / native account, plus a marker
/// so that the two kinds never collide.
pub struct MockDepositAccounts;
impl DepositAccounts<u64> for MockDepositAccounts {
	fn evm_account(address: [u8; 20]) -> u64 {
		1_000_000 + u64::from_le_bytes(address[..8].try_into().unwrap()) % 1_000_000
	}
	fn native_account(account: [u8; 32]) -> u64 {
		u64::from_le_bytes(account[..8].try_into().unwrap())
	}
}

impl pallet_btc_bridge::Config for Test {
	type RuntimeEvent = RuntimeEvent;
	type Currency = Balances;
	type DepositAccounts = MockDepositAccounts;
	type Custody = MockCustody;
	type MinDepositSats = MinDepositSats;
	type MaxWithdrawalsPerProposal = MaxWithdrawalsPerProposal;
	type MaxInputsPerProposal = MaxInputsPerProposal;
	type MaxRequestsScanned = MaxRequestsScanned;
	type WithdrawalTimeoutBlocks = WithdrawalTimeoutBlocks;
	type MaxVoters = MaxVoters;
	type VotingBlocks = VotingBlocks;
	type OldEpochGraceBlocks = OldEpochGraceBlocks;
	type UnsignedPriority = UnsignedPriority;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = MockBenchmarkHelper;
}

/// Benchmarks pay the mock's epoch 0.
#[cfg(feature = "runtime-benchmarks")]
pub struct MockBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper<u64> for MockBenchmarkHelper {
	fn set_up_custody_epoch() -> [u8; 32] {
		Epochs::set(vec![(0, [0xe0; 32])]);
		Retired::set(vec![]);
		output_key_of(0)
	}
	fn set_up_epoch_members(_: u32, members: u32) {
		StakeAtRiskSats::set(members as u64 * 100_000_000);
	}
	fn set_up_validators(count: u32) -> Vec<(u64, [u8; 32])> {
		let validators = more_validators(count);
		Validators::set(validators.iter().map(|(v, _)| *v).collect());
		MoreIdentities::set(validators.clone());
		validators
	}
}

/// `count` validators numbered from 1,000, with their custody identities.
pub fn more_validators(count: u32) -> Vec<(u64, [u8; 32])> {
	(1_000..1_000 + count as u64).map(|v| (v, identity_of(v))).collect()
}

/// An empty chain for the benchmarks (they start the light client themselves).
#[cfg(feature = "runtime-benchmarks")]
pub fn new_bench_ext() -> sp_io::TestExternalities {
	let storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// nBits at regtest's pow limit: about every second hash meets it.
pub const REGTEST_BITS: CompactTarget = CompactTarget(0x207f_ffff);

/// Finds a nonce so that the header meets its own target.
pub fn mine(mut header: BlockHeader) -> BlockHeader {
	let target = header.bits.to_target(Target(sp_core::U256::MAX)).unwrap();
	while !target.is_met_by(&header.block_hash().0) {
		header.nonce = header.nonce.wrapping_add(1);
	}
	header
}

/// Bitcoin, as the tests see it: the light client's best chain, grown block by block.
pub struct BitcoinChain {
	pub tip: BlockHeader,
	/// Headers mined but not yet submitted.
	pub unsubmitted: Vec<BlockHeader>,
	tag: u8,
}

/// A Merkle proof of `txid` among `txids`.
pub fn proof_of(
	txids: &[tapchain_primitives::bitcoin::Txid],
	index: usize,
) -> pallet_btc_light_client::MerkleProof {
	pallet_btc_light_client::MerkleProof {
		tx_index: index as u32,
		branch: merkle_branch(txids, index).unwrap().try_into().unwrap(),
	}
}

impl BitcoinChain {
	/// Mines a block holding `transactions` (after a coinbase stand-in); returns its hash
	/// and, per transaction, its inclusion proof.
	pub fn mine_block(
		&mut self,
		transactions: &[&Transaction],
	) -> (BlockHash, Vec<pallet_btc_light_client::MerkleProof>) {
		self.tag = self.tag.wrapping_add(1);
		let mut txids = vec![tapchain_primitives::bitcoin::Txid([self.tag; 32])];
		txids.extend(transactions.iter().map(|tx| tx.txid()));
		let header = mine(BlockHeader {
			version: 4,
			prev_blockhash: self.tip.block_hash(),
			merkle_root: merkle_root(&txids).unwrap_or(TxMerkleNode([0; 32])),
			time: self.tip.time + 600,
			bits: REGTEST_BITS,
			nonce: 0,
		});
		self.tip = header;
		self.unsubmitted.push(header);
		let proofs = (1..txids.len()).map(|i| proof_of(&txids, i)).collect();
		(header.block_hash(), proofs)
	}

	/// Mines `count` empty blocks.
	pub fn mine_empty(&mut self, count: usize) {
		for _ in 0..count {
			self.mine_block(&[]);
		}
	}

	/// Submits the mined headers to the light client.
	pub fn relay(&mut self) {
		if self.unsubmitted.is_empty() {
			return;
		}
		let headers = core::mem::take(&mut self.unsubmitted);
		pallet_btc_light_client::Pallet::<Test>::submit_headers(
			RuntimeOrigin::signed(99),
			headers.try_into().unwrap(),
		)
		.unwrap();
	}
}

/// A chain whose light client starts at a mined regtest genesis.
pub fn new_test_ext() -> (sp_io::TestExternalities, BitcoinChain) {
	let genesis = mine(BlockHeader {
		version: 1,
		prev_blockhash: BlockHash([0; 32]),
		merkle_root: TxMerkleNode([0x11; 32]),
		time: 1_900_000_000,
		bits: REGTEST_BITS,
		nonce: 0,
	});
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![(10, 1_000 * tapchain_primitives::BASE_UNITS_PER_BTC), (99, 1 << 80)],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_btc_light_client::GenesisConfig::<Test> {
		network: Network::Regtest,
		checkpoint: Some(Checkpoint::at_period_start(&genesis, 0)),
		_config: Default::default(),
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_btc_bridge::GenesisConfig::<Test> {
		required_confirmations: 3,
		fee_rate_bounds: (1, 500),
		default_fee_rate: 1,
		fee_bump: Default::default(),
		_config: Default::default(),
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	Validators::set(vec![1, 2, 3, 4]);
	Epochs::set(vec![(0, [0xe0; 32])]);
	Retired::set(vec![]);
	Sessions::set(vec![]);
	StakeAtRiskSats::set(100_000_000);
	EpochVaults::set(vec![]);
	BackingStakeSats::set(vec![]);
	TheftSlashes::set(vec![]);
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	(ext, BitcoinChain { tip: genesis, unsubmitted: Vec::new(), tag: 0 })
}

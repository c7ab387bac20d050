//! The EVM chain ID (EIP-155) of this network, set in genesis.
//!
//! Every Ethereum transaction signs its chain ID, and pallet-revive refuses one signed for
//! another. A constant would give every Tapchain network the same ID, so a transaction
//! signed on a development chain would replay on any other; the ID lives in genesis instead
//! (`evmChainId.chainId` in a chain spec), and each preset has its own
//! ([`crate::genesis_config_presets`]). eth-rpc reads it from the metadata constant
//! `Revive::ChainId`, which the runtime computes from this storage.
//!
//! The ID cannot change after genesis: wallets and signed transactions rely on it.

pub use pallet::*;

#[frame_support::pallet]
pub mod pallet {
	use frame_support::pallet_prelude::*;

	#[pallet::config]
	pub trait Config: frame_system::Config {}

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	/// The chain ID signed Ethereum transactions must carry. A chain whose genesis did not set
	/// one (none of ours) reads [`crate::configs::EVM_CHAIN_ID`].
	#[pallet::storage]
	pub type ChainId<T> = StorageValue<_, u64, ValueQuery, DefaultChainId>;

	/// [`crate::configs::EVM_CHAIN_ID`], the development network's ID.
	pub struct DefaultChainId;
	impl Get<u64> for DefaultChainId {
		fn get() -> u64 {
			crate::configs::EVM_CHAIN_ID
		}
	}

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// This network's EIP-155 chain ID (non-zero).
		pub chain_id: u64,
		#[serde(skip)]
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			// Zero is what an omitted field deserializes to; such a chain keeps the default
			// rather than an ID no wallet accepts.
			if self.chain_id != 0 {
				ChainId::<T>::put(self.chain_id);
			}
		}
	}
}

/// pallet-revive's `ChainId`: this network's ID from storage.
pub struct GenesisChainId<T>(core::marker::PhantomData<T>);

impl<T: Config> frame_support::traits::Get<u64> for GenesisChainId<T> {
	fn get() -> u64 {
		ChainId::<T>::get()
	}
}

//! # Bitcoin light client
//!
//! Follows Bitcoin's best chain inside the runtime without trusting anyone: relayers submit
//! headers, and only headers Bitcoin Core would accept are stored:
//!
//! - each header connects to a stored header and meets its own target (proof of work);
//! - its nBits are exactly what the network's retarget rule demands (mainnet 2016-header
//!   retarget with the 4x clamp; testnet3's 20-minute minimum-difficulty rule; testnet4's
//!   BIP94 rules; regtest's fixed target);
//! - its timestamp is above the median of the previous 11 and at most 2 hours ahead of the
//!   chain's own clock; its version meets BIP34/66/65 for its height.
//!
//! Every branch is kept with its cumulative work and the best chain is the one with the
//! **most work** (not the longest); a switch of branch updates the height index and emits
//! [`Event::ChainReorganized`] with its depth. Branches that leave the best chain deeper
//! than [`Config::MaxForkDepth`] are refused, and headers more than
//! [`Config::PruningDepth`] below the tip are pruned, so storage stays bounded.
//!
//! Other pallets prove transactions with [`Pallet::verify_inclusion`]: the Merkle branch
//! must lead to a best-chain header's root, 64-byte transactions are refused (they could be
//! inner nodes in disguise) and the index must fit the branch's depth.
//!
//! A submission that extends the best chain with only new headers is free (`Pays::No`); one
//! with a duplicate, or that leaves the best chain where it was (a side branch), pays its fee,
//! and one with nothing new fails. A height holds at most 16 headers; when full, a new header
//! evicts the least-work one that is neither on the best chain nor a parent (if it has no more
//! work than the newcomer), so cheap minimum-difficulty headers cannot lock a height.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
pub mod runtime_api;
#[cfg(any(test, feature = "runtime-benchmarks"))]
pub mod test_utils;
#[cfg(test)]
mod tests;
mod types;
pub mod weights;

pub use types::*;
pub use weights::WeightInfo;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_support::{dispatch::PostDispatchInfo, pallet_prelude::*, traits::UnixTime};
	use frame_system::pallet_prelude::*;
	use tapchain_primitives::bitcoin::{
		network::{
			required_bits, ParentContext, MAX_FUTURE_BLOCK_TIME_SECS, MAX_TIMEWARP_SECS,
			MEDIAN_TIME_SPAN,
		},
		verify_merkle_branch, BlockHash, BlockHeader, Network, NetworkParams, Transaction, Work,
	};

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The overarching event type.
		#[allow(deprecated)]
		type RuntimeEvent: From<Event<Self>> + IsType<<Self as frame_system::Config>::RuntimeEvent>;

		/// The chain's own clock, for the "at most 2 hours in the future" rule.
		type UnixTime: UnixTime;

		/// Most headers in one `submit_headers` call.
		#[pallet::constant]
		type MaxHeadersPerSubmission: Get<u32>;

		/// How far below the best tip a competing branch may leave the best chain.
		#[pallet::constant]
		type MaxForkDepth: Get<u32>;

		/// Headers this far below the best tip are pruned. At least a retarget period plus
		/// the fork depth, so that every rule and proof has what it needs.
		#[pallet::constant]
		type PruningDepth: Get<u32>;

		/// Weights of this pallet's calls.
		type WeightInfo: WeightInfo;
	}

	/// The Bitcoin network whose headers are followed.
	#[pallet::storage]
	pub type BitcoinNetwork<T> = StorageValue<_, Network, ValueQuery>;

	/// Every stored header (best chain and forks) by hash.
	#[pallet::storage]
	pub type Headers<T> = StorageMap<_, Blake2_128Concat, BlockHash, StoredHeader>;

	/// Every stored header by height, and which one is on the best chain.
	#[pallet::storage]
	pub type HeightIndex<T> = StorageMap<_, Twox64Concat, u32, HeightEntry, ValueQuery>;

	/// The tip of the best chain.
	#[pallet::storage]
	pub type BestTip<T> = StorageValue<_, ChainTip>;

	/// Lowest height whose headers are still stored (the checkpoint until pruning starts).
	#[pallet::storage]
	pub type LowestStoredHeight<T> = StorageValue<_, u32, ValueQuery>;

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Which Bitcoin network to follow.
		pub network: Network,
		/// Where to start; without one, the light client refuses headers until a runtime
		/// upgrade gives it one.
		pub checkpoint: Option<Checkpoint>,
		#[serde(skip)]
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			BitcoinNetwork::<T>::put(self.network);
			if let Some(checkpoint) = &self.checkpoint {
				if let Err(reason) = Pallet::<T>::initialize(self.network, checkpoint) {
					panic!("invalid Bitcoin light client checkpoint: {reason}");
				}
			}
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// New headers were stored; the best tip is now `best_hash` at `best_height`.
		HeadersImported { count: u32, best_hash: BlockHash, best_height: u32 },
		/// The best chain switched branch: `depth` best-chain headers were replaced.
		ChainReorganized { old_tip: BlockHash, new_tip: BlockHash, depth: u32 },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The light client has no checkpoint.
		NotInitialized,
		/// The submission holds no header.
		EmptySubmission,
		/// Every header of the submission is already stored.
		DuplicateHeader,
		/// The header's parent is not stored (never submitted, or pruned).
		UnknownParent,
		/// The header's branch leaves the best chain deeper than `MaxForkDepth`.
		ForkTooDeep,
		/// The version is below the minimum for the height (BIP34/66/65).
		VersionTooOld,
		/// nBits differ from what the network's retarget rule requires.
		UnexpectedDifficultyBits,
		/// nBits do not encode a valid target (negative, overflow, zero or above the limit).
		InvalidTarget,
		/// The header's hash is above its target.
		InsufficientProofOfWork,
		/// The timestamp is not above the median of the previous 11.
		TimestampNotAboveMedian,
		/// The timestamp is more than 2 hours ahead of the chain's clock.
		TimestampTooFarInFuture,
		/// BIP94: a retarget header more than 10 minutes older than its parent.
		TimewarpAttack,
		/// Too many competing headers at one height.
		TooManyHeadersAtHeight,
		/// The block of the proof is not stored.
		UnknownBlock,
		/// The block of the proof is not on the best chain.
		BlockNotInBestChain,
		/// The transaction bytes do not parse.
		MalformedTransaction,
		/// 64-byte transactions are refused: they could be inner Merkle nodes.
		SixtyFourByteTransaction,
		/// The Merkle branch is deeper than any block.
		MerkleProofTooDeep,
		/// The index does not fit the Merkle branch.
		MerkleIndexOutOfRange,
		/// The proof points past the block's last transaction.
		MerkleDuplicatedNode,
		/// The Merkle branch does not lead to the block's root.
		MerkleRootMismatch,
		/// The block has fewer confirmations than required.
		InsufficientConfirmations,
	}

	impl<T> From<SpvError> for Error<T> {
		fn from(error: SpvError) -> Self {
			match error {
				SpvError::NotInitialized => Error::NotInitialized,
				SpvError::UnknownBlock => Error::UnknownBlock,
				SpvError::BlockNotInBestChain => Error::BlockNotInBestChain,
				SpvError::MalformedTransaction => Error::MalformedTransaction,
				SpvError::SixtyFourByteTransaction => Error::SixtyFourByteTransaction,
				SpvError::MerkleProofTooDeep => Error::MerkleProofTooDeep,
				SpvError::MerkleIndexOutOfRange => Error::MerkleIndexOutOfRange,
				SpvError::MerkleDuplicatedNode => Error::MerkleDuplicatedNode,
				SpvError::MerkleRootMismatch => Error::MerkleRootMismatch,
				SpvError::InsufficientConfirmations => Error::InsufficientConfirmations,
			}
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Submits Bitcoin headers, parents before children. Each must pass every header
		/// rule or the whole submission fails and nothing is stored. Free when every header
		/// is new; headers already stored are skipped, but then the submission pays.
		#[pallet::call_index(0)]
		#[pallet::weight(
			T::WeightInfo::submit_headers(headers.len() as u32)
				.saturating_add(T::WeightInfo::submit_fork_header(T::MaxForkDepth::get()))
		)]
		pub fn submit_headers(
			origin: OriginFor<T>,
			headers: BoundedVec<BlockHeader, T::MaxHeadersPerSubmission>,
		) -> DispatchResultWithPostInfo {
			ensure_signed(origin)?;
			ensure!(!headers.is_empty(), Error::<T>::EmptySubmission);
			ensure!(BestTip::<T>::exists(), Error::<T>::NotInitialized);

			let mut tip = BestTip::<T>::get().ok_or(Error::<T>::NotInitialized)?;
			let work_before = tip.chain_work;
			let mut imported = 0u32;
			let mut duplicates = 0u32;
			let mut fork_hint = None;
			for header in headers.iter() {
				if Headers::<T>::contains_key(header.block_hash()) {
					duplicates += 1;
					continue;
				}
				Self::import_header(header, &mut tip, &mut fork_hint)?;
				imported += 1;
			}
			ensure!(imported > 0, Error::<T>::DuplicateHeader);
			BestTip::<T>::put(tip);

			Self::deposit_event(Event::HeadersImported {
				count: imported,
				best_hash: tip.hash,
				best_height: tip.height,
			});
			// Free only if it moved the best chain and repeated nothing: a side branch (or
			// spam at a height) is paid for.
			let pays_fee =
				if duplicates == 0 && tip.chain_work > work_before { Pays::No } else { Pays::Yes };
			Ok(PostDispatchInfo {
				actual_weight: Some(T::WeightInfo::submit_headers(headers.len() as u32)),
				pays_fee,
			})
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		/// Pruning runs in leftover block weight, so relaying headers never pays for it.
		fn on_idle(_now: BlockNumberFor<T>, remaining_weight: Weight) -> Weight {
			Self::prune(remaining_weight)
		}

		fn integrity_test() {
			assert!(T::MaxForkDepth::get() > 0, "MaxForkDepth must allow some fork");
			assert!(
				T::PruningDepth::get() >= T::MaxForkDepth::get() + 2016,
				"PruningDepth must keep a retarget period beyond the deepest fork"
			);
			assert!(T::MaxHeadersPerSubmission::get() > 0);
		}
	}

	impl<T: Config> Pallet<T> {
		/// The network's consensus parameters.
		pub fn network_params() -> NetworkParams {
			BitcoinNetwork::<T>::get().params()
		}

		/// Stores the checkpoint as the best tip (genesis).
		pub fn initialize(network: Network, checkpoint: &Checkpoint) -> Result<(), &'static str> {
			let params = network.params();
			let header = BlockHeader::from_bytes(&checkpoint.header)
				.map_err(|_| "the checkpoint header is not 80 well-formed bytes")?;
			let target = header
				.bits
				.to_target(params.pow_limit)
				.map_err(|_| "the checkpoint's nBits do not encode a valid target")?;
			let hash = header.block_hash();
			if !target.is_met_by(&hash.0) {
				return Err("the checkpoint header does not meet its own target");
			}
			let at_period_start = checkpoint.height.is_multiple_of(params.retarget_interval());
			let (period_first_time, period_first_bits) = if at_period_start {
				(header.time, header.bits)
			} else {
				match (checkpoint.period_first_time, checkpoint.period_first_bits) {
					(Some(time), Some(bits)) => (time, tapchain_primitives::bitcoin::CompactTarget(bits)),
					_ => return Err("a checkpoint inside a retarget period needs periodFirstTime and periodFirstBits"),
				}
			};
			if checkpoint.previous_timestamps.len() >= MEDIAN_TIME_SPAN {
				return Err("previousTimestamps holds at most 10 timestamps");
			}
			let mut recent_times = checkpoint.previous_timestamps.clone();
			recent_times.push(header.time);
			let chain_work = checkpoint.chain_work.map(Work).unwrap_or_else(|| target.to_work());
			let stored = StoredHeader {
				header,
				height: checkpoint.height,
				chain_work,
				period_first_time,
				period_first_bits,
				last_non_min_difficulty_bits: checkpoint
					.last_non_min_difficulty_bits
					.map(tapchain_primitives::bitcoin::CompactTarget)
					.unwrap_or(header.bits),
				recent_times: BoundedVec::truncate_from(recent_times),
			};
			BitcoinNetwork::<T>::put(network);
			Headers::<T>::insert(hash, &stored);
			HeightIndex::<T>::insert(
				checkpoint.height,
				HeightEntry { best: Some(hash), all: BoundedVec::truncate_from(alloc::vec![hash]) },
			);
			BestTip::<T>::put(ChainTip { hash, height: checkpoint.height, chain_work });
			LowestStoredHeight::<T>::put(checkpoint.height);
			Ok(())
		}

		/// Checks one header against every rule and stores it; updates the best chain.
		/// `tip` is the best tip as the submission has moved it so far (written once, at the
		/// end of the submission); `fork_hint` remembers where the previous header's branch
		/// met the best chain, so a branch submitted in one go is walked back only once.
		pub(crate) fn import_header(
			header: &BlockHeader,
			tip: &mut ChainTip,
			fork_hint: &mut Option<(BlockHash, u32)>,
		) -> Result<(), Error<T>> {
			let params = Self::network_params();
			let hash = header.block_hash();
			let parent =
				Headers::<T>::get(header.prev_blockhash).ok_or(Error::<T>::UnknownParent)?;
			let height = parent.height.checked_add(1).ok_or(Error::<T>::UnknownParent)?;

			// Proof of work first: it is what makes every other check worth its cost.
			let target =
				header.bits.to_target(params.pow_limit).map_err(|_| Error::<T>::InvalidTarget)?;
			ensure!(target.is_met_by(&hash.0), Error::<T>::InsufficientProofOfWork);

			let context = ParentContext {
				height: parent.height,
				bits: parent.header.bits,
				time: parent.header.time,
				period_first_time: parent.period_first_time,
				period_first_bits: parent.period_first_bits,
				last_non_min_difficulty_bits: parent.last_non_min_difficulty_bits,
			};
			ensure!(
				header.bits == required_bits(&params, &context, header.time),
				Error::<T>::UnexpectedDifficultyBits
			);
			ensure!(header.time > parent.median_time_past(), Error::<T>::TimestampNotAboveMedian);
			let now_secs = T::UnixTime::now().as_secs();
			ensure!(
				header.time as u64 <= now_secs.saturating_add(MAX_FUTURE_BLOCK_TIME_SECS),
				Error::<T>::TimestampTooFarInFuture
			);
			let starts_period = height.is_multiple_of(params.retarget_interval());
			if params.enforce_bip94 && starts_period {
				ensure!(
					header.time >= parent.header.time.saturating_sub(MAX_TIMEWARP_SECS),
					Error::<T>::TimewarpAttack
				);
			}
			ensure!(header.version >= params.min_version_at(height), Error::<T>::VersionTooOld);

			// A branch off the best chain may not start deeper than MaxForkDepth.
			let fork_height = match *fork_hint {
				_ if header.prev_blockhash == tip.hash => parent.height,
				Some((hinted_parent, fork_height))
					if hinted_parent == header.prev_blockhash
						&& Self::best_hash_at(fork_height).is_some() =>
				{
					fork_height
				},
				_ => Self::fork_point(&parent, header.prev_blockhash, tip.height)?,
			};
			ensure!(
				tip.height.saturating_sub(fork_height) <= T::MaxForkDepth::get(),
				Error::<T>::ForkTooDeep
			);

			let mut recent_times = parent.recent_times.to_vec();
			recent_times.push(header.time);
			if recent_times.len() > MEDIAN_TIME_SPAN {
				recent_times.remove(0);
			}
			let child = context.child(&params, header);
			let stored = StoredHeader {
				header: *header,
				height,
				chain_work: parent.chain_work.saturating_add(target.to_work()),
				period_first_time: child.period_first_time,
				period_first_bits: child.period_first_bits,
				last_non_min_difficulty_bits: child.last_non_min_difficulty_bits,
				recent_times: BoundedVec::truncate_from(recent_times),
			};
			// Most work wins; on a tie the branch seen first stays (as in Bitcoin Core).
			let becomes_best = stored.chain_work > tip.chain_work;
			let extends_tip = header.prev_blockhash == tip.hash;
			HeightIndex::<T>::try_mutate(height, |entry| {
				if entry.all.is_full() {
					// Cheap headers (testnet's minimum-difficulty rule) could fill a height
					// before the honest one arrives. A full height makes room by dropping its
					// least-work header that is neither on the best chain nor a parent, if
					// it has no more work than this one.
					let evict = Self::evictable_at(height, &entry.all, entry.best)
						.filter(|(_, work)| *work <= stored.chain_work)
						.map(|(evicted, _)| evicted)
						.ok_or(Error::<T>::TooManyHeadersAtHeight)?;
					entry.all.retain(|h| *h != evict);
					Headers::<T>::remove(evict);
				}
				entry.all.try_push(hash).map_err(|_| Error::<T>::TooManyHeadersAtHeight)?;
				if becomes_best {
					entry.best = Some(hash);
				}
				Ok::<(), Error<T>>(())
			})?;
			Headers::<T>::insert(hash, &stored);

			if becomes_best {
				if !extends_tip {
					Self::reorganize(hash, &stored, *tip);
				}
				*tip = ChainTip { hash, height, chain_work: stored.chain_work };
				// Now on the best chain: its children meet the best chain at itself.
				*fork_hint = Some((hash, height));
			} else {
				*fork_hint = Some((hash, fork_height));
			}
			Ok(())
		}

		/// Of the headers at `height`, the one with the least cumulative work that is not on
		/// the best chain and has no child stored (the first of equals), with its work.
		fn evictable_at(
			height: u32,
			all: &[BlockHash],
			best: Option<BlockHash>,
		) -> Option<(BlockHash, Work)> {
			let children: alloc::vec::Vec<BlockHash> = HeightIndex::<T>::get(height + 1)
				.all
				.iter()
				.filter_map(|child| Headers::<T>::get(child).map(|h| h.header.prev_blockhash))
				.collect();
			all.iter()
				.filter(|h| Some(**h) != best && !children.contains(h))
				.filter_map(|h| Headers::<T>::get(h).map(|stored| (*h, stored.chain_work)))
				.fold(None, |least: Option<(BlockHash, Work)>, (h, work)| match least {
					Some((_, least_work)) if least_work <= work => least,
					_ => Some((h, work)),
				})
		}

		/// The best chain's header hash at `height`.
		pub fn best_hash_at(height: u32) -> Option<BlockHash> {
			HeightIndex::<T>::get(height).best
		}

		/// Height where the branch ending in `parent` meets the best chain, walking back at
		/// most `MaxForkDepth` headers.
		fn fork_point(
			parent: &StoredHeader,
			parent_hash: BlockHash,
			tip_height: u32,
		) -> Result<u32, Error<T>> {
			let mut hash = parent_hash;
			let mut header = parent.clone();
			loop {
				if Self::best_hash_at(header.height) == Some(hash) {
					return Ok(header.height);
				}
				if tip_height.saturating_sub(header.height) >= T::MaxForkDepth::get() {
					return Err(Error::<T>::ForkTooDeep);
				}
				hash = header.header.prev_blockhash;
				header = Headers::<T>::get(hash).ok_or(Error::<T>::ForkTooDeep)?;
			}
		}

		/// Moves the best chain to the branch ending in `new_hash` (already marked best at
		/// its own height): rewrites the index down to the fork point and reports the depth.
		fn reorganize(new_hash: BlockHash, new: &StoredHeader, old: ChainTip) {
			let mut height = new.height;
			let mut prev = new.header.prev_blockhash;
			let fork_height = loop {
				let Some(parent) = Headers::<T>::get(prev) else { break height };
				height = parent.height;
				if Self::best_hash_at(height) == Some(prev) {
					break height;
				}
				HeightIndex::<T>::mutate(height, |entry| entry.best = Some(prev));
				prev = parent.header.prev_blockhash;
			};
			// The old chain may have been longer (lighter but longer): its top leaves the index.
			for stale in (new.height + 1)..=old.height {
				HeightIndex::<T>::mutate(stale, |entry| entry.best = None);
			}
			Self::deposit_event(Event::ChainReorganized {
				old_tip: old.hash,
				new_tip: new_hash,
				depth: old.height.saturating_sub(fork_height),
			});
		}

		/// Removes headers more than `PruningDepth` below the best tip, as far as `budget`
		/// allows; returns the weight used.
		pub(crate) fn prune(budget: Weight) -> Weight {
			let per_height = T::WeightInfo::prune_height(MAX_HEADERS_PER_HEIGHT);
			let mut used = T::DbWeight::get().reads(2);
			let Some(tip) = BestTip::<T>::get() else { return used };
			let keep_from = tip.height.saturating_sub(T::PruningDepth::get());
			let mut lowest = LowestStoredHeight::<T>::get();
			if lowest >= keep_from {
				return used;
			}
			while lowest < keep_from && used.saturating_add(per_height).all_lte(budget) {
				Self::prune_height(lowest);
				lowest += 1;
				used = used.saturating_add(per_height);
			}
			LowestStoredHeight::<T>::put(lowest);
			used.saturating_add(T::DbWeight::get().writes(1))
		}

		/// Removes every header stored at `height`.
		pub(crate) fn prune_height(height: u32) {
			for hash in HeightIndex::<T>::take(height).all {
				Headers::<T>::remove(hash);
			}
		}

		/// Proves that `raw_tx` is in `block_hash` on the best chain, and how deep.
		pub fn verify_inclusion(
			raw_tx: &[u8],
			proof: &MerkleProof,
			block_hash: BlockHash,
		) -> Result<VerifiedInclusion, SpvError> {
			let tip = BestTip::<T>::get().ok_or(SpvError::NotInitialized)?;
			if raw_tx.len() == 64 {
				return Err(SpvError::SixtyFourByteTransaction);
			}
			let stored = Headers::<T>::get(block_hash).ok_or(SpvError::UnknownBlock)?;
			if Self::best_hash_at(stored.height) != Some(block_hash) {
				return Err(SpvError::BlockNotInBestChain);
			}
			let transaction = Transaction::from_bytes(raw_tx)?;
			// The txid commits to the serialization without witness; that must not be 64
			// bytes either, or it could be an inner node.
			let txid = transaction.txid();
			if transaction.to_bytes_without_witness().len() == 64 {
				return Err(SpvError::SixtyFourByteTransaction);
			}
			verify_merkle_branch(txid, proof.tx_index, &proof.branch, stored.header.merkle_root)?;
			Ok(VerifiedInclusion {
				transaction,
				txid,
				block_hash,
				block_height: stored.height,
				confirmations: tip.height - stored.height + 1,
			})
		}

		/// Like [`Self::verify_inclusion`], and the block must have `min_confirmations`.
		pub fn verify_confirmed_inclusion(
			raw_tx: &[u8],
			proof: &MerkleProof,
			block_hash: BlockHash,
			min_confirmations: u32,
		) -> Result<VerifiedInclusion, SpvError> {
			let inclusion = Self::verify_inclusion(raw_tx, proof, block_hash)?;
			if inclusion.confirmations < min_confirmations {
				return Err(SpvError::InsufficientConfirmations);
			}
			Ok(inclusion)
		}

		/// The best tip, if initialised.
		pub fn best_tip() -> Option<ChainTip> {
			BestTip::<T>::get()
		}

		/// Height of a stored header.
		pub fn height_of(hash: BlockHash) -> Option<u32> {
			Headers::<T>::get(hash).map(|stored| stored.height)
		}

		/// The best chain's header at `height`.
		pub fn header_at(height: u32) -> Option<BlockHeader> {
			Self::best_hash_at(height).and_then(Headers::<T>::get).map(|stored| stored.header)
		}
	}
}

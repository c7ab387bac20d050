//! EVM precompiles of Tapchain.
//!
//! [`BtcWithdrawal`] at `0x000000000000000000000000000000000B7C0000` lets wallets and
//! contracts withdraw BTC to a Bitcoin address: the interface is `IBtcWithdrawal.sol` beside
//! this file.

use alloc::{string::String, vec::Vec};
use core::{marker::PhantomData, num::NonZero};
use frame_support::BoundedVec;
use pallet_btc_bridge::{ProposalStatus, WithdrawalStatus};
use pallet_revive::{
	precompiles::{
		alloy::{
			primitives::{Address, FixedBytes, U256},
			sol_types::{SolCall, SolEvent, SolValue},
		},
		AddressMatcher, Error, Ext, Precompile, RuntimeCosts,
	},
	AddressMapper,
};
use sp_core::H256;

use crate::{BtcBridge, Runtime};

alloy_core::sol!("src/precompiles/IBtcWithdrawal.sol");

use IBtcWithdrawal::IBtcWithdrawalCalls;

/// The withdrawal precompile.
pub struct BtcWithdrawal<T>(PhantomData<T>);

/// The precompile's address: `0x000000000000000000000000000000000B7C0000`.
pub const BTC_WITHDRAWAL_ADDRESS: [u8; 20] = {
	let mut address = [0u8; 20];
	address[16] = 0x0b;
	address[17] = 0x7c;
	address
};

fn revert(reason: impl Into<String>) -> Error {
	Error::Revert(reason.into().into())
}

/// `Error::<Runtime>::WrongNetwork` -> "WrongNetwork": the pallet error's name, for reverts.
fn dispatch_error_name(error: sp_runtime::DispatchError) -> String {
	match error {
		sp_runtime::DispatchError::Module(module) => {
			module.message.map(String::from).unwrap_or_else(|| alloc::format!("{module:?}"))
		},
		other => alloc::format!("{other:?}"),
	}
}

fn address_bytes(text: &str) -> Result<BoundedVec<u8, pallet_btc_bridge::MaxAddressLen>, Error> {
	text.as_bytes().to_vec().try_into().map_err(|_| revert("MalformedAddress"))
}

impl Precompile for BtcWithdrawal<Runtime> {
	type T = Runtime;
	type Interface = IBtcWithdrawalCalls;
	const MATCHER: AddressMatcher = AddressMatcher::Fixed(NonZero::new(0x0b7c).unwrap());
	const HAS_CONTRACT_INFO: bool = false;

	fn call(
		_address: &[u8; 20],
		input: &Self::Interface,
		env: &mut impl Ext<T = Self::T>,
	) -> Result<Vec<u8>, Error> {
		let reads = <Runtime as frame_system::Config>::DbWeight::get();
		// BTC sent along with a call would stay at the precompile's address, which no one
		// controls: refuse it (the amount to withdraw is an argument and is burned).
		if !env.value_transferred().is_zero() {
			return Err(revert("NonPayable: the amount is an argument, send no value"));
		}
		match input {
			IBtcWithdrawalCalls::requestWithdrawal(call) => {
				env.frame_meter_mut().charge_weight_token(RuntimeCosts::Precompile(
					pallet_btc_bridge::Pallet::<Runtime>::request_withdrawal_weight(),
				))?;
				if env.is_read_only() {
					return Err(pallet_revive::Error::<Runtime>::StateChangeDenied.into());
				}
				if env.is_delegate_call() {
					return Err(pallet_revive::Error::<Runtime>::PrecompileDelegateDenied.into());
				}
				let owner = env
					.caller()
					.account_id()
					.map_err(|_| revert("the caller has no account"))?
					.clone();
				let amount =
					u128::try_from(call.amount).map_err(|_| revert("InsufficientBalance"))?;
				// An address the chain cannot pay reverts with what is wrong with it.
				let network = pallet_btc_light_client::BitcoinNetwork::<Runtime>::get();
				if let Err(error) = tapchain_primitives::bitcoin::BitcoinAddress::parse_bytes(
					call.btcAddress.as_bytes(),
					network,
				) {
					return Err(revert(alloc::format!("{error:?}")));
				}
				let id = BtcBridge::do_request_withdrawal(
					owner.clone(),
					address_bytes(&call.btcAddress)?,
					amount,
				)
				.map_err(|e| revert(dispatch_error_name(e)))?;
				let owner_address =
					<Runtime as pallet_revive::Config>::AddressMapper::to_address(&owner);
				let event = IBtcWithdrawal::WithdrawalRequested {
					id,
					owner: Address::from(owner_address.0),
					btcAddress: call.btcAddress.clone(),
					amount: call.amount,
				};
				let log = event.encode_log_data();
				env.deposit_event(
					log.topics().iter().map(|topic| H256(topic.0)).collect(),
					log.data.to_vec(),
				);
				Ok(id.abi_encode())
			},
			IBtcWithdrawalCalls::minimumWithdrawal(call) => {
				env.frame_meter_mut().charge_weight_token(RuntimeCosts::Precompile(
					reads.reads(2).saturating_add(BtcBridge::fee_rate_weight()),
				))?;
				let sats = BtcBridge::minimum_withdrawal_for(call.btcAddress.as_bytes())
					.map_err(|e| revert(alloc::format!("{e:?}")))?;
				Ok(U256::from(tapchain_primitives::sats_to_base_units(sats)).abi_encode())
			},
			IBtcWithdrawalCalls::withdrawal(call) => {
				env.frame_meter_mut()
					.charge_weight_token(RuntimeCosts::Precompile(reads.reads(2)))?;
				let Some(withdrawal) = pallet_btc_bridge::Withdrawals::<Runtime>::get(call.id)
				else {
					return Ok(IBtcWithdrawal::withdrawalCall::abi_encode_returns(
						&IBtcWithdrawal::withdrawalReturn {
							status: 0,
							amountSats: 0,
							txid: FixedBytes::ZERO,
						},
					));
				};
				let proposal_of = |id| pallet_btc_bridge::Proposals::<Runtime>::get(id);
				let (status, txid) = match withdrawal.status {
					WithdrawalStatus::Queued => (1u8, None),
					WithdrawalStatus::Proposed { proposal_id } => match proposal_of(proposal_id) {
						Some(p) if p.status == ProposalStatus::Signed => (3, Some(p.txid)),
						Some(p) => (2, Some(p.txid)),
						None => (2, None),
					},
					WithdrawalStatus::Paid { txid, .. } => (4, Some(txid)),
					WithdrawalStatus::Refunded => (5, None),
				};
				let txid = txid.map_or(FixedBytes::<32>::ZERO, |txid| {
					let mut display = txid.0;
					display.reverse();
					FixedBytes(display)
				});
				Ok(IBtcWithdrawal::withdrawalCall::abi_encode_returns(
					&IBtcWithdrawal::withdrawalReturn {
						status,
						amountSats: withdrawal.amount_sats,
						txid,
					},
				))
			},
			IBtcWithdrawalCalls::depositAddress(_) => {
				env.frame_meter_mut()
					.charge_weight_token(RuntimeCosts::Precompile(reads.reads(3)))?;
				let address =
					BtcBridge::deposit_address().map(|(_, _, address)| address).unwrap_or_default();
				Ok(address.abi_encode())
			},
		}
	}
}

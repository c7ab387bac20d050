//! The node's own RPC methods, on top of the standard ones `sc-service` provides
//! (system, chain, state, author).

#![warn(missing_docs)]

use std::sync::Arc;

use jsonrpsee::RpcModule;
use sc_transaction_pool_api::TransactionPool;
use sp_api::ProvideRuntimeApi;
use sp_block_builder::BlockBuilder;
use sp_blockchain::{Error as BlockChainError, HeaderBackend, HeaderMetadata};
use tapchain_runtime::{opaque::Block, AccountId, Balance, Nonce};

/// Full client dependencies.
pub struct FullDeps<C, P> {
	/// The client instance to use.
	pub client: Arc<C>,
	/// Transaction pool instance.
	pub pool: Arc<P>,
}

/// Instantiate all full RPC extensions: account nonces (`system_accountNextIndex`), fee
/// queries (`payment_queryInfo`, `payment_queryFeeDetails`) and the Bitcoin light client
/// (`btc_bestTip`, `btc_headerAt`, `btc_heightOf`, `btc_confirmations`) and the bridge
/// (`bridge_depositAddress`, `bridge_withdrawal`, `bridge_signedTransaction`, ...).
pub fn create_full<C, P>(
	deps: FullDeps<C, P>,
) -> Result<RpcModule<()>, Box<dyn std::error::Error + Send + Sync>>
where
	C: ProvideRuntimeApi<Block>,
	C: HeaderBackend<Block> + HeaderMetadata<Block, Error = BlockChainError> + 'static,
	C: Send + Sync + 'static,
	C::Api: substrate_frame_rpc_system::AccountNonceApi<Block, AccountId, Nonce>,
	C::Api: pallet_transaction_payment_rpc::TransactionPaymentRuntimeApi<Block, Balance>,
	C::Api: BlockBuilder<Block>,
	C::Api: pallet_btc_light_client::runtime_api::BtcLightClientApi<Block>,
	C::Api: pallet_btc_bridge::runtime_api::BtcBridgeApi<
		Block,
		AccountId,
		tapchain_runtime::BlockNumber,
		pallet_btc_bridge::Proposal<tapchain_runtime::Runtime>,
	>,
	P: TransactionPool + 'static,
{
	use crate::{
		bridge_rpc::{BridgeRpcServer, BridgeRpcServerImpl},
		btc_rpc::{BtcLightClientRpcServer, BtcLightClientRpcServerImpl},
	};
	use pallet_transaction_payment_rpc::{TransactionPayment, TransactionPaymentApiServer};
	use substrate_frame_rpc_system::{System, SystemApiServer};

	let mut module = RpcModule::new(());
	let FullDeps { client, pool } = deps;

	module.merge(System::new(client.clone(), pool).into_rpc())?;
	module.merge(TransactionPayment::new(client.clone()).into_rpc())?;
	module.merge(BtcLightClientRpcServerImpl::new(client.clone()).into_rpc())?;
	module.merge(BridgeRpcServerImpl::new(client).into_rpc())?;

	Ok(module)
}

//! The client against btc-sim over HTTP (btc-sim's replies have Bitcoin Core 30's shapes, as
//! its own tests check): every typed method, and the typed errors a relayer acts on.

use bitcoin::{consensus::encode::serialize_hex, Amount, Network, TxOut};
use btc_sim::{RpcServer, SimConfig, SimNode};
use serde_json::json;
use std::{net::TcpListener, sync::Arc};
use tapchain_bitcoind::{error_code, BitcoindClient, BitcoindError};

fn serve(node: Arc<SimNode>) -> (RpcServer, BitcoindClient) {
	let server = RpcServer::start(node, TcpListener::bind("127.0.0.1:0").unwrap(), None);
	let client = BitcoindClient::from_url(&server.url()).unwrap();
	(server, client)
}

#[test]
fn every_method_returns_bitcoin_types_that_match_the_chain() {
	let node = Arc::new(SimNode::new(SimConfig::default()));
	let (_server, client) = serve(node.clone());
	let wallet = node.wallet_address().script_pubkey();
	let mined = node.mine(101, &wallet);

	assert_eq!(client.network().unwrap(), Network::Regtest);
	assert_eq!(client.block_count().unwrap(), 101);
	let tip = client.block_hash(101).unwrap();
	assert_eq!(tip, *mined.last().unwrap());
	assert_eq!(client.header(&tip).unwrap().block_hash(), tip);
	assert_eq!(client.block_confirmations(&tip).unwrap(), 1);
	assert_eq!(client.block_confirmations(&mined[0]).unwrap(), 101);
	let block = client.block(&tip).unwrap();
	assert_eq!(block.block_hash(), tip);

	// A payment from btc-sim's wallet, broadcast again through the client, then mined.
	let txid = node
		.call("sendtoaddress", &json!([node.wallet_address().to_string(), 1.5]))
		.unwrap()
		.as_str()
		.unwrap()
		.parse()
		.unwrap();
	assert_eq!(client.transaction_block(&txid).unwrap(), None, "in the mempool: no block");
	let raw = node.call("getrawtransaction", &json!([txid.to_string()])).unwrap();
	let tx: bitcoin::Transaction =
		bitcoin::consensus::encode::deserialize_hex(raw.as_str().unwrap()).unwrap();
	assert_eq!(serialize_hex(&tx), raw.as_str().unwrap());
	let in_block = node.mine(1, &wallet)[0];
	assert_eq!(client.transaction_block(&txid).unwrap(), Some(in_block));
	assert!(client.block(&in_block).unwrap().txdata.iter().any(|t| t.compute_txid() == txid));
	let txids = client.block_txids(&in_block).unwrap();
	assert_eq!(txids.len(), 2, "the coinbase and the payment");
	assert!(txids.contains(&txid));
	match client.send_raw_transaction(&tx) {
		Err(BitcoindError::Rpc { code, .. }) => {
			assert_eq!(code, error_code::VERIFY_ALREADY_IN_CHAIN)
		},
		other => panic!("a confirmed transaction sent again: {other:?}"),
	}

	// A fresh transaction goes through sendrawtransaction and comes back as its txid.
	let spend = node.call("send", &json!([[{ node.wallet_address().to_string(): 0.25 }]])).unwrap();
	let spent: bitcoin::Txid = spend["txid"].as_str().unwrap().parse().unwrap();
	let raw = node.call("getrawtransaction", &json!([spent.to_string()])).unwrap();
	let tx: bitcoin::Transaction =
		bitcoin::consensus::encode::deserialize_hex(raw.as_str().unwrap()).unwrap();
	node.mine(1, &wallet);
	let fresh = bitcoin::Transaction {
		version: bitcoin::transaction::Version::TWO,
		lock_time: bitcoin::absolute::LockTime::ZERO,
		input: tx.input.clone(),
		output: vec![TxOut { value: Amount::from_sat(1), script_pubkey: wallet.clone() }],
	};
	assert!(
		matches!(client.send_raw_transaction(&fresh), Err(BitcoindError::Rpc { .. })),
		"spent inputs are refused with Core's code"
	);

	// Fee estimates: none when bitcoind has none (a fresh regtest node), then a rate.
	node.set_fee_rate(None);
	assert!(matches!(client.estimate_fee_rate_sat_per_vb(6), Err(BitcoindError::NoEstimate(_))));
	node.set_fee_rate(Some(7));
	assert_eq!(client.estimate_fee_rate_sat_per_vb(6), Ok(7));
}

#[test]
fn unknown_blocks_and_transactions_are_typed_errors() {
	let node = Arc::new(SimNode::new(SimConfig::default()));
	let (_server, client) = serve(node);
	let unknown: bitcoin::BlockHash =
		"00000000000000000000000000000000000000000000000000000000000000aa".parse().unwrap();
	for result in
		[client.block_confirmations(&unknown).map(drop), client.header(&unknown).map(drop)]
	{
		assert!(
			matches!(
				result,
				Err(BitcoindError::Rpc { code: error_code::INVALID_ADDRESS_OR_KEY, .. })
			),
			"{result:?}"
		);
	}
	let txid: bitcoin::Txid =
		"00000000000000000000000000000000000000000000000000000000000000bb".parse().unwrap();
	assert!(matches!(
		client.transaction_block(&txid),
		Err(BitcoindError::Rpc { code: error_code::INVALID_ADDRESS_OR_KEY, .. })
	));
	assert!(matches!(
		client.block_hash(5),
		Err(BitcoindError::Rpc { code: error_code::INVALID_PARAMETER, .. })
	));
}

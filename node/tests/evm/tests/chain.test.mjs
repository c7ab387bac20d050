// What a wallet asks first: the chain ID, the block number, the gas price and the fee history,
// all consistent with the node and with what is charged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiPromise, WsProvider } from '@polkadot/api';
import { ethers } from 'ethers';
import { provider, NODE_RPC_URL, CHAIN_ID, GAS_PRICE_WEI, DEV_KEYS, EXISTENTIAL_DEPOSIT_WEI } from '../lib.mjs';

test('chain ID, block number, gas price and fee history match the node', async () => {
  const p = provider();
  const api = await ApiPromise.create({ provider: new WsProvider(NODE_RPC_URL), noInitWarn: true });
  try {
    assert.equal((await p.getNetwork()).chainId, CHAIN_ID);
    assert.equal(BigInt(await p.send('eth_chainId', [])), CHAIN_ID);
    assert.equal(BigInt(await p.send('net_version', [])), CHAIN_ID);

    // eth_blockNumber is the node's best block (eth-rpc follows it; allow one block of lag).
    const nodeBefore = (await api.rpc.chain.getHeader()).number.toNumber();
    const ethNumber = await p.getBlockNumber();
    const nodeAfter = (await api.rpc.chain.getHeader()).number.toNumber();
    assert.ok(ethNumber >= nodeBefore - 1 && ethNumber <= nodeAfter, `eth ${ethNumber} within node ${nodeBefore}..${nodeAfter}`);

    // The Ethereum block carries the Substrate block's number, and its hash maps back.
    const block = await p.getBlock(ethNumber);
    assert.equal(block.number, ethNumber);
    const substrateHash = (await api.rpc.chain.getBlockHash(ethNumber)).toHex();
    const mapped = await p.send('polkadot_getEthBlockHash', [substrateHash]).catch(() => null);
    if (mapped !== null) assert.equal(mapped, block.hash);

    // Gas price: fixed, and what the runtime says it is.
    assert.equal(BigInt(await p.send('eth_gasPrice', [])), GAS_PRICE_WEI);
    const fees = await p.getFeeData();
    assert.equal(fees.gasPrice, GAS_PRICE_WEI);

    // Fee history: the base fee of recent blocks is the same fixed price.
    const history = await p.send('eth_feeHistory', ['0x4', 'latest', [50]]);
    assert.ok(history.baseFeePerGas.length >= 1);
    for (const baseFee of history.baseFeePerGas) {
      assert.equal(BigInt(baseFee), GAS_PRICE_WEI);
    }
    const newest = BigInt(history.oldestBlock) + BigInt(history.gasUsedRatio.length) - 1n;
    assert.ok(newest >= BigInt(ethNumber), `fee history reaches the latest block (${newest})`);
  } finally {
    await api.disconnect();
  }
});

test('the development accounts are funded from genesis', async () => {
  const p = provider();
  for (const key of DEV_KEYS) {
    const { address } = new ethers.Wallet(key);
    // 10,000 BTC each, of which all but the existential deposit is spendable.
    assert.equal(await p.getBalance(address, 0), 10_000n * 10n ** 18n - EXISTENTIAL_DEPOSIT_WEI, address);
  }
});

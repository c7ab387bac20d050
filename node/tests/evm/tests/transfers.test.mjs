// BTC moving between Ethereum addresses, and from a native (Substrate) account to one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ethers } from 'ethers';
import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import {
  provider, devWallet, NODE_RPC_URL, SAT, EXISTENTIAL_DEPOSIT_WEI, CHAIN_ID, OTHER_NETWORK_CHAIN_ID, GAS_PRICE_WEI,
} from '../lib.mjs';

test('a plain value transfer between two H160s costs value + gasUsed * effectiveGasPrice', async () => {
  const p = provider();
  const sender = devWallet(4, p);
  const recipient = ethers.Wallet.createRandom().address;
  const value = 12_345n * SAT;

  const estimate = await p.estimateGas({ from: sender.address, to: recipient, value });
  const tx = await sender.sendTransaction({ to: recipient, value });
  const receipt = await tx.wait();
  assert.equal(receipt.status, 1);
  assert.ok(estimate >= receipt.gasUsed, `estimate ${estimate} covers gasUsed ${receipt.gasUsed}`);

  assert.equal(await p.getBalance(recipient), value, 'the new address holds exactly the value');
  const before = await p.getBalance(sender.address, receipt.blockNumber - 1);
  const after = await p.getBalance(sender.address, receipt.blockNumber);
  assert.equal(before - after, value + receipt.gasUsed * receipt.gasPrice);
  assert.equal(await p.getTransactionCount(sender.address), tx.nonce + 1);

  // The transaction is found by hash, with the chain ID it was signed for.
  const found = await p.getTransaction(tx.hash);
  assert.equal(found.hash, tx.hash);
  assert.equal(found.chainId, (await p.getNetwork()).chainId);
});

test('a transfer signed for another chain ID (Ethereum, another Tapchain network) is refused and changes nothing', async () => {
  const p = provider();
  const sender = devWallet(4, p);
  const recipient = ethers.Wallet.createRandom().address;
  const nonce = await p.getTransactionCount(sender.address);
  const value = 12_345n * SAT;
  const transfer = (chainId) => sender.signTransaction({
    to: recipient,
    value,
    nonce,
    chainId,
    gasLimit: 1_000_000n,
    gasPrice: GAS_PRICE_WEI,
  });
  for (const chainId of [1n, OTHER_NETWORK_CHAIN_ID]) {
    await assert.rejects(p.broadcastTransaction(await transfer(chainId)), (error) => {
      // The pool refuses it (1010 "Invalid Transaction": the signature is for another chain).
      console.log(`chain ID ${chainId} refused: ${JSON.stringify(error.error ?? error.info ?? error.message)}`);
      return error.error?.code === 1010;
    });
    assert.equal(await p.getBalance(recipient), 0n);
    assert.equal(await p.getTransactionCount(sender.address), nonce);
  }
  // The same transfer signed for this chain goes through: the chain ID was the difference.
  const receipt = await (await p.broadcastTransaction(await transfer(CHAIN_ID))).wait();
  assert.equal(receipt.status, 1);
  assert.equal(await p.getBalance(recipient), value);
});

test('a native transfer to an H160 shows up in eth_getBalance', async () => {
  await cryptoWaitReady();
  const p = provider();
  const api = await ApiPromise.create({ provider: new WsProvider(NODE_RPC_URL), noInitWarn: true });
  try {
    const alice = new Keyring({ type: 'sr25519' }).addFromUri('//Alice');
    const recipient = ethers.Wallet.createRandom().address;
    // The account id of an Ethereum address: its 20 bytes followed by twelve 0xEE bytes.
    const accountId = recipient.toLowerCase() + 'ee'.repeat(12);
    const value = 777n * SAT;

    await new Promise((resolve, reject) => {
      api.tx.balances
        .transferKeepAlive(accountId, value)
        .signAndSend(alice, ({ status, dispatchError }) => {
          if (dispatchError) reject(new Error(dispatchError.toString()));
          else if (status.isInBlock) resolve();
        })
        .catch(reject);
    });
    // eth-rpc serves the best block; give it a moment to see the new one.
    let balance = 0n;
    for (let i = 0; i < 20 && balance === 0n; i++) {
      balance = await p.getBalance(recipient);
      if (balance === 0n) await new Promise((r) => setTimeout(r, 500));
    }
    // eth_getBalance is the spendable balance: all but the 100-sat existential deposit.
    assert.equal(balance, value - EXISTENTIAL_DEPOSIT_WEI);

    // And the other way: Alice's own H160 (from her account id) holds her native balance.
    const aliceH160 = ethers.dataSlice(ethers.keccak256(alice.publicKey), 12);
    const native = (await api.query.system.account(alice.address)).data.free.toBigInt();
    const evm = await p.getBalance(aliceH160);
    assert.equal(evm, native - EXISTENTIAL_DEPOSIT_WEI, "Alice's H160 sees her spendable balance");
  } finally {
    await api.disconnect();
  }
});

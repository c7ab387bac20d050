// An ERC-20 compiled by solc-js, deployed and used through eth-rpc with ethers, paying gas in
// BTC. Every balance change is checked to the wei against the receipts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ethers } from 'ethers';
import { provider, testWallets, deployToken, spentIn, GAS_PRICE_WEI } from '../lib.mjs';

const SUPPLY = ethers.parseUnits('1000000', 18);

test('an ERC-20 deploys, transfers and logs, and gas is paid in BTC to the wei', async () => {
  const p = provider();
  const [deployer, receiver] = testWallets('erc20', p);

  const { token, receipt: deployReceipt, abi } = await deployToken(deployer, SUPPLY);
  assert.equal(deployReceipt.status, 1, 'deployment succeeded');
  const tokenAddress = await token.getAddress();
  assert.equal(deployReceipt.contractAddress, tokenAddress);
  assert.notEqual(await p.getCode(tokenAddress), '0x', 'code is stored');

  // The deployment cost exactly gasUsed * effectiveGasPrice, at the advertised price.
  assert.equal(deployReceipt.gasPrice, GAS_PRICE_WEI);
  assert.equal(
    await spentIn(p, deployer.address, deployReceipt),
    deployReceipt.gasUsed * deployReceipt.gasPrice,
    'deployer paid exactly gasUsed * effectiveGasPrice',
  );

  // eth_call: views answer.
  assert.equal(await token.name(), 'Test Token');
  assert.equal(await token.totalSupply(), SUPPLY);
  assert.equal(await token.balanceOf(deployer.address), SUPPLY);

  // eth_estimateGas, then the real transfer: the estimate covers what was used.
  const amount = ethers.parseUnits('1234.5', 18);
  const estimate = await token.transfer.estimateGas(receiver.address, amount);
  const tx = await token.transfer(receiver.address, amount);
  const receipt = await tx.wait();
  assert.equal(receipt.status, 1);
  assert.ok(estimate >= receipt.gasUsed, `estimate ${estimate} covers gasUsed ${receipt.gasUsed}`);
  assert.equal(
    await spentIn(p, deployer.address, receipt),
    receipt.gasUsed * receipt.gasPrice,
    'sender paid exactly gasUsed * effectiveGasPrice',
  );

  assert.equal(await token.balanceOf(receiver.address), amount);
  assert.equal(await token.balanceOf(deployer.address), SUPPLY - amount);

  // The Transfer event, from the receipt...
  const iface = new ethers.Interface(abi);
  const fromReceipt = receipt.logs.map((log) => iface.parseLog(log)).filter((e) => e?.name === 'Transfer');
  assert.equal(fromReceipt.length, 1);
  assert.equal(fromReceipt[0].args.from, deployer.address);
  assert.equal(fromReceipt[0].args.to, receiver.address);
  assert.equal(fromReceipt[0].args.value, amount);

  // ...and from eth_getLogs, filtered by address and topic over the transfer's block.
  const logs = await p.getLogs({
    address: tokenAddress,
    topics: [iface.getEvent('Transfer').topicHash],
    fromBlock: receipt.blockNumber,
    toBlock: receipt.blockNumber,
  });
  assert.equal(logs.length, 1);
  assert.equal(logs[0].transactionHash, receipt.hash);
  const parsed = iface.parseLog(logs[0]);
  assert.deepEqual([parsed.args.from, parsed.args.to, parsed.args.value], [deployer.address, receiver.address, amount]);

  // The mint at deployment is in the logs too.
  const mints = await p.getLogs({
    address: tokenAddress,
    topics: [iface.getEvent('Transfer').topicHash, ethers.zeroPadValue(ethers.ZeroAddress, 32)],
    fromBlock: deployReceipt.blockNumber,
    toBlock: receipt.blockNumber,
  });
  assert.equal(mints.length, 1);
  assert.equal(iface.parseLog(mints[0]).args.value, SUPPLY);
});

test('a reverting call returns its revert reason from eth_call and eth_estimateGas', async () => {
  const p = provider();
  const [, , owner, stranger] = testWallets('erc20', p);
  const { token } = await deployToken(owner, 1000n);

  const asStranger = token.connect(stranger);
  await assert.rejects(
    asStranger.transfer.staticCall(owner.address, 1n),
    (error) => error.reason === 'TestToken: insufficient balance',
    'eth_call reverts with the reason',
  );
  await assert.rejects(
    asStranger.transfer.estimateGas(owner.address, 1n),
    (error) => error.reason === 'TestToken: insufficient balance',
    'eth_estimateGas reverts with the reason',
  );
  await assert.rejects(
    token.transfer.staticCall(ethers.ZeroAddress, 1n),
    (error) => error.reason === 'TestToken: transfer to the zero address',
  );
  await assert.rejects(
    asStranger.transferFrom.staticCall(owner.address, stranger.address, 1n),
    (error) => error.reason === 'TestToken: allowance exceeded',
  );
  // Nothing changed.
  assert.equal(await token.balanceOf(owner.address), 1000n);
  assert.equal(await token.balanceOf(stranger.address), 0n);
});

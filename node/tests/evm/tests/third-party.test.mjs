// Widely used third-party contracts, from their published npm packages: OpenZeppelin's ERC-20,
// ERC-721 and ERC1967Proxy (sources compiled with solc-js), WETH9 (canonical-weth's artifact),
// Multicall3 (viem's published bytecode, driven by viem's own multicall), and the CREATE2
// deterministic deployment proxy Foundry and Hardhat use, which every network starts with.
// Results, events, revert reasons, gas and balances are checked to the wei.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ethers } from 'ethers';
import { createPublicClient, defineChain, http, multicall3Abi } from 'viem';
import { provider, testWallets, compile, deploy, spentIn, ETH_RPC_URL, CHAIN_ID } from '../lib.mjs';

const require = createRequire(import.meta.url);


/// The error a call or estimate fails with.
async function revertOf(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('the call did not revert');
}

/// Arachnid's keyless deployment of the CREATE2 factory: a pre-EIP-155 transaction (no chain
/// ID) with a made-up signature, so that nobody holds the key and the address is the same on
/// every chain that accepts it. Public constant.
const CREATE2_FACTORY_DEPLOYMENT =
  '0xf8a58085174876e800830186a08080b853604580600e600039806000f350fe7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf31ba02222222222222222222222222222222222222222222222222222222222222222a02222222222222222222222222222222222222222222222222222222222222222';

// Each test sends from accounts of its own, so they run concurrently: a block carries them all.
describe('third-party contracts', { concurrency: true }, () => {
  test('OpenZeppelin ERC-20: transfers, allowances, custom-error reverts, logs by filter, calls at a past block', async () => {
    const p = provider();
    const [owner, spender, receiver] = testWallets('oz-erc20', p);
    const supply = ethers.parseUnits('1000', 18);
    const { contract: token, address } = await deploy(owner, compile('OzToken'), supply);
    assert.equal(await token.symbol(), 'OZT');
    assert.equal(await token.decimals(), 18n);

    const transfer = await (await token.transfer(receiver.address, 100n)).wait();
    assert.equal(await spentIn(p, owner.address, transfer), transfer.gasUsed * transfer.gasPrice);
    const afterTransfer = transfer.blockNumber;

    // approve + transferFrom, with the Approval and Transfer events.
    const approval = await (await token.approve(spender.address, 50n)).wait();
    const approvalEvent = approval.logs.map((l) => token.interface.parseLog(l)).find((e) => e?.name === 'Approval');
    assert.deepEqual([...approvalEvent.args], [owner.address, spender.address, 50n]);
    await (await token.connect(spender).transferFrom(owner.address, receiver.address, 30n)).wait();
    assert.equal(await token.allowance(owner.address, spender.address), 20n);
    assert.equal(await token.balanceOf(receiver.address), 130n);

    // OpenZeppelin 5 reverts with custom errors; eth_call and eth_estimateGas return their data.
    const overdraft = await revertOf(token.connect(spender).transferFrom.staticCall(owner.address, receiver.address, 21n));
    assert.equal(overdraft.revert?.name, 'ERC20InsufficientAllowance', overdraft.message);
    assert.deepEqual([...overdraft.revert.args], [spender.address, 20n, 21n]);
    const broke = await revertOf(token.connect(receiver).transfer.estimateGas(owner.address, 131n));
    const brokeError = token.interface.parseError(broke.data);
    assert.equal(brokeError?.name, 'ERC20InsufficientBalance', broke.message);
    assert.deepEqual([...brokeError.args], [receiver.address, 130n, 131n]);

    // eth_getLogs: by address and topic, with the receiver as the indexed `to`.
    const toReceiver = token.filters.Transfer(null, receiver.address);
    const logs = await token.queryFilter(toReceiver, afterTransfer, 'latest');
    assert.deepEqual(logs.map((l) => l.args.value), [100n, 30n]);
    const fromSpenderTopic = await p.getLogs({
      address,
      topics: [ethers.id('Transfer(address,address,uint256)'), ethers.zeroPadValue(spender.address, 32)],
      fromBlock: afterTransfer,
    });
    assert.equal(fromSpenderTopic.length, 0, 'a topic filter that matches nothing returns nothing');

    // eth_call at a past block sees the state of that block.
    assert.equal(await token.balanceOf(receiver.address, { blockTag: afterTransfer }), 100n);
    assert.equal(await token.balanceOf(receiver.address, { blockTag: afterTransfer - 1 }), 0n);
  });

  test('OpenZeppelin ERC-721: safe mint, transfer, ownership and approval errors', async () => {
    const p = provider();
    const [minter, alice, bob] = testWallets('oz-erc721', p);
    const { contract: nft } = await deploy(minter, compile('OzCollectible'));
    const mint = await (await nft.mint(alice.address, 7n)).wait();
    const minted = mint.logs.map((l) => nft.interface.parseLog(l)).find((e) => e?.name === 'Transfer');
    assert.deepEqual([...minted.args], [ethers.ZeroAddress, alice.address, 7n]);
    assert.equal(await nft.ownerOf(7n), alice.address);
    assert.equal(await nft.balanceOf(alice.address), 1n);

    const stranger = await revertOf(nft.connect(bob).transferFrom.staticCall(alice.address, bob.address, 7n));
    assert.equal(stranger.revert?.name, 'ERC721InsufficientApproval', stranger.message);
    await (await nft.connect(alice)['safeTransferFrom(address,address,uint256)'](alice.address, bob.address, 7n)).wait();
    assert.equal(await nft.ownerOf(7n), bob.address);
    const missing = await revertOf(nft.ownerOf.staticCall(8n));
    assert.equal(missing.revert?.name, 'ERC721NonexistentToken', missing.message);
    assert.deepEqual([...missing.revert.args], [8n]);
  });

  test('OpenZeppelin ERC1967Proxy: a UUPS implementation upgrades in place and keeps its storage', async () => {
    const p = provider();
    const [owner, other] = testWallets('oz-proxy', p);
    const v1 = compile('UpgradeableCounter');
    const v2 = compile('UpgradeableCounter', 'UpgradeableCounterV2');
    const proxyArtifact = compile('UpgradeableCounter', 'ERC1967Proxy');
    const { address: v1Address } = await deploy(owner, v1);
    const init = new ethers.Interface(v1.abi).encodeFunctionData('initialize', [owner.address]);
    const { address: proxyAddress } = await deploy(owner, proxyArtifact, v1Address, init);

    // The implementation slot (EIP-1967) holds V1, read with eth_getStorageAt.
    const slot = BigInt(ethers.id('eip1967.proxy.implementation')) - 1n;
    const implementationOf = async () =>
      ethers.getAddress(ethers.dataSlice(await p.getStorage(proxyAddress, slot), 12));
    assert.equal(await implementationOf(), v1Address);

    const counter = new ethers.Contract(proxyAddress, v2.abi, owner);
    await (await counter.increment()).wait();
    assert.equal(await counter.count(), 1n);
    assert.equal(await counter.version(), 1n);

    const { address: v2Address } = await deploy(owner, v2);
    // Only the owner may upgrade: a plain `require` reason comes back as Error(string).
    const refused = await revertOf(counter.connect(other).upgradeToAndCall.staticCall(v2Address, '0x'));
    assert.equal(refused.reason, 'UpgradeableCounter: not the owner', refused.message);
    const upgrade = await (await counter.upgradeToAndCall(v2Address, '0x')).wait();
    const upgraded = upgrade.logs.map((l) => counter.interface.parseLog(l)).find((e) => e?.name === 'Upgraded');
    assert.equal(upgraded.args.implementation, v2Address);
    assert.equal(await implementationOf(), v2Address);

    await (await counter.incrementByTen()).wait();
    assert.equal(await counter.version(), 2n);
    assert.equal(await counter.count(), 11n, 'the proxy kept its storage across the upgrade');
  });

  test('WETH9: wrapping and unwrapping native BTC moves balances to the wei', async () => {
    const p = provider();
    const [holder] = testWallets('weth', p);
    const artifact = require('canonical-weth/build/contracts/WETH9.json');
    const { contract: weth, address } = await deploy(holder, artifact);
    const amount = ethers.parseEther('0.25');

    const deposit = await (await weth.deposit({ value: amount })).wait();
    const depositEvent = deposit.logs.map((l) => weth.interface.parseLog(l)).find((e) => e?.name === 'Deposit');
    assert.deepEqual([...depositEvent.args], [holder.address, amount]);
    assert.equal(await weth.balanceOf(holder.address), amount);
    assert.equal(await p.getBalance(address), amount, 'the contract holds the native BTC');
    assert.equal(await spentIn(p, holder.address, deposit), amount + deposit.gasUsed * deposit.gasPrice);

    const back = ethers.parseEther('0.1');
    const withdrawal = await (await weth.withdraw(back)).wait();
    assert.equal(await spentIn(p, holder.address, withdrawal), withdrawal.gasUsed * withdrawal.gasPrice - back);
    assert.equal(await weth.balanceOf(holder.address), amount - back);
    assert.equal(await weth.totalSupply(), amount - back);
    // WETH9 predates revert reasons: an overdraft reverts with empty data.
    const overdraft = await revertOf(weth.withdraw.staticCall(amount));
    assert.equal(overdraft.code, 'CALL_EXCEPTION', overdraft.message);
  });

  test("Multicall3 from viem's published bytecode serves viem's own multicall", async () => {
    const p = provider();
    const [deployer] = testWallets('multicall', p);
    // viem ships Multicall3's creation code for chains without it; it is not an export.
    const constants = readFileSync(require.resolve('viem').replace(/_cjs[/\\]index\.js$/, '_esm/constants/contracts.js'), 'utf8');
    const bytecode = constants.match(/multicall3Bytecode = '(0x[0-9a-f]+)'/)[1];
    const { address: multicallAddress } = await deploy(deployer, { abi: multicall3Abi, bytecode });
    const { contract: token, address: tokenAddress } = await deploy(deployer, compile('OzToken'), 5000n);

    const chain = defineChain({
      id: Number(CHAIN_ID),
      name: 'Tapchain',
      nativeCurrency: { name: 'Bitcoin', symbol: 'BTC', decimals: 18 },
      rpcUrls: { default: { http: [ETH_RPC_URL] } },
    });
    const client = createPublicClient({ chain, transport: http(ETH_RPC_URL) });
    const abi = JSON.parse(token.interface.formatJson());
    const results = await client.multicall({
      multicallAddress,
      contracts: [
        { address: tokenAddress, abi, functionName: 'totalSupply' },
        { address: tokenAddress, abi, functionName: 'balanceOf', args: [deployer.address] },
        { address: tokenAddress, abi, functionName: 'symbol' },
        // A failing call is reported, not fatal (aggregate3 with allowFailure).
        { address: tokenAddress, abi, functionName: 'transferFrom', args: [tokenAddress, deployer.address, 1n] },
      ],
    });
    assert.deepEqual(results.slice(0, 3), [
      { status: 'success', result: 5000n },
      { status: 'success', result: 5000n },
      { status: 'success', result: 'OZT' },
    ]);
    assert.equal(results[3].status, 'failure');
    assert.match(results[3].error.message, /ERC20InsufficientAllowance/);

    // Multicall3's block helpers read the chain as eth_* does.
    const multicall = new ethers.Contract(
      multicallAddress,
      ['function getChainId() view returns (uint256)', 'function getEthBalance(address) view returns (uint256)'],
      p,
    );
    assert.equal(await multicall.getChainId(), CHAIN_ID);
    assert.equal(await multicall.getEthBalance(deployer.address), await p.getBalance(deployer.address));
  });

  test('the CREATE2 deterministic deployment proxy is at its canonical address and deploys where tools expect', async () => {
    const p = provider();
    const [deployer] = testWallets('create2', p);
    const keyless = ethers.Transaction.from(CREATE2_FACTORY_DEPLOYMENT);
    const factory = ethers.getCreateAddress({ from: keyless.from, nonce: 0 });
    assert.equal(factory, '0x4e59b44847b379578588920cA78FbF26c0B4956C');
    // Its code is what the keyless transaction's init code returns (the 14 bytes before it copy it).
    assert.equal(await p.getCode(factory), ethers.dataSlice(keyless.data, 14), 'the factory is in genesis');

    // The keyless transaction itself has no chain ID, so it could replay anywhere: refused.
    // eth-rpc refuses it before the pool sees it, with a message that does not say why (README).
    const replay = await revertOf(p.send('eth_sendRawTransaction', [CREATE2_FACTORY_DEPLOYMENT]));
    assert.equal(replay.error?.code, -32000, replay.message);
    assert.equal(replay.error?.message, 'Invalid transaction');
    assert.equal(await p.getTransactionCount(keyless.from), 0, 'nothing changed');

    const { bytecode } = compile('OzToken');
    const initCode = ethers.concat([bytecode, ethers.AbiCoder.defaultAbiCoder().encode(['uint256'], [42n])]);
    const salt = ethers.id('tapchain create2 test');
    const expected = ethers.getCreate2Address(factory, salt, ethers.keccak256(initCode));
    const call = { to: factory, data: ethers.concat([salt, initCode]) };
    assert.equal(ethers.getAddress(await deployer.call(call)), expected, 'the factory returns the address');
    const receipt = await (await deployer.sendTransaction(call)).wait();
    assert.equal(receipt.status, 1);
    const token = new ethers.Contract(expected, compile('OzToken').abi, p);
    assert.equal(await token.totalSupply(), 42n);
    assert.equal(await token.balanceOf(factory), 42n, 'the factory deployed it, so it holds the supply');

    // The same salt and code again: the address is taken, the factory reverts.
    const again = await revertOf(deployer.estimateGas(call));
    assert.equal(again.code, 'CALL_EXCEPTION', again.message);
  });
});

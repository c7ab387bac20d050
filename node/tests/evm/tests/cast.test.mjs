// Foundry's `cast` (npm @foundry-rs/cast) drives the chain as a Foundry user would: chain ID,
// balances, legacy and EIP-1559 sends, calls, receipts and logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ethers } from 'ethers';
import { provider, compile, testWallets, ETH_RPC_URL, CHAIN_ID } from '../lib.mjs';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
/// The cast binary of the platform package @foundry-rs/cast installed.
const CAST = join(dirname(require.resolve('@foundry-rs/cast/package.json')), 'bin.mjs');

async function cast(command, ...args) {
  // The URL right after the command: `send --create <code>` is a subcommand taking the rest.
  const { stdout } = await run(process.execPath, [CAST, command, '--rpc-url', ETH_RPC_URL, ...args], {
    timeout: 120_000,
    env: { ...process.env, FOUNDRY_DISABLE_NIGHTLY_WARNING: '1', NO_COLOR: '1' },
  });
  return stdout.trim();
}

/// The receipt `cast send --json` prints once the transaction is included.
async function castSendJson(...args) {
  return JSON.parse(await cast('send', '--json', ...args));
}

test('cast: chain-id, balance, legacy and EIP-1559 sends, call, receipt and logs', async () => {
  const p = provider();
  const [wallet] = testWallets('cast', p);
  const key = wallet.privateKey;
  const from = wallet.address;
  const to = ethers.Wallet.createRandom().address;

  assert.equal(await cast('chain-id'), CHAIN_ID.toString());
  assert.equal(BigInt(await cast('balance', from)), await p.getBalance(from));

  // A legacy (type 0) value transfer.
  const legacy = await castSendJson('--private-key', key, '--legacy', '--value', '1000000000000000', to);
  assert.equal(legacy.status, '0x1', JSON.stringify(legacy));
  assert.equal(legacy.type, '0x0');
  assert.equal(BigInt(await cast('balance', to)), 10n ** 15n);

  // An EIP-1559 (type 2) deployment of an ERC-20 from raw creation code, then a call to it.
  const { abi, bytecode } = compile('OzToken');
  const init = ethers.concat([bytecode, ethers.AbiCoder.defaultAbiCoder().encode(['uint256'], [777n])]);
  const deployed = await castSendJson('--private-key', key, '--create', init);
  assert.equal(deployed.status, '0x1', JSON.stringify(deployed));
  assert.equal(deployed.type, '0x2');
  const token = ethers.getAddress(deployed.contractAddress);
  assert.equal(await cast('call', token, 'totalSupply()(uint256)'), '777');

  const transfer = await castSendJson('--private-key', key, token, 'transfer(address,uint256)', to, '70');
  assert.equal(transfer.status, '0x1', JSON.stringify(transfer));
  assert.equal(await cast('call', token, 'balanceOf(address)(uint256)', to), '70');

  // `cast receipt` reads the same receipt back; what it paid is gasUsed * effectiveGasPrice.
  const receipt = JSON.parse(await cast('receipt', '--json', transfer.transactionHash));
  assert.equal(receipt.transactionHash, transfer.transactionHash);
  assert.equal(BigInt(receipt.gasUsed), BigInt(transfer.gasUsed));
  const ours = await p.getTransactionReceipt(transfer.transactionHash);
  assert.equal(BigInt(receipt.effectiveGasPrice), ours.gasPrice);

  // `cast logs` with an event signature and an indexed topic finds the one transfer.
  const logs = JSON.parse(
    await cast(
      'logs',
      '--json',
      '--from-block',
      String(BigInt(deployed.blockNumber)),
      '--address',
      token,
      'Transfer(address indexed from, address indexed to, uint256 value)',
      from,
      to,
    ),
  );
  assert.equal(logs.length, 1, JSON.stringify(logs));
  assert.equal(logs[0].transactionHash, transfer.transactionHash);
  assert.equal(BigInt(logs[0].data), 70n);
  assert.ok(new ethers.Interface(abi).parseLog(logs[0]), 'the log decodes with the ABI');
});

// ERC-20 transfer throughput on a running node + eth-rpc. Signs COUNT transfers up front from
// the five development accounts and broadcasts them all but each sender's first nonce, so they
// wait in the pool's future queue; then sends the five first nonces, which makes everything
// ready at once. Prints the broadcast rate (what eth-rpc + the pool accept), how many
// transfers each block then carried (full blocks) and the rate sustained over those blocks.
//
//   tapchain-node --dev --pool-limit 100000     # the future queue holds pool-limit / 10
//   tapchain-node eth-rpc --dev
//   ETH_RPC_URL=http://127.0.0.1:8545 COUNT=2000 node bench/erc20-throughput.mjs
import { ethers } from 'ethers';
import { provider, devWallet, deployToken, DEV_KEYS } from '../lib.mjs';

const COUNT = Number(process.env.COUNT ?? 2000);
const p = provider();
const senders = DEV_KEYS.map((_, i) => devWallet(i, p));

const { token } = await deployToken(senders[0], ethers.parseUnits('1000000000', 18));
const share = ethers.parseUnits('1000000', 18);
for (const sender of senders.slice(1)) {
  await (await token.transfer(sender.address, share)).wait();
}
const tokenAddress = await token.getAddress();
const estimate = await token.transfer.estimateGas(ethers.Wallet.createRandom().address, 1n);
const gasLimit = (estimate * 12n) / 10n;
const { gasPrice } = await p.getFeeData();
const { chainId } = await p.getNetwork();

console.log(`signing ${COUNT} transfers (estimate ${estimate} gas each, limit ${gasLimit}) ...`);
const signed = [];
const nonces = await Promise.all(senders.map((s) => p.getTransactionCount(s.address, 'pending')));
for (let i = 0; i < COUNT; i++) {
  const s = i % senders.length;
  const data = token.interface.encodeFunctionData('transfer', [ethers.Wallet.createRandom().address, 1n]);
  signed.push(
    await senders[s].signTransaction({ to: tokenAddress, data, nonce: nonces[s]++, gasLimit, gasPrice, chainId, type: 0 }),
  );
}

const firsts = signed.slice(0, senders.length);
const rest = signed.slice(senders.length);
const started = Date.now();
const hashes = [];
for (let i = 0; i < rest.length; i += 100) {
  hashes.push(...(await Promise.all(rest.slice(i, i + 100).map((tx) => p.send('eth_sendRawTransaction', [tx])))));
}
const broadcastSeconds = (Date.now() - started) / 1000;
console.log(`broadcast ${hashes.length} (future nonces) in ${broadcastSeconds.toFixed(1)} s: ${(hashes.length / broadcastSeconds).toFixed(1)} tx/s accepted`);
const startBlock = await p.getBlockNumber();
hashes.push(...(await Promise.all(firsts.map((tx) => p.send('eth_sendRawTransaction', [tx])))));
console.log('released the first nonces; waiting for receipts ...');
let last = null;
for (const hash of hashes.slice(-senders.length - 5)) {
  const receipt = await p.waitForTransaction(hash, 1, 600_000);
  if (!last || receipt.blockNumber > last.blockNumber) last = receipt;
}

const perBlock = [];
for (let n = startBlock + 1; n <= last.blockNumber; n++) {
  const block = await p.getBlock(n);
  const ours = block.transactions.filter((h) => hashes.includes(h)).length;
  const time = block.timestamp;
  perBlock.push({ n, ours, time });
}
const carrying = perBlock.filter((b) => b.ours > 0);
const total = carrying.reduce((sum, b) => sum + b.ours, 0);
const span = carrying.length > 1 ? carrying.at(-1).time - carrying[0].time + 6 : 6;
console.log(`transfers per block: ${carrying.map((b) => b.ours).join(' ')}`);
console.log(`max ${Math.max(...carrying.map((b) => b.ours))} per block; ${total} in ${carrying.length} blocks; ${(total / span).toFixed(1)} transfers/s sustained (6 s blocks)`);

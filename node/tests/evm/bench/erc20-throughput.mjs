// ERC-20 load, side by side: the same transfers, signed up front, sent to Tapchain (a dev node
// + eth-rpc) and to anvil (npm @foundry-rs/anvil, 6 s blocks, and a block gas limit that holds
// as many transfers as Tapchain's fullest block: Tapchain reports u64::MAX, its real limit is
// block weight),
// each send a single JSON-RPC request (no batching). Starts all three processes itself and
// prints, per chain and as a ratio: one-at-a-time latency of eth_sendRawTransaction, eth_call
// and eth_getTransactionReceipt (p50/p99); the send rate and latency with CONCURRENCY
// concurrent senders; transactions per block, included per second; CPU per process.
//
//   cargo build --release -p tapchain-node
//   npm ci --prefix node/tests/evm
//   node node/tests/evm/bench/erc20-throughput.mjs          # COUNT=3000 CONCURRENCY=16 ONE_AT_A_TIME=200
//
// TAPCHAIN_NODE names the node binary (default: $CARGO_TARGET_DIR/release/tapchain-node, the
// target directory defaulting to ~/.cache/tapchain-target as in .ci/run).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { homedir, tmpdir } from 'node:os';
import { ethers } from 'ethers';
import { compile, DEV_KEYS } from '../lib.mjs';

const COUNT = Number(process.env.COUNT ?? 3000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const ONE_AT_A_TIME = Number(process.env.ONE_AT_A_TIME ?? 200);
const BLOCK_SECONDS = 6;
const require = createRequire(import.meta.url);
const targetDir = process.env.CARGO_TARGET_DIR ?? join(homedir(), '.cache/tapchain-target');
const TAPCHAIN_NODE = process.env.TAPCHAIN_NODE ?? join(targetDir, 'release/tapchain-node');
const ANVIL = join(dirname(require.resolve('@foundry-rs/anvil-linux-amd64/package.json')), 'bin/anvil');

// A node whose RPC port is taken listens elsewhere and says so only in its log; the load would
// then go to whatever holds the port (another run's node, say). Refuse to start instead.
const PORTS = { nodeRpc: 19944, nodeP2p: 30999, ethRpc: 18645, anvil: 18646 };
for (const [what, port] of Object.entries(PORTS)) {
  const free = await new Promise((resolve) => {
    const probe = net.createServer().once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
  if (!free) {
    console.error(`port ${port} (${what}) is in use: is another benchmark running?`);
    process.exit(1);
  }
}

const children = [];
function start(name, command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (chunk) => (log = (log + chunk).slice(-4000)));
  child.on('exit', (code) => code && console.error(`${name} exited ${code}:\n${log}`));
  children.push(child);
  return { name, pid: child.pid };
}
process.on('exit', () => children.forEach((c) => c.kill('SIGTERM')));

// node:http over kept-alive connections, one per request in flight: the load generator shares
// the two cores with the servers it measures, and fetch() costs about three times as much CPU
// per request (0.66 ms against 0.24 ms, measured here).
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
function rpc(url, method, params = []) {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          try {
            const reply = JSON.parse(Buffer.concat(chunks).toString());
            if (reply.error) reject(new Error(`${method}: ${JSON.stringify(reply.error)}`));
            else resolve(reply.result);
          } catch (error) {
            reject(new Error(`${method}: HTTP ${response.statusCode}: ${error.message}`));
          }
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function waitFor(url, minBlock) {
  for (let i = 0; i < 600; i++) {
    try {
      if (Number(await rpc(url, 'eth_blockNumber')) >= minBlock) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${url} did not come up`);
}

/// user + system CPU seconds of a process so far (/proc/<pid>/stat, clock ticks of 10 ms).
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
async function timed(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
function summary(latencies) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

async function waitForReceipt(url, hash) {
  for (;;) {
    const receipt = await rpc(url, 'eth_getTransactionReceipt', [hash]);
    if (receipt) return receipt;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/// Deploys the token, shares it among the senders, and returns what signing needs.
async function prepare(url) {
  const p = new ethers.JsonRpcProvider(url, undefined, { staticNetwork: true, pollingInterval: 250, batchMaxCount: 1 });
  const senders = DEV_KEYS.map((key) => new ethers.Wallet(key, p));
  const { abi, bytecode } = compile('TestToken');
  const token = await new ethers.ContractFactory(abi, bytecode, senders[0]).deploy('Bench', 'B', ethers.parseUnits('1', 27));
  await token.deploymentTransaction().wait();
  // Each sender's first tokens: a transfer to an empty balance, as every load transfer is.
  let transferGasUsed;
  for (const sender of senders.slice(1)) {
    transferGasUsed = (await (await token.transfer(sender.address, ethers.parseUnits('1', 24))).wait()).gasUsed;
  }
  const chainId = BigInt(await rpc(url, 'eth_chainId'));
  // Twice the quoted price: anvil's base fee rises while blocks are full.
  const gasPrice = BigInt(await rpc(url, 'eth_gasPrice')) * 2n;
  const gasLimit = ((await token.transfer.estimateGas(ethers.Wallet.createRandom().address, 1n)) * 12n) / 10n;
  const nonces = await Promise.all(senders.map((s) => p.getTransactionCount(s.address, 'pending')));
  return { p, senders, token, tokenAddress: await token.getAddress(), chainId, gasPrice, gasLimit, nonces, transferGasUsed };
}

/// Signs `count` transfers to fresh addresses, round-robin over the senders from `first`.
async function sign(ctx, recipients, count, senderIndexes) {
  const signed = [];
  for (let i = 0; i < count; i++) {
    const s = senderIndexes[i % senderIndexes.length];
    const data = ctx.token.interface.encodeFunctionData('transfer', [recipients[i], 1n]);
    signed.push(
      await ctx.senders[s].signTransaction({
        to: ctx.tokenAddress, data, nonce: ctx.nonces[s]++, gasLimit: ctx.gasLimit, gasPrice: ctx.gasPrice, chainId: ctx.chainId, type: 0,
      }),
    );
  }
  return signed;
}

async function measure(name, url, processes, recipients, configure = async () => {}) {
  const ctx = await prepare(url);
  await configure(ctx);
  const call = { to: ctx.tokenAddress, data: ctx.token.interface.encodeFunctionData('balanceOf', [ctx.senders[1].address]) };

  // One request at a time: sends from one sender, calls, receipts.
  const serial = await sign(ctx, recipients.slice(COUNT), ONE_AT_A_TIME, [0]);
  const sendLatency = [];
  const serialHashes = [];
  for (const tx of serial) sendLatency.push(await timed(async () => serialHashes.push(await rpc(url, 'eth_sendRawTransaction', [tx]))));
  const callLatency = [];
  for (let i = 0; i < ONE_AT_A_TIME; i++) callLatency.push(await timed(() => rpc(url, 'eth_call', [call, 'latest'])));
  await waitForReceipt(url, serialHashes.at(-1));
  const receiptLatency = [];
  for (const hash of serialHashes) receiptLatency.push(await timed(() => rpc(url, 'eth_getTransactionReceipt', [hash])));

  // The load: COUNT transfers over all senders, CONCURRENCY requests in flight.
  const load = await sign(ctx, recipients, COUNT, [0, 1, 2, 3, 4]);
  const startBlock = Number(await rpc(url, 'eth_blockNumber'));
  const cpuBefore = processes.map((proc) => cpuSeconds(proc.pid));
  const clientBefore = process.cpuUsage();
  const wallStarted = performance.now();
  const loadLatency = [];
  const hashes = new Array(load.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < load.length) {
        const i = next++;
        loadLatency.push(await timed(async () => (hashes[i] = await rpc(url, 'eth_sendRawTransaction', [load[i]]))));
      }
    }),
  );
  const sendSeconds = (performance.now() - wallStarted) / 1000;
  /// CPU seconds of every process, this client included, since the load began.
  const cpuSinceLoad = () => {
    const client = process.cpuUsage(clientBefore);
    return [
      ...processes.map((proc, i) => ({ name: proc.name, seconds: cpuSeconds(proc.pid) - cpuBefore[i] })),
      { name: 'client', seconds: (client.user + client.system) / 1e6 },
    ];
  };
  const sendCpu = cpuSinceLoad();
  let lastBlock = 0;
  for (const hash of hashes.slice(-10)) lastBlock = Math.max(lastBlock, Number((await waitForReceipt(url, hash)).blockNumber));
  const wallSeconds = (performance.now() - wallStarted) / 1000;
  const cpu = cpuSinceLoad();

  const ours = new Set(hashes);
  const perBlock = [];
  for (let n = startBlock + 1; n <= lastBlock; n++) {
    const block = await rpc(url, 'eth_getBlockByNumber', [ethers.toQuantity(n), false]);
    const count = block.transactions.filter((h) => ours.has(h)).length;
    if (count > 0) perBlock.push(count);
  }
  const included = perBlock.reduce((a, b) => a + b, 0);
  if (included !== COUNT) throw new Error(`${name}: ${included} of ${COUNT} transfers included`);
  return {
    name,
    send: summary(sendLatency),
    call: summary(callLatency),
    receipt: summary(receiptLatency),
    concurrentSend: summary(loadLatency),
    sendRate: COUNT / sendSeconds,
    sendSeconds,
    sendCpu,
    perBlock,
    includedPerSecond: COUNT / (perBlock.length * BLOCK_SECONDS),
    cpu,
    wallSeconds,
  };
}

// Tapchain: a dev node (its pool holds the whole load) and eth-rpc.
const base = mkdtempSync(join(tmpdir(), 'tapchain-bench-'));
const node = start('tapchain-node', TAPCHAIN_NODE, [
  '--dev', '--base-path', join(base, 'node'), '--pool-limit', '100000', '--rpc-port', String(PORTS.nodeRpc), '--port', String(PORTS.nodeP2p), '--no-prometheus',
]);
const ethRpc = start('eth-rpc', TAPCHAIN_NODE, [
  'eth-rpc', '--dev', '--base-path', join(base, 'eth-rpc'), '--node-rpc-url', `ws://127.0.0.1:${PORTS.nodeRpc}`, '--rpc-port', String(PORTS.ethRpc), '--no-prometheus',
]);
const tapchainUrl = `http://127.0.0.1:${PORTS.ethRpc}`;
await waitFor(tapchainUrl, 1);
const recipients = Array.from({ length: COUNT + ONE_AT_A_TIME }, () => ethers.Wallet.createRandom().address);
const tapchain = await measure('Tapchain', tapchainUrl, [node, ethRpc], recipients);

const anvil = start('anvil', ANVIL, ['--port', String(PORTS.anvil), '--block-time', String(BLOCK_SECONDS), '--silent']);
const anvilUrl = `http://127.0.0.1:${PORTS.anvil}`;
await waitFor(anvilUrl, 0);
const transfersPerBlock = BigInt(Math.max(...tapchain.perBlock));
let anvilGasLimit;
const reference = await measure('anvil', anvilUrl, [anvil], recipients, async (ctx) => {
  // anvil packs transactions while the gas they used fits, so this holds exactly as many.
  anvilGasLimit = transfersPerBlock * ctx.transferGasUsed;
  await rpc(anvilUrl, 'evm_setBlockGasLimit', [ethers.toQuantity(anvilGasLimit)]);
});
console.log(
  `${COUNT} ERC-20 transfers to fresh addresses, ${CONCURRENCY} concurrent senders, ${BLOCK_SECONDS} s blocks; ` +
    `anvil's block gas limit ${anvilGasLimit} = ${transfersPerBlock} transfers, Tapchain's fullest block`,
);

const ms = (x) => `${x.toFixed(2)} ms`;
const rows = [
  ['eth_sendRawTransaction, one at a time: p50', (r) => r.send.p50, ms],
  ['eth_sendRawTransaction, one at a time: p99', (r) => r.send.p99, ms],
  ['eth_call, one at a time: p50', (r) => r.call.p50, ms],
  ['eth_getTransactionReceipt, one at a time: p50', (r) => r.receipt.p50, ms],
  [`${CONCURRENCY} concurrent senders: send rate`, (r) => r.sendRate, (x) => `${x.toFixed(0)} tx/s`],
  [`${CONCURRENCY} concurrent senders: send latency p50`, (r) => r.concurrentSend.p50, ms],
  [`${CONCURRENCY} concurrent senders: send latency p99`, (r) => r.concurrentSend.p99, ms],
  ['included per second', (r) => r.includedPerSecond, (x) => `${x.toFixed(0)} tx/s`],
];
console.log(`| | Tapchain | anvil | Tapchain / anvil |\n| --- | --- | --- | --- |`);
for (const [label, get, format] of rows) {
  console.log(`| ${label} | ${format(get(tapchain))} | ${format(get(reference))} | ${(get(tapchain) / get(reference)).toFixed(2)} |`);
}
console.log(`| transfers per block | ${tapchain.perBlock.join(' + ')} | ${reference.perBlock.join(' + ')} | |`);
const cpuOf = (cpu) => cpu.map((c) => `${c.name} ${c.seconds.toFixed(1)} s`).join(', ');
const perSend = (r) => r.sendCpu.map((c) => `${c.name} ${((c.seconds / COUNT) * 1000).toFixed(2)} ms`).join(', ');
console.log(`| CPU while sending | ${cpuOf(tapchain.sendCpu)} (${tapchain.sendSeconds.toFixed(1)} s wall) | ${cpuOf(reference.sendCpu)} (${reference.sendSeconds.toFixed(1)} s wall) | |`);
console.log(`| CPU per send | ${perSend(tapchain)} | ${perSend(reference)} | |`);
console.log(`| CPU during the load (send + inclusion) | ${cpuOf(tapchain.cpu)} (${tapchain.wallSeconds.toFixed(0)} s wall) | ${cpuOf(reference.cpu)} (${reference.wallSeconds.toFixed(0)} s wall) | |`);
process.exit(0);

import { ethers } from 'ethers';
import { DEV_KEYS } from '../lib.mjs';
const url = process.env.ETH_RPC_URL ?? 'http://127.0.0.1:8545';
const N = Number(process.env.N ?? 2000), C = Number(process.env.C ?? 16);
async function rpc(method, params) {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  const j = await r.json(); if (j.error) throw new Error(JSON.stringify(j.error)); return j.result;
}
const chainId = BigInt(await rpc('eth_chainId', []));
const gasPrice = BigInt(await rpc('eth_gasPrice', [])) * 2n;
const ws = DEV_KEYS.map((k) => new ethers.Wallet(k));
const nonces = await Promise.all(ws.map(async (w) => Number(await rpc('eth_getTransactionCount', [w.address, 'pending']))));
const txs = [];
for (let i = 0; i < N; i++) { const s = i % 5; txs.push(await ws[s].signTransaction({ to: ethers.Wallet.createRandom().address, value: 10n ** 13n, nonce: nonces[s]++, gasLimit: 100000n, gasPrice, chainId, type: 0 })); }
console.log('signed; go'); await new Promise((r) => setTimeout(r, 3000));
const t = performance.now(); let next = 0;
await Promise.all(Array.from({ length: C }, async () => { while (next < N) { const i = next++; await rpc('eth_sendRawTransaction', [txs[i]]); } }));
console.log('rate', (N / ((performance.now() - t) / 1000)).toFixed(0), 'tx/s');

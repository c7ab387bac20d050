// Funds the test accounts (lib.mjs TEST_ACCOUNTS) from the development accounts the presets
// fund, so that the test files can run concurrently. Accounts that already hold the funding
// are skipped, so running it twice against one chain is harmless.
import { ethers } from 'ethers';
import { provider, devWallet, mnemonicKey, TEST_ACCOUNTS, TEST_ACCOUNT_FUNDING_WEI } from './lib.mjs';

const p = provider();
// Development accounts 0-3 pay; account 4 stays as the presets fund it (transfers.test.mjs).
const payers = [0, 1, 2, 3].map((i) => devWallet(i, p));
const nonces = await Promise.all(payers.map((w) => p.getTransactionCount(w.address, 'pending')));
const indices = Object.values(TEST_ACCOUNTS).flat();
const sent = [];
for (const [n, index] of indices.entries()) {
  const { address } = new ethers.Wallet(mnemonicKey(index));
  if ((await p.getBalance(address)) >= TEST_ACCOUNT_FUNDING_WEI / 2n) continue;
  const payer = n % payers.length;
  sent.push(await payers[payer].sendTransaction({ to: address, value: TEST_ACCOUNT_FUNDING_WEI, nonce: nonces[payer]++ }));
}
for (const tx of sent) {
  const receipt = await tx.wait();
  if (receipt.status !== 1) throw new Error(`funding ${tx.to} failed`);
}
console.log(`funded ${sent.length} of ${indices.length} test accounts`);

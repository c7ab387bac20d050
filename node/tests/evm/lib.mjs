// Shared helpers of the EVM tests and the throughput benchmark: where the chain is, the
// development keys, and solc-js compilation.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ethers } from 'ethers';
import solc from 'solc';

const here = dirname(fileURLToPath(import.meta.url));

/// The eth-rpc server (Ethereum JSON-RPC) and the node's own RPC (Substrate JSON-RPC).
export const ETH_RPC_URL = process.env.ETH_RPC_URL ?? 'http://127.0.0.1:8545';
export const NODE_RPC_URL = process.env.NODE_RPC_URL ?? 'ws://127.0.0.1:9944';

/// The EIP-155 chain ID the chain under test sets in genesis (the Rust test passes its
/// preset's as EXPECTED_CHAIN_ID; the `development` preset's by default). Wallets read it
/// from the chain (`eth_chainId`); the tests check that the chain says this.
export const CHAIN_ID = BigInt(process.env.EXPECTED_CHAIN_ID ?? 8284242);
/// Another Tapchain network's chain ID (the `local_testnet` preset's): a transaction signed
/// for it must be refused here.
export const OTHER_NETWORK_CHAIN_ID = BigInt(process.env.OTHER_NETWORK_CHAIN_ID ?? 8284243);
/// The fixed gas price in wei (runtime `configs::EVM_GAS_PRICE_WEI`).
export const GAS_PRICE_WEI = 26_000_000n;
/// One satoshi in wei (18-decimal BTC: 1 sat = 10^10 base units = 10^10 wei).
export const SAT = 10n ** 10n;

/// The existential deposit (100 sats): `eth_getBalance` shows the balance above it.
export const EXISTENTIAL_DEPOSIT_WEI = 100n * SAT;

/// The well-known Hardhat/Anvil development mnemonic; its first five accounts
/// (m/44'/60'/0'/0/i) are funded by the `development` preset. Public: development only.
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk';
export const DEV_KEYS = [0, 1, 2, 3, 4].map(
  (i) => ethers.HDNodeWallet.fromMnemonic(ethers.Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${i}`).privateKey,
);

/// The private key of the development mnemonic's account `index` (m/44'/60'/0'/0/index).
export function mnemonicKey(index) {
  return ethers.HDNodeWallet.fromMnemonic(ethers.Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${index}`).privateKey;
}

/// The accounts each test sends from (indices of the development mnemonic past the five the
/// presets fund), so that test files and the tests inside one run concurrently without two
/// of them ever sharing a nonce. `fund-test-accounts.mjs` funds them before the tests run.
export const TEST_ACCOUNTS = {
  erc20: [5, 6, 7, 8],
  spec: [9, 10],
  cast: [11],
  'oz-erc20': [12, 13, 14],
  'oz-erc721': [15, 16, 17],
  'oz-proxy': [18, 19],
  weth: [20],
  multicall: [21],
  create2: [22],
};
/// What `fund-test-accounts.mjs` gives each test account.
export const TEST_ACCOUNT_FUNDING_WEI = 100n * 10n ** 18n;

/// The wallets of one test (see [`TEST_ACCOUNTS`]).
export function testWallets(name, p = provider()) {
  return TEST_ACCOUNTS[name].map((index) => new ethers.Wallet(mnemonicKey(index), p));
}

export function provider() {
  // Polling every 500 ms keeps `tx.wait()` close to the 6 s block time.
  const p = new ethers.JsonRpcProvider(ETH_RPC_URL, undefined, { staticNetwork: true, pollingInterval: 500 });
  return p;
}

export function devWallet(index, p = provider()) {
  return new ethers.Wallet(DEV_KEYS[index], p);
}

/// Compiles `contracts/<file>.sol` with solc-js and returns the ABI and creation bytecode of
/// `contract` (by default the one named like the file). Imports such as
/// `@openzeppelin/contracts/...` resolve to the published npm packages in `node_modules`.
export function compile(file, contract = file) {
  const source = readFileSync(join(here, 'contracts', `${file}.sol`), 'utf8');
  const input = {
    language: 'Solidity',
    sources: { [`${file}.sol`]: { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const findImports = (path) => {
    try {
      return { contents: readFileSync(join(here, 'node_modules', path), 'utf8') };
    } catch (error) {
      return { error: `${path}: ${error.message}` };
    }
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  }
  const compiled = Object.values(output.contracts).find((contracts) => contracts[contract])?.[contract];
  if (!compiled) throw new Error(`no contract ${contract} in contracts/${file}.sol`);
  return { abi: compiled.abi, bytecode: '0x' + compiled.evm.bytecode.object };
}

/// Deploys `{ abi, bytecode }` from `wallet` with constructor `args` and waits for it;
/// throws if the deployment reverted.
export async function deploy(wallet, { abi, bytecode }, ...args) {
  const contract = await new ethers.ContractFactory(abi, bytecode, wallet).deploy(...args);
  const receipt = await contract.deploymentTransaction().wait();
  if (receipt.status !== 1) throw new Error(`deployment ${receipt.hash} reverted`);
  return { contract, receipt, address: await contract.getAddress() };
}

/// Deploys the test ERC-20 from `wallet` and waits for it.
export async function deployToken(wallet, supply) {
  const artifact = compile('TestToken');
  const { contract: token, receipt } = await deploy(wallet, artifact, 'Test Token', 'TT', supply);
  return { token, receipt, abi: artifact.abi };
}

/// What `address` spent in the block of `receipt`: its balance just before that block minus
/// its balance at it.
export async function spentIn(p, address, receipt) {
  const before = await p.getBalance(address, receipt.blockNumber - 1);
  const after = await p.getBalance(address, receipt.blockNumber);
  return before - after;
}

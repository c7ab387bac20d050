// What the bridge tests share: the EVM side (eth-rpc, the withdrawal precompile, solc) and
// deposits from btc-sim's wallet.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const solc = require("solc");
const { btcSim } = require("./lib.js");

/// eth-rpc as `bridge.toml` starts it.
const ETH_RPC_URL = "http://127.0.0.1:18545";
/// One satoshi in wei (18-decimal BTC).
const SAT = 10n ** 10n;
/// `runtime/src/precompiles/IBtcWithdrawal.sol`.
const WITHDRAWAL_PRECOMPILE = "0x000000000000000000000000000000000B7C0000";
const WITHDRAWAL_ABI = [
  "event WithdrawalRequested(uint64 indexed id, address indexed owner, string btcAddress, uint256 amount)",
  "function requestWithdrawal(string btcAddress, uint256 amount) returns (uint64 id)",
  "function minimumWithdrawal(string btcAddress) view returns (uint256 amount)",
];

/// Compiles `node/tests/evm/contracts/<name>.sol` (the EVM tests' contracts) with solc-js.
function compile(name) {
  const source = readFileSync(join(__dirname, "..", "..", "node", "tests", "evm", "contracts", `${name}.sol`), "utf8");
  const input = {
    language: "Solidity",
    sources: { [`${name}.sol`]: { content: source } },
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun", outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  const contract = output.contracts[`${name}.sol`][name];
  return { abi: contract.abi, bytecode: "0x" + contract.evm.bytecode.object };
}

/// The native account of an EVM address: the address followed by twelve 0xee bytes.
function evmAccountId(address) {
  return address.toLowerCase() + "ee".repeat(12);
}

/// Signs each call with `signer` (one after the other) and waits for its block; throws on a
/// dispatch error, including a failed `sudo` call.
async function signAndWait(api, signer, calls) {
  for (const call of calls) {
    await new Promise((resolve, reject) => {
      call
        .signAndSend(signer, ({ status, dispatchError, events }) => {
          if (dispatchError) {
            reject(new Error(`${call.method.section}.${call.method.method} failed: ${dispatchError.toString()}`));
          } else if (status.isInBlock) {
            const sudid = events.find(({ event }) => event.section === "sudo" && event.method === "Sudid");
            if (sudid && sudid.event.data[0].isErr) reject(new Error(`sudo failed: ${sudid.event.data[0].toString()}`));
            else resolve();
          }
        })
        .catch(reject);
    });
  }
}

/// Sends `amount` base units from Alice to `accountIdHex` with polkadot.js (zombienet's).
async function transferNative(networkInfo, nodeName, accountIdHex, amount) {
  const api = await zombie.connect(networkInfo.nodesByName[nodeName].wsUri);
  try {
    const alice = new zombie.Keyring({ type: "sr25519" }).addFromUri("//Alice");
    await signAndWait(api, alice, [api.tx.balances.transferKeepAlive(accountIdHex, amount)]);
  } finally {
    await api.disconnect();
  }
}

/// Pays `sats` from btc-sim's wallet to `custodyAddress` with the memo naming `recipient`
/// (20-byte EVM address or 32-byte account, hex), mines it and two more blocks; returns the txid.
async function depositTo(rpc, custodyAddress, recipient, sats, confirmations = 3) {
  const memoScript = await rpc("bridge_depositMemo", [recipient]);
  // The memo script is OP_RETURN <push>: `send` takes the pushed data.
  const data = memoScript.replace(/^0x/, "").slice(4);
  const btc = Number(sats) / 1e8;
  const sent = await btcSim("send", [[{ [custodyAddress]: btc }, { data }]]);
  const wallet = await btcSim("getnewaddress");
  await btcSim("generatetoaddress", [confirmations, wallet]);
  return sent.txid;
}

module.exports = { ETH_RPC_URL, SAT, WITHDRAWAL_PRECOMPILE, WITHDRAWAL_ABI, compile, evmAccountId, signAndWait, transferNative, depositTo };

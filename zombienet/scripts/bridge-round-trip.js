// The bridge as its users meet it: btc-sim's wallet pays the custody address with a memo
// naming an EVM address; the relayer proves it; eth_getBalance rises by sats * 10^10; the
// address deploys an ERC-20 paying gas in BTC and withdraws through the precompile to a
// btc-sim address; the validators vote and sign; the relayer broadcasts; btc-sim accepts it
// (every input through Bitcoin Core's interpreter); the address holds the amount minus the
// fee; the withdrawal is marked paid.
const { ethers } = require("ethers");
const { nodeRpc, btcSim, waitFor, log } = require("./lib.js");
const { compile, ETH_RPC_URL, SAT, WITHDRAWAL_PRECOMPILE, WITHDRAWAL_ABI, evmAccountId, depositTo, transferNative } = require("./bridge-lib.js");

async function run(nodeName, networkInfo) {
  const rpc = (method, params) => nodeRpc(networkInfo, nodeName, method, params);
  const provider = new ethers.JsonRpcProvider(ETH_RPC_URL, undefined, { staticNetwork: true, pollingInterval: 500 });
  const user = ethers.Wallet.createRandom().connect(provider);
  log(`user ${user.address}`);

  const depositAddress = await waitFor("a custody key (deposit address)", 400_000, () => rpc("bridge_depositAddress"), 3000);
  log(`custody address ${depositAddress.address} (epoch ${depositAddress.epoch})`);
  await waitFor("eth-rpc", 120_000, () => provider.getBlockNumber().then(() => true));

  // A native transfer first lifts the account above the existential deposit, so the deposit
  // shows in eth_getBalance in full.
  await transferNative(networkInfo, nodeName, evmAccountId(user.address), 1000n * SAT);
  await waitFor("the funding transfer", 120_000, async () => (await provider.getBalance(user.address)) > 0n);
  const before = await provider.getBalance(user.address);

  const depositSats = 50_000_000n;
  const deposit = await depositTo(rpc, depositAddress.address, user.address, depositSats);
  log(`deposit ${deposit} mined with 3 confirmations`);
  await waitFor("the deposit credited", 180_000, async () => (await provider.getBalance(user.address)) !== before);
  const credited = (await provider.getBalance(user.address)) - before;
  if (credited !== depositSats * SAT) throw new Error(`credited ${credited} wei, expected ${depositSats * SAT}`);
  log(`eth_getBalance rose by ${credited} wei = ${depositSats} sats * 10^10`);

  // An ERC-20, gas paid in BTC.
  const { abi, bytecode } = compile("TestToken");
  const beforeDeploy = await provider.getBalance(user.address);
  const token = await new ethers.ContractFactory(abi, bytecode, user).deploy("Bridged", "BRG", 10n ** 24n);
  const deployed = await token.deploymentTransaction().wait();
  if (deployed.status !== 1) throw new Error("the ERC-20 deployment failed");
  const gasCost = deployed.gasUsed * deployed.gasPrice;
  const afterDeploy = await provider.getBalance(user.address);
  if (beforeDeploy - afterDeploy !== gasCost) throw new Error(`deployment cost ${beforeDeploy - afterDeploy} wei, receipt says ${gasCost}`);
  if ((await token.balanceOf(user.address)) !== 10n ** 24n) throw new Error("the ERC-20 supply is not the deployer's");
  log(`ERC-20 at ${await token.getAddress()}, gas ${deployed.gasUsed} x ${deployed.gasPrice} wei = ${gasCost} wei of BTC`);

  // A withdrawal through the precompile.
  // An address outside btc-sim's wallet, so its one output is the payment.
  const destination = "bcrt1q6rhpng9evdsfnn833a4f4vej0asu6dk5srld6x";
  const withdrawSats = 20_000_000n;
  const precompile = new ethers.Contract(WITHDRAWAL_PRECOMPILE, WITHDRAWAL_ABI, user);
  const minimum = await precompile.minimumWithdrawal(destination);
  log(`minimum withdrawal to ${destination}: ${minimum / SAT} sats`);
  const requested = await (await precompile.requestWithdrawal(destination, withdrawSats * SAT)).wait();
  const event = requested.logs.map((l) => precompile.interface.parseLog(l)).find((e) => e && e.name === "WithdrawalRequested");
  if (!event) throw new Error("no WithdrawalRequested log");
  const id = Number(event.args.id);
  log(`withdrawal ${id} requested`);

  const signed = await waitFor(`withdrawal ${id} signed`, 400_000, async () => {
    const w = await rpc("bridge_withdrawal", [id]);
    return w && (w.status === "signed" || w.status === "paid") ? w : null;
  }, 2000);
  const txid = signed.txid;
  const proposal = await rpc("bridge_proposal", [signed.proposalId]);
  log(`proposal ${signed.proposalId}: ${proposal.approvals} approvals, fee ${proposal.feeSats} sats at ${proposal.feeRateSatPerVb} sat/vB, tx ${txid}`);
  if (proposal.approvals < 3) throw new Error(`only ${proposal.approvals} approvals`);
  if (proposal.feeRateSatPerVb !== 4) throw new Error(`fee rate ${proposal.feeRateSatPerVb}, btc-sim estimates 4 sat/vB`);

  // The relayer broadcasts; btc-sim's mempool takes only what Bitcoin Core's interpreter accepts.
  await waitFor(`${txid} in btc-sim's mempool`, 120_000, async () => (await btcSim("getrawmempool")).includes(txid));
  await btcSim("generatetoaddress", [3, await btcSim("getnewaddress")]);
  await waitFor(`withdrawal ${id} paid`, 180_000, async () => (await rpc("bridge_withdrawal", [id])).status === "paid", 2000);

  const output = await btcSim("gettxout", [txid, 0]);
  const paidSats = BigInt(Math.round(output.value * 1e8));
  if (output.scriptPubKey.address !== destination) throw new Error(`output 0 pays ${output.scriptPubKey.address}`);
  if (paidSats !== withdrawSats - BigInt(proposal.feeSats)) throw new Error(`paid ${paidSats} sats, expected ${withdrawSats} - ${proposal.feeSats}`);
  log(`${destination} holds ${paidSats} sats = ${withdrawSats} - fee ${proposal.feeSats}; withdrawal ${id} paid`);
  return 1;
}

module.exports = { run };

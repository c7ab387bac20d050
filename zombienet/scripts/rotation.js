// Rotation into vaults: with a deposit held under the genesis set's key, Eve bonds, registers
// session keys made by her own node, validates; governance sets vaults of at most 4 members,
// shortens sessions to 10 blocks and forces a new era. Once Eve is a validator the five no
// longer fit one vault: custody fixes a Bitcoin height, btc-sim mines it and buries it, its
// hash deals the five into two vaults (3 and 2), and each runs its own DKG. The old UTXOs
// are swept to vault 0's new key (voted, signed by the old key, broadcast by the relayer,
// mined by btc-sim, proven), and deposits to it and to vault 1 are credited; so is one to
// the old address (still live for its grace period), which the relayer proves on its own
// because it watches every live key's script (bridge_depositScripts). Then one withdrawal
// larger than any vault holds spends coins of both vaults in one transaction, each vault
// signing its own inputs, and is paid.
const { nodeRpc, btcSim, waitFor, log } = require("./lib.js");
const { SAT, depositTo, signAndWait } = require("./bridge-lib.js");
const { u8aToHex } = require("@polkadot/util");
const { xxhashAsU8a } = require("@polkadot/util-crypto");

const FERDIE = "0x1cbd2d43530a44705ad088af313e18f80b53ef16b36177cd4b77b846f2a5f07c";

async function run(nodeName, networkInfo) {
  const rpc = (method, params) => nodeRpc(networkInfo, nodeName, method, params);
  const api = await zombie.connect(networkInfo.nodesByName[nodeName].wsUri);
  const keyring = new zombie.Keyring({ type: "sr25519" });
  const sudo = keyring.addFromUri("//Alice");
  const eveStash = keyring.addFromUri("//Eve//stash");
  const free = async (who) => (await api.query.system.account(who)).data.free.toBigInt();
  const wallet = await btcSim("getnewaddress");
  try {
    const first = await waitFor("the genesis set's custody key", 400_000, () => rpc("bridge_depositAddress"), 3000);
    log(`epoch ${first.epoch}: ${first.address}`);
    const before = await free(FERDIE);
    await depositTo(rpc, first.address, FERDIE, 40_000_000n);
    await waitFor("the deposit to the old key credited", 180_000, async () => (await free(FERDIE)) - before === 40_000_000n * SAT);
    log("0.4 BTC held under the old key");
    // Sweep fees come from the bridge's fee reserve, never silently from the backing:
    // Ferdie burns 0.001 bridged BTC into it.
    const ferdie = keyring.addFromUri("//Ferdie");
    await signAndWait(api, ferdie, [api.tx.btcBridge.fundFeeReserve(100_000n * SAT)]);
    const ledger = (await api.query.btcBridge.ledger()).toJSON();
    if (BigInt(ledger.reserveSats) !== 100_000n) throw new Error(`reserve ${JSON.stringify(ledger)}`);
    log(`fee reserve funded: ${JSON.stringify(ledger)}`);

    // Eve's node makes her session keys, with the proof that her stash owns them.
    const owner = api.createType("AccountId", eveStash.address).toHex();
    const generated = await nodeRpc(networkInfo, "eve", "author_rotateKeysWithOwner", [owner]);
    await signAndWait(api, eveStash, [
      api.tx.session.setKeys(generated.keys, generated.proof),
      api.tx.staking.bond(100n * 10n ** 18n, "Stash"),
      api.tx.staking.validate({ commission: 0, blocked: false }),
    ]);
    log(`Eve (${eveStash.address}) bonded 100 BTC, set her keys and validates`);

    // Governance: 10-block sessions (twox128(":SessionPeriodSetting:")), five validators, a new era now.
    const key = u8aToHex(xxhashAsU8a(":SessionPeriodSetting:", 128));
    // SCALE (little-endian) bytes; `toHex()` of a number type would print it big-endian.
    const period = u8aToHex(api.createType("u32", 10).toU8a());
    await signAndWait(api, sudo, [
      api.tx.sudo.sudo(api.tx.system.setStorage([[key, period]])),
      api.tx.sudo.sudo(api.tx.staking.setValidatorCount(5)),
      api.tx.sudo.sudo(api.tx.btcCustody.setVaultSize(4)),
      api.tx.sudo.sudo(api.tx.staking.forceNewEra()),
    ]);
    log("sessions of 10 blocks, validator count 5, vaults of at most 4, new era forced");
    if ((await api.query.btcCustody.vaultCount()).toNumber() !== 1) throw new Error("four validators fit one vault of four");

    await waitFor("Eve in the validator set", 400_000, async () => {
      const validators = (await api.query.session.validators()).map((v) => v.toString());
      return validators.includes(eveStash.address);
    }, 3000);
    log("Eve is a validator");

    // Five do not fit one vault of four: the partition waits for a Bitcoin block that was
    // not mined when its height was fixed, buried under the bridge's 3 confirmations.
    const pending = await waitFor("the partition's seed height", 300_000, async () => {
      const seed = await api.query.btcCustody.pendingPartitionSeed();
      return seed.isSome ? seed.unwrap().toJSON() : null;
    }, 2000);
    log(`partition seed: the Bitcoin block at height ${pending.seedHeight}, ${pending.candidates.length} candidates`);
    await btcSim("generatetoaddress", [3, wallet]);
    const vaults = await waitFor("two vaults, each with its own key", 600_000, async () => {
      const listed = await rpc("bridge_vaults");
      return listed.length === 2 && listed.every((v) => v.epoch !== first.epoch) ? listed : null;
    }, 3000);
    const members = [];
    for (const vault of [0, 1]) members.push((await api.query.btcCustody.vaultMembers(vault)).toJSON());
    if (members[0].length + members[1].length !== 5 || Math.abs(members[0].length - members[1].length) !== 1) {
      throw new Error(`the five are not dealt 3 and 2: ${JSON.stringify(members)}`);
    }
    for (const [i, v] of vaults.entries()) log(`vault ${i}: epoch ${v.epoch}, ${members[i].length} members, ${v.address}, capacity ${v.capacitySats} sats`);
    // Epoch 0's coins belong to vault 0: they are swept to vault 0's new key.
    const second = { ...vaults[0], scriptPubKey: (await rpc("bridge_depositScripts")).find((s) => s.epoch === vaults[0].epoch).scriptPubKey };
    const other = vaults[1];

    // The sweep: the relayer broadcasts it; btc-sim mines; the relayer proves it.
    const sweep = await waitFor("the sweep signed and broadcast", 600_000, async () => {
      const proposal = await rpc("bridge_activeProposal");
      if (!proposal || proposal.kind !== "sweep" || proposal.status !== "signed") return null;
      return (await btcSim("getrawmempool")).includes(proposal.txid) ? proposal : null;
    }, 3000);
    log(`sweep ${sweep.id}: ${sweep.txid}, fee ${sweep.feeSats} sats`);
    await btcSim("generatetoaddress", [3, wallet]);
    await waitFor("the sweep confirmed", 180_000, async () => (await rpc("bridge_proposal", [sweep.id])).status === "confirmed", 2000);
    const swept = await btcSim("gettxout", [sweep.txid, 0]);
    if (swept.scriptPubKey.hex !== second.scriptPubKey.replace(/^0x/, "")) throw new Error(`the sweep pays ${swept.scriptPubKey.hex}, not the new key`);
    log(`swept ${swept.value} BTC to the new key`);

    const books = (await api.query.btcBridge.ledger()).toJSON();
    if (BigInt(books.reserveSats) !== 100_000n - BigInt(sweep.feeSats)) throw new Error(`the sweep's fee ${sweep.feeSats} did not come from the reserve: ${JSON.stringify(books)}`);
    log(`the reserve paid the sweep's ${sweep.feeSats} sats: ${JSON.stringify(books)}`);

    const beforeNew = await free(FERDIE);
    await depositTo(rpc, second.address, FERDIE, 25_000_000n);
    await waitFor("the deposit to the new key credited", 180_000, async () => (await free(FERDIE)) - beforeNew === 25_000_000n * SAT);
    log("a deposit to the new address is credited");

    const scripts = await rpc("bridge_depositScripts");
    if (!scripts.some((script) => script.epoch === first.epoch) || !scripts.some((script) => script.epoch === second.epoch)) {
      throw new Error(`the relayer's scripts should hold both keys: ${JSON.stringify(scripts)}`);
    }
    const beforeOld = await free(FERDIE);
    await depositTo(rpc, first.address, FERDIE, 15_000_000n);
    await waitFor("the deposit to the old key credited", 180_000, async () => (await free(FERDIE)) - beforeOld === 15_000_000n * SAT);
    log("a deposit to the old address is credited: the relayer watches every live key");

    const beforeOther = await free(FERDIE);
    await depositTo(rpc, other.address, FERDIE, 50_000_000n);
    await waitFor("the deposit to vault 1 credited", 180_000, async () => (await free(FERDIE)) - beforeOther === 50_000_000n * SAT);
    log("a deposit to vault 1 is credited");

    // 1.2 BTC: more than either vault holds, so the transaction spends both vaults' coins.
    const destination = await btcSim("getnewaddress");
    const id = Number((await api.query.btcBridge.nextWithdrawalId()).toString()) || 1;
    await signAndWait(api, ferdie, [api.tx.btcBridge.requestWithdrawal(destination, 120_000_000n * SAT)]);
    const withdrawal = await waitFor("the withdrawal signed", 600_000, async () => {
      // The old key's late deposit is swept first (its grace is over): mine what is signed.
      const active = await rpc("bridge_activeProposal");
      if (active && active.kind === "sweep" && active.status === "signed" && (await btcSim("getrawmempool")).includes(active.txid)) {
        log(`mining sweep ${active.id} of the old key's late deposit`);
        await btcSim("generatetoaddress", [3, wallet]);
      }
      for (const candidate of [id, id + 1]) {
        const w = await rpc("bridge_withdrawal", [candidate]);
        if (w && w.address === destination && (w.status === "signed" || w.status === "paid")) return w;
      }
      return null;
    }, 3000);
    const proposal = (await api.query.btcBridge.proposals(withdrawal.proposalId)).unwrap().toJSON();
    const inputVaults = new Set();
    for (const [, , epoch] of proposal.inputs) inputVaults.add((await api.query.btcCustody.epochs(epoch)).unwrap().vault.toNumber());
    log(`withdrawal ${withdrawal.id}: ${proposal.inputs.length} inputs from vaults ${[...inputVaults].join(", ")}, signed by each`);
    if (inputVaults.size < 2) throw new Error(`the withdrawal spends one vault only: ${JSON.stringify(proposal.inputs)}`);
    await waitFor(`${withdrawal.txid} in btc-sim's mempool`, 120_000, async () => (await btcSim("getrawmempool")).includes(withdrawal.txid), 2000);
    await btcSim("generatetoaddress", [3, wallet]);
    await waitFor("the withdrawal paid", 180_000, async () => (await rpc("bridge_withdrawal", [withdrawal.id])).status === "paid", 2000);
    log("paid from two vaults in one Bitcoin transaction");
    return 1;
  } finally {
    await api.disconnect();
  }
}

module.exports = { run };

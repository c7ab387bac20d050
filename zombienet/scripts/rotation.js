// Rotation: with a deposit held under the genesis set's key, Eve bonds, registers session
// keys made by her own node, validates; governance shortens sessions to 10 blocks and forces
// a new era; once Eve is a validator the five run a DKG, the new key becomes the deposit
// address, the old UTXOs are swept to it (voted, signed by the old key, broadcast by the
// relayer, mined by btc-sim, proven), and a deposit to the new address is credited; so is
// one to the old address (still live for its grace period), which the relayer proves on its
// own because it watches every live key's script (bridge_depositScripts).
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
      api.tx.sudo.sudo(api.tx.staking.forceNewEra()),
    ]);
    log("sessions of 10 blocks, validator count 5, new era forced");

    await waitFor("Eve in the validator set", 400_000, async () => {
      const validators = (await api.query.session.validators()).map((v) => v.toString());
      return validators.includes(eveStash.address);
    }, 3000);
    log("Eve is a validator");

    const second = await waitFor("the new set's custody key", 600_000, async () => {
      const address = await rpc("bridge_depositAddress");
      return address && address.epoch !== first.epoch ? address : null;
    }, 3000);
    log(`epoch ${second.epoch}: ${second.address}`);

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
    return 1;
  } finally {
    await api.disconnect();
  }
}

module.exports = { run };

// A deposit two blocks deep is reorganised away (btc-sim invalidates its block and mines a
// heavier branch without it): the light client follows, nothing is credited; mined again on
// the new branch it is credited only at its third confirmation there, exactly once.
const { nodeRpc, btcSim, waitFor, sleep, log } = require("./lib.js");
const { SAT } = require("./bridge-lib.js");

const FERDIE = "0x1cbd2d43530a44705ad088af313e18f80b53ef16b36177cd4b77b846f2a5f07c";

async function run(nodeName, networkInfo) {
  const rpc = (method, params) => nodeRpc(networkInfo, nodeName, method, params);
  const api = await zombie.connect(networkInfo.nodesByName[nodeName].wsUri);
  const free = async () => (await api.query.system.account(FERDIE)).data.free.toBigInt();
  const lightClientAt = (hash) => waitFor(`the light client at ${hash}`, 120_000, async () => (await rpc("btc_bestTip")).hash === hash);
  const wallet = await btcSim("getnewaddress");
  try {
    const depositAddress = await waitFor("a custody key (deposit address)", 400_000, () => rpc("bridge_depositAddress"), 3000);
    const memoScript = await rpc("bridge_depositMemo", [FERDIE]);
    const before = await free();

    const sent = await btcSim("send", [[{ [depositAddress.address]: 0.3 }, { data: memoScript.replace(/^0x/, "").slice(4) }]]);
    const [first] = await btcSim("generatetoaddress", [1, wallet]);
    const [second] = await btcSim("generatetoaddress", [1, wallet]);
    await lightClientAt(second);
    log(`deposit ${sent.txid} in ${first}, two confirmations, relayed`);

    // The reorg: the deposit's block is invalidated and three empty blocks outweigh it.
    await btcSim("invalidateblock", [first]);
    if (!(await btcSim("getrawmempool")).includes(sent.txid)) throw new Error("the deposit did not return to the mempool");
    let tip;
    for (let i = 0; i < 3; i++) tip = (await btcSim("generateblock", [wallet, []])).hash;
    await lightClientAt(tip);
    log(`reorganised to ${tip}; the deposit is unconfirmed`);
    await sleep(20_000);
    if ((await free()) !== before) throw new Error("credited while unconfirmed");

    // Mined again: one, two confirmations are not enough; the third credits it.
    for (let confirmations = 1; confirmations <= 2; confirmations++) {
      const [hash] = await btcSim("generatetoaddress", [1, wallet]);
      await lightClientAt(hash);
      await sleep(10_000);
      if ((await free()) !== before) throw new Error(`credited with ${confirmations} confirmation(s)`);
    }
    await btcSim("generatetoaddress", [1, wallet]);
    await waitFor("the deposit credited", 120_000, async () => (await free()) !== before);
    await sleep(15_000);
    const credited = (await free()) - before;
    if (credited !== 30_000_000n * SAT) throw new Error(`credited ${credited}, expected ${30_000_000n * SAT}`);
    log(`credited ${credited} base units once, at the third confirmation on the new branch`);
    return 1;
  } finally {
    await api.disconnect();
  }
}

module.exports = { run };

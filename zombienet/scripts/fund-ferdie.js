// Waits for the custody key and credits Ferdie 0.5 BTC through a Bitcoin deposit.
const { nodeRpc, waitFor, log } = require("./lib.js");
const { SAT, depositTo } = require("./bridge-lib.js");

const FERDIE = "0x1cbd2d43530a44705ad088af313e18f80b53ef16b36177cd4b77b846f2a5f07c";

async function run(nodeName, networkInfo) {
  const rpc = (method, params) => nodeRpc(networkInfo, nodeName, method, params);
  const api = await zombie.connect(networkInfo.nodesByName[nodeName].wsUri);
  try {
    const free = async () => (await api.query.system.account(FERDIE)).data.free.toBigInt();
    const address = await waitFor("a custody key (deposit address)", 500_000, () => rpc("bridge_depositAddress"), 3000);
    const before = await free();
    await depositTo(rpc, address.address, FERDIE, 50_000_000n);
    await waitFor("Ferdie's deposit credited", 180_000, async () => (await free()) - before === 50_000_000n * SAT);
    log(`Ferdie holds 0.5 BTC more (custody epoch ${address.epoch})`);
    return 1;
  } finally {
    await api.disconnect();
  }
}

module.exports = { run };

// Waits until the node reports at least `args[0]` connected peers (system_health).
const { nodeRpc, waitFor, log } = require("./lib.js");

async function run(nodeName, networkInfo, args) {
  const wanted = parseInt(args[0], 10);
  const peers = await waitFor(`${nodeName} to have ${wanted} peers`, 110_000, async () => {
    const health = await nodeRpc(networkInfo, nodeName, "system_health");
    return health.peers >= wanted ? health.peers : 0;
  });
  log(`${nodeName} has ${peers} peers`);
  return peers;
}

module.exports = { run };

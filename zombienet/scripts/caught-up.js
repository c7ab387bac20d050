// Waits until this node's best and finalized blocks reach those `args[0]` had when the step
// started, and the node imports new blocks again (it follows the chain, not just its past).
const { bestNumber, finalizedNumber, waitFor, log } = require("./lib.js");

async function run(nodeName, networkInfo, args) {
  const reference = args[0];
  const target = await bestNumber(networkInfo, reference);
  const targetFinalized = await finalizedNumber(networkInfo, reference);
  await waitFor(`${nodeName} to reach #${target}`, 150_000, async () => (await bestNumber(networkInfo, nodeName)) >= target);
  await waitFor(`${nodeName} to finalize #${targetFinalized}`, 150_000, async () => (await finalizedNumber(networkInfo, nodeName)) >= targetFinalized);
  const best = await bestNumber(networkInfo, nodeName);
  log(`${nodeName} caught up: best #${best} (${reference} was at #${target}), finalized >= #${targetFinalized}`);
  return best;
}

module.exports = { run };

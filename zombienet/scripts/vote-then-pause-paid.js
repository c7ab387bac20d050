// Vote, then silence (part 2): with Charlie paused after approving, the withdrawal is still
// signed (by Alice, Bob and Dave; if Charlie had already joined the signing set, its
// deadline excludes him and a new attempt starts), broadcast, mined and paid.
const { nodeRpc, btcSim, waitFor, log } = require("./lib.js");
const { DESTINATION } = require("./vote-then-pause-request.js");

async function run(nodeName, networkInfo) {
  const rpc = (method, params) => nodeRpc(networkInfo, nodeName, method, params);
  const api = await zombie.connect(networkInfo.nodesByName[nodeName].wsUri);
  const retries = [];
  const unsubscribe = await api.query.system.events((events) => {
    for (const { event } of events) {
      if (event.section === "btcCustody" && event.method === "SigningRetry") retries.push(event.data.toJSON());
    }
  });
  try {
    const next = Number((await api.query.btcBridge.nextWithdrawalId()).toString());
    let id = null;
    for (let candidate = next - 1; candidate > 0 && id === null; candidate--) {
      const w = await rpc("bridge_withdrawal", [candidate]);
      if (w && w.address === DESTINATION) id = candidate;
    }
    if (id === null) throw new Error(`no withdrawal to ${DESTINATION}`);
    const signed = await waitFor("the withdrawal signed without Charlie", 500_000, async () => {
      const w = await rpc("bridge_withdrawal", [id]);
      return w.status === "signed" || w.status === "paid" ? w : null;
    }, 2000);
    log(`withdrawal ${id} signed (proposal ${signed.proposalId}); signing retries: ${JSON.stringify(retries)}`);
    await waitFor(`${signed.txid} in btc-sim's mempool`, 120_000, async () => (await btcSim("getrawmempool")).includes(signed.txid));
    await btcSim("generatetoaddress", [3, await btcSim("getnewaddress")]);
    await waitFor("the withdrawal paid", 180_000, async () => (await rpc("bridge_withdrawal", [id])).status === "paid", 2000);
    log("paid though Charlie voted and then went silent");
    return 1;
  } finally {
    unsubscribe();
    await api.disconnect();
  }
}

module.exports = { run };

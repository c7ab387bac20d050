// Dave is paused. Ferdie withdraws 0.1 BTC: Alice, Bob and Charlie approve and sign, the
// relayer broadcasts, btc-sim mines, the withdrawal is paid; when the proposal's voting
// window closes, Dave (who never voted) is reported: `btcBridge.VoteSilenceReported` and a
// `tapchain:custody` offence.
const { nodeRpc, btcSim, waitFor, log } = require("./lib.js");
const { SAT, signAndWait } = require("./bridge-lib.js");

async function run(nodeName, networkInfo) {
  const rpc = (method, params) => nodeRpc(networkInfo, nodeName, method, params);
  const api = await zombie.connect(networkInfo.nodesByName[nodeName].wsUri);
  const keyring = new zombie.Keyring({ type: "sr25519" });
  const ferdie = keyring.addFromUri("//Ferdie");
  const daveStash = keyring.addFromUri("//Dave//stash").address;
  const silenceReports = [];
  const offences = [];
  const unsubscribe = await api.query.system.events((events) => {
    for (const { event } of events) {
      if (event.section === "btcBridge" && event.method === "VoteSilenceReported") silenceReports.push(event.data.toJSON());
      if (event.section === "offences" && event.method === "Offence") offences.push(event.data.toHuman());
    }
  });
  try {
    const destination = "bcrt1q6rhpng9evdsfnn833a4f4vej0asu6dk5srld6x";
    const withdrawSats = 10_000_000n;
    const id = Number((await api.query.btcBridge.nextWithdrawalId()).toString()) || 1;
    await signAndWait(api, ferdie, [api.tx.btcBridge.requestWithdrawal(destination, withdrawSats * SAT)]);
    const withdrawal = await waitFor("Ferdie's withdrawal request", 60_000, async () => {
      for (const candidate of [id, id + 1]) {
        const w = await rpc("bridge_withdrawal", [candidate]);
        if (w && w.address === destination) return w;
      }
      return null;
    });
    log(`withdrawal ${withdrawal.id} requested with Dave paused`);

    const signed = await waitFor("the withdrawal signed by three", 400_000, async () => {
      const w = await rpc("bridge_withdrawal", [withdrawal.id]);
      return w.status === "signed" || w.status === "paid" ? w : null;
    }, 2000);
    const proposal = await rpc("bridge_proposal", [signed.proposalId]);
    log(`proposal ${signed.proposalId}: ${proposal.approvals} approvals, ${proposal.rejections} rejections`);
    if (proposal.approvals !== 3) throw new Error(`expected the three running validators to approve, got ${proposal.approvals}`);
    await waitFor(`${signed.txid} in btc-sim's mempool`, 120_000, async () => (await btcSim("getrawmempool")).includes(signed.txid));
    await btcSim("generatetoaddress", [3, await btcSim("getnewaddress")]);
    await waitFor("the withdrawal paid", 180_000, async () => (await rpc("bridge_withdrawal", [withdrawal.id])).status === "paid", 2000);
    log("paid without Dave");

    // The window is 20 blocks from the proposal; Dave's silence is reported when it closes.
    const report = await waitFor("Dave reported silent", 240_000, async () =>
      silenceReports.find((r) => r.proposalId === signed.proposalId || r[0] === signed.proposalId), 2000);
    const named = JSON.stringify(report);
    const daveHex = api.createType("AccountId", daveStash).toHex();
    if (!named.includes(daveHex) && !named.includes(daveStash)) throw new Error(`the report ${named} does not name Dave (${daveStash})`);
    for (const other of ["//Alice//stash", "//Bob//stash", "//Charlie//stash"]) {
      const hex = api.createType("AccountId", keyring.addFromUri(other).address).toHex();
      if (named.includes(hex)) throw new Error(`${other} voted but is reported: ${named}`);
    }
    // The offence kind is b"tapchain:custody", shown as text or hex.
    const kind = (o) => JSON.stringify(o).includes("tapchain:custody") || JSON.stringify(o).includes("7461706368616" + "96e3a637573746f6479");
    await waitFor("the offence recorded", 60_000, async () => offences.some(kind));
    log(`Dave reported: ${named}; offence ${JSON.stringify(offences[offences.length - 1])}`);
    return 1;
  } finally {
    unsubscribe();
    await api.disconnect();
  }
}

module.exports = { run };

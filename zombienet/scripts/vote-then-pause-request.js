// Vote, then silence (part 1): Ferdie withdraws 0.05 BTC; the script returns as soon as
// Charlie's approval is on chain, and the test pauses Charlie's node before it signs.
const { waitFor, log } = require("./lib.js");
const { SAT, signAndWait } = require("./bridge-lib.js");

const DESTINATION = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

async function run(nodeName, networkInfo) {
  const api = await zombie.connect(networkInfo.nodesByName[nodeName].wsUri);
  const keyring = new zombie.Keyring({ type: "sr25519" });
  const ferdie = keyring.addFromUri("//Ferdie");
  const charlie = api.createType("AccountId", keyring.addFromUri("//Charlie//stash").address).toHex();
  try {
    const id = Number((await api.query.btcBridge.nextWithdrawalId()).toString());
    await signAndWait(api, ferdie, [api.tx.btcBridge.requestWithdrawal(DESTINATION, 5_000_000n * SAT)]);
    log(`withdrawal ${id} requested`);
    const proposalId = await waitFor("Charlie's approval of the withdrawal's proposal", 300_000, async () => {
      const withdrawal = (await api.query.btcBridge.withdrawals(id)).toJSON();
      const proposed = withdrawal && withdrawal.status && withdrawal.status.proposed;
      if (!proposed) return null;
      // Each validator's vote is its own entry while the voting window is open.
      const ballot = await api.query.btcBridge.proposalVotes(proposed.proposalId, charlie);
      return ballot.isSome && ballot.unwrap().toString() === "Approve" ? proposed.proposalId : null;
    }, 500);
    log(`Charlie approved proposal ${proposalId}: pausing Charlie before it signs`);
    return 1;
  } finally {
    await api.disconnect();
  }
}

module.exports = { run, DESTINATION };

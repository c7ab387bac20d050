// Helpers shared by the zombienet JS steps: JSON-RPC over HTTP to a node (its ws port also
// answers HTTP), to btc-sim, and polling with a deadline (a js-script step runs once, so a
// step that waits for something polls on its own).

const BTC_SIM_URL = "http://127.0.0.1:18443";
const BTC_SIM_AUTH = "Basic " + Buffer.from("tapchain:secret").toString("base64");

async function jsonRpc(url, method, params = [], headers = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const reply = await response.json();
  if (reply.error) {
    const error = new Error(`${method}: ${reply.error.code} ${reply.error.message}`);
    error.code = reply.error.code;
    throw error;
  }
  return reply.result;
}

/// The HTTP URL of a zombienet node's RPC.
function nodeUrl(networkInfo, name) {
  return networkInfo.nodesByName[name].wsUri.replace("ws://", "http://");
}

function nodeRpc(networkInfo, name, method, params = []) {
  return jsonRpc(nodeUrl(networkInfo, name), method, params);
}

function btcSim(method, params = []) {
  return jsonRpc(BTC_SIM_URL, method, params, { Authorization: BTC_SIM_AUTH });
}

async function bestNumber(networkInfo, name) {
  const header = await nodeRpc(networkInfo, name, "chain_getHeader");
  return parseInt(header.number, 16);
}

async function finalizedNumber(networkInfo, name) {
  const hash = await nodeRpc(networkInfo, name, "chain_getFinalizedHead");
  const header = await nodeRpc(networkInfo, name, "chain_getHeader", [hash]);
  return parseInt(header.number, 16);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// Polls `check` (async, returns a truthy value when done) every `everyMs` until `timeoutMs`;
/// returns the value or throws naming `what` and the last error.
async function waitFor(what, timeoutMs, check, everyMs = 1000) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
}

function log(...args) {
  console.log("   ", ...args);
}

module.exports = { jsonRpc, nodeUrl, nodeRpc, btcSim, bestNumber, finalizedNumber, sleep, waitFor, log };

// Regenerates `execution-apis.json`, the Ethereum execution-apis OpenRPC methods and schemas
// the spec test validates responses against, from a checkout of
// https://github.com/ethereum/execution-apis (CC0-1.0):
//
//   git clone https://github.com/ethereum/execution-apis /tmp/execution-apis
//   node node/tests/evm/spec/update.mjs /tmp/execution-apis
//
// It keeps what the upstream build (`make build`, Go) assembles into refs-openrpc.json for the
// `eth_` namespace: every method's params and result schema and every component schema, as
// they are, without the examples.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const checkout = process.argv[2];
if (!checkout) throw new Error('usage: node spec/update.mjs <execution-apis checkout>');
const commit = execFileSync('git', ['-C', checkout, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
const yamlFiles = (dir) =>
  readdirSync(join(checkout, dir))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => YAML.parse(readFileSync(join(checkout, dir, f), 'utf8')));

const schemas = Object.assign({}, ...yamlFiles('src/schemas'));
const methods = yamlFiles('src/eth')
  .flat()
  .map(({ name, params, result, errors }) => ({ name, params, result, ...(errors ? { errors } : {}) }));
const spec = {
  source: { repository: 'https://github.com/ethereum/execution-apis', commit, license: 'CC0-1.0' },
  methods,
  components: { schemas },
};
const out = join(dirname(fileURLToPath(import.meta.url)), 'execution-apis.json');
writeFileSync(out, JSON.stringify(spec, null, 1) + '\n');
console.log(`${methods.length} methods, ${Object.keys(schemas).length} schemas from ${commit} -> ${out}`);

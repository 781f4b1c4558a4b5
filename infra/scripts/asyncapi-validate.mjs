// Validates infra/asyncapi.yaml as AsyncAPI parsers read it, its reference into
// infra/openapi.yaml followed: the Rust tests check what the server sends against the
// document's schemas, not that the document is valid AsyncAPI.
import { Parser, fromFile } from '@asyncapi/parser';
import { fileURLToPath } from 'node:url';

const file = process.argv[2] ?? fileURLToPath(new URL('../asyncapi.yaml', import.meta.url));
const { document, diagnostics } = await fromFile(new Parser(), file).parse();
// Errors and warnings fail; infos and hints (such as "a newer AsyncAPI exists") do not.
const findings = diagnostics.filter((d) => d.severity <= 1);
for (const d of findings) {
  console.error(`${file}: ${d.severity === 0 ? 'error' : 'warning'} ${d.code} at /${d.path.join('/')}: ${d.message}`);
}
if (!document || findings.length > 0) process.exit(1);
console.log(`${file}: valid AsyncAPI ${document.version()}, ${document.operations().length} operations`);

// Validates a FHIR R4 resource (here, the act's export Bundle) against the
// R4 base definitions with FHIR.js (the npm `fhir` package, Lantana
// Consulting Group), an independent validator this project did not write.
//
// Usage: node fhir/validate.mjs FILE
// Prints one line per message (severity, location, text) and a summary;
// exits 0 when the validator finds no error, 1 when it finds one, 2 when
// the file cannot be read or is not JSON.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Fhir } = require('fhir');

const file = process.argv[2];
if (!file) {
  console.error('usage: node fhir/validate.mjs FILE');
  process.exit(2);
}
let resource;
try {
  resource = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.error(`cannot read ${file} as JSON: ${e.message}`);
  process.exit(2);
}
const result = new Fhir().validate(resource, { errorOnUnexpected: true });
for (const m of result.messages) {
  console.log(`${m.severity}\t${m.location}\t${m.message}`);
}
const errors = result.messages.filter((m) => m.severity === 'error').length;
console.log(`fhir validate: ${result.valid ? 'valid' : 'INVALID'}, ${errors} error(s), ${result.messages.length} message(s)`);
process.exit(result.valid && errors === 0 ? 0 : 1);

import { writeFileSync } from 'node:fs';
import { openapiText } from './openapi-document.ts';

const target = new URL('../openapi/openapi.json', import.meta.url);
writeFileSync(target, await openapiText());
console.log(`wrote ${target.pathname}`);

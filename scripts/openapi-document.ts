import { buildApp } from '../src/app.ts';
import { testConfig } from '../src/config.ts';

/** The OpenAPI document exactly as the service serves it at /docs/json, as stable text. */
export async function openapiText(): Promise<string> {
  const app = await buildApp(testConfig());
  try {
    await app.ready();
    return `${JSON.stringify(app.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

// Compiles the AssemblyScript GEMM into two WebAssembly modules: plain SIMD and relaxed SIMD (FMA).
// Output: src/kernels/wasm/build/*.wasm (found by src/kernels/wasm/loader.ts when running from src/).
// With --dist it also copies them to dist/kernels/wasm/build/ (found when running from dist/).
// Skips compiling when the outputs are newer than the sources.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src/kernels/wasm/assembly');
const outDir = join(root, 'src/kernels/wasm/build');
const distDir = join(root, 'dist/kernels/wasm/build');
const entry = join(srcDir, 'gemm.ts');
const asc = join(root, 'node_modules/assemblyscript/bin/asc.js');
const common = ['-O3', '--noAssert', '--runtime', 'stub', '--importMemory', '--noExportMemory'];
const variants = [
  { file: 'gemm-simd.wasm', features: 'simd' },
  { file: 'gemm-relaxed-simd.wasm', features: 'simd,relaxed-simd' },
  // normalization and 2x2 pooling kernels (src/kernels/wasm/norm-engine.ts), with and without FMA
  { file: 'norm-simd.wasm', features: 'simd', source: 'norm.ts' },
  { file: 'norm-relaxed-simd.wasm', features: 'simd,relaxed-simd', source: 'norm.ts' },
  // relu and the softmax loss (src/kernels/wasm/pointwise-engine.ts)
  { file: 'pointwise-simd.wasm', features: 'simd', source: 'pointwise.ts' },
  { file: 'pointwise-relaxed-simd.wasm', features: 'simd,relaxed-simd', source: 'pointwise.ts' },
];

mkdirSync(outDir, { recursive: true });
const newestSource = Math.max(
  statSync(fileURLToPath(import.meta.url)).mtimeMs,
  ...readdirSync(srcDir).map((f) => statSync(join(srcDir, f)).mtimeMs),
);
for (const { file, features, source } of variants) {
  const out = join(outDir, file);
  if (existsSync(out) && statSync(out).mtimeMs > newestSource) continue;
  execFileSync(process.execPath, [asc, source ? join(srcDir, source) : entry, ...common, '--enable', features, '-o', out], { stdio: 'inherit' });
  console.log(`build:wasm ${file} (${statSync(out).size} bytes)`);
}
if (process.argv.includes('--dist')) {
  mkdirSync(distDir, { recursive: true });
  for (const { file } of variants) copyFileSync(join(outDir, file), join(distDir, file));
}

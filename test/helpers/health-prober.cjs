// GET <url> one keep-alive request after another (2 ms apart) until stdin closes; then prints the
// latencies as JSON. Its own process, so that the test's big body and garbage collection do not pause it.
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let stop = false;
const latencies = [];
process.stdin.on('end', () => (stop = true));
process.stdin.resume();
const once = () =>
  new Promise((resolve, reject) => {
    const t = performance.now();
    http.get(process.argv[2], { agent }, (r) => { r.resume(); r.on('end', () => resolve(performance.now() - t)); }).on('error', reject);
  });
(async () => {
  await once();
  console.log('ready');
  while (!stop) {
    latencies.push(await once());
    await new Promise((r) => setTimeout(r, 2));
  }
  console.log(JSON.stringify(latencies));
})();

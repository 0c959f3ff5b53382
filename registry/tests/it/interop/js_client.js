// A Node service using the real eureka-js-client against our registry.
//
// Driven by registry/tests/it/interop/mod.rs: registers JSSERVICE with credentials in the
// registry URL (the client insists on exactly
// 204), fetches the registry as JSON and looks the middle tier up, then waits for a line on
// stdin and deregisters (the client insists on exactly 200). Each step prints one line.
'use strict';

const { Eureka } = require('eureka-js-client');
const readline = require('readline');

// The registry URL carries the client's credentials (`http://user:secret@host:port/eureka/v2/`).
const [registryUrl, ownPortText] = process.argv.slice(2);
const ownPort = Number(ownPortText);
const quiet = { debug() {}, info() {}, warn() {}, error: console.error };

const client = new Eureka({
  logger: quiet,
  instance: {
    app: 'jsservice',
    instanceId: `127.0.0.1:jsservice:${ownPort}`,
    hostName: '127.0.0.1',
    ipAddr: '127.0.0.1',
    port: { $: ownPort, '@enabled': true },
    vipAddress: 'jsservice',
    statusPageUrl: `http://127.0.0.1:${ownPort}/health`,
    dataCenterInfo: {
      '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo',
      name: 'MyOwn',
    },
  },
  eureka: {
    serviceUrls: { default: [`${registryUrl}apps/`] },
    heartbeatInterval: 1000,
    registryFetchInterval: 500,
    maxRetries: 0,
  },
});

client.start((error) => {
  if (error) {
    console.error(`start failed: ${error}`);
    process.exit(1);
  }
  console.log('started');
  const instances = client.getInstancesByAppId('MIDDLETIER');
  const ports = instances.map((instance) => instance.port.$);
  console.log(`middletier instances: ${instances.length} ports ${ports.join(',')}`);
  const lines = readline.createInterface({ input: process.stdin });
  lines.once('line', () => {
    client.stop((stopError) => {
      if (stopError) {
        console.error(`stop failed: ${stopError}`);
        process.exit(1);
      }
      console.log('stopped');
      process.exit(0);
    });
  });
});

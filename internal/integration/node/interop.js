// interop.js drives a vigil server with the official Tencent Cloud Node.js SDK
// (tencentcloud-sdk-nodejs) and prints one JSON object with what every call
// returned, for internal/integration/node_test.go to check.
//
// Configuration comes from the environment; "--name value" arguments override it:
//
//   VIGIL_ENDPOINT        --endpoint         host:port of the server (no scheme)
//   VIGIL_SECRET_ID       --secret-id
//   VIGIL_SECRET_KEY      --secret-key
//   VIGIL_VIRUS_EVENT_ID  --virus-event-id   a runtime virus event (DescribeVirusDetail)
//   VIGIL_IMAGE_ID        --image-id         a registry image (DescribeAssetImageRegistryVirusList)
//   VIGIL_REGISTRY        --registry         that image's registry name (ImageInfo.InstanceName)
//   VIGIL_MISSING_ID      --missing-id       an event id that does not exist
//
// Output: {"sdkVersion": "...", "calls": {"<name>": {"response": {...}} | {"error": {...}}}}.
// An API error is {"code", "message", "requestId"}; a transport failure or a
// non-200 answer has no code (the SDK drops the body of non-200 answers) but
// carries "httpCode" when there was one. The exit status is 0 whenever every
// call was made, whatever the answers; 2 on bad configuration.
"use strict";

const tencentcloud = require("tencentcloud-sdk-nodejs");
const { CommonClient } = require("tencentcloud-sdk-nodejs/tencentcloud/common");
const { sdkVersion } = require("tencentcloud-sdk-nodejs/tencentcloud/common/sdk_version");

const settings = [
  ["endpoint", "VIGIL_ENDPOINT"],
  ["secret-id", "VIGIL_SECRET_ID"],
  ["secret-key", "VIGIL_SECRET_KEY"],
  ["virus-event-id", "VIGIL_VIRUS_EVENT_ID"],
  ["image-id", "VIGIL_IMAGE_ID"],
  ["registry", "VIGIL_REGISTRY"],
  ["missing-id", "VIGIL_MISSING_ID"],
];

function readConfig(argv, env) {
  const cfg = {};
  for (const [flag, name] of settings) {
    cfg[flag] = env[name] || "";
  }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i].replace(/^--/, "");
    if (!(flag in cfg) || i + 1 >= argv.length) {
      throw new Error(`unknown argument or missing value: ${argv[i]}`);
    }
    cfg[flag] = argv[++i];
  }
  const missing = settings.filter(([flag]) => cfg[flag] === "").map(([flag, name]) => `${name} (--${flag})`);
  if (missing.length > 0) {
    throw new Error(`missing configuration: ${missing.join(", ")}`);
  }
  if (!/^[0-9]+$/.test(cfg["image-id"])) {
    throw new Error(`--image-id must be a number, got ${JSON.stringify(cfg["image-id"])}`);
  }
  return cfg;
}

// clientConfig points an SDK client at the server. Only what differs from the
// SDK's defaults is set, so the requests are what an ordinary user sends.
function clientConfig(cfg, { language, signMethod, reqMethod } = {}) {
  const profile = {
    httpProfile: { endpoint: cfg.endpoint, protocol: "http://", reqTimeout: 30 },
  };
  if (language) profile.language = language;
  if (signMethod) profile.signMethod = signMethod;
  if (reqMethod) profile.httpProfile.reqMethod = reqMethod;
  return {
    credential: { secretId: cfg["secret-id"], secretKey: cfg["secret-key"] },
    region: "ap-guangzhou",
    profile,
  };
}

// outcome runs one call and records its answer or its error.
async function outcome(call) {
  try {
    return { response: await call() };
  } catch (e) {
    const error = { message: String(e && e.message) };
    if (e && e.code !== undefined) error.code = e.code;
    if (e && e.requestId) error.requestId = e.requestId;
    if (e && e.httpCode !== undefined) error.httpCode = e.httpCode;
    return { error };
  }
}

async function main() {
  let cfg;
  try {
    cfg = readConfig(process.argv.slice(2), process.env);
  } catch (e) {
    process.stderr.write(`interop.js: ${e.message}\n`);
    process.exit(2);
  }
  const Cwp = tencentcloud.cwp.v20180228.Client;
  const Tcss = tencentcloud.tcss.v20201101.Client;
  const cwpEN = new Cwp(clientConfig(cfg, { language: "en-US" }));
  const cwpZH = new Cwp(clientConfig(cfg, { language: "zh-CN" }));
  const tcssEN = new Tcss(clientConfig(cfg, { language: "en-US" }));
  const tcssZH = new Tcss(clientConfig(cfg, { language: "zh-CN" }));
  const tcssDefault = new Tcss(clientConfig(cfg)); // no X-TC-Language at all
  const imageID = Number(cfg["image-id"]);
  const fscanOnly = [{ Name: "VirusName", Values: ["Linux.Scanner.Fscan"], ExactMatch: true }];

  const calls = {
    // Generated product clients, TC3-HMAC-SHA256, POST + JSON.
    riskEventsFilteredEN: () => cwpEN.DescribeRiskProcessEvents({ Filters: fscanOnly }),
    riskEventsAllZH: () => cwpZH.DescribeRiskProcessEvents({ Limit: 30, By: "StartTime", Order: "ASC" }),
    virusDetailEN: () => tcssEN.DescribeVirusDetail({ Id: cfg["virus-event-id"] }),
    virusDetailZH: () => tcssZH.DescribeVirusDetail({ Id: cfg["virus-event-id"] }),
    virusDetailNoLanguage: () => tcssDefault.DescribeVirusDetail({ Id: cfg["virus-event-id"] }),
    imageVirusesByID: () => tcssEN.DescribeAssetImageRegistryVirusList({ Id: imageID, Limit: 10, Offset: 0 }),
    imageVirusesByInfoFiltered: () =>
      tcssEN.DescribeAssetImageRegistryVirusList({
        ImageInfo: { InstanceName: cfg.registry, Namespace: "library", ImageName: "web", ImageTag: "1.0", Force: "false" },
        Filters: [{ Name: "Name", Values: ["webshell"] }],
      }),
    missingVirusEvent: () => tcssEN.DescribeVirusDetail({ Id: cfg["missing-id"] }),

    // CommonClient: any action by name, same signing.
    commonRiskEvents: () =>
      new CommonClient("cwp.tencentcloudapi.com", "2018-02-28", clientConfig(cfg, { language: "en-US" })).request(
        "DescribeRiskProcessEvents",
        { Filters: [{ Name: "ProcessId", Values: ["21595"] }] },
      ),
    commonImageViruses: () =>
      new CommonClient("tcss.tencentcloudapi.com", "2020-11-01", clientConfig(cfg)).request(
        "DescribeAssetImageRegistryVirusList",
        { Id: imageID, Filters: [{ Name: "RiskLevel", Values: ["3"] }] },
      ),
    commonMissingVirusEvent: () =>
      new CommonClient("tcss.tencentcloudapi.com", "2020-11-01", clientConfig(cfg, { language: "zh-CN" })).request(
        "DescribeVirusDetail",
        { Id: cfg["missing-id"] },
      ),

    // TC3 over GET: parameters flattened into the query, form Content-Type signed.
    virusDetailGET: () => new Tcss(clientConfig(cfg, { language: "en-US", reqMethod: "GET" })).DescribeVirusDetail({ Id: cfg["virus-event-id"] }),
    // The legacy signature the SDK still offers: form body, Filters.0.Name flattening.
    riskEventsLegacyHmacSHA256: () =>
      new Cwp(clientConfig(cfg, { language: "en-US", signMethod: "HmacSHA256" })).DescribeRiskProcessEvents({ Filters: fscanOnly }),
    imageVirusesLegacyHmacSHA1: () =>
      new Tcss(clientConfig(cfg, { signMethod: "HmacSHA1" })).DescribeAssetImageRegistryVirusList({ Id: imageID, Limit: 1 }),
  };

  const results = {};
  for (const [name, call] of Object.entries(calls)) {
    results[name] = await outcome(call); // one at a time: the output order is stable
  }
  process.stdout.write(JSON.stringify({ sdkVersion, calls: results }) + "\n");
}

main().catch((e) => {
  process.stderr.write(`interop.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});

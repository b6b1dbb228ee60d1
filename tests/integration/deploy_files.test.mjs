// The deploy files (deploy/, docs/deploying.md) are checked offline, fast, without a cluster,
// a container engine or root:
//  - every Kubernetes object validates against the Kubernetes schemas (kubernetes-models);
//    the kustomizations' files exist; with kubectl present, the rendered overlay validates too
//  - every flag in the systemd units, the manifests, the compose file and the Dockerfile is
//    one the binaries' --help lists (a renamed flag fails here)
//  - probes on /readyz and /healthz, preStop + drain < terminationGracePeriodSeconds,
//    TimeoutStopSec and stop_grace_period above --drain-ms, the NetworkPolicy's bus rule
//  - `systemd-analyze verify` on both units (ExecStart pointed at this build's binaries)
//  - the runtime image installs the Debian package of every shared library the binaries need
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import YAML from 'yaml';
import { REPO, BUILD_DIR, DP_BIN, CP_BIN, MOCK_BIN, makeTempDir, startCp, startBusDp, stopAll, waitFor, slack } from './lib/harness.mjs';

const DEPLOY = path.join(REPO, 'deploy');
const BIN = { 'switchyard-cp': CP_BIN, 'switchyard-dp': DP_BIN, 'switchyard-mockllm': MOCK_BIN };

function helpFlags(bin) {
  const r = spawnSync(bin, ['--help'], { encoding: 'utf8' });
  const text = `${r.stdout}${r.stderr}`;
  const flags = new Set(text.match(/--[a-z][a-z0-9-]*/g));
  assert.ok(flags.size >= 3, `${bin} --help lists flags: ${text}`);
  return flags;
}
const HELP = Object.fromEntries(Object.entries(BIN).map(([k, b]) => [k, helpFlags(b)]));

// argv: [binary, ...]: every --flag is one the binary knows; returns {flag: value}
function checkArgv(argv, where) {
  const name = path.basename(argv[0]);
  assert.ok(HELP[name], `${where}: runs a Switchyard binary (${argv[0]})`);
  const opts = {};
  for (let i = 1; i < argv.length; i++) {
    const a = String(argv[i]);
    if (!a.startsWith('--')) continue;
    const flag = a.split('=')[0];
    assert.ok(HELP[name].has(flag), `${where}: ${name} has no flag ${flag} (its --help: ${[...HELP[name]].join(' ')})`);
    const next = argv[i + 1];
    opts[flag] = next !== undefined && !String(next).startsWith('--') ? String(next) : true;
  }
  return { name, opts };
}

// ---------------------------------------------------------------------------- systemd
function readUnit(file) {
  const text = fs.readFileSync(file, 'utf8').replace(/\\\n\s*/g, ' ');
  const kv = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) (kv[m[1]] ??= []).push(m[2].trim());
  }
  return kv;
}
const UNITS = { 'switchyard-cp': 'switchyard-cp.service', 'switchyard-dp': 'switchyard-dp.service' };

test('systemd units: hardened, real flags, drain fits the stop timeout', () => {
  for (const [bin, unit] of Object.entries(UNITS)) {
    const u = readUnit(path.join(DEPLOY, 'systemd', unit));
    const one = (k) => {
      assert.equal(u[k]?.length, 1, `${unit}: one ${k}=`);
      return u[k][0];
    };
    const argv = one('ExecStart').split(/\s+/);
    assert.equal(argv[0], `/usr/local/bin/${bin}`);
    const { opts } = checkArgv(argv, unit);
    assert.equal(one('User'), 'switchyard');
    assert.equal(u.DynamicUser, undefined, `${unit}: a static user (keys and the database stay owned by it)`);
    for (const [k, v] of [['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'],
      ['NoNewPrivileges', 'yes'], ['CapabilityBoundingSet', ''], ['KillSignal', 'SIGTERM'],
      ['Restart', 'on-failure'], ['ExecReload', '/bin/kill -HUP $MAINPID']]) {
      assert.equal(one(k), v, `${unit}: ${k}`);
    }
    assert.match(one('EnvironmentFile'), /^\/etc\/switchyard\/(cp|dp)\.env$/);
    const state = one('StateDirectory').split(/\s+/);
    assert.ok(state.includes(bin), `${unit}: StateDirectory=${bin}`);
    // every path the process writes is under its StateDirectory (ProtectSystem=strict)
    const writes = bin === 'switchyard-cp' ? [opts['--db']] : [opts['--cache-dir'], opts['--spool-dir']];
    for (const w of writes) {
      assert.ok(w.startsWith(`/var/lib/${bin}/`), `${unit}: ${w} is under /var/lib/${bin}`);
      const sub = path.relative('/var/lib', bin === 'switchyard-cp' ? path.dirname(w) : w);
      assert.ok(state.includes(sub), `${unit}: ${sub} is created by StateDirectory=`);
    }
    // the bus is authenticated: all three TLS flags, tls+tcp:// URLs
    const tls = bin === 'switchyard-cp' ? ['--bus-tls-ca', '--bus-tls-cert', '--bus-tls-key'] : ['--control-plane-tls-ca', '--control-plane-tls-cert', '--control-plane-tls-key'];
    for (const f of tls) assert.ok(typeof opts[f] === 'string' && opts[f].startsWith('/etc/switchyard/bus/'), `${unit}: ${f}`);
    const urls = bin === 'switchyard-cp' ? [opts['--bus-pub'], opts['--bus-rep']] : [opts['--control-plane-sub'], opts['--control-plane-req']];
    for (const url of urls) assert.match(url, /^tls\+tcp:\/\//, `${unit}: bus URL ${url}`);
    if (bin === 'switchyard-dp') {
      const drainS = Number(opts['--drain-ms']) / 1000;
      assert.ok(drainS > 0 && Number(one('TimeoutStopSec')) > drainS, `${unit}: TimeoutStopSec ${one('TimeoutStopSec')} > --drain-ms ${drainS} s`);
    }
  }
  const sysusers = fs.readFileSync(path.join(DEPLOY, 'systemd', 'switchyard.sysusers.conf'), 'utf8');
  assert.match(sysusers, /^u switchyard /m);
});

test('systemd-analyze verify accepts both units (and flags a broken one)', (t) => {
  const sa = '/usr/bin/systemd-analyze';
  if (!fs.existsSync(sa)) {
    // assert what can be: the structural checks of the test above ran; say so in the output
    t.diagnostic('systemd-analyze is not installed here: only the structural checks ran');
    return;
  }
  const tmp = makeTempDir('sy-units-');
  const dir = tmp.dir;
  const verify = (file) => spawnSync(sa, ['verify', file], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
  for (const [bin, unit] of Object.entries(UNITS)) {
    const text = fs.readFileSync(path.join(DEPLOY, 'systemd', unit), 'utf8').replace(`/usr/local/bin/${bin}`, BIN[bin]);
    const file = path.join(dir, unit);
    fs.writeFileSync(file, text);
    const r = verify(file);
    assert.equal(r.status, 0, `${unit}: ${r.stderr}`);
    // verify reports unknown keys and bad values on stderr but still exits 0: none allowed
    const complaints = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes(unit) || /Unknown|Failed to parse|ignoring/.test(l));
    assert.deepEqual(complaints, [], `${unit}: systemd-analyze verify complaints`);
  }
  // the control: verify does read the file — a misspelt key and a bad value are reported
  const bad = path.join(dir, 'switchyard-bad.service');
  fs.writeFileSync(bad, fs.readFileSync(path.join(dir, UNITS['switchyard-cp']), 'utf8').replace('ProtectHome=yes', 'ProtectHome=bogus\nProtectHomme=yes'));
  const r = verify(bad);
  assert.match(r.stderr, /ProtectHomme/);
  assert.match(r.stderr, /bogus/);
  tmp.cleanup();
});

// ---------------------------------------------------------------------------- Kubernetes
const K8S = path.join(DEPLOY, 'k8s');
const modelCache = new Map();
async function validateObject(obj, where) {
  assert.ok(obj && obj.apiVersion && obj.kind, `${where}: apiVersion and kind`);
  const mod = `kubernetes-models/${obj.apiVersion}/${obj.kind}`;
  if (!modelCache.has(mod)) modelCache.set(mod, (await import(mod))[obj.kind]);
  const Model = modelCache.get(mod);
  assert.ok(Model, `${where}: ${obj.apiVersion} ${obj.kind} is a Kubernetes kind`);
  assert.doesNotThrow(() => new Model(obj).validate(), `${where}: ${obj.kind}/${obj.metadata?.name}`);
}
function loadDocs(file) {
  // merge: compose.yaml shares the image and the data-plane settings with YAML merge keys
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'), { merge: true }).map((d) => {
    assert.deepEqual(d.errors, [], `${file}: YAML`);
    return d.toJS();
  }).filter(Boolean);
}
function kustomization(dir) {
  const k = loadDocs(path.join(dir, 'kustomization.yaml'))[0];
  assert.equal(k.kind, 'Kustomization');
  const files = [];
  for (const r of k.resources ?? []) {
    const p = path.join(dir, r);
    assert.ok(fs.existsSync(p), `${dir}: resource ${r} exists`);
    if (fs.statSync(p).isDirectory()) kustomization(p);
    else files.push(p);
  }
  for (const p of k.patches ?? []) if (p.path) assert.ok(fs.existsSync(path.join(dir, p.path)), `${dir}: patch ${p.path} exists`);
  for (const g of k.configMapGenerator ?? []) for (const f of g.files ?? []) assert.ok(fs.existsSync(path.join(dir, f.split('=').pop())), `${dir}: ${f} exists`);
  return { k, files };
}

const base = kustomization(path.join(K8S, 'base'));
const objects = base.files.flatMap((f) => loadDocs(f).map((o) => ({ ...o, _file: path.relative(REPO, f) })));
const find = (kind, name) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `deploy/k8s/base has ${kind}/${name}`);
  return o;
};
const strip = ({ _file, ...o }) => o;

test('Kubernetes: every object of the base and the overlay validates against the schemas', async () => {
  assert.ok(objects.length >= 10, `objects: ${objects.length}`);
  for (const o of objects) await validateObject(strip(o), o._file);
  const overlay = kustomization(path.join(K8S, 'overlays', 'example'));
  for (const f of overlay.files) for (const o of loadDocs(f)) await validateObject(o, f);
  // the catalog ConfigMap's file is deploy/catalog.json (kustomize cannot load it from ../..)
  assert.equal(fs.readFileSync(path.join(K8S, 'base', 'catalog.json'), 'utf8'), fs.readFileSync(path.join(DEPLOY, 'catalog.json'), 'utf8'), 'deploy/k8s/base/catalog.json is a copy of deploy/catalog.json');
});

test('Kubernetes: the rendered overlay validates (kubectl kustomize)', async (t) => {
  const r = spawnSync('kubectl', ['kustomize', path.join(K8S, 'overlays', 'example')], { encoding: 'utf8' });
  if (r.error?.code === 'ENOENT') {
    t.diagnostic('kubectl is not installed here: the overlay was validated file by file only');
    return;
  }
  assert.equal(r.status, 0, r.stderr);
  const rendered = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS());
  for (const o of rendered) await validateObject(o, `rendered ${o.kind}/${o.metadata?.name}`);
  assert.ok(rendered.every((o) => o.kind === 'Namespace' || o.metadata.namespace === 'switchyard'));
  const sts = rendered.find((o) => o.kind === 'StatefulSet');
  const cmd = sts.spec.template.spec.containers[0].command;
  assert.equal(cmd[cmd.indexOf('--public-api-url') + 1], 'https://llm.example.org/v1', 'the overlay patches the value after --public-api-url');
  const cm = rendered.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('switchyard-catalog-'));
  assert.deepEqual(JSON.parse(cm.data['catalog.json']), JSON.parse(fs.readFileSync(path.join(DEPLOY, 'catalog.json'), 'utf8')));
  assert.equal(sts.spec.template.spec.volumes.find((v) => v.name === 'catalog').configMap.name, cm.metadata.name, 'the StatefulSet mounts the generated ConfigMap');
  assert.equal(rendered.find((o) => o.kind === 'HorizontalPodAutoscaler').spec.maxReplicas, 50);
});

const containerOf = (o) => o.spec.template.spec.containers[0];
test('Kubernetes: control plane StatefulSet, Services, catalog and secrets', () => {
  const sts = find('StatefulSet', 'switchyard-cp');
  assert.equal(sts.spec.replicas, 1, 'one control plane (SQLite has one writer)');
  const c = containerOf(sts);
  const { opts } = checkArgv(c.command, `${sts._file} command`);
  const data = sts.spec.volumeClaimTemplates.find((v) => v.metadata.name === 'data');
  assert.ok(data, 'a PVC for SQLite');
  const mount = (name) => c.volumeMounts.find((m) => m.name === name)?.mountPath;
  assert.equal(path.dirname(opts['--db']), mount('data'), 'the database is on the volume');
  assert.equal(path.dirname(opts['--catalog']), mount('catalog'));
  assert.ok(sts.spec.template.spec.volumes.find((v) => v.name === 'catalog').configMap, 'the catalog comes from a ConfigMap');
  assert.equal(base.k.configMapGenerator[0].name, sts.spec.template.spec.volumes.find((v) => v.name === 'catalog').configMap.name);
  for (const f of ['--bus-tls-ca', '--bus-tls-cert', '--bus-tls-key']) assert.equal(path.dirname(opts[f]), mount('bus-certs'));
  assert.ok(sts.spec.template.spec.volumes.find((v) => v.name === 'bus-certs').secret, 'bus certificates from a Secret');
  assert.equal(c.env.find((e) => e.name === 'SWITCHYARD_OPERATOR_TOKEN').valueFrom.secretKeyRef.name, 'switchyard-cp-secrets');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  const port = (o, n) => o.spec.ports.find((p) => p.name === n);
  const svc = find('Service', 'switchyard-cp');
  assert.equal(port(svc, 'api').port, Number(opts['--listen'].split(':')[1]));
  assert.equal(port(svc, 'bus-pub').port, Number(opts['--bus-pub'].split(':').pop()));
  assert.equal(port(svc, 'bus-rep').port, Number(opts['--bus-rep'].split(':').pop()));
  assert.deepEqual(svc.spec.selector, sts.spec.template.metadata.labels);
  assert.equal(find('Service', sts.spec.serviceName).spec.clusterIP, 'None');
});

test('Kubernetes: data planes — probes, drain within the grace period, HPA, PDB, keys from a Secret', () => {
  const dep = find('Deployment', 'switchyard-dp');
  const spec = dep.spec.template.spec;
  const c = containerOf(dep);
  const { opts } = checkArgv(c.command, `${dep._file} command`);
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  for (const p of [c.readinessProbe, c.livenessProbe]) assert.equal(p.httpGet.port, c.ports.find((x) => x.name === p.httpGet.port).name);
  assert.equal(c.ports[0].containerPort, Number(opts['--listen'].split(':')[1]));
  const pre = c.lifecycle.preStop.exec.command;
  assert.equal(pre[0], '/bin/sleep');
  const preS = Number(pre[1]);
  const drainS = Number(opts['--drain-ms']) / 1000;
  assert.ok(preS > 0 && drainS > 0);
  assert.ok(preS + drainS < spec.terminationGracePeriodSeconds, `preStop ${preS} s + drain ${drainS} s < terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds}`);
  // the bus: the control plane's Service by name, authenticated with a per-pod certificate
  const svcName = find('Service', 'switchyard-cp').metadata.name;
  assert.equal(opts['--control-plane-sub'], `tls+tcp://${svcName}:7001`);
  assert.equal(opts['--control-plane-req'], `tls+tcp://${svcName}:7002`);
  const certMount = c.volumeMounts.find((m) => m.name === 'node-cert').mountPath;
  for (const f of ['--control-plane-tls-ca', '--control-plane-tls-cert', '--control-plane-tls-key']) assert.equal(path.dirname(opts[f]), certMount);
  assert.ok(!c.volumeMounts.some((m) => m.name === 'node-issuer'), 'the issuing key is not mounted into the gateway');
  const init = spec.initContainers.find((x) => x.name === 'node-cert');
  assert.ok(init.volumeMounts.some((m) => m.name === 'node-issuer'));
  assert.equal(init.env.find((e) => e.name === 'POD_NAME').valueFrom.fieldRef.fieldPath, 'metadata.name');
  assert.equal(c.envFrom[0].secretRef.name, 'switchyard-provider-keys', 'provider keys from a Secret');
  for (const x of [c, init]) {
    assert.equal(x.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(x.securityContext.capabilities.drop, ['ALL']);
  }
  assert.equal(spec.securityContext.runAsNonRoot, true);
  const hpa = find('HorizontalPodAutoscaler', 'switchyard-dp');
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'switchyard-dp' });
  assert.ok(hpa.spec.minReplicas >= 2);
  const pdb = find('PodDisruptionBudget', 'switchyard-dp');
  assert.deepEqual(pdb.spec.selector.matchLabels, dep.spec.selector.matchLabels);
  const svc = find('Service', 'switchyard-dp');
  assert.deepEqual(svc.spec.selector, dep.spec.selector.matchLabels);
});

test('Kubernetes: only data-plane pods reach the bus ports', () => {
  const np = find('NetworkPolicy', 'switchyard-cp-ingress');
  const cpLabels = find('StatefulSet', 'switchyard-cp').spec.template.metadata.labels;
  const dpLabels = find('Deployment', 'switchyard-dp').spec.template.metadata.labels;
  assert.deepEqual(np.spec.podSelector.matchLabels, cpLabels);
  assert.ok(np.spec.policyTypes.includes('Ingress'));
  for (const busPort of [7001, 7002]) {
    const rules = np.spec.ingress.filter((r) => !r.ports || r.ports.some((p) => p.port === busPort));
    assert.ok(rules.length >= 1, `port ${busPort} has a rule`);
    for (const r of rules) {
      assert.ok(r.from?.length, `port ${busPort}: no rule admits every source`);
      for (const peer of r.from) {
        assert.deepEqual(Object.keys(peer), ['podSelector'], `port ${busPort}: only a pod selector (no namespace or IP block)`);
        assert.deepEqual(peer.podSelector.matchLabels, dpLabels);
      }
    }
  }
  assert.ok(np.spec.ingress.some((r) => r.ports?.some((p) => p.port === 8090)), 'the API stays reachable');
});

test("Kubernetes: the init container's certificate joins an authenticated bus as the pod (two-CA recipe of docs/deploying.md)", async () => {
  const tmp = makeTempDir('sy-k8s-certs-');
  const d = (...p) => path.join(tmp.dir, ...p);
  let cp = null;
  let dp = null;
  try {
    const sh = (cmd, env = {}) => {
      const r = spawnSync('sh', ['-ec', cmd], { encoding: 'utf8', env: { ...process.env, ...env } });
      assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
    };
    // the Secrets as docs/deploying.md makes them
    const fc = path.join(REPO, 'scripts', 'fleet-certs.sh');
    sh(`"${fc}" "${d('fleet')}" && "${fc}" "${d('node-ca')}"`);
    for (const x of ['cp-secret', 'issuer', 'certs']) fs.mkdirSync(d(x));
    fs.writeFileSync(d('cp-secret', 'ca.pem'), fs.readFileSync(d('fleet', 'ca.pem'), 'utf8') + fs.readFileSync(d('node-ca', 'ca.pem'), 'utf8'));
    fs.copyFileSync(d('fleet', 'cp.pem'), d('cp-secret', 'cp.pem'));
    fs.copyFileSync(d('fleet', 'cp.key'), d('cp-secret', 'cp.key'));
    fs.copyFileSync(d('node-ca', 'ca.pem'), d('issuer', 'node-ca.pem'));
    fs.copyFileSync(d('node-ca', 'ca.key'), d('issuer', 'node-ca.key'));
    fs.copyFileSync(d('fleet', 'ca.pem'), d('issuer', 'fleet-ca.pem'));
    // the init container's script, run with its mounts moved under the temp dir
    const init = find('Deployment', 'switchyard-dp').spec.template.spec.initContainers.find((x) => x.name === 'node-cert');
    assert.deepEqual(init.command.slice(0, 2), ['/bin/sh', '-ec']);
    const mounts = Object.fromEntries(init.volumeMounts.map((m) => [m.name, m.mountPath]));
    const script = init.command[2].replaceAll(mounts['node-issuer'], d('issuer')).replaceAll(mounts['node-cert'], d('certs'));
    const pod = 'switchyard-dp-7f9c8d5b4-x2k9q';
    sh(script, { POD_NAME: pod });
    assert.deepEqual(fs.readdirSync(d('certs')).sort(), ['ca.pem', 'node.key', 'node.pem']);
    assert.equal(fs.statSync(d('certs', 'node.key')).mode & 0o777, 0o600);
    // the control plane trusts both CAs; the node only the fleet CA, with the minted certificate
    cp = await startCp({ dir: tmp.dir, catalog: fs.readFileSync(path.join(DEPLOY, 'demo.json'), 'utf8'), busAuth: d('cp-secret') });
    dp = await startBusDp({ dir: tmp.dir, cp: { ...cp, busAuth: d('certs') }, busNode: 'node' });
    await waitFor(async () => (await cp.api('/api/nodes')).json.nodes.some((n) => n.id === pod), { timeout: slack(10000), what: 'the pod in /api/nodes' });
  } finally {
    await stopAll([dp?.proc, cp?.proc], tmp);
  }
});

// ---------------------------------------------------------------------------- container
test('compose: cp + 2 data planes + mock, real flags, stop grace above the drain', () => {
  const compose = loadDocs(path.join(DEPLOY, 'container', 'compose.yaml'))[0];
  const svcs = compose.services;
  const byBin = {};
  for (const [name, s] of Object.entries(svcs)) {
    const { name: bin, opts } = checkArgv(s.command, `compose ${name}`);
    (byBin[bin] ??= []).push({ name, s, opts });
    assert.equal(s.build.dockerfile, 'deploy/container/Dockerfile');
  }
  assert.equal(byBin['switchyard-cp']?.length, 1);
  assert.equal(byBin['switchyard-dp']?.length, 2);
  assert.equal(byBin['switchyard-mockllm']?.length, 1);
  const cp = byBin['switchyard-cp'][0];
  assert.match(cp.s.environment.SWITCHYARD_OPERATOR_TOKEN, /^\$\{SWITCHYARD_OPERATOR_TOKEN:\?/, 'the token comes from the environment, never the file');
  const dur = (v) => Number(/^(\d+)s$/.exec(v)[1]);
  for (const { name, s, opts } of byBin['switchyard-dp']) {
    assert.equal(opts['--control-plane-sub'], `tcp://${cp.name}:${cp.opts['--bus-pub'].split(':').pop()}`, name);
    assert.equal(opts['--control-plane-req'], `tcp://${cp.name}:${cp.opts['--bus-rep'].split(':').pop()}`, name);
    assert.ok(dur(s.stop_grace_period) > Number(opts['--drain-ms']) / 1000, `${name}: stop_grace_period above --drain-ms`);
    assert.equal(s.environment.PORT, opts['--listen'].split(':')[1], `${name}: the health check asks the listening port`);
  }
  assert.equal(new Set(byBin['switchyard-dp'].map((d) => d.opts['--node-id'])).size, 2, 'two distinct node ids');
  // the compose catalog is the demo catalog with the mock's service name
  const demo = fs.readFileSync(path.join(DEPLOY, 'demo.json'), 'utf8');
  const mockName = byBin['switchyard-mockllm'][0].name;
  assert.equal(fs.readFileSync(path.join(DEPLOY, 'container', 'catalog.compose.json'), 'utf8'), demo.replace('http://127.0.0.1:9090/v1', `http://${mockName}:9090/v1`));
  assert.equal(path.basename(cp.opts['--catalog']), 'catalog.compose.json');
});

test('Dockerfile: multi-stage bookworm, non-root, health check, every needed library installed, real flags', () => {
  const df = fs.readFileSync(path.join(DEPLOY, 'container', 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = df.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2);
  assert.match(stages[0], /^debian:bookworm AS build/);
  assert.match(stages[0], /scripts\/build\.sh normal/);
  assert.match(stages[1], /^debian:bookworm-slim/);
  assert.match(stages[1], /^USER switchyard/m);
  assert.match(stages[1], /^HEALTHCHECK .*curl -fsS "http:\/\/127\.0\.0\.1:\$\{PORT\}\/healthz"/m);
  // the runtime packages provide every shared library the three binaries load
  const install = /apt-get install[^&]*/.exec(stages[1])[0].split(/\s+/).filter((w) => /^[a-z0-9][a-z0-9.+-]+$/.test(w));
  const libs = new Set();
  for (const bin of Object.values(BIN)) {
    for (const l of spawnSync('objdump', ['-p', bin], { encoding: 'utf8' }).stdout.match(/NEEDED\s+(\S+)/g)) libs.add(l.split(/\s+/)[1]);
  }
  const cache = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout;
  const files = [];
  for (const lib of libs) {
    if (/^(libc|libm|libpthread|libdl|librt)\.so/.test(lib) || /^lib(asan|ubsan)/.test(lib)) continue; // libc6 / the sanitizer build
    const m = new RegExp(`^\\s*${lib.replace(/[.+]/g, '\\$&')} \\(.*=> (\\S+)$`, 'm').exec(cache);
    assert.ok(m, `${lib} is in the linker cache`);
    files.push(fs.realpathSync(m[1]));
  }
  const where = spawnSync('dpkg', ['-S', ...files], { encoding: 'utf8' });
  assert.equal(where.status, 0, where.stderr);
  const pkgs = new Set(where.stdout.trim().split('\n').map((l) => l.split(':')[0]));
  assert.ok(pkgs.size >= 7, `packages: ${[...pkgs]}`);
  for (const pkg of pkgs) assert.ok(install.includes(pkg), `the binaries need ${pkg}: not installed by the runtime stage (${install.join(' ')})`);
  // what the runtime stage copies from the build stage exists in a build tree and the sources
  for (const m of stages[1].matchAll(/^COPY --from=build (.+) \S+$/gm)) {
    for (const src of m[1].trim().split(/\s+/)) {
      const rel = path.relative('/src', src);
      const local = rel.startsWith('build/') ? path.join(BUILD_DIR, rel.slice(6)) : path.join(REPO, rel);
      assert.ok(fs.existsSync(local), `COPY source ${src} (${local})`);
    }
  }
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(stages[1])[1]);
  checkArgv(cmd, 'Dockerfile CMD');
});

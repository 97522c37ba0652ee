import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, ExitCode } from '../errors.ts';
import { checkK6OperatorManifest } from '../load/k6/k6-operator-check.ts';
import { renderK6OperatorManifest, type K6OperatorOptions } from '../load/k6/k6-operator.ts';
import { loadScenario, PROJECT_ROOT } from '../scenario/load-scenario.ts';
import { config, parse } from './main.ts';

export const K6_HELP = `  k6 operator SCENARIO  render SCENARIO as a k6-operator TestRun (with its script, scenario and
                      fixture ConfigMaps) for \`kubectl create -f\`: the same load, distributed;
                      checked against the operator's TestRun CRD before it is written
      --backend-url URL   the backend as the runner pods reach it (required)
      --parallelism N     k6 runner pods (default 1); rates and VUs stay the scenario's totals
      --namespace NS      Kubernetes namespace of every object
      --image IMAGE       k6 runner image (default grafana/k6:latest)
      --name NAME         TestRun name (default hsi-chaos-<scenario>)
      --api-key-secret SECRET/KEY  the stack's API key from that Kubernetes Secret entry
                          (runner env HSI_API_KEY; the key is never written in the manifest)
      --out FILE          write the manifest there (default: standard output)`;

const OPTIONS = {
  'backend-url': { type: 'string' },
  parallelism: { type: 'string' },
  namespace: { type: 'string' },
  image: { type: 'string' },
  name: { type: 'string' },
  'api-key-secret': { type: 'string' },
  out: { type: 'string' },
} as const;

/** `hsi-chaos k6 operator SCENARIO ...`: the k6-operator manifest of a scenario, written or printed. */
export async function cmdK6(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(`${K6_HELP}\n`);
    return ExitCode.pass;
  }
  if (sub !== 'operator') throw new ConfigError(`unknown k6 command "${sub}"; use "hsi-chaos k6 operator SCENARIO --backend-url URL"`);
  const { values, positionals } = parse(rest, OPTIONS, 1);
  if (values.help) {
    process.stdout.write(`${K6_HELP}\n`);
    return ExitCode.pass;
  }
  const name = positionals[0];
  if (name === undefined) throw new ConfigError('k6 operator: name a scenario (hsi-chaos list shows them)');
  const options = operatorOptions(values);
  const cfg = config(values);
  const scenario = await loadScenario(name, { fixturesDir: cfg.fixturesDir, projectRoot: PROJECT_ROOT });
  const manifest = `${JSON.stringify(checkK6OperatorManifest(renderK6OperatorManifest(scenario, options)), null, 2)}\n`;
  if (values.out === undefined) process.stdout.write(manifest);
  else {
    writeFileSync(resolve(values.out), manifest);
    // client-side `kubectl apply` keeps a copy of each object in a 256 KiB annotation: too small for the fixtures
    process.stderr.write(`wrote ${values.out}: kubectl create -f ${values.out} (or kubectl apply --server-side -f ${values.out})\n`);
  }
  return ExitCode.pass;
}

type OperatorFlags = { 'backend-url'?: string | undefined; parallelism?: string | undefined; namespace?: string | undefined; image?: string | undefined; name?: string | undefined; 'api-key-secret'?: string | undefined };

function apiKeySecretOf(flag: string | undefined): K6OperatorOptions['apiKeySecret'] {
  if (flag === undefined) return undefined;
  const m = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\/([-._a-zA-Z0-9]+)$/.exec(flag);
  if (!m?.[1] || !m[3]) throw new ConfigError(`--api-key-secret: expected SECRET/KEY (a Secret's name and one of its keys), got "${flag}"`);
  return { name: m[1], key: m[3] };
}

function operatorOptions(values: OperatorFlags): K6OperatorOptions {
  const backendUrl = values['backend-url'];
  if (backendUrl === undefined) throw new ConfigError('k6 operator: --backend-url is required (the backend as the runner pods reach it, e.g. http://hsi-backend.hsi.svc:8000)');
  if (!URL.canParse(backendUrl) || !/^https?:$/.test(new URL(backendUrl).protocol)) throw new ConfigError(`--backend-url: expected an http(s) URL, got "${backendUrl}"`);
  if (values.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(values.namespace)) {
    throw new ConfigError(`--namespace "${values.namespace}": a Kubernetes namespace is lower-case letters, digits and -, at most 63 characters`);
  }
  if (values.image !== undefined && !/^\S+$/.test(values.image)) throw new ConfigError(`--image "${values.image}": an image reference such as grafana/k6:1.4.0 (no spaces)`);
  const parallelism = Number(values.parallelism ?? '1');
  if (!Number.isInteger(parallelism) || parallelism < 1 || parallelism > 1000) throw new ConfigError(`--parallelism must be a whole number from 1 to 1000 (got "${values.parallelism}")`);
  return {
    backendUrl,
    parallelism,
    ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
    ...(values.image !== undefined ? { image: values.image } : {}),
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(values['api-key-secret'] !== undefined ? { apiKeySecret: apiKeySecretOf(values['api-key-secret']) } : {}),
  };
}

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError } from '../errors.ts';

/** One camera's fixture images: fixtures/images/<camera_id>/*.jpg */
export interface CameraFixtures {
  cameraId: string;
  files: string[];
}

const CAMERA_ID = /^[a-z0-9_]{1,64}$/;
const IMAGE = /\.(jpe?g|png)$/i;

export function loadFixtures(dir: string): CameraFixtures[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ConfigError(`fixtures folder ${dir} does not exist; create it with one sub-folder of JPEGs per camera, or set fixturesDir in hsi-chaos.config.json`);
  }
  const cameras: CameraFixtures[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (!statSync(path).isDirectory()) continue;
    if (!CAMERA_ID.test(entry)) {
      throw new ConfigError(`fixtures folder ${path}: "${entry}" is not a camera id (lower-case letters, digits, _); rename the folder`);
    }
    const files = readdirSync(path)
      .filter((f) => IMAGE.test(f))
      .sort()
      .map((f) => join(path, f));
    if (files.length > 0) cameras.push({ cameraId: entry, files });
  }
  if (cameras.length === 0) {
    throw new ConfigError(`fixtures folder ${dir} has no camera sub-folder with .jpg/.png images; add some (see fixtures/images/README.md)`);
  }
  return cameras;
}

/** Round-robin over cameras and their files: upload i gets camera i mod n. */
export function* fixtureCycle(cameras: readonly CameraFixtures[]): Generator<{ cameraId: string; file: string; name: string; bytes: Buffer }> {
  const cache = new Map<string, Buffer>();
  for (let i = 0; ; i++) {
    const camera = cameras[i % cameras.length];
    if (!camera) return;
    const file = camera.files[Math.floor(i / cameras.length) % camera.files.length];
    if (!file) return;
    let bytes = cache.get(file);
    if (!bytes) {
      bytes = readFileSync(file);
      cache.set(file, bytes);
    }
    yield { cameraId: camera.cameraId, file, name: basename(file), bytes };
  }
}

import { z } from 'zod';
import { HttpError, json, parseJsonBody, readBody, type Route } from '../common/http.ts';
import { activeDefects, DEFECT_VARIABLES, DefectSwitchError, type BackendDefects } from './defects.ts';

/**
 * The backend's defect switches changed at run time (POST /admin/defects). The backend keeps
 * one BackendDefects object; every component reads its switches from it at each call (the
 * options built by `liveDefectOptions`), so a switch posted here is in effect from the next
 * request, job or span on. The harness's tests use it to prove several defects on one running
 * stack instead of starting a stack per defect. Not an HSI endpoint. The resource attribute
 * `hsi.defects` keeps the switches that were on at start; changes are logged at `warn`.
 */

export const ADMIN_DEFECTS_PATH = '/admin/defects';

const ON = new Set(['1', 'true', 'yes', 'on']);
const OFF = new Set(['', '0', 'false', 'no', 'off']);

/** The request body: switch variables to on/off values (as in the environment, or booleans / 0 / 1). */
export const DefectSwitchRequestSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v).trim().toLowerCase()));

export interface DefectSwitchAnswer {
  /** Variables of the switches on now, sorted. */
  active: string[];
  /** What the changed switches were before ("1"/"0"): posting it back undoes the request. */
  previous: Record<string, string>;
}

const KEY_OF_VARIABLE: ReadonlyMap<string, keyof BackendDefects> = new Map((Object.entries(DEFECT_VARIABLES) as [keyof BackendDefects, string][]).map(([key, variable]) => [variable, key]));

/**
 * Sets the switches named in `request`, all or nothing: an unknown variable or a value other
 * than on/off throws DefectSwitchError naming it, and nothing changes.
 */
export function applyDefectSwitches(defects: BackendDefects, request: Record<string, string>): DefectSwitchAnswer {
  const changes: [keyof BackendDefects, string, boolean][] = [];
  for (const [variable, raw] of Object.entries(request)) {
    const key = KEY_OF_VARIABLE.get(variable);
    if (key === undefined) throw new DefectSwitchError(`${variable}: not a backend defect switch; known: ${[...KEY_OF_VARIABLE.keys()].join(', ')}`);
    if (!ON.has(raw) && !OFF.has(raw)) throw new DefectSwitchError(`${variable}: expected 1 or 0`);
    changes.push([key, variable, ON.has(raw)]);
  }
  const previous: Record<string, string> = {};
  for (const [key, variable, on] of changes) {
    previous[variable] = defects[key] ? '1' : '0';
    defects[key] = on;
  }
  return { active: activeDefects(defects), previous };
}

/**
 * `base` with extra fields that read switches of the live `defects` object at each access
 * (getters, not copies): `fields` maps an option name of the component to a switch.
 */
export function liveDefectOptions<T extends object, K extends string>(base: T, defects: Readonly<BackendDefects>, fields: Readonly<Record<K, keyof BackendDefects>>): T & Readonly<Record<K, boolean>> {
  for (const [option, key] of Object.entries(fields) as [K, keyof BackendDefects][]) {
    Object.defineProperty(base, option, { enumerable: true, get: () => defects[key] });
  }
  return base as T & Readonly<Record<K, boolean>>;
}

/** GET /admin/defects (the switches on now) and POST /admin/defects (turn some on or off). */
export function liveDefectRoutes(defects: BackendDefects, onChanged: (answer: DefectSwitchAnswer) => void): Route[] {
  const pattern = /^\/admin\/defects\/?$/;
  return [
    { method: 'GET', pattern, template: ADMIN_DEFECTS_PATH, handler: async () => json(200, { active: activeDefects(defects) }) },
    {
      method: 'POST',
      pattern,
      template: ADMIN_DEFECTS_PATH,
      handler: async ({ req }) => {
        const body = await readBody(req, 16 * 1024);
        const value = parseJsonBody(body, () => new HttpError(400, 'invalid_defects', 'body: not valid JSON', { field: 'body' }));
        const request = DefectSwitchRequestSchema.safeParse(value);
        if (!request.success) throw new HttpError(400, 'invalid_defects', 'body: expected an object of switch variables to 1 or 0, e.g. {"HSI_DEFECT_ACK_BEFORE_STORE": "1"}', { field: 'body' });
        try {
          const answer = applyDefectSwitches(defects, request.data);
          onChanged(answer);
          return json(200, answer);
        } catch (error) {
          if (error instanceof DefectSwitchError) throw new HttpError(400, 'invalid_defects', error.message, { field: error.message.split(':')[0] });
          throw error;
        }
      },
    },
  ];
}

import { HSI_ROUTES } from '../contract/hsi-api.ts';
import type { RequestKind } from '../scenario/scenario-types.ts';

/** The `name` tag of camera uploads (k6 groups URLs with parameters under one name). */
export const UPLOAD_NAME = `POST ${HSI_ROUTES.upload}`;

/** The `name` tag of a request kind: its own `tags.name`, else "METHOD template". */
export function requestName(kind: Pick<RequestKind, 'method' | 'path' | 'tags'>): string {
  return kind.tags['name'] ?? `${kind.method} ${kind.path}`;
}

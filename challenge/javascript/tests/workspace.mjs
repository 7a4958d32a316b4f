// Loads a module from the candidate's workspace: $CHALLENGE_WORKSPACE, else the current folder.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const WORKSPACE = resolve(process.env.CHALLENGE_WORKSPACE ?? process.cwd());

export function load(relative) {
  return import(pathToFileURL(resolve(WORKSPACE, relative)).href);
}

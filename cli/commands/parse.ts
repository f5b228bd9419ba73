import { InvalidArgumentError } from "@commander-js/extra-typings";

/** Commander parser for an integer >= 1. */
export function positiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(
      `expected a whole number of at least 1, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** Commander parser for an integer >= 0. */
export function nonNegativeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    throw new InvalidArgumentError(`expected a whole number, got ${JSON.stringify(text)}`);
  }
  return value;
}

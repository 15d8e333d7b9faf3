/**
 * One query for many records: the lookups that a set's shares make together (each share's record,
 * each copy's exposed share, the files of one directory) are gathered for one tick (DataLoader) and
 * asked as one ONTAP query with the `a|b|c` alternatives of its query syntax.
 */
import DataLoader from "dataloader";

/** ONTAP's query syntax: `|` or, `*` any, `!` not, `<` `>` comparisons, `..` a range; a name holding one cannot be an alternative. */
const QUERY_SYNTAX = /[|*!<>]|\.\./;

/** True when `name` can stand as one alternative of an ONTAP query value. */
export function batchable(name: string): boolean {
  return name !== "" && !QUERY_SYNTAX.test(name) && name.toLowerCase() !== "null";
}

/** Alternatives per query at most, so that a request line stays a few kilobytes long. */
const MAX_BATCH = 32;

/**
 * A loader of records by key: `query` gets a batch of keys (each batchable) and answers their
 * records; `keysOf` says which keys (lower case) a record answers. The batch is one tick's loads, or
 * `windowMs`' when given. Nothing is cached between batches.
 */
export function recordLoader<R>(
  query: (keys: readonly string[]) => Promise<R[]>,
  keysOf: (record: R) => string[],
  windowMs = 0,
): DataLoader<string, R[]> {
  return new DataLoader<string, R[]>(
    async (keys) => {
      const records = await query(keys);
      const by = new Map<string, R[]>();
      for (const r of records)
        for (const k of keysOf(r)) {
          const list = by.get(k);
          if (list) list.push(r);
          else by.set(k, [r]);
        }
      return keys.map((k) => by.get(k.toLowerCase()) ?? []);
    },
    {
      cache: false,
      maxBatchSize: MAX_BATCH,
      // Lookups that follow calls of their own (one per share) come a little apart: a short window gathers them.
      ...(windowMs > 0 ? { batchScheduleFn: (run: () => void) => setTimeout(run, windowMs) } : {}),
    },
  );
}

/** Every value of `keys` as one ONTAP query value. */
export const alternatives = (keys: readonly string[]): string => keys.join("|");

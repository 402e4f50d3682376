/** A form's draft against the server's copy, which live updates replace while the user types. */

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** The draft after the server's copy went from `prev` to `next`: only the fields the server
 * changed are taken over, so a refetch caused by something else (another shot saved, a move, a
 * live event) never wipes what the user is typing into a field that has not been sent yet. */
export function mergeServer<T extends object>(draft: T, next: T, prev: T | undefined): T {
  if (!prev) return { ...next }
  const out = { ...draft }
  for (const key of Object.keys(next) as (keyof T)[]) {
    if (!same(next[key], prev[key])) out[key] = next[key]
  }
  return out
}

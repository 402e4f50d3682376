/** Shot order is edited with one position operation at a time (`POST …/move?position=N`, 1-based),
 * never by sending the whole list. These give the position a drag or a key press asks for, and the
 * order the list shows until the server answers. */

/** The list with the item `id` moved to the 1-based `position` (clamped into the list). */
export function moveTo<T extends { id: number }>(list: readonly T[], id: number, position: number): T[] {
  const from = list.findIndex((item) => item.id === id)
  if (from < 0) return [...list]
  const rest = list.filter((item) => item.id !== id)
  const to = Math.min(Math.max(Math.round(position) - 1, 0), rest.length)
  rest.splice(to, 0, list[from]!)
  return rest
}

/** The 1-based position an item dragged from index `from` lands on when dropped before (or, with
 * `after`, after) the item at index `over`; null when that leaves it where it is. */
export function dropPosition(from: number, over: number, after: boolean): number | null {
  if (from < 0 || over < 0) return null
  // index in the list without the dragged item
  let to = after ? over + 1 : over
  if (from < to) to -= 1
  return to === from ? null : to + 1
}

/** The 1-based position Alt+ArrowUp / Alt+ArrowDown moves the item at `index` to (null at an end). */
export function keyPosition(index: number, key: string, count: number): number | null {
  if (key === 'ArrowUp') return index > 0 ? index : null
  if (key === 'ArrowDown') return index < count - 1 ? index + 2 : null
  return null
}

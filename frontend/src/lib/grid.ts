/** Layout arithmetic of the virtualised media grid (pure, so it is tested without a browser). */

export interface GridLayout {
  columns: number
  /** width (and height: cells are square) of one cell, px */
  cell: number
  /** cell + gap: the distance from one row's top to the next */
  rowHeight: number
}

export function gridLayout(width: number, minCell: number, gap: number): GridLayout {
  const columns = Math.max(1, Math.floor((width + gap) / (minCell + gap)))
  const cell = Math.max(1, Math.floor((width - gap * (columns - 1)) / columns))
  return { columns, cell, rowHeight: cell + gap }
}

/** Rows [first, last) to render for a viewport, with `overscan` rows either side. */
export function visibleRows(
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  rowCount: number,
  overscan = 2,
): { first: number; last: number } {
  if (rowCount === 0 || rowHeight <= 0) return { first: 0, last: 0 }
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan)
  const last = Math.min(rowCount, Math.ceil((scrollTop + viewport) / rowHeight) + overscan)
  return { first, last: Math.max(first, last) }
}

import { describe, expect, it } from 'vitest'
import { gridLayout, visibleRows } from './grid'
import { fitInBox } from './media'

describe('gridLayout', () => {
  it('fits as many cells of at least the minimum size as the width allows', () => {
    expect(gridLayout(1000, 180, 8)).toEqual({ columns: 5, cell: 193, rowHeight: 201 })
    expect(gridLayout(100, 180, 8).columns).toBe(1)
  })
})

describe('visibleRows', () => {
  it('renders only the rows in view plus the overscan', () => {
    expect(visibleRows(0, 600, 200, 1000, 2)).toEqual({ first: 0, last: 5 })
    expect(visibleRows(10_000, 600, 200, 1000, 2)).toEqual({ first: 48, last: 55 })
  })
  it('stays inside the list', () => {
    expect(visibleRows(199_900, 600, 200, 1000, 2)).toEqual({ first: 997, last: 1000 })
    expect(visibleRows(0, 600, 200, 0)).toEqual({ first: 0, last: 0 })
  })
})

describe('fitInBox', () => {
  it('keeps the aspect ratio inside the box', () => {
    expect(fitInBox({ width: 832, height: 1216 }, 200, 200)).toEqual({ width: 137, height: 200 })
    expect(fitInBox({ width: 1216, height: 832 }, 200, 200)).toEqual({ width: 200, height: 137 })
    expect(fitInBox({ width: null, height: null }, 200, 200)).toEqual({ width: 200, height: 200 })
  })
})

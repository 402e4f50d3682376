import { describe, expect, it } from 'vitest'
import { dropPosition, keyPosition, moveTo } from './reorder'

const list = [1, 2, 3, 4].map((id) => ({ id }))
const ids = (l: { id: number }[]) => l.map((x) => x.id)

describe('moveTo', () => {
  it('moves one item to a 1-based position and keeps the others in order', () => {
    expect(ids(moveTo(list, 4, 1))).toEqual([4, 1, 2, 3])
    expect(ids(moveTo(list, 1, 3))).toEqual([2, 3, 1, 4])
    expect(ids(moveTo(list, 2, 2))).toEqual([1, 2, 3, 4])
  })

  it('clamps positions outside the list and leaves an unknown id alone', () => {
    expect(ids(moveTo(list, 2, 99))).toEqual([1, 3, 4, 2])
    expect(ids(moveTo(list, 3, 0))).toEqual([3, 1, 2, 4])
    expect(ids(moveTo(list, 9, 1))).toEqual([1, 2, 3, 4])
  })

  it('does not change the list it is given', () => {
    moveTo(list, 4, 1)
    expect(ids(list)).toEqual([1, 2, 3, 4])
  })
})

describe('dropPosition', () => {
  it('dropping before or after a later item lands where the line was drawn', () => {
    // dragging the first of 4 onto the third: before it -> 2nd, after it -> 3rd
    expect(dropPosition(0, 2, false)).toBe(2)
    expect(dropPosition(0, 2, true)).toBe(3)
    expect(dropPosition(0, 3, true)).toBe(4)
  })

  it('dropping before or after an earlier item', () => {
    expect(dropPosition(3, 0, false)).toBe(1)
    expect(dropPosition(3, 0, true)).toBe(2)
    expect(dropPosition(2, 1, false)).toBe(2)
  })

  it('is null where the item would stay', () => {
    expect(dropPosition(1, 1, false)).toBeNull()
    expect(dropPosition(1, 1, true)).toBeNull()
    expect(dropPosition(1, 0, true)).toBeNull() // after its upper neighbour: where it is
    expect(dropPosition(1, 2, false)).toBeNull() // before its lower neighbour: where it is
  })

  it('agrees with moveTo: the dragged item ends up just before/after its target', () => {
    for (let from = 0; from < 4; from++) {
      for (let over = 0; over < 4; over++) {
        for (const after of [false, true]) {
          const position = dropPosition(from, over, after)
          if (position === null) continue
          const moved = ids(moveTo(list, list[from]!.id, position))
          const at = moved.indexOf(list[from]!.id)
          const neighbour = moved[after ? at - 1 : at + 1]
          expect(neighbour).toBe(list[over]!.id)
        }
      }
    }
  })
})

describe('keyPosition', () => {
  it('Alt+ArrowUp and Alt+ArrowDown move one place, and stop at the ends', () => {
    expect(keyPosition(2, 'ArrowUp', 4)).toBe(2)
    expect(keyPosition(2, 'ArrowDown', 4)).toBe(4)
    expect(keyPosition(0, 'ArrowUp', 4)).toBeNull()
    expect(keyPosition(3, 'ArrowDown', 4)).toBeNull()
    expect(keyPosition(1, 'Enter', 4)).toBeNull()
  })
})

export type SortKey = 'name' | 'updated'

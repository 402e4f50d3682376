import type { ProjectCreate } from '../api'

type Rating = NonNullable<ProjectCreate['content_rating']>
type Status = NonNullable<ProjectCreate['status']> | 'archived'

export const CONTENT_RATINGS: { value: Rating; label: string }[] = [
  { value: 'all_ages', label: 'All ages' },
  { value: 'teen', label: 'Teen' },
  { value: 'mature', label: 'Mature' },
]

/** "archived" is set with the Archive action, not picked here. */
export const PROJECT_STATUSES: { value: Status; label: string }[] = [
  { value: 'development', label: 'Development' },
  { value: 'production', label: 'Production' },
  { value: 'completed', label: 'Completed' },
]

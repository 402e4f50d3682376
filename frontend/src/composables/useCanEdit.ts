import { computed } from 'vue'
import { useProjects } from '@/features/project/store'
import { useSession } from '@/features/session/store'

/** Whether story and character data of the open project can be changed: the role allows writes
 * (director or admin) and the project is not archived (the server refuses those writes). */
export function useCanEdit() {
  const session = useSession()
  const projects = useProjects()
  return computed(() => session.canWrite && projects.current?.status !== 'archived')
}

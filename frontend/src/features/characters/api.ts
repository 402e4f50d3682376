import { api, unwrap, type Body, type Resp } from '@/api/client'

export type Character = Resp<'/characters/{character_id}', 'get'>
export type CharacterCreate = Body<'/characters', 'post'>
export type CharacterUpdate = Body<'/characters/{character_id}', 'patch'>
export type BuiltPrompt = Resp<'/characters/{character_id}/prompt', 'get'>
export type ReferenceImage = Resp<'/characters/{character_id}/reference-images', 'get'>['items'][number]
export type Learning = Resp<'/characters/{character_id}/learning', 'get'>

const id = (character_id: number) => ({ params: { path: { character_id } } })

export const characterApi = {
  list: (projectId: number, archived = false) =>
    unwrap(api.GET('/characters', { params: { query: { project_id: projectId, archived, limit: 200 } } })),
  bySlug: (slug: string, projectId: number) =>
    unwrap(api.GET('/characters/by-slug/{slug}', { params: { path: { slug }, query: { project_id: projectId } } })),
  get: (characterId: number) => unwrap(api.GET('/characters/{character_id}', id(characterId))),
  create: (body: CharacterCreate) => unwrap(api.POST('/characters', { body })),
  update: (characterId: number, body: CharacterUpdate) =>
    unwrap(api.PATCH('/characters/{character_id}', { ...id(characterId), body })),
  archive: (characterId: number) => unwrap(api.POST('/characters/{character_id}/archive', id(characterId))),
  restore: (characterId: number) => unwrap(api.POST('/characters/{character_id}/restore', id(characterId))),
  /** What the reviews taught: approval rate, drift, parameters, reasons, correction outcomes. */
  learning: (characterId: number) => unwrap(api.GET('/characters/{character_id}/learning', id(characterId))),
  prompt: (characterId: number) => unwrap(api.GET('/characters/{character_id}/prompt', id(characterId))),
  images: (characterId: number) =>
    unwrap(
      api.GET('/characters/{character_id}/reference-images', {
        params: { path: { character_id: characterId }, query: { limit: 200 } },
      }),
    ),
  /** One file per request, so each file gets its own result (415/413/422 per file). */
  upload: (characterId: number, file: File) =>
    unwrap(
      api.POST('/characters/{character_id}/reference-images', {
        ...id(characterId),
        // the schema types the multipart field as strings; the body is serialised to FormData below
        body: { files: [file] } as unknown as Body<'/characters/{character_id}/reference-images', 'post'>,
        bodySerializer: () => {
          const form = new FormData()
          form.append('files', file, file.name)
          return form
        },
      }),
    ),
  deleteImage: (characterId: number, imageId: number) =>
    unwrap(
      api.DELETE('/characters/{character_id}/reference-images/{image_id}', {
        params: { path: { character_id: characterId, image_id: imageId } },
      }),
    ),
}

/** Slugs become folder names: ^[a-z0-9][a-z0-9-]{0,62}$ (same rule as the server). */
export const SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/

/** "Kaito Ōshima (Dragon)!" -> "kaito-oshima-dragon" */
export function suggestSlug(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/['’]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '')
  return slug
}

export function isValidSlug(slug: string): boolean {
  return SLUG_PATTERN.test(slug)
}

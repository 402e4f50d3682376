/** Where the app lives. The server injects `<base href="/prefix/">` into index.html; everything
 * (router history, API calls, the event stream, image URLs) is derived from it, never from '/'. */

export const API_PREFIX = 'api/lora'

export interface Bases {
  /** Path the router's history is rooted at, always ending in '/': '/' or '/anime-studio/'. */
  routerBase: string
  /** Absolute URL of the API without a trailing slash: 'http://host/anime-studio/api/lora'. */
  apiBase: string
}

/**
 * @param baseURI document.baseURI
 * @param hasBaseElement whether index.html carries a <base href> (the server always injects one;
 *   without it, as under `vite dev`, the app is rooted at the origin).
 */
export function deriveBases(baseURI: string, hasBaseElement = true): Bases {
  const url = new URL(baseURI)
  let path = hasBaseElement ? url.pathname : '/'
  if (!path.endsWith('/')) path = path.slice(0, path.lastIndexOf('/') + 1) || '/'
  return { routerBase: path, apiBase: `${url.origin}${path}${API_PREFIX}` }
}

function fromDocument(): Bases {
  if (typeof document === 'undefined' || !/^https?:/.test(document.baseURI)) {
    return { routerBase: '/', apiBase: `http://localhost/${API_PREFIX}` }
  }
  return deriveBases(document.baseURI, document.querySelector('base[href]') !== null)
}

export const bases: Bases = fromDocument()

/** Resolves a URL the API returned (relative to the API prefix, e.g. `/reference-images/3/file`). */
export function apiUrl(url: string, apiBase = bases.apiBase): string {
  if (/^(https?:|data:|blob:)/.test(url)) return url
  const prefix = '/' + API_PREFIX + '/'
  let rel = url.startsWith(prefix) ? url.slice(prefix.length) : url.replace(/^\/+/, '')
  if (rel.startsWith(API_PREFIX + '/')) rel = rel.slice(API_PREFIX.length + 1)
  return `${apiBase}/${rel}`
}

import { describe, expect, it } from 'vitest'
import { apiUrl, deriveBases } from './base'

describe('deriveBases', () => {
  it('roots everything at / when served at the origin', () => {
    expect(deriveBases('http://127.0.0.1:8401/')).toEqual({
      routerBase: '/',
      apiBase: 'http://127.0.0.1:8401/api/lora',
    })
  })

  it('follows the injected <base href> under a sub-path', () => {
    expect(deriveBases('https://studio.example/anime-studio/')).toEqual({
      routerBase: '/anime-studio/',
      apiBase: 'https://studio.example/anime-studio/api/lora',
    })
  })

  it('uses the directory of a base that names a file', () => {
    expect(deriveBases('http://h/tools/anime/index.html').routerBase).toBe('/tools/anime/')
  })

  it('ignores the page path when there is no <base> element (vite dev)', () => {
    expect(deriveBases('http://localhost:5173/p/demo/characters', false)).toEqual({
      routerBase: '/',
      apiBase: 'http://localhost:5173/api/lora',
    })
  })
})

describe('apiUrl', () => {
  const base = 'http://h/anime-studio/api/lora'
  it('resolves URLs the API returns relative to its prefix', () => {
    expect(apiUrl('reference-images/3/file', base)).toBe('http://h/anime-studio/api/lora/reference-images/3/file')
    expect(apiUrl('/reference-images/3/file', base)).toBe('http://h/anime-studio/api/lora/reference-images/3/file')
    expect(apiUrl('/api/lora/reference-images/3/file', base)).toBe(
      'http://h/anime-studio/api/lora/reference-images/3/file',
    )
  })
  it('leaves absolute and data URLs alone', () => {
    expect(apiUrl('data:image/png;base64,xx', base)).toBe('data:image/png;base64,xx')
    expect(apiUrl('https://cdn.example/a.png', base)).toBe('https://cdn.example/a.png')
  })
})

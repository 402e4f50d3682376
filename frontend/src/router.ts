import { createRouter, createWebHistory } from 'vue-router'
import { bases } from '@/api/base'

export const TABS = [
  { name: 'project', label: 'Project', key: 'p' },
  { name: 'story', label: 'Story & World', key: 's' },
  { name: 'characters', label: 'Characters', key: 'c' },
  { name: 'approve', label: 'Approve', key: 'a' },
  { name: 'train', label: 'Train', key: 't' },
  { name: 'generate', label: 'Generate', key: 'g' },
  { name: 'scenes', label: 'Scenes', key: 'e' },
  { name: 'gallery', label: 'Gallery', key: 'l' },
] as const

export type TabName = (typeof TABS)[number]['name']

/** Created after the session bootstrap has stripped `?token=` from the URL (the history reads the
 * URL when it is created). */
export const createAppRouter = () =>
  createRouter({
    // rooted at <base href> (the server injects it), so the app also works under a sub-path
    history: createWebHistory(bases.routerBase),
    routes: [
      { path: '/', name: 'home', component: () => import('@/features/project/ProjectListView.vue') },
      {
        path: '/p/:projectSlug',
        component: () => import('@/features/project/ProjectShell.vue'),
        children: [
          { path: '', redirect: { name: 'project' } },
          { path: 'project', name: 'project', component: () => import('@/features/project/ProjectView.vue') },
          { path: 'story', name: 'story', component: () => import('@/features/story/StoryView.vue') },
          {
            path: 'characters',
            name: 'characters',
            component: () => import('@/features/characters/CharactersView.vue'),
          },
          {
            path: 'characters/:characterSlug',
            name: 'character',
            component: () => import('@/features/characters/CharacterDetailView.vue'),
            meta: { tab: 'characters' },
          },
          { path: 'approve', name: 'approve', component: () => import('@/features/approval/ApproveView.vue') },
          // ?character=slug picks the character
          { path: 'train', name: 'train', component: () => import('@/features/training/TrainView.vue') },
          {
            path: 'generate',
            name: 'generate',
            component: () => import('@/features/generation/GenerateView.vue'),
          },
          // /scenes/<id> opens that scene's builder and monitor (shareable)
          {
            path: 'scenes/:sceneId(\\d+)?',
            name: 'scenes',
            component: () => import('@/features/scenes/ScenesView.vue'),
          },
          // the Scenes tab's Episodes view; /episodes/<id> opens one (shareable)
          {
            path: 'episodes/:episodeId(\\d+)?',
            name: 'episodes',
            component: () => import('@/features/episodes/EpisodesView.vue'),
            meta: { tab: 'scenes' },
          },
          { path: 'gallery', name: 'gallery', component: () => import('@/features/gallery/GalleryView.vue') },
          // a creative-team session (planning a shot or a character image), shareable
          {
            path: 'team/:sessionId(\\d+)',
            name: 'team',
            component: () => import('@/features/echo/TeamView.vue'),
            meta: { tab: 'scenes' },
          },
        ],
      },
      { path: '/settings', redirect: { name: 'settings-backends' } },
      {
        path: '/settings/backends',
        name: 'settings-backends',
        component: () => import('@/features/backends/BackendsView.vue'),
      },
      {
        path: '/settings/webhooks',
        name: 'settings-webhooks',
        component: () => import('@/features/production/WebhooksView.vue'),
      },
      { path: '/:rest(.*)*', name: 'not-found', component: () => import('@/components/NotFound.vue') },
    ],
    scrollBehavior: (_to, _from, saved) => saved ?? { top: 0 },
  })

/** What the user can do about each error of "Generate scenes from story" (the server's own
 * message is shown too; this says where to go next). */
const HELP: Record<string, string> = {
  ollama_not_configured:
    'Story-to-Scenes writes scenes with a local language model through Ollama, which this server has no address for. Set OLLAMA_HOST (e.g. http://127.0.0.1:11434) and restart the server, or create scenes by hand.',
  ollama_unreachable: 'Ollama did not answer at its configured address. Check that it is running, then try again.',
  story_model_missing:
    'Ollama does not have the story model. Pull it (`ollama pull <model>`) or set ANIME_STUDIO_STORY_MODEL to one it has.',
  story_invalid_answer:
    'The model answered three times without valid scenes. Try again, or a larger model (ANIME_STUDIO_STORY_MODEL).',
  no_story: 'This project has no storyline or premise to make scenes from. Write one in Story & World first.',
}

export function storyErrorHelp(code: string): string | null {
  return HELP[code] ?? null
}

/** Whether the error is fixed on the Story & World tab (offer a link there). */
export const needsStory = (code: string) => code === 'no_story'

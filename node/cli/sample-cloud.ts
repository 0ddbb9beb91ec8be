// The sample cloud `bevy demo` publishes: a page, an image and a nested folder.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

const LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="120" viewBox="0 0 120 120">
<circle cx="60" cy="60" r="54" fill="#f6c453"/><circle cx="40" cy="50" r="9" fill="#333"/><circle cx="80" cy="50" r="9" fill="#333"/>
<path d="M35 80 Q60 100 85 80" stroke="#333" stroke-width="6" fill="none"/></svg>
`

const INDEX_HTML = `<!doctype html>
<meta charset="utf-8">
<title>A personal cloud</title>
<h1>Hello from a personal cloud</h1>
<p><img src="img/bevy.svg" alt="a smiling bevy" width="120"></p>
<p>This page lives on several machines of a bevy at once. Any node answers; the ones without a
copy send you on to one that has it.</p>
<ul><li><a href="notes/">notes/</a> (a folder listing)</li><li><a href="notes/2026/hello.txt">notes/2026/hello.txt</a></li></ul>
`

/** Writes the sample cloud's files under `dir`. */
export async function writeSampleCloud (dir: string): Promise<void> {
  const files: Record<string, string> = {
    'index.html': INDEX_HTML,
    'img/bevy.svg': LOGO_SVG,
    'notes/2026/hello.txt': 'Hello! This file sits two folders deep in the sample cloud.\n',
    'notes/todo.md': '# To do\n\n- push your own folder: `bevy push DIR --wait`\n'
  }
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true })
    await writeFile(join(dir, path), content)
  }
}

// The code blocks of README.md and docs/*.md marked <!-- excerpt: PATH --> are excerpts of the kit's
// files: each of their lines (but "// ..." elisions) must be in PATH, in the same order. Fails naming
// the document and the line.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..')
const documents = ['README.md', ...readdirSync(resolve(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
let blocks = 0
let failures = 0
for (const document of documents) {
  const text = readFileSync(resolve(root, document), 'utf8')
  for (const [, path, block] of text.matchAll(/<!-- excerpt: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)) {
    blocks++
    const source = readFileSync(resolve(root, path), 'utf8').split('\n').map((l) => l.trim())
    let at = 0
    for (const line of block.split('\n').map((l) => l.trim())) {
      if (line === '' || line === '// ...') continue
      const found = source.indexOf(line, at)
      if (found < 0) {
        console.error(`${document}'s excerpt of ${path} has a line that is not in the file (after line ${at}): ${line}`)
        failures++
        break
      }
      at = found + 1
    }
  }
}
if (blocks === 0) {
  console.error('README.md and docs/*.md have no <!-- excerpt: PATH --> blocks; docs/supabase.md lost the kit\'s')
  failures++
}
if (failures > 0) {
  console.error('update the excerpts to match the files')
  process.exit(1)
}
console.log(`excerpts: ${blocks} blocks in ${documents.length} documents match their files`)

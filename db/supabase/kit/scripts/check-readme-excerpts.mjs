// The README's code blocks marked <!-- excerpt: PATH --> are excerpts of the kit's files: each of
// their lines (but "// ..." elisions) must be in PATH, in the same order. Fails naming the line.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..')
const readme = readFileSync(resolve(root, 'README.md'), 'utf8')
const marked = [...readme.matchAll(/<!-- excerpt: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)]
let failures = 0
for (const [, path, block] of marked) {
  const source = readFileSync(resolve(root, path), 'utf8').split('\n').map((l) => l.trim())
  let at = 0
  for (const line of block.split('\n').map((l) => l.trim())) {
    if (line === '' || line === '// ...') continue
    const found = source.indexOf(line, at)
    if (found < 0) {
      console.error(`README.md's excerpt of ${path} has a line that is not in the file (after line ${at}): ${line}`)
      failures++
      break
    }
    at = found + 1
  }
}
if (marked.length === 0) {
  console.error('README.md has no <!-- excerpt: PATH --> blocks; the frontend kit section lost them')
  failures++
}
if (failures > 0) {
  console.error('update the excerpts in README.md to match the files')
  process.exit(1)
}
console.log(`README excerpts: ${marked.length} blocks match their files`)

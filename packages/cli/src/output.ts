/** CLI output: the only place `console`/stdout writes are allowed. */
export interface Output {
  readonly json: boolean
  /** Print data: JSON when --json, else `text()` rendering. */
  data(value: unknown, text?: () => string): void
  /** A line for people (stderr when --json so stdout stays parseable). */
  info(line: string): void
  /** A warning for people: always stderr (`warning: …`), in text and --json mode. */
  warn(line: string): void
  progress(label: string, total: number): Progress
}

export interface Progress {
  update(done: number): void
  done(): void
}

export function createOutput(
  json: boolean,
  stdout: NodeJS.WritableStream = process.stdout,
  stderr: NodeJS.WriteStream = process.stderr,
): Output {
  return {
    json,
    data(value, text) {
      stdout.write(
        json || !text ? `${JSON.stringify(value, null, json ? undefined : 2)}\n` : `${text()}\n`,
      )
    },
    info(line) {
      ;(json ? stderr : stdout).write(`${line}\n`)
    },
    warn(line) {
      stderr.write(`warning: ${line}\n`)
    },
    progress(label, total) {
      return stderr.isTTY ? ttyProgress(stderr, label, total) : jsonProgress(stderr, label, total)
    },
  }
}

/**
 * A progress bar that starts on the first update, and only for work of at least `minTotal`
 * (small files finish before a bar is worth drawing).
 */
export function lazyProgress(
  out: Output,
  label: string,
  minTotal = 0,
): { onProgress(done: number, total: number): void; finish(): void } {
  let bar: Progress | undefined
  return {
    onProgress(done, total) {
      if (total < minTotal) return
      bar ??= out.progress(label, total)
      bar.update(done)
    },
    finish: () => bar?.done(),
  }
}

/** Renders a table with aligned columns. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

function ttyProgress(stream: NodeJS.WriteStream, label: string, total: number): Progress {
  const start = Date.now()
  let last = 0
  const draw = (done: number): void => {
    const frac = total > 0 ? Math.min(1, done / total) : 1
    const width = 30
    const filled = Math.round(frac * width)
    const secs = (Date.now() - start) / 1000
    const rate = secs > 0 ? done / secs / 1048576 : 0
    stream.write(
      `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(1)}% ${rate.toFixed(0)} MiB/s `,
    )
  }
  return {
    update(done) {
      const now = Date.now()
      if (now - last < 100) return
      last = now
      draw(done)
    },
    done() {
      draw(total)
      stream.write('\n')
    },
  }
}

function jsonProgress(stream: NodeJS.WritableStream, label: string, total: number): Progress {
  let last = 0
  return {
    update(done) {
      const now = Date.now()
      if (now - last < 1000) return
      last = now
      stream.write(`${JSON.stringify({ progress: label, done, total })}\n`)
    },
    done() {
      stream.write(`${JSON.stringify({ progress: label, done: total, total, finished: true })}\n`)
    },
  }
}

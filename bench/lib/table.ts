/** Markdown tables and number formats. */

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('l' | 'r')[]): string {
  const rule = header.map((_, i) => ((align?.[i] ?? 'l') === 'r' ? '---:' : '---'));
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), `|${rule.join('|')}|`, ...rows.map(line)].join('\n');
}

/** Milliseconds with 3 significant digits (whole numbers from 1000 up). */
export function ms(v: number): string {
  return v >= 1000 ? v.toFixed(0) : v.toPrecision(3);
}

export function gflops(flops: number | undefined, msValue: number): string {
  if (flops === undefined) return '';
  const g = flops / msValue / 1e6;
  return g >= 10 ? g.toFixed(0) : g.toFixed(1);
}

export function ratio(r: number): string {
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** Numbered notes: the same text gets the same number; cells show "n/a [k]". */
export class Notes {
  private readonly list: string[] = [];

  ref(note: string): string {
    let i = this.list.indexOf(note);
    if (i < 0) i = this.list.push(note) - 1;
    return `[${i + 1}]`;
  }

  render(): string {
    return this.list.map((n, i) => `[${i + 1}] ${n}`).join('  \n');
  }
}

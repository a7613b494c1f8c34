/**
 * The functions SemCoder can trace in a Python document, found from its lines alone (no
 * dependency on a Python language extension): top-level `def`s, named `f`, and the methods
 * of top-level classes, named `Class.method` as the server names them. `def`s nested in a
 * function cannot be traced, so they are not listed; a cursor inside one belongs to the
 * function around it.
 */
export interface PythonDef {
  name: string;
  line: number; // 0-based, the `def` line
}

const DEF = /^(\s*)(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(/;
const CLASS = /^class\s+([A-Za-z_]\w*)\s*[(:]/;

function indentOf(text: string): number {
  return text.length - text.trimStart().length;
}

export function pythonDefs(lines: readonly string[]): PythonDef[] {
  const found: PythonDef[] = [];
  let cls: string | undefined; // the top-level class whose body we are in
  let bodyIndent: number | undefined; // its methods' indentation, from its first statement
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i];
    const stripped = text.trim();
    if (!stripped || stripped.startsWith("#")) continue;
    const indent = indentOf(text);
    if (indent === 0) {
      const c = CLASS.exec(text);
      cls = c ? c[1] : undefined;
      bodyIndent = undefined;
      const d = DEF.exec(text);
      if (d) found.push({ name: d[2], line: i });
      continue;
    }
    if (cls === undefined) continue;
    if (bodyIndent === undefined) bodyIndent = indent;
    const d = DEF.exec(text);
    if (d && indent === bodyIndent) found.push({ name: `${cls}.${d[2]}`, line: i });
  }
  return found;
}

/** The traceable function around `line` (the nearest listed `def` at or above it). */
export function defAt(defs: readonly PythonDef[], line: number): string | undefined {
  const above = defs.filter((d) => d.line <= line);
  return above.length ? above[above.length - 1].name : undefined;
}

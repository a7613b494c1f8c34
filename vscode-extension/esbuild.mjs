// Bundles the extension (dist/extension.js) and the in-host test suite (out/inhost/index.js).
// `vscode` is provided by the editor at run time, so it stays external.
import * as esbuild from "esbuild";

const common = { bundle: true, platform: "node", target: "node18", format: "cjs", external: ["vscode"], sourcemap: true, logLevel: "warning" };

await esbuild.build({ ...common, entryPoints: ["src/extension.ts"], outfile: "dist/extension.js", minify: process.argv.includes("--minify") });
await esbuild.build({ ...common, entryPoints: ["src/test/inhost/index.ts"], outfile: "out/inhost/index.js" });

// The node column of bench/run.py: the same guests on Node's `node:wasi` (uvwasi).
//
// run.py starts `node --no-warnings bench/node_side.mjs` once and talks to it over
// stdin/stdout, one JSON object per line each way; every request gets one reply line,
// {"ok": ...} or {"error": "..."}. Timing stays in run.py (one round trip, ~0.1 ms, per
// timed rep of ~0.2 s), so every column is measured the same way. Requests:
//   {"op": "open", "id", "wasm": path, "preopen": dir|null, "args": [...]}
//       instantiate a guest (its exports are called directly, as run.py does with wasmtime)
//   {"op": "poke", "id", "offset", "hex"}      write bytes into its memory
//   {"op": "call", "id", "export", "args"}     call an export; ok: its i32 result
//   {"op": "close", "id"}
//   {"op": "runs", "wasm", "count", "base", "files", "size"}
//       `count` complete runs of a command: each one makes a fresh directory under `base`
//       holding `files` files f00.txt... of `size` bytes, instantiates the (once compiled)
//       module with that directory preopened at /data, runs `_start`, and removes the
//       directory; ok: the number of runs that exited 0
//
// `node --no-warnings bench/node_side.mjs GUEST.wasm [ARGS...]` instead runs one command with
// the process's own stdio and exits with its code: the node side of the cold-start row.
import { WASI } from "node:wasi";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

const devnull = fs.openSync("/dev/null", "r+");
const guests = new Map();
const modules = new Map();

function compiled(wasm) {
  let module = modules.get(wasm);
  if (module === undefined) {
    module = new WebAssembly.Module(fs.readFileSync(wasm));
    modules.set(wasm, module);
  }
  return module;
}

function instantiate(module, preopen, args) {
  // stdout and stderr go to /dev/null: this process's stdout is the reply channel
  const wasi = new WASI({
    version: "preview1",
    args,
    env: {},
    preopens: preopen === null ? {} : { "/data": preopen },
    returnOnExit: true,
    stdin: devnull,
    stdout: devnull,
    stderr: devnull,
  });
  const instance = new WebAssembly.Instance(module, wasi.getImportObject());
  return { wasi, instance };
}

function handle(msg) {
  switch (msg.op) {
    case "open": {
      const { wasi, instance } = instantiate(compiled(msg.wasm), msg.preopen, msg.args);
      wasi.initialize(instance); // a library-style guest: no _start, exports called directly
      guests.set(msg.id, instance);
      return null;
    }
    case "poke": {
      const memory = guests.get(msg.id).exports.memory;
      new Uint8Array(memory.buffer).set(Buffer.from(msg.hex, "hex"), msg.offset);
      return null;
    }
    case "call":
      return guests.get(msg.id).exports[msg.export](...msg.args);
    case "close":
      guests.delete(msg.id);
      return null;
    case "runs": {
      const module = compiled(msg.wasm);
      const data = Buffer.alloc(msg.size, 120);
      let ok = 0;
      for (let i = 0; i < msg.count; i++) {
        const dir = fs.mkdtempSync(path.join(msg.base, "node-run-"));
        for (let f = 0; f < msg.files; f++) {
          fs.writeFileSync(path.join(dir, `f${String(f).padStart(2, "0")}.txt`), data);
        }
        const { wasi, instance } = instantiate(module, dir, ["run"]);
        if (wasi.start(instance) === 0) ok++;
        fs.rmSync(dir, { recursive: true });
      }
      return ok;
    }
    default:
      throw new Error(`unknown op ${msg.op}`);
  }
}

if (process.argv.length > 2) {
  const wasi = new WASI({ version: "preview1", args: process.argv.slice(2), env: {},
                          returnOnExit: true });
  const module = new WebAssembly.Module(fs.readFileSync(process.argv[2]));
  process.exitCode = wasi.start(new WebAssembly.Instance(module, wasi.getImportObject()));
} else {
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    let reply;
    try {
      reply = { ok: handle(JSON.parse(line)) };
    } catch (e) {
      reply = { error: String(e && e.stack ? e.stack : e) };
    }
    process.stdout.write(JSON.stringify(reply) + "\n");
  });
}

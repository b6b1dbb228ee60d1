// Claude Code works through Switchyard (issue 12, point 4): the real CLI from npm
// (@anthropic-ai/claude-code), non-interactive (`claude -p`), with ANTHROPIC_BASE_URL at the
// gateway and a Switchyard key, non-essential traffic disabled. The task makes it call its Read
// tool on a file in its working directory and answer from the file's content — streamed, with
// the model served by an Anthropic-dialect provider, by an OpenAI-dialect one, and by `auto`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { useStack, makeTempDir, slack, INTEGRATION_DIR } from './lib/harness.mjs';

const CLAUDE = path.join(INTEGRATION_DIR, 'node_modules', '.bin', 'claude');
const installed = fs.existsSync(CLAUDE);
if (!installed) console.log(`# claude_code: skipped — ${CLAUDE} is missing (scripts/deps.sh installs it with npm ci)`);

const s = useStack({
  mutateConfig: (c) => {
    c.providers.push({ id: 'anth', kind: 'anthropic', base_url: `http://127.0.0.1:${s.mock.port}/v1`, api_key_env: 'MOCK_KEY' });
    c.models.push({ id: 'c-ok', provider: 'anth', upstream: 'claude-mock', input_per_m: '3.00', output_per_m: '15.00', context_window: 200000, capabilities: ['chat', 'tools', 'vision'] });
  },
});

function runClaude({ cwd, home, model, prompt }) {
  return new Promise((resolve) => {
    const env = {
      PATH: process.env.PATH,
      HOME: home,
      ANTHROPIC_BASE_URL: s.dp.url,
      ANTHROPIC_API_KEY: s.keys.main.key,
      ANTHROPIC_MODEL: model,
      ANTHROPIC_SMALL_FAST_MODEL: model,
      ANTHROPIC_DEFAULT_HAIKU_MODEL: model,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
    };
    const child = spawn(CLAUDE, ['-p', prompt, '--allowedTools', 'Read', '--output-format', 'text'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), slack(120000));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

for (const model of ['c-ok', 'm-ok', 'auto']) {
  test(`claude -p reads a file with its Read tool and answers from it (model ${model})`, { skip: !installed && 'the npm package is not installed' }, async () => {
    const tmp = makeTempDir('sy-claude-');
    try {
      const work = path.join(tmp.dir, 'work');
      const home = path.join(tmp.dir, 'home');
      fs.mkdirSync(work);
      fs.mkdirSync(home);
      const word = `WORD${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
      const file = path.join(work, 'notes.txt');
      fs.writeFileSync(file, `The secret word is ${word}.\n`);
      const seen = s.mock.requests().length;
      const r = await runClaude({ cwd: work, home, model, prompt: `Read the file ${file} and tell me the secret word.` });
      assert.equal(r.code, 0, `claude exited ${r.code ?? r.signal}\nstdout: ${r.out}\nstderr: ${r.err}`);
      assert.match(r.out, new RegExp(word), `the answer comes from the file's content: ${r.out}`);
      // the round trip went through the gateway: a Read tool call, then its result upstream
      const ups = s.mock.requests().slice(seen);
      assert.ok(ups.length >= 2, `upstream requests: ${ups.length}`);
      const last = ups.at(-1).body;
      const text = JSON.stringify(last.messages);
      assert.ok(text.includes(word), 'the tool result (the file content) reached the provider');
      assert.ok(ups.every((u) => u.body.stream === true), 'Claude Code streams');
      const access = s.dp.proc.stderr.split('\n').filter((l) => l.includes('msg=access') && l.includes('ep=messages'));
      assert.ok(access.length >= 2, 'logged as messages');
    } finally {
      tmp.cleanup?.();
    }
  });
}

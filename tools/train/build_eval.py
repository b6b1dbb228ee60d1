#!/usr/bin/env python3
"""Builds data/prompts/eval/eval.jsonl from the hand-written sources in data/prompts/eval/src.

    python3 tools/train/build_eval.py            # rewrites data/prompts/eval/eval.jsonl
    python3 tools/train/build_eval.py --check    # exit 1 if the file is not up to date

Source format (one file per task class, plus materials.txt):

    ### <task> <difficulty> <lang>
    ~system: optional system prompt (one line, or following lines)
    ~user:
    text of a user turn, any number of lines, {{MATERIAL}} includes a block of materials.txt
    ~assistant:
    an earlier assistant turn
    ~user:
    the last user turn: the one that is labelled

An item without any "~role:" line is a single user message. Deterministic: same sources, same
bytes. Nothing here is shared with the training generator (tools/train/gen_*.py).
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "data", "prompts", "eval", "src")
OUT = os.path.join(ROOT, "data", "prompts", "eval", "eval.jsonl")
TASKS = ["code", "math", "reasoning", "writing", "extraction", "summarization", "translation", "research", "chat"]
DIFFS = ["easy", "medium", "hard"]


def load_materials():
    mats = {}
    name = None
    buf = []
    with open(os.path.join(SRC, "materials.txt"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("@@@ "):
                if name:
                    mats[name] = "".join(buf).strip("\n")
                name = line[4:].strip()
                buf = []
            elif name:
                buf.append(line)
    if name:
        mats[name] = "".join(buf).strip("\n")
    return mats


ROLE = re.compile(r"^~(system|user|assistant):\s?(.*)$")


def parse_item(header, lines, mats, where):
    parts = header.split()
    if len(parts) != 3 or parts[0] not in TASKS or parts[1] not in DIFFS:
        raise SystemExit(f"{where}: bad header '### {header}'")
    task, diff, lang = parts
    msgs = []
    cur = None
    for line in lines:
        m = ROLE.match(line)
        if m:
            cur = {"role": m.group(1), "content": m.group(2) + ("\n" if m.group(2) else "")}
            msgs.append(cur)
        else:
            if cur is None:
                cur = {"role": "user", "content": ""}
                msgs.append(cur)
            cur["content"] += line + "\n"
    used = []
    for m in msgs:
        text = m["content"].strip("\n")

        def sub(mm):
            n = mm.group(1)
            if n not in mats:
                raise SystemExit(f"{where}: unknown material {n}")
            used.append(n)
            return mats[n]

        m["content"] = re.sub(r"\{\{([A-Z0-9_]+)\}\}", sub, text)
    if not msgs or msgs[-1]["role"] != "user" or not msgs[-1]["content"].strip():
        raise SystemExit(f"{where}: the last message must be a non-empty user turn")
    return task, diff, lang, msgs, used


def build():
    mats = load_materials()
    out = []
    for task in TASKS:
        path = os.path.join(SRC, task + ".txt")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        items = re.split(r"^### ", text, flags=re.M)[1:]
        n = 0
        for it in items:
            header, _, body = it.partition("\n")
            lines = body.rstrip("\n").split("\n")
            t, d, lang, msgs, used = parse_item(header.strip(), lines, mats, f"{path} item {n + 1}")
            if t != task:
                raise SystemExit(f"{path}: item {n + 1} is labelled {t}")
            has_sys = any(m["role"] == "system" for m in msgs)
            turns = sum(1 for m in msgs if m["role"] == "user")
            label = f"lang={lang}; system={'yes' if has_sys else 'no'}; user_turns={turns}"
            if used:
                label += "; material=" + ",".join(sorted(set(used)))
            rec = {
                "id": f"eval-{task}-{n:03d}",
                "prompt": msgs[-1]["content"],
                "source": "switchyard-eval",
                "source_label": label,
                "task": t,
                "difficulty": d,
                "lang": lang,
            }
            if len(msgs) > 1:
                rec["messages"] = msgs
            out.append(json.dumps(rec, ensure_ascii=False))
            n += 1
    return "\n".join(out) + "\n"


def main():
    data = build()
    if "--check" in sys.argv:
        with open(OUT, encoding="utf-8") as f:
            if f.read() != data:
                print("eval.jsonl is stale: run tools/train/build_eval.py", file=sys.stderr)
                sys.exit(1)
        return
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(data)
    recs = [json.loads(l) for l in data.splitlines()]
    print(f"{OUT}: {len(recs)} prompts", file=sys.stderr)


if __name__ == "__main__":
    main()

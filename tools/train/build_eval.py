#!/usr/bin/env python3
"""Builds the JSONL files of the hand-written prompt sets from their text sources:

  data/prompts/eval/src/{task}.txt        -> data/prompts/eval/eval.jsonl            (the evaluation set)
  data/prompts/train-src/realistic/*.txt  -> data/prompts/train/sw-realistic.jsonl   (training data)

    python3 tools/train/build_eval.py            # rewrites both
    python3 tools/train/build_eval.py --check    # exit 1 if either is not up to date

The two sets have separate materials files and were written separately (the evaluation set
first); nothing is shared between them.

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
SETS = [
    # (source dir, output, source name, id prefix, one file per task class)
    (os.path.join(ROOT, "data", "prompts", "eval", "src"), os.path.join(ROOT, "data", "prompts", "eval", "eval.jsonl"),
     "switchyard-eval", "eval", True),
    (os.path.join(ROOT, "data", "prompts", "train-src", "realistic"), os.path.join(ROOT, "data", "prompts", "train", "sw-realistic.jsonl"),
     "sw-realistic", "sw-realistic", False),
]
TASKS = ["code", "math", "reasoning", "writing", "extraction", "summarization", "translation", "research", "chat"]
DIFFS = ["easy", "medium", "hard"]


def load_materials(src):
    mats = {}
    name = None
    buf = []
    with open(os.path.join(src, "materials.txt"), encoding="utf-8") as f:
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


def build(src, source, prefix, per_task):
    mats = load_materials(src)
    out = []
    if per_task:
        files = [(t, os.path.join(src, t + ".txt")) for t in TASKS]
    else:
        files = [(None, os.path.join(src, f)) for f in sorted(os.listdir(src)) if f.endswith(".txt") and f != "materials.txt"]
    counters = {}
    for task, path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        items = re.split(r"^### ", text, flags=re.M)[1:]
        for k, it in enumerate(items):
            header, _, body = it.partition("\n")
            lines = body.rstrip("\n").split("\n")
            t, d, lang, msgs, used = parse_item(header.strip(), lines, mats, f"{path} item {k + 1}")
            if task is not None and t != task:
                raise SystemExit(f"{path}: item {k + 1} is labelled {t}")
            n = counters.get(t, 0)
            counters[t] = n + 1
            has_sys = any(m["role"] == "system" for m in msgs)
            turns = sum(1 for m in msgs if m["role"] == "user")
            label = f"lang={lang}; system={'yes' if has_sys else 'no'}; user_turns={turns}"
            if used:
                label += "; material=" + ",".join(sorted(set(used)))
            rec = {
                "id": f"{prefix}-{t}-{n:03d}",
                "prompt": msgs[-1]["content"],
                "source": source,
                "source_label": label,
                "task": t,
                "difficulty": d,
                "lang": lang,
            }
            if len(msgs) > 1:
                rec["messages"] = msgs
            out.append(json.dumps(rec, ensure_ascii=False))
    return "\n".join(out) + "\n"


def main():
    rc = 0
    for src, outp, source, prefix, per_task in SETS:
        data = build(src, source, prefix, per_task)
        if "--check" in sys.argv:
            with open(outp, encoding="utf-8") as f:
                if f.read() != data:
                    print(f"{outp} is stale: run tools/train/build_eval.py", file=sys.stderr)
                    rc = 1
            continue
        with open(outp, "w", encoding="utf-8") as f:
            f.write(data)
        print(f"{outp}: {len(data.splitlines())} prompts", file=sys.stderr)
    sys.exit(rc)


if __name__ == "__main__":
    main()

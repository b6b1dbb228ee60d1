"""Generates the hand-written training sets in data/prompts/train/ (see data/prompts/README.md).

    python3 -m tools.train.synth.gen            # from the repo root; deterministic

Three sources, so that leave-one-source-out measures something:
  sw-compose  pasted material (logs, contracts, code, CSV, emails, articles, …) under
              instructions asking for different deliverables, in 8 languages, with layouts
              (instruction first/last/around, fenced, quoted), small talk around the request
  sw-direct   requests without material, generated per class from templates and slot lists
  sw-dialog   conversations: system prompts, earlier turns, follow-ups whose deliverable is
              stated in the last message, puzzles dropped into small talk, chat that merely
              mentions a task
Labels come from the templates (the author's reading of LABELS.md); none of this text is in the
evaluation set (data/prompts/eval), which was written separately.
"""
import json
import os
import random

from . import compose as C
from . import direct as D
from .materials import M, gen_code, gen_csv, gen_log

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
OUT = os.path.join(ROOT, "data", "prompts", "train")

PLANG_NAMES = ["Python", "TypeScript", "Go", "Rust", "Java", "Kotlin", "C#"]

SMALLTALK_PRE = {
    "en": ["hey! hope your day's going well.", "Hi there :)", "morning! quick favour:", "ok so", "Hello, hope you're doing well.",
           "hiya, weird day here lol.", "Thanks for the help earlier! Another one:", "Sorry to bother you again.", "Good afternoon!"],
    "es": ["¡Hola! ¿Qué tal?", "Buenas, una cosita:", "¡Gracias por lo de antes! Otra cosa:"],
    "de": ["Hallo! Kurze Frage:", "Moin, hoffe es geht dir gut.", "Danke für vorhin! Noch was:"],
    "fr": ["Coucou ! Petite question :", "Bonjour, j'espère que tu vas bien.", "Merci pour tout à l'heure ! Autre chose :"],
    "pt": ["Oi! Tudo bem?", "Olá, uma coisinha:"], "it": ["Ciao! Tutto bene?", "Buongiorno, una domanda:"],
    "ja": ["こんにちは！", "お疲れさまです。", "さっきはありがとう！もう一つ。"], "zh": ["你好！", "在吗？", "谢谢刚才的帮助！还有一个问题。"],
}
SMALLTALK_POST = {
    "en": ["Thanks!", "thx :)", "No rush.", "Appreciate it!", "Cheers.", "thank youuu", "Have a great day!"],
    "es": ["¡Gracias!", "Mil gracias."], "de": ["Danke!", "Vielen Dank!"], "fr": ["Merci !", "Merci d'avance."],
    "pt": ["Obrigado!", "Valeu!"], "it": ["Grazie!"], "ja": ["よろしくお願いします。", "ありがとう！"], "zh": ["谢谢！", "麻烦了。"],
}

SYSTEM = [
    "You are a helpful assistant.", "You are a helpful, concise assistant. Answer in the user's language.",
    "You are CodePilot, a senior software engineer. Prefer idiomatic, tested code.",
    "You are a friendly customer support agent for Brightwave Internet. Be polite and solution-oriented.",
    "You are a legal research assistant. You do not give legal advice.", "You are a patient maths tutor for high-school students.",
    "You are a professional translator and editor.", "You are a warm companion who enjoys casual conversation.",
    "You are an assistant embedded in a spreadsheet app.", "You are the internal knowledge bot of Northwind Logistics.",
    "You are a marketing copywriter with a playful tone.", "You are a data analyst. Show your reasoning with numbers.",
    "You are a clinical documentation assistant for physicians.", "Answer briefly. Use bullet points when helpful.",
    "Eres un asistente útil. Responde siempre en español.", "Du bist ein hilfreicher Assistent für ein Softwareteam.",
    "Tu es un assistant serviable et précis.", "Você é um assistente prestativo.", "あなたは親切なアシスタントです。",
    "你是一个乐于助人的助手。", "You are Sage, a meditation and wellbeing companion.", "You are a DevOps assistant with access to runbooks.",
    "You are a writing coach. Give constructive feedback.", "You are a travel planning assistant.", "You are an HR assistant for a 200-person company.",
    "You are an expert in European history.", "You are a game master for tabletop role-playing games.",
    "You are a product manager's assistant. Keep things actionable.", "System: tools disabled. Respond in plain text.",
]

# Earlier exchanges that are unrelated to the last request (context that must not decide).
EARLIER = [
    ("How do I center a div?", "Use flexbox on the parent: `display: flex; justify-content: center; align-items: center;`."),
    ("What's the capital of Portugal?", "Lisbon."), ("thanks!", "You're welcome! Anything else?"),
    ("Can you write a haiku about tea?", "Steam curls from the cup / a quiet green afternoon / the kettle's last sigh"),
    ("Solve 2x + 6 = 14", "x = 4."), ("hi", "Hi! How can I help you today?"),
    ("Translate 'good night' into Italian", "Buona notte."),
    ("Summarize the plot of Hamlet in one line.", "A Danish prince avenges his father's murder, and almost everyone dies."),
    ("I'm stressed about work", "I'm sorry to hear that. Do you want to talk about what's going on?"),
    ("Write a regex for digits only", "`^\\d+$`"), ("What causes inflation?", "Mainly demand outpacing supply, rising costs, and expectations."),
    ("Hola, ¿qué tal?", "¡Hola! Muy bien, ¿en qué te ayudo?"), ("Kannst du mir helfen?", "Klar, worum geht es?"),
    ("Je cherche une idée de cadeau", "Pour qui ? Je peux proposer quelques idées."),
    ("こんにちは", "こんにちは！何かお手伝いできることはありますか？"), ("帮我个忙", "当然，请说。"),
]

# Follow-ups whose deliverable is stated in the last message; the earlier turn sets the topic.
FOLLOW = {
    "translation": [("easy", "en", "Now translate that into {tl}."), ("easy", "en", "Can you give me the {tl} version too?"),
                    ("easy", "es", "¿Y ahora me lo pasas al inglés?"), ("easy", "de", "Kannst du das auch auf Französisch übersetzen?"),
                    ("medium", "en", "Great. Translate the whole thing into {tl}, keeping the formatting and a formal register."),
                    ("easy", "ja", "それを英語に訳してください。"), ("easy", "zh", "把上面的翻译成英文。"), ("easy", "fr", "Tu peux me le traduire en anglais ?")],
    "summarization": [("easy", "en", "tl;dr of what you just wrote?"), ("easy", "en", "Can you sum that up in one sentence?"),
                      ("medium", "en", "Summarise your answer in 3 bullets for my manager, keep the numbers."),
                      ("easy", "es", "Resúmelo en una frase, porfa."), ("easy", "de", "Fass das bitte in zwei Sätzen zusammen."),
                      ("easy", "ja", "今の内容を一文で要約して。"), ("easy", "zh", "把你刚才说的总结成三点。")],
    "writing": [("easy", "en", "Make it sound more formal."), ("easy", "en", "Rewrite it a bit friendlier, same length."),
                ("medium", "en", "Now turn this into an email to my team announcing it, around 150 words."),
                ("medium", "en", "Write a LinkedIn post based on that, upbeat but not cringey."),
                ("easy", "es", "Hazlo más formal, por favor."), ("medium", "de", "Schreib daraus eine kurze Rundmail ans Team.")],
    "code": [("medium", "en", "Now add error handling and logging to that function."), ("medium", "en", "Can you write unit tests for it?"),
             ("medium", "en", "Convert it to {plang}."), ("easy", "en", "How would I run that from the command line?"),
             ("medium", "es", "Ahora añádele pruebas unitarias."), ("medium", "de", "Kannst du das noch in {plang} umschreiben?"),
             ("hard", "en", "OK now make it production-grade: concurrency-safe, with retries, metrics, and a benchmark.")],
    "extraction": [("easy", "en", "From your answer, list just the dates."), ("medium", "en", "Pull the names and amounts from that into JSON."),
                   ("medium", "es", "Sácame de eso una tabla con nombres e importes.")],
    "math": [("medium", "en", "And what if the rate were 5% instead? Show the calculation."), ("easy", "en", "So what's that as a percentage?"),
             ("medium", "de", "Und wie sieht die Rechnung aus, wenn es 8 Personen sind?")],
    "reasoning": [("medium", "en", "But what if the second rule didn't apply? Would the conclusion change? Explain."),
                  ("medium", "en", "Does that still hold if Ben sits at the other end? Walk me through it.")],
    "research": [("medium", "en", "Interesting — why did that happen historically?"), ("medium", "en", "How does that compare with other countries?"),
                 ("easy", "en", "Who invented it, by the way?")],
    "chat": [("easy", "en", "haha thanks, you're great"), ("medium", "en", "ok I'm feeling a bit better now. thanks for listening, really"),
             ("easy", "es", "jaja gracias, eres lo más"), ("easy", "de", "Danke, das hat gutgetan :)"), ("easy", "fr", "Merci, ça m'a fait du bien !")],
}
PRIOR_FOR = {  # a plausible earlier exchange for a follow-up
    "any": [("Write a short welcome message for new members of our running club.",
             "Welcome to the Riverside Runners! Whether you're training for a marathon or just starting out, you'll find friendly faces every Tuesday and Saturday."),
            ("Write a Python function that returns the n-th Fibonacci number.",
             "```python\ndef fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n```"),
            ("What were the causes of the 1929 crash?",
             "Speculation on margin, overvalued stocks, weak banks and a fall in demand all played a part; the crash then deepened through bank failures."),
            ("Explain how compound interest works with an example.",
             "If you invest $1,000 at 5% a year, after one year you have $1,050; the next year's interest is computed on $1,050, and so on."),
            ("Our team meets on Monday to plan the launch: Ana handles press, Ben the website, and the budget is $12,000.",
             "Got it — Ana on press, Ben on the website, $12,000 budget. What would you like me to do with this?"),
            ("Tell me a fun fact.", "Octopuses have three hearts, and two of them stop beating when they swim."),
            ("I'm planning a seating puzzle for a party: 5 guests, Ana must sit next to Ben, Chen not next to Dara.",
             "One valid arrangement is Ana, Ben, Chen, Eli, Dara — want me to find all of them?")],
}

TASK_GENS = {"code": D.gen_code, "math": D.gen_math, "reasoning": D.gen_reasoning, "writing": D.gen_writing, "research": D.gen_research,
             "chat": D.gen_chat, "translation": D.gen_translation_inline, "extraction": D.gen_extraction_inline,
             "summarization": D.gen_summarization_inline}


def noun_for(r, kind, lang):
    table = C.NOUN.get(lang, C.NOUN["en"])
    return r.choice(table.get(kind, table.get("article", ["text"])))


def first_sentence(text):
    for line in text.split("\n"):
        line = line.strip()
        if len(line) > 20:
            for sep in (". ", "。", "! ", "? "):
                if sep in line:
                    return line.split(sep)[0] + sep.strip()
            return line[:160]
    return text[:160]


def layout(r, instr, material, kind):
    """Puts instruction and material together the way people paste things."""
    fence = kind in ("code", "sql", "log", "trace") and r.random() < 0.55
    body = material
    if fence:
        tag = r.choice(["", "python", "text", "log", "js", "sql"]) if kind in ("code", "sql") else r.choice(["", "text", "log"])
        body = f"```{tag}\n{material}\n```"
    elif kind not in ("code", "sql", "log", "trace", "csv") and r.random() < 0.2:
        body = r.choice(['"""\n{}\n"""', "---\n{}\n---", "<<<\n{}\n>>>", '"{}"']).format(material)
    elif r.random() < 0.06:
        body = "\n".join("> " + l for l in material.split("\n"))
    mode = r.random()
    if mode < 0.55:
        sep = r.choice(["\n\n", "\n", ":\n\n", "\n\n"])
        if sep.startswith(":") and instr.rstrip().endswith((":", "?", "：", "？", ".")):
            sep = "\n\n"
        return instr + sep + body
    if mode < 0.85:
        return body + "\n\n" + instr
    lead = r.choice(["Here's the {}:", "See below.", "Pasting it here:", "Context:"]).format(kind)
    return lead + "\n\n" + body + "\n\n" + instr


def maybe_smalltalk(r, text, lang, p=0.18):
    if r.random() < p and lang in SMALLTALK_PRE:
        text = r.choice(SMALLTALK_PRE[lang]) + (" " if r.random() < 0.5 else "\n") + text
    if r.random() < p * 0.8 and lang in SMALLTALK_POST:
        text = text + (" " if r.random() < 0.5 else "\n\n") + r.choice(SMALLTALK_POST[lang])
    return text


def wrap_conversation(r, text, p_sys=0.3, p_turns=0.2):
    msgs = []
    if r.random() < p_sys:
        msgs.append({"role": "system", "content": r.choice(SYSTEM)})
    if r.random() < p_turns:
        for _ in range(r.randint(1, 2)):
            u, a = r.choice(EARLIER)
            msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
    msgs.append({"role": "user", "content": text})
    return msgs


def all_materials(r):
    mats = list(M)
    for i in range(70):
        mats.append({"name": f"genlog{i}", "kind": "log", "lang": "en", "text": gen_log(r), "fields": ["timestamps", "error messages", "services"]})
    for i in range(50):
        mats.append({"name": f"gencsv{i}", "kind": "csv", "lang": "en", "text": gen_csv(r), "fields": ["rows", "names", "values"]})
    for i in range(40):
        code, _ = gen_code(r)
        mats.append({"name": f"gencode{i}", "kind": "sql" if code.startswith("SELECT") else "code", "lang": "en", "text": code,
                     "fields": ["function names", "variables"]})
    return mats


def compose_examples(r, n):
    mats = all_materials(r)
    by_task = {t: tpls for t, tpls in C.T.items()}
    weights = {"summarization": 2.2, "translation": 1.6, "extraction": 1.8, "code": 1.8, "writing": 1.0, "reasoning": 0.9, "math": 0.5, "chat": 0.25}
    tasks = list(weights)
    out = []
    tries = 0
    while len(out) < n and tries < n * 50:
        tries += 1
        task = r.choices(tasks, [weights[t] for t in tasks])[0]
        diff, lang, kinds, tpl = r.choice(by_task[task])
        if kinds == {"first_sentence"}:
            m = r.choice([x for x in mats if x["kind"] in C.PROSE])
            material = first_sentence(m["text"])
            kind = "sentence"
        else:
            cand = [x for x in mats if kinds == C.ALL or x["kind"] in kinds]
            if not cand:
                continue
            m = r.choice(cand)
            material, kind = m["text"], m["kind"]
        # target language: not the material's own language
        tls = [t for t in C.TARGET.get(lang, C.TARGET["en"])]
        tl = r.choice(tls)
        case_list = C.CASES.get(m["name"], C.CASES_DEFAULT)
        fields = ", ".join(r.sample(m["fields"], min(len(m["fields"]), r.randint(1, 3)))) if m["fields"] else "names, dates and amounts"
        instr = tpl.format(noun=noun_for(r, kind if kind != "sentence" else "article", lang), tl=tl, n=r.randint(3, 6), fields=fields,
                           aud=r.choice(C.AUD), case=r.choice(case_list), case2=r.choice(case_list), plang=r.choice(PLANG_NAMES))
        # LABELS.md: legal, medical and literary translation is hard whatever the template says
        if task == "translation" and diff == "medium" and kind in ("contract", "medical", "story", "policy"):
            diff = "hard"
        # multi-document summaries/extractions are hard
        if task in ("summarization", "extraction") and diff != "easy" and r.random() < 0.18:
            others = r.sample([x for x in mats if x["kind"] in C.PROSE and x is not m], 2)
            material = "\n\n".join([material] + [o["text"] for o in others])
            instr = r.choice(["Here are three documents. ", "I'm pasting several documents. ", ""]) + instr
            instr = instr.replace("this ", "these documents' ").replace("the " + noun_for(r, kind, "en"), "all the documents")
            diff = "hard"
        if kind == "sentence":
            text = instr + (" " if r.random() < 0.6 else "\n") + material
        else:
            text = layout(r, instr, material, kind)
        text = maybe_smalltalk(r, text, lang)
        out.append({"task": task, "difficulty": diff, "lang": lang, "messages": wrap_conversation(r, text, 0.25, 0.15),
                    "label": f"{task}/{diff} {lang} material={m['name']}"})
    return out


def direct_examples(r, n):
    weights = {"code": 1.3, "math": 1.0, "reasoning": 2.0, "writing": 1.3, "research": 1.3, "chat": 1.3, "translation": 0.9,
               "extraction": 0.6, "summarization": 0.5}
    tasks = list(weights)
    out, seen = [], set()
    tries = 0
    while len(out) < n and tries < n * 20:
        tries += 1
        task = r.choices(tasks, [weights[t] for t in tasks])[0]
        text, diff, lang = TASK_GENS[task](r)
        if task != "chat":
            text = maybe_smalltalk(r, text, lang, 0.12)
        key = (text, task)
        if key in seen:
            continue
        seen.add(key)
        out.append({"task": task, "difficulty": diff, "lang": lang, "messages": wrap_conversation(r, text, 0.25, 0.12), "label": f"{task}/{diff} {lang}"})
    return out


PUZZLE_IN_CHAT = {
    "en": ["haha good morning! btw my niece asked me this and I'm stumped: {p}", "ok random but I've been thinking about this all day lol: {p}",
           "hey hey 👋 settle something for me and my roommate: {p}", "Happy Friday!! quick brain teaser before the weekend: {p}"],
    "es": ["¡Buenas! Oye, mi sobrino me preguntó esto y no sé: {p}", "jaja hola, una adivinanza para el grupo: {p}"],
    "de": ["Hey! Mein Kollege hat mir heute dieses Rätsel gestellt: {p}", "Guten Morgen :) kleines Rätsel zum Wachwerden: {p}"],
    "fr": ["Coucou ! Mon fils m'a posé cette énigme : {p}"], "ja": ["こんにちは！友達に出されたなぞなぞがわからなくて…{p}"], "zh": ["早上好！朋友出了个谜题我想不出来：{p}"],
}
# (text, difficulty): small talk is easy; wanting to be heard about a hard day is medium.
MENTION_CHAT = {
    "en": [("ugh, spent the whole day translating manuals for work. I'm exhausted. how was your day?", "easy"),
           ("I had to summarise a 60-page report today and my brain is fried lol. anyway, what's new with you?", "easy"),
           ("my boss made me fix bugs all weekend and I'm so done. I just want to talk about anything else", "medium"),
           ("finally finished my maths homework 🎉 feels good. what should I do to celebrate?", "easy"),
           ("I wrote a poem for the first time in years today! felt nice. do you ever get that feeling of finishing something?", "easy"),
           ("lol my code finally compiled and I almost cried. programming is a rollercoaster. how's your day?", "easy"),
           ("I keep failing my coding interviews and I'm starting to feel like I'm not good enough. can we just talk?", "medium"),
           ("translated my grandma's old letters this week and it brought up a lot of feelings. I miss her. can we talk a bit?", "medium")],
    "es": [("Hoy me pasé el día traduciendo documentos y estoy muerta. ¿Qué tal tu día?", "easy")],
    "de": [("Ich hab heute den ganzen Tag Code debuggt und bin fix und fertig. Erzähl mir was Schönes.", "easy")],
    "fr": [("J'ai passé ma journée à rédiger des rapports, je suis épuisée. On papote un peu ?", "easy")],
}


# Puzzles for the small-talk wrapper: their own bank (not the direct generators'), so that
# leave-one-source-out on sw-dialog measures something.
DIALOG_PUZZLES = {
    "en": [("A farmer has 17 sheep; all but 9 run away. How many are left, and why do people get it wrong?", "easy"),
           ("If a red house is made of red bricks and a blue house of blue bricks, what is a greenhouse made of?", "easy"),
           ("Which weighs more, a kilo of steel or a kilo of feathers?", "easy"),
           ("You're in a race and overtake the person in second place. What place are you in now?", "easy"),
           ("There are three doors; behind one is a prize. I pick one, the host opens an empty one and offers a switch. Without any maths, can you explain intuitively why switching helps?", "medium"),
           ("Four people must cross a bridge at night with one torch; at most two at a time. They take 1, 2, 5 and 10 minutes. Can they all cross in 17 minutes? Explain the plan.", "medium"),
           ("A says B lies. B says C lies. C says A and B both lie. Who is telling the truth?", "medium"),
           ("Five houses in a row, each a different colour. The green one is right of the white one, the red one is in the middle, the blue one is at an end next to the yellow one. What order are they in?", "medium"),
           ("A man looks at a photo and says: 'That man's son is my father's son, and I have no brothers.' Who is in the photo?", "medium"),
           ("A prisoner must choose between two doors guarded by one liar and one truth-teller, with one question. What should he ask, and why does it work?", "medium")],
    "es": [("Un granjero tiene 17 ovejas y se le escapan todas menos 9. ¿Cuántas le quedan?", "easy"),
           ("Tres interruptores abajo, una bombilla arriba y solo puedes subir una vez. ¿Cómo sabes cuál la enciende?", "medium")],
    "de": [("Wenn du in einem Rennen den Zweiten überholst, auf welchem Platz bist du dann?", "easy"),
           ("Drei Schalter unten, eine Lampe oben, du darfst nur einmal hochgehen. Wie findest du den richtigen Schalter?", "medium")],
    "fr": [("Un fermier a 17 moutons, tous sauf 9 s'enfuient. Combien lui en reste-t-il ?", "easy"),
           ("Quatre personnes doivent traverser un pont la nuit avec une seule lampe. Comment font-elles en 17 minutes ?", "medium")],
    "ja": [("競争で2位の人を抜いたら何位になる？", "easy"), ("正直者と嘘つきが一人ずつ守る二つの扉があり、質問は一回だけ。何と聞けばいい？", "medium")],
    "zh": [("赛跑中你超过了第二名，你现在是第几名？", "easy"), ("三个开关在楼下，一盏灯在楼上，只能上楼一次，怎么知道哪个开关控制灯？", "medium")],
}


def dialog_examples(r, n):
    out = []
    while len(out) < n:
        kind = r.random()
        if kind < 0.55:
            task = r.choice(list(FOLLOW))
            diff, lang, tpl = r.choice(FOLLOW[task])
            text = tpl.format(tl=r.choice(["German", "Spanish", "French", "Japanese", "Italian"]), plang=r.choice(PLANG_NAMES))
            u, a = r.choice(PRIOR_FOR["any"])
            msgs = []
            if r.random() < 0.4:
                msgs.append({"role": "system", "content": r.choice(SYSTEM)})
            msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}, {"role": "user", "content": text}]
            out.append({"task": task, "difficulty": diff, "lang": lang, "messages": msgs, "label": f"follow-up {task}"})
        elif kind < 0.72:
            lang = r.choice(list(PUZZLE_IN_CHAT))
            p, diff = r.choice(DIALOG_PUZZLES[lang] if lang in DIALOG_PUZZLES else DIALOG_PUZZLES["en"])
            text = r.choice(PUZZLE_IN_CHAT[lang]).format(p=p)
            out.append({"task": "reasoning", "difficulty": diff, "lang": lang, "messages": wrap_conversation(r, text, 0.3, 0.3),
                        "label": "puzzle in small talk"})
        else:
            lang = r.choice(list(MENTION_CHAT))
            text, cdiff = r.choice(MENTION_CHAT[lang])
            out.append({"task": "chat", "difficulty": cdiff, "lang": lang,
                        "messages": wrap_conversation(r, text, 0.3, 0.3), "label": "chat mentioning a task"})
    return out


def write(name, exs):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for i, e in enumerate(exs):
            msgs = e["messages"]
            rec = {"id": f"{name}-{i:05d}", "prompt": msgs[-1]["content"], "source": name, "source_label": e["label"],
                   "task": e["task"], "difficulty": e["difficulty"], "lang": e["lang"]}
            if len(msgs) > 1:
                rec["messages"] = msgs
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


def main():
    r = random.Random(20250601)
    write("sw-compose", compose_examples(r, 5500))
    write("sw-direct", direct_examples(r, 7000))
    write("sw-dialog", dialog_examples(r, 2500))


if __name__ == "__main__":
    main()

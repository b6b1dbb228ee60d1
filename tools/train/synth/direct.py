"""Requests without pasted material: code questions, maths problems, puzzles, writing briefs,
knowledge questions, conversation, short inline translations and extractions. Every generator
returns (text, difficulty, language). Hand-written for the training set only.
"""
import random

PLANGS = ["Python", "JavaScript", "TypeScript", "Go", "Rust", "Java", "C#", "Kotlin", "Ruby", "PHP", "C", "C++", "Swift", "Bash", "SQL"]

# ------------------------------------------------------------------ code

CODE_EASY_EN = [
    "How do I reverse a string in {pl}?",
    "how to check if a key exists in a dictionary {pl}",
    "What's the syntax for a for loop in {pl}?",
    "In {pl}, how do I read a file line by line?",
    "How do I convert a string to an integer in {pl}?",
    "How can I get the current date and time in {pl}?",
    "what does `{snippet}` mean in {pl}?",
    "Write a one-line {pl} expression that removes duplicates from a list.",
    "git: how do I {gitop}?",
    "What's the command to {shellop} on Linux?",
    "Regex to match {rx}?",
    "How do I {npmop} with npm?",
    "In SQL, how do I select rows where a column is NULL?",
    "How do I print without a newline in {pl}?",
    "What is the difference between a list and a tuple in Python?",
    "How do I make an HTTP GET request in {pl}? Simplest way.",
    "What's the keyboard shortcut in VS Code to {vsop}?",
    "How do I exit vim?",
    "How do I install a specific version of a package with pip?",
    "What does the `{kw}` keyword do in {pl}?",
]
GITOPS = ["undo the last commit", "rename a branch", "delete a remote branch", "see the diff of staged changes", "stash only one file",
          "change the last commit message", "list all tags", "discard local changes to a file", "cherry-pick a commit"]
SHELLOPS = ["find files larger than 100 MB", "count lines in all .py files", "see which process uses port 8080", "show disk usage per folder",
            "replace a word in every file of a folder", "extract a .tar.gz archive", "follow a log file as it grows", "make a script executable"]
RX = ["an email address", "a UK postcode", "an ISO date like 2024-05-01", "a hex colour code", "a semantic version number", "an IPv4 address",
      "words that start with a capital letter"]
NPMOPS = ["update all packages", "list outdated packages", "remove a package", "run a script from package.json", "clear the cache"]
VSOPS = ["duplicate a line", "open the command palette", "rename a symbol everywhere", "toggle the terminal"]
KWS = ["yield", "static", "defer", "async", "const", "final", "volatile", "lambda", "self", "mut"]
SNIPPETS = ["x ??= 5", "a, *rest = items", "arr.map(Number)", "let _ = f()", "if err != nil", "?.", "**kwargs", "=>"]

# Explanations of software in prose, no code asked for (LABELS.md: explaining software is code).
CODE_EXPLAIN_EN = ["Explain {algo}.", "How does {algo} work?", "Can you explain {concept} in {pl}?", "What's the time complexity of {algo}, and why?",
                   "explain {algo} like I'm a junior dev", "Why would I use {algo} instead of a simpler approach?", "What problem does {algo} solve?",
                   "In plain words, what are {concept}?", "When should I reach for {concept} in {pl}?", "What's the idea behind {algo}? No code needed.",
                   "How do {concept} work under the hood in {pl}?", "Is {algo} stable, and what does that mean?"]
CODE_EXPLAIN_ML = {"es": ["Explícame {algo}.", "¿Cómo funciona {algo}?", "¿Qué son {concept_es} en {pl}?"],
                   "de": ["Erklär mir {algo}.", "Wie funktioniert {algo}?", "Was sind {concept_de} in {pl}?"],
                   "fr": ["Explique-moi {algo}.", "Comment fonctionne {algo} ?"], "pt": ["Me explica {algo}.", "Como funciona {algo}?"],
                   "it": ["Spiegami {algo}.", "Come funziona {algo}?"], "ja": ["{algo}を説明してください。", "{algo}の仕組みは？"],
                   "zh": ["解释一下{algo}。", "{algo}是怎么工作的？"]}

CODE_MED_SPECS = [
    "parses a CSV of transactions and returns the total per category, ignoring malformed rows",
    "implements an LRU cache with get and put in O(1)",
    "validates an IBAN and returns a helpful error message",
    "retries an HTTP call with exponential backoff and jitter, up to 5 attempts",
    "paginates through a REST API that returns a `next` cursor and yields every item",
    "merges overlapping time intervals",
    "computes the diff between two JSON objects and lists changed paths",
    "reads a large log file in chunks and counts requests per status code",
    "debounces a function call",
    "converts a nested dictionary into dotted keys",
    "implements a rate limiter that allows N calls per minute per user",
    "renames photos by their date taken, skipping duplicates",
    "schedules tasks with dependencies (topological sort) and detects cycles",
    "uploads files to S3 in parallel with a limit of 4 concurrent uploads",
    "implements a trie with insert, search and prefix listing",
    "sends a Slack message when a cron job fails",
    "parses command-line flags with subcommands",
    "tails a file and emits new lines as events",
]
CODE_MED_EN = [
    "Write a {pl} function that {spec}. Include a couple of tests.",
    "Can you write {pl} code that {spec}?",
    "I need a {pl} class that {spec}. Keep it clean and documented.",
    "Implement something in {pl} that {spec}, with error handling.",
    "How would I write a function that {spec} in {pl}? Show the code.",
    "Explain how {algo} works and implement it in {pl}.",
    "Explain {concept} in {pl} with a small example.",
    "What's the difference between {cx} and {cy}? Show code for both.",
    "Write a Dockerfile for a {app} app that builds in one stage and runs in a slim image as non-root.",
    "Write a GitHub Actions workflow that runs tests for a {app} project on every pull request and caches dependencies.",
    "My {pl} program gets slower the longer it runs. How do I find a memory leak? Walk me through the tools.",
    "How do I set up {tool} for a {app} project? Step by step with config.",
    "Write a SQL query that returns, for each customer, their most recent order and its total, using window functions.",
    "Write a bash script that backs up a Postgres database daily, keeps 7 copies, and logs failures.",
    "How do I write a custom React hook that fetches data and cancels the request on unmount?",
    "Write a Kubernetes Deployment and Service for a web app with 3 replicas, health checks and resource limits.",
]
ALGOS = ["quicksort", "binary search", "Dijkstra's algorithm", "a bloom filter", "merge sort", "consistent hashing", "A* search",
         "the two-pointer technique", "dynamic programming for the knapsack problem", "union-find", "a ring buffer", "rate limiting with a token bucket"]
CONCEPTS = ["closures", "generics", "async/await", "dependency injection", "decorators", "interfaces", "pattern matching", "ownership and borrowing",
            "the event loop", "goroutines and channels", "virtual threads", "immutability"]
CXY = [("a process", "a thread"), ("TCP", "UDP"), ("a mutex", "a semaphore"), ("REST", "GraphQL"), ("an abstract class", "an interface"),
       ("SQL JOIN", "a subquery"), ("git merge", "git rebase"), ("a Docker image", "a container"), ("let", "var"), ("== and is", "equals")]
APPS = ["Node.js", "Django", "Flask", "Spring Boot", "Go", "Rails", "Next.js", "FastAPI", "Laravel", "Rust"]
TOOLS = ["ESLint and Prettier", "pytest with coverage", "pre-commit hooks", "Jest with TypeScript", "a Makefile", "Docker Compose", "Poetry", "Vite"]

CODE_HARD_EN = [
    "Design and implement a {sys} in {pl}. Requirements: {req1}, {req2}, and {req3}. Provide the architecture, the core code, and tests.",
    "Build a production-ready {sys} in {pl} that supports {req1} and {req2}. Explain the trade-offs and include a benchmark harness.",
    "I need a complete {sys}: {req1}; {req2}; {req3}. Write it in {pl} with a clear module structure and failure-injection tests.",
    "Propose the architecture for a {sys} handling {scale}, then implement the critical path in {pl} with {req1} and {req2}.",
    "Write a {pl} implementation of a {sys} with {req1}, {req2} and {req3}, and prove (or test exhaustively) its correctness under concurrency.",
]
SYSTEMS = ["distributed job queue", "multi-tenant rate limiter", "event-sourced order service", "real-time collaborative editor backend",
           "log ingestion pipeline", "feature-flag service", "payment reconciliation engine", "distributed cache", "search indexer",
           "workflow orchestration engine", "chat server with presence", "time-series database storage engine", "compiler front end for a small language",
           "garbage collector for a toy runtime", "consensus-based configuration store", "web crawler with politeness rules"]
REQS = ["exactly-once processing", "horizontal scaling to 20 nodes", "p99 latency under 5 ms", "zero-downtime schema migrations",
        "idempotent retries", "multi-region failover", "pluggable storage backends", "back-pressure", "at-rest encryption",
        "strict tenant isolation", "snapshotting and log compaction", "deterministic replay for debugging", "lock-free hot path",
        "graceful degradation when a dependency is down"]
SCALES = ["100k events per second", "50 million users", "10 TB of data per day", "2,000 tenants", "1 million concurrent connections"]

CODE_ML = {
    "es": (["¿Cómo invierto una cadena en {pl}?", "¿Cómo leo un archivo JSON en {pl}?", "¿Qué comando de git sirve para {gitop_es}?",
            "¿Cómo elimino duplicados de una lista en {pl}?"],
           ["Escribe una función en {pl} que {spec_es}, con pruebas.", "Explícame cómo funciona {algo} y escríbelo en {pl}.",
            "Mi aplicación en {pl} va cada vez más lenta, ¿cómo encuentro la fuga de memoria?",
            "Necesito un Dockerfile para una app {app} con build multietapa."],
           ["Diseña e implementa en {pl} un {sys_es} con {req_es}, con pruebas de fallos y la arquitectura completa.",
            "Necesito la arquitectura completa y el código de un {sys_es} en {pl}: {req_es}; además, migraciones sin parada y pruebas de carga.",
            "Escribe en {pl} un {sys_es} listo para producción ({req_es}), explica los compromisos de diseño e incluye un banco de pruebas."]),
    "de": (["Wie kehre ich in {pl} eine Liste um?", "Wie lese ich in {pl} eine Datei zeilenweise?", "Welcher git-Befehl {gitop_de}?"],
           ["Schreib eine {pl}-Funktion, die {spec_de}, inklusive Tests.", "Erklär mir {algo} und implementiere es in {pl}.",
            "Wie richte ich {tool} in einem {app}-Projekt ein?"],
           ["Entwirf und implementiere in {pl} ein {sys_de} mit {req_de}; inklusive Architektur und Fehlerinjektions-Tests.",
            "Ich brauche ein produktionsreifes {sys_de} in {pl}: {req_de}, horizontale Skalierung und Benchmarks. Bitte Architektur, Kerncode und Tests.",
            "Baue in {pl} ein {sys_de} ({req_de}) und beweise bzw. teste die Korrektheit unter Nebenläufigkeit."]),
    "fr": (["Comment inverser une chaîne en {pl} ?", "Quelle est la commande git pour {gitop_fr} ?"],
           ["Écris une fonction {pl} qui {spec_fr}, avec des tests.", "Explique-moi {algo} et code-le en {pl}."],
           ["Conçois et implémente en {pl} un {sys_fr} avec {req_fr}, architecture et tests compris.",
            "Il me faut un {sys_fr} prêt pour la production en {pl} : {req_fr}, montée en charge horizontale et tests d'injection de pannes."]),
    "pt": (["Como inverto uma string em {pl}?", "Como listo os arquivos de uma pasta em {pl}?"],
           ["Escreva uma função em {pl} que {spec_pt}, com testes.", "Me explica como funciona {algo} e implementa em {pl}."],
           ["Projete e implemente em {pl} um {sys_pt} com {req_pt}, com arquitetura e testes de falha.",
            "Preciso de um {sys_pt} pronto para produção em {pl}: {req_pt}, migrações sem downtime e benchmarks."]),
    "it": (["Come inverto una stringa in {pl}?", "Qual è il comando git per vedere la cronologia?"],
           ["Scrivi una funzione {pl} che {spec_it}, con i test.", "Spiegami {algo} e implementalo in {pl}."],
           ["Progetta e implementa in {pl} un sistema di code distribuito con elaborazione exactly-once, failover multi-regione e test di guasto."]),
    "ja": (["{pl}で文字列を反転する方法は？", "{pl}でファイルを1行ずつ読むには？"],
           ["{pl}で{spec_ja}関数を書いてください。テストも付けて。", "{algo}の仕組みを説明して、{pl}で実装してください。"],
           ["{pl}で{sys_ja}を設計・実装してください。要件：{req_ja}。アーキテクチャとテストも含めて。",
            "本番運用できる{sys_ja}を{pl}で作りたいです。{req_ja}を満たし、負荷試験と障害注入テストも含めて設計とコードをお願いします。"]),
    "zh": (["{pl}里怎么反转字符串？", "{pl}怎么读取JSON文件？"],
           ["用{pl}写一个函数，{spec_zh}，并附上测试。", "解释一下{algo}的原理，并用{pl}实现。"],
           ["用{pl}设计并实现一个{sys_zh}，要求：{req_zh}。给出架构、核心代码和故障测试。",
            "我需要一个可上生产的{sys_zh}（{pl}实现）：{req_zh}，支持水平扩展和零停机迁移，请给出完整设计、代码和压测方案。"]),
}
ML_FILL = {
    "gitop_es": ["deshacer el último commit", "cambiar de rama", "ver el historial"], "gitop_de": ["macht den letzten Commit rückgängig", "zeigt die Historie"],
    "gitop_fr": ["annuler le dernier commit", "changer de branche"],
    "spec_es": ["agrupe transacciones por categoría", "valide un NIF", "reintente una petición HTTP con backoff"],
    "spec_de": ["eine IBAN prüft", "überlappende Intervalle zusammenführt", "eine CSV-Datei nach Kategorie summiert"],
    "spec_fr": ["fusionne des intervalles qui se chevauchent", "valide une adresse e-mail", "compte les mots d'un fichier"],
    "spec_pt": ["valide um CPF", "agrupe vendas por mês", "faça retry com backoff exponencial"],
    "spec_it": ["calcoli il codice fiscale", "unisca intervalli sovrapposti"],
    "spec_ja": ["CSVを読み込んでカテゴリ別に合計する", "重複を除去する", "指数バックオフで再試行する"],
    "spec_zh": ["读取CSV并按类别汇总", "实现LRU缓存", "带指数退避的重试"],
    "sys_es": ["sistema de colas distribuido", "limitador de peticiones multiusuario"], "sys_de": ["verteiltes Job-System", "Event-Sourcing-Bestellservice"],
    "sys_fr": ["moteur de réconciliation de paiements", "cache distribué"], "sys_pt": ["orquestrador de workflows", "pipeline de ingestão de logs"],
    "sys_ja": ["分散ジョブキュー", "マルチテナント対応のレート制限サービス"], "sys_zh": ["分布式任务队列", "多租户限流服务"],
    "req_es": ["procesamiento exactamente una vez y conmutación entre regiones"], "req_de": ["genau-einmal-Verarbeitung und Mandantentrennung"],
    "req_fr": ["traitement exactement une fois et reprise après panne"], "req_pt": ["processamento exatamente uma vez e escalabilidade horizontal"],
    "req_ja": ["厳密に一回だけの処理、マルチリージョン対応、p99レイテンシ5ms以下"], "req_zh": ["精确一次处理、多区域容灾、p99延迟低于5毫秒"],
}


def _fill(r, s, extra=None):
    d = {"pl": r.choice(PLANGS), "gitop": r.choice(GITOPS), "shellop": r.choice(SHELLOPS), "rx": r.choice(RX), "npmop": r.choice(NPMOPS),
         "vsop": r.choice(VSOPS), "kw": r.choice(KWS), "snippet": r.choice(SNIPPETS), "spec": r.choice(CODE_MED_SPECS),
         "algo": r.choice(ALGOS), "concept": r.choice(CONCEPTS), "app": r.choice(APPS), "tool": r.choice(TOOLS),
         "sys": r.choice(SYSTEMS), "scale": r.choice(SCALES)}
    cx, cy = r.choice(CXY)
    d["cx"], d["cy"] = cx, cy
    a, b, c = r.sample(REQS, 3)
    d["req1"], d["req2"], d["req3"] = a, b, c
    for k, v in ML_FILL.items():
        d[k] = r.choice(v)
    if extra:
        d.update(extra)
    return s.format(**d)


def gen_code(r):
    lang = r.choices(["en", "es", "de", "fr", "pt", "it", "ja", "zh"], [10, 2, 2, 1.5, 1.5, 0.7, 1.5, 1.5])[0]
    if r.random() < 0.15:
        # explanation of an algorithm or language feature
        pool = CODE_EXPLAIN_EN if lang == "en" else CODE_EXPLAIN_ML[lang]
        t = _fill(r, r.choice(pool), {"concept_es": r.choice(["los closures", "los genéricos", "las corrutinas"]),
                                      "concept_de": r.choice(["Closures", "Generics", "Koroutinen"])})
        return t, "medium", lang  # an explanation (LABELS.md: explanatory = medium)
    diff = r.choices(["easy", "medium", "hard"], [1, 1.2, 1])[0]
    if lang == "en":
        pool = {"easy": CODE_EASY_EN, "medium": CODE_MED_EN, "hard": CODE_HARD_EN}[diff]
    else:
        e, m, h = CODE_ML[lang]
        pool = {"easy": e, "medium": m, "hard": h}[diff] or m
        if not {"easy": e, "medium": m, "hard": h}[diff]:
            diff = "medium"
    return _fill(r, r.choice(pool)), diff, lang


# ------------------------------------------------------------------ math

def gen_math(r):
    lang = r.choices(["en", "es", "de", "fr", "pt", "it", "ja", "zh"], [10, 2, 2, 1.5, 1.5, 0.8, 1.5, 1.5])[0]
    diff = r.choices(["easy", "medium", "hard"], [1, 1.2, 1])[0]
    if diff == "easy":
        return _math_easy(r, lang), diff, lang
    if diff == "medium":
        return _math_medium(r, lang), diff, lang
    return _math_hard(r, lang), diff, lang


def _math_easy(r, lang):
    a, b = r.randint(12, 99), r.randint(3, 49)
    p, x = r.choice([5, 10, 15, 20, 25, 30, 40]), r.randint(20, 900)
    k, c = r.randint(2, 9), r.randint(1, 30)
    tpl = {
        "en": [f"What is {a} × {b}?", f"what's {p}% of {x}", f"Solve {k}x + {c} = {k*5+c}.", f"Is {a*b+1} divisible by 3?",
               f"Convert {x} minutes to hours and minutes.", f"What is {a}/{b} as a decimal, rounded to two places?",
               f"A shirt costs ${x} and is {p}% off. What's the sale price?", f"If I buy {k} coffees at ${a/20:.2f} each, how much do I pay?",
               f"What's the square root of {k*k*4}?", f"Simplify the fraction {k*6}/{k*9}.", f"What's {a} squared?",
               f"I walk {k} km in {k*12} minutes. What's my speed in km/h?", f"quick maths: {a}+{b}*{k}?"],
        "es": [f"¿Cuánto es {a} por {b}?", f"¿Cuál es el {p}% de {x}?", f"Resuelve {k}x + {c} = {k*5+c}.", f"Si compro {k} panes a {a/40:.2f} € cada uno, ¿cuánto pago?"],
        "de": [f"Was ist {a} mal {b}?", f"Wie viel sind {p} % von {x}?", f"Löse {k}x + {c} = {k*5+c}.", f"Rechne {x} Minuten in Stunden um."],
        "fr": [f"Combien font {a} fois {b} ?", f"Combien fait {p} % de {x} ?", f"Résous {k}x + {c} = {k*5+c}."],
        "pt": [f"Quanto é {a} vezes {b}?", f"Quanto é {p}% de {x}?", f"Resolva {k}x + {c} = {k*5+c}."],
        "it": [f"Quanto fa {a} per {b}?", f"Quanto è il {p}% di {x}?"],
        "ja": [f"{a}×{b}はいくつですか？", f"{x}の{p}%はいくらですか？", f"{k}x + {c} = {k*5+c} を解いてください。"],
        "zh": [f"{a}乘以{b}等于多少？", f"{x}的{p}%是多少？", f"解方程 {k}x + {c} = {k*5+c}。"],
    }[lang]
    return r.choice(tpl)


def _math_medium(r, lang):
    a, b, c = r.randint(2, 9), r.randint(2, 9), r.randint(10, 90)
    n, m = r.randint(3, 8), r.randint(2, 6)
    P, rate, yrs = r.choice([1000, 2500, 5000, 12000]), r.choice([3, 4, 5, 6, 7]), r.randint(2, 10)
    f = r.choice(["x^3 - 4x^2 + 2x", "x e^x", "sin(x) cos(x)", "ln(x^2 + 1)", "(2x + 1)/(x - 3)", "x^2 e^(-x)", "sqrt(1 + x^2)"])
    tpl = {
        "en": [f"A train leaves at 9:00 going {c} km/h; another leaves the same station at 10:00 going {c+20} km/h. When does the second catch up? Show the steps.",
               f"Find the derivative of f(x) = {f} and simplify.", f"Compute the integral of {f} dx. Show the method.",
               f"What's the probability of getting exactly {m} heads in {n+3} fair coin flips?",
               f"I invest ${P} at {rate}% compounded annually for {yrs} years. How much do I have? Show the formula.",
               f"Solve the system: {a}x + {b}y = {c}, {b}x - {a}y = {a+b}.",
               f"A box has {n} red and {m} blue balls. Two are drawn without replacement. What's the probability both are red?",
               f"Find the eigenvalues of the matrix [[{a}, {b}], [{b}, {a}]].",
               f"Mixing {a} litres of {c}% juice with {b} litres of pure water gives what concentration?",
               f"How many ways can {n+2} people sit around a round table?",
               f"The sides of a triangle are {a+3}, {b+4} and {a+b+2}. Find its area with Heron's formula.",
               f"A population grows from {P} to {P*2} in {yrs} years. What's the annual growth rate, assuming exponential growth?",
               f"Find the expected value and variance of the number shown on a fair {2*n}-sided die.",
               f"So my kid's homework: a pool is filled by one pipe in {a+2} hours and by another in {b+3} hours. Together, how long? Can you show the working?"],
        "es": [f"Calcula la derivada de f(x) = {f} paso a paso.", f"Un capital de {P} € al {rate}% anual compuesto durante {yrs} años, ¿en cuánto se convierte?",
               f"¿Cuál es la probabilidad de sacar exactamente {m} caras en {n+3} lanzamientos? Explica el cálculo."],
        "de": [f"Berechne das Integral von {f} dx mit Rechenweg.", f"Ein Kapital von {P} € wird {yrs} Jahre zu {rate} % verzinst. Wie hoch ist es am Ende?",
               f"Wie groß ist die Wahrscheinlichkeit, mit zwei Würfeln die Augensumme {a+b} zu werfen?"],
        "fr": [f"Calcule la dérivée de f(x) = {f} en détaillant.", f"Quelle est la probabilité d'obtenir exactement {m} piles en {n+3} lancers ?"],
        "pt": [f"Calcule a integral de {f} dx, mostrando o método.", f"Um capital de R$ {P} a {rate}% ao ano por {yrs} anos rende quanto em juros compostos?"],
        "it": [f"Calcola la derivata di f(x) = {f} spiegando i passaggi."],
        "ja": [f"f(x) = {f} を微分してください。途中式も。", f"{n}個の赤玉と{m}個の青玉から2個取り出すとき、両方赤の確率は？"],
        "zh": [f"求函数 f(x) = {f} 的导数，写出过程。", f"本金{P}元，年利率{rate}%，复利{yrs}年后本息合计多少？"],
    }[lang]
    return r.choice(tpl)


PROOFS_EN = ["there are infinitely many primes of the form 6k + 5", "the square root of 3 is irrational", "n^3 - n is divisible by 6 for every integer n",
             "every tree with n vertices has n - 1 edges", "the harmonic series diverges", "a group of prime order is cyclic",
             "for positive reals a, b: (a + b)/2 >= sqrt(ab), with equality iff a = b", "the sum of the first n odd numbers is n^2",
             "e is irrational", "every continuous function on [a, b] attains a maximum", "there is no largest prime",
             "the product of two consecutive integers is even", "a planar graph has a vertex of degree at most 5",
             "the determinant of an orthogonal matrix is ±1", "x^2 + y^2 = 3 has no rational solutions",
             "among any n + 1 integers two have a difference divisible by n", "2^n > n^2 for all n >= 5", "the set of real numbers is uncountable"]
HARD_PROBLEMS_EN = ["Find all integers n such that n^2 + 19n + 92 is a perfect square.",
                    "Find all functions f: N → N with f(f(n)) + f(n) = 2n + 3 for all n.",
                    "Let x, y, z > 0 with xyz = 1. Prove that x^2 + y^2 + z^2 >= x + y + z.",
                    "Determine the number of lattice paths from (0,0) to (n,n) that never go above the diagonal, and prove the formula.",
                    "Evaluate the sum of 1/(k(k+1)(k+2)) for k from 1 to infinity and prove it.",
                    "Prove that the equation x^4 + y^4 = z^2 has no solutions in positive integers.",
                    "A sequence satisfies a_1 = 1 and a_{n+1} = a_n + 1/a_n. Prove that a_100 > 14.",
                    "Compute the limit of (1 + 1/n^2)(1 + 2/n^2)...(1 + n/n^2) as n goes to infinity, with proof."]


def _math_hard(r, lang):
    s = r.choice(PROOFS_EN)
    tpl = {
        "en": [f"Prove that {s}.", f"Give a rigorous proof that {s}.", f"Show that {s}. Be careful with every step.",
               r.choice(HARD_PROBLEMS_EN), r.choice(HARD_PROBLEMS_EN) + " Justify every step.",
               f"Can you walk me through a complete proof that {s}? I want it rigorous enough for an exam."],
        "es": [f"Demuestra que {s}.", "Demuestra que hay infinitos números primos.", "Demuestra rigurosamente que la raíz cuadrada de 5 es irracional.",
               "Encuentra todas las funciones f: R → R tales que f(x + y) = f(x) + f(y) y f es continua, con demostración completa."],
        "de": [f"Beweise, dass {s}.", "Beweise, dass es unendlich viele Primzahlen gibt.", "Zeige streng, dass die Folge 1/n gegen 0 konvergiert.",
               "Bestimme alle ganzen Zahlen n, für die n^2 + 1 durch n + 1 teilbar ist, und beweise die Vollständigkeit."],
        "fr": [f"Démontre que {s}.", "Montre que racine de 2 est irrationnelle.", "Démontrer que toute suite réelle bornée admet une sous-suite convergente."],
        "pt": [f"Prove que {s}.", "Demonstre que existem infinitos primos.", "Prove por indução que 1 + 2 + ... + n = n(n+1)/2 e generalize para somas de quadrados."],
        "it": [f"Dimostra che {s}.", "Dimostra che la radice di 2 è irrazionale."],
        "ja": ["√3が無理数であることを証明してください。", "素数が無限に存在することを証明してください。", "任意の整数nについてn³−nが6で割り切れることを証明せよ。"],
        "zh": ["证明√3是无理数。", "证明素数有无穷多个。", "证明：对任意正整数n，n³−n能被6整除。", "求所有满足 f(x+y)=f(x)+f(y) 的连续函数，并给出严格证明。"],
    }[lang]
    return r.choice(tpl)


# ------------------------------------------------------------------ reasoning

NAMES = ["Alice", "Bruno", "Chloé", "Deepak", "Eva", "Farid", "Greta", "Hugo", "Ines", "Jamal", "Kira", "Luca", "Maya", "Nils", "Omar", "Priya"]
RIDDLES_EN = ["What has keys but can't open locks?", "The more you take, the more you leave behind. What am I?",
              "A man pushes his car to a hotel and tells the owner he's bankrupt. Why?",
              "What can travel around the world while staying in a corner?",
              "If you have me, you want to share me. If you share me, you don't have me. What am I?",
              "Two fathers and two sons go fishing and catch three fish, one each. How?",
              "What gets wetter the more it dries?", "I speak without a mouth and hear without ears. What am I?"]
RIDDLES_ML = {"es": ["¿Qué tiene dientes pero no muerde?", "Blanco por dentro, verde por fuera; si quieres que te lo diga, espera. ¿Qué es?"],
              "de": ["Was hat Hände, aber kann nicht klatschen?", "Welches Tier hat im Winter kalte Füße und im Sommer auch?"],
              "fr": ["Qu'est-ce qui a des dents mais ne mange jamais ?", "Plus j'ai de gardiens, moins je suis gardé. Qui suis-je ?"],
              "pt": ["O que é, o que é: quanto mais se tira, maior fica?"], "it": ["Cosa ha le chiavi ma non apre nessuna porta?"],
              "ja": ["なぞなぞ：パンはパンでも食べられないパンは？", "上は大水、下は大火事、これなーんだ？"],
              "zh": ["猜个谜语：什么东西越洗越脏？", "一个人从飞机上跳下来却没受伤，为什么？"]}
RULE_SETS = [
    (["members can bring at most two guests", "guests must be accompanied at all times", "no guests on tournament days"],
     ["a member brings three guests on a normal day", "a guest plays alone while the member is in the café", "a member brings one guest on a tournament day"]),
    (["orders over €50 ship free", "express shipping costs €9 unless the customer has Premium", "Premium does not apply to furniture"],
     ["a Premium customer orders a €40 lamp with express shipping", "a €120 sofa ordered with express by a Premium customer"]),
    (["an employee may work from home up to 2 days a week", "new hires in their first month must be in the office", "team leads may approve a third day in exceptional cases"],
     ["a three-week new hire asks for one home-office day", "a senior engineer wants 3 days with her lead's approval"]),
    (["a student passes if the average is at least 10", "no single exam may be below 6", "one resit is allowed per exam, and the best grade counts"],
     ["grades 14, 5 and 12, with a resit of the 5 scoring 7", "grades 9, 9, 13 without resits"]),
]
CAUSAL = ["A bakery's sales dropped after it raised prices, a new café opened across the street, and the street was under construction for two months. Which factors can we say caused the drop from these facts alone, and what would distinguish them?",
          "Two pipes burst in a building the night the heating failed and the temperature fell to -12 °C; one pipe was already corroded. Analyse which conditions were necessary or sufficient for each burst.",
          "A team missed a deadline: the spec changed late, a key engineer was ill for a week, and the CI system was down for two days. Reason about what would have happened if each had not occurred.",
          "A patient improved after starting a new medication, but she also began physiotherapy and the season changed. What can and can't be concluded?"]


def _order_puzzle(r, k, lang):
    ppl = r.sample(NAMES, k)
    order = ppl[:]
    r.shuffle(order)
    clues = []
    for i in range(k - 1):
        clues.append(f"{order[i]} finished before {order[i+1]}")
    r.shuffle(clues)
    if lang == "en":
        return f"In a race, {', '.join(clues)}. Who finished last, and what is the full order?"
    if lang == "es":
        return "En una carrera: " + "; ".join(c.replace("finished before", "llegó antes que") for c in clues) + ". ¿En qué orden llegaron?"
    if lang == "de":
        return "Bei einem Rennen gilt: " + "; ".join(c.replace("finished before", "war vor") for c in clues) + ". In welcher Reihenfolge kamen sie an?"
    if lang == "fr":
        return "Dans une course : " + "; ".join(c.replace("finished before", "est arrivé avant") for c in clues) + ". Quel est l'ordre d'arrivée ?"
    return f"In a race, {', '.join(clues)}. Who finished last?"


def gen_reasoning(r):
    if r.random() < 0.65:
        from . import reasoning
        return reasoning.gen(r)
    lang = r.choices(["en", "es", "de", "fr", "pt", "it", "ja", "zh"], [10, 2, 2, 1.5, 1, 0.7, 1.3, 1.3])[0]
    diff = r.choices(["easy", "medium", "hard"], [1.2, 1.2, 0.8])[0]
    if diff == "easy":
        a, b, c = r.sample(NAMES, 3)
        if lang == "en":
            t = r.choice([f"{a} is taller than {b}, and {b} is taller than {c}. Who is the shortest?",
                          r.choice(RIDDLES_EN),
                          f"If all {r.choice(['florps', 'zibs', 'quarks', 'tolls'])} are {r.choice(['blue', 'round', 'loud'])} and this thing is not {r.choice(['blue', 'round', 'loud'])}, can it be one?",
                          f"Today is {r.choice(['Monday', 'Tuesday', 'Friday', 'Sunday'])}. What day will it be in {r.randint(8, 40)} days?",
                          "If it takes 5 machines 5 minutes to make 5 widgets, how long do 100 machines need for 100 widgets? Explain briefly.",
                          f"I'm facing {r.choice(['north', 'east', 'south', 'west'])}, turn left twice and right once. Which way am I facing?",
                          f"{a} is {b}'s mother. {c} is {a}'s father. What is {c} to {b}?"])
        elif lang in RIDDLES_ML and r.random() < 0.5:
            t = r.choice(RIDDLES_ML[lang])
        else:
            t = {"es": f"{a} es mayor que {b} y {b} es mayor que {c}. ¿Quién es el menor?",
                 "de": f"{a} ist größer als {b} und {b} größer als {c}. Wer ist am kleinsten?",
                 "fr": f"{a} est plus grand que {b}, et {b} plus grand que {c}. Qui est le plus petit ?",
                 "pt": f"{a} é mais velho que {b}, e {b} é mais velho que {c}. Quem é o mais novo?",
                 "it": f"{a} è più alto di {b} e {b} è più alto di {c}. Chi è il più basso?",
                 "ja": f"{a}さんは{b}さんより背が高く、{b}さんは{c}さんより背が高いです。一番背が低いのは誰？",
                 "zh": f"{a}比{b}高，{b}比{c}高。谁最矮？"}[lang]
        return t, diff, lang
    if diff == "medium":
        if lang in ("en", "es", "de", "fr") and r.random() < 0.35:
            return _order_puzzle(r, r.randint(4, 5), lang), diff, lang
        rules, cases = r.choice(RULE_SETS)
        if lang == "en":
            t = r.choice([f"Rules: {'; '.join(rules)}. Is this allowed: {r.choice(cases)}? Explain with the rules.",
                          "Knights always tell the truth and knaves always lie. A says 'B is a knave'. B says 'We are both knights'. What are A and B?",
                          f"Three boxes are labelled apples, oranges and mixed, and every label is wrong. You may take one fruit from one box. How do you relabel them all? Explain.",
                          r.choice(CAUSAL[:2]),
                          f"Schedule four meetings (A 60 min, B 30 min, C 45 min, D 30 min) between 9:00 and 12:00 so that A is before C, B is not right after A, and D starts after 10:00. Is it possible?",
                          "Which conclusion follows? All managers attended the meeting. Some who attended left early. Therefore: (a) some managers left early, (b) not all attendees were managers, (c) nothing follows about managers leaving early.",
                          "You have a 3-litre and a 5-litre jug and unlimited water. How do you measure exactly 4 litres? Explain the reasoning."])
        else:
            t = {"es": f"Reglas: {'; '.join(['se puede llevar como máximo dos invitados', 'los invitados siempre deben ir acompañados'])}. Si un socio trae tres invitados, ¿qué regla incumple? Razona.",
                 "de": "Ritter sagen immer die Wahrheit, Schurken lügen immer. A sagt: 'B ist ein Schurke.' B sagt: 'Wir sind beide Ritter.' Wer ist was? Begründe.",
                 "fr": "Trois amis ont chacun un animal différent (chat, chien, poisson). Léa n'a pas le chien, Tom n'a ni le chat ni le chien. Qui a quoi ? Explique ton raisonnement.",
                 "pt": "Três amigos têm profissões diferentes: médico, professor e engenheiro. Ana não é médica, Bruno não é professor nem médico. Quem é o quê? Explique.",
                 "it": "Tre amici hanno tre animali diversi. Luca non ha il cane, Sara non ha né il gatto né il cane. Chi ha cosa? Spiega.",
                 "ja": "正直者は必ず本当のことを言い、嘘つきは必ず嘘をつきます。Aは「Bは嘘つきだ」と言い、Bは「私たちは二人とも正直者だ」と言いました。二人はそれぞれ何者？理由も。",
                 "zh": "甲乙丙三人中只有一人说真话。甲说：乙在说谎。乙说：丙在说谎。丙说：甲和乙都在说谎。谁说了真话？请推理。"}[lang]
        return t, diff, lang
    if lang == "en":
        rules, cases = r.choice(RULE_SETS)
        t = r.choice([r.choice(CAUSAL) + " Go through it rigorously.",
                      f"Rules: {'; '.join(rules)}; and if two rules conflict, the more specific one wins. Analyse every case, including where the rules interact: {'; '.join(cases)}.",
                      "Six people sit around a round table: Ana, Ben, Caro, Dev, Eli, Fay. Ana sits opposite Dev. Ben is not next to Ana or Dev. Caro sits immediately to Eli's left. Fay is next to Dev. Find every arrangement up to rotation, and prove there are no others.",
                      "Prove that this puzzle has no solution or find one: colour the 8 vertices of a cube red or blue so that every face has exactly two red vertices and no edge connects two red vertices.",
                      "A village has a rule: everyone either always lies or always tells the truth. Three villagers make statements about each other that form a cycle of accusations. Explain, in general, for which cycle lengths and statement patterns a consistent assignment exists, and prove it.",
                      "Analyse this policy interaction carefully: a refund is due if a product is defective; refunds are not given after 30 days; defects discovered late are covered if the customer reports within 7 days of discovery. A customer discovers a hidden defect on day 40 and reports on day 45. Argue both sides and decide."])
    else:
        t = {"es": "Analiza con rigor este caso de causalidad sobredeterminada: dos incendios independientes, cada uno suficiente, destruyen la misma casa al mismo tiempo. ¿Quién causó el daño según la prueba 'sin la cual no' y según la prueba NESS? Explica las consecuencias.",
             "de": "Sechs Personen sitzen an einem runden Tisch. Anna sitzt Dirk gegenüber, Bert sitzt neben keinem der beiden, Clara sitzt direkt links von Emil, Fiona neben Dirk. Finde alle Anordnungen bis auf Drehung und beweise, dass es keine weiteren gibt.",
             "fr": "Analyse rigoureusement : trois règles d'un règlement intérieur se contredisent dans le cas suivant — un salarié à temps partiel, en période d'essai, demande un congé exceptionnel pendant une période de gel des congés. Quelles règles s'appliquent, et comment trancher ?",
             "pt": "Analise rigorosamente um caso de causalidade sobredeterminada: duas causas independentes, cada uma suficiente, produzem o mesmo dano. Compare o teste 'sem o qual não' com o teste NESS e conclua.",
             "it": "Analizza con rigore: due regole aziendali entrano in conflitto quando un dipendente in prova chiede ferie durante un periodo di blocco. Quale regola prevale e perché? Considera tutte le interpretazioni.",
             "ja": "6人が円卓に座ります。AはDの向かい、BはAともDとも隣ではない、CはEのすぐ左、FはDの隣。回転を除いてすべての並び方を求め、他にないことを証明してください。",
             "zh": "请严谨分析：两个互相独立、各自都足以造成损害的原因同时发生。按照“若无则不”标准和NESS标准，分别应如何认定因果关系？请逐步推理。"}[lang]
    return t, "hard", lang


# ------------------------------------------------------------------ writing

W_EASY_EN = ["Write a short thank-you note to {who} for {what}.", "Give me a catchy slogan for {biz}.", "Write a tweet announcing {news}.",
             "Write a two-sentence birthday message for {who}.", "Caption for a photo of {photo}?", "Write an out-of-office reply, back on {day}.",
             "Rewrite this sentence to sound friendlier: \"{sent}\"", "Fix the grammar: \"{bad}\"", "Give me 5 name ideas for {biz}.",
             "Write a haiku about {topic}.", "Write a limerick about {topic}.", "Short text to remind {who} about {event}, please."]
W_MED_EN = ["Write a cover letter for a {job} position. I have {exp}. Keep it under 300 words.",
            "Write a blog post (about 600 words) about {topic} for {aud}.", "Write a speech for {occasion}, about 3 minutes, warm with a bit of humour.",
            "Draft an email to {who} asking for {ask}. Polite but direct.", "Write a product description for {product}, around 150 words.",
            "Write a short story (500 words) about {premise}.", "Write a LinkedIn post announcing {news}. Not cringey.",
            "Write a newsletter intro for {biz} about {topic}.", "Write a poem about {topic} in free verse, about 20 lines.",
            "Write the landing page copy for {product}: headline, subheadline, three benefits, call to action.",
            "Write a persuasive essay arguing that {claim}, 5 paragraphs."]
W_HARD_EN = ["Write a {len}-word short story about {premise}. Constraints: {c1}; {c2}; {c3}.",
             "Write a sonnet (strict Shakespearean form, iambic pentameter) about {topic} that {c1}.",
             "Write a villanelle about {topic} with both refrains used exactly as the form requires, and {c1}.",
             "Write a complete {len}-word grant proposal for {biz} covering need, design, outcomes, evaluation and sustainability, persuasive to non-experts, {c1}.",
             "Draft a 15-minute keynote for {occasion} with {c1}, {c2}, and {c3}.",
             "Write the first chapter (about {len} words) of a novel about {premise}: {c1}; {c2}; {c3}.",
             "Create a full brand voice guide and launch copy for {biz}: manifesto, taglines in three registers, and sample copy for web, email and packaging, all consistent, and {c1}."]
WHO = ["my neighbour", "my team", "my grandmother", "a client", "my landlord", "our volunteers", "a colleague who is retiring", "my kid's teacher"]
WHAT = ["watering my plants", "the great feedback", "covering my shift", "the wedding gift", "helping with the move"]
BIZ = ["a vegan bakery", "a bike repair shop", "an AI tutoring startup", "a dog-walking service", "a family-run hotel", "a climbing gym", "a bookshop café"]
NEWS = ["our new office in Lisbon", "a 20% spring sale", "our app's dark mode", "the launch of our podcast", "my new job", "our 10th anniversary"]
PHOTO = ["my cat on a laptop", "a foggy mountain lake", "our team at a hackathon", "homemade pizza", "a sunset over the harbour"]
DAYS = ["Monday 3 June", "the 14th", "next Tuesday", "2 September"]
SENTS = ["Send me the report now.", "You forgot the attachment again.", "We can't do that.", "Your invoice is late."]
BADS = ["Me and her goes to the gym every days.", "Their going to announce it tomorow.", "I has three brother and one sister."]
TOPICS = ["the first snow", "a city at 4 a.m.", "learning to code at 50", "an old bicycle", "moving abroad", "a Python script that finally works",
          "losing a chess game", "the smell of rain", "open-source maintainers", "a lighthouse"]
EVENTS = ["the meeting tomorrow at 10", "the dentist on Friday", "the rent due on the 1st"]
JOBS = ["junior data analyst", "UX designer", "nurse", "project manager", "barista", "backend engineer", "marketing coordinator"]
EXPS = ["two years in retail and a bootcamp certificate", "five years in logistics", "a master's in psychology", "no experience but a strong portfolio"]
AUDS = ["beginners", "small business owners", "parents of teenagers", "software engineers", "retirees"]
OCCASIONS = ["my sister's wedding", "a colleague's farewell", "a school graduation", "our company's anniversary", "a charity gala"]
ASKS = ["a deadline extension", "a refund", "a meeting next week", "feedback on my proposal", "a salary review"]
PRODUCTS = ["a handmade leather wallet", "a noise-cancelling desk lamp", "a budgeting app", "a reusable coffee cup", "a language-learning game"]
PREMISES = ["a lighthouse keeper who receives letters from the future", "two strangers stuck in a lift", "a robot that wants to be a gardener",
            "a chef who loses her sense of taste", "a town where it never stops raining", "a detective who is afraid of the dark"]
CLAIMS = ["cities should ban cars from their centres", "homework should be optional", "everyone should learn a second language"]
CONSTR = ["told entirely in second person", "no dialogue at all", "the word 'love' never appears", "every paragraph starts with the same letter",
          "three timelines that converge in the last scene", "a twist that recontextualises the opening", "present tense throughout",
          "one recurring object that changes meaning", "exactly seven sections, each a different day", "a narrator who is unreliable"]

W_ML = {
    "es": (["Escribe un mensaje corto de cumpleaños para {who_es}.", "Dame un eslogan para {biz_es}.", "Corrige la ortografía: \"{bad_es}\""],
           ["Escribe una carta de presentación para un puesto de {job_es}, máximo 300 palabras.", "Escribe un discurso de tres minutos para {occ_es}.",
            "Redacta un correo a {who_es} pidiendo {ask_es}, educado pero directo."],
           ["Escribe un relato de 2.000 palabras sobre {prem_es}, narrado en segunda persona, sin diálogos y con un final abierto."]),
    "de": (["Schreib eine kurze Geburtstagsnachricht für {who_de}.", "Gib mir einen Slogan für {biz_de}."],
           ["Schreib ein Anschreiben für eine Stelle als {job_de}, maximal eine Seite.", "Schreib eine dreiminütige Rede für {occ_de}.",
            "Verfasse eine E-Mail an {who_de} mit der Bitte um {ask_de}."],
           ["Schreibe eine Kurzgeschichte (ca. 2.500 Wörter) über {prem_de}: durchgehend im Präsens, ohne Dialoge, mit einer Wendung am Ende."]),
    "fr": (["Écris un petit mot de remerciement pour {who_fr}.", "Trouve un slogan pour {biz_fr}."],
           ["Rédige une lettre de motivation pour un poste de {job_fr}.", "Écris un discours de trois minutes pour {occ_fr}."],
           ["Écris une nouvelle de 2 000 mots sur {prem_fr}, à la deuxième personne, sans dialogue, avec une fin ouverte."]),
    "pt": (["Escreva uma mensagem curta de aniversário para {who_pt}.", "Crie um slogan para {biz_pt}."],
           ["Escreva uma carta de apresentação para uma vaga de {job_pt}.", "Escreva um discurso de três minutos para {occ_pt}."],
           ["Escreva um conto de 2.500 palavras sobre {prem_pt}, em terceira pessoa, sem diálogos, com final ambíguo."]),
    "it": (["Scrivi un breve messaggio di auguri per {who_it}."], ["Scrivi una lettera di presentazione per un posto da {job_it}."], []),
    "ja": (["{who_ja}への短いお礼のメッセージを書いてください。", "{biz_ja}のキャッチコピーを考えて。"],
           ["{job_ja}の求人に応募するカバーレターを書いてください。", "{occ_ja}のための3分間のスピーチ原稿を書いてください。"],
           ["{prem_ja}をテーマに、約4000字の短編小説を書いてください。条件：二人称、会話文なし、結末は読者に委ねること。"]),
    "zh": (["帮我写一句给{who_zh}的生日祝福。", "给{biz_zh}想一句广告语。"],
           ["帮我写一封应聘{job_zh}的求职信，不超过300字。", "为{occ_zh}写一篇三分钟的致辞。"],
           ["以{prem_zh}为题写一篇5000字左右的短篇小说，要求双线叙事、第二人称、结尾呼应开头。"]),
}
W_FILL = {"who_es": ["mi vecina", "mi jefe", "mi abuela"], "biz_es": ["una panadería vegana", "un taller de bicis"],
          "bad_es": ["Haber si nos vemos mañana, a lo mejor boy.", "Hecho de menos a mi familia."], "job_es": ["enfermera", "diseñador UX", "analista de datos"],
          "occ_es": ["la boda de mi hermana", "la jubilación de un compañero"], "ask_es": ["una prórroga", "un reembolso"],
          "prem_es": ["un faro que recibe cartas del futuro", "dos desconocidos atrapados en un ascensor"],
          "who_de": ["meine Nachbarin", "mein Team", "meine Oma"], "biz_de": ["eine Fahrradwerkstatt", "ein Café mit Büchern"],
          "job_de": ["Pflegekraft", "UX-Designer", "Projektmanagerin"], "occ_de": ["die Hochzeit meiner Schwester", "den Abschied einer Kollegin"],
          "ask_de": ["eine Fristverlängerung", "ein Gespräch nächste Woche"], "prem_de": ["einen Leuchtturmwärter mit Briefen aus der Zukunft"],
          "who_fr": ["ma voisine", "mon équipe"], "biz_fr": ["une boulangerie vegan", "un atelier vélo"], "job_fr": ["infirmière", "libraire"],
          "occ_fr": ["le mariage de ma sœur", "le départ d'un collègue"], "prem_fr": ["deux inconnus coincés dans un ascenseur"],
          "who_pt": ["minha vizinha", "meu chefe"], "biz_pt": ["uma padaria vegana", "uma oficina de bicicletas"], "job_pt": ["enfermeira", "analista de dados"],
          "occ_pt": ["o casamento da minha irmã", "a formatura"], "prem_pt": ["um farol que recebe cartas do futuro"],
          "who_it": ["mia nonna", "il mio collega"], "job_it": ["infermiera", "grafico"],
          "who_ja": ["先輩", "お隣さん", "チームのみんな"], "biz_ja": ["和菓子屋", "自転車屋"], "job_ja": ["看護師", "データアナリスト"],
          "occ_ja": ["友人の結婚式", "同僚の送別会"], "prem_ja": ["未来から手紙が届く灯台守"],
          "who_zh": ["妈妈", "好朋友", "同事"], "biz_zh": ["一家素食面包店", "一家自行车店"], "job_zh": ["护士", "数据分析师"],
          "occ_zh": ["妹妹的婚礼", "公司周年庆"], "prem_zh": ["一个收到未来来信的灯塔看守人"]}


def gen_writing(r):
    lang = r.choices(["en", "es", "de", "fr", "pt", "it", "ja", "zh"], [10, 2, 2, 1.5, 1.5, 0.7, 1.5, 1.5])[0]
    diff = r.choices(["easy", "medium", "hard"], [1.1, 1.2, 0.9])[0]
    d = {"who": r.choice(WHO), "what": r.choice(WHAT), "biz": r.choice(BIZ), "news": r.choice(NEWS), "photo": r.choice(PHOTO), "day": r.choice(DAYS),
         "sent": r.choice(SENTS), "bad": r.choice(BADS), "topic": r.choice(TOPICS), "event": r.choice(EVENTS), "job": r.choice(JOBS),
         "exp": r.choice(EXPS), "aud": r.choice(AUDS), "occasion": r.choice(OCCASIONS), "ask": r.choice(ASKS), "product": r.choice(PRODUCTS),
         "premise": r.choice(PREMISES), "claim": r.choice(CLAIMS), "len": r.choice(["2,000", "3,000", "4,000", "5,000"])}
    c = r.sample(CONSTR, 3)
    d["c1"], d["c2"], d["c3"] = c
    for k, v in W_FILL.items():
        d[k] = r.choice(v)
    if lang == "en":
        pool = {"easy": W_EASY_EN, "medium": W_MED_EN, "hard": W_HARD_EN}[diff]
    else:
        e, m, h = W_ML[lang]
        pool = {"easy": e, "medium": m, "hard": h}[diff]
        if not pool:
            pool, diff = m, "medium"
    return r.choice(pool).format(**d), diff, lang


# ------------------------------------------------------------------ research

COUNTRIES = [("France", "Paris"), ("Canada", "Ottawa"), ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Vietnam", "Hanoi"), ("Norway", "Oslo"),
             ("Morocco", "Rabat"), ("New Zealand", "Wellington"), ("Turkey", "Ankara"), ("Chile", "Santiago"), ("Egypt", "Cairo")]
BOOKS = ["Pride and Prejudice", "War and Peace", "Don Quixote", "The Tale of Genji", "Beloved", "The Trial", "Dream of the Red Chamber", "Frankenstein"]
R_EASY_EN = ["What is the capital of {country}?", "Who wrote {book}?", "When did {event} happen?", "How tall is {mountain}?",
             "What's the chemical symbol for {element}?", "What language do they speak in {country}?", "How many {unit} are in a {big}?",
             "Who was the first person to {first}?", "What year did {event} end?", "What does {abbr} stand for?"]
R_MED_EN = ["Why does {phen}?", "How does {tech} work?", "What's the difference between {a} and {b}?", "Explain {concept2} in simple terms.",
            "What were the main causes of {histev}?", "How did {histev} change {area}?", "What are the pros and cons of {policy}?",
            "Why is {fact} the case?", "What should I know about {travel} before visiting?", "How do economists explain {econ}?"]
R_HARD_EN = ["What is the current state of the evidence on {debate}? Distinguish randomised trials from observational studies and note effect sizes.",
             "Give me a critical literature overview of {debate}, including methodological problems and where the experts disagree.",
             "Compare how {jur1} and {jur2} regulate {legal}, with the key statutes and leading cases, and where the law is unsettled.",
             "Synthesize the research on {debate}: major studies, their designs and findings, limitations, and open questions.",
             "How has our understanding of {sci} changed over the last 20 years? Cover the key experiments and the competing theories."]
EVENTS_R = ["the French Revolution", "the fall of the Berlin Wall", "the first Moon landing", "the Meiji Restoration", "the Black Death",
            "the Battle of Hastings", "World War I", "the invention of the printing press"]
MOUNTAINS = ["Mount Kilimanjaro", "Mont Blanc", "Denali", "Aconcagua", "Mount Fuji"]
ELEMENTS = ["gold", "potassium", "tin", "mercury", "silver", "lead"]
FIRSTS = ["reach the South Pole", "climb Everest", "fly solo across the Atlantic", "win two Nobel prizes"]
ABBRS = ["NATO", "UNESCO", "DNA", "GDP", "NASA", "WHO", "CERN", "OPEC"]
PHEN = ["the sky look blue", "ice float on water", "the Moon cause tides", "bread go stale", "the Earth have seasons", "hair turn grey"]
TECH = ["GPS", "a heat pump", "a nuclear reactor", "noise-cancelling", "CRISPR", "a vaccine", "a credit score", "the stock market"]
ABS = [("weather", "climate"), ("a virus", "a bacterium"), ("socialism", "communism"), ("an alligator", "a crocodile"), ("stocks", "bonds")]
CONCEPTS2 = ["inflation", "opportunity cost", "plate tectonics", "natural selection", "the placebo effect", "compound interest", "quantum entanglement"]
AREAS = ["European politics", "the economy", "daily life", "science", "art"]
POLICIES = ["a four-day work week", "universal basic income", "rent control", "nuclear power", "congestion charges"]
FACTS = ["the Dead Sea so salty", "Venus hotter than Mercury", "the Roman Empire split in two"]
TRAVEL = ["Japan in winter", "Morocco during Ramadan", "Iceland in summer", "Patagonia"]
ECON = ["the rise in house prices since 2010", "stagflation in the 1970s", "why wages stagnate"]
DEBATES = ["the health effects of moderate alcohol consumption", "screen time and adolescent mental health", "minimum wage increases and employment",
           "microplastics and human health", "vitamin D supplementation", "remote work and productivity", "the effectiveness of mindfulness for anxiety"]
JURS = ["the EU", "the US", "the UK", "Japan", "Brazil", "Germany", "Canada"]
LEGALS = ["facial recognition by police", "non-compete clauses", "cryptocurrency exchanges", "data retention", "gig-economy workers' status"]
SCI = ["the human gut microbiome", "dark energy", "the origins of the Indo-European languages", "sleep and memory consolidation"]
R_ML = {
    "es": (["¿Cuál es la capital de {country}?", "¿Quién escribió {book}?"], ["¿Por qué se producen las mareas?", "¿Cuáles fueron las causas de {histev}?", "¿Cómo funciona {tech}?"],
           ["¿Qué dice la evidencia científica actual sobre {debate}? Distingue ensayos y estudios observacionales.",
            "Haz una revisión crítica de la literatura sobre {debate}: estudios principales, diseños, limitaciones y preguntas abiertas.",
            "Compara cómo regulan {jur1} y {jur2} {legal_es}, con las leyes y sentencias clave y los puntos todavía discutidos."]),
    "de": (["Was ist die Hauptstadt von {country}?", "Wer hat {book} geschrieben?"], ["Warum gibt es Jahreszeiten?", "Wie funktioniert {tech}?", "Was waren die Ursachen von {histev}?"],
           ["Gib mir einen kritischen Überblick über den Forschungsstand zu {debate}, mit Studiendesigns und offenen Fragen.",
            "Vergleiche, wie {jur1} und {jur2} {legal_de} regeln – mit den maßgeblichen Gesetzen, Urteilen und offenen Rechtsfragen."]),
    "fr": (["Quelle est la capitale de {country} ?", "Qui a écrit {book} ?"], ["Pourquoi le ciel est-il bleu ?", "Comment fonctionne {tech} ?"],
           ["Fais le point sur l'état des connaissances concernant {debate}, avec les principales études et leurs limites.",
            "Compare la façon dont {jur1} et {jur2} encadrent {legal_fr}, avec les textes et décisions de référence."]),
    "pt": (["Qual é a capital de {country}?", "Quem escreveu {book}?"], ["Por que existem estações do ano?", "Como funciona {tech}?"],
           ["Qual é o estado atual das evidências sobre {debate}? Compare estudos e limitações."]),
    "it": (["Qual è la capitale di {country}?", "Chi ha scritto {book}?"], ["Perché il cielo è blu?", "Quali furono le cause di {histev}?"],
           ["Qual è lo stato delle evidenze scientifiche su {debate}? Distingui studi randomizzati e osservazionali e indica i limiti."]),
    "ja": (["{country}の首都はどこですか？", "{book}の作者は誰ですか？"], ["なぜ季節があるのですか？", "{tech}の仕組みを教えてください。"],
           ["{debate}について、現在の研究の到達点をエビデンスの質も含めて詳しくまとめてください。"]),
    "zh": (["{country}的首都是哪里？", "《{book}》的作者是谁？"], ["为什么天空是蓝色的？", "{tech}是怎么工作的？", "{histev}的主要原因是什么？"],
           ["请综述关于{debate}的最新研究进展，区分随机对照试验和观察性研究，并说明争议所在。"]),
}


def gen_research(r):
    lang = r.choices(["en", "es", "de", "fr", "pt", "it", "ja", "zh"], [10, 2, 2, 1.5, 1.5, 0.7, 1.5, 1.5])[0]
    diff = r.choices(["easy", "medium", "hard"], [1.1, 1.2, 0.9])[0]
    c = r.choice(COUNTRIES)
    a, b = r.choice(ABS)
    j1, j2 = r.sample(JURS, 2)
    d = {"country": c[0], "book": r.choice(BOOKS), "event": r.choice(EVENTS_R), "mountain": r.choice(MOUNTAINS), "element": r.choice(ELEMENTS),
         "unit": r.choice(["metres", "ounces", "seconds"]), "big": r.choice(["kilometre", "pound", "day"]), "first": r.choice(FIRSTS),
         "abbr": r.choice(ABBRS), "phen": r.choice(PHEN), "tech": r.choice(TECH), "a": a, "b": b, "concept2": r.choice(CONCEPTS2),
         "histev": r.choice(EVENTS_R), "area": r.choice(AREAS), "policy": r.choice(POLICIES), "fact": r.choice(FACTS), "travel": r.choice(TRAVEL),
         "econ": r.choice(ECON), "debate": r.choice(DEBATES), "jur1": j1, "jur2": j2, "legal": r.choice(LEGALS), "sci": r.choice(SCI),
         "legal_es": r.choice(["el reconocimiento facial policial", "los pactos de no competencia", "las plataformas de reparto"]),
         "legal_de": r.choice(["Gesichtserkennung durch die Polizei", "Wettbewerbsverbote", "Plattformarbeit"]),
         "legal_fr": r.choice(["la reconnaissance faciale", "les clauses de non-concurrence", "les travailleurs des plateformes"])}
    if lang == "en":
        pool = {"easy": R_EASY_EN, "medium": R_MED_EN, "hard": R_HARD_EN}[diff]
    else:
        e, m, h = R_ML[lang]
        pool = {"easy": e, "medium": m, "hard": h}[diff]
        if not pool:
            pool, diff = m, "medium"
    return r.choice(pool).format(**d), diff, lang


# ------------------------------------------------------------------ chat

C_EASY = {"en": ["hi there!", "hey, how's it going?", "good evening :)", "thanks a lot, you're the best", "lol that's hilarious",
                 "what's up?", "I'm bored, talk to me", "do you like music?", "haha ok you win", "morning! coffee first ☕",
                 "what's your favourite colour?", "just got back from a run, feeling great!", "tell me something fun", "bye, talk tomorrow!",
                 "I finally finished my thesis!!! 🎉", "how was your weekend?", "yo", "thanks!! that helped a ton"],
          "es": ["¡hola! ¿qué tal?", "buenas noches 😊", "gracias, eres un sol", "jajaja qué bueno", "¿qué tal el finde?"],
          "de": ["Hallo! Wie geht's?", "Guten Morgen :)", "Danke dir!", "haha, der war gut", "Na, was machst du so?"],
          "fr": ["Coucou ! Ça va ?", "Bonsoir :)", "Merci beaucoup !", "mdr trop drôle", "Tu as passé une bonne journée ?"],
          "pt": ["Oi, tudo bem?", "Bom dia!", "Valeu, ajudou muito!", "kkkkk muito bom"], "it": ["Ciao! Come stai?", "Grazie mille!", "Buonasera :)"],
          "ja": ["こんにちは！", "おはようございます！", "ありがとう！助かりました", "今日はいい天気ですね"],
          "zh": ["你好呀！", "早上好！", "谢谢你！", "哈哈哈太好笑了", "最近怎么样？"]}
C_MED = {"en": ["I've been feeling really down since my breakup and I just need someone to talk to.",
                "my cat is sick and I'm so worried, can you keep me company for a bit?",
                "I got the job!! I'm so happy but also nervous about starting. can we chat?",
                "Can we role-play ordering food in a café in Spanish? You're the waiter.",
                "I feel like I have no friends at my new school. can we just talk?",
                "I'm anxious about my exam tomorrow, distract me please",
                "let's practise small talk for my conference — you be another attendee",
                "My best friend forgot my birthday and I'm more hurt than I expected. Just want to vent.",
                "Pretend you're a tourist asking me for directions in German so I can practise.",
                "I miss my dad. He passed last year and today would have been his birthday."],
         "es": ["Me siento muy sola desde que me mudé, ¿hablamos un rato?", "Estoy nervioso por la entrevista de mañana, ¿me acompañas un poco?"],
         "de": ["Mir geht's heute nicht so gut, können wir ein bisschen reden?", "Lass uns ein Vorstellungsgespräch üben, du bist die Personalerin."],
         "fr": ["Je me sens un peu seule ce soir, on peut discuter ?", "Je suis stressée pour mon examen, tu me changes les idées ?"],
         "pt": ["Tô meio triste hoje, posso conversar com você?", "Vamos simular uma conversa num restaurante em inglês?"],
         "it": ["Sono un po' giù oggi, mi fai compagnia?"], "ja": ["最近ちょっと落ち込んでいて…話を聞いてもらえますか？", "明日の面接が不安です。少し話し相手になってください。"],
         "zh": ["最近心情不太好，能陪我聊聊吗？", "明天要面试了好紧张，陪我说说话吧。"]}
C_HARD = {"en": ["I need to practise telling my parents I'm dropping out of medical school. Play my father: proud, angry, and hurt. Stay in character and push back hard.",
                 "Role-play a tough salary negotiation: you're the hiring manager with a fixed budget, I'm asking for 20% more. Don't give in easily.",
                 "My partner and I are on the edge of breaking up and I don't know if I want to save it. Can you talk it through with me, no advice unless I ask?",
                 "I haven't told anyone, but I've been struggling to get out of bed for weeks and I'm scared of what I'm thinking. Can you stay with me?",
                 "Practise a conversation with me where I confront my business partner about money missing from the account. You play him — defensive and manipulative.",
                 "My mother has dementia and today she didn't recognise me. I'm falling apart. Please just talk with me."],
          "es": ["Quiero ensayar cómo decirle a mi jefe que renuncio; tú haces de él, que se enfada y me hace sentir culpable. No salgas del personaje."],
          "de": ["Meine Schwester und ich reden seit Jahren nicht mehr, und jetzt ist unsere Mutter schwer krank. Kannst du mit mir darüber reden, wie ich mich fühle?"],
          "fr": ["On fait un jeu de rôle : tu es un client furieux et je dois désamorcer la situation sans céder sur le remboursement. Sois dur."],
          "pt": ["Vamos simular a conversa em que eu conto para minha família que vou me divorciar. Você faz a minha mãe, que é muito religiosa."],
          "ja": ["父とずっと絶縁状態で、父が入院したと聞きました。会いに行くべきか分からず苦しいです。話を聞いてください。"],
          "zh": ["我想练习跟老板提离职，他会很生气并挽留我，你来扮演他，别轻易放我走。"]}


CH_GREET = {"en": ["hi", "hey", "hello", "hiya", "good morning", "evening", "heyyy", "yo", "hi again"],
            "es": ["hola", "buenas", "holaa", "buenos días"], "de": ["hallo", "hey", "moin", "guten Abend"],
            "fr": ["salut", "coucou", "bonjour", "bonsoir"], "pt": ["oi", "olá", "bom dia"], "it": ["ciao", "buongiorno"],
            "ja": ["こんにちは", "おはよう", "こんばんは"], "zh": ["你好", "嗨", "早上好"]}
CH_SMALL = {"en": ["how's your day going?", "what are you up to?", "did you have a good weekend?", "it's so hot today", "I just got back from the gym",
                   "the weather is finally nice", "I'm procrastinating lol", "what's new?", "can't sleep, talk to me", "I'm having pizza tonight 🍕",
                   "just finished a great book", "my cat is sitting on my keyboard again", "I love rainy Sundays", "guess who just got a puppy 🐶",
                   "we won our football match!", "I passed my driving test!!", "it's my birthday today 🎂", "first day of holidays, finally"],
            "es": ["¿qué tal tu día?", "¿qué haces?", "hace un calor horrible hoy", "acabo de volver del gimnasio", "¡aprobé el examen!"],
            "de": ["wie läuft dein Tag?", "was machst du so?", "heute ist es so heiß", "ich hab endlich Urlaub!", "ich kann nicht schlafen"],
            "fr": ["ça va ?", "tu fais quoi ?", "il fait trop chaud aujourd'hui", "j'ai enfin eu mon permis !", "je m'ennuie un peu"],
            "pt": ["tudo bem?", "o que você tá fazendo?", "passei na prova!!", "hoje tá muito calor"], "it": ["come va?", "che fai di bello?", "oggi fa caldissimo"],
            "ja": ["元気？", "今日は暑いね", "やっと休みだ！", "眠れないから話そう"], "zh": ["最近怎么样？", "今天好热啊", "终于放假了！", "睡不着，陪我聊聊"]}
CH_EMOJI = ["", "", " :)", " 😊", " 😂", " 🎉", " lol", " haha", "!", "!!"]
CH_SITUATION = {"en": ["I've been feeling lonely since I moved to a new city", "my relationship just ended", "I'm really nervous about my exam tomorrow",
                       "my dog is sick and I'm scared", "I had a fight with my best friend", "work has been overwhelming lately",
                       "I didn't get the job I really wanted", "I'm starting a new job on Monday and I'm anxious", "my grandma is in hospital",
                       "I feel stuck and unmotivated", "my kids have been so difficult this week", "I miss my family a lot lately"],
                "es": ["me siento sola desde que me mudé", "acabo de cortar con mi pareja", "estoy nerviosa por el examen de mañana", "no conseguí el trabajo"],
                "de": ["ich fühle mich seit dem Umzug einsam", "meine Beziehung ist gerade zu Ende gegangen", "ich bin total nervös wegen morgen"],
                "fr": ["je me sens seule depuis mon déménagement", "je viens de rompre", "je stresse pour mon entretien de demain"],
                "pt": ["tô me sentindo sozinha desde a mudança", "terminei meu namoro", "tô ansioso com a prova de amanhã"],
                "it": ["mi sento solo da quando mi sono trasferito", "ho litigato con la mia migliore amica"],
                "ja": ["引っ越してから寂しくて", "恋人と別れてしまって", "明日の試験が不安で"], "zh": ["搬家以后一直很孤单", "刚刚分手了", "明天考试好紧张"]}
CH_ASK = {"en": ["can we talk for a bit?", "I just need to vent.", "keep me company?", "no advice please, just listen.", "can you just chat with me?",
                 "I don't know who else to talk to.", "can we talk about something else to take my mind off it?"],
          "es": ["¿hablamos un rato?", "solo necesito desahogarme."], "de": ["können wir kurz reden?", "ich muss mich einfach mal auskotzen."],
          "fr": ["on peut parler un peu ?", "j'ai juste besoin de vider mon sac."], "pt": ["podemos conversar um pouco?", "só preciso desabafar."],
          "it": ["possiamo parlare un po'?"], "ja": ["少し話を聞いてくれる？"], "zh": ["能陪我聊聊吗？"]}
CH_RP = {"en": ["Let's role-play: you're a {who} and I'm practising {what}. Start whenever.", "Can we practise {what}? You play a {who}.",
                "Pretend you're a {who} so I can practise {what}."],
         "es": ["Hagamos un juego de rol: tú eres {who_es} y yo practico {what_es}."], "de": ["Lass uns ein Rollenspiel machen: du bist {who_de}, ich übe {what_de}."],
         "fr": ["On fait un jeu de rôle : tu es {who_fr} et je m'entraîne à {what_fr}."]}
RP_FILL = {"who": ["waiter in Madrid", "hotel receptionist", "new colleague", "stranger at a conference", "shop assistant", "job interviewer"],
           "what": ["ordering in Spanish", "small talk", "introducing myself", "asking for directions in French", "a job interview"],
           "who_es": ["un camarero", "una recepcionista"], "what_es": ["pedir en inglés", "una entrevista de trabajo"],
           "who_de": ["Kellner", "Personalerin"], "what_de": ["Bestellen auf Englisch", "ein Vorstellungsgespräch"],
           "who_fr": ["un serveur", "une recruteuse"], "what_fr": ["commander en anglais", "un entretien d'embauche"]}
CH_HARD_SIT = ["I need to tell my parents I'm leaving the family business", "I have to confront my co-founder about missing money",
               "I'm going to ask my landlord not to raise the rent by 30%", "I have to tell my team about layoffs tomorrow",
               "I want to tell my father I'm not going to study law", "I need to negotiate my salary and I'm terrible at it",
               "I have to break bad news about a diagnosis to my sister"]
CH_HARD_WHO = ["proud and defensive", "angry and manipulative", "hurt and guilt-tripping", "cold and dismissive", "tough but fair"]
CH_HARD_EMO = ["It's been a year since my brother died and I'm still not okay. Please just stay with me for a while.",
               "I've been thinking I'm a burden to everyone. I don't really know why I'm writing this.",
               "My marriage is falling apart and I can't tell anyone in my family. Can you talk with me?",
               "I was just diagnosed with something serious and I'm terrified. I don't want facts right now, I need someone to talk to."]


def gen_chat(r):
    lang = r.choices(["en", "es", "de", "fr", "pt", "it", "ja", "zh"], [10, 2, 2, 1.5, 1.5, 0.7, 1.5, 1.5])[0]
    diff = r.choices(["easy", "medium", "hard"], [1.3, 1.1, 0.7])[0]
    if diff == "easy":
        if r.random() < 0.35:
            pool = C_EASY.get(lang, C_EASY["en"])
            return r.choice(pool), diff, lang if lang in C_EASY else "en"
        g = r.choice(CH_GREET[lang])
        t = g + r.choice([" ", "! ", ", "]) + r.choice(CH_SMALL[lang]) + r.choice(CH_EMOJI)
        return t if r.random() < 0.8 else r.choice(CH_SMALL[lang]) + r.choice(CH_EMOJI), diff, lang
    if diff == "medium":
        if r.random() < 0.25 and lang in CH_RP:
            d = {k: r.choice(v) for k, v in RP_FILL.items()}
            return r.choice(CH_RP[lang]).format(**d), diff, lang
        if r.random() < 0.25:
            pool = C_MED.get(lang, C_MED["en"])
            return r.choice(pool), diff, lang if lang in C_MED else "en"
        sit = r.choice(CH_SITUATION[lang])
        ask = r.choice(CH_ASK[lang])
        t = (r.choice(CH_GREET[lang]) + ". " if r.random() < 0.3 else "") + sit + r.choice([". ", "… ", " and "]) + ask
        return t, diff, lang
    if lang != "en" or r.random() < 0.3:
        pool = C_HARD.get(lang, C_HARD["en"])
        return r.choice(pool), diff, lang if lang in C_HARD else "en"
    if r.random() < 0.4:
        return r.choice(CH_HARD_EMO), diff, lang
    sit = r.choice(CH_HARD_SIT)
    return (f"{sit} and I need to practise. Play the other person — {r.choice(CH_HARD_WHO)} — and push back realistically; "
            f"stay in character until I say stop."), diff, lang


# ------------------------------------------------------------------ inline translation / extraction / summarization

SENTENCES = {"en": ["The meeting has been moved to Thursday afternoon.", "Could you send me the invoice again?", "We're closed on public holidays.",
                    "I'll be ten minutes late, sorry!", "The package should arrive by Friday.", "Please keep your receipt.",
                    "Where is the nearest train station?", "This seat is taken.", "Happy new year to you and your family!"],
             "es": ["La reunión se ha cambiado al jueves.", "¿Me puedes mandar la factura otra vez?", "Llegaré diez minutos tarde."],
             "de": ["Die Besprechung wurde auf Donnerstag verschoben.", "Kannst du mir die Rechnung noch einmal schicken?", "Wir haben an Feiertagen geschlossen."],
             "fr": ["La réunion est déplacée à jeudi.", "Peux-tu me renvoyer la facture ?", "Nous sommes fermés les jours fériés."],
             "ja": ["会議は木曜日の午後に変更になりました。", "請求書をもう一度送っていただけますか？"], "zh": ["会议改到星期四下午了。", "请再把发票发给我一次。"],
             "pt": ["A reunião foi transferida para quinta-feira."], "it": ["La riunione è stata spostata a giovedì."]}
TL_EN = ["Spanish", "German", "French", "Japanese", "Italian", "Portuguese", "Chinese", "Korean", "Dutch", "English"]


def gen_translation_inline(r):
    lang = r.choices(["en", "es", "de", "fr", "ja", "zh", "pt", "it"], [8, 2, 2, 1.5, 1.3, 1.3, 1, 0.7])[0]
    src = r.choice(list(SENTENCES))
    s = r.choice(SENTENCES[src])
    tl = r.choice(TL_EN)
    diff = r.choices(["easy", "medium", "hard"], [3, 1.2, 0.6])[0]
    if diff == "easy":
        t = {"en": [f"Translate to {tl}: {s}", f"How do you say \"{s}\" in {tl}?", f"{tl} translation of: {s}", f"what's this in {tl}? \"{s}\""],
             "es": [f"Traduce al inglés: {s}", f"¿Cómo se dice \"{s}\" en alemán?"], "de": [f"Übersetze ins Spanische: {s}", f"Was heißt \"{s}\" auf Englisch?"],
             "fr": [f"Traduis en anglais : {s}", f"Comment dit-on « {s} » en espagnol ?"], "ja": [f"英語にしてください：{s}", f"「{s}」を英語で言うと？"],
             "zh": [f"翻译成英文：{s}", f"“{s}”用日语怎么说？"], "pt": [f"Traduz pro inglês: {s}"], "it": [f"Traduci in inglese: {s}"]}[lang]
    elif diff == "medium":
        t = {"en": [f"Translate into {tl}, formal register, as you'd write to a client: \"{s} Thank you for your patience, and do not hesitate to contact us with any questions.\"",
                    f"Localise this push notification for {tl} users, keep {{name}} and under 60 characters: \"Hey {{name}}, your order is on its way!\""],
             "es": [f"Traduce al inglés con tono formal para un cliente: \"{s} Quedamos a su disposición para cualquier consulta.\""],
             "de": [f"Übersetze ins Englische, förmlicher Ton: \"{s} Für Rückfragen stehen wir Ihnen gerne zur Verfügung.\""],
             "fr": [f"Traduis en anglais, registre soutenu : « {s} Nous restons à votre disposition pour toute question. »"],
             "ja": [f"ビジネスメールとして丁寧な英語に訳してください：「{s}ご不明な点がございましたらお気軽にお問い合わせください。」"],
             "zh": [f"请翻译成正式的英文商务邮件用语：“{s}如有任何问题，请随时与我们联系。”"],
             "pt": [f"Traduza para o inglês em tom formal: \"{s} Ficamos à disposição para dúvidas.\""],
             "it": [f"Traduci in inglese con tono formale: \"{s} Restiamo a disposizione per qualsiasi domanda.\""]}[lang]
    else:
        t = {"en": [f"Translate this poem into {tl}, keeping the rhyme scheme and metre where you can, and explain what you sacrificed:\n\n\"The harbour lights are going out one by one,\nthe gulls have folded up the day;\nI count the boats that never came back home\nand name the ones I cannot say.\"",
                    f"Translate this contract clause into {tl} with legally exact terminology and note any term without a direct equivalent: \"Neither party shall be liable for any failure to perform its obligations where such failure results from events beyond its reasonable control, provided that it notifies the other party without undue delay.\""],
             "es": ["Traduce al inglés esta cláusula con precisión jurídica y explica los términos difíciles: \"El arrendatario no podrá subarrendar total ni parcialmente la vivienda sin el consentimiento expreso y por escrito del arrendador.\""],
             "de": ["Übersetze dieses Gedicht ins Englische, erhalte Reim und Metrum so weit wie möglich und begründe deine Entscheidungen:\n\n„Der Abend legt sich auf die Dächer,\ndie Stadt wird leiser Stück für Stück;\nich zähle Fenster, zähle Lichter,\nund keins davon bringt dich zurück.“"],
             "fr": ["Traduis en anglais ce passage littéraire en gardant le rythme et l'ironie, puis commente tes choix : « Il pleuvait sur la ville comme on pleure sans raison, par habitude, et personne ne levait plus la tête. »"],
             "ja": ["次の医療用の指示を正確な英語に翻訳し、誤解を招く可能性がある箇所に注記してください：「1日2回、朝夕食後に1錠ずつ服用。めまいが出た場合は服用を中止し、直ちに受診してください。」"],
             "zh": ["请将下列合同条款准确译成英文，并对没有直接对应的术语加注：“因不可抗力导致一方不能履行合同的，根据不可抗力的影响，部分或者全部免除责任。”"],
             "pt": ["Traduza este trecho de bula para o inglês com precisão, sinalizando ambiguidades: \"Tomar 1 comprimido a cada 8 horas, não exceder 3 comprimidos em 24 horas.\""],
             "it": ["Traduci in inglese questa poesia mantenendo il ritmo e spiega le scelte: \"M'illumino d'immenso.\""]}[lang]
    return r.choice(t), diff, lang


PEOPLE_SENT = ["Call {name} on {phone} before {day}.", "{name} ({email}) will pay €{amt} on {date}.", "Meeting with {name} in {city} on {date} at 3 pm.",
               "Refund of ${amt} sent to {email} on {date}.", "{name} from {city} ordered {n} units, invoice {inv}."]


def gen_extraction_inline(r):
    from .materials import FIRST, LAST, CITIES
    name = f"{r.choice(FIRST)} {r.choice(LAST)}"
    d = {"name": name, "phone": f"+{r.randint(30,49)} {r.randint(100,999)} {r.randint(1000,9999)}", "day": r.choice(["Friday", "noon", "the 12th"]),
         "email": name.split()[0].lower() + "@" + r.choice(["mail.com", "acme.io", "example.org"]), "amt": r.randint(20, 2000),
         "date": f"{r.randint(1,28)} {r.choice(['March', 'June', 'October'])} 2024", "city": r.choice(CITIES), "n": r.randint(2, 40),
         "inv": f"INV-{r.randint(1000,9999)}"}
    sents = " ".join(x.format(**d) for x in r.sample(PEOPLE_SENT, r.randint(1, 3)))
    lang = r.choices(["en", "es", "de", "fr", "ja", "zh"], [8, 1.5, 1.5, 1, 1, 1])[0]
    diff = r.choices(["easy", "medium"], [2, 1])[0]
    if diff == "easy":
        t = {"en": [f"Get the email address from: \"{sents}\"", f"Which dates appear here? \"{sents}\"", f"Pull out the names: {sents}",
                    f"What's the amount in this text? {sents}"],
             "es": [f"Saca el correo electrónico de: \"{sents}\""], "de": [f"Welche Daten stehen hier? „{sents}“"], "fr": [f"Relève les montants : « {sents} »"],
             "ja": [f"次の文からメールアドレスを抜き出して：「{sents}」"], "zh": [f"从这句话里提取金额：“{sents}”"]}[lang]
    else:
        t = {"en": [f"Extract name, email, phone, amount (number) and date (ISO 8601) from this as JSON, null if missing: \"{sents}\"",
                    f"Turn this into a table with columns person, city, date, amount: {sents}"],
             "es": [f"Extrae nombre, correo, importe y fecha (ISO) en JSON: \"{sents}\""], "de": [f"Extrahiere Name, E-Mail, Betrag und Datum als JSON: „{sents}“"],
             "fr": [f"Extrais nom, e-mail, montant et date au format JSON : « {sents} »"], "ja": [f"名前・メール・金額・日付をJSONで抽出してください：「{sents}」"],
             "zh": [f"请把姓名、邮箱、金额、日期提取成JSON：“{sents}”"]}[lang]
    return r.choice(t), diff, lang


def gen_summarization_inline(r):
    paras = ["The council voted on Tuesday to extend the night bus service to the eastern suburbs from March, after a petition signed by 4,000 residents. The extension will cost about £1.2 million a year, funded partly by a new parking levy. Opponents argued the money should go to road repairs instead.",
             "Our Q2 sprint delivered the new checkout, but the search rewrite slipped by three weeks because of an indexing bug. Customer tickets fell 12%. Next quarter we focus on performance and the mobile app.",
             "Researchers tracked 2,000 commuters for a year and found that those who cycled at least three days a week reported fewer sick days and better mood, though the study could not rule out that healthier people simply cycle more.",
             "The museum will close its east wing from June to September for roof repairs. Ticket prices stay the same, but guided tours move to the west wing, and the café gets longer opening hours."]
    p = r.choice(paras)
    lang = r.choices(["en", "es", "de", "fr", "ja", "zh"], [8, 1.5, 1.5, 1, 1, 1])[0]
    diff = r.choices(["easy", "medium"], [2, 1])[0]
    if diff == "easy":
        t = {"en": [f"Summarize in one sentence: {p}", f"tl;dr: {p}", f"Give this a headline: \"{p}\"", f"Short version please: {p}"],
             "es": [f"Resume en una frase: {p}"], "de": [f"Fasse in einem Satz zusammen: {p}"], "fr": [f"Résume en une phrase : {p}"],
             "ja": [f"一文で要約して：{p}"], "zh": [f"用一句话概括：{p}"]}[lang]
    else:
        t = {"en": [f"Summarize this for a busy executive in 3 bullets, keeping the numbers: {p}", f"Write a 40-word summary of the following for a newsletter, neutral tone: {p}"],
             "es": [f"Resume esto en tres puntos para mi jefa, con las cifras: {p}"], "de": [f"Fasse das in drei Stichpunkten für die Chefin zusammen: {p}"],
             "fr": [f"Résume en trois points pour un lecteur pressé : {p}"], "ja": [f"役員向けに3つの箇条書きで要約してください：{p}"],
             "zh": [f"请为领导用三条要点总结：{p}"]}[lang]
    return r.choice(t), diff, lang

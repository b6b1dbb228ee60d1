"""Reasoning requests for sw-direct: deduce from premises given in the prompt (LABELS.md) —
applying stated rules, logic grids, ordering and scheduling under constraints, syllogisms,
argument and fallacy analysis, counterfactuals about a described scenario, everyday
deductions. Returns (text, difficulty, language).
"""
import itertools
import random

NAMES = ["Ana", "Ben", "Carla", "Dev", "Elif", "Femi", "Gus", "Hana", "Ivo", "Jade", "Kemal", "Lena", "Milo", "Noor", "Otto", "Pia"]

# Rule domains: rules (with numbers), and cases that need the rules applied.
DOMAINS = [
    ("gym membership", ["members may book at most 3 classes per week", "a class cancelled less than 12 hours before counts as attended",
                        "off-peak members may not book classes starting after 17:00", "a member who misses 2 classes in a month cannot book for 7 days",
                        "personal-training sessions do not count towards the weekly class limit"],
     ["an off-peak member books a 17:30 spin class", "a member cancels a class 10 hours before and then tries to book a fourth class that week",
      "a member missed two classes this month and wants to book tomorrow", "someone with 3 classes booked adds a personal-training session"]),
    ("parking permits", ["residents get one free permit per household", "a second permit costs €120 a year", "electric cars get 50% off any permit",
                         "permits are not valid on market days between 6:00 and 14:00", "visitors may park 3 hours with a day pass, at most 10 day passes a month"],
     ["a household with two cars, one electric, wants both permits", "a resident parks at 8:00 on a market day", "a visitor uses an 11th day pass in a month"]),
    ("airline baggage", ["economy fares include one 23 kg bag", "each extra kilo costs €12, but bags over 32 kg are refused", "sports equipment counts as one bag regardless of size",
                         "gold members get a second free bag", "infants get one 10 kg bag"],
     ["an economy passenger with a 26 kg bag", "a gold member with two 23 kg bags and a bicycle", "a 34 kg suitcase in economy"]),
    ("school grading", ["the final grade is the average of the three exams", "a student who misses an exam may take a make-up only with a medical note",
                        "a grade below 4 on any exam means failing the course regardless of the average", "the best of two attempts counts for exam 3 only"],
     ["grades 7, 3 and 9", "grades 6, 6 and a retaken exam 3 of 4 then 8", "a missed exam without a note"]),
    ("refund policy", ["unopened items can be returned within 30 days", "opened electronics can be returned within 14 days with a 15% restocking fee",
                       "sale items are exchange-only", "defective items can always be returned within the 2-year warranty", "gift receipts give store credit only"],
     ["opened headphones returned after 10 days", "a sale jacket returned for cash", "a defective blender bought 18 months ago", "a gift returned with a gift receipt"]),
    ("football league", ["a win gives 3 points, a draw 1", "teams level on points are ranked by goal difference, then goals scored", "a forfeit counts as a 3-0 loss",
                         "the last two teams are relegated unless the league expands"],
     ["two teams on 40 points, goal differences +5 and +5, goals 50 and 48", "a team that forfeits its last match while level with the team below"]),
    ("apartment building", ["no noise after 22:00 on weekdays and 23:00 on weekends", "pets are allowed if they weigh under 10 kg", "renovations need two weeks' notice to the board",
                            "bikes may not be stored in the stairwell", "exceptions require a majority vote of the board"],
     ["drilling on a Saturday at 22:30", "a 12 kg dog approved by a board majority", "starting a kitchen renovation with 5 days' notice"]),
    ("visa rules", ["visitors may stay 90 days within any 180-day period", "days of arrival and departure both count", "a work permit replaces the 90-day limit",
                    "students may work up to 20 hours a week during term"],
     ["someone who stayed 60 days, left for 30, and wants to return for 45", "a student working 25 hours in the holidays", "a student working 25 hours in term"]),
    ("scholarship eligibility", ["applicants need an average of at least 8.0", "family income must be below €40,000, or €55,000 with three or more children",
                                 "previous recipients must have passed all courses", "applications after 1 May are not considered"],
     ["an applicant with 8.2, income €48,000 and four siblings", "a previous recipient who failed one course", "an applicant with 7.9 and an income of €20,000"]),
    ("office hot-desking", ["desks are booked a day ahead", "each team has a quota of desks per day", "managers may override the quota for new hires in their first week",
                            "unclaimed bookings are released at 10:00"],
     ["a new hire in week two without a booking", "someone arriving at 10:30 to a booked desk", "a team already at quota booking for a visitor"]),
]

RULE_FRAMES = {
    "en": ["Here are the rules of our {dom}: {rules}. {q}", "Rules ({dom}): {rules}.\n\n{q}", "Our {dom} works like this: {rules}. {q}",
           "Given only these rules — {rules} — {q}", "{q} The {dom} rules are: {rules}."],
    "es": ["Estas son las normas ({dom}): {rules}. {q}"], "de": ["Das sind die Regeln ({dom}): {rules}. {q}"], "fr": ["Voici les règles ({dom}) : {rules}. {q}"],
    "pt": ["Estas são as regras ({dom}): {rules}. {q}"], "it": ["Queste sono le regole ({dom}): {rules}. {q}"], "ja": ["ルール（{dom}）：{rules}。{q}"], "zh": ["规则（{dom}）：{rules}。{q}"],
}
Q_MED = {"en": ["What happens in this case: {case}? Explain which rules apply.", "Is this allowed: {case}? Reason it through.",
                "Decide this case and cite the rule: {case}.", "How should this be handled: {case}?"],
         "es": ["¿Qué pasa en este caso: {case}? Explica qué reglas se aplican."], "de": ["Was gilt in diesem Fall: {case}? Begründe mit den Regeln."],
         "fr": ["Que se passe-t-il dans ce cas : {case} ? Justifie avec les règles."], "pt": ["O que acontece neste caso: {case}? Explique quais regras se aplicam."],
         "it": ["Cosa succede in questo caso: {case}? Spiega quali regole si applicano."], "ja": ["この場合どうなりますか：{case}。どのルールが適用されるか説明してください。"],
         "zh": ["这种情况怎么处理：{case}？请说明适用哪些规则。"]}
Q_HARD = {"en": ["Analyse each of these cases, including where rules interact or conflict and where the rules are ambiguous: {cases}. If a rule's wording allows two readings, give both outcomes.",
                 "Work through every case carefully — {cases} — identifying each rule that applies, the order in which they apply, and any case the rules don't settle."],
          "es": ["Analiza cada caso, incluidas las interacciones y ambigüedades entre reglas: {cases}."], "de": ["Analysiere jeden Fall, inklusive Wechselwirkungen und Mehrdeutigkeiten der Regeln: {cases}."],
          "fr": ["Analyse chaque cas, y compris les interactions et ambiguïtés entre les règles : {cases}."], "ja": ["各ケースについて、ルール同士の関係や解釈の分かれる点も含めて分析してください：{cases}。"],
          "zh": ["请逐一分析以下情况，包括规则之间的相互作用和歧义：{cases}。"]}


def gen_rules(r, lang):
    dom, rules, cases = r.choice(DOMAINS)
    hard = r.random() < 0.35
    if hard:
        rs = rules[:]
        rs.append("if two rules conflict, the more specific one prevails unless the board decides otherwise")
        q = r.choice(Q_HARD.get(lang, Q_HARD["en"])).format(cases="; ".join(r.sample(cases, min(len(cases), r.randint(2, 3)))))
        diff = "hard"
    else:
        rs = r.sample(rules, r.randint(2, len(rules)))
        q = r.choice(Q_MED.get(lang, Q_MED["en"])).format(case=r.choice(cases))
        # one case against two rules is a lookup; more rules need rule application (medium)
        diff = "easy" if len(rs) == 2 else "medium"
    return r.choice(RULE_FRAMES.get(lang, RULE_FRAMES["en"])).format(dom=dom, rules="; ".join(rs), q=q), diff


ATTRS = [("pet", ["cat", "dog", "parrot", "rabbit", "fish"]), ("drink", ["tea", "coffee", "juice", "water", "cocoa"]),
         ("city", ["Oslo", "Rome", "Lima", "Seoul", "Accra"]), ("job", ["nurse", "pilot", "chef", "teacher", "engineer"]),
         ("colour", ["red", "green", "blue", "yellow", "white"])]


def gen_grid(r, lang):
    k = r.choice([3, 3, 4, 4, 5])
    ppl = r.sample(NAMES, k)
    (a1, v1), (a2, v2) = r.sample(ATTRS, 2)
    v1, v2 = r.sample(v1, k), r.sample(v2, k)
    sol1 = dict(zip(ppl, v1))
    sol2 = dict(zip(ppl, v2))
    clues = []
    for p in ppl:
        if r.random() < 0.5:
            clues.append(f"{p} does not have the {r.choice([x for x in v1 if x != sol1[p]])} ({a1})")
        else:
            clues.append(f"the person whose {a1} is {sol1[p]} has {sol2[p]} as {a2}")
    for p in r.sample(ppl, k - 1):
        clues.append(f"{p}'s {a2} is not {r.choice([x for x in v2 if x != sol2[p]])}")
    r.shuffle(clues)
    q = {"en": "Who has which {a1} and which {a2}? Show how you deduce it.", "es": "¿Quién tiene qué {a1} y qué {a2}? Explica el razonamiento.",
         "de": "Wer hat welches {a1} und welches {a2}? Zeig die Herleitung.", "fr": "Qui a quel {a1} et quel {a2} ? Montre ton raisonnement."}
    head = {"en": f"Logic puzzle: {', '.join(ppl)} each have a different {a1} ({', '.join(v1)}) and a different {a2} ({', '.join(v2)}). Clues: ",
            "es": f"Acertijo lógico: {', '.join(ppl)} tienen cada uno un {a1} distinto ({', '.join(v1)}) y un {a2} distinto ({', '.join(v2)}). Pistas: ",
            "de": f"Logikrätsel: {', '.join(ppl)} haben jeweils ein anderes {a1} ({', '.join(v1)}) und ein anderes {a2} ({', '.join(v2)}). Hinweise: ",
            "fr": f"Énigme logique : {', '.join(ppl)} ont chacun un {a1} différent ({', '.join(v1)}) et un {a2} différent ({', '.join(v2)}). Indices : "}
    L = lang if lang in head else "en"
    text = head[L] + "; ".join(clues) + ". " + q[L].format(a1=a1, a2=a2)
    return text, "medium" if k <= 4 else "hard"


def gen_schedule(r, lang):
    n = r.randint(4, 6)
    tasks = [(chr(65 + i), r.choice([15, 30, 45, 60, 90])) for i in range(n)]
    cons = []
    for _ in range(r.randint(2, n)):
        a, b = r.sample([t[0] for t in tasks], 2)
        cons.append(r.choice([f"{a} must finish before {b} starts", f"{a} and {b} cannot be back to back", f"{a} must start after 10:00",
                              f"{b} needs a 15-minute break before it"]))
    start, end = r.choice([("9:00", "12:00"), ("13:00", "17:00"), ("8:30", "12:30")])
    text = (f"I need to fit {n} tasks into {start}–{end}: " + ", ".join(f"{t} ({d} min)" for t, d in tasks) + ". Constraints: " + "; ".join(cons) +
            ". " + r.choice(["Is there a valid schedule? If so give one, if not explain why.", "Find a schedule that satisfies everything, or prove none exists.",
                              "What's the earliest I can be done, and in what order?"]))
    return text, "medium" if n <= 5 and len(cons) <= 4 else "hard"


SYLL = {"en": ["All {a} are {b}. Some {b} are {c}. Does it follow that some {a} are {c}?", "No {a} is a {b}. Every {c} is a {b}. Can a {c} be a {a}?",
               "If it's a {a}, it's a {b}. This is not a {b}. Is it a {a}?", "Every {a} I know is {b}. Does that prove all {a} are {b}?"],
        "es": ["Todos los {a} son {b}. Algunos {b} son {c}. ¿Se deduce que algunos {a} son {c}?"], "de": ["Alle {a} sind {b}. Einige {b} sind {c}. Folgt daraus, dass einige {a} {c} sind?"],
        "fr": ["Tous les {a} sont {b}. Certains {b} sont {c}. Peut-on en déduire que certains {a} sont {c} ?"], "pt": ["Todos os {a} são {b}. Alguns {b} são {c}. Segue-se que alguns {a} são {c}?"],
        "it": ["Tutti i {a} sono {b}. Alcuni {b} sono {c}. Ne segue che alcuni {a} sono {c}?"], "ja": ["すべての{a}は{b}である。ある{b}は{c}である。では、ある{a}は{c}だと言えるか？"],
        "zh": ["所有{a}都是{b}，有些{b}是{c}。能推出有些{a}是{c}吗？"]}
TERMS = {"en": ["cats", "mammals", "pets", "poets", "dreamers", "engineers", "cyclists", "students", "vegetarians", "blorks", "fizzles", "wugs"],
         "es": ["gatos", "mamíferos", "poetas", "estudiantes"], "de": ["Katzen", "Säugetiere", "Dichter", "Studenten"], "fr": ["chats", "mammifères", "poètes", "étudiants"],
         "pt": ["gatos", "mamíferos", "poetas"], "it": ["gatti", "mammiferi", "poeti"], "ja": ["猫", "哺乳類", "詩人", "学生"], "zh": ["猫", "哺乳动物", "诗人", "学生"]}


def gen_syll(r, lang):
    L = lang if lang in SYLL else "en"
    a, b, c = r.sample(TERMS[L], 3)
    t = r.choice(SYLL[L]).format(a=a, b=b, c=c)
    if r.random() < 0.4:
        t += {"en": " Explain why.", "es": " Explica por qué.", "de": " Begründe.", "fr": " Explique pourquoi."}.get(L, "")
    return t, "easy"  # one inference step (LABELS.md: easy)


FALLACIES = [
    "Since the new manager arrived, sales went up, so she must be the reason.",
    "Either we ban all cars from the centre or the city will choke on pollution.",
    "My grandfather smoked every day and lived to 95, so smoking isn't that dangerous.",
    "Everyone at the office uses this app, so it must be the best one.",
    "If we allow remote work on Fridays, soon nobody will ever come to the office.",
    "You can't trust his argument about taxes — he's never even run a business.",
    "This supplement works because thousands of satisfied customers say it works.",
    "The report is reliable because it was written by reliable people, and we know they are reliable because they wrote this report.",
    "We've always done it this way, so changing the process would be a mistake.",
    "Crime went down after we installed cameras on two streets, so cameras reduce crime everywhere.",
]
ARG_Q = {"en": ["What's wrong with this reasoning: \"{a}\"", "Which fallacy is this? \"{a}\"", "Is this a good argument? \"{a}\" Explain the flaw, if any.",
                "Evaluate the logic: \"{a}\""],
         "es": ["¿Qué falla en este razonamiento? \"{a}\""], "de": ["Was ist an diesem Argument falsch? „{a}“"], "fr": ["Quel est le problème de ce raisonnement ? « {a} »"],
         "pt": ["Qual é o erro neste raciocínio? \"{a}\""], "it": ["Cosa non va in questo ragionamento? \"{a}\""], "ja": ["この推論のどこがおかしいですか？「{a}」"],
         "zh": ["这个推理有什么问题？“{a}”"]}
ARG_HARD = ["Reconstruct the following argument in premise–conclusion form, identify every hidden assumption and fallacy, and say what evidence would make the conclusion justified: \"{a} {b}\"",
            "Analyse rigorously whether this chain of reasoning is valid and sound, step by step, and construct the strongest counter-argument: \"{a} Moreover, {b}\""]

COUNTERFACTUALS = [
    ("A bridge inspection was skipped, a truck exceeded the weight limit, and a storm weakened the supports the night before the bridge cracked.", "each factor"),
    ("The launch failed: the server ran out of memory, the on-call engineer was unreachable, and the alert had been muted for maintenance.", "each event"),
    ("A restaurant failed an inspection after a fridge broke, the manager was on holiday, and a delivery arrived warm.", "each circumstance"),
    ("A runner missed the qualifying time: she had a cold, the race started in 30 °C heat, and her shoe came untied at km 8.", "each factor"),
]
CF_Q = {"medium": ["Based only on this, would the outcome have happened without {x}? Explain: {s}", "{s} Which of these was necessary for the outcome? Reason from the facts given."],
        "hard": ["{s} Analyse {x}: necessary, sufficient, or neither given only these facts; identify overdetermination, and where the answer depends on assumptions the scenario leaves open.",
                 "Work through the counterfactuals rigorously for {x} in this scenario and explain what can and cannot be concluded: {s}"]}

EVERYDAY = {"en": ["The shop closes at 18:00. It's 17:35 and the walk takes 20 minutes, but I need 10 minutes inside. Will I make it?",
                   "My train arrives at 14:10 and the connection leaves at 14:25 from a platform 8 minutes away. The connection is often 5 minutes late. Is it worth running?",
                   "If Sam is always late when it rains, and Sam was on time today, what can I conclude about the weather?",
                   "I have a 9 o'clock meeting in Berlin and my flight from London lands at 8:05 local time. The airport is 40 minutes from the office. Is that realistic?",
                   "My sister is older than me, and I'm older than our cousin. Our cousin says she's older than my sister. Who's wrong?",
                   "A box is labelled 'fragile' and 'this side up'; the arrow points to the side that says 'bottom'. Which way should it go?",
                   "Three friends split the bill: one paid, one paid half of that, one paid nothing. Who owes whom, roughly, if we want it fair?"],
            "es": ["La tienda cierra a las 20:00, son las 19:40 y tardo 25 minutos en llegar. ¿Llego a tiempo?"],
            "de": ["Der Laden schließt um 18 Uhr, es ist 17:40 und ich brauche 25 Minuten. Schaffe ich es?"],
            "fr": ["Le magasin ferme à 19 h, il est 18 h 45 et j'ai 20 minutes de trajet. J'y arrive ?"],
            "pt": ["A loja fecha às 18h, são 17h40 e levo 25 minutos para chegar. Dá tempo?"], "it": ["Il negozio chiude alle 19, sono le 18:45 e ci metto 20 minuti. Ce la faccio?"],
            "ja": ["店は18時に閉まります。今17時40分で、店まで25分かかります。間に合いますか？"], "zh": ["商店18点关门，现在17点40分，走过去要25分钟，来得及吗？"]}


def gen(r):
    lang = r.choices(["en", "es", "de", "fr", "pt", "it", "ja", "zh"], [10, 2, 2, 1.5, 1.2, 0.8, 1.3, 1.3])[0]
    kind = r.choices(["rules", "grid", "schedule", "syll", "fallacy", "cf", "everyday"], [3, 1.3, 1, 1.2, 1.3, 0.9, 1.2])[0]
    if kind == "rules":
        t, d = gen_rules(r, lang)
    elif kind == "grid":
        t, d = gen_grid(r, lang)
        lang = lang if lang in ("en", "es", "de", "fr") else "en"
    elif kind == "schedule":
        t, d = gen_schedule(r, lang)
        lang = "en"
    elif kind == "syll":
        t, d = gen_syll(r, lang)
    elif kind == "fallacy":
        if r.random() < 0.3:
            a, b = r.sample(FALLACIES, 2)
            t, d, lang = r.choice(ARG_HARD).format(a=a, b=b[0].lower() + b[1:]), "hard", "en"
        else:
            L = lang if lang in ARG_Q else "en"
            t, d, lang = r.choice(ARG_Q[L]).format(a=r.choice(FALLACIES)), "medium", L
    elif kind == "cf":
        s, x = r.choice(COUNTERFACTUALS)
        d = r.choice(["medium", "hard"])
        t, lang = r.choice(CF_Q[d]).format(s=s, x=x), "en"
    else:
        L = lang if lang in EVERYDAY else "en"
        t, d, lang = r.choice(EVERYDAY[L]), "easy", L
    return t, d, lang

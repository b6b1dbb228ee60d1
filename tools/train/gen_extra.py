#!/usr/bin/env python3
"""Writes data/prompts/extra.jsonl: hand-written labelled prompts for the classes the public
sets lack (translation, summarization, extraction, ordinary writing, assistant-directed chat,
easy reasoning, mid-size code, open-ended research).

Every template, passage and topic below was written by hand for this repo; the generator only
combines them. It is deterministic (fixed seed, fixed order), so re-running it reproduces the
file byte for byte. Labels follow data/prompts/public/README.md and LABELS.md (label definitions).

    python3 tools/train/gen_extra.py > data/prompts/extra.jsonl
"""
import json
import random

rng = random.Random(20240611)
out = []


def add(task, diff, label, prompt):
    out.append({"id": "extra-%s-%04d" % (task, sum(1 for o in out if o["task"] == task)),
                "prompt": prompt, "source": "switchyard-handwritten",
                "source_label": label + " (hand-written)", "task": task, "difficulty": diff})


# ----------------------------------------------------------------- passages (hand-written)
PASSAGES = [
    ("meeting", "Attendees: Priya (PM), Tom (backend), Lena (design), Marco (QA).\n"
     "- Release 2.4 slips from March 3 to March 10 because the payment provider changed its webhook signature.\n"
     "- Tom will patch the webhook handler by Wednesday; Marco needs two days for regression testing.\n"
     "- Lena showed the new onboarding screens; everyone liked the shorter sign-up form, but legal must review the consent text.\n"
     "- Budget for the user study was approved: $4,500.\n"
     "- Next sync: Thursday 10:00."),
    ("news", "The city council voted 7 to 2 on Tuesday to convert the old freight rail line along the river into a "
     "4.8-kilometre cycling and walking path. Construction is expected to begin next spring and cost about 12 million "
     "euros, two thirds of which will come from a regional transport grant. Supporters said the path would connect three "
     "neighbourhoods that currently lack safe bike routes, while the two councillors who voted against it questioned the "
     "maintenance costs and asked for a study on flood risk near the harbour section."),
    ("review", "I bought these noise-cancelling headphones for my commute. The cancellation is excellent on the train and "
     "the battery easily lasts a week. However, the ear cups get warm after an hour, the app keeps asking me to create an "
     "account, and the case is bulky. Sound is warm with a bit too much bass for classical music. For the price (199 USD) "
     "I'd still recommend them, but try them on first if you wear glasses."),
    ("email", "Hi Sam,\n\nThanks for sending the draft contract. A few points before we sign: the delivery date in clause 4 "
     "says June 30 but we agreed on July 15; the late-payment penalty of 5% per week seems high, could we make it 1%? "
     "Also, we need the support hours to include Saturdays. Our finance team can wire the 30% deposit as soon as these are "
     "fixed. Can we talk on Friday at 2 pm?\n\nBest,\nAna Ruiz\nHead of Operations, Brightline Logistics\n+34 612 555 019"),
    ("abstract", "We study whether small language models can be trained to route queries to larger models. Using 40,000 "
     "labelled prompts across nine task types, we train a 60M-parameter classifier that predicts which of four models will "
     "answer correctly. Routing reduces inference cost by 47% while keeping 96% of the accuracy of always using the largest "
     "model. Errors concentrate on multi-step math and on prompts mixing several languages. We release the router and the "
     "evaluation harness."),
    ("incident", "At 14:02 UTC the primary database in eu-west started rejecting connections after a certificate rotation "
     "job installed an intermediate certificate with the wrong chain. API error rates rose to 38%. On-call engineers rolled "
     "back the certificate at 14:31 and traffic recovered by 14:40. No data was lost. Follow-ups: add a chain validation "
     "step to the rotation job, alert on TLS handshake failures, and run the rotation in staging first."),
    ("story", "When the lighthouse keeper retired, the village assumed the light would go dark. Instead, every evening a "
     "different neighbour climbed the 112 steps: the baker on Mondays, the two schoolteachers on Wednesdays, old Mr. Ferris "
     "on Sundays despite his knees. Nobody organised it; a notebook appeared on the bottom step and people wrote their "
     "names. Ten years later, the notebook had four hundred names, and the light had never missed a night."),
    ("policy", "Employees may work remotely up to three days per week with their manager's approval. Core hours are 10:00 to "
     "15:00 local time. Equipment purchases up to 300 EUR per year are reimbursed with receipts submitted within 30 days. "
     "Remote work from another country requires HR approval at least four weeks in advance and is limited to 20 working "
     "days per calendar year for tax reasons. Security rules apply everywhere: no public Wi-Fi without the VPN."),
    ("invoice", "INVOICE #INV-2024-0318\nDate: 2024-03-18    Due: 2024-04-17\nBill to: Northwind Cafe, 22 Harbour St, "
     "Bristol BS1 4QA\nItems:\n  Espresso beans 5kg x 3 ..... 135.00 GBP\n  Oat milk 1L x 24 ........... 43.20 GBP\n"
     "  Paper cups 12oz x 1000 ..... 61.50 GBP\nSubtotal: 239.70 GBP\nVAT 20%: 47.94 GBP\nTotal: 287.64 GBP\n"
     "Pay to: Sort code 20-11-45, Account 40302010"),
    ("log", "2024-05-02T09:14:03Z INFO  api  request_id=7f3a user=1842 GET /v1/orders 200 41ms\n"
     "2024-05-02T09:14:05Z WARN  api  request_id=7f3b user=22 POST /v1/orders 429 3ms rate_limited\n"
     "2024-05-02T09:14:07Z ERROR db   request_id=7f3c user=1842 timeout after 5000ms query=select_orders\n"
     "2024-05-02T09:14:09Z INFO  api  request_id=7f3d user=97 GET /v1/items 200 18ms\n"
     "2024-05-02T09:14:12Z ERROR api  request_id=7f3e user=22 POST /v1/payments 502 1203ms upstream=stripe"),
    ("history", "The Hanseatic League was a commercial and defensive network of merchant guilds and market towns that "
     "dominated trade in the Baltic and North Sea from the 13th to the 15th century. Cities such as Lübeck, Hamburg and "
     "Bruges shared privileges, common legal practices and trading posts called Kontore in London, Bergen and Novgorod. "
     "Its decline came with the rise of territorial states, new Atlantic trade routes and competition from Dutch shippers."),
    ("support", "Customer: Hi, I was charged twice for my annual plan on May 3rd, once 89.99 and once 89.99 again. My "
     "account email is jo.kim@example.net. I only have one workspace. Can you refund the duplicate? Also, the invoice shows "
     "my old company name (Kim Design Studio); it should be KDS Creative Ltd. Thanks, Jo"),
    ("recipe", "Lentil soup: soften one chopped onion, two carrots and two celery sticks in olive oil for 8 minutes. Add two "
     "cloves of garlic, a teaspoon of cumin and a teaspoon of smoked paprika. Stir in 250 g of red lentils, a tin of chopped "
     "tomatoes and 1.2 litres of stock. Simmer for 25 minutes, season, blend half of it, and finish with lemon juice."),
    ("science", "Coral bleaching happens when water temperatures stay unusually high for weeks. Stressed corals expel the "
     "symbiotic algae living in their tissues, which provide most of their energy and their colour. Bleached corals are not "
     "dead, but if temperatures do not fall they can starve within weeks. Reefs that recover usually need a decade of "
     "stable conditions; repeated heatwaves shorten that window and favour faster-growing, less diverse species."),
    ("chatlog", "[09:02] Mia: did anyone deploy the new search service?\n[09:03] Raj: yes, last night, v3.1\n"
     "[09:05] Mia: latency on /search doubled since then\n[09:06] Raj: hmm, the new ranking model is bigger. can roll back\n"
     "[09:07] Chen: before rolling back, let's check cache hit rate, it dropped to 20% after the index rebuild\n"
     "[09:15] Raj: confirmed, cache was cold. warming it now\n[09:40] Mia: latency back to normal. thanks both"),
    ("bio", "Dr. Amara Okafor is a hydrologist at the University of Lagos. She completed her PhD at ETH Zurich in 2012, "
     "worked for the World Bank on water projects in Kenya and Ghana until 2017, and now leads a team of eleven researchers "
     "studying groundwater depletion in West African cities. She has published 48 papers and won the 2021 IWA Young "
     "Leaders Award."),
]

# ----------------------------------------------------------------- translation
LANGS = ["French", "Spanish", "German", "Italian", "Portuguese", "Japanese", "Chinese (Simplified)", "Korean",
         "Russian", "Arabic", "Dutch", "Polish", "Turkish", "Hindi", "Swedish", "Vietnamese", "Greek", "Ukrainian",
         "Indonesian", "Czech", "Brazilian Portuguese", "Hebrew", "Thai", "Finnish"]
SHORT_EN = ["Where is the nearest train station?", "I would like to book a table for two at eight o'clock.",
            "Thank you for your help, I really appreciate it.", "The meeting has been moved to Thursday afternoon.",
            "Could you please send me the invoice again?", "My flight was cancelled and I need a hotel for tonight.",
            "Happy birthday! I hope all your wishes come true.", "Please keep this medicine in a cool, dry place.",
            "We are closed on public holidays.", "How much does a ticket to the museum cost?",
            "I'm allergic to peanuts.", "Your order has been shipped and will arrive in 3-5 business days.",
            "Sorry, I don't speak the language very well.", "The password must contain at least eight characters.",
            "Turn left at the second traffic light.", "Can I pay by card?", "Good luck with your exam tomorrow!",
            "The water is not safe to drink."]
FOREIGN = [("French", "Je voudrais réserver une chambre pour trois nuits, s'il vous plaît."),
           ("Spanish", "¿Podrías decirme a qué hora sale el último autobús hacia el centro?"),
           ("German", "Die Lieferung verzögert sich leider um zwei Wochen wegen fehlender Teile."),
           ("Italian", "Non vedo l'ora di rivederti la prossima estate al mare."),
           ("Portuguese", "O prazo para entregar o relatório foi prorrogado até sexta-feira."),
           ("Japanese", "明日の会議は午後三時に変更になりました。よろしくお願いします。"),
           ("Chinese", "请问附近有没有药店？我需要买一些感冒药。"),
           ("Korean", "주문하신 상품이 오늘 발송되었습니다. 감사합니다."),
           ("Russian", "Извините, вы не подскажете, как пройти к музею?"),
           ("Arabic", "شكرا جزيلا على مساعدتك، سأتصل بك غدا."),
           ("Dutch", "Kun je me morgen helpen met verhuizen? Ik trakteer op pizza."),
           ("Polish", "Dzień dobry, chciałbym zapytać o godziny otwarcia biblioteki."),
           ("Turkish", "Bu akşam yemeğe gelebilir misin? Annem börek yaptı."),
           ("Hindi", "कृपया मुझे बताइए कि रेलवे स्टेशन कितनी दूर है।"),
           ("Swedish", "Jag har glömt mina nycklar på kontoret, kan du öppna dörren?"),
           ("Vietnamese", "Cảm ơn bạn rất nhiều vì món quà sinh nhật dễ thương."),
           ("Greek", "Μπορείτε να μου φέρετε τον λογαριασμό, παρακαλώ;"),
           ("Ukrainian", "Я вчуся програмувати вже два роки і дуже це люблю."),
           ("Czech", "Vlak do Brna má zpoždění asi dvacet minut."),
           ("Indonesian", "Saya ingin memesan dua tiket untuk pertunjukan malam ini.")]
WORDS = ["serendipity", "cozy", "deadline", "to procrastinate", "homesick", "a rain check", "bittersweet",
         "breakthrough", "to look forward to", "cheers", "sustainability", "awkward", "a shortcut", "overwhelmed"]
UI_STRINGS = ['"Save changes"', '"Are you sure you want to delete this file?"', '"Sign in with Google"',
              '"Your session has expired. Please log in again."', '"Add to cart"', '"Forgot your password?"',
              '"No results found for your search."', '"Upload failed: file is larger than 10 MB."']

for i, s in enumerate(SHORT_EN):
    lang = LANGS[i % len(LANGS)]
    tpl = ["Translate into %s: %s", "How do you say \"%s\" in %s?", "Can you translate this to %s for me? \"%s\"",
           "%s -> %s please", "Please translate the following sentence into %s.\n\n%s",
           "what's \"%s\" in %s"][i % 6]
    if tpl.startswith("How do you") or tpl.startswith("what's"):
        add("translation", "easy", "sentence", tpl % (s, lang))
    elif tpl.startswith("%s ->"):
        add("translation", "easy", "sentence", tpl % (s, lang))
    else:
        add("translation", "easy", "sentence", tpl % (lang, s))
    lang2 = LANGS[(i * 7 + 3) % len(LANGS)]
    add("translation", "easy", "sentence", ["Translate to %s:\n%s", "In %s, please: %s", "%s translation of: %s"][i % 3]
        % (lang2, s))
for i, (lang, s) in enumerate(FOREIGN):
    target = ["English", "English", "Spanish", "German", "French"][i % 5]
    tpl = ["Translate this %s text into %s: %s", "What does this mean in %s? %s", "%s",
           "Can you translate from %s to %s?\n\n%s", "Please give me an accurate %s translation: %s"][i % 5]
    if i % 5 == 0:
        p = tpl % (lang, target, s)
    elif i % 5 == 1:
        p = tpl % (target, s)
    elif i % 5 == 2:
        p = "Translate: " + s
    elif i % 5 == 3:
        p = tpl % (lang, target, s)
    else:
        p = tpl % (target, s)
    add("translation", "easy", "foreign-sentence", p)
    add("translation", "easy", "foreign-sentence", "%s\n\n(translate to %s please)" % (s, ["English", "Italian"][i % 2]))
for i, w in enumerate(WORDS):
    lang = LANGS[(i * 5) % len(LANGS)]
    add("translation", "easy", "word", ["What is the %s word for \"%s\"?", "How would you translate \"%s\" into %s?"][i % 2]
        % ((lang, w) if i % 2 == 0 else (w, lang)))
for i, u in enumerate(UI_STRINGS):
    langs = ", ".join(LANGS[(i * 3 + k) % len(LANGS)] for k in range(3))
    add("translation", "medium", "ui-strings",
        "I'm localising my app. Translate the UI string %s into %s. Keep it short enough for a button or dialog, "
        "and keep any placeholders unchanged." % (u, langs))
for i, (name, text) in enumerate(PASSAGES):
    lang = LANGS[(i * 11 + 1) % len(LANGS)]
    if name in ("meeting", "invoice", "log", "chatlog"):
        add("translation", "medium", "document",
            "Translate the following into %s. Keep the formatting (line breaks, bullet points, numbers and names) "
            "exactly as it is:\n\n%s" % (lang, text))
    elif name in ("policy", "email", "support"):
        add("translation", "hard" if name == "policy" else "medium", "document",
            ["Translate this %s into formal %s suitable for sending to a client:\n\n%s",
             "Please translate the %s below into %s, using the polite form of address and natural business phrasing.\n\n%s"]
            [i % 2] % (name, lang, text))
    else:
        add("translation", "medium", "document", "Translate this paragraph into %s:\n\n%s" % (lang, text))
    lang3 = LANGS[(i * 5 + 9) % len(LANGS)]
    add("translation", "hard" if name in ("story", "abstract", "history") else "medium", "document",
        ["Can you translate this text to %s? Preserve the tone and don't add explanations.\n\"\"\"\n%s\n\"\"\"",
         "%s version of the text below, please. Technical terms should use the standard terminology of the field.\n\n%s",
         "Translate into %s and then list any phrases that have no direct equivalent:\n\n%s"][i % 3] % (lang3, text))
HARD_TR = [
    "Translate this poem into French while keeping the rhyme scheme AABB and roughly the same syllable count:\n\n"
    "The kettle sings, the window weeps,\nthe garden turns in autumn sleeps;\nI fold the letters you once wrote\n"
    "and keep the last one in my coat.",
    "Translate the following clause of a software licence into German legal language. Keep the defined terms "
    "capitalised:\n\n\"Licensee shall not sublicense, sell, lease or otherwise transfer the Software, in whole or in part, "
    "without the prior written consent of Licensor, which consent shall not be unreasonably withheld.\"",
    "Translate this Japanese haiku into English three ways: literal, poetic, and one that keeps 5-7-5 syllables. "
    "古池や 蛙飛び込む 水の音",
    "Translate these marketing taglines into Spanish for Mexico and Spanish for Spain, adapting idioms rather than "
    "translating literally: 1) \"Go big or go home.\" 2) \"It's a piece of cake.\" 3) \"Break the ice with better coffee.\"",
    "I need this medical discharge note translated into Arabic for a patient's family. Please be precise with dosages "
    "and keep drug names in Latin script: \"Take amoxicillin 500 mg three times a day for 7 days. Avoid alcohol. Return "
    "if fever exceeds 39°C or breathing becomes difficult.\"",
    "Translate the subtitles below from English to Brazilian Portuguese. Each line must stay under 42 characters and "
    "keep its timestamp.\n00:01:02,000 --> 00:01:04,500\nI told you we'd be late.\n00:01:04,600 --> 00:01:07,000\n"
    "Relax, the movie hasn't even started.",
    "Translate this Russian proverb into English, give its literal meaning, then an English proverb with the same sense: "
    "«Тише едешь — дальше будешь».",
    "Please translate the following README section into Simplified Chinese. Do not translate code blocks, command "
    "names or file paths.\n\n## Installation\nRun `make install` as root. The configuration file lives in "
    "/etc/switchyard/config.json; edit the `listen` field to change the port.",
    "Translate this informal WhatsApp message from my Italian friend into natural English, and explain any slang: "
    "\"Raga stasera apericena da Marco? Porto io lo spritz, non fate i tirchi eh 😂\"",
    "Translate the following French contract excerpt into English and flag any terms whose legal meaning differs "
    "between French and common law: « Le présent contrat est conclu pour une durée indéterminée et pourra être résilié "
    "par l'une ou l'autre des parties moyennant un préavis de trois mois. »",
]
for p in HARD_TR:
    add("translation", "hard", "hard-translation", p)
MIXED_TR = ["¿Cómo se dice 'I miss you' en japonés?", "Comment on dit \"deadline\" en français, sans anglicisme ?",
            "Wie übersetzt man \"to be on the same page\" ins Deutsche?", "这句话用英语怎么说：我们下周再讨论这个问题。",
            "Traduci in inglese: \"Ci vediamo domani davanti alla stazione.\"",
            "Переведи на английский: «Я опаздываю на пять минут, начинайте без меня».",
            "Traduza para o inglês, por favor: \"Estou com saudades de casa.\"",
            "Vertaal naar het Engels: \"Het regent pijpenstelen.\"",
            "英語に翻訳してください：「この電車は東京駅に止まりますか？」",
            "Tradúceme al inglés este mensaje: \"Llego tarde, hay mucho tráfico. Empezad sin mí.\""]
for p in MIXED_TR:
    add("translation", "easy", "non-english-request", p)

# ----------------------------------------------------------------- summarization
SUM_TPL_EASY = ["Summarize this in one sentence:\n\n%s", "TL;DR please:\n%s", "Give me a short summary of the text below.\n\n%s",
                "Can you sum this up in two lines?\n\n%s", "%s\n\nSummarize the above.", "tl;dr\n\n%s",
                "Write a one-paragraph summary of this:\n\"\"\"%s\"\"\"", "Summarise (British spelling ok) in under 30 words:\n%s"]
SUM_TPL_MED = ["Summarize the following in 3 bullet points, then list any open questions:\n\n%s",
               "Give me the key points of this text as a numbered list, max 5 items, each under 15 words.\n\n%s",
               "Write an executive summary of the text below for a busy manager. Start with the main decision or "
               "finding, then risks.\n\n%s",
               "Condense this into a 50-word abstract and suggest a title.\n\n%s",
               "Summarize this for a 10-year-old:\n\n%s", "I don't have time to read this. What are the main takeaways?\n\n%s",
               "Please produce meeting minutes / a recap from this: action items with owners first, then decisions.\n\n%s",
               "Give me a headline and a two-sentence summary for this:\n%s"]
for i, (name, text) in enumerate(PASSAGES):
    for k in range(2):
        add("summarization", "easy", "summary-" + name, SUM_TPL_EASY[(i + 3 * k) % len(SUM_TPL_EASY)] % text)
    for k in range(2):
        add("summarization", "medium", "summary-" + name, SUM_TPL_MED[(i * 2 + k) % len(SUM_TPL_MED)] % text)
    add("summarization", "easy", "title-" + name, ["Suggest a title for this:\n\n%s", "Title this text in under 8 words:\n%s",
                                                   "What would be a good subject line for this?\n\n%s"][i % 3] % text)
for i in range(0, len(PASSAGES) - 2, 2):
    a, b, c = PASSAGES[i], PASSAGES[i + 1], PASSAGES[i + 2]
    add("summarization", "hard", "multi-doc",
        "Below are three documents. Write a combined summary of at most 120 words that keeps every number that matters, "
        "then a one-line summary of each, and say which document is most urgent.\n\nDocument 1:\n%s\n\nDocument 2:\n%s\n\n"
        "Document 3:\n%s" % (a[1], b[1], c[1]))
WORKS = ["Pride and Prejudice", "the first season of Breaking Bad", "the book Sapiens by Yuval Noah Harari",
         "Romeo and Juliet", "the movie Inception", "George Orwell's 1984", "The Great Gatsby", "the Odyssey",
         "the Treaty of Versailles", "Darwin's On the Origin of Species", "the film Parasite", "Moby-Dick",
         "the plot of Hamlet", "Thinking, Fast and Slow", "the Lord of the Rings trilogy", "Don Quixote"]
for i, w in enumerate(WORKS):
    add("summarization", "easy" if i % 2 else "medium", "named-work",
        ["Summarize %s in a paragraph.", "Give me a short plot summary of %s.", "Can you summarize %s chapter by chapter, "
         "briefly?", "What happens in %s? Keep it to five sentences, no spoilers for the ending."][i % 4] % w)
LONG_SUM = [
    "Summarize this customer feedback into themes with counts:\n" + "\n".join(
        "- " + s for s in ["App crashes when I upload photos", "Love the new dark mode", "Crashes on upload, again",
                           "Please add export to CSV", "Search is slow", "Photo upload fails on Android 14",
                           "Dark mode is great!", "Need CSV export for my accountant", "search takes 5+ seconds",
                           "Support answered quickly, thanks"]),
    "Here is a long Slack thread about our on-call rotation. Summarize the positions of each person and the final "
    "decision:\n" + PASSAGES[14][1] + "\n[10:02] Priya: can we also change the on-call rotation to weekly?\n"
    "[10:05] Raj: I prefer two-week shifts, fewer handovers\n[10:06] Chen: weekly, two weeks is exhausting\n"
    "[10:20] Priya: ok, weekly starting next month, Raj first",
    "Summarize the changes in this changelog for end users (not developers):\nv2.3.0\n- feat: bulk edit for tags\n"
    "- fix: timezone bug in recurring events (#1422)\n- perf: 30% faster initial sync\n- chore: bump deps\n"
    "- feat: keyboard shortcut Ctrl+K opens search\n- fix: crash when calendar has >10k events",
    "Read this research abstract and give me: the question, the method, the main number, and one limitation, each "
    "in one line.\n\n" + PASSAGES[4][1],
]
for p in LONG_SUM:
    add("summarization", "medium", "structured-summary", p)
for t in ["Summarize the main arguments for and against nuclear power in a short paragraph.",
          "Give me a TL;DR of the causes of the 2008 financial crisis.",
          "Summarize the key ideas of stoicism in five bullet points.",
          "Briefly summarize what happened at the Apollo 13 mission."]:
    add("summarization", "medium", "topic-summary", t)

# ----------------------------------------------------------------- extraction
EXTRACT = {
    "meeting": [("easy", "From these notes, what is the new release date?\n\n%s"),
                ("medium", "Extract all action items from these meeting notes as a JSON array of objects with "
                           "\"owner\", \"task\" and \"due\" (null if not stated).\n\n%s"),
                ("easy", "List the names of everyone who attended:\n%s")],
    "news": [("easy", "According to the passage, how many councillors voted against the plan?\n\n%s"),
             ("medium", "Extract every number in this article together with what it refers to, as a table.\n\n%s")],
    "review": [("easy", "Is the sentiment of this review positive, negative or mixed? Answer with one word.\n\n%s"),
               ("medium", "Pull out the pros and cons mentioned in this review as two lists, and the price.\n\n%s")],
    "email": [("medium", "Extract the sender's name, company, phone number and every requested change from this "
                         "email. Return YAML.\n\n%s"),
              ("easy", "What day and time does Ana propose for the call?\n\n%s")],
    "abstract": [("easy", "What dataset size does this abstract mention?\n\n%s"),
                 ("medium", "Fill this template from the abstract: Task=?, Model size=?, Cost reduction=?, "
                            "Accuracy retained=?\n\n%s")],
    "incident": [("medium", "From this incident report extract: start time, end time, duration in minutes, root "
                            "cause, and the list of follow-ups. Output JSON.\n\n%s"),
                 ("easy", "What was the peak error rate in this incident?\n%s")],
    "invoice": [("medium", "Parse this invoice into JSON with fields invoice_number, date, due_date, customer, "
                           "line_items (description, quantity, amount), subtotal, vat, total, currency.\n\n%s"),
                ("easy", "What is the total amount due on this invoice?\n\n%s")],
    "log": [("medium", "From these log lines, list every request that failed (status >= 400) with its request_id, "
                       "status and reason.\n\n%s"),
            ("hard", "Parse these logs into CSV columns timestamp,level,service,request_id,user,method,path,status,"
                     "latency_ms,extra. Then give the error rate per user. Lines that don't fit should go in a "
                     "separate list.\n\n%s")],
    "history": [("easy", "Which cities are named in this text?\n\n%s"),
                ("medium", "Extract all place names from the passage and label each as city or region/sea.\n\n%s")],
    "support": [("medium", "Extract from this support message: customer email, amount charged, charge date, number of "
                           "charges, and the requested corrections. Return a JSON object.\n\n%s"),
                ("easy", "Classify this ticket into one of: billing, bug, feature request, account. Only the label.\n\n%s")],
    "recipe": [("easy", "List just the ingredients from this recipe, one per line:\n\n%s"),
               ("medium", "Extract each ingredient with quantity and unit into a table (ingredient | quantity | unit)."
                          "\n\n%s")],
    "science": [("easy", "Based only on the passage, why do bleached corals lose their colour?\n\n%s")],
    "chatlog": [("easy", "Who first noticed the latency problem, according to this chat?\n\n%s"),
                ("medium", "From this chat log extract a timeline: time, person, event. Then state the root cause in "
                           "one line.\n\n%s")],
    "bio": [("medium", "Extract a structured profile from this bio: name, title, employer, PhD institution and year, "
                       "previous employer with years, team size, number of papers, awards.\n\n%s"),
            ("easy", "Where did Dr. Okafor get her PhD?\n%s")],
    "policy": [("medium", "List every number in this policy with the rule it belongs to.\n\n%s"),
               ("easy", "According to this policy, how many days per week can I work remotely?\n\n%s")],
    "story": [("easy", "How many steps does the lighthouse have, according to the story?\n\n%s")],
}
for name, text in PASSAGES:
    for diff, tpl in EXTRACT.get(name, []):
        add("extraction", diff, "extract-" + name, tpl % text)
CLASSIFY_ITEMS = [
    ("Label each tweet as positive, negative or neutral:\n1. Just got my coffee and it's perfect ☕\n2. Third delay "
     "this week, thanks a lot @CityRail\n3. The store opens at 9 tomorrow.\n4. Can't believe how good this album is", "easy"),
    ("Which of these emails are spam? Answer with the numbers.\n1) \"Your package could not be delivered, click here "
     "to pay 1.99 customs fee\"\n2) \"Lunch tomorrow at 12:30?\"\n3) \"You have WON a $1000 gift card!!!\"\n"
     "4) \"Minutes from Monday's board meeting attached\"", "easy"),
    ("Tag each product with its category (electronics, clothing, food, home): wireless mouse, linen shirt, olive oil, "
     "desk lamp, rain jacket, USB-C charger, dark chocolate, bath towel", "easy"),
    ("Find all email addresses and phone numbers in this text: Contact sales at sales@acme.io or +1 (415) 555-0132. "
     "For support write to help@acme.io; our Berlin office is +49 30 1234567.", "easy"),
    ("Extract the dates in ISO format from: \"The workshop runs from March 3rd to the 5th, 2025, with a follow-up "
     "on 12/04/2025 (European format) and the final report due end of April.\"", "medium"),
    ("Identify the named entities (PERSON, ORG, LOCATION, DATE) in: \"Satya Nadella announced on Monday that "
     "Microsoft will open a new data centre in Jakarta by 2026.\"", "easy"),
    ("Given this CSV, which rows have a negative balance?\nid,name,balance\n1,Alice,120.50\n2,Bob,-35.00\n"
     "3,Carla,0\n4,Dan,-2.10", "easy"),
    ("From this job posting, extract the salary range, location, required years of experience and the tech stack as "
     "JSON:\n\"Senior Backend Engineer (Lisbon or remote EU). 5+ years with Go or Rust, PostgreSQL, Kafka. Salary "
     "65-85k EUR + equity. Nice to have: Kubernetes.\"", "medium"),
    ("Read the paragraph and answer: what year was the bridge completed?\n\"Work on the bridge began in 1927 after "
     "years of debate. Despite a strike in 1929 and a redesign of the central span, it opened to traffic in May 1932, "
     "two years later than planned.\"", "easy"),
    ("Extract all the URLs from this HTML snippet and say which ones are external: <a href=\"/about\">About</a> "
     "<a href=\"https://github.com/acme/app\">Code</a> <img src=\"https://cdn.acme.io/logo.png\"> "
     "<a href=\"mailto:hi@acme.io\">Mail</a>", "medium"),
    ("Which of the following sentences contain a factual claim that could be checked? Return their numbers.\n"
     "1. Paris is the capital of France.\n2. I think blue is the nicest colour.\n3. The company's revenue grew 12% "
     "in 2023.\n4. What a lovely day!", "medium"),
    ("Classify these support messages by urgency (low/medium/high):\n- \"Site is down for all users\"\n- \"Typo on "
     "the pricing page\"\n- \"Can't reset my password, have a demo in 1 hour\"\n- \"Feature idea: dark mode\"", "easy"),
    ("Here are 6 resumes summaries. For each, extract name, years of experience and highest degree into a table, "
     "then rank them for a data engineering role.\n1. Ken Ito, 7 yrs, MSc CS, Spark and Airflow\n2. Lara Diaz, 3 yrs, "
     "BSc Math, SQL, dbt\n3. Omar Said, 10 yrs, PhD Physics, Python, HPC\n4. Eva Novak, 5 yrs, BSc CS, Kafka, Flink\n"
     "5. Tim Berg, 1 yr, bootcamp, Python\n6. Zoe Chen, 6 yrs, MSc Stats, Snowflake, Airflow", "hard"),
    ("Extract every drug name and dosage from this note: \"Patient continues metformin 500 mg twice daily, started "
     "lisinopril 10 mg once daily, stop ibuprofen. Consider atorvastatin 20 mg at night.\"", "medium"),
    ("What is the language of each of these sentences? 1) Dank je wel 2) Muchas gracias 3) Dziękuję 4) Grazie mille "
     "5) Köszönöm", "easy"),
    ("Detect the key-value pairs in this config and output them as JSON: host = db.internal\nport=5432\n"
     "# comment\nuser : admin\ntimeout=30s\nssl = true", "medium"),
]
SNIPPETS = ["Order #5521 shipped on 14 March to Lyon; 3 items, total 74.90 EUR.",
            "Meeting with Dr. Patel moved from Tuesday 9:00 to Thursday 15:30 in room B12.",
            "Refund of $23.40 issued on 2023-11-02 for ticket 88812 (customer: L. Moreau).",
            "Flight LH 438 from Frankfurt to Chicago departs 10:55, gate Z17, seat 32C.",
            "Acme Corp acquired Beta Labs for 1.2 billion dollars in June 2021, CEO Jane Roe said.",
            "Temperature readings: Mon 21.5C, Tue 23.1C, Wed 19.8C, Thu 24.6C, Fri 22.0C.",
            "Contact: Mr. Hiro Tanaka, Sales Director, Tanaka Trading KK, hiro@tanaka.jp, +81 3 5555 0100.",
            "Prescription: amoxicillin 250 mg, three times a day for 10 days, refills: 0, Dr. K. Adeyemi.",
            "Rent 1,150; utilities 140; internet 35; groceries about 420; transport 90 (all in GBP, monthly).",
            "The conference runs 4-6 September 2025 in Porto; early-bird fee 350 EUR until 30 June."]
ASKS = [("easy", "Extract the dates from this: %s"), ("easy", "Pull out every amount of money mentioned: %s"),
        ("medium", "Return the key facts of this as JSON (keys of your choice, values as they appear): %s"),
        ("easy", "What names (people or companies) appear in this text? %s"),
        ("medium", "Parse this into a table with one row per item: %s"),
        ("easy", "Find the numbers in the following line and say what each one is.\n%s")]
for i, sn in enumerate(SNIPPETS):
    for k in range(3):
        d, t = ASKS[(i + k * 2) % len(ASKS)]
        add("extraction", d, "extract-snippet", t % sn)
for p, d in CLASSIFY_ITEMS:
    add("extraction", d, "label-or-extract", p)
ANSWER_FROM = [("news", "Based on the text, where will the money for the path come from?"),
               ("policy", "If I want to work from Portugal for a month, what do I need to do, according to this?"),
               ("incident", "Was any data lost during the outage? Quote the sentence that says so."),
               ("bio", "How many years did she work for the World Bank, based on the bio?"),
               ("history", "According to the passage, what caused the League's decline?"),
               ("abstract", "Where do the router's errors concentrate, per the abstract?")]
P = dict(PASSAGES)
for name, q in ANSWER_FROM:
    add("extraction", "easy", "answer-from-passage", "%s\n\n%s" % (P[name], q))
    add("extraction", "easy", "answer-from-passage", "Context:\n%s\n\nQuestion: %s\nAnswer using only the context." % (P[name], q))

# ----------------------------------------------------------------- writing (ordinary requests)
WRITE_EASY = ["Write a short thank-you note to my neighbour who watered my plants while I was away.",
              "Write a two-sentence out-of-office reply for the holidays.",
              "Write a birthday message for my coworker Dana, something warm but professional.",
              "Write a tweet announcing that our bakery now opens at 7am.",
              "Rewrite this sentence to sound more polite: \"Send me the report now.\"",
              "Fix the grammar: \"Me and him goes to the store yesterday and buyed three apple.\"",
              "Write a haiku about the first snow.",
              "Give me a catchy slogan for a bike repair shop.",
              "Write a short caption for an Instagram photo of a sunset at the beach.",
              "Make this more concise: \"At this point in time we are not in a position to be able to offer a refund.\"",
              "Write a limerick about a cat who hates Mondays.",
              "Write a text message to my landlord saying the heating is broken.",
              "Paraphrase: \"The quick adoption of remote work changed how teams communicate.\"",
              "Write a short product description for a stainless steel water bottle.",
              "Write a friendly reminder email that the team lunch is on Friday at noon.",
              "Rewrite this in a more formal tone: \"hey guys, the server's gonna be down tonight, sorry!\"",
              "Write a four-line poem for my grandmother's 90th birthday card.",
              "Give me three name ideas for a podcast about gardening.",
              "Write an apology message to a customer whose order arrived late.",
              "Write a short LinkedIn post celebrating my team's product launch."]
WRITE_MED = ["Write a cover letter for a junior data analyst position at a healthcare company. I have a statistics "
             "degree and one internship in retail analytics. Keep it under 300 words.",
             "Write a blog post (about 600 words) on five habits that help remote workers avoid burnout, with headings.",
             "Write a short story (around 500 words) about a robot that learns to bake bread, for children aged 8-10.",
             "Draft an email to a client explaining that the project will be two weeks late because of a supplier "
             "problem, offering a 10% discount, and keeping the relationship positive.",
             "Write a speech for my sister's wedding. She's a marine biologist, her husband is a chef, they met "
             "on a ferry. Funny but touching, 3 minutes.",
             "Write the landing page copy for a budgeting app aimed at students: headline, subheadline, three "
             "feature blurbs and a call to action.",
             "Rewrite this paragraph for a general audience, avoiding jargon:\n\n" + P["abstract"],
             "Write a persuasive essay arguing that cities should make public transport free. Include a counter-"
             "argument and rebuttal.",
             "Write a product announcement email for our new calendar integration. Audience: existing customers, "
             "friendly tone, include a short FAQ.",
             "Write a job description for a part-time barista at an independent coffee shop.",
             "Write a letter to my city council asking for a pedestrian crossing near the primary school on Elm Road.",
             "Write a 300-word opinion piece on whether homework should be banned in primary schools.",
             "Write a scene of dialogue between two old friends meeting after twenty years at a train station.",
             "Turn these bullet points into a polished paragraph for our annual report:\n- revenue up 18%\n"
             "- opened 2 new stores\n- staff turnover down\n- launched online shop",
             "Write a performance review for an employee who is technically strong but often misses deadlines. "
             "Be constructive.",
             "Write an engaging newsletter intro for a local running club's spring season.",
             "Edit this text for clarity and flow, and explain your main changes:\n\n" + P["story"],
             "Write a eulogy for my grandfather who was a carpenter and loved fishing.",
             "Write a grant proposal summary (250 words) for a community garden project in a low-income neighbourhood.",
             "Create a detailed outline for a presentation on cybersecurity basics for non-technical staff."]
WRITE_HARD = ["Write a 2,000-word short story in the style of Raymond Carver about a couple selling their house, "
              "told entirely through dialogue, with an ambiguous ending.",
              "Write the first chapter of a mystery novel set on a research station in Antarctica. Introduce five "
              "characters, plant three clues, and end on a cliffhanger.",
              "Write a sonnet in strict iambic pentameter about machine learning, with a volta in line 9.",
              "Draft a complete business plan narrative for a subscription service that delivers repair kits for "
              "household appliances: market, competitors, pricing, go-to-market, risks and a 3-year outlook.",
              "Write a persuasive op-ed for a national newspaper arguing for a four-day work week. Use evidence, "
              "address three counterarguments, and keep it under 900 words with a memorable ending.",
              "Rewrite the following text three times: for a scientific journal, for a tabloid newspaper, and for a "
              "children's magazine, keeping all facts:\n\n" + P["science"],
              "Write a screenplay scene (proper screenplay format) where a hacker explains to her grandmother what "
              "she does for a living, without any technical terms.",
              "Write a commencement speech for a nursing school that references Florence Nightingale, the pandemic, "
              "and the future of AI in hospitals, without sounding clichéd.",
              "Write a villanelle about insomnia.",
              "Write a detailed RFP (request for proposal) for a city's new waste collection contract, including "
              "scope, evaluation criteria, timeline and submission rules."]
for i, p in enumerate(WRITE_EASY):
    add("writing", "easy", "ordinary-writing", p)
for p in WRITE_MED:
    add("writing", "medium", "ordinary-writing", p)
for p in WRITE_HARD:
    add("writing", "hard", "ordinary-writing", p)
RECIP = ["my manager", "a recruiter", "my professor", "our landlord", "a supplier", "a new client", "my team",
         "the school principal", "a hotel", "an old friend"]
PURPOSE = ["asking for a deadline extension", "declining a job offer politely", "requesting a reference letter",
           "complaining about noise from the flat upstairs", "following up on an unpaid invoice",
           "introducing our agency's services", "announcing that I'm leaving the company",
           "asking whether my son can miss school for a family wedding", "asking for a late check-out",
           "inviting them to my wedding"]
for i in range(10):
    add("writing", "easy" if i % 3 else "medium", "email", ["Write an email to %s %s.", "Draft a short message to %s %s.",
                                                             "Help me write an email to %s %s, please keep it brief."][i % 3]
        % (RECIP[i], PURPOSE[i]))
    add("writing", "medium", "email", "Write a professional email to %s %s. Mention that I'm available next week and "
        "keep it under 150 words." % (RECIP[(i + 4) % 10], PURPOSE[(i + 7) % 10]))

# ----------------------------------------------------------------- chat (assistant-directed)
CHAT_EASY = ["hi", "Hello! How are you today?", "good morning :)", "hey, what's up?", "Thanks, that was really helpful!",
             "lol that's funny", "What's your name?", "Do you have feelings?", "Tell me a joke.",
             "Tell me a joke about programmers.", "I'm bored. Entertain me.", "Can we just chat for a bit?",
             "What's your favourite movie?", "Do you like music?", "Good night!", "You're awesome, thank you.",
             "Are you a robot?", "ok cool", "haha nice one", "Let's play 20 questions. I'm thinking of an animal.",
             "Would you rather be able to fly or be invisible?", "Recommend me a feel-good movie for tonight.",
             "I just got a puppy!! 🐶", "Who would win in a fight, a gorilla or a bear? Just for fun.",
             "Say something nice to me, I had a long day.", "What do you think about pineapple on pizza?",
             "Can you pretend to be a pirate and greet me?", "Let's play rock paper scissors. Rock!",
             "I'm so excited, I passed my driving test today!", "What's the best way to spend a rainy Sunday?",
             "Hola, ¿qué tal?", "Bonjour ! Ça va ?", "Guten Abend, wie geht's dir?", "Recommend a TV series like The Office.",
             "Do you ever get tired of answering questions?", "Give me a fun fact.", "I can't sleep. Talk to me?",
             "Whats ur favorite color", "Tell me a riddle, but don't give the answer yet.", "Happy Friday!!"]
CHAT_MED = ["I've been feeling really lonely since I moved to a new city. I don't know anyone here.",
            "My best friend didn't invite me to her birthday party and I'm hurt. Should I say something?",
            "I failed my exam and I feel like a failure. Can you cheer me up?",
            "Let's do a role-play: you're a grumpy medieval innkeeper and I'm a traveller looking for a room.",
            "Pretend you are Sherlock Holmes and deduce something about me from the fact that I'm awake at 3am "
            "asking an AI questions.",
            "Act as my supportive gym buddy and motivate me to go for a run right now.",
            "I'm nervous about my first day at a new job tomorrow. Any words of encouragement?",
            "Let's play a text adventure game. I'm in a dark forest with a lantern. What do I see?",
            "Be my Dungeon Master for a short one-shot fantasy adventure. I'm a halfling rogue.",
            "My cat died this morning. I just want to talk about her.",
            "What's your honest opinion: is it rude to recline your seat on a plane?",
            "Can you role-play as a job interviewer for a marketing role so I can practise?",
            "I just broke up with my partner of four years. I don't really want advice, just someone to listen.",
            "Let's have a debate for fun: you defend cats, I defend dogs. You start.",
            "Talk to me like you're a 1920s radio announcer describing my morning coffee.",
            "I'm stressed about my wedding planning and my mom keeps criticising everything.",
            "Pretend to be my grandmother telling me a bedtime story about her village.",
            "Which fictional character do you relate to the most, and why?",
            "I want to get back into reading. Suggest some cozy novels based on the fact that I loved Anne of Green Gables.",
            "Let's write a story together, one sentence each. I'll start: The door at the end of the hall was never locked."]
for p in CHAT_EASY:
    add("chat", "easy", "assistant-chat", p)
for p in CHAT_MED:
    add("chat", "medium", "assistant-chat", p)

# ----------------------------------------------------------------- reasoning (easy, everyday)
REASON_EASY = ["If it's raining and I don't have an umbrella, but my friend has two, what's the easiest way for me to stay dry?",
               "Tom is taller than Ann. Ann is taller than Joe. Who is the shortest?",
               "What comes next in the pattern: Monday, Wednesday, Friday, ...?",
               "I have a cabbage, a goat and a wolf and a small boat. How do I get them all across the river?",
               "What has keys but can't open locks?",
               "If all bloops are razzies and all razzies are lazzies, are all bloops lazzies?",
               "My meeting is at 3pm in Tokyo. I'm in London in winter. What time is that for me?",
               "A farmer has 17 sheep and all but 9 run away. How many are left?",
               "Which is heavier: a kilogram of feathers or a kilogram of steel?",
               "If yesterday was Thursday, what day will it be the day after tomorrow?",
               "Sara put her keys in the drawer, then her brother moved them to the shelf while she was out. Where "
               "will Sara look for her keys first?",
               "I'm facing north and turn right twice, then left once. Which way am I facing?",
               "Is the following argument valid? All birds can fly. Penguins are birds. So penguins can fly.",
               "Three friends share a pizza with 8 slices. Alice eats 3, Ben eats 2. Can Cara eat 4?",
               "What is the odd one out: apple, banana, carrot, grape?",
               "If you overtake the person in second place in a race, what place are you in?",
               "A man looks at a photo and says: 'Brothers and sisters I have none, but that man's father is my father's "
               "son.' Who is in the photo?",
               "Should I take the bus (40 min, leaves in 5 min) or walk (30 min) to arrive as early as possible?",
               "Which should I do first to make tea: boil water or put the tea bag in the cup? Does order matter?",
               "All my shirts are either blue or white. I'm not wearing a blue shirt. What colour is my shirt?",
               "What gets wetter the more it dries?", "The day before yesterday I was 25. Next year I'll be 28. When "
               "is my birthday and what is today?",
               "Put these in order from smallest to largest: a cat, an elephant, a mouse, a horse.",
               "If I leave a glass of ice in the sun, what will happen and why?",
               "A bat and a ball together cost $1.10 and the bat costs $1 more than the ball. Think carefully: what "
               "does the ball cost?"]
for p in REASON_EASY:
    add("reasoning", "easy", "everyday-reasoning", p)
REASON_MED = ["We need to choose between two apartments: A is 1,200/month, 10 min from work, no balcony; B is 1,000/month, "
              "40 min from work, with a balcony. I value my time at 20/hour and work 20 days a month. Which is better "
              "and why?",
              "Five people sit in a row. Ana is not at either end. Ben sits right of Carl. Dee sits at the left end. "
              "Eve sits next to Dee. Who sits in the middle?",
              "Plan the order of errands to minimise driving: post office (closes 12:00), pharmacy (open all day), "
              "grocery (frozen food), dry cleaner (opens 10:00). I leave at 9:30.",
              "Three boxes are labelled apples, oranges and mixed, and all labels are wrong. You may pick one fruit "
              "from one box. How do you relabel them correctly?",
              "If the statement 'every student who studied passed' is true, and Maria failed, what can we conclude? "
              "What can't we conclude?",
              "Our startup must choose between hiring a senior engineer or two juniors with the same budget. We ship a "
              "complex product in 6 months. Reason through the trade-offs and recommend one."]
for p in REASON_MED:
    add("reasoning", "medium", "everyday-reasoning", p)

# ----------------------------------------------------------------- code (mid-size tasks)
CODE_MED = ["Write a Python class LRUCache with get and put in O(1), with unit tests.",
            "Here is my function; it returns wrong results for negative numbers. Fix it and explain:\n\n"
            "def is_even(n):\n    return n % 2 == 1 == False\n",
            "Write a Flask endpoint that accepts a JSON list of orders, validates the fields, and stores them in SQLite.",
            "Convert this JavaScript callback code to async/await:\n\nfs.readFile('a.txt', (err, data) => {\n"
            "  if (err) return cb(err);\n  fs.writeFile('b.txt', data, cb);\n});",
            "Write a bash script that backs up /var/www to a dated tar.gz, keeps the last 7 backups and logs to syslog.",
            "Write a SQL query that returns, for each customer, their total spend in 2023 and their most purchased "
            "product. Tables: customers(id, name), orders(id, customer_id, created_at), order_items(order_id, "
            "product_id, qty, price).",
            "Implement a debounce function in TypeScript with proper generics and a cancel method.",
            "Write a React component for a paginated table that fetches /api/users?page=N and shows loading and "
            "error states.",
            "My Go HTTP server leaks goroutines when clients disconnect. Here's the handler:\n\nfunc h(w http."
            "ResponseWriter, r *http.Request) {\n  ch := make(chan string)\n  go func() { ch <- slowCall() }()\n"
            "  fmt.Fprint(w, <-ch)\n}\nHow do I fix it?",
            "Write a Dockerfile for a Node.js 20 app with a multi-stage build, non-root user and a healthcheck.",
            "Refactor this Java method to remove duplication and make it testable:\n\npublic double price(Order o) {\n"
            "  if (o.type.equals(\"A\")) { return o.qty * 10 * (o.vip ? 0.9 : 1); }\n"
            "  if (o.type.equals(\"B\")) { return o.qty * 12 * (o.vip ? 0.9 : 1); }\n  return o.qty * 15;\n}",
            "Write a regex that matches valid IPv4 addresses and explain each part.",
            "Implement binary search on a rotated sorted array in C++ and explain the edge cases.",
            "Write a GitHub Actions workflow that runs pytest on Python 3.10-3.12 and uploads coverage.",
            "Why does this Python code print the same number three times?\n\nfs = [lambda: i for i in range(3)]\n"
            "print([f() for f in fs])",
            "Write a Rust function that parses a CSV line with quoted fields into a Vec<String>, with tests.",
            "Add retry with exponential backoff to this fetch call:\n\nconst res = await fetch(url);\n"
            "return res.json();",
            "Write a pandas script that reads sales.csv, groups by month and region, and plots a stacked bar chart.",
            "Create a Kubernetes Deployment and Service YAML for an nginx app with 3 replicas and resource limits.",
            "Write a C function that reverses a singly linked list in place, and a small main to test it.",
            "Explain what this SQL does and how to make it faster:\nSELECT * FROM events WHERE DATE(created_at) = "
            "'2024-01-01' ORDER BY id DESC;",
            "Write a Python script that watches a folder and uploads new files to S3 with boto3.",
            "Implement a simple rate limiter (token bucket) in Java that is thread-safe.",
            "Write unit tests with Jest for a function formatPrice(cents, currency) that handles EUR, USD and JPY."]
for p in CODE_MED:
    add("code", "medium", "mid-size-code", p)

# ----------------------------------------------------------------- research (open-ended)
RESEARCH = [("easy", "What is the capital of Australia?"), ("easy", "Who wrote One Hundred Years of Solitude?"),
            ("easy", "How long should I boil an egg for a soft yolk?"), ("easy", "What does GDP stand for?"),
            ("easy", "When did the Berlin Wall fall?"), ("easy", "What's the difference between a virus and bacteria?"),
            ("easy", "How many hours of sleep do teenagers need?"), ("easy", "Why is the sky blue?"),
            ("medium", "Compare the healthcare systems of Germany and the UK: funding, access and outcomes."),
            ("medium", "What were the main causes of the French Revolution?"),
            ("medium", "Explain how mRNA vaccines work and how they differ from traditional vaccines."),
            ("medium", "What are the pros and cons of heat pumps in cold climates?"),
            ("medium", "How does the electoral college work in the United States, and why is it controversial?"),
            ("medium", "What should I know before adopting a rescue dog?"),
            ("medium", "Explain the difference between index funds and ETFs for a beginner investor."),
            ("medium", "What is the current scientific consensus on intermittent fasting?"),
            ("medium", "How did the printing press change European society?"),
            ("medium", "What are the main schools of thought in moral philosophy?"),
            ("hard", "Give me a literature overview of research on the effects of social media on adolescent mental "
                     "health, including conflicting findings and methodological issues."),
            ("hard", "Compare the economic policies of Reagan and Thatcher and assess their long-term effects, "
                     "citing the main scholarly debates."),
            ("hard", "What does the evidence say about the effectiveness of carbon taxes versus cap-and-trade? Compare "
                     "real-world examples from the EU, British Columbia and California."),
            ("hard", "Analyse the geopolitical consequences of the Suez Crisis for Britain, France and the Cold War "
                     "balance."),
            ("hard", "I'm writing a thesis on urban heat islands. What are the key studies, methods for measuring "
                     "them, and open research questions?"),
            ("hard", "Explain the current state of solid-state battery research: the main chemistries, obstacles to "
                     "commercialisation and which companies lead."),
            ("medium", "What are the visa options for a software engineer moving from India to Canada?"),
            ("medium", "What are the health benefits and risks of drinking coffee every day?"),
            ("easy", "What's the tallest mountain in Africa?"), ("easy", "How do I get a red wine stain out of a carpet?")]
for d, p in RESEARCH:
    add("research", d, "open-research", p)

for o in out:
    print(json.dumps(o, ensure_ascii=False))
